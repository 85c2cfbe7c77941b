// Gated linear recurrent mixers on the parallel scan (../shared/design/glr.md; tests: test/glr.test.ts,
// test/mixers.test.ts): rows of the mixer table (model/mixers.ts), used by the recurrent LM (model/recurrent-lm.ts)
// and H-Net's encoders and decoders. Their decoding state is O(1): the recurrent state h [B, D] and, with the short
// convolution, its last K-1 inputs [B, K-1, D].
//
// HGRN (Qin et al. 2023, real-valued form as in flash-linear-attention):
//   λ_t = γ_ℓ + (1 − γ_ℓ) σ(W_f x̃_t),  h_t = λ_t ⊙ h_{t−1} + (1 − λ_t) ⊙ SiLU(W_i x̃_t),
//   o_t = W_o (RMSNorm(h_t) ⊙ SiLU(W_g x_t)),  x̃ = x or a causal depthwise conv of x (kernel 4).
// minGRU (Feng et al. 2024): z = σ(W_z x), h̃ = g(W_h x), g(v) = v ≥ 0 ? v + ½ : σ(v),
//   h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t, output W_o h.

import {
  causalConv1d, keep, Linear, Module, RMSNorm, scan, scanStep, scope, sigmoid, silu, sub, tensor, where, zeros,
  type Tensor,
} from '../engine/index.ts';
import { halves } from './layers.ts';
import { lastPositions, replaceState, type Mixer, type MixerContext, type MixerState } from './mixer.ts';
import { convStep, convWindowAfter, type ConvWeights } from './short-conv.ts';

/** The new recurrent state of a step: rows where `active` is 0 keep the old one. Replaces state.h (kept). */
function advance(state: MixerState, stepped: Tensor, active: Tensor | null | undefined): Tensor {
  const h = keep(active ? where(active.reshape([active.shape[0], 1]), stepped, state.h) : stepped);
  state.h.dispose();
  state.h = h;
  return h.detach();
}

export class HGRNLayer extends Module implements Mixer {
  readonly inputGates: Linear; // x̃ -> [i | f]
  readonly outputGate: Linear; // x -> g
  readonly out: Linear;
  readonly norm: RMSNorm;
  readonly convWeight: Tensor | null;
  private readonly conv: ConvWeights | null;

  constructor(readonly dim: number, readonly convKernel: number, eps: number) {
    super();
    this.inputGates = this.child('input_gates', new Linear(dim, 2 * dim, { bias: false }));
    this.outputGate = this.child('output_gate', new Linear(dim, dim, { bias: false }));
    this.out = this.child('out', new Linear(dim, dim, { bias: false }));
    this.norm = this.child('norm', new RMSNorm(dim, { eps }));
    // A near-identity start (the newest input weighted 1) keeps early training close to the conv-free layer.
    this.convWeight = convKernel > 0
      ? this.parameter('conv_weight', tensor(Float32Array.from({ length: dim * convKernel }, (_, j) => (j % convKernel === convKernel - 1 ? 1 : 0)), [dim, convKernel]))
      : null;
    this.conv = this.convWeight ? { weight: this.convWeight, bias: null } : null;
  }

  /** The gates a = γ + (1 − γ) σ(f), b = (1 − a) ⊙ SiLU(i) from x̃, the recurrence, then the gated output. */
  private mix(xConv: Tensor, x: Tensor, gamma: Tensor | null | undefined, recur: (a: Tensor, b: Tensor) => Tensor): Tensor {
    return scope(() => {
      const [i, f] = halves(this.inputGates.forward(xConv), this.dim);
      const a = gamma ? sub(1, gamma).mul(sigmoid(f)).add(gamma) : sigmoid(f);
      const h = recur(a, sub(1, a).mul(silu(i)));
      return this.out.forward(this.norm.forward(h).mul(silu(this.outputGate.forward(x))));
    });
  }

  forward(x: Tensor, context: MixerContext = {}): Tensor {
    return this.forwardWith(x, context);
  }

  /** The parallel forward; `seen` gets the recurrent states of every position (prefill keeps the last). */
  private forwardWith(x: Tensor, context: MixerContext, seen?: (h: Tensor) => void): Tensor {
    return scope(() => this.mix(this.convWeight ? causalConv1d(x, this.convWeight) : x, x, context.lowerBound, (a, b) => {
      const h = scan(a, b);
      seen?.(h);
      return h;
    }));
  }

  initialState(batch: number): MixerState {
    const state: MixerState = { h: keep(zeros([batch, this.dim])) };
    if (this.convKernel > 1) state.conv = keep(zeros([batch, this.convKernel - 1, this.dim]));
    return state;
  }

  prefill(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    return scope(() => {
      const y = this.forwardWith(x, context, (h) => replaceState(state, 'h', lastPositions(h, context.lengths)));
      if (state.conv) replaceState(state, 'conv', convWindowAfter(x, this.conv!, context.lengths));
      return y;
    });
  }

  step(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    const active = context.active;
    return scope(() => {
      let xConv = x;
      if (this.conv && state.conv) {
        const stepped = convStep(x, state.conv, this.conv, active);
        xConv = stepped.y;
        replaceState(state, 'conv', stepped.window);
      } else if (this.conv) {
        xConv = x.mul(this.conv.weight.reshape([this.dim]));
      }
      return this.mix(xConv, x, context.lowerBound, (a, b) => advance(state, scanStep(a, b, state.h), active));
    });
  }
}

export class MinGRULayer extends Module implements Mixer {
  readonly gates: Linear; // x -> [z | h̃ pre-activation]
  readonly out: Linear;

  constructor(readonly dim: number) {
    super();
    this.gates = this.child('gates', new Linear(dim, 2 * dim, { bias: true }));
    this.out = this.child('out', new Linear(dim, dim, { bias: false }));
  }

  private mix(x: Tensor, recur: (a: Tensor, b: Tensor) => Tensor): Tensor {
    return scope(() => {
      const [zPre, hPre] = halves(this.gates.forward(x), this.dim);
      const z = sigmoid(zPre);
      // g(v) = v >= 0 ? v + 1/2 : sigmoid(v): positive and continuous, so h stays positive without exp.
      const candidate = where(hPre.ge(0), hPre.add(0.5), sigmoid(hPre));
      return this.out.forward(recur(sub(1, z), z.mul(candidate)));
    });
  }

  forward(x: Tensor): Tensor {
    return this.mix(x, (a, b) => scan(a, b));
  }

  prefill(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    return this.mix(x, (a, b) => {
      const h = scan(a, b);
      replaceState(state, 'h', lastPositions(h, context.lengths));
      return h;
    });
  }

  initialState(batch: number): MixerState {
    return { h: keep(zeros([batch, this.dim])) };
  }

  step(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    return this.mix(x, (a, b) => advance(state, scanStep(a, b, state.h), context.active));
  }
}
