// Sequence mixers: the one interface every token-mixing layer implements, and the one table the models build them
// from (the recurrent LM, H-Net's encoders, decoders and main network, the Transformer LM). A mixer maps a
// sequence [B, T, D] to [B, T, D] in one parallel pass, and decodes one position at a time against a state of any
// shape: HGRN's and minGRU's is a vector per row, attention's a KV cache (a matrix state per head fits the same
// interface). Tests: test/mixers.test.ts (for every row: step by step equals the parallel forward).
//
// Adding a mixer is one row in MIXERS: its kind joins MixerKind, and every model that takes a mixer kind in its
// config can use it (a row left out is a compile error).

import { Module, RMSNorm, scope, type RnnMethod, type Tensor } from '../engine/index.ts';
import type { Mixer, MixerContext, MixerState } from './mixer.ts';
import { SelfAttention } from './attention.ts';
import { HGRNLayer, MinGRULayer } from './glr.ts';
import { GateLoopLayer, GLALayer, HGRN2Layer, Mamba2Layer, matrixStateCheck, RetNetLayer } from './gla-layers.ts';
import { GriffinRecurrentBlock } from './griffin.ts';
import { ParaGRULayer, ParaLSTMLayer } from './para-rnn.ts';
import { SwiGLUMLP } from './layers.ts';

export { disposeState, lastPositions, replaceState, type Mixer, type MixerContext, type MixerState } from './mixer.ts';

import type { MixerKind } from './mixer-kinds.ts';

export { MIXER_KINDS, type MixerKind } from './mixer-kinds.ts';

/** Everything a mixer row may read; each row takes what it needs. */
export interface MixerOptions {
  /** attention: heads (dividing the width). */
  heads: number;
  /** hgrn: kernel of the short causal convolution in front of the gates (0: none). */
  conv: number;
  /** attention: fraction of each head's channels RoPE rotates. */
  rotary: number;
  ropeBase: number;
  normEps: number;
  /** attention: state-dict names of the projections (H-Net's official Wqkv/out_proj; qkv/out elsewhere). */
  attentionNames?: { qkv: string; out: string };
  /** mamba2: N, the state size of each head's keys (default 16). */
  stateSize?: number;
  /** local-attention: the positions each one sees, itself included (default 64). */
  window?: number;
  /** paragru, paralstm: how the nonlinear recurrence is solved (default 'fused'). */
  rnnMethod?: RnnMethod;
}

/** The defaults of the options only some rows read. */
export const MIXER_DEFAULTS = { stateSize: 16, window: 64, rnnMethod: 'fused' } as const;

export interface MixerSpec {
  summary: string;
  /** Whether its state is O(1) in the sequence length (a recurrence) or grows with it (a cache). */
  constantState: boolean;
  build(width: number, options: MixerOptions): Mixer;
  /** A named reason the options cannot work at this width, or null. */
  check(width: number, options: MixerOptions): string | null;
  /** Weights its projections multiply per position (training FLOPs ≈ 6 × these, plus the recurrence's). */
  weights(width: number, options: MixerOptions): number;
  /** Floats of decoding state per row after `length` positions (a cache grows with it; a recurrence does not). */
  stateFloats(width: number, options: MixerOptions, length: number): number;
}

