// Training sessions for HRM/TRM on the puzzle tasks, as the CLI runs them (`hiero train|eval|solve`; tests:
// test/hrm-session.test.ts). A checkpoint is a directory:
//   model.safetensors     the weights (metadata: the config)            ← what eval/solve need
//   training.safetensors  AdamW moments and the ACT slots' state        ← what an exact resume needs
//   session.json          task, model config, step, seeds, RNG states
// Each file is written to a temporary name and renamed, so an interrupted save leaves the previous one intact.

import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  AdamAtan2, AdamW, assign, CheckpointError, clone, getRandomState, SignSGDRows, keep, loadSafetensors, noGrad, saveSafetensors, scope, setRandomState,
  tensor, writeFileAtomic, type Tensor,
} from '../engine/index.ts';
import { ACTTrainer, evaluatePuzzles, IGNORE, type PuzzleSource, type StepMetrics } from './hrm-train.ts';
import { HRM, HRM_PAPER, TRM_PAPER, type HRMConfig } from './hrm.ts';
import {
  applyArcAugmentation, ARC_VOCAB, decodeArcGrid, encodeArcGrid, loadArcDirectory, randomArcAugmentation,
  voteOnPredictions, type ArcAugmentation, type ArcTask,
} from './tasks/arc.ts';
import { PuzzleError, Random } from './tasks/common.ts';
import {
  arcExamples, arcSource, mazeExample, mazeSource, mazeSplit, sudokuDigitTokens, sudokuExample, sudokuSource, sudokuSplit,
  sudokuToTokens, sudokuVocab, toBatch, tokensToSudoku, type AugmentedSource, type TokenExample,
} from './tasks/datasets.ts';
import { MAZE, formatMaze, isMazeSolution, parseMaze, shortestPath } from './tasks/maze.ts';
import { formatSudoku, parseSudoku, solveSudoku, specForCells, SUDOKU, validateSudoku } from './tasks/sudoku.ts';

export type Preset = 'tiny' | 'small' | 'paper';

/** Small presets that train on a CPU driver; 'paper' is the published configuration. */
export function presetConfig(variant: 'hrm' | 'trm', preset: Preset, vocab: number, seqLen: number, puzzleIds: number): HRMConfig {
  const base = variant === 'trm' ? TRM_PAPER : HRM_PAPER;
  const common = { vocab, seqLen, puzzleIds, puzzleEmbedding: puzzleIds > 1 };
  if (preset === 'paper') return { ...base, ...common };
  const hidden = preset === 'tiny' ? 32 : 128;
  // Learned positions, not the paper's RoPE: with RoPE alone a small model sees only relative offsets and must work
  // out rows and boxes from the grid's edges. Measured on 4×4 Sudoku (hidden 32, N = T = 1): RoPE stayed at 54 %
  // held-out cell accuracy for 400 steps; learned positions passed 80 % after 500 (README, "HRM and TRM").
  const sizes = { hidden, heads: preset === 'tiny' ? 2 : 4, expansion: 2, ffnMultiple: 16, haltMaxSteps: preset === 'tiny' ? 2 : 8, positions: 'learned' as const };
  return variant === 'trm'
    ? { ...base, ...common, ...sizes, hLayers: 0, lLayers: 2, hCycles: 2, lCycles: 2 }
    : { ...base, ...common, ...sizes, hLayers: 1, lLayers: 1, hCycles: 2, lCycles: 2 };
}

export interface TaskData {
  name: string;
  vocab: number;
  seqLen: number;
  puzzleIds: number;
  source: AugmentedSource<unknown>;
  heldOut: TokenExample[];
  /** ARC tasks only: evaluated by voting across augmentations. */
  arcTasks?: ArcTask[];
}

