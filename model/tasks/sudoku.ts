// Sudoku of sizes 4×4, 6×6 and 9×9 (tests: test/tasks.test.ts): validity checks that name the offending cell, a
// backtracking solver that counts its guesses (the difficulty rating Sudoku-Extreme uses), a generator of puzzles
// with exactly one solution, and the augmentations of the HRM dataset builder (digit permutation, transpose, band
// and row-within-band permutations, stack and column-within-stack permutations). Deterministic from a seed.

import { PuzzleError, Random } from './common.ts';

export interface SudokuSpec {
  size: number;
  boxRows: number;
  boxCols: number;
}

export const SUDOKU: Record<'4x4' | '6x6' | '9x9', SudokuSpec> = {
  '4x4': { size: 4, boxRows: 2, boxCols: 2 },
  '6x6': { size: 6, boxRows: 2, boxCols: 3 },
  '9x9': { size: 9, boxRows: 3, boxCols: 3 },
};

/** A grid in row-major order: 0 is a blank, 1..size a digit. */
export type Grid = number[];

export interface SudokuExample {
  puzzle: Grid;
  solution: Grid;
  /** Guesses the reference solver needed (0: solvable by constraint propagation alone). */
  guesses: number;
}

const cellName = (spec: SudokuSpec, i: number) => `r${Math.floor(i / spec.size) + 1}c${(i % spec.size) + 1}`;

function units(spec: SudokuSpec): { kind: string; cells: number[] }[] {
  const { size: n, boxRows, boxCols } = spec;
  const out: { kind: string; cells: number[] }[] = [];
  for (let r = 0; r < n; r++) out.push({ kind: `row ${r + 1}`, cells: Array.from({ length: n }, (_, c) => r * n + c) });
  for (let c = 0; c < n; c++) out.push({ kind: `column ${c + 1}`, cells: Array.from({ length: n }, (_, r) => r * n + c) });
  for (let br = 0; br < n / boxRows; br++) {
    for (let bc = 0; bc < n / boxCols; bc++) {
      const cells: number[] = [];
      for (let r = 0; r < boxRows; r++) for (let c = 0; c < boxCols; c++) cells.push((br * boxRows + r) * n + bc * boxCols + c);
      out.push({ kind: `box ${br * (n / boxCols) + bc + 1}`, cells });
    }
  }
  return out;
}

/**
 * Checks a grid: its length, that every cell is blank or a digit 1..size, and that no digit repeats in a row,
 * column or box. Throws a PuzzleError naming the first bad cell. `complete` also requires no blanks.
 */
export function validateSudoku(grid: readonly number[], spec: SudokuSpec, options: { complete?: boolean } = {}): void {
  const n = spec.size;
  if (!Array.isArray(grid) || grid.length !== n * n) {
    throw new PuzzleError(`sudoku ${n}×${n}: expected ${n * n} cells, got ${Array.isArray(grid) ? grid.length : typeof grid}`);
  }
  grid.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > n) throw new PuzzleError(`sudoku ${n}×${n}: cell ${cellName(spec, i)} holds ${v}, not a digit 1-${n} or 0 (blank)`);
    if (options.complete && v === 0) throw new PuzzleError(`sudoku ${n}×${n}: cell ${cellName(spec, i)} is blank in a solution`);
  });
  for (const unit of units(spec)) {
    const seen = new Map<number, number>();
    for (const i of unit.cells) {
      const v = grid[i];
      if (v === 0) continue;
      const first = seen.get(v);
      if (first !== undefined) {
        throw new PuzzleError(`sudoku ${n}×${n}: contradictory givens: digit ${v} appears twice in ${unit.kind} (cells ${cellName(spec, first)} and ${cellName(spec, i)})`);
      }
      seen.set(v, i);
    }
  }
}

/** Parses "1.3./..24/…" style text: digits, with '.', '0' or '_' for blanks; whitespace and '/' or '|' ignored. */
export function parseSudoku(text: string): Grid {
  const cells = [...text.replace(/[\s/|,-]/g, '')].map((ch) => {
    if (ch === '.' || ch === '_' || ch === '0') return 0;
    const d = Number(ch);
    if (!Number.isInteger(d)) throw new PuzzleError(`sudoku: '${ch}' is not a digit or a blank ('.', '0', '_')`);
    return d;
  });
  return cells;
}

export function specForCells(count: number): SudokuSpec {
  const spec = Object.values(SUDOKU).find((s) => s.size * s.size === count);
  if (!spec) throw new PuzzleError(`sudoku: ${count} cells is not a 4×4, 6×6 or 9×9 grid`);
  return spec;
}

