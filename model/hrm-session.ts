// Training sessions for HRM/TRM on the puzzle tasks, as the CLI runs them (`hiero train|eval|solve`; tests:
// test/hrm-session.test.ts). A checkpoint is a directory saved as one unit (engine/io/checkpoint.ts) with three files:
//   weights   safetensors: the model to evaluate (the weight average, when the session keeps one), with the
//             config, task, step and held-out split in its metadata       ← all that eval and solve read
//   training  safetensors: AdamW moments, the ACT slots, and the trained weights when `weights` holds their
//             average                                                     ← what an exact resume adds
//   session   JSON: task, model config, step, seeds, RNG states

import type { GridMixerKind } from './grid-mixers.ts';
import {
  AbortError, AdamAtan2, AdamW, assign, warmupConstant, CheckpointError, clone, getRandomState, manualSeed, SignSGDRows, keep, noGrad, NonFiniteMonitor,
  readCheckpointJson, readCheckpointTensors, readManifest, loadHostWeights, uploadTensors, readScalars, saveCheckpoint, scope, serializeTensors, setRandomState, tensor,
  type Manifest, type SaveHooks, type Tensor,
} from '../engine/index.ts';
import { ACTTrainer, evaluatePuzzles, IGNORE, type PuzzleSource, type StepMetrics } from './hrm-train.ts';
import { describeHRM, HRM, HRM_PAPER, TRM_PAPER, type HRMConfig } from './hrm.ts';
import { INPUT_LIMITS, lengthProblem, optionProblem, SOLVE_OPTIONS } from './options.ts';
import type { EvaluationReading, StepReading, TrainingRun } from './training.ts';
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

const percent = (v: number) => `${(100 * v).toFixed(1)}%`;

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

/**
 * Search effort (backtracking guesses of the reference solver, uniqueness proof included) every puzzle of the hard
 * 9×9 split needs at least: like Sudoku-Extreme, puzzles that elimination alone does not finish. Measured over 300
 * generated minimal 9×9 puzzles (24 givens on average): 44 % need 20 guesses or more, 4 % none.
 */
export const HARD_SUDOKU_GUESSES = 20;

