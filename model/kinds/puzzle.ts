// What the puzzle models' rows (hrm, trm) share: a training run on generated puzzles (model/hrm-session.ts) from
// the options, config checks and the description. The rows differ in the variant: TRM runs one network for both
// updates on its own recursion schedule.

import { HRM, describeHRM, type HRMConfig } from '../hrm.ts';
import { createSession, type Preset } from '../hrm-session.ts';
import type { TrainOptionName } from '../options.ts';
import type { TrainingRun } from '../training.ts';
import type { ModelSpec, PresetInfo, TrainValues } from './types.ts';
import { checkFields, flag, oneOf, positiveNumber, wholeNumber } from './validate.ts';
import { ConfigError } from '../../engine/index.ts';
import { GRID_MIXER_KINDS, type GridMixerKind } from '../grid-mixers.ts';

export const PUZZLE_OPTIONS = ['task', 'train', 'test', 'max-segments', 'cycles', 'hidden', 'positions', 'loss', 'optimizer', 'ema', 'mixer'] as const satisfies readonly TrainOptionName[];

export function validateHRMConfig(c: unknown, variant: 'hrm' | 'trm'): HRMConfig {
  const title = variant.toUpperCase();
  const checked = checkFields<HRMConfig>(title, c, {
    variant: oneOf(variant), vocab: wholeNumber(2, 1 << 16), seqLen: wholeNumber(1, 1 << 16), puzzleIds: wholeNumber(1, 1 << 24), puzzleEmbedding: flag,
    hidden: wholeNumber(2, 8192), heads: wholeNumber(1, 256), expansion: positiveNumber, ffnMultiple: wholeNumber(1, 4096),
    hLayers: wholeNumber(0, 64), lLayers: wholeNumber(1, 64), hCycles: wholeNumber(1, 64), lCycles: wholeNumber(1, 64),
    positions: oneOf('rope', 'learned'), ropeBase: positiveNumber, normEps: positiveNumber, haltMaxSteps: wholeNumber(1, 256),
    haltExploration: (v) => (typeof v === 'number' && v >= 0 && v <= 1 ? null : `must be a number from 0 to 1, got ${JSON.stringify(v)}`),
  });
  if (checked.puzzleEmbeddingWidth !== undefined) checkFields(title, c, { puzzleEmbeddingWidth: wholeNumber(1, 1 << 16) });
  checkFields(title, c, { hidden: (h) => ((h as number) % checked.heads === 0 ? null : `size ${h} is not divisible by its ${checked.heads} attention heads`) });
  if (checked.mixer !== undefined) {
    checkFields(title, c, { mixer: oneOf(...GRID_MIXER_KINDS) });
    if (checked.mixer === 'plstm') {
      if (!Number.isInteger(Math.sqrt(checked.seqLen))) throw new ConfigError(`${title} config: mixer plstm mixes a square grid; ${checked.seqLen} cells are not one`);
      if (checked.puzzleEmbedding) throw new ConfigError(`${title} config: mixer plstm mixes the grid's cells; a puzzle-embedding prefix (ARC) lies outside the grid, so use attention`);
    }
  }
  return checked;
}

/**
 * The presets (sizes in model/hrm-session.ts, presetConfig) and the peak learning rates they learn at, from measured
 * runs: tiny 1e-2 (4×4 Sudoku on SwiftShader, README); small 1e-3 (6×6 on an H100, issue 13: at 1e-2 it did not
 * learn, 32 % held-out cells after 2,000 steps of 128; at 3e-3 44 %; at 1e-3 79 % cells, then 83 % exact by 14,000
 * steps); paper 1e-4 (the paper's).
 */
const PUZZLE_PRESETS: Record<Preset, PresetInfo> = {
  tiny: { lr: 1e-2, summary: 'hidden 32, 2 heads, 2 segments: learns 4x4 Sudoku on a CPU driver' },
  small: { lr: 1e-3, summary: 'hidden 128, 4 heads, 8 segments: 6x6 Sudoku and mazes on a GPU' },
  paper: { lr: 1e-4, summary: "the paper's 27M-parameter configuration" },
};

export function puzzleKind(variant: 'hrm' | 'trm', title: string, summary: string): ModelSpec<HRMConfig, HRM> {
  return {
    kind: variant,
    title,
    summary,
    family: 'puzzle',
    presets: PUZZLE_PRESETS,
    defaultPreset: 'tiny',
    trainOptions: PUZZLE_OPTIONS,
    requests: ['solve'],
    validate: (c) => validateHRMConfig(c, variant),
    build: (c) => new HRM(validateHRMConfig(c, variant)),
    describe: describeHRM,
    servedInfo: (c, metadata) => ({ task: metadata.task, segments: c.haltMaxSteps }),
    runLabel: (values) => (values.task as string | undefined) ?? 'sudoku-4x4',
    async createRun({ values: v }: TrainValues): Promise<TrainingRun> {
      const number = (name: TrainOptionName) => v[name] as number | undefined;
      const preset = ((v.preset as string | undefined) ?? 'tiny') as Preset;
      return createSession({
        variant, task: (v.task as string | undefined) ?? 'sudoku-4x4', preset, seed: number('seed') ?? 1,
        train: number('train') ?? 500, test: number('test') ?? 100, batch: number('batch') ?? 64,
        lr: number('lr') ?? PUZZLE_PRESETS[preset].lr, warmup: number('warmup'), weightDecay: number('weight-decay'),
        loss: (v.loss as 'softmax' | 'stablemax' | undefined) ?? 'softmax', optimizer: v.optimizer as 'adamw' | 'adam-atan2' | undefined, ema: number('ema'),
        maxSegments: number('max-segments'), cycles: number('cycles'), hidden: number('hidden'), positions: v.positions as 'rope' | 'learned' | undefined,
        mixer: v.mixer as GridMixerKind | undefined,
      });
    },
  };
}
