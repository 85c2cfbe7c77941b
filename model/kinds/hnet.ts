// The H-Net row (model/hnet.ts): dynamic chunking over bytes, trained on English text.

import { HNET_PRESETS, HNetLM, mixerOf, stackOptions, validateHNetConfig, withMixer, type HNetConfig } from '../hnet.ts';
import { MIXERS, type MixerKind } from '../mixers.ts';
import { textKind } from './text.ts';

/**
 * Estimated training FLOPs per byte (6 per parameter a byte passes through, the matmuls dominating): a stage's
 * parameters see one in (bytes per chunk so far) bytes.
 */
export function hnetFlopsPerByte(c: HNetConfig): number {
  const stack = (s: HNetConfig['main'], w: number) => s.layers * (MIXERS[mixerOf(s)].weights(w, stackOptions(s, c.ropeBase, c.normEps)) + (s.mlp > 0 ? 3 * w * s.mlp : 0));
  let perByte = c.widths[0] * 256;
  let rate = 1;
  for (let i = 0; i < c.widths.length - 1; i++) {
    const w = c.widths[i];
    perByte += rate * (stack(c.encoders[i], w) + stack(c.decoders[i], w) + 3 * w * w);
    rate /= c.ratios[i];
  }
  perByte += rate * stack(c.main, c.widths[c.widths.length - 1]);
  return 6 * perByte;
}

export const hnetKind = textKind<HNetConfig, HNetLM>({
  kind: 'hnet',
  title: 'H-Net',
  summary: 'H-Net: a byte LM whose routing module learns where chunks end (dynamic chunking, Hwang et al. 2025)',
  // Learning rates: tiny 3e-3 measured on SwiftShader (README, "H-Net"); small 1e-3 not yet run on a GPU.
  presets: {
    tiny: { config: HNET_PRESETS.tiny, lr: 3e-3, summary: 'widths 64/96, HGRN encoder and decoder, 2 attention layers inside (300k parameters)' },
    small: { config: HNET_PRESETS.small, lr: 1e-3, summary: 'widths 256/384, for a GPU' },
    'small-2stage': { config: HNET_PRESETS['small-2stage'], lr: 1e-3, summary: 'two chunking stages, widths 192/256/384, for a GPU' },
  },
  requests: ['generate', 'chunks'],
  options: ['encoder', 'main'],
  // --encoder sets every encoder's and decoder's mixer, --main the main network's (any row of the mixer table).
  configure: (config, values) => ({
    ...config,
    encoders: values.encoder ? config.encoders.map((s, i) => withMixer(s, values.encoder as MixerKind, config.widths[i])) : config.encoders,
    decoders: values.encoder ? config.decoders.map((s, i) => withMixer(s, values.encoder as MixerKind, config.widths[i])) : config.decoders,
    main: values.main ? withMixer(config.main, values.main as MixerKind, config.widths[config.widths.length - 1]) : config.main,
  }),
  validate: (config) => validateHNetConfig(config as HNetConfig),
  build: (config) => new HNetLM(config),
  describe: (c, parameters) => `H-Net, ${c.widths.length - 1} chunking stage(s), widths ${c.widths.join('/')}, ` +
    `encoders ${c.encoders.map(mixerOf).join('/')}, main network ${mixerOf(c.main)}, target bytes per chunk ${c.ratios.join(', ')}, ${parameters.toLocaleString('en')} parameters`,
  flopsPerByte: hnetFlopsPerByte,
  servedInfo: (c) => ({ stages: c.widths.length - 1 }),
});
