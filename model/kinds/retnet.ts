// The RetNet row: the recurrent LM (model/recurrent-lm.ts) with retention mixers (model/gla-layers.ts): fla's
// MultiScaleRetention (expand_k 1, expand_v 2, RoPE, fixed decays 1 − 2^(−5−h)), 4 heads at these widths.

import { recurrentKind } from './recurrent.ts';

export const retnetKind = recurrentKind({
  kind: 'retnet',
  title: 'RetNet',
  summary: 'RetNet: retention, linear attention with a fixed multi-scale decay per head and RoPE (Sun et al. 2023)',
  mixer: 'retnet',
  convKernel: 0,
  shapes: { tiny: { layers: 2, mlpHidden: 76, extra: { heads: 4 } }, small: { layers: 4, mlpHidden: 363, extra: { heads: 4 } } },
});
