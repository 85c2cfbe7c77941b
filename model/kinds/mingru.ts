// The minGRU row: the recurrent LM (model/recurrent-lm.ts) with minGRU mixers (model/glr.ts), O(1) decoding state.

import { recurrentKind } from './recurrent.ts';

export const mingruKind = recurrentKind({
  kind: 'mingru',
  title: 'minGRU',
  summary: 'minGRU: a byte LM of GRUs whose gates see only the input, trained in parallel on the scan (Feng et al. 2024)',
  mixer: 'mingru',
  convKernel: 0,
  shapes: { tiny: { layers: 2, mlpHidden: 176 }, small: { layers: 4, mlpHidden: 784 } },
});