/** `sudoku-4x4|6x6|9x9`, `maze-N` (N odd, ≥ 7), or `arc:DIRECTORY` of ARC JSON tasks. */
export async function loadTask(name: string, options: { train: number; test: number; seed: number }): Promise<TaskData> {
  const sudoku = /^sudoku-(4x4|6x6|9x9)$/.exec(name);
  if (sudoku) {
    const spec = SUDOKU[sudoku[1] as keyof typeof SUDOKU];
    const split = sudokuSplit(spec, options.train, options.test, options.seed);
    return { name, vocab: sudokuVocab(spec), seqLen: spec.size * spec.size, puzzleIds: 1, source: sudokuSource(spec, split.train, options.seed + 1) as AugmentedSource<unknown>, heldOut: split.test.map(sudokuExample) };
  }
  const maze = /^maze-(\d+)$/.exec(name);
  if (maze) {
    const size = Number(maze[1]);
    if (size < 7 || size % 2 === 0) throw new PuzzleError(`task ${name}: maze sizes are odd numbers of at least 7`);
    const split = mazeSplit(size, options.train, options.test, options.seed, Math.floor((size * size) / 8));
    return { name, vocab: 6, seqLen: size * size, puzzleIds: 1, source: mazeSource(split.train, options.seed + 1) as AugmentedSource<unknown>, heldOut: split.test.map(mazeExample) };
  }
  if (name.startsWith('arc:')) {
    const tasks: ArcTask[] = await loadArcDirectory(name.slice(4));
    if (tasks.length === 0) throw new PuzzleError(`task ${name}: no .json task files in that directory`);
    return { name, vocab: ARC_VOCAB, seqLen: 900, puzzleIds: tasks.length, source: arcSource(tasks, options.seed + 1) as AugmentedSource<unknown>, heldOut: arcExamples(tasks, 'test'), arcTasks: tasks };
  }
  throw new PuzzleError(`unknown task '${name}' (sudoku-4x4, sudoku-6x6, sudoku-9x9, maze-N, arc:DIR)`);
}

export interface SessionState {
  task: string;
  config: HRMConfig;
  step: number;
  seed: number;
  trainCount: number;
  testCount: number;
  lr: number;
  weightDecay: number;
  batch: number;
  loss: 'softmax' | 'stablemax';
  /** 'adam-atan2' is the reference code's optimiser; the small presets were tuned with 'adamw'. */
  optimizer?: 'adamw' | 'adam-atan2';
  /** Decay of an exponential moving average of the weights used for evaluation (TRM: 0.999); absent: none. */
  ema?: number;
  sourceRandom: number;
  engineRandom: [number, number];
}

export class TrainingSession {
  readonly trainer: ACTTrainer;
  /** Sign-SGD on the puzzle embedding rows a batch uses (the reference code's choice), when the model has them. */
  readonly embeddingOptimizer: SignSGDRows | null;
  /** The moving average of the weights (by parameter name), when state.ema is set. */
  readonly ema = new Map<string, Tensor>();

  constructor(
    readonly state: SessionState,
    readonly model: HRM,
    readonly optimizer: AdamW,
    readonly task: TaskData,
  ) {
    this.embeddingOptimizer = model.puzzle_emb ? new SignSGDRows([model.puzzle_emb.weight], { lr: 1e-2, weightDecay: 0.1 }) : null;
    const optimizers = this.embeddingOptimizer ? [optimizer, this.embeddingOptimizer] : [optimizer];
    this.trainer = new ACTTrainer(model, optimizers, task.source as PuzzleSource, state.batch, { loss: state.loss });
    if (state.ema !== undefined) {
      for (const [name, p] of model.namedParameters()) this.ema.set(name, keep(clone(p)));
    }
  }

  /** One training step, then the weight average's update (on the GPU: no read-back). */
  step(): StepMetrics {
    const metrics = this.trainer.step();
    this.state.step++;
    const decay = this.state.ema;
    if (decay !== undefined) {
      scope(() => noGrad(() => {
        for (const [name, p] of this.model.namedParameters()) {
          const average = this.ema.get(name)!;
          assign(average, average.mul(decay).add(p.mul(1 - decay)));
        }
      }));
    }
    return metrics;
  }

