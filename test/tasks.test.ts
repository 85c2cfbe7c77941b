// Puzzle tasks (model/tasks): generators give valid puzzles with unique solutions, augmentations preserve
// validity, and bad puzzles are rejected with a message naming the cell or field.

import { describe, expect, it } from 'vitest';
import { applyArcAugmentation, decodeArcGrid, encodeArcGrid, invertArcAugmentation, parseArcTask, randomArcAugmentation, voteOnPredictions } from '../model/tasks/arc.ts';
import { PuzzleError, Random } from '../model/tasks/common.ts';
import { augmentMaze, formatMaze, generateMaze, isMazeSolution, MAZE, parseMaze, shortestPath, solveMaze, validateMaze } from '../model/tasks/maze.ts';
import { augmentSudoku, formatSudoku, generateSudoku, parseSudoku, solveSudoku, SUDOKU, validateSudoku } from '../model/tasks/sudoku.ts';

describe('sudoku', () => {
  for (const name of ['4x4', '6x6', '9x9'] as const) {
    it(`${name}: generated puzzles are valid, have exactly one solution, and survive augmentation`, () => {
      const spec = SUDOKU[name];
      const random = new Random(7);
      for (let i = 0; i < (name === '9x9' ? 2 : 6); i++) {
        const ex = generateSudoku(spec, random);
        validateSudoku(ex.puzzle, spec);
        validateSudoku(ex.solution, spec, { complete: true });
        const solved = solveSudoku(ex.puzzle, spec, 2);
        expect(solved.solutions).toEqual([ex.solution]);
        ex.puzzle.forEach((v, k) => v && expect(ex.solution[k]).toBe(v));
        for (let a = 0; a < 4; a++) {
          const aug = augmentSudoku(ex, spec, random);
          validateSudoku(aug.puzzle, spec);
          validateSudoku(aug.solution, spec, { complete: true });
          expect(solveSudoku(aug.puzzle, spec, 2).solutions).toEqual([aug.solution]);
        }
      }
    });
  }

  it('rates difficulty by solver guesses and is deterministic from the seed', () => {
    const a = generateSudoku(SUDOKU['9x9'], new Random(3));
    const b = generateSudoku(SUDOKU['9x9'], new Random(3));
    expect(a).toEqual(b);
    expect(a.guesses).toBeGreaterThanOrEqual(0);
    const hard = generateSudoku(SUDOKU['6x6'], new Random(4), { minGuesses: 1 });
    expect(hard.guesses).toBeGreaterThanOrEqual(1);
  });

  it('rejects wrong sizes, illegal digits and contradictory givens, naming the cell', () => {
    const spec = SUDOKU['4x4'];
    expect(() => validateSudoku([1, 2, 3], spec)).toThrow(/expected 16 cells, got 3/);
    expect(() => validateSudoku([5, ...new Array(15).fill(0)], spec)).toThrow(/cell r1c1 holds 5, not a digit 1-4/);
    expect(() => validateSudoku([1, 0, 0, 1, ...new Array(12).fill(0)], spec)).toThrow(/digit 1 appears twice in row 1 \(cells r1c1 and r1c4\)/);
    expect(() => validateSudoku([1, 0, 0, 0, 0, 1, ...new Array(10).fill(0)], spec)).toThrow(/digit 1 appears twice in box 1/);
    expect(() => parseSudoku('12x4')).toThrow(PuzzleError);
    expect(parseSudoku('1.3. / ..2.')).toEqual([1, 0, 3, 0, 0, 0, 2, 0]);
    expect(formatSudoku(generateSudoku(spec, new Random(1)).solution, spec).split('\n')).toHaveLength(5);
  });
});

