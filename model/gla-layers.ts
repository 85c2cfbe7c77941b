// The state-expansion mixers: a matrix state S [K × V] per head on engine gatedLinearAttention (the chunked op;
// ../shared/design/gla.md), rows of the mixer table (model/mixers.ts). Tests: test/mixers.test.ts (step = forward,
// prefill, inactive rows, gradients), test/gla-layers.test.ts (layers against their equations in float64).
//
// Each layer says how it makes q, k, v and the log forget gate g from its input, and how it reads the output back;
// the base class runs the three modes (parallel forward, prefill, one step) from those two. Parameter names are
// flash-linear-attention's (fla/layers/*.py at fla-org/flash-linear-attention, read 2026-12) so weights map one to
// one; where fla has no layer the paper's names are used.
//
//   HGRN2 (Qin et al. 2024; fla HGRN2Attention): q = SiLU(W_q x), f = γ_ℓ + (1 − γ_ℓ) σ(W_f x) per key channel, k = 1 − f,
//     v = W_i x, g = log f; heads of K = D / heads (fla's expand_ratio), output W_o RMSNorm(o); scale K^−½.
//   GLA (Yang et al. 2024; fla GatedLinearAttention): K = D/2, V = D in all (expand_k ½, expand_v 1), g = logσ(W_g2 W_g1 x) / 16
//     (rank-16 gate, normaliser 16), output W_o (RMSNorm_head(o) ⊙ SiLU(W_r x)); scale K^−½.
//   RetNet (Sun et al. 2023; fla MultiScaleRetention): K = D, V = 2D in all, RoPE on q and k, a fixed decay per head
//     γ_h = 1 − 2^(−5−h), output as GLA's; scale K^−½.
//   Mamba-2 SSD (Dao & Gu 2024; fla Mamba2): in_proj x -> [z | xBC | Δ], xBC through a short convolution and SiLU, q = C,
//     k = B (one group shared by the heads), v = Δ x, g = Δ · A per head (A = −exp(A_log)), y = o + D ⊙ x, output
//     W_out RMSNorm(y ⊙ SiLU(z)); scale 1. Δ = softplus(W_Δ x + dt_bias).
//   GateLoop (Katsch 2023), its real-valued form: q, k, v, and a data-controlled transition a = σ(W_a x + b) per key
//     channel, g = log a; output as GLA's; scale K^−½.

import {
  arange, exp, full, gatedLinearAttention, gatedLinearAttentionStep, keep, Linear, log, Module, rand, RMSNorm, rope, scope, sigmoid, silu,
  softplus, sub, tensor, where, zeros, type Tensor,
} from '../engine/index.ts';
import { replaceState, type Mixer, type MixerContext, type MixerState } from './mixer.ts';
import { convForward, convInit, convStep, convWindow, convWindowAfter, type ConvWeights } from './short-conv.ts';

/** What a layer makes of its input, x [B, T, D]: the op's operands and whatever its output needs. */
export interface Projected {
  /** [B, T, H, K] */
  q: Tensor;
  k: Tensor;
  /** [B, T, H, V] */
  v: Tensor;
  /** [B, T, H, K] (per key channel) or [B, T, H] (per head), ≤ 0 */
  g: Tensor;
  /** The layer's own extras for its output (an output gate, a skip input). */
  extra: Record<string, Tensor>;
}

/** How a layer's short convolutions run in the mode at hand (name: which convolution). */
export type ConvMode = (name: string, y: Tensor) => Tensor;

/** What a layer sees besides x: the convolution mode, the HGRN lower bound, and the position of step 0 of each row. */
export interface ProjectContext {
  conv: ConvMode;
  lowerBound: Tensor | null;
  /** RoPE: f32 [B], the position of x's first step per row (decoding only), and the largest position expected. */
  positions: { offsets: Tensor; maxPosition: number } | null;
}

/** `size` channels of `x` [..., H·d] as [..., H, d]. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const shape = x.shape.slice(0, -1);
  return x.reshape([...shape, heads, x.shape[x.rank - 1] / heads]);
}

/** [..., H, d] -> [..., H·d]. */
export function mergeHeads(x: Tensor): Tensor {
  return x.reshape([...x.shape.slice(0, -2), x.shape[x.rank - 2] * x.shape[x.rank - 1]]);
}

