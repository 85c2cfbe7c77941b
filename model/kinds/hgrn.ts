// The HGRN row: the recurrent LM (model/recurrent-lm.ts) with HGRN mixers (model/glr.ts), O(1) decoding state.

import { textKind } from './text.ts';
import { buildRecurrent, describeRecurrent, recurrentFlopsPerByte, recurrentPresets, validateRecurrent } from './recurrent.ts';

export const hgrnKind = textKind({
  kind: 'hgrn',
  title: 'HGRN',
  summary: 'HGRN: a byte LM of gated linear recurrences with per-layer forget-gate lower bounds (Qin et al. 2023)',
  presets: recurrentPresets('hgrn', 4, { tiny: 160, small: 704 }),
  requests: ['generate'],
  validate: (c) => validateRecurrent(c, 'hgrn'),
  build: buildRecurrent,
  describe: (c, parameters) => describeRecurrent('HGRN', c, parameters),
  flopsPerByte: recurrentFlopsPerByte,
});