  /** Runs fn with the averaged weights loaded (when there are any), then restores the trained ones. */
  async withAveragedWeights<T>(fn: () => Promise<T>): Promise<T> {
    if (this.ema.size === 0) return fn();
    const trained = new Map(this.model.namedParameters().map(([n, p]) => [n, keep(clone(p))]));
    this.model.loadStateDict(this.ema, { strict: false });
    try {
      return await fn();
    } finally {
      this.model.loadStateDict(trained, { strict: false });
      for (const t of trained.values()) t.dispose();
    }
  }

  static async create(state: Omit<SessionState, 'step' | 'sourceRandom' | 'engineRandom'>): Promise<TrainingSession> {
    const task = await loadTask(state.task, { train: state.trainCount, test: state.testCount, seed: state.seed });
    const model = new HRM(state.config);
    const Optimizer = state.optimizer === 'adam-atan2' ? AdamAtan2 : AdamW;
    // The puzzle embedding is left to sign-SGD (see the constructor), as in the reference code.
    const params = model.namedParameters().filter(([name]) => name !== 'puzzle_emb.weight').map(([, p]) => p);
    const optimizer = new Optimizer(params, { lr: state.lr, betas: [0.9, 0.95], weightDecay: state.weightDecay });
    return new TrainingSession({ ...state, step: 0, sourceRandom: task.source.random.state, engineRandom: getRandomState() }, model, optimizer, task);
  }

  /** Resumes from a checkpoint directory: the same weights, moments, slots and random streams. */
  static async resume(dir: string): Promise<TrainingSession> {
    const state = readSession(dir);
    const session = await TrainingSession.create(state);
    await loadWeights(session.model, dir);
    const { tensors } = await loadSafetensors(join(dir, 'training.safetensors'));
    session.optimizer.loadStateTensors(session.model.namedParameters(), tensors);
    session.optimizer.stepCount = state.step;
    if (session.embeddingOptimizer) session.embeddingOptimizer.stepCount = state.step;
    session.trainer.loadStateTensors(tensors);
    for (const [name, average] of session.ema) {
      const saved = tensors.get(`ema.${name}`);
      if (saved) noGrad(() => assign(average, saved));
    }
    for (const t of tensors.values()) t.dispose();
    session.state.step = state.step;
    session.task.source.random.state = state.sourceRandom;
    setRandomState(state.engineRandom);
    return session;
  }

  async save(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    this.state.sourceRandom = this.task.source.random.state;
    this.state.engineRandom = getRandomState();
    await saveSafetensors(join(dir, 'model.safetensors'), this.model.stateDict(), { config: JSON.stringify(this.state.config), task: this.state.task });
    await saveSafetensors(join(dir, 'training.safetensors'), [
      ...this.optimizer.stateTensors(this.model.namedParameters()),
      ...this.trainer.stateTensors(),
      ...[...this.ema].map(([name, t]) => [`ema.${name}`, t] as [string, Tensor]),
    ]);
    await writeFileAtomic(join(dir, 'session.json'), JSON.stringify(this.state, null, 2));
  }

  /** Held-out accuracy per segment (with the averaged weights when the session keeps an average). */
  async evaluate(options: { segments?: number; count?: number } = {}) {
    const examples = this.task.heldOut.slice(0, options.count ?? this.task.heldOut.length);
    if (examples.length === 0) throw new PuzzleError(`task ${this.task.name}: no held-out examples with answers to evaluate on`);
    return this.withAveragedWeights(() => evaluatePuzzles(this.model, toBatch(examples), { segments: options.segments }));
  }

  dispose(): void {
    this.embeddingOptimizer?.dispose();
    for (const t of this.ema.values()) t.dispose();
    this.trainer.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }
}

export interface ArcScore {
  tasks: number;
  pass1: number;
  pass2: number;
}

