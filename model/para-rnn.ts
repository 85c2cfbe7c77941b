// Nonlinear diagonal RNN mixers (../shared/design/nonlinear-rnn.md; the ops: engine/ops/rnn.ts; tests:
// test/mixers.test.ts, test/kinds.test.ts): rows 'paragru' and 'paralstm' of the mixer table, the layers of the
// paragru and paralstm LMs. ParaRNN's cells with diagonal recurrence, in a block shaped like HGRN's:
//   [a | b | c] = W_in x,   h = cell(a, b, c; diagonal weights),   y = W_out (RMSNorm(h) ⊙ SiLU(W_g x))
// ParaGRU's cell is the diagonal GRU (a, b, c = xz, xr, xh), ParaLSTM's the diagonal LSTM-CIFG (xf, xo, xc). The
// sequence is solved by `method`: 'fused' (one dispatch, exact; the default), 'newton' (ParaRNN's 3 iterations) or
// 'sequential'; decoding steps the same cell. Their decoding state is O(1): h (and c) [B, D].

import {
  diagGRU, diagGRUStep, diagLSTM, diagLSTMStep, keep, Linear, Module, rand, RMSNorm, scope, silu, slice, where, zeros,
  type RnnMethod, type Tensor,
} from '../engine/index.ts';
import { lastPositions, replaceState, type Mixer, type MixerContext, type MixerState } from './mixer.ts';

/** x [..., 3D] as its three projections [..., D] each (views). */
function thirds(x: Tensor, d: number): [Tensor, Tensor, Tensor] {
  const last = x.rank - 1;
  const part = (k: number) => slice(x, x.shape.map((_, i) => (i === last ? ([k * d, (k + 1) * d] as [number, number]) : null)));
  return [part(0), part(1), part(2)];
}

/** A state tensor's next value: rows where `active` is 0 keep the old one. */
function advanced(state: MixerState, name: string, next: Tensor, active: Tensor | null | undefined): Tensor {
  const value = active ? where(active.reshape([active.shape[0], 1]), next, state[name]) : next;
  replaceState(state, name, value);
  return state[name].detach();
}

export interface ParaRnnOptions {
  normEps: number;
  method: RnnMethod;
}

/** What the two cells' layers share: the projections, the output gate and norm, the diagonal weights. */
abstract class DiagonalRnnLayer extends Module implements Mixer {
  readonly inProj: Linear;
  readonly gateProj: Linear;
  readonly outProj: Linear;
  readonly norm: RMSNorm;
  /** The diagonal recurrent weights and biases by name (uz, ur, uh, bz, br, bh or uf, uo, uc, bf, bo, bc). */
  readonly diagonal: Record<string, Tensor> = {};

  constructor(readonly dim: number, names: readonly string[], readonly options: ParaRnnOptions) {
    super();
    this.inProj = this.child('in_proj', new Linear(dim, 3 * dim, { bias: false }));
    this.gateProj = this.child('gate_proj', new Linear(dim, dim, { bias: false }));
    this.outProj = this.child('out_proj', new Linear(dim, dim, { bias: false }));
    this.norm = this.child('norm', new RMSNorm(dim, { eps: options.normEps }));
    // Recurrent weights in ±0.5 keep the cell contracting at the start (Newton converges in a few iterations there);
    // the biases start at 0.
    names.forEach((name, k) => {
      this.diagonal[name] = this.parameter(name, k < 3 ? rand([dim], { low: -0.5, high: 0.5 }) : zeros([dim]));
    });
  }

  protected output(h: Tensor, x: Tensor): Tensor {
    return this.outProj.forward(this.norm.forward(h).mul(silu(this.gateProj.forward(x))));
  }

  abstract forward(x: Tensor, context?: MixerContext): Tensor;
  abstract initialState(batch: number): MixerState;
  abstract step(x: Tensor, state: MixerState, context?: MixerContext): Tensor;
  abstract prefill(x: Tensor, state: MixerState, context?: MixerContext): Tensor;
}

export class ParaGRULayer extends DiagonalRnnLayer {
  constructor(dim: number, options: ParaRnnOptions) {
    super(dim, ['uz', 'ur', 'uh', 'bz', 'br', 'bh'], options);
  }

  private get weights() {
    const w = this.diagonal;
    return { uz: w.uz, ur: w.ur, uh: w.uh, bz: w.bz, br: w.br, bh: w.bh };
  }

  private sequence(x: Tensor): Tensor {
    const [xz, xr, xh] = thirds(this.inProj.forward(x), this.dim);
    return diagGRU(xz, xr, xh, this.weights, { method: this.options.method });
  }

  forward(x: Tensor): Tensor {
    return scope(() => this.output(this.sequence(x), x));
  }

  initialState(batch: number): MixerState {
    return { h: keep(zeros([batch, this.dim])) };
  }

  prefill(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    return scope(() => {
      const h = this.sequence(x);
      replaceState(state, 'h', lastPositions(h, context.lengths));
      return this.output(h, x);
    });
  }

  step(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    return scope(() => {
      const [xz, xr, xh] = thirds(this.inProj.forward(x), this.dim);
      const h = advanced(state, 'h', diagGRUStep(xz, xr, xh, this.weights, state.h), context.active);
      return this.output(h, x);
    });
  }
}

export class ParaLSTMLayer extends DiagonalRnnLayer {
  constructor(dim: number, options: ParaRnnOptions) {
    super(dim, ['uf', 'uo', 'uc', 'bf', 'bo', 'bc'], options);
  }

  private get weights() {
    const w = this.diagonal;
    return { uf: w.uf, uo: w.uo, uc: w.uc, bf: w.bf, bo: w.bo, bc: w.bc };
  }

  private sequence(x: Tensor): { h: Tensor; c: Tensor } {
    const [xf, xo, xc] = thirds(this.inProj.forward(x), this.dim);
    return diagLSTM(xf, xo, xc, this.weights, { method: this.options.method });
  }

  forward(x: Tensor): Tensor {
    return scope(() => this.output(this.sequence(x).h, x));
  }

  initialState(batch: number): MixerState {
    return { h: keep(zeros([batch, this.dim])), c: keep(zeros([batch, this.dim])) };
  }

  prefill(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    return scope(() => {
      const { h, c } = this.sequence(x);
      replaceState(state, 'h', lastPositions(h, context.lengths));
      replaceState(state, 'c', lastPositions(c, context.lengths));
      return this.output(h, x);
    });
  }

  step(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    return scope(() => {
      const [xf, xo, xc] = thirds(this.inProj.forward(x), this.dim);
      const next = diagLSTMStep(xf, xo, xc, this.weights, { h: state.h, c: state.c });
      advanced(state, 'c', next.c, context.active);
      return this.output(advanced(state, 'h', next.h, context.active), x);
    });
  }
}
