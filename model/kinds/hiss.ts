// The HiSS row: hierarchical (or flat) sequence-to-sequence models on sensor streams (model/hiss.ts), trained with
// an MSE loss on generated IMU and tactile streams (model/data/sensors.ts, model/sensor-session.ts), serving predict.

import { ConfigError, manualSeed } from '../../engine/index.ts';
import { isSensorTask, SENSOR_TASK_INFO, SENSOR_TASKS, type SensorTask } from '../data/sensors.ts';
import { HiSS, hissMixerOptions, type HiSSConfig } from '../hiss.ts';
import { MIXER_KINDS, MIXERS, type MixerKind } from '../mixers.ts';
import { OptionError, type TrainOptionName } from '../options.ts';
import { SensorSession } from '../sensor-session.ts';
import type { TrainingRun } from '../training.ts';
import type { ModelSpec, PresetInfo, TrainValues } from './types.ts';
import { checkFields, oneOf, positiveNumber, wholeNumber } from './validate.ts';

export const SENSOR_OPTIONS = ['task', 'train', 'test', 'length', 'chunk', 'low', 'high', 'hierarchy', 'predictions'] as const satisfies readonly TrainOptionName[];

export function validateHiSS(c: unknown): HiSSConfig {
  const config = checkFields<HiSSConfig>('HiSS', c, {
    channelsIn: wholeNumber(1, 4096), channelsOut: wholeNumber(1, 4096), dim: wholeNumber(2, 8192), chunk: wholeNumber(1, 4096),
    lowMixer: oneOf(...MIXER_KINDS), lowLayers: wholeNumber(0, 64), highMixer: oneOf(...MIXER_KINDS), highLayers: wholeNumber(0, 64),
    hierarchy: oneOf('hiss', 'flat'), output: oneOf('chunk', 'upsampled'), mlpHidden: wholeNumber(0, 65536), heads: wholeNumber(1, 256),
    conv: wholeNumber(0, 16), normEps: positiveNumber,
  });
  const options = hissMixerOptions(config);
  for (const [level, kind] of [['low', config.lowMixer], ['high', config.highMixer]] as const) {
    const problem = MIXERS[kind].check(config.dim, options);
    if (problem) throw new ConfigError(`HiSS config: the ${level} mixer (${kind}): ${problem}`);
  }
  if (config.lowLayers + config.highLayers === 0) throw new ConfigError('HiSS config: lowLayers and highLayers are both 0 (no mixer at all)');
  return config;
}

/** Weights multiplied per sample (the high level's once per chunk), for comparing models at equal compute. */
export function hissFlopsPerSample(c: HiSSConfig): number {
  const o = hissMixerOptions(c);
  const block = (kind: MixerKind) => MIXERS[kind].weights(c.dim, o) + 3 * c.dim * c.mlpHidden;
  const highPerSample = c.hierarchy === 'flat' ? 1 : 1 / c.chunk;
  return 6 * (c.channelsIn * c.dim + c.lowLayers * block(c.lowMixer) + highPerSample * c.highLayers * block(c.highMixer) + c.dim * c.channelsOut * (c.output === 'upsampled' ? 1 : 1 / c.chunk));
}

export function describeHiSS(c: HiSSConfig, parameters: number): string {
  const levels = c.hierarchy === 'flat'
    ? `flat: ${c.lowLayers} ${c.lowMixer} + ${c.highLayers} ${c.highMixer} blocks over the raw stream`
    : `HiSS: ${c.lowLayers} ${c.lowMixer} blocks within chunks of ${c.chunk}, ${c.highLayers} ${c.highMixer} blocks over the chunks`;
  return `${levels}, width ${c.dim}${c.mlpHidden ? `, SwiGLU ${c.mlpHidden}` : ''}, ${c.channelsIn} channels in, ${c.channelsOut} out, predictions ${c.output === 'chunk' ? `every ${c.chunk} samples` : 'at every sample'}; ` +
    `${parameters.toLocaleString('en')} parameters, ~${(hissFlopsPerSample(c) / 1e6).toFixed(3)} MFLOP per sample trained`;
}