/**
 * ARC evaluation as the reference does it: each test input is predicted under `augmentations` random
 * augmentations (the first is the identity), the predictions are mapped back and voted on, and a task counts as
 * solved at pass@k when one of its k most-voted grids equals the expected output.
 */
export async function evaluateArcTasks(model: HRM, tasks: ArcTask[], options: { augmentations?: number; segments?: number; seed?: number } = {}): Promise<ArcScore> {
  const count = options.augmentations ?? 8;
  const segments = options.segments ?? model.config.haltMaxSteps;
  const random = new Random(options.seed ?? 1);
  let scored = 0;
  let pass1 = 0;
  let pass2 = 0;
  for (const [id, task] of tasks.entries()) {
    for (const pair of task.test) {
      if (!pair.output) continue;
      const augs: ArcAugmentation[] = [{ symmetry: 0, colours: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }];
      while (augs.length < count) augs.push(randomArcAugmentation(random));
      const inputs = tensor(Int32Array.from(augs.flatMap((a) => encodeArcGrid(applyArcAugmentation(pair.input, a)))), [augs.length, 900], { dtype: 'i32' });
      const ids = tensor(new Int32Array(augs.length).fill(id), [augs.length], { dtype: 'i32' });
      const { logits, halts } = model.evaluate(inputs, model.puzzle_emb ? ids : null, segments);
      const predicted = await noGrad(() => logits[segments - 1].argmax(-1)).toArray();
      logits.forEach((t) => t.dispose());
      halts.forEach((t) => t.dispose());
      inputs.dispose();
      ids.dispose();
      const grids = augs.map((_, k) => decodeArcGrid(Array.from(predicted.slice(k * 900, (k + 1) * 900))));
      const ranking = voteOnPredictions(grids, augs);
      const expected = JSON.stringify(pair.output);
      scored++;
      if (ranking[0] && JSON.stringify(ranking[0].grid) === expected) pass1++;
      if (ranking.slice(0, 2).some((v) => JSON.stringify(v.grid) === expected)) pass2++;
    }
  }
  return { tasks: scored, pass1: scored ? pass1 / scored : 0, pass2: scored ? pass2 / scored : 0 };
}

export function readSession(dir: string): SessionState {
  const path = join(dir, 'session.json');
  if (!existsSync(path)) throw new CheckpointError(`${dir}: not a checkpoint directory (no session.json)`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SessionState;
  } catch (error) {
    throw new CheckpointError(`${path}: unreadable (${(error as Error).message})`);
  }
}

