// What the recurrent LM's rows (hgrn, mingru) share: config checks, sizes and FLOPs of model/recurrent-lm.ts.

import { RecurrentLM, type RecurrentConfig, type RecurrentMixer } from '../recurrent-lm.ts';
import type { PresetInfo } from './types.ts';
import { checkFields, oneOf, positiveNumber, wholeNumber } from './validate.ts';

/** The config of a recurrent LM whose mixer is `mixer` (the row's own: an hgrn checkpoint holds an HGRN). */
export function validateRecurrent(c: unknown, mixer: RecurrentMixer): RecurrentConfig {
  return checkFields<RecurrentConfig>(`${mixer} LM`, c, {
    vocab: wholeNumber(256, 256), dim: wholeNumber(2, 8192), layers: wholeNumber(1, 256), mixer: oneOf(mixer),
    convKernel: wholeNumber(0, 16), mlpHidden: wholeNumber(0, 65536), normEps: positiveNumber,
  });
}

/** Mixer parameters per layer: HGRN 4 D² (input and forget gates, output gate, output), minGRU 3 D². */
const mixerWeights = (c: RecurrentConfig) => (c.mixer === 'hgrn' ? 4 : 3) * c.dim * c.dim;

export function recurrentFlopsPerByte(c: RecurrentConfig): number {
  return 6 * (c.layers * (mixerWeights(c) + 3 * c.dim * c.mlpHidden) + c.dim * 256);
}

export function describeRecurrent(title: string, c: RecurrentConfig, parameters: number): string {
  return `${title} LM, ${c.layers} layers of width ${c.dim}${c.convKernel > 0 ? `, short convolution ${c.convKernel}` : ''}${c.mlpHidden > 0 ? `, SwiGLU ${c.mlpHidden}` : ''}, ${parameters.toLocaleString('en')} parameters`;
}

/**
 * tiny's 3e-3 is measured on SwiftShader (README, "Gated linear recurrences": it learns to 2.843 / 2.952 bits/byte in
 * 300 steps); small's 1e-3 is the Transformer's small default, not yet run (no GPU was lent).
 * Presets at the parameter count of the Transformer preset of the same name (its attention's 4 D² per layer
 * against the mixer's; minGRU's smaller mixer buys a wider MLP), so the kinds compare at equal size.
 */
export function recurrentPresets(mixer: RecurrentMixer, convKernel: number, mlp: { tiny: number; small: number }): Record<'tiny' | 'small', PresetInfo & { config: RecurrentConfig }> {
  const config = (dim: number, layers: number, mlpHidden: number): RecurrentConfig => ({ vocab: 256, dim, layers, mixer, convKernel, mlpHidden, normEps: 1e-5 });
  return {
    tiny: { config: config(64, 2, mlp.tiny), lr: 3e-3, summary: 'width 64, 2 layers (the tiny Transformer\'s size)' },
    small: { config: config(256, 4, mlp.small), lr: 1e-3, summary: 'width 256, 4 layers, for a GPU' },
  };
}

export const buildRecurrent = (c: RecurrentConfig) => new RecurrentLM(c);