/** log σ(x) = −softplus(−x), finite for every x. */
export const logSigmoid = (x: Tensor) => softplus(x.neg()).neg();

/** The base of the matrix-state mixers: the three modes from a layer's project() and finish(). */
export abstract class MatrixStateMixer extends Module implements Mixer {
  /** The short convolutions by name (their windows are the decoding state conv_<name>). */
  protected readonly convs = new Map<string, ConvWeights>();
  /** RoPE layers: the largest position a decoding state was made for (the rotation table's length). */
  private positionBound = 0;

  constructor(readonly heads: number, readonly keyDim: number, readonly valueDim: number, readonly scale: number, readonly usesPositions = false) {
    super();
  }

  /** x [B, T, D] -> the op's operands. */
  protected abstract project(x: Tensor, context: ProjectContext): Projected;
  /** The op's output o [B, T, H, V] -> the layer's output [B, T, D]. */
  protected abstract finish(o: Tensor, projected: Projected, x: Tensor): Tensor;

  /** A short convolution over `channels` channels of kernel `kernel` (≥ 2), as parameters <name>.weight/.bias. */
  protected addConv(name: string, channels: number, kernel: number, bias: boolean): ConvWeights {
    const weight = this.parameter(`${name}.weight`, convInit(channels, kernel));
    const conv = { weight, bias: bias ? this.parameter(`${name}.bias`, zeros([channels])) : null };
    this.convs.set(name, conv);
    return conv;
  }

  forward(x: Tensor, context: MixerContext = {}): Tensor {
    return scope(() => {
      const p = this.project(x, { conv: (name, y) => convForward(y, this.convs.get(name)!), lowerBound: context.lowerBound ?? null, positions: null });
      return this.finish(gatedLinearAttention(p.q, p.k, p.v, p.g, { scale: this.scale }), p, x);
    });
  }

  initialState(batch: number, length: number): MixerState {
    const state: MixerState = { S: keep(zeros([batch, this.heads, this.keyDim, this.valueDim])) };
    for (const [name, conv] of this.convs) state[`conv_${name}`] = convWindow(batch, conv);
    if (this.usesPositions) {
      state.position = keep(zeros([batch]));
      this.positionBound = Math.max(this.positionBound, length + 1);
    }
    return state;
  }

  /**
   * One pass from the initial state; rows padded at the end (context.lengths) keep the state of their last real
   * position: past it their keys are zeroed and their gates opened (g = 0), so the state passes through unchanged.
   */
  prefill(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    const [batch, steps] = x.shape;
    const lengths = context.lengths ?? null;
    return scope(() => {
      const p = this.project(x, {
        conv: (name, y) => {
          const conv = this.convs.get(name)!;
          replaceState(state, `conv_${name}`, convWindowAfter(y, conv, lengths));
          return convForward(y, conv);
        },
        lowerBound: context.lowerBound ?? null,
        positions: null,
      });
      let [k, g] = [p.k, p.g];
      if (lengths) {
        const real = arange(steps).astype('f32').unsqueeze(0).lt(lengths.astype('f32').unsqueeze(-1)).astype('f32'); // [B, T]
        k = k.mul(real.reshape([batch, steps, 1, 1]));
        g = g.mul(g.rank === 3 ? real.reshape([batch, steps, 1]) : real.reshape([batch, steps, 1, 1]));
      }
      const { output, finalState } = gatedLinearAttention(p.q, k, p.v, g, { scale: this.scale, returnFinalState: true });
      replaceState(state, 'S', finalState);
      if (state.position) replaceState(state, 'position', lengths ? lengths.astype('f32') : full([batch], steps));
      return this.finish(output, p, x);
    });
  }

  /** x [B, D]: one position per row through the recurrence; rows where context.active is 0 keep their state. */
  step(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    const [batch, width] = x.shape;
    const active = context.active ?? null;
    return scope(() => {
      const x3 = x.reshape([batch, 1, width]);
      const positions = state.position ? { offsets: state.position, maxPosition: this.positionBound } : null;
      const p = this.project(x3, {
        conv: (name, y) => {
          const stepped = convStep(y.reshape([batch, y.shape[2]]), state[`conv_${name}`], this.convs.get(name)!, active);
          replaceState(state, `conv_${name}`, stepped.window);
          return stepped.y.reshape([batch, 1, y.shape[2]]);
        },
        lowerBound: context.lowerBound ?? null,
        positions,
      });
      const row = (t: Tensor) => t.reshape([batch, ...t.shape.slice(2)]);
      const stepped = gatedLinearAttentionStep(row(p.q), row(p.k), row(p.v), row(p.g), state.S, { scale: this.scale });
      replaceState(state, 'S', active ? where(active.reshape([batch, 1, 1, 1]), stepped.state, state.S) : stepped.state);
      if (state.position) replaceState(state, 'position', active ? state.position.add(active) : state.position.add(1));
      return this.finish(stepped.output.reshape([batch, 1, this.heads, this.valueDim]), p, x3).reshape([batch, width]);
    });
  }
}