export const MIXERS: { readonly [K in MixerKind]: MixerSpec } = {
  hgrn: {
    summary: 'HGRN: gated linear recurrence with forget-gate lower bounds (Qin et al. 2023), on the parallel scan',
    constantState: true,
    build: (width, o) => new HGRNLayer(width, o.conv, o.normEps),
    weights: (w) => 4 * w * w,
    stateFloats: (w) => w,
    check: (_width, o) => (Number.isInteger(o.conv) && o.conv >= 0 && o.conv <= 16 ? null : `conv must be a whole number from 0 to 16, got ${o.conv}`),
  },
  mingru: {
    summary: 'minGRU: the GRU with gates from the input alone (Feng et al. 2024), on the parallel scan',
    constantState: true,
    build: (width) => new MinGRULayer(width),
    weights: (w) => 3 * w * w,
    stateFloats: (w) => w,
    check: () => null,
  },
  attention: {
    summary: 'causal multi-head self-attention with RoPE; decodes against a per-row KV cache',
    constantState: false,
    build: (width, o) => new SelfAttention({ dim: width, heads: o.heads, causal: true, ropeBase: o.ropeBase, ropeFraction: o.rotary, names: o.attentionNames }),
    weights: (w) => 4 * w * w,
    stateFloats: (w, _o, length) => 2 * w * length,
    check: (width, o) => attentionCheck(width, o),
  },
  hgrn2: {
    summary: 'HGRN2: HGRN with state expansion, a K x V state per head, input gate tied to the forget gate (Qin et al. 2024)',
    constantState: true,
    build: (width, o) => new HGRN2Layer(width, o),
    weights: (w) => 4 * w * w,
    stateFloats: (w, o) => (w * w) / o.heads,
    check: (width, o) => matrixStateCheck(width, { ...o, conv: 0 }, width, width),
  },
  gla: {
    summary: 'GLA: gated linear attention with a low-rank data-dependent forget gate per key channel (Yang et al. 2024)',
    constantState: true,
    build: (width, o) => new GLALayer(width, o),
    weights: (w) => 4 * w * w + 24 * w,
    stateFloats: (w, o) => (w * w) / (2 * o.heads),
    check: (width, o) => matrixStateCheck(width, o, width / 2, width),
  },
  retnet: {
    summary: 'RetNet: retention, a fixed multi-scale decay per head, RoPE on q and k (Sun et al. 2023)',
    constantState: true,
    build: (width, o) => new RetNetLayer(width, o),
    weights: (w) => 8 * w * w,
    stateFloats: (w, o) => (2 * w * w) / o.heads,
    check: (width, o) => matrixStateCheck(width, o, width, 2 * width),
  },
  mamba2: {
    summary: 'Mamba-2 SSD: a scalar decay per head from Δt and A, short convolution, gated output (Dao & Gu 2024)',
    constantState: true,
    build: (width, o) => new Mamba2Layer(width, { ...o, stateSize: o.stateSize ?? MIXER_DEFAULTS.stateSize }),
    weights: (w, o) => 6 * w * w + w * (2 * (o.stateSize ?? MIXER_DEFAULTS.stateSize) + o.heads),
    stateFloats: (w, o) => 2 * w * (o.stateSize ?? MIXER_DEFAULTS.stateSize),
    check: (width, o) => {
      const n = o.stateSize ?? MIXER_DEFAULTS.stateSize;
      if (!Number.isInteger(n) || n < 1 || n > 128) return `stateSize must be a whole number from 1 to 128, got ${n}`;
      if (o.conv < 2) return `mamba2 needs its short convolution: conv must be from 2 to 16, got ${o.conv}`;
      return matrixStateCheck(width, o, o.heads * n, 2 * width);
    },
  },
  gateloop: {
    summary: 'GateLoop: linear recurrence with data-controlled transitions per key channel, real-valued form (Katsch 2023)',
    constantState: true,
    build: (width, o) => new GateLoopLayer(width, o),
    weights: (w) => 6 * w * w,
    stateFloats: (w, o) => (w * w) / o.heads,
    check: (width, o) => matrixStateCheck(width, o, width, width),
  },
  rglru: {
    summary: "Griffin's recurrent block: the RG-LRU on the diagonal scan behind a short convolution, GeLU branch (De et al. 2024)",
    constantState: true,
    build: (width, o) => new GriffinRecurrentBlock(width, o),
    weights: (w, o) => 3 * w * w + (2 * w * w) / o.heads,
    stateFloats: (w) => w,
    check: (width, o) => {
      if (!Number.isInteger(o.conv) || o.conv < 2 || o.conv > 16) return `rglru needs its short convolution: conv must be from 2 to 16, got ${o.conv}`;
      return Number.isInteger(o.heads) && o.heads >= 1 && width % o.heads === 0 ? null : `${o.heads} heads must divide the width ${width} (the RG-LRU's block-diagonal gates)`;
    },
  },
  paragru: {
    summary: "ParaRNN's diagonal GRU (nonlinear), solved fused in one dispatch, by Newton on the scan, or step by step",
    constantState: true,
    build: (width, o) => new ParaGRULayer(width, { normEps: o.normEps, method: o.rnnMethod ?? MIXER_DEFAULTS.rnnMethod }),
    weights: (w) => 5 * w * w,
    stateFloats: (w) => w,
    check: () => null,
  },
  paralstm: {
    summary: "ParaRNN's diagonal LSTM-CIFG (nonlinear, state h and c), solved fused, by Newton on a 2 x 2 scan, or step by step",
    constantState: true,
    build: (width, o) => new ParaLSTMLayer(width, { normEps: o.normEps, method: o.rnnMethod ?? MIXER_DEFAULTS.rnnMethod }),
    weights: (w) => 5 * w * w,
    stateFloats: (w) => 2 * w,
    check: () => null,
  },
  'local-attention': {
    summary: "Griffin's local attention: causal attention over a sliding window of positions, RoPE",
    constantState: false,
    build: (width, o) => new SelfAttention({ dim: width, heads: o.heads, causal: true, ropeBase: o.ropeBase, ropeFraction: o.rotary, names: o.attentionNames, window: o.window ?? MIXER_DEFAULTS.window }),
    weights: (w) => 4 * w * w,
    stateFloats: (w, _o, length) => 2 * w * length, // the cache keeps every position; the window bounds the work per step
    check: (width, o) => {
      const w = o.window ?? MIXER_DEFAULTS.window;
      return Number.isInteger(w) && w >= 1 && w <= 65536 ? attentionCheck(width, o) : `window must be a whole number from 1 to 65536, got ${w}`;
    },
  },
};

