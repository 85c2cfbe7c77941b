// The ParaGRU row: the recurrent LM (model/recurrent-lm.ts) with ParaRNN's diagonal GRU mixers (model/para-rnn.ts),
// a nonlinear recurrence solved fused, by Newton on the scan (--rnn-method newton) or step by step.

import type { RnnMethod } from '../../engine/index.ts';
import { recurrentKind } from './recurrent.ts';

export const paragruKind = recurrentKind({
  kind: 'paragru',
  title: 'ParaGRU',
  summary: "ParaGRU: a byte LM of ParaRNN's diagonal GRU (nonlinear), trained fused or by Newton's method on the scan (ParaRNN, Apple 2025)",
  mixer: 'paragru',
  convKernel: 0,
  shapes: { tiny: { layers: 2, mlpHidden: 139 }, small: { layers: 4, mlpHidden: 616 } },
  options: ['rnn-method'],
  configure: (config, values) => (values['rnn-method'] === undefined ? config : { ...config, rnnMethod: values['rnn-method'] as RnnMethod }),
});
