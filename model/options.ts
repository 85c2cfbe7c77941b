// Every option a user can set, with its one range and default, read by the command line (apps/cli/args.ts builds
// its flags from these), the inference worker (apps/worker/service.ts checks requests against them) and the
// playground (its fields take their bounds from them). Tests: test/cli.test.ts, test/worker.test.ts.

import { MIXER_KINDS } from './mixer-kinds.ts';
import { GRID_MIXER_KINDS } from './grid-mixer-kinds.ts';

/**
 * An option whose value is in its range but does not fit the run it was given to (--task sudoku-4x4 for a language
 * model): the command line reports it as a usage error (exit 2), the worker as a bad request.
 */
export class OptionError extends Error {
  override name = 'OptionError';
  constructor(readonly option: string, message: string) {
    super(`--${option} ${message}`);
  }
}

export type OptionSpec =
  | { type: 'integer'; min?: number; max?: number; default?: number; help: string; value?: string }
  | { type: 'number'; min?: number; max?: number; exclusiveMin?: boolean; default?: number; help: string; value?: string }
  | { type: 'string'; default?: string; help: string; value?: string; pattern?: RegExp; accepted?: string }
  | { type: 'choice'; choices: readonly string[]; default?: string; help: string }
  | { type: 'boolean'; help: string };

export type NumericOption = Extract<OptionSpec, { type: 'integer' | 'number' }>;

export function describeRange(spec: { min?: number; max?: number; exclusiveMin?: boolean }, whole: boolean): string {
  const kind = whole ? 'a whole number' : 'a number';
  if (spec.min !== undefined && spec.max !== undefined) {
    return spec.exclusiveMin ? `${kind} > ${spec.min} and <= ${spec.max}` : `${kind} from ${spec.min} to ${spec.max}`;
  }
  if (spec.min !== undefined) return `${kind} ${spec.exclusiveMin ? '>' : '>='} ${spec.min}`;
  if (spec.max !== undefined) return `${kind} <= ${spec.max}`;
  return kind;
}

/** Whether a number is in an option's range. */
export function inRange(spec: NumericOption, n: number): boolean {
  const range = spec as { min?: number; max?: number; exclusiveMin?: boolean };
  return Number.isFinite(n) && (spec.type !== 'integer' || Number.isInteger(n)) &&
    (range.min === undefined || (range.exclusiveMin ? n > range.min : n >= range.min)) && (range.max === undefined || n <= range.max);
}