function attentionCheck(width: number, o: MixerOptions): string | null {
  return Number.isInteger(o.heads) && o.heads >= 1 && width % o.heads === 0 && width / o.heads <= 128 ? null : `${o.heads} heads must divide the width ${width} into heads of at most 128`;
}


/** The state-dict names of a residual block's parts (each model keeps its own, official where there is one). */
export interface BlockNames {
  mixerNorm: string;
  mixer: string;
  mlpNorm: string;
  mlp: string;
  /** The SwiGLU's projections, and whether its fused projection is laid out [up | gate] (H-Net's official). */
  mlpParts?: { gateUp: string; down: string };
  upFirst?: boolean;
}

/** Pre-norm residual block: x + mixer(norm(x)), then x + SwiGLU(norm(x)) when it has an MLP (mlpHidden > 0). */
export class ResidualBlock extends Module {
  readonly mixerNorm: RMSNorm;
  readonly mixer: Mixer;
  readonly mlpNorm: RMSNorm | null;
  readonly mlp: SwiGLUMLP | null;

  constructor(width: number, kind: MixerKind, options: MixerOptions, mlpHidden: number, names: BlockNames) {
    super();
    this.mixerNorm = this.child(names.mixerNorm, new RMSNorm(width, { eps: options.normEps }));
    this.mixer = this.child(names.mixer, MIXERS[kind].build(width, options));
    this.mlpNorm = mlpHidden > 0 ? this.child(names.mlpNorm, new RMSNorm(width, { eps: options.normEps })) : null;
    this.mlp = mlpHidden > 0 ? this.child(names.mlp, new SwiGLUMLP(width, mlpHidden, names.mlpParts, names.upFirst)) : null;
  }

  private residual(x: Tensor, mix: (normed: Tensor) => Tensor): Tensor {
    return scope(() => {
      const h = x.add(mix(this.mixerNorm.forward(x)));
      return this.mlp && this.mlpNorm ? h.add(this.mlp.forward(this.mlpNorm.forward(h))) : h;
    });
  }

  forward(x: Tensor, context?: MixerContext): Tensor {
    return this.residual(x, (n) => this.mixer.forward(n, context));
  }

  initialState(batch: number, length: number): MixerState {
    return this.mixer.initialState(batch, length);
  }

  step(x: Tensor, state: MixerState, context?: MixerContext): Tensor {
    return this.residual(x, (n) => this.mixer.step(n, state, context));
  }

  prefill(x: Tensor, state: MixerState, context?: MixerContext): Tensor {
    return this.residual(x, (n) => this.mixer.prefill(n, state, context));
  }
}
