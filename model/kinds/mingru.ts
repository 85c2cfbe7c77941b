// The minGRU row: the recurrent LM (model/recurrent-lm.ts) with minGRU mixers (model/glr.ts), O(1) decoding state.

import { textKind } from './text.ts';
import { buildRecurrent, describeRecurrent, recurrentFlopsPerByte, recurrentPresets, validateRecurrent } from './recurrent.ts';

export const mingruKind = textKind({
  kind: 'mingru',
  title: 'minGRU',
  summary: 'minGRU: a byte LM of GRUs whose gates see only the input, trained in parallel on the scan (Feng et al. 2024)',
  presets: recurrentPresets('mingru', 0, { tiny: 176, small: 784 }),
  requests: ['generate'],
  validate: (c) => validateRecurrent(c, 'mingru'),
  build: buildRecurrent,
  describe: (c, parameters) => describeRecurrent('minGRU', c, parameters),
  flopsPerByte: recurrentFlopsPerByte,
});
