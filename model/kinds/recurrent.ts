// What the recurrent LM's rows (hgrn, mingru, hgrn2, gla, retnet, mamba2, gateloop, griffin) share: config checks,
// presets, sizes and FLOPs of model/recurrent-lm.ts, and the row itself from a few lines per kind.

import { ConfigError } from '../../engine/index.ts';
import { MIXERS } from '../mixers.ts';
import { blockMixer, RecurrentLM, recurrentMixerOptions, type RecurrentConfig, type RecurrentMixer } from '../recurrent-lm.ts';
import { textKind } from './text.ts';
import type { PresetInfo, TrainValues } from './types.ts';
import type { TrainOptionName } from '../options.ts';
import { checkFields, oneOf, positiveNumber, wholeNumber } from './validate.ts';
import { RNN_METHOD_CHOICES } from '../options.ts';

const OPTIONAL_FIELDS = {
  heads: wholeNumber(1, 1024), stateSize: wholeNumber(1, 128), attentionEvery: wholeNumber(0, 256), window: wholeNumber(1, 65536),
  rnnMethod: oneOf(...RNN_METHOD_CHOICES),
} as const;

/** The config of a recurrent LM whose mixer is `mixer` (the row's own: an hgrn checkpoint holds an HGRN). */
export function validateRecurrent(c: unknown, mixer: RecurrentMixer, title: string = mixer): RecurrentConfig {
  const config = checkFields<RecurrentConfig>(`${title} LM`, c, {
    vocab: wholeNumber(256, 256), dim: wholeNumber(2, 8192), layers: wholeNumber(1, 256), mixer: oneOf(mixer),
    convKernel: wholeNumber(0, 16), mlpHidden: wholeNumber(0, 65536), normEps: positiveNumber,
  });
  for (const [field, check] of Object.entries(OPTIONAL_FIELDS)) {
    const value = (config as unknown as Record<string, unknown>)[field];
    const problem = value === undefined ? null : check(value);
    if (problem) throw new ConfigError(`${title} LM config: ${field} ${problem}`);
  }
  const options = recurrentMixerOptions(config);
  for (let layer = 0; layer < config.layers; layer++) {
    const kind = blockMixer(config, layer);
    const problem = MIXERS[kind].check(config.dim, options);
    if (problem) throw new ConfigError(`${title} LM config: block ${layer} (${kind}): ${problem}`);
  }
  return config;
}

/** Weights multiplied per byte: every block's mixer and MLP, and the head. */
function weightsPerByte(c: RecurrentConfig): number {
  const options = recurrentMixerOptions(c);
  let total = c.dim * 256;
  for (let layer = 0; layer < c.layers; layer++) total += MIXERS[blockMixer(c, layer)].weights(c.dim, options) + 3 * c.dim * c.mlpHidden;
  return total;
}

/**
 * Training FLOPs per byte: 6 × the weights, plus the recurrence itself (a matrix state's update and read cost about
 * 4 FLOPs per state entry forward, three times that with the backward; a vector state's are in the noise).
 */
export function recurrentFlopsPerByte(c: RecurrentConfig): number {
  const options = recurrentMixerOptions(c);
  let state = 0;
  for (let layer = 0; layer < c.layers; layer++) {
    const kind = blockMixer(c, layer);
    if (MIXERS[kind].constantState) state += MIXERS[kind].stateFloats(c.dim, options, 0);
  }
  return 6 * weightsPerByte(c) + 12 * state;
}

/** Floats of decoding state per row after `length` bytes, over all layers. */
export function recurrentStateFloats(c: RecurrentConfig, length: number): number {
  const options = recurrentMixerOptions(c);
  let floats = 0;
  for (let layer = 0; layer < c.layers; layer++) floats += MIXERS[blockMixer(c, layer)].stateFloats(c.dim, options, length);
  return floats;
}

export function describeRecurrent(title: string, c: RecurrentConfig, parameters: number): string {
  const heads = c.heads && c.heads > 1 ? `, ${c.heads} heads` : '';
  const local = c.attentionEvery ? `, local attention (window ${c.window ?? 64}) every ${c.attentionEvery} blocks` : '';
  return `${title} LM, ${c.layers} layers of width ${c.dim}${heads}${local}${c.convKernel > 0 ? `, short convolution ${c.convKernel}` : ''}${c.mlpHidden > 0 ? `, SwiGLU ${c.mlpHidden}` : ''}, ` +
    `${recurrentStateFloats(c, 0).toLocaleString('en')} floats of recurrent state per row, ${parameters.toLocaleString('en')} parameters`;
}

/** A preset's shape beyond the mixer: its layers, MLP width and the mixer's own fields. */
export interface RecurrentShape {
  layers: number;
  mlpHidden: number;
  extra?: Partial<RecurrentConfig>;
}

/**
 * tiny's 3e-3 is measured on SwiftShader (README, "Gated linear recurrences" and "State expansion": every recurrent
 * kind learns at it in 300 steps); small's 1e-3 is the Transformer's small default, not yet run (no GPU was lent).
 * Presets at the parameter count of the Transformer preset of the same name: each kind's MLP width takes up what its
 * mixer leaves (test/kinds.test.ts holds them within 3 % of each other), so the kinds compare at equal size.
 */
export function recurrentPresets(mixer: RecurrentMixer, convKernel: number, shapes: { tiny: RecurrentShape; small: RecurrentShape }): Record<'tiny' | 'small', PresetInfo & { config: RecurrentConfig }> {
  const config = (dim: number, s: RecurrentShape): RecurrentConfig => ({ vocab: 256, dim, layers: s.layers, mixer, convKernel, mlpHidden: s.mlpHidden, normEps: 1e-5, ...s.extra });
  return {
    tiny: { config: config(64, shapes.tiny), lr: 3e-3, summary: 'width 64, the tiny Transformer\'s size' },
    small: { config: config(256, shapes.small), lr: 1e-3, summary: 'width 256, for a GPU' },
  };
}

export const buildRecurrent = (c: RecurrentConfig) => new RecurrentLM(c);

export interface RecurrentKindDefinition {
  kind: string;
  title: string;
  summary: string;
  mixer: RecurrentMixer;
  convKernel: number;
  shapes: { tiny: RecurrentShape; small: RecurrentShape };
  /** Training options beyond the text ones, and how they change the preset's config. */
  options?: readonly TrainOptionName[];
  configure?(config: RecurrentConfig, values: TrainValues['values']): RecurrentConfig;
}

/** A recurrent kind's row: the recurrent LM with one mixer, trained on text, serving generate. */
export function recurrentKind(d: RecurrentKindDefinition) {
  return textKind({
    kind: d.kind,
    title: d.title,
    summary: d.summary,
    presets: recurrentPresets(d.mixer, d.convKernel, d.shapes),
    requests: ['generate'],
    validate: (c) => validateRecurrent(c, d.mixer, d.kind),
    build: buildRecurrent,
    describe: (c, parameters) => describeRecurrent(d.title, c, parameters),
    flopsPerByte: recurrentFlopsPerByte,
    ...(d.options ? { options: d.options } : {}),
    ...(d.configure ? { configure: d.configure } : {}),
  });
}