export function formatSudoku(grid: readonly number[], spec: SudokuSpec): string {
  const n = spec.size;
  const lines: string[] = [];
  for (let r = 0; r < n; r++) {
    if (r > 0 && r % spec.boxRows === 0) lines.push(Array.from({ length: n / spec.boxCols }, () => '-'.repeat(2 * spec.boxCols)).join('+'));
    const row: string[] = [];
    for (let c = 0; c < n; c++) {
      if (c > 0 && c % spec.boxCols === 0) row.push('|');
      row.push(grid[r * n + c] === 0 ? '.' : String(grid[r * n + c]));
    }
    lines.push(row.join(' '));
  }
  return lines.join('\n');
}

interface SolveResult {
  solutions: Grid[];
  guesses: number;
}

/**
 * Backtracking with the most-constrained-cell heuristic. Stops after `maxSolutions`. `guesses` counts the
 * branches taken beyond the first candidate at each choice point; with a random `order`, digits are tried in
 * random order (used to generate random grids).
 */
export function solveSudoku(puzzle: readonly number[], spec: SudokuSpec, maxSolutions = 2, random?: Random): SolveResult {
  const n = spec.size;
  const grid = [...puzzle];
  const peers = units(spec);
  const unitsOf: number[][] = Array.from({ length: n * n }, () => []);
  peers.forEach((u, k) => u.cells.forEach((i) => unitsOf[i].push(k)));
  const used = peers.map((u) => {
    let mask = 0;
    for (const i of u.cells) if (grid[i]) mask |= 1 << grid[i];
    return mask;
  });
  const solutions: Grid[] = [];
  let guesses = 0;
  const candidates = (i: number) => {
    let taken = 0;
    for (const k of unitsOf[i]) taken |= used[k];
    const out: number[] = [];
    for (let d = 1; d <= n; d++) if (!(taken & (1 << d))) out.push(d);
    return out;
  };
  const search = (): void => {
    if (solutions.length >= maxSolutions) return;
    let best = -1;
    let bestCandidates: number[] = [];
    for (let i = 0; i < n * n; i++) {
      if (grid[i]) continue;
      const c = candidates(i);
      if (best < 0 || c.length < bestCandidates.length) {
        best = i;
        bestCandidates = c;
        if (c.length <= 1) break;
      }
    }
    if (best < 0) {
      solutions.push([...grid]);
      return;
    }
    const order = random ? random.shuffle(bestCandidates) : bestCandidates;
    order.forEach((d, k) => {
      if (solutions.length >= maxSolutions) return;
      if (k > 0) guesses++;
      grid[best] = d;
      for (const u of unitsOf[best]) used[u] |= 1 << d;
      search();
      for (const u of unitsOf[best]) used[u] &= ~(1 << d);
      grid[best] = 0;
    });
  };
  search();
  return { solutions, guesses };
}

/** A puzzle with exactly one solution: a random full grid, then cells removed in random order while uniqueness holds. */
export function generateSudoku(spec: SudokuSpec, random: Random, options: { minGuesses?: number; attempts?: number } = {}): SudokuExample {
  const attempts = options.attempts ?? 50;
  let best: SudokuExample | null = null;
  for (let a = 0; a < attempts; a++) {
    const full = solveSudoku(new Array(spec.size * spec.size).fill(0), spec, 1, random).solutions[0];
    const puzzle = [...full];
    for (const i of random.shuffle([...puzzle.keys()])) {
      const kept = puzzle[i];
      puzzle[i] = 0;
      if (solveSudoku(puzzle, spec, 2).solutions.length !== 1) puzzle[i] = kept;
    }
    const example = { puzzle, solution: full, guesses: solveSudoku(puzzle, spec, 1).guesses };
    if (example.guesses >= (options.minGuesses ?? 0)) return example;
    if (!best || example.guesses > best.guesses) best = example;
  }
  return best!;
}

/** The HRM dataset builder's augmentations: the result is again a valid puzzle with the mapped solution. */
export function augmentSudoku(example: SudokuExample, spec: SudokuSpec, random: Random): SudokuExample {
  const n = spec.size;
  const digits = [0, ...random.shuffle(Array.from({ length: n }, (_, i) => i + 1))];
  // Rows: permute bands, then rows within each band; columns: stacks, then columns within each stack.
  const order = (groups: number, per: number) => random.shuffle([...Array(groups).keys()]).flatMap((g) => random.shuffle([...Array(per).keys()]).map((r) => g * per + r));
  const rows = order(n / spec.boxRows, spec.boxRows);
  const cols = order(n / spec.boxCols, spec.boxCols);
  // Transposing swaps box height and width: a symmetry only when boxes are square.
  const transpose = spec.boxRows === spec.boxCols && random.next() < 0.5;
  const map = (grid: Grid) => {
    const out = new Array<number>(n * n);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        const [sr, sc] = transpose ? [cols[c], rows[r]] : [rows[r], cols[c]];
        out[r * n + c] = digits[grid[sr * n + sc]];
      }
    }
    return out;
  };
  return { puzzle: map(example.puzzle), solution: map(example.solution), guesses: example.guesses };
}
