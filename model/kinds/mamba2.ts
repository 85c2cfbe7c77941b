// The Mamba-2 row: the recurrent LM (model/recurrent-lm.ts) with SSD mixers (model/gla-layers.ts): expand 2, one
// group of B and C shared by the heads, a short convolution of 4 on x, B, C (fla's and mamba_ssm's defaults);
// heads of 16 channels and N = 16 at width 64 (the paper: 64 and 128 at its sizes), N = 64 at width 256.

import { recurrentKind } from './recurrent.ts';

export const mamba2Kind = recurrentKind({
  kind: 'mamba2',
  title: 'Mamba-2',
  summary: 'Mamba-2 SSD: a scalar decay per head from Δt and A, short convolution, gated output (Dao & Gu 2024)',
  mixer: 'mamba2',
  convKernel: 4,
  shapes: { tiny: { layers: 2, mlpHidden: 102, extra: { heads: 8, stateSize: 16 } }, small: { layers: 4, mlpHidden: 484, extra: { heads: 8, stateSize: 64 } } },
});
