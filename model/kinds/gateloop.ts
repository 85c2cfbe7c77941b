// The GateLoop row: the recurrent LM (model/recurrent-lm.ts) with GateLoop mixers (model/gla-layers.ts), the
// real-valued form of data-controlled transitions, 4 heads.

import { recurrentKind } from './recurrent.ts';

export const gateloopKind = recurrentKind({
  kind: 'gateloop',
  title: 'GateLoop',
  summary: 'GateLoop: a linear recurrence whose transitions the input controls, per key channel, real-valued (Katsch 2023)',
  mixer: 'gateloop',
  convKernel: 0,
  shapes: { tiny: { layers: 2, mlpHidden: 120, extra: { heads: 4 } }, small: { layers: 4, mlpHidden: 533, extra: { heads: 4 } } },
});