/** RMSNorm over each head's V channels of o [B, T, H, V], times SiLU(gate [B, T, H·V]) -> [B, T, H·V]. */
function gatedHeadNorm(o: Tensor, norm: RMSNorm, gate: Tensor): Tensor {
  return mergeHeads(norm.forward(o)).mul(silu(gate));
}

export interface GlaLayerOptions {
  heads: number;
  normEps: number;
  /** Kernel of a short convolution on q, k and v (0: none, as fla's default for these layers). */
  conv: number;
}

function headsCheck(width: number, heads: number, key: number, value: number): string | null {
  if (!Number.isInteger(heads) || heads < 1 || width % heads !== 0) return `${heads} heads must divide the width ${width}`;
  if (key / heads > 128 || value / heads > 128) return `heads of ${key / heads} key and ${value / heads} value channels exceed the kernel's 128 (use more heads)`;
  if (!Number.isInteger(key / heads) || !Number.isInteger(value / heads)) return `${heads} heads must divide ${key} key and ${value} value channels`;
  return null;
}

/** The check every matrix-state row shares: heads that divide its key and value widths, a usable convolution. */
export function matrixStateCheck(width: number, o: GlaLayerOptions, key: number, value: number): string | null {
  if (!(Number.isInteger(o.conv) && (o.conv === 0 || (o.conv >= 2 && o.conv <= 16)))) return `conv must be 0 or a whole number from 2 to 16, got ${o.conv}`;
  return headsCheck(width, o.heads, key, value);
}

/** q, k, v from three projections, each through its short convolution when the layer has them. */
abstract class QKVMixer extends MatrixStateMixer {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;

  constructor(width: number, heads: number, key: number, value: number, readonly convKernel: number, scale: number, usesPositions = false) {
    super(heads, key / heads, value / heads, scale, usesPositions);
    this.q_proj = this.child('q_proj', new Linear(width, key, { bias: false }));
    this.k_proj = this.child('k_proj', new Linear(width, key, { bias: false }));
    this.v_proj = this.child('v_proj', new Linear(width, value, { bias: false }));
    if (convKernel >= 2) {
      this.addConv('q_conv1d', key, convKernel, false);
      this.addConv('k_conv1d', key, convKernel, false);
      this.addConv('v_conv1d', value, convKernel, false);
    }
  }

  protected qkv(x: Tensor, c: ProjectContext): [Tensor, Tensor, Tensor] {
    const through = (name: string, y: Tensor) => (this.convKernel >= 2 ? c.conv(name, y) : y);
    return [
      splitHeads(through('q_conv1d', this.q_proj.forward(x)), this.heads),
      splitHeads(through('k_conv1d', this.k_proj.forward(x)), this.heads),
      splitHeads(through('v_conv1d', this.v_proj.forward(x)), this.heads),
    ];
  }
}

/** GLA's, RetNet's and GateLoop's output: W_o (RMSNorm_head(o) ⊙ SiLU(W_r x)), the gate projected by the layer as extra.gate. */
abstract class GatedOutputMixer extends QKVMixer {
  g_norm_swish_gate!: RMSNorm;
  o_proj!: Linear;

  /** Registers the gated output's norm and projection after the layer's own projections (fla's order). */
  protected addGatedOutput(width: number, eps: number): void {
    this.g_norm_swish_gate = this.child('g_norm_swish_gate', new RMSNorm(this.valueDim, { eps }));
    this.o_proj = this.child('o_proj', new Linear(this.heads * this.valueDim, width, { bias: false }));
  }

  protected finish(o: Tensor, p: Projected): Tensor {
    return this.o_proj.forward(gatedHeadNorm(o, this.g_norm_swish_gate, p.extra.gate));
  }
}

