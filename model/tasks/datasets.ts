// Puzzles as model tokens, and the batch sources the ACT trainer draws from (augmented on the fly).
//   Sudoku n×n: vocab n + 2 (0 pad, 1 blank, 2..n+1 digits); input = puzzle, target = solution.
//   Maze N×N:   vocab 6 (0 pad, 1 wall, 2 open, 3 start, 4 goal, 5 path); target = the maze with its path.
//   ARC:        vocab 12 (0 pad, 1 end of grid, 2..11 colours) on a 30×30 canvas; one puzzle id per task.

import type { PuzzleBatch, PuzzleSource } from '../hrm-train.ts';
import { applyArcAugmentation, encodeArcGrid, randomArcAugmentation, type ArcTask } from './arc.ts';
import { Random } from './common.ts';
import { augmentMaze, generateMaze, type MazeExample } from './maze.ts';
import { augmentSudoku, generateSudoku, type SudokuExample, type SudokuSpec } from './sudoku.ts';

export interface TokenExample {
  inputs: number[];
  labels: number[];
  puzzleId: number;
}

export function sudokuVocab(spec: SudokuSpec): number {
  return spec.size + 2;
}

/** A grid (0 blank, 1..n digits) as tokens. */
export function sudokuToTokens(grid: readonly number[]): number[] {
  return grid.map((v) => (v === 0 ? 1 : v + 1));
}

/** The tokens a solved cell may hold (the digits), as [first, end). */
export function sudokuDigitTokens(spec: SudokuSpec): [number, number] {
  return [2, spec.size + 2];
}

export function sudokuExample(ex: SudokuExample): TokenExample {
  return { inputs: sudokuToTokens(ex.puzzle), labels: sudokuToTokens(ex.solution), puzzleId: 0 };
}

export function tokensToSudoku(tokens: ArrayLike<number>): number[] {
  return Array.from(tokens, (t) => (t >= 2 ? t - 1 : 0));
}

export function mazeExample(ex: MazeExample): TokenExample {
  return { inputs: [...ex.maze], labels: [...ex.solution], puzzleId: 0 };
}

/**
 * Distinct generated Sudoku puzzles, split into training and held-out sets (no puzzle in both). With `minGuesses`,
 * only puzzles whose solution takes at least that many backtracking guesses (search effort) are kept: a hard split.
 */
export function sudokuSplit(spec: SudokuSpec, train: number, test: number, seed: number, options: { minGuesses?: number } = {}): { train: SudokuExample[]; test: SudokuExample[] } {
  const random = new Random(seed);
  const seen = new Set<string>();
  const all: SudokuExample[] = [];
  let tries = 0;
  const hard = options.minGuesses ?? 0;
  const budget = (hard > 0 ? 2000 : 50) * (train + test);
  while (all.length < train + test && tries++ < budget) {
    const ex = generateSudoku(spec, random, { minGuesses: options.minGuesses, attempts: 1 });
    if (ex.guesses < hard) continue;
    const key = ex.puzzle.join('');
    if (seen.has(key)) continue;
    seen.add(key);
    all.push(ex);
  }
  return { train: all.slice(0, train), test: all.slice(train) };
}

export function mazeSplit(size: number, train: number, test: number, seed: number, minPathLength: number): { train: MazeExample[]; test: MazeExample[] } {
  const random = new Random(seed);
  const all = Array.from({ length: train + test }, () => generateMaze(size, random, { minPathLength }));
  return { train: all.slice(0, train), test: all.slice(train) };
}

/** Training pairs of ARC tasks as examples (puzzle id = task index); test pairs with outputs as held-out examples. */
export function arcExamples(tasks: ArcTask[], which: 'train' | 'test'): TokenExample[] {
  return tasks.flatMap((task, id) =>
    task[which].filter((p) => p.output).map((p) => ({ inputs: encodeArcGrid(p.input), labels: encodeArcGrid(p.output!), puzzleId: id })),
  );
}

export function toBatch(examples: TokenExample[]): PuzzleBatch & { count: number } {
  const L = examples[0].inputs.length;
  const inputs = new Int32Array(examples.length * L);
  const labels = new Int32Array(examples.length * L);
  examples.forEach((e, i) => {
    inputs.set(e.inputs, i * L);
    labels.set(e.labels, i * L);
  });
  return { inputs, labels, puzzleIds: Int32Array.from(examples.map((e) => e.puzzleId)), count: examples.length };
}

/** Draws training examples at random from a pool, each freshly augmented. */
export class AugmentedSource<T> implements PuzzleSource {
  /** Its state is saved in training checkpoints, so a resumed run draws the same examples. */
  readonly random: Random;

  constructor(
    private readonly pool: T[],
    private readonly encode: (item: T, random: Random) => TokenExample,
    seed: number,
  ) {
    if (pool.length === 0) throw new Error('AugmentedSource: the pool is empty');
    this.random = new Random(seed);
  }

  next(batch: number): PuzzleBatch {
    return toBatch(Array.from({ length: batch }, () => this.encode(this.pool[this.random.int(this.pool.length)], this.random)));
  }
}

export function sudokuSource(spec: SudokuSpec, pool: SudokuExample[], seed: number, augment = true): AugmentedSource<SudokuExample> {
  return new AugmentedSource(pool, (ex, random) => sudokuExample(augment ? augmentSudoku(ex, spec, random) : ex), seed);
}

export function mazeSource(pool: MazeExample[], seed: number, augment = true): AugmentedSource<MazeExample> {
  return new AugmentedSource(pool, (ex, random) => mazeExample(augment ? augmentMaze(ex, random) : ex), seed);
}

export function arcSource(tasks: ArcTask[], seed: number, augment = true): AugmentedSource<{ task: number; pair: number }> {
  const pool = tasks.flatMap((t, task) => t.train.map((_, pair) => ({ task, pair })));
  return new AugmentedSource(pool, ({ task, pair }, random) => {
    const p = tasks[task].train[pair];
    const aug = augment ? randomArcAugmentation(random) : { symmetry: 0, colours: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] };
    return { inputs: encodeArcGrid(applyArcAugmentation(p.input, aug)), labels: encodeArcGrid(applyArcAugmentation(p.output!, aug)), puzzleId: task };
  }, seed);
}
