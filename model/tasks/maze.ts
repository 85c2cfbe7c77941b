// Mazes on an N×N grid (tests: test/tasks.test.ts): walls, open cells, a start and a goal; the target marks the
// shortest path (BFS). Generated as perfect mazes (randomised depth-first carving), so the shortest path is
// unique, which exact-match scoring needs; a hardness filter keeps mazes whose path is long enough.

import { PuzzleError, Random } from './common.ts';

/** Cell tokens (0 is padding in model inputs). */
export const MAZE = { pad: 0, wall: 1, open: 2, start: 3, goal: 4, path: 5 } as const;
const NAMES = ['pad', 'wall', 'open', 'start', 'goal', 'path'];

export interface MazeExample {
  size: number;
  /** Row-major cells: wall, open, start, goal. */
  maze: number[];
  /** The maze with the shortest path's cells (between start and goal) marked `path`. */
  solution: number[];
  pathLength: number;
}

export function validateMaze(maze: readonly number[], size: number): void {
  if (!Number.isInteger(size) || size < 3) throw new PuzzleError(`maze: size ${size} must be an integer of at least 3`);
  if (maze.length !== size * size) throw new PuzzleError(`maze ${size}×${size}: expected ${size * size} cells, got ${maze.length}`);
  let starts = 0;
  let goals = 0;
  maze.forEach((v, i) => {
    if (v !== MAZE.wall && v !== MAZE.open && v !== MAZE.start && v !== MAZE.goal) {
      throw new PuzzleError(`maze ${size}×${size}: cell r${Math.floor(i / size) + 1}c${(i % size) + 1} holds ${v} (${NAMES[v] ?? 'unknown'}), not wall/open/start/goal`);
    }
    if (v === MAZE.start) starts++;
    if (v === MAZE.goal) goals++;
  });
  if (starts !== 1 || goals !== 1) throw new PuzzleError(`maze ${size}×${size}: needs exactly one start and one goal, found ${starts} and ${goals}`);
}

/** Characters of the text form: one line per row. */
const MAZE_CHARS: Record<string, number> = { '#': MAZE.wall, '.': MAZE.open, S: MAZE.start, G: MAZE.goal, '*': MAZE.path };

/** A maze from text: one line per row of '#' (wall), '.' (open), 'S' (start), 'G' (goal); a square grid. */
export function parseMaze(text: string): { maze: number[]; size: number } {
  const rows = text.split(/\r?\n/).map((line) => line.trimEnd()).filter((line) => line.length > 0);
  if (rows.length === 0) throw new PuzzleError('maze: the text holds no rows');
  const size = rows.length;
  const maze: number[] = [];
  rows.forEach((line, r) => {
    if (line.length !== size) throw new PuzzleError(`maze: row ${r + 1} has ${line.length} cells; a ${size}-row maze needs ${size} in every row`);
    [...line].forEach((ch, c) => {
      const v = MAZE_CHARS[ch];
      if (v === undefined || v === MAZE.path) throw new PuzzleError(`maze: cell r${r + 1}c${c + 1} is '${ch}', not '#', '.', 'S' or 'G'`);
      maze.push(v);
    });
  });
  validateMaze(maze, size);
  return { maze, size };
}

/** The text form, with path cells as '*'. */
export function formatMaze(cells: readonly number[], size: number): string {
  const glyph = ['?', '#', '.', 'S', 'G', '*'];
  const lines: string[] = [];
  for (let r = 0; r < size; r++) lines.push(cells.slice(r * size, (r + 1) * size).map((v) => glyph[v] ?? '?').join(''));
  return lines.join('\n');
}

/**
 * True when `answer` is `maze` with one shortest start-to-goal path marked: every other cell unchanged, as many
 * path cells as a shortest path has, all open, and joined from start to goal.
 */
export function isMazeSolution(maze: readonly number[], size: number, answer: readonly number[]): boolean {
  const shortest = shortestPath(maze, size);
  if (!shortest || answer.length !== maze.length) return false;
  let marked = 0;
  for (let i = 0; i < maze.length; i++) {
    if (answer[i] === MAZE.path) {
      if (maze[i] !== MAZE.open) return false;
      marked++;
    } else if (answer[i] !== maze[i]) return false;
  }
  if (marked !== shortest.length) return false;
  // Only the marked cells are passable: the goal must still be reachable.
  const corridor = maze.map((v, i) => (answer[i] === MAZE.path || v === MAZE.start || v === MAZE.goal ? v : MAZE.wall));
  return shortestPath(corridor, size) !== null;
}

/** Shortest path from start to goal by BFS: the cells strictly between them, in order; null if unreachable. */
export function shortestPath(maze: readonly number[], size: number): number[] | null {
  const start = maze.indexOf(MAZE.start);
  const goal = maze.indexOf(MAZE.goal);
  const previous = new Int32Array(size * size).fill(-1);
  const queue = [start];
  previous[start] = start;
  for (let q = 0; q < queue.length; q++) {
    const i = queue[q];
    if (i === goal) break;
    const r = Math.floor(i / size);
    const c = i % size;
    for (const [dr, dc] of [[-1, 0], [1, 0], [0, -1], [0, 1]]) {
      const nr = r + dr;
      const nc = c + dc;
      if (nr < 0 || nc < 0 || nr >= size || nc >= size) continue;
      const j = nr * size + nc;
      if (previous[j] >= 0 || maze[j] === MAZE.wall) continue;
      previous[j] = i;
      queue.push(j);
    }
  }
  if (previous[goal] < 0) return null;
  const path: number[] = [];
  for (let i = previous[goal]; i !== start; i = previous[i]) path.push(i);
  return path.reverse();
}