async function loadWeights(model: HRM, dir: string): Promise<void> {
  const { tensors } = await loadSafetensors(join(dir, 'model.safetensors'));
  try {
    model.loadStateDict(tensors);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** The model of a checkpoint directory, for eval and solve. */
export async function loadModel(dir: string): Promise<{ model: HRM; state: SessionState }> {
  const state = readSession(dir);
  const model = new HRM(state.config);
  await loadWeights(model, dir);
  return { model, state };
}

export interface SolveResult {
  /** The answer after the last segment, in the puzzle's text form (a digit grid, or the maze with its path as '*'). */
  answer: string;
  /** Segments run (the model's maximum). */
  segments: number;
  /** The first segment whose answer is right (a valid grid keeping the givens; a shortest path), or null. */
  firstValidSegment: number | null;
  /** The first segment after which the Q head chose to halt (where ACT stops), or null if it never did. */
  haltSegment: number | null;
  valid: boolean;
}

interface SolvablePuzzle {
  tokens: number[];
  /** The token ids an answer cell may take, [first, end): padding and blanks are never an answer. */
  answerTokens: [number, number];
  check(answer: number[]): boolean;
  format(answer: number[]): string;
}

function sudokuToSolve(text: string, config: HRMConfig): SolvablePuzzle {
  const puzzle = parseSudoku(text);
  const spec = specForCells(puzzle.length);
  if (spec.size + 2 !== config.vocab || spec.size * spec.size !== config.seqLen) {
    throw new PuzzleError(`solve: the checkpoint was trained on ${Math.sqrt(config.seqLen)}×${Math.sqrt(config.seqLen)} grids, this puzzle is ${spec.size}×${spec.size}`);
  }
  validateSudoku(puzzle, spec);
  if (solveSudoku(puzzle, spec, 1).solutions.length === 0) throw new PuzzleError(`solve: this ${spec.size}×${spec.size} puzzle has no solution`);
  return {
    tokens: sudokuToTokens(puzzle),
    answerTokens: sudokuDigitTokens(spec),
    check: (answer) => {
      const grid = tokensToSudoku(answer);
      if (!puzzle.every((v, i) => v === 0 || grid[i] === v)) return false;
      try {
        validateSudoku(grid, spec, { complete: true });
        return true;
      } catch {
        return false;
      }
    },
    format: (answer) => formatSudoku(tokensToSudoku(answer), spec),
  };
}

function mazeToSolve(text: string, config: HRMConfig): SolvablePuzzle {
  const { maze, size } = parseMaze(text);
  if (size * size !== config.seqLen) {
    throw new PuzzleError(`solve: the checkpoint was trained on ${Math.sqrt(config.seqLen)}×${Math.sqrt(config.seqLen)} mazes, this maze is ${size}×${size}`);
  }
  if (!shortestPath(maze, size)) throw new PuzzleError(`solve: in this ${size}×${size} maze the goal cannot be reached from the start`);
  return { tokens: maze, answerTokens: [MAZE.wall, MAZE.path + 1], check: (answer) => isMazeSolution(maze, size, answer), format: (answer) => formatMaze(answer, size) };
}

function argmaxWithin(logits: ArrayLike<number>, vocab: number, [first, end]: [number, number]): number[] {
  const cells = logits.length / vocab;
  return Array.from({ length: cells }, (_, cell) => {
    let best = first;
    for (let t = first + 1; t < end; t++) if (logits[cell * vocab + t] > logits[cell * vocab + best]) best = t;
    return best;
  });
}

/**
 * Runs a trained model on one puzzle given as text: a Sudoku ('12.. 34.. …', '.' for blanks) for sudoku
 * checkpoints, a maze ('#', '.', 'S', 'G', one line per row) for maze checkpoints. All segments are run; the result
 * says which one first got it right and where the Q head would have halted.
 */
export async function solveWithModel(model: HRM, task: string, text: string): Promise<SolveResult> {
  let puzzle: SolvablePuzzle;
  if (task.startsWith('sudoku-')) puzzle = sudokuToSolve(text, model.config);
  else if (task.startsWith('maze-')) puzzle = mazeToSolve(text, model.config);
  else throw new PuzzleError(`solve: reads Sudoku and maze puzzles; this checkpoint was trained on ${task} (evaluate it with 'hiero eval')`);
  const inputs = tensor(Int32Array.from(puzzle.tokens), [1, puzzle.tokens.length], { dtype: 'i32' });
  const ids = model.puzzle_emb ? tensor(Int32Array.of(0), [1], { dtype: 'i32' }) : null;
  const segments = model.config.haltMaxSteps;
  const { logits, halts } = model.evaluate(inputs, ids, segments);
  let firstValid: number | null = null;
  let haltSegment: number | null = null;
  let answer: number[] = [];
  for (let m = 0; m < segments; m++) {
    answer = argmaxWithin(await logits[m].toArray(), model.config.vocab, puzzle.answerTokens);
    if (firstValid === null && puzzle.check(answer)) firstValid = m + 1;
    if (haltSegment === null && (await halts[m].item()) > 0) haltSegment = m + 1;
    logits[m].dispose();
    halts[m].dispose();
  }
  inputs.dispose();
  ids?.dispose();
  return { answer: puzzle.format(answer), segments, firstValidSegment: firstValid, haltSegment, valid: firstValid !== null };
}

export { IGNORE };