export class HGRN2Layer extends MatrixStateMixer {
  readonly q_proj: Linear;
  readonly f_proj: Linear;
  readonly i_proj: Linear;
  readonly g_norm: RMSNorm;
  readonly o_proj: Linear;

  constructor(readonly width: number, o: GlaLayerOptions) {
    const keyDim = width / o.heads;
    super(o.heads, keyDim, width / o.heads, keyDim ** -0.5);
    this.q_proj = this.child('q_proj', new Linear(width, width, { bias: false }));
    this.f_proj = this.child('f_proj', new Linear(width, width, { bias: false }));
    this.i_proj = this.child('i_proj', new Linear(width, width, { bias: false }));
    this.g_norm = this.child('g_norm', new RMSNorm(width, { eps: o.normEps }));
    this.o_proj = this.child('o_proj', new Linear(width, width, { bias: false }));
  }

  protected project(x: Tensor, c: ProjectContext): Projected {
    const f = this.f_proj.forward(x);
    // Without a lower bound (layer 0) the gate is σ(f): log σ and 1 − σ stay exact for gates near 0 or 1.
    const [g, k] = c.lowerBound
      ? ((gate: Tensor) => [log(gate), sub(1, gate)])(sub(1, c.lowerBound).mul(sigmoid(f)).add(c.lowerBound))
      : [logSigmoid(f), sigmoid(f.neg())];
    return { q: splitHeads(silu(this.q_proj.forward(x)), this.heads), k: splitHeads(k, this.heads), v: splitHeads(this.i_proj.forward(x), this.heads), g: splitHeads(g, this.heads), extra: {} };
  }

  protected finish(o: Tensor): Tensor {
    return this.o_proj.forward(this.g_norm.forward(mergeHeads(o)));
  }
}

/** GLA's gate rank and logit normaliser (fla's gate_low_rank_dim, gate_logit_normalizer). */
const GLA_GATE_RANK = 16;
const GLA_GATE_NORMALIZER = 16;

export class GLALayer extends GatedOutputMixer {
  readonly g_proj: Linear;
  readonly gk_proj_down: Linear;
  readonly gk_proj_up: Linear;

  constructor(width: number, o: GlaLayerOptions) {
    const key = width / 2;
    super(width, o.heads, key, width, o.conv, (key / o.heads) ** -0.5);
    this.g_proj = this.child('g_proj', new Linear(width, width, { bias: false }));
    // fla's gk_proj is nn.Sequential(Linear(D, 16), Linear(16, K, bias)): names gk_proj.0 and gk_proj.1.
    this.gk_proj_down = this.child('gk_proj.0', new Linear(width, GLA_GATE_RANK, { bias: false }));
    this.gk_proj_up = this.child('gk_proj.1', new Linear(GLA_GATE_RANK, key, { bias: true }));
    this.addGatedOutput(width, o.normEps);
  }

  protected project(x: Tensor, c: ProjectContext): Projected {
    const [q, k, v] = this.qkv(x, c);
    const g = logSigmoid(this.gk_proj_up.forward(this.gk_proj_down.forward(x))).div(GLA_GATE_NORMALIZER);
    return { q, k, v, g: splitHeads(g, this.heads), extra: { gate: this.g_proj.forward(x) } };
  }
}

export class RetNetLayer extends GatedOutputMixer {
  readonly g_proj: Linear;
  /** log γ_h, one per head: fixed, not a parameter (RetNet's multi-scale decay). */
  private readonly logDecay: Tensor;
  private readonly ropeBase: number;

  constructor(width: number, o: GlaLayerOptions & { ropeBase: number }) {
    super(width, o.heads, width, 2 * width, o.conv, (width / o.heads) ** -0.5, true);
    this.ropeBase = o.ropeBase;
    this.g_proj = this.child('g_proj', new Linear(width, 2 * width, { bias: false }));
    this.addGatedOutput(width, o.normEps);
    this.logDecay = keep(tensor(Float32Array.from({ length: o.heads }, (_, h) => Math.log(1 - 2 ** (-5 - h))), [o.heads]));
  }

  protected project(x: Tensor, c: ProjectContext): Projected {
    const [batch, steps] = x.shape;
    const [q, k, v] = this.qkv(x, c);
    const options = c.positions ? { base: this.ropeBase, rowOffsets: { offsets: c.positions.offsets.astype('i32'), maxPosition: c.positions.maxPosition } } : { base: this.ropeBase };
    const g = this.logDecay.reshape([1, 1, this.heads]).expand([batch, steps, this.heads]);
    return { q: rope(q, options), k: rope(k, options), v, g, extra: { gate: this.g_proj.forward(x) } };
  }