/** `sudoku-4x4|6x6|9x9`, `sudoku-9x9-hard`, `maze-N` (N odd, ≥ 7), or `arc:DIRECTORY` of ARC JSON tasks. */
export async function loadTask(name: string, options: { train: number; test: number; seed: number }): Promise<TaskData> {
  const sudoku = /^sudoku-(4x4|6x6|9x9)(-hard)?$/.exec(name);
  if (sudoku) {
    const spec = SUDOKU[sudoku[1] as keyof typeof SUDOKU];
    if (sudoku[2] && spec.size !== 9) throw new PuzzleError(`task ${name}: the hard split is for 9×9 Sudoku (sudoku-9x9-hard)`);
    const split = sudokuSplit(spec, options.train, options.test, options.seed, { minGuesses: sudoku[2] ? HARD_SUDOKU_GUESSES : 0 });
    if (split.train.length + split.test.length < options.train + options.test) {
      throw new PuzzleError(`task ${name}: the generator found only ${split.train.length + split.test.length} distinct puzzles of the ${options.train + options.test} asked for`);
    }
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
  if (name === 'mqar') throw new PuzzleError("task mqar is a language models' task (hiero train hgrn2 --task mqar, or any text kind), not a puzzle");
  throw new PuzzleError(`unknown task '${name}' (sudoku-4x4, sudoku-6x6, sudoku-9x9, sudoku-9x9-hard, maze-N, arc:DIR)`);
}

export interface SessionState {
  task: string;
  config: HRMConfig;
  step: number;
  seed: number;
  trainCount: number;
  testCount: number;
  lr: number;
  /** Steps of linear learning-rate warm-up from 0 to lr (then constant, as the reference code). Absent: none. */
  warmup?: number;
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

/** What a new training run is made of (the CLI's train options and the playground's train request). */
export interface NewSessionOptions {
  variant: 'hrm' | 'trm';
  task: string;
  preset: Preset;
  seed: number;
  train: number;
  test: number;
  batch: number;
  /** The kind's row (model/kinds/puzzle.ts) gives the preset's when none is asked for. */
  lr: number;
  warmup?: number;
  /** Defaults: 0.1, paper 1. */
  weightDecay?: number;
  loss?: 'softmax' | 'stablemax';
  /** Defaults: adamw, paper adam-atan2. */
  optimizer?: 'adamw' | 'adam-atan2';
  /** Defaults: none for HRM, 0.999 for TRM (as its reference code). */
  ema?: number;
  /** Overrides of the preset's model. */
  maxSegments?: number;
  cycles?: number;
  hidden?: number;
  positions?: 'rope' | 'learned';
  mixer?: GridMixerKind;
}

/** A new training run: the preset's model with the given overrides, its task's puzzles, fresh weights from the seed. */
export async function createSession(o: NewSessionOptions): Promise<TrainingSession> {
  manualSeed(o.seed);
  const probe = await loadTask(o.task, { train: 1, test: 0, seed: o.seed });
  const config = presetConfig(o.variant, o.preset, probe.vocab, probe.seqLen, probe.puzzleIds);
  if (o.maxSegments !== undefined) config.haltMaxSteps = o.maxSegments;
  if (o.cycles !== undefined) config.hCycles = config.lCycles = o.cycles;
  if (o.hidden !== undefined) config.hidden = o.hidden;
  if (o.positions !== undefined) config.positions = o.positions;
  if (o.mixer !== undefined && o.mixer !== 'attention') config.mixer = o.mixer;
  const paper = o.preset === 'paper';
  return TrainingSession.create({
    task: o.task, config, seed: o.seed, trainCount: o.train, testCount: o.test,
    lr: o.lr, warmup: o.warmup, weightDecay: o.weightDecay ?? (paper ? 1 : 0.1),
    batch: o.batch, loss: o.loss ?? 'softmax', optimizer: o.optimizer ?? (paper ? 'adam-atan2' : 'adamw'),
    ema: o.ema ?? (o.variant === 'trm' ? 0.999 : undefined),
  });
}

export class TrainingSession implements TrainingRun<StepMetrics> {
  readonly trainer: ACTTrainer;
  /** Sign-SGD on the puzzle embedding rows a batch uses (the reference code's choice), when the model has them. */
  readonly embeddingOptimizer: SignSGDRows | null;
  /** The moving average of the weights (by parameter name), when state.ema is set. */
  readonly ema = new Map<string, Tensor>();
  /** Notes the first step whose loss or gradient norm is not finite (read with the progress values). */
  readonly monitor = new NonFiniteMonitor(['loss', 'gradient norm']);

  constructor(
    readonly state: SessionState,
    readonly model: HRM,
    readonly optimizer: AdamW,
    readonly task: TaskData,
  ) {
    this.embeddingOptimizer = model.puzzle_emb ? new SignSGDRows([model.puzzle_emb.weight], { lr: 1e-2, weightDecay: 0.1 }) : null;
    const optimizers = this.embeddingOptimizer ? [optimizer, this.embeddingOptimizer] : [optimizer];
    this.trainer = new ACTTrainer(model, optimizers, task.source as PuzzleSource, state.batch, { loss: state.loss });
    optimizer.trackGradNorm = true;
    optimizer.schedule = warmupConstant({ peak: state.lr, warmup: state.warmup ?? 0 });
    if (state.ema !== undefined) {
      for (const [name, p] of model.namedParameters()) this.ema.set(name, keep(clone(p)));
    }
  }

  /** Replay the training step after recording it (engine/replay.ts); the same numbers, fewer host instructions. */
  replay = false;

  /** One training step, then the weight average's update (on the GPU: no read-back). */
  step(): StepMetrics {
    return this.afterStep(this.trainer.step());
  }

  private afterStep(metrics: StepMetrics): StepMetrics {
    this.state.step++;
    this.monitor.watch(this.state.step, metrics.loss, this.optimizer.lastGradNorm);
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

  get kind(): 'hrm' | 'trm' {
    return this.state.config.variant;
  }

  get stepsDone(): number {
    return this.state.step;
  }

  get itemsPerStep(): number {
    return this.state.batch;
  }

  readonly itemUnit = 'samples';

  async trainStep(): Promise<StepMetrics> {
    return this.replay ? this.afterStep(await this.trainer.replayedStep()) : this.step();
  }

  async read(m: StepMetrics): Promise<StepReading> {
    const [loss, cells, exact, q, segments, halted] = await readScalars([m.loss, m.tokenAccuracy, m.exactCorrect, m.qAccuracy, m.segments, m.halted]);
    // Accuracies are over the samples that halted at this step; none may have.
    const ofHalted = (x: number) => (halted > 0 ? x : null);
    const show = (x: number | null, f: (x: number) => string) => (x === null ? '-' : f(x));
    const values = { trainCell: ofHalted(cells), trainExact: ofHalted(exact), q: ofHalted(q), segments: ofHalted(segments) };
    return {
      loss, values,
      text: `cells ${show(values.trainCell, percent)}  exact ${show(values.trainExact, percent)}  Q ${show(values.q, percent)}  segments ${show(values.segments, (x) => x.toFixed(2))}`,
    };
  }

  release(m: StepMetrics): void {
    for (const t of Object.values(m) as Tensor[]) t.dispose();
  }

  async evaluateHeldOut(): Promise<EvaluationReading> {
    const r = await this.evaluate({ segments: this.state.config.haltMaxSteps });
    const last = r.exactBySegment.length - 1;
    return {
      values: { cell: r.cellBySegment[last], exact: r.exactBySegment[last], exactBySegment: r.exactBySegment },
      text: `cell ${percent(r.cellBySegment[last])}, exact ${percent(r.exactBySegment[last])} (per segment: ${r.exactBySegment.map(percent).join(' ')})`,
      shown: this.solvedExample(r.predictions),
    };
  }

  /** One held-out Sudoku the model solves, beside the model's answer: what training achieved, shown. */
  private solvedExample(predictions: Int32Array[]): string[] | undefined {
    const sudoku = /^sudoku-(\d)x\d/.exec(this.state.task);
    if (!sudoku) return undefined;
    const spec = specForCells(Number(sudoku[1]) ** 2);
    const index = this.task.heldOut.findIndex((ex, i) => predictions[i]?.every((t, j) => ex.labels[j] === IGNORE || t === ex.labels[j]));
    if (index < 0) return ['no held-out puzzle is solved yet'];
    const puzzle = formatSudoku(tokensToSudoku(this.task.heldOut[index].inputs), spec).split('\n');
    const answer = formatSudoku(tokensToSudoku(predictions[index]), spec).split('\n');
    return [
      `a held-out puzzle it solves (held-out #${index + 1}):`,
      ...puzzle.map((line, i) => `  ${line.padEnd(puzzle[0].length)}   ${i === Math.floor(puzzle.length / 2) ? '->' : '  '}   ${answer[i]}`),
    ];
  }

  describe(): string[] {
    const c = this.state.config;
    return [
      `model: ${describeHRM(c, this.model.parameterCount())}; task ${this.state.task}: ${this.state.trainCount} training puzzles (augmented), ` +
        `${this.task.heldOut.length} held out; batch ${this.state.batch}`,
    ];
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
    const manifest = await readHrmManifest(dir);
    if (!manifest.files.training) {
      throw new CheckpointError(`${dir}: holds weights only (no training state), so it can be evaluated and solved with but not resumed`);
    }
    const state = await readSession(dir, manifest);
    const session = await TrainingSession.create(state);
    const tensors = uploadTensors((await readCheckpointTensors(dir, manifest, 'training')).tensors);
    if (session.ema.size > 0) {
      // The weights file holds the average; the trained weights travel in the training file as raw.<name>.
      const averaged = uploadTensors((await readCheckpointTensors(dir, manifest, 'weights')).tensors);
      try {
        for (const [name, average] of session.ema) {
          const saved = averaged.get(name);
          if (!saved) throw new CheckpointError(`${dir}: the weights file lacks '${name}'`);
          noGrad(() => assign(average, saved));
        }
        const raw = new Map([...session.model.namedBuffers()].map(([name]) => [name, averaged.get(name)!]));
        for (const [name] of session.model.namedParameters()) {
          const saved = tensors.get(`raw.${name}`);
          if (!saved) throw new CheckpointError(`${dir}: the training file lacks the trained weight 'raw.${name}'`);
          raw.set(name, saved);
        }
        session.model.loadStateDict(raw);
      } finally {
        for (const t of averaged.values()) t.dispose();
      }
    } else {
      loadHostWeights(session.model, (await readCheckpointTensors(dir, manifest, 'weights')).tensors);
    }
    session.optimizer.loadStateTensors(session.model.namedParameters(), tensors);
    session.optimizer.stepCount = state.step;
    if (session.embeddingOptimizer) session.embeddingOptimizer.stepCount = state.step;
    session.trainer.loadStateTensors(tensors);
    for (const t of tensors.values()) t.dispose();
    session.state.step = state.step;
    session.task.source.random.state = state.sourceRandom;
    setRandomState(state.engineRandom);
    return session;
  }

  /**
   * The weights file: what eval, solve and the inference worker load. It holds the weight average when there is one
   * (the trained weights then go to the training file), with the config, task, step and held-out split as metadata.
   */
  async weightsFile(): Promise<Uint8Array> {
    const heldOut = JSON.stringify({ seed: this.state.seed, train: this.state.trainCount, test: this.state.testCount } satisfies HeldOutSplit);
    const evaluated = new Map([...this.model.stateDict(), ...this.ema]);
    return serializeTensors(evaluated, { model: this.kind, config: JSON.stringify(this.state.config), task: this.state.task, step: String(this.state.step), heldOut });
  }

  /** Saves the session into `dir` as one unit (engine/io/checkpoint.ts); `hooks` interrupt it in tests. */
  async save(dir: string, hooks?: SaveHooks): Promise<Manifest> {
    this.state.sourceRandom = this.task.source.random.state;
    this.state.engineRandom = getRandomState();
    const step = String(this.state.step);
    const weights = await this.weightsFile();
    const training = await serializeTensors([
      ...this.optimizer.stateTensors(this.model.namedParameters()),
      ...this.trainer.stateTensors(),
      ...(this.ema.size > 0 ? this.model.namedParameters().map(([name, p]) => [`raw.${name}`, p] as [string, Tensor]) : []),
    ], { step });
    return saveCheckpoint(dir, 'hrm', this.state.step, [
      { role: 'weights', extension: 'safetensors', bytes: weights },
      { role: 'training', extension: 'safetensors', bytes: training },
      { role: 'session', extension: 'json', bytes: new TextEncoder().encode(JSON.stringify(this.state, null, 2)) },
    ], hooks);
  }

  /** Held-out accuracy per segment (with the averaged weights when the session keeps an average). */
  async evaluate(options: { segments?: number; count?: number } = {}) {
    const examples = this.task.heldOut.slice(0, options.count ?? this.task.heldOut.length);
    if (examples.length === 0) throw new PuzzleError(`task ${this.task.name}: no held-out examples with answers to evaluate on`);
    return this.withAveragedWeights(() => evaluatePuzzles(this.model, toBatch(examples), { segments: options.segments }));
  }

  dispose(): void {
    this.monitor.dispose();
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
      const evaluated = model.evaluate(inputs, model.puzzle_emb ? ids : null, segments);
      const predicted = await noGrad(() => evaluated.logits[segments - 1].argmax(-1)).toArray();
      for (const list of Object.values(evaluated)) list.forEach((t) => t.dispose());
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

/** The manifest of an HRM/TRM checkpoint (another kind of checkpoint is a named error). */
export async function readHrmManifest(dir: string): Promise<Manifest> {
  const manifest = await readManifest(dir);
  if (manifest.kind !== 'hrm') throw new CheckpointError(`${dir}: a ${manifest.kind} checkpoint, not an HRM/TRM one`);
  return manifest;
}

/** The session record of a checkpoint (task, config, step, ...), verified against the manifest's step. */
export async function readSession(dir: string, manifest?: Manifest): Promise<SessionState> {
  const m = manifest ?? (await readHrmManifest(dir));
  const state = await readCheckpointJson<SessionState>(dir, m, 'session');
  if (!state || typeof state.task !== 'string' || typeof state.config !== 'object') throw new CheckpointError(`${dir}: the session file is not an HRM session record`);
  if (state.step !== m.step) throw new CheckpointError(`${dir}: the session file is at step ${state.step}, the checkpoint at step ${m.step}`);
  return state;
}

/** The seed and sizes that regenerate a session's training and held-out puzzles. */
export interface HeldOutSplit {
  seed: number;
  train: number;
  test: number;
}

/** One segment's view of a puzzle: what the model answers after it, how sure it is, and what its Q head says. */
export interface SegmentView {
  /** The answer cells as the puzzle's values (Sudoku digits 1..n; maze tokens), one per cell. */
  cells: number[];
  /** The answer in the puzzle's text form. */
  text: string;
  /** Per cell, the probability the model gives its chosen value (among the answer values). */
  confidence: number[];
  /** The Q head's logits: halt and continue. */
  qHalt: number;
  qContinue: number;
  /** Whether the Q head would stop after this segment. */
  halts: boolean;
  /** Whether this answer is right (a valid grid that keeps the givens; a shortest path). */
  valid: boolean;
}

export interface SolveResult {
  /** The answer shown: the first right segment's, or the last segment's when none is right (text form). */
  answer: string;
  /** The segment whose answer `answer` is (1-based). */
  shownSegment: number;
  /** Segments run. */
  segments: number;
  /** The first segment whose answer is right, or null. */
  firstValidSegment: number | null;
  /** The first segment after which the Q head chose to halt (where ACT stops), or null if it never did. */
  haltSegment: number | null;
  valid: boolean;
  /** Every segment, in order: the model thinking. */
  views: SegmentView[];
}

interface SolvablePuzzle {
  tokens: number[];
  /** The puzzle values of answer tokens (Sudoku: token t is digit t - 1). */
  value: (token: number) => number;
  /** The token ids an answer cell may take, [first, end): padding and blanks are never an answer. */
  answerTokens: [number, number];
  check(answer: number[]): boolean;
  format(answer: number[]): string;
}

function sudokuToSolve(text: string, config: HRMConfig, task: string): SolvablePuzzle {
  const side = Math.sqrt(config.seqLen);
  let puzzle: number[];
  let spec: ReturnType<typeof specForCells>;
  try {
    puzzle = parseSudoku(text);
    spec = specForCells(puzzle.length);
  } catch (error) {
    throw new PuzzleError(`solve: this checkpoint solves ${side}×${side} Sudoku (${task}); give the puzzle as ${side * side} digits with '.' for blanks: ${(error as Error).message}`);
  }
  if (spec.size + 2 !== config.vocab || spec.size * spec.size !== config.seqLen) {
    throw new PuzzleError(`solve: the checkpoint was trained on ${side}×${side} grids (${task}), this puzzle is ${spec.size}×${spec.size}`);
  }
  validateSudoku(puzzle, spec);
  if (solveSudoku(puzzle, spec, 1).solutions.length === 0) throw new PuzzleError(`solve: this ${spec.size}×${spec.size} puzzle has no solution`);
  return {
    tokens: sudokuToTokens(puzzle),
    value: (token) => token - 1,
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

function mazeToSolve(text: string, config: HRMConfig, task: string): SolvablePuzzle {
  const side = Math.sqrt(config.seqLen);
  let parsed: ReturnType<typeof parseMaze>;
  try {
    parsed = parseMaze(text);
  } catch (error) {
    throw new PuzzleError(`solve: this checkpoint solves ${side}×${side} mazes (${task}); give the maze as ${side} rows of ${side} cells from # . S G: ${(error as Error).message}`);
  }
  const { maze, size } = parsed;
  if (size * size !== config.seqLen) {
    throw new PuzzleError(`solve: the checkpoint was trained on ${side}×${side} mazes (${task}), this maze is ${size}×${size}`);
  }
  if (!shortestPath(maze, size)) throw new PuzzleError(`solve: in this ${size}×${size} maze the goal cannot be reached from the start`);
  return { tokens: maze, value: (token) => token, answerTokens: [MAZE.wall, MAZE.path + 1], check: (answer) => isMazeSolution(maze, size, answer), format: (answer) => formatMaze(answer, size) };
}

/** Per cell, the most likely answer token and its probability among the answer tokens [first, end). */
function chooseWithin(logits: ArrayLike<number>, vocab: number, [first, end]: [number, number]): { tokens: number[]; confidence: number[] } {
  const cells = logits.length / vocab;
  const tokens: number[] = [];
  const confidence: number[] = [];
  for (let cell = 0; cell < cells; cell++) {
    let best = first;
    for (let t = first + 1; t < end; t++) if (logits[cell * vocab + t] > logits[cell * vocab + best]) best = t;
    let total = 0;
    for (let t = first; t < end; t++) total += Math.exp(logits[cell * vocab + t] - logits[cell * vocab + best]);
    tokens.push(best);
    confidence.push(1 / total);
  }
  return { tokens, confidence };
}

/**
 * Runs a trained model on one puzzle given as text: a Sudoku ('12.. 34.. …', '.' for blanks) for sudoku
 * checkpoints, a maze ('#', '.', 'S', 'G', one line per row) for maze checkpoints. All segments are run; the result
 * says which one first got it right and where the Q head would have halted.
 */
export async function solveWithModel(model: HRM, task: string, text: string, options: { segments?: number; cancelled?: () => boolean } = {}): Promise<SolveResult> {
  if (!task.startsWith('sudoku-') && !task.startsWith('maze-')) throw new PuzzleError(`solve: reads Sudoku and maze puzzles; this checkpoint was trained on ${task} (evaluate it with 'hiero eval')`);
  if (text.trim() === '') throw new PuzzleError('solve: no puzzle given');
  const tooLong = lengthProblem('solve: the puzzle', text.length, INPUT_LIMITS.puzzleCharacters, 'characters');
  if (tooLong) throw new PuzzleError(tooLong);
  const puzzle = task.startsWith('sudoku-') ? sudokuToSolve(text, model.config, task) : mazeToSolve(text, model.config, task);
  const segments = options.segments ?? model.config.haltMaxSteps;
  const problem = optionProblem(SOLVE_OPTIONS.segments, segments);
  if (problem) throw new PuzzleError(`solve: segments ${problem}`);
  const inputs = tensor(Int32Array.from(puzzle.tokens), [1, puzzle.tokens.length], { dtype: 'i32' });
  const ids = model.puzzle_emb ? tensor(Int32Array.of(0), [1], { dtype: 'i32' }) : null;
  const views: SegmentView[] = [];
  try {
    // One segment at a time, each read before the next is encoded: a cancelled solve stops within one segment.
    for (const out of model.segmentsFrom(inputs, ids, segments)) {
      try {
        const { tokens, confidence } = chooseWithin(await out.logits.toArray(), model.config.vocab, puzzle.answerTokens);
        const [qHalt, qContinue, halts] = await readScalars([out.qHalt, out.qContinue, out.halt]);
        views.push({ cells: tokens.map(puzzle.value), text: puzzle.format(tokens), confidence, qHalt, qContinue, halts: halts > 0, valid: puzzle.check(tokens) });
      } finally {
        for (const t of Object.values(out)) t.dispose();
      }
      if (options.cancelled?.()) throw new AbortError(`solve: cancelled after segment ${views.length} of ${segments}`);
    }
  } finally {
    inputs.dispose();
    ids?.dispose();
  }
  const firstValid = views.findIndex((v) => v.valid);
  const haltSegment = views.findIndex((v) => v.halts);
  const shown = firstValid >= 0 ? firstValid : segments - 1;
  return {
    answer: views[shown].text, shownSegment: shown + 1, segments, firstValidSegment: firstValid >= 0 ? firstValid + 1 : null,
    haltSegment: haltSegment >= 0 ? haltSegment + 1 : null, valid: firstValid >= 0, views,
  };
}

export { IGNORE };

/**
 * The same weights on another task's grid (a larger maze): a new model with the task's sequence length, sharing the
 * trained weights by copy. Named errors where the weights cannot serve it: another vocabulary, puzzle embeddings,
 * or learned positions (they cover the trained cells only).
 */
export function resizePuzzleModel(model: HRM, task: { vocab: number; seqLen: number; puzzleIds: number }, name: string): HRM {
  const c = model.config;
  if (task.seqLen === c.seqLen && task.vocab === c.vocab) return model;
  if (task.vocab !== c.vocab) throw new PuzzleError(`task ${name} has ${task.vocab} tokens; the model was trained on ${c.vocab}`);
  if (c.puzzleEmbedding || task.puzzleIds > 1) throw new PuzzleError(`task ${name}: a model with puzzle embeddings (ARC) is evaluated on its own tasks only`);
  if (c.positions === 'learned') throw new PuzzleError(`task ${name}: the model's learned positions cover the ${c.seqLen} cells it was trained on; train with --positions rope (or --mixer plstm) to evaluate other sizes`);
  const resized = new HRM({ ...c, seqLen: task.seqLen });
  resized.loadStateDict(model.stateDict());
  return resized;
}
