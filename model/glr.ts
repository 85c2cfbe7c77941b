// Gated linear recurrent models (../shared/design/glr.md; tests: test/glr.test.ts): HGRN and minGRU layers on
// the parallel scan, a pre-norm residual block, and a byte-level language model that decodes token by token
// with O(1) state (the recurrent state and, with the short convolution, the last K-1 inputs).
//
// HGRN (Qin et al. 2023, real-valued form as in flash-linear-attention):
//   λ_t = γ_ℓ + (1 − γ_ℓ) σ(W_f x̃_t),  h_t = λ_t ⊙ h_{t−1} + (1 − λ_t) ⊙ SiLU(W_i x̃_t),
//   o_t = W_o (RMSNorm(h_t) ⊙ SiLU(W_g x_t)),  x̃ = x or a causal depthwise conv of x (kernel 4).
//   Lower bounds per layer: γ = cumsum(softmax(Γ over layers)) − softmax(Γ)[0], so layer 0 has γ = 0 and upper
//   layers remember longer.
// minGRU (Feng et al. 2024): z = σ(W_z x), h̃ = g(W_h x), g(v) = v ≥ 0 ? v + ½ : σ(v),
//   h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t, output W_o h.

import {
  causalConv1d, concat, crossEntropy, cumsum, Embedding, keep, Linear, Module, noGrad, RMSNorm, scan, scanStep, scope,
  sigmoid, silu, softmax, sub, tensor, truncatedNormal, where, zeros, type Tensor,
} from '../engine/index.ts';
import { halves, SwiGLUMLP, consume } from './layers.ts';

export interface RecurrentConfig {
  vocab: number;
  dim: number;
  layers: number;
  mixer: 'hgrn' | 'mingru';
  /** Kernel of the short causal depthwise convolution in front of HGRN's gates (0: none). */
  convKernel: number;
  /** Hidden width of the SwiGLU MLP after each mixer (0: no MLP). */
  mlpHidden: number;
  normEps: number;
}

export const TINY_RECURRENT: RecurrentConfig = { vocab: 256, dim: 64, layers: 2, mixer: 'hgrn', convKernel: 4, mlpHidden: 128, normEps: 1e-6 };

/** Per-sequence decoding state of one layer. */
export interface LayerState {
  h: Tensor; // [B, D]
  conv: Tensor | null; // [B, K - 1, D]: the last K - 1 inputs of the short convolution
}

interface Mixer extends Module {
  /** x [B, T, D] -> [B, T, D]. */
  forward(x: Tensor, gamma: Tensor | null): Tensor;
  /** One token x [B, D]; updates state in place. */
  step(x: Tensor, state: LayerState, gamma: Tensor | null): Tensor;
  initialState(batch: number): LayerState;
}

/** a = γ + (1 − γ) σ(f), b = (1 − a) ⊙ SiLU(i): the gates of HGRN from the pre-activations f and i. */
function hgrnGates(f: Tensor, i: Tensor, gamma: Tensor | null): [Tensor, Tensor] {
  const s = sigmoid(f);
  let a = s;
  if (gamma) {
    const room = sub(1, gamma);
    const scaled = room.mul(s);
    a = scaled.add(gamma);
    for (const t of [room, scaled, s]) t.dispose();
  }
  const forget = sub(1, a);
  const activated = silu(i);
  const b = forget.mul(activated);
  forget.dispose();
  activated.dispose();
  return [a, b];
}

