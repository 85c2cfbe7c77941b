// The byte-Transformer row (model/transformer.ts): the baseline the other language models are compared with.

import { TransformerLM, type TransformerConfig } from '../transformer.ts';
import { textKind } from './text.ts';
import { checkFields, positiveNumber, wholeNumber } from './validate.ts';

const config = (dim: number, layers: number, mlpHidden: number, maxSeq: number): TransformerConfig => ({ vocab: 256, dim, layers, heads: 4, mlpHidden, maxSeq, ropeBase: 10000, normEps: 1e-5 });

/**
 * Each sized to about the training FLOPs per byte of the H-Net preset of the same name, so that bits per byte
 * compare at equal compute.
 */
export const TRANSFORMER_PRESETS = { tiny: config(64, 2, 160, 128), small: config(256, 4, 704, 512), 'small-2stage': config(256, 4, 704, 512) };

export const transformerKind = textKind<TransformerConfig, TransformerLM>({
  kind: 'transformer',
  title: 'byte Transformer',
  summary: 'byte-level causal Transformer (RoPE, SwiGLU, pre-norm): the baseline, sized to the H-Net preset of its name',
  // tiny's 3e-3 is measured on SwiftShader (README, "H-Net"); small's 1e-3 is not yet run on a GPU.
  presets: {
    tiny: { config: TRANSFORMER_PRESETS.tiny, lr: 3e-3, summary: 'width 64, 2 layers (127k parameters)' },
    small: { config: TRANSFORMER_PRESETS.small, lr: 1e-3, summary: 'width 256, 4 layers, for a GPU' },
    'small-2stage': { config: TRANSFORMER_PRESETS['small-2stage'], lr: 1e-3, summary: 'as small (the baseline of the two-stage H-Net)' },
  },
  requests: ['generate'],
  validate: (c) => {
    const checked = checkFields<TransformerConfig>('Transformer', c, {
      vocab: wholeNumber(256, 256), dim: wholeNumber(2, 8192), layers: wholeNumber(1, 256), heads: wholeNumber(1, 256), mlpHidden: wholeNumber(1, 65536),
      maxSeq: wholeNumber(1, 1 << 20), ropeBase: positiveNumber, normEps: positiveNumber,
    });
    checkFields('Transformer', c, { heads: (h) => (checked.dim % (h as number) === 0 && checked.dim / (h as number) <= 128 ? null : `must divide dim ${checked.dim} into heads of at most 128 channels`) });
    return checked;
  },
  build: (c) => new TransformerLM(c),
  describe: (c, parameters) => `byte Transformer, ${c.layers} layers of width ${c.dim}, ${c.heads} heads, ${parameters.toLocaleString('en')} parameters`,
  flopsPerByte: (c) => 6 * (c.layers * (4 * c.dim * c.dim + 3 * c.dim * c.mlpHidden) + c.dim * 256),
  forWindows: (c, seq) => ({ ...c, maxSeq: seq }),
});