/** What is wrong with a value given for an option (in the option's own words), or null when it is fine. */
export function optionProblem(spec: OptionSpec, value: unknown): string | null {
  switch (spec.type) {
    case 'integer':
    case 'number':
      return typeof value === 'number' && inRange(spec, value) ? null : `must be ${describeRange(spec, spec.type === 'integer')}, got ${describeValue(value)}`;
    case 'choice':
      return typeof value === 'string' && spec.choices.includes(value) ? null : `must be one of ${spec.choices.join(', ')}, got ${describeValue(value)}`;
    case 'string':
      if (typeof value !== 'string') return `must be text, got ${describeValue(value)}`;
      return spec.pattern && !spec.pattern.test(value) ? `'${value}' is not one of ${spec.accepted ?? spec.pattern.source}` : null;
    case 'boolean':
      return typeof value === 'boolean' ? null : `must be true or false, got ${describeValue(value)}`;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (value === undefined) return 'nothing';
  return JSON.stringify(value) ?? String(value);
}

/**
 * The options of a training run. Which model kinds take which is their row's business (model/kinds); a default
 * that depends on the kind or preset is stated in the help and applied by the kind's session factory.
 */
export const TRAIN_OPTIONS = {
  preset: { type: 'choice', choices: ['tiny', 'small', 'paper', 'small-2stage'], help: "model size: the kind's presets (hiero models) (default tiny)" },
  steps: { type: 'integer', min: 1, max: 1e9, help: 'training steps, this run (default 100)' },
  batch: { type: 'integer', min: 1, max: 65536, help: 'puzzles (hrm/trm, default 64), text windows (language models, default 8) or streams (hiss, default 16) per step' },
  lr: { type: 'number', min: 0, exclusiveMin: true, max: 10, help: "peak learning rate (default: the preset's, see hiero models)" },
  warmup: { type: 'integer', min: 0, max: 1e9, help: 'learning-rate warm-up steps (default: none for hrm/trm, steps/20 for language models)' },
  'weight-decay': { type: 'number', min: 0, max: 10, help: 'decoupled weight decay (default: 0.1, hrm paper 1)' },
  seed: { type: 'integer', min: 0, max: 2 ** 32 - 1, default: 1, help: 'seed of the data and the initial weights' },
  'eval-every': { type: 'integer', min: 1, max: 1e9, help: 'steps between held-out evaluations and saves (default steps/4, at least 10)' },
  task: {
    type: 'string', help: 'puzzles (hrm/trm): sudoku-4x4, sudoku-6x6, sudoku-9x9, sudoku-9x9-hard, maze-N (N odd, >= 7) or arc:DIR (default sudoku-4x4); language models: mqar (multi-query associative recall, generated) or instructions (instruction-response pairs, generated; hrm-text\'s default), default: the corpus; hiss: imu or tactile (generated sensor streams, default imu)', value: 'TASK',
    pattern: /^(sudoku-(4x4|6x6|9x9)|sudoku-9x9-hard|maze-\d+|arc:.+|mqar|instructions|imu|tactile)$/, accepted: 'sudoku-4x4, sudoku-6x6, sudoku-9x9, sudoku-9x9-hard, maze-N (N odd, >= 7), arc:DIR, mqar, instructions, imu or tactile',
  },
  train: { type: 'integer', min: 1, max: 1e7, help: 'distinct training puzzles, augmented on the fly (default 500); hiss: training streams (default 256)' },
  test: { type: 'integer', min: 1, max: 1e6, help: 'held-out puzzles (default 100); hiss: held-out streams (default 64)' },
  length: { type: 'integer', min: 1, max: 1 << 20, help: 'hiss: samples per stream, a multiple of the chunk (default 256)' },
  chunk: { type: 'integer', min: 1, max: 4096, help: "hiss: samples per low-level chunk (default: the preset's, 8)" },
  low: { type: 'choice', choices: MIXER_KINDS, help: "hiss: the mixer within chunks, a row of the mixer table (default hgrn)" },
  high: { type: 'choice', choices: MIXER_KINDS, help: 'hiss: the mixer over the chunk features (default hgrn)' },
  hierarchy: { type: 'choice', choices: ['hiss', 'flat'], help: 'hiss: two levels (default), or flat: the same blocks over the raw stream (the baselines)' },
  predictions: { type: 'choice', choices: ['chunk', 'upsampled'], help: "hiss: predict at each chunk's last sample (default) or at every sample (upsampled)" },
  'max-segments': { type: 'integer', min: 1, max: 64, help: 'most ACT segments per puzzle (M_max)' },
  cycles: { type: 'integer', min: 1, max: 16, help: 'high- and low-level cycles per segment (N = T)' },
  hidden: { type: 'integer', min: 8, max: 4096, help: 'hidden size (a multiple of the heads)' },
  positions: { type: 'choice', choices: ['rope', 'learned'], help: 'position encoding' },
  loss: { type: 'choice', choices: ['softmax', 'stablemax'], help: 'token loss (default softmax)' },
  optimizer: { type: 'choice', choices: ['adamw', 'adam-atan2'], help: 'optimiser (default adamw; paper adam-atan2)' },
  ema: { type: 'number', min: 0, exclusiveMin: true, max: 0.99999, help: 'evaluate an exponential moving average of the weights with this decay (TRM: 0.999)' },
  mixer: { type: 'choice', choices: GRID_MIXER_KINDS, help: "hrm/trm: what mixes the cells in each block: attention (the paper's, default) or plstm (pLSTM in four orientations; square grids: Sudoku, mazes)" },
  encoder: { type: 'choice', choices: MIXER_KINDS, help: "H-Net: the mixer of its encoders and decoders, a row of the mixer table (hiero models --json; default: the preset's, hgrn)" },
  main: { type: 'choice', choices: MIXER_KINDS, help: "H-Net: the mixer of its main network (default: the preset's, attention)" },
  corpus: { type: 'string', help: "'english' (Brown corpus and Shakespeare, shipped), 'shakespeare' (the demo's 2.6 kB) or a text file (default english)", value: 'TEXT' },
  objective: { type: 'choice', choices: ['answer', 'all'], help: "--task instructions: score the response only (answer: P(answer | question), the default) or every byte (all: P(x))" },
  mask: { type: 'choice', choices: ['prefix', 'causal'], help: 'hrm-text: PrefixLM (the instruction seen both ways; the default) or a causal mask' },
  architecture: { type: 'choice', choices: ['hrm', 'transformer'], help: "hrm-text: the H and L modules (default), or the ablation's Transformer of matched forward FLOPs" },
  'magic-norm': { type: 'choice', choices: ['on', 'off'], help: "hrm-text: close each module with the parameter-free RMSNorm (on, the default) or not (off: the ablation's, the states unnormalised between calls)" },
  'bp-warmup': { type: 'number', min: 0, max: 1, help: 'hrm-text: the share of training over which the backprop window widens from 2 to 5 calls (default 0.2; 0: 5 calls from the first step, no warm-up)' },
  'rnn-method': { type: 'choice', choices: ['fused', 'newton', 'sequential'], help: "paragru, paralstm: how the nonlinear recurrence is solved in training (default fused: one dispatch, exact; newton: ParaRNN's 3 iterations on the scan; sequential: a dispatch per step)" },
  seq: { type: 'integer', min: 8, max: 65536, help: 'bytes per window (default: 128 tiny, 512 otherwise; mqar 64, seq/4 pairs)' },
} as const satisfies Record<string, OptionSpec>;

export type TrainOptionName = keyof typeof TRAIN_OPTIONS;

/** How a nonlinear recurrence may be solved (engine/ops/rnn.ts's methods; --rnn-method). */
export const RNN_METHOD_CHOICES = TRAIN_OPTIONS['rnn-method'].choices;

/** Options every training run takes, whatever the kind. */
export const COMMON_TRAIN_OPTIONS = ['steps', 'seed', 'eval-every', 'preset', 'batch', 'lr', 'warmup', 'weight-decay'] as const satisfies readonly TrainOptionName[];

/** How often a training run reports progress (steps), wherever it runs. */
export const PROGRESS_OPTIONS = {
  progressEvery: { type: 'integer', min: 1, max: 1e6, help: 'steps between progress reports (default 5)' },
} as const satisfies Record<string, OptionSpec>;

/** The options of running an HRM/TRM on puzzles (hiero eval/solve, the worker's solve). */
export const SOLVE_OPTIONS = {
  segments: { type: 'integer', min: 1, max: 256, help: "segments to run (default: the model's M_max; more shows test-time scaling)" },
} as const satisfies Record<string, OptionSpec>;

/** The options of generating text (hiero generate, the worker's generate, the playground's fields). */
export const GENERATE_OPTIONS = {
  bytes: { type: 'integer', min: 1, max: 1e6, default: 200, help: 'bytes to generate per prompt' },
  temperature: { type: 'number', min: 0, max: 100, default: 0.8, help: 'softmax temperature (0: the most likely byte)' },
  'top-k': { type: 'integer', min: 0, max: 256, default: 0, help: 'sample among the k most likely bytes (0: all)' },
  seed: { type: 'integer', min: 0, max: 2 ** 32 - 1, default: 1, help: 'seed of the draws' },
  chunk: { type: 'integer', min: 1, max: 4096, default: 16, help: 'bytes between read-backs (and so between streamed pieces)' },
} as const satisfies Record<string, OptionSpec>;

/**
 * The defaults of the inference worker's training run (the playground's Train): a tiny HRM on generated Sudoku, one
 * cycle and two segments as npm start trains it. The worker applies them and the playground shows them; their
 * ranges are TRAIN_OPTIONS'. The learning rate is the tiny preset's (model/kinds/puzzle.ts).
 */
export const WORKER_TRAINING = { task: 'sudoku-4x4', steps: 300, batch: 64, hidden: 32, train: 1000, test: 200, evalEvery: 25, progressEvery: 5, seed: 1, cycles: 1, maxSegments: 2 } as const;

/**
 * How long an input may be, wherever it is given (the command line, the worker, the playground): a prompt is read
 * in one pass whose attention grows with its square, a text to chunk costs a pass per 1 KiB window, and a puzzle is
 * a grid of at most a few thousand cells, and a sensor stream is read in one pass of the model. Past these a request would hold a worker for minutes on a CPU driver.
 */
export const INPUT_LIMITS = { promptBytes: 16384, chunkBytes: 65536, puzzleCharacters: 4096, sensorSamples: 65536 } as const;

/** What is wrong with an input of `length` against its limit, or null (`what`: "prompt 2", "the text", ...). */
export function lengthProblem(what: string, length: number, limit: number, unit: 'bytes' | 'characters' | 'samples'): string | null {
  return length > limit ? `${what} has ${length.toLocaleString('en')} ${unit}; at most ${limit.toLocaleString('en')} are read` : null;
}
