// The ParaLSTM row: the recurrent LM (model/recurrent-lm.ts) with ParaRNN's diagonal LSTM-CIFG mixers (model/para-rnn.ts),
// a nonlinear recurrence solved fused, by Newton on a 2 x 2 scan (--rnn-method newton) or step by step.

import type { RnnMethod } from '../../engine/index.ts';
import { recurrentKind } from './recurrent.ts';

export const paralstmKind = recurrentKind({
  kind: 'paralstm',
  title: 'ParaLSTM',
  summary: "ParaLSTM: a byte LM of ParaRNN's diagonal LSTM-CIFG (nonlinear, state h and c), trained fused or by Newton's method on a 2 x 2 scan (ParaRNN, Apple 2025)",
  mixer: 'paralstm',
  convKernel: 0,
  shapes: { tiny: { layers: 2, mlpHidden: 139 }, small: { layers: 4, mlpHidden: 616 } },
  options: ['rnn-method'],
  configure: (config, values) => (values['rnn-method'] === undefined ? config : { ...config, rnnMethod: values['rnn-method'] as RnnMethod }),
});