const preset = (dim: number, layers: number, mlpHidden: number, heads: number): HiSSConfig => ({
  channelsIn: 6, channelsOut: 3, dim, chunk: 8, lowMixer: 'hgrn', lowLayers: layers, highMixer: 'hgrn', highLayers: layers,
  hierarchy: 'hiss', output: 'chunk', mlpHidden, heads, conv: 4, normEps: 1e-5,
});

/** tiny's 3e-3 is the rate the README's sensor table trained every row at (SwiftShader); small's is not yet run. */
export const HISS_PRESETS: Record<'tiny' | 'small', PresetInfo & { config: HiSSConfig }> = {
  tiny: { config: preset(32, 1, 64, 2), lr: 3e-3, summary: 'width 32, one block per level: trains on a CPU driver' },
  small: { config: preset(128, 2, 256, 4), lr: 1e-3, summary: 'width 128, two blocks per level, for a GPU' },
};

const build = (c: HiSSConfig) => new HiSS(validateHiSS(c));

export const hissKind: ModelSpec<HiSSConfig, HiSS> = {
  kind: 'hiss',
  title: 'HiSS',
  summary: 'HiSS: hierarchical state-space models on sensor streams, a low mixer within chunks and a high one over them (Bhirangi et al. 2024); --hierarchy flat for the flat baselines',
  family: 'sensor',
  presets: HISS_PRESETS,
  defaultPreset: 'tiny',
  trainOptions: SENSOR_OPTIONS,
  requests: ['predict'],
  validate: validateHiSS,
  build,
  describe: describeHiSS,
  servedInfo: (c, metadata) => ({ task: metadata.task, chunk: c.chunk }),
  runLabel: (values) => (values.task as string | undefined) ?? 'imu',
  async createRun({ values }: TrainValues): Promise<TrainingRun> {
    const task = (values.task as string | undefined) ?? 'imu';
    if (!isSensorTask(task)) throw new OptionError('task', `${task}: hiss trains on sensor streams, ${SENSOR_TASKS.join(' or ')}`);
    const presetName = (values.preset as 'tiny' | 'small' | undefined) ?? 'tiny';
    const info = SENSOR_TASK_INFO[task as SensorTask];
    const base = HISS_PRESETS[presetName].config;
    const config = validateHiSS({
      ...base, channelsIn: info.channelsIn, channelsOut: info.channelsOut,
      chunk: (values.chunk as number | undefined) ?? base.chunk,
      lowMixer: (values.low as MixerKind | undefined) ?? base.lowMixer, highMixer: (values.high as MixerKind | undefined) ?? base.highMixer,
      hierarchy: (values.hierarchy as HiSSConfig['hierarchy'] | undefined) ?? base.hierarchy, output: (values.predictions as HiSSConfig['output'] | undefined) ?? base.output,
    });
    const length = (values.length as number | undefined) ?? 256;
    if (length < config.chunk) throw new OptionError('length', `${length} is shorter than one chunk (--chunk ${config.chunk})`);
    if (length % config.chunk !== 0) throw new OptionError('length', `${length} is not a whole number of chunks of ${config.chunk}`);
    const steps = (values.steps as number | undefined) ?? 100;
    const seed = (values.seed as number | undefined) ?? 1;
    manualSeed(seed);
    return SensorSession.create(hissKind, {
      model: 'hiss', preset: presetName, config, task: task as SensorTask, train: (values.train as number | undefined) ?? 256, test: (values.test as number | undefined) ?? 64,
      length, batch: (values.batch as number | undefined) ?? 16, lr: (values.lr as number | undefined) ?? HISS_PRESETS[presetName].lr,
      warmup: (values.warmup as number | undefined) ?? Math.max(1, Math.floor(steps / 20)), totalSteps: steps,
      weightDecay: (values['weight-decay'] as number | undefined) ?? 0.1, seed,
    });
  },
};
