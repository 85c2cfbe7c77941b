// The HGRN row: the recurrent LM (model/recurrent-lm.ts) with HGRN mixers (model/glr.ts), O(1) decoding state.

import { recurrentKind } from './recurrent.ts';

export const hgrnKind = recurrentKind({
  kind: 'hgrn',
  title: 'HGRN',
  summary: 'HGRN: a byte LM of gated linear recurrences with per-layer forget-gate lower bounds (Qin et al. 2023)',
  mixer: 'hgrn',
  convKernel: 4,
  shapes: { tiny: { layers: 2, mlpHidden: 160 }, small: { layers: 4, mlpHidden: 704 } },
});
