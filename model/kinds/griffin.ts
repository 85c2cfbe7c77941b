// The Griffin row: the recurrent LM (model/recurrent-lm.ts) of Griffin's residual blocks, two recurrent blocks
// (RG-LRU, model/griffin.ts) to one local-attention block (model/attention.ts with a window), as De et al. 2024;
// 3 layers at tiny (one of each pattern), the MLP narrower to keep the tiny Transformer's parameter count.
// Griffin's local attention is multi-query; this one has a key and value per head (said in README).

import { recurrentKind } from './recurrent.ts';

export const griffinKind = recurrentKind({
  kind: 'griffin',
  title: 'Griffin',
  summary: 'Griffin: RG-LRU recurrent blocks mixed 2 : 1 with local sliding-window attention (De et al. 2024)',
  mixer: 'rglru',
  convKernel: 4,
  shapes: {
    tiny: { layers: 3, mlpHidden: 84, extra: { heads: 4, attentionEvery: 3, window: 64 } },
    small: { layers: 6, mlpHidden: 383, extra: { heads: 4, attentionEvery: 3, window: 256 } },
  },
});
