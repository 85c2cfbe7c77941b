// What a model kind is (one row of the table in model/kinds/index.ts): everything the registry, `hiero train|eval|
// generate|chunks|solve|export|models`, the inference worker and the playground need to know about it. A field left
// out of a row is a compile error; nothing outside a kind's file branches on its name.

import type { Module } from '../../engine/index.ts';
import type { TrainOptionName } from '../options.ts';
import type { TrainingRun } from '../training.ts';

/** Puzzle models (HRM/TRM: grids in, grids out, deep supervision), byte language models, or sensor-stream models (HiSS). */
export type ModelFamily = 'puzzle' | 'text' | 'sensor';

/** What the inference worker serves for a kind: solve (puzzles), generate (text), chunks (H-Net's boundaries), predict (sensor streams). */
export type ServedRequest = 'solve' | 'generate' | 'chunks' | 'predict';

export interface ServedInfo {
  /** Puzzle models: the puzzles it solves (sudoku-4x4, maze-9, ...) and the segments it runs by default (M_max). */
  task?: string;
  segments?: number;
  /** H-Net: chunking stages. */
  stages?: number;
  /** HiSS: samples per low-level chunk (a stream must have at least this many). */
  chunk?: number;
}

export interface PresetInfo {
  /** The peak learning rate this preset learns at (measured; see the kind's file). */
  lr: number;
  /** One line: its size and what it is for. */
  summary: string;
}

/** A training run's options as parsed and range-checked (model/options.ts), with which were given explicitly. */
export interface TrainValues {
  values: Partial<Record<TrainOptionName, string | number>>;
  given: ReadonlySet<string>;
}

export interface ModelSpec<Config = unknown, M extends Module = Module> {
  /** Its name in the table, the command line and the weights' metadata. */
  readonly kind: string;
  /** How people name it ('H-Net', 'byte Transformer'). */
  readonly title: string;
  /** One line for `hiero models` and `hiero train --help`. */
  readonly summary: string;
  readonly family: ModelFamily;
  readonly presets: Readonly<Record<string, PresetInfo>>;
  readonly defaultPreset: string;
  /** The training options this kind takes besides those every kind takes (COMMON_TRAIN_OPTIONS). */
  readonly trainOptions: readonly TrainOptionName[];
  /** What the inference worker serves for it. */
  readonly requests: readonly ServedRequest[];
  /**
   * A config from a preset, a checkpoint or a caller, checked: a field that cannot work is a named error
   * (ConfigError) before any tensor is made. Returns it normalised (older checkpoints' spellings updated).
   */
  validate(config: unknown): Config;
  build(config: Config): M;
  /** One line: the architecture and its sizes. */
  describe(config: Config, parameters: number): string;
  /** What the worker tells about a loaded model of this kind besides its description (a solver's task and segments). */
  servedInfo(config: Config, metadata: Record<string, string>): ServedInfo;
  /** What a run is called in its default checkpoint directory, checkpoints/<kind>-<label> (its task or corpus). */
  runLabel(values: TrainValues['values']): string;
  /** A new training run (validated options; the kind's defaults applied). */
  createRun(options: TrainValues): Promise<TrainingRun>;
}