describe('maze', () => {
  it('generated mazes have a unique shortest path of at least the asked length, kept by augmentation', () => {
    const random = new Random(11);
    for (let i = 0; i < 5; i++) {
      const ex = generateMaze(15, random, { minPathLength: 20 });
      validateMaze(ex.maze, 15);
      expect(ex.pathLength).toBeGreaterThanOrEqual(20);
      expect(ex.solution.filter((v) => v === MAZE.path).length).toBe(ex.pathLength - 1);
      const aug = augmentMaze(ex, random);
      const resolved = solveMaze(aug.maze, 15);
      expect(resolved.solution).toEqual(aug.solution);
    }
  });

  it('reads and writes the text form, and accepts any shortest path as the answer', () => {
    const ex = generateMaze(9, new Random(5), { minPathLength: 10 });
    expect(parseMaze(formatMaze(ex.maze, 9))).toEqual({ maze: ex.maze, size: 9 });
    expect(formatMaze(ex.solution, 9)).toContain('*');
    expect(isMazeSolution(ex.maze, 9, ex.solution)).toBe(true);
    expect(isMazeSolution(ex.maze, 9, ex.maze)).toBe(false); // nothing marked
    const path = ex.solution.indexOf(MAZE.path);
    expect(isMazeSolution(ex.maze, 9, ex.solution.map((v, i) => (i === path ? MAZE.open : v)))).toBe(false); // a gap
    // An open 3×3 room has two shortest paths from corner to corner: both are right, a detour is not.
    const room = parseMaze('#####\n#S..#\n#...#\n#..G#\n#####').maze;
    const mark = (cells: number[]) => room.map((v, i) => (cells.includes(i) ? MAZE.path : v));
    expect(isMazeSolution(room, 5, mark([7, 8, 13]))).toBe(true);
    expect(isMazeSolution(room, 5, mark([11, 16, 17]))).toBe(true);
    expect(isMazeSolution(room, 5, mark([7, 12, 13]))).toBe(true);
    expect(isMazeSolution(room, 5, mark([7, 8, 11]))).toBe(false);
    expect(() => parseMaze('S.\n.G.')).toThrow(/row 2 has 3 cells; a 2-row maze needs 2/);
    expect(() => parseMaze('S.#\n.x.\n..G')).toThrow(/cell r2c2 is 'x'/);
  });

  it('rejects bad mazes naming the problem', () => {
    const maze = new Array(25).fill(MAZE.open);
    expect(() => validateMaze(maze, 5)).toThrow(/exactly one start and one goal, found 0 and 0/);
    maze[0] = MAZE.start;
    maze[24] = MAZE.goal;
    maze[7] = 9;
    expect(() => validateMaze(maze, 5)).toThrow(/cell r2c3 holds 9/);
    maze[7] = MAZE.open;
    expect(shortestPath(maze, 5)!.length).toBe(7);
    const walled = maze.map((v, i) => (i % 5 === 2 ? MAZE.wall : v));
    expect(() => solveMaze(walled, 5)).toThrow(/cannot be reached/);
  });
});

describe('ARC format', () => {
  const task = {
    train: [
      { input: [[0, 1], [2, 3]], output: [[3, 2], [1, 0]] },
      { input: [[5, 5, 5]], output: [[5], [5], [5]] },
    ],
    test: [{ input: [[1, 0], [0, 1]] }],
  };

  it('loads a hand-made task, encodes 30×30 grids with end markers, and decodes them back', () => {
    const parsed = parseArcTask(JSON.stringify(task), 'hand-made');
    expect(parsed.train).toHaveLength(2);
    const tokens = encodeArcGrid(parsed.train[1].input);
    expect(tokens).toHaveLength(900);
    expect(tokens.slice(0, 4)).toEqual([7, 7, 7, 1]);
    expect(tokens[30]).toBe(1);
    expect(decodeArcGrid(tokens)).toEqual([[5, 5, 5]]);
  });

  it('augmentations keep black, preserve shapes up to rotation, and invert exactly', () => {
    const random = new Random(5);
    const grid = [[0, 1, 2], [3, 4, 5]];
    for (let i = 0; i < 16; i++) {
      const aug = randomArcAugmentation(random);
      const moved = applyArcAugmentation(grid, aug);
      expect(moved.flat().filter((v) => v === 0)).toHaveLength(1);
      expect(applyArcAugmentation(moved, invertArcAugmentation(aug))).toEqual(grid);
    }
  });

  it('votes across augmentations after mapping each prediction back', () => {
    const random = new Random(9);
    const answer = [[1, 2, 0], [3, 4, 5]];
    const other = [[7, 7, 7]];
    const augs = [{ symmetry: 0, colours: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }, randomArcAugmentation(random), randomArcAugmentation(random), randomArcAugmentation(random)];
    const predictions = [answer, applyArcAugmentation(answer, augs[1]), applyArcAugmentation(other, augs[2]), null];
    const ranking = voteOnPredictions(predictions, augs);
    expect(ranking.map((v) => v.votes)).toEqual([2, 1]);
    expect(ranking[0].grid).toEqual(answer);
    expect(ranking[1].grid).toEqual(other);
  });

  it('rejects malformed tasks naming the field', () => {
    expect(() => parseArcTask('{nope', 't')).toThrow(/t: not valid JSON/);
    expect(() => parseArcTask({ train: [], test: [] }, 't')).toThrow(/"train" must be a non-empty list/);
    expect(() => parseArcTask({ train: [{ input: [[1, 2], [3]], output: [[1]] }], test: [{ input: [[1]] }] }, 't')).toThrow(/t.train\[0\].input: row 1 has 1 cells, row 0 has 2/);
    expect(() => parseArcTask({ train: [{ input: [[1, 12]], output: [[1]] }], test: [{ input: [[1]] }] }, 't')).toThrow(/cell \[0\]\[1\] is 12, not a colour 0-9/);
    expect(() => parseArcTask({ train: [{ input: [[1]] }], test: [{ input: [[1]] }] }, 't')).toThrow(/needs an "output"/);
  });
});
