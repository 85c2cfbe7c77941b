// The HGRN2 row: the recurrent LM (model/recurrent-lm.ts) with HGRN2 mixers (model/gla-layers.ts): a K x V state per
// head, the forget gate's lower bounds learned per layer as HGRN's. Heads of 16 key channels at width 64 (fla's
// expand_ratio is 128 at width 2048; the paper's ablation finds 64-128 best there), no short convolution (fla's default).

import { recurrentKind } from './recurrent.ts';

export const hgrn2Kind = recurrentKind({
  kind: 'hgrn2',
  title: 'HGRN2',
  summary: 'HGRN2: HGRN with state expansion, a K x V matrix state per head on the chunked gated linear attention (Qin et al. 2024)',
  mixer: 'hgrn2',
  convKernel: 0,
  shapes: { tiny: { layers: 2, mlpHidden: 162, extra: { heads: 4 } }, small: { layers: 4, mlpHidden: 704, extra: { heads: 4 } } },
});