  override dispose(): void {
    this.logDecay.dispose();
    super.dispose();
  }
}

export interface Mamba2Options extends GlaLayerOptions {
  /** N: the state size of each head's keys (B and C), one group shared by all heads. */
  stateSize: number;
}

/** Mamba-2's inner width: expand 2 (fla's and the paper's default). */
const MAMBA2_EXPAND = 2;

export class Mamba2Layer extends MatrixStateMixer {
  readonly in_proj: Linear;
  readonly dt_bias: Tensor;
  readonly A_log: Tensor;
  readonly D: Tensor;
  readonly norm: RMSNorm;
  readonly out_proj: Linear;
  private readonly inner: number;

  constructor(width: number, o: Mamba2Options) {
    const inner = MAMBA2_EXPAND * width;
    super(o.heads, o.stateSize, inner / o.heads, 1);
    this.inner = inner;
    this.in_proj = this.child('in_proj', new Linear(width, 2 * inner + 2 * o.stateSize + o.heads, { bias: false }));
    this.addConv('conv1d', inner + 2 * o.stateSize, o.conv, true);
    // Mamba-2's initialisation (mamba_ssm, as fla): Δ log-uniform in [1e-3, 1e-1] through softplus's inverse, A in [1, 16], D = 1.
    this.dt_bias = this.parameter('dt_bias', scope(() => {
      const dt = exp(rand([o.heads], { low: Math.log(1e-3), high: Math.log(1e-1) })).maximum(1e-4);
      return dt.add(log(sub(1, exp(dt.neg()))));
    }));
    this.A_log = this.parameter('A_log', scope(() => log(rand([o.heads], { low: 1, high: 16 }))));
    this.D = this.parameter('D', full([o.heads], 1));
    this.norm = this.child('norm', new RMSNorm(inner, { eps: o.normEps }));
    this.out_proj = this.child('out_proj', new Linear(inner, width, { bias: false }));
  }

  protected project(x: Tensor, c: ProjectContext): Projected {
    const [batch, steps] = x.shape;
    const n = this.keyDim;
    const zxbcdt = this.in_proj.forward(x);
    const part = (from: number, size: number) => zxbcdt.slice([null, null, [from, from + size]]);
    const z = part(0, this.inner);
    const xbc = silu(c.conv('conv1d', part(this.inner, this.inner + 2 * n).contiguous()));
    const dt = softplus(part(2 * this.inner + 2 * n, this.heads).add(this.dt_bias)); // [B, T, H]
    const xs = splitHeads(xbc.slice([null, null, [0, this.inner]]).contiguous(), this.heads); // [B, T, H, P]
    const shared = (from: number) => xbc.slice([null, null, [from, from + n]]).contiguous().reshape([batch, steps, 1, n]).expand([batch, steps, this.heads, n]);
    const g = dt.mul(exp(this.A_log).neg());
    return { q: shared(this.inner + n), k: shared(this.inner), v: xs.mul(dt.unsqueeze(-1)), g, extra: { z, xs } };
  }

  protected finish(o: Tensor, p: Projected): Tensor {
    const y = mergeHeads(o.add(p.extra.xs.mul(this.D.reshape([this.heads, 1]))));
    return this.out_proj.forward(this.norm.forward(y.mul(silu(p.extra.z))));
  }
}

export class GateLoopLayer extends GatedOutputMixer {
  readonly a_proj: Linear;
  readonly g_proj: Linear;

  constructor(width: number, o: GlaLayerOptions) {
    super(width, o.heads, width, width, o.conv, (width / o.heads) ** -0.5);
    this.a_proj = this.child('a_proj', new Linear(width, width, { bias: true }));
    this.g_proj = this.child('g_proj', new Linear(width, width, { bias: false }));
    this.addGatedOutput(width, o.normEps);
  }

  protected project(x: Tensor, c: ProjectContext): Projected {
    const [q, k, v] = this.qkv(x, c);
    return { q, k, v, g: splitHeads(logSigmoid(this.a_proj.forward(x)), this.heads), extra: { gate: this.g_proj.forward(x) } };
  }
}