export class HGRNLayer extends Module implements Mixer {
  readonly inputGates: Linear; // x̃ -> [i | f]
  readonly outputGate: Linear; // x -> g
  readonly out: Linear;
  readonly norm: RMSNorm;
  readonly convWeight: Tensor | null;

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
  }

  private mix(xConv: Tensor, x: Tensor, gamma: Tensor | null, recur: (a: Tensor, b: Tensor) => Tensor): Tensor {
    const fi = this.inputGates.forward(xConv);
    const [i, f] = halves(fi, this.dim);
    fi.dispose();
    const [a, b] = hgrnGates(f, i, gamma);
    f.dispose();
    i.dispose();
    const h = recur(a, b);
    a.dispose();
    b.dispose();
    const gate = consume(this.outputGate.forward(x), silu);
    const mixed = consume(this.norm.forward(h), (n) => n.mul(gate));
    gate.dispose();
    h.dispose();
    return consume(mixed, (m) => this.out.forward(m));
  }

  forward(x: Tensor, gamma: Tensor | null): Tensor {
    const xConv = this.convWeight ? causalConv1d(x, this.convWeight) : x;
    const y = this.mix(xConv, x, gamma, (a, b) => scan(a, b));
    if (xConv !== x) xConv.dispose();
    return y;
  }

  initialState(batch: number): LayerState {
    return {
      h: zeros([batch, this.dim]),
      conv: this.convKernel > 1 ? zeros([batch, this.convKernel - 1, this.dim]) : null,
    };
  }

  step(x: Tensor, state: LayerState, gamma: Tensor | null): Tensor {
    let xConv = x;
    if (this.convWeight) {
      // The convolution over the window [last K - 1 inputs, x]: the same sum causalConv1d computes at step t.
      const [batch] = x.shape;
      const current = x.reshape([batch, 1, this.dim]);
      const window = state.conv ? concat([state.conv, current], 1) : current.reshape([batch, 1, this.dim]);
      current.dispose();
      const weights = this.convWeight.T; // [K, D]
      xConv = consume(window.mul(weights), (t) => t.sum(1));
      weights.dispose();
      if (state.conv) {
        state.conv.dispose();
        state.conv = keep(window.slice([null, [1, null], null]).contiguous());
      }
      window.dispose();
    }
    return this.mix(xConv, x, gamma, (a, b) => {
      const h = keep(scanStep(a, b, state.h));
      state.h.dispose();
      state.h = h;
      return h.detach();
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
    const zh = this.gates.forward(x);
    const [zPre, hPre] = halves(zh, this.dim);
    zh.dispose();
    const z = consume(zPre, sigmoid);
    // g(v) = v >= 0 ? v + 1/2 : sigmoid(v): positive and continuous, so h stays positive without exp.
    const positive = hPre.ge(0);
    const shifted = hPre.add(0.5);
    const squashed = sigmoid(hPre);
    const candidate = where(positive, shifted, squashed);
    for (const t of [positive, shifted, squashed, hPre]) t.dispose();
    const a = sub(1, z);
    const b = z.mul(candidate);
    z.dispose();
    candidate.dispose();
    const h = recur(a, b);
    a.dispose();
    b.dispose();
    return consume(h, (t) => this.out.forward(t));
  }

  forward(x: Tensor): Tensor {
    return this.mix(x, (a, b) => scan(a, b));
  }

  initialState(batch: number): LayerState {
    return { h: zeros([batch, this.dim]), conv: null };
  }

  step(x: Tensor, state: LayerState): Tensor {
    return this.mix(x, (a, b) => {
      const h = keep(scanStep(a, b, state.h));
      state.h.dispose();
      state.h = h;
      return h.detach();
    });
  }
}

export class RecurrentBlock extends Module {
  readonly mixerNorm: RMSNorm;
  readonly mixer: Mixer;
  readonly mlpNorm: RMSNorm | null;
  readonly mlp: SwiGLUMLP | null;

  constructor(config: RecurrentConfig) {
    super();
    this.mixerNorm = this.child('mixer_norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.mixer = this.child('mixer', config.mixer === 'hgrn' ? new HGRNLayer(config.dim, config.convKernel, config.normEps) : new MinGRULayer(config.dim));
    this.mlpNorm = config.mlpHidden > 0 ? this.child('mlp_norm', new RMSNorm(config.dim, { eps: config.normEps })) : null;
    this.mlp = config.mlpHidden > 0 ? this.child('mlp', new SwiGLUMLP(config.dim, config.mlpHidden)) : null;
  }

  private residual(x: Tensor, mixed: (normed: Tensor) => Tensor): Tensor {
    const m = consume(this.mixerNorm.forward(x), mixed);
    const h = x.add(m);
    m.dispose();
    if (!this.mlp || !this.mlpNorm) return h;
    const f = consume(this.mlpNorm.forward(h), (n) => this.mlp!.forward(n));
    const out = h.add(f);
    h.dispose();
    f.dispose();
    return out;
  }

  forward(x: Tensor, gamma: Tensor | null): Tensor {
    return this.residual(x, (n) => this.mixer.forward(n, gamma));
  }

  step(x: Tensor, state: LayerState, gamma: Tensor | null): Tensor {
    return this.residual(x, (n) => this.mixer.step(n, state, gamma));
  }
}

export class RecurrentLM extends Module {
  readonly embed: Embedding;
  readonly blocks: RecurrentBlock[];
  readonly norm: RMSNorm;
  readonly head: Linear;
  /** Γ [layers, dim]: HGRN's learned lower bounds, before softmax over layers. */
  readonly lowerBounds: Tensor | null;

  constructor(readonly config: RecurrentConfig) {
    super();
    this.embed = this.child('embed', new Embedding(config.vocab, config.dim, { init: (s) => truncatedNormal(s, 1 / Math.sqrt(config.dim)) }));
    this.blocks = Array.from({ length: config.layers }, (_, i) => this.child(`blocks.${i}`, new RecurrentBlock(config)));
    this.norm = this.child('norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.head = this.child('head', new Linear(config.dim, config.vocab, { bias: false }));
    this.lowerBounds = config.mixer === 'hgrn' ? this.parameter('lower_bounds', zeros([config.layers, config.dim])) : null;
  }

  /** γ for every layer: [layers, dim] as one tensor per layer [dim] (layer 0 is all zeros). */
  private gammas(): (Tensor | null)[] {
    if (!this.lowerBounds) return this.blocks.map(() => null);
    const probs = consume(this.lowerBounds.T, softmax); // [D, L]: softmax over layers
    const cumulative = cumsum(probs, -1);
    const first = probs.slice([null, [0, 1]]);
    const shifted = cumulative.sub(first);
    for (const t of [probs, cumulative, first]) t.dispose();
    const per = this.blocks.map((_, l) => consume(shifted.slice([null, l]), (c) => c.reshape([this.config.dim])));
    shifted.dispose();
    return per;
  }

  /** ids [B, T] (i32) -> logits [B, T, vocab]. */
  forward(ids: Tensor): Tensor {
    const gammas = this.gammas();
    let x = this.embed.forward(ids);
    this.blocks.forEach((block, l) => (x = consume(x, (h) => block.forward(h, gammas[l]))));
    gammas.forEach((g) => g?.dispose());
    return consume(consume(x, (h) => this.norm.forward(h)), (h) => this.head.forward(h));
  }

  loss(ids: Tensor, targets: Tensor): Tensor {
    return consume(this.forward(ids), (logits) => crossEntropy(logits, targets));
  }

  initialState(batch: number): LayerState[] {
    return this.blocks.map((b) => b.mixer.initialState(batch));
  }

  /** One token per sequence, ids [B] (i32) -> logits [B, vocab]; advances `state` (no recomputation of the prefix). */
  step(ids: Tensor, state: LayerState[]): Tensor {
    // The state tensors are kept (keep) by the layers; everything else of the step is freed with the scope.
    return scope(() => noGrad(() => {
      const gammas = this.gammas();
      let x = this.embed.forward(ids);
      this.blocks.forEach((block, l) => (x = consume(x, (h) => block.step(h, state[l], gammas[l]))));
      gammas.forEach((g) => g?.dispose());
      return consume(consume(x, (h) => this.norm.forward(h)), (h) => this.head.forward(h));
    }));
  }

  /** Samples `count` bytes after `prompt` with step mode; temperature 0 takes the most likely byte. */
  async generate(prompt: Uint8Array, count: number, options: { temperature?: number; seed?: number } = {}): Promise<Uint8Array> {
    if (prompt.length === 0) throw new Error('generate: the prompt needs at least one byte');
    const temperature = options.temperature ?? 0.8;
    let seed = options.seed ?? 1;
    const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    const state = this.initialState(1);
    const out = [...prompt];
    let logits: Tensor | null = null;
    for (const byte of prompt) {
      logits?.dispose();
      logits = this.step(tensor(Int32Array.of(byte), [1], { dtype: 'i32' }), state);
    }
    for (let n = 0; n < count; n++) {
      const values = await logits!.toArray();
      logits!.dispose();
      const next = sampleByte(values, temperature, random);
      out.push(next);
      logits = this.step(tensor(Int32Array.of(next), [1], { dtype: 'i32' }), state);
    }
    logits?.dispose();
    for (const s of state) {
      s.h.dispose();
      s.conv?.dispose();
    }
    return Uint8Array.from(out);
  }
}

function sampleByte(logits: ArrayLike<number>, temperature: number, random: () => number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  let total = 0;
  const weights = Array.from(logits, (l) => Math.exp((l - logits[best]) / temperature));
  for (const w of weights) total += w;
  let r = random() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r <= 0) return i;
  }
  return best;
}