export function solveMaze(maze: readonly number[], size: number): MazeExample {
  validateMaze(maze, size);
  const path = shortestPath(maze, size);
  if (!path) throw new PuzzleError(`maze ${size}×${size}: the goal cannot be reached from the start`);
  const solution = [...maze];
  for (const i of path) solution[i] = MAZE.path;
  return { size, maze: [...maze], solution, pathLength: path.length + 1 };
}

/** A perfect maze with its start and goal at the two ends of a long path (at least minPathLength steps if possible). */
export function generateMaze(size: number, random: Random, options: { minPathLength?: number; attempts?: number } = {}): MazeExample {
  if (size < 5) throw new PuzzleError(`maze: size ${size} is too small (at least 5)`);
  let best: MazeExample | null = null;
  for (let attempt = 0; attempt < (options.attempts ?? 20); attempt++) {
    const maze = new Array<number>(size * size).fill(MAZE.wall);
    // Carve on the odd lattice so walls stay one cell thick.
    const cells = (size - 1) >> 1;
    const at = (cr: number, cc: number) => (2 * cr + 1) * size + 2 * cc + 1;
    const seen = new Uint8Array(cells * cells);
    const stack: [number, number][] = [[random.int(cells), random.int(cells)]];
    seen[stack[0][0] * cells + stack[0][1]] = 1;
    maze[at(...stack[0])] = MAZE.open;
    while (stack.length) {
      const [r, c] = stack[stack.length - 1];
      const next = random.shuffle([[-1, 0], [1, 0], [0, -1], [0, 1]]).map(([dr, dc]) => [r + dr, c + dc]).find(([nr, nc]) => nr >= 0 && nc >= 0 && nr < cells && nc < cells && !seen[nr * cells + nc]);
      if (!next) {
        stack.pop();
        continue;
      }
      const [nr, nc] = next;
      seen[nr * cells + nc] = 1;
      maze[at(nr, nc)] = MAZE.open;
      maze[(2 * r + 1 + (nr - r)) * size + 2 * c + 1 + (nc - c)] = MAZE.open;
      stack.push([nr, nc]);
    }
    // The two ends of the tree's longest path (two BFS sweeps) make the hardest instance of this maze.
    const open = maze.map((v, i) => (v === MAZE.open ? i : -1)).filter((i) => i >= 0);
    const farthest = (from: number) => {
      const probe = [...maze];
      probe[from] = MAZE.start;
      let last = from;
      const dist = new Map<number, number>([[from, 0]]);
      const queue = [from];
      for (let q = 0; q < queue.length; q++) {
        const i = queue[q];
        last = i;
        for (const j of [i - size, i + size, i - 1, i + 1]) {
          if (j < 0 || j >= size * size || Math.abs((j % size) - (i % size)) > 1 || probe[j] === MAZE.wall || dist.has(j)) continue;
          dist.set(j, dist.get(i)! + 1);
          queue.push(j);
        }
      }
      return last;
    };
    const a = farthest(open[random.int(open.length)]);
    const b = farthest(a);
    maze[a] = MAZE.start;
    maze[b] = MAZE.goal;
    const example = solveMaze(maze, size);
    if (example.pathLength >= (options.minPathLength ?? 0)) return example;
    if (!best || example.pathLength > best.pathLength) best = example;
  }
  return best!;
}

/** One of the 8 symmetries of the square applied to a row-major size×size grid (k in 0..7). */
export function dihedral(grid: readonly number[], rows: number, cols: number, k: number): { grid: number[]; rows: number; cols: number } {
  const transpose = k >= 4;
  const turns = k % 4;
  let g = [...grid];
  let h = rows;
  let w = cols;
  if (transpose) {
    g = Array.from({ length: h * w }, (_, i) => grid[(i % h) * w + Math.floor(i / h)]);
    [h, w] = [w, h];
  }
  for (let t = 0; t < turns; t++) {
    // Rotate 90° clockwise: new[r][c] = old[h - 1 - c][r].
    const rotated = Array.from({ length: h * w }, (_, i) => {
      const r = Math.floor(i / h);
      const c = i % h;
      return g[(h - 1 - c) * w + r];
    });
    g = rotated;
    [h, w] = [w, h];
  }
  return { grid: g, rows: h, cols: w };
}

export function augmentMaze(example: MazeExample, random: Random): MazeExample {
  const k = random.int(8);
  const maze = dihedral(example.maze, example.size, example.size, k).grid;
  const solution = dihedral(example.solution, example.size, example.size, k).grid;
  return { ...example, maze, solution };
}
