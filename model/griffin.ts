// Griffin's recurrent block (De et al. 2024, "Griffin: Mixing Gated Linear Recurrences with Local Attention"; names as
// google-deepmind/recurrentgemma's RecurrentBlock and RGLRU), a row of the mixer table (model/mixers.ts). Its state is
// a vector per row, served by the existing diagonal scan; Griffin's local attention is the attention row with a
// window (model/attention.ts). Tests: test/mixers.test.ts, test/gla-layers.test.ts.
//
//   y = GeLU(W_y x)                                     branch 1, width W
//   u = Conv1D_4(W_x x)                                 branch 2: a short causal convolution, then the RG-LRU:
//   r_t = σ(W_a u_t + b_a),  i_t = σ(W_i u_t + b_i)     block-diagonal gates (one block per head)
//   log a_t = −c · r_t · softplus(Λ)                    a_t = σ-free form of a^(c r_t), a = exp(−softplus(Λ)), c = 8
//   h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ u_t)     (the √ factor is 1 at a sequence's first position)
//   out = W_out (h ⊙ y)
// Λ starts so that a is in [0.9, 0.999] (a² uniform there, as recurrentgemma's rnn_param_init). Differences from the
// official code, said here: the convolution weight is laid out [channels, kernel] (recurrentgemma: [kernel, channels]),
// and the √ has the engine's exact derivative where recurrentgemma bounds it (1 − a² is kept ≥ 1e-6 instead).

import { gelu, keep, Linear, log, matmul, Module, rand, scan, scanStep, scope, sigmoid, softplus, sqrt, sub, where, zeros, full, arange, type Tensor } from '../engine/index.ts';
import { lastPositions, replaceState, type Mixer, type MixerContext, type MixerState } from './mixer.ts';
import { convForward, convInit, convStep, convWindowAfter, type ConvWeights } from './short-conv.ts';

/** recurrentgemma's c: the exponent that sharpens the recurrence gate. */
const RG_LRU_C = 8;

/** x [..., H·d] times a block-diagonal matrix (weight [H, d, d], bias [H, d]): each head's channels mix only among themselves. */
class BlockDiagonalLinear extends Module {
  readonly w: Tensor;
  readonly b: Tensor;

  constructor(readonly width: number, readonly heads: number) {
    super();
    const d = width / heads;
    const bound = 1 / Math.sqrt(d);
    this.w = this.parameter('w', rand([heads, d, d], { low: -bound, high: bound }));
    this.b = this.parameter('b', zeros([heads, d]));
  }

  forward(x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const rows = lead.reduce((a, b) => a * b, 1);
    const d = this.width / this.heads;
    return scope(() => {
      const perHead = x.reshape([rows, this.heads, d]).permute([1, 0, 2]); // [H, rows, d]
      const mixed = matmul(perHead, this.w).permute([1, 0, 2]).add(this.b); // [rows, H, d]
      return mixed.contiguous().reshape([...lead, this.width]);
    });
  }
}

export interface GriffinOptions {
  heads: number;
  /** Kernel of the convolution in front of the RG-LRU (recurrentgemma: 4). */
  conv: number;
}

export class GriffinRecurrentBlock extends Module implements Mixer {
  readonly linear_y: Linear;
  readonly linear_x: Linear;
  readonly linear_out: Linear;
  readonly a_gate: BlockDiagonalLinear;
  readonly input_gate: BlockDiagonalLinear;
  readonly a_param: Tensor;
  private readonly conv: ConvWeights;

  constructor(readonly width: number, readonly options: GriffinOptions) {
    super();
    this.linear_y = this.child('linear_y', new Linear(width, width, { bias: true }));
    this.linear_x = this.child('linear_x', new Linear(width, width, { bias: true }));
    this.linear_out = this.child('linear_out', new Linear(width, width, { bias: true }));
    this.conv = { weight: this.parameter('conv_1d.weight', convInit(width, options.conv)), bias: this.parameter('conv_1d.bias', zeros([width])) };
    this.a_gate = this.child('rg_lru.a_gate', new BlockDiagonalLinear(width, options.heads));
    this.input_gate = this.child('rg_lru.input_gate', new BlockDiagonalLinear(width, options.heads));
    // softplus(Λ) = −½ log u with u ~ U(0.9², 0.999²): a = exp(−softplus(Λ)) in [0.9, 0.999].
    this.a_param = this.parameter('rg_lru.a_param', scope(() => {
      const minusLogA = log(rand([width], { low: 0.81, high: 0.998001 })).mul(-0.5);
      return log(sub(minusLogA.exp(), 1)); // softplus⁻¹
    }));
  }

  /** The recurrence's a and input b from u [B, T, W], and whether each position restarts the sequence (first [T] or [B, 1]). */
  private gates(u: Tensor, first: Tensor): { a: Tensor; b: Tensor } {
    const logA = sigmoid(this.a_gate.forward(u)).mul(softplus(this.a_param)).mul(-RG_LRU_C);
    const a = logA.exp();
    const multiplier = sqrt(sub(1, logA.mul(2).exp()).maximum(1e-6));
    const scaled = where(first, 1, multiplier);
    return { a, b: u.mul(sigmoid(this.input_gate.forward(u))).mul(scaled) };
  }

  private run(x: Tensor, u: Tensor, first: Tensor, recur: (a: Tensor, b: Tensor) => Tensor): Tensor {
    const y = gelu(this.linear_y.forward(x));
    const { a, b } = this.gates(u, first);
    return this.linear_out.forward(recur(a, b).mul(y));
  }

  private sequence(x: Tensor, conv: (v: Tensor) => Tensor, recur: (a: Tensor, b: Tensor) => Tensor): Tensor {
    const steps = x.shape[1];
    const first = arange(steps).eq(0).astype('f32').reshape([1, steps, 1]);
    return this.run(x, conv(this.linear_x.forward(x)), first, recur);
  }

  forward(x: Tensor): Tensor {
    return scope(() => this.sequence(x, (v) => convForward(v, this.conv), (a, b) => scan(a, b)));
  }

  initialState(batch: number): MixerState {
    return { h: keep(zeros([batch, this.width])), conv: keep(zeros([batch, this.options.conv - 1, this.width])), fresh: keep(full([batch, 1], 1)) };
  }

  prefill(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    return scope(() => this.sequence(x, (v) => {
      replaceState(state, 'conv', convWindowAfter(v, this.conv, context.lengths));
      return convForward(v, this.conv);
    }, (a, b) => {
      const h = scan(a, b);
      replaceState(state, 'h', lastPositions(h, context.lengths));
      replaceState(state, 'fresh', context.lengths ? context.lengths.astype('f32').le(0).astype('f32').reshape([x.shape[0], 1]) : zeros([x.shape[0], 1]));
      return h;
    }));
  }

  step(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    const [batch] = x.shape;
    const active = context.active ?? null;
    return scope(() => {
      const stepped = convStep(this.linear_x.forward(x), state.conv, this.conv, active);
      replaceState(state, 'conv', stepped.window);
      return this.run(x, stepped.y, state.fresh, (a, b) => {
        const h = scanStep(a, b, state.h);
        const keepRow = (next: Tensor, old: Tensor) => (active ? where(active.reshape([batch, 1]), next, old) : next);
        replaceState(state, 'h', keepRow(h, state.h));
        replaceState(state, 'fresh', keepRow(zeros([batch, 1]), state.fresh));
        return h;
      });
    });
  }
}
