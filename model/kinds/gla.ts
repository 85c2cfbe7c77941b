// The GLA row: the recurrent LM (model/recurrent-lm.ts) with gated linear attention mixers (model/gla-layers.ts):
// fla's defaults (4 heads, expand_k ½, expand_v 1, a rank-16 gate with normaliser 16), no short convolution.

import { recurrentKind } from './recurrent.ts';

export const glaKind = recurrentKind({
  kind: 'gla',
  title: 'GLA',
  summary: 'GLA: gated linear attention, a data-dependent forget gate per key channel and a K x V state per head (Yang et al. 2024)',
  mixer: 'gla',
  convKernel: 0,
  shapes: { tiny: { layers: 2, mlpHidden: 152, extra: { heads: 4 } }, small: { layers: 4, mlpHidden: 696, extra: { heads: 4 } } },
});
