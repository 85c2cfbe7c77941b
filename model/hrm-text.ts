// HRM-Text (../shared/design/hrm.md, "HRM-Text"; sapientinc/HRM-Text): the HRM's slow (H) and fast (L) modules as
// a causal byte language model for instruction following. Tests: test/hrm-text.test.ts; model kind hrm-text.
//
//   x = embed(bytes)
//   calls: hCycles × (lCalls × [z_L ← f_L(z_L + z_H + x)], then [z_H ← f_H(z_H + z_L)])     (2 × (3 L + 1 H) = 8)
//   f = pre-norm Transformer blocks, closed by a parameter-free RMSNorm ("MagicNorm": every recurrent state is
//       renormalised, and under a truncated backprop window gradients cross only a few exit norms)
//   logits = head(z_H)
// Warm-up deep credit assignment: gradients flow through the last `bpSteps` calls only (earlier ones run without
// gradient), bpSteps ramping linearly from bp.from to bp.to over the first bp.warmup share of training; a window
// always ends on the last H call and holds at least one L call (so at least 2). PrefixLM ('prefix' mask): the
// instruction — the bytes up to and including each row's first newline — is seen both ways, the response causally.
// The ablation's Transformer ('transformer' architecture) runs the same number of blocks once each: a stack of
// hCycles · (lCalls · lLayers + hLayers) distinct blocks, the HRM's forward FLOPs per byte (its parameters are more).
// Decoding keeps one KV cache per block per module call.

import { argmax, Embedding, HieroError, Linear, noGrad, rmsNorm, scope, slice, truncatedNormal, zeros, type Tensor } from '../engine/index.ts';
import { ResidualBlock, type MixerContext, type MixerState } from './mixers.ts';
import { PlainByteLM, type ByteLM } from './text-model.ts';

export interface HRMTextConfig {
  vocab: number;
  dim: number;
  heads: number;
  hLayers: number;
  lLayers: number;
  /** H-cycles, each lCalls L-module calls then one H call. */
  hCycles: number;
  lCalls: number;
  mlpHidden: number;
  ropeBase: number;
  normEps: number;
  /** 'prefix': PrefixLM (the instruction both ways); 'causal': every byte causally. */
  mask: 'prefix' | 'causal';
  /** 'hrm', or the ablation's Transformer of matched forward FLOPs. */
  architecture: 'hrm' | 'transformer';
  /** The backprop window, in module calls: from `from` to `to` over the first `warmup` share of training. */
  bp: { from: number; to: number; warmup: number };
  /**
   * MagicNorm: each module closed by the parameter-free RMSNorm (the paper's). Off (the ablation's): the recurrent
   * states go unnormalised between calls, and one final RMSNorm before the head is all that is left.
   */
  magicNorm: boolean;
}

const BLOCK_NAMES = { mixerNorm: 'attn_norm', mixer: 'attn', mlpNorm: 'mlp_norm', mlp: 'mlp' };
export const NEWLINE = 10;

type Call = 'L' | 'H';

/** The HRM's module calls in order: hCycles × (lCalls L, then one H). */
export function moduleCalls(config: Pick<HRMTextConfig, 'hCycles' | 'lCalls'>): Call[] {
  return Array.from({ length: config.hCycles }, () => [...Array<Call>(config.lCalls).fill('L'), 'H' as Call]).flat();
}

/** The backprop window at a share `progress` of training: the ramp, at least 2 calls, at most all. */
export function backpropWindow(config: Pick<HRMTextConfig, 'bp' | 'hCycles' | 'lCalls'>, progress: number): number {
  const { from, to, warmup } = config.bp;
  const ramp = warmup > 0 ? Math.min(1, Math.max(0, progress) / warmup) : 1;
  return Math.min(moduleCalls(config).length, Math.max(2, Math.round(from + (to - from) * ramp)));
}

/** Per row, the bytes up to and including the first newline (all of them where a row has none): i32 [B]. */
function instructionLengths(ids: Tensor): Tensor {
  return scope(() => {
    const [, t] = ids.shape;
    const newline = ids.eq(NEWLINE).astype('f32');
    // A row without a newline counts as all instruction: its marker sits past the end.
    const marked = newline.sum(-1).gt(0).astype('f32');
    const first = argmax(newline, -1).astype('f32');
    return first.add(1).mul(marked).add(marked.neg().add(1).mul(t)).astype('i32');
  });
}

export class HRMTextLM extends PlainByteLM implements ByteLM {
  readonly embed: Embedding;
  /** HRM: the L and H modules' blocks; Transformer: the one stack. */
  readonly lBlocks: ResidualBlock[];
  readonly hBlocks: ResidualBlock[];
  readonly head: Linear;
  /** The share of training done, set by the training session before each step: the backprop window follows it. */
  progress = 1;

  constructor(readonly config: HRMTextConfig) {
    super();
    if (config.dim % config.heads !== 0) throw new HieroError(`HRM-Text: dim ${config.dim} is not divisible by heads ${config.heads}`);
    const options = { heads: config.heads, conv: 0, rotary: 1, ropeBase: config.ropeBase, normEps: config.normEps };
    const blocks = (name: string, count: number) => Array.from({ length: count }, (_, i) => this.child(`${name}.${i}`, new ResidualBlock(config.dim, 'attention', options, config.mlpHidden, BLOCK_NAMES)));
    this.embed = this.child('embed', new Embedding(config.vocab, config.dim, { init: (s) => truncatedNormal(s, 1 / Math.sqrt(config.dim)) }));
    if (config.architecture === 'hrm') {
      this.lBlocks = blocks('L_level.layers', config.lLayers);
      this.hBlocks = blocks('H_level.layers', config.hLayers);
    } else {
      this.lBlocks = blocks('layers', config.hCycles * (config.lCalls * config.lLayers + config.hLayers));
      this.hBlocks = [];
    }
    this.head = this.child('lm_head', new Linear(config.dim, config.vocab, { bias: false }));
  }

  setTrainingProgress(share: number): void {
    this.progress = share;
  }

  /** The window ramps until bp.warmup; a window reached before then holds while it does not widen again. */
  stepChanges(share: number): boolean {
    return this.config.architecture === 'hrm' && backpropWindow(this.config, share) !== backpropWindow(this.config, 1);
  }

  private context(ids: Tensor): MixerContext {
    return this.config.mask === 'prefix' ? { prefixLengths: instructionLengths(ids) } : {};
  }

  /** A module: its blocks, then the parameter-free exit norm (MagicNorm). */
  private module(blocks: readonly ResidualBlock[], input: Tensor, run: (block: ResidualBlock, h: Tensor, index: number) => Tensor): Tensor {
    return scope(() => {
      const out = blocks.reduce((h, block, i) => run(block, h, i), input);
      return this.config.magicNorm ? rmsNorm(out, null, this.config.normEps) : out;
    });
  }

  /**
   * The hidden states [B, T, D] after every call, computed as `step(call, blocks, input, callIndex)` says (forward,
   * prefill or decode): calls before the backprop window without gradient (training).
   */
  private run(x: Tensor, step: (blocks: readonly ResidualBlock[], input: Tensor, call: number) => Tensor, window: number): Tensor {
    if (this.config.architecture === 'transformer') {
      // The stack's one final norm (its module's exit norm, or the final norm when MagicNorm is off: the same place).
      return scope(() => rmsNorm(step(this.lBlocks, x, 0), null, this.config.normEps));
    }
    const calls = moduleCalls(this.config);
    const firstWithGrad = calls.length - window;
    let zL: Tensor = zeros(x.shape);
    let zH: Tensor = zeros(x.shape);
    calls.forEach((call, c) => {
      const apply = () => (call === 'L' ? step(this.lBlocks, zL.add(zH).add(x), c) : step(this.hBlocks, zH.add(zL), c));
      const next = c < firstWithGrad ? noGrad(apply) : apply();
      if (call === 'L') zL = next;
      else zH = next;
    });
    return this.config.magicNorm ? zH : rmsNorm(zH, null, this.config.normEps);
  }

  /** ids [B, T] (i32) -> logits [B, T, 256]. */
  forward(ids: Tensor): Tensor {
    return scope(() => {
      const context = this.context(ids);
      const window = backpropWindow(this.config, this.progress);
      const h = this.run(this.embed.forward(ids), (blocks, input) => this.module(blocks, input, (block, z) => block.forward(z, context)), window);
      return this.head.forward(h);
    });
  }

  /** One KV cache per block per module call (the Transformer: per block). */
  initialState(batch: number, length: number): MixerState[][] {
    const calls = this.config.architecture === 'hrm' ? moduleCalls(this.config) : ['L' as Call];
    return calls.map((call) => (call === 'L' ? this.lBlocks : this.hBlocks).map((b) => b.initialState(batch, length)));
  }

  async prefill(ids: Tensor, state: MixerState[][]): Promise<Tensor> {
    return scope(() => noGrad(() => {
      const context = this.context(ids);
      const h = this.run(this.embed.forward(ids), (blocks, input, c) => this.module(blocks, input, (block, z, i) => block.prefill(z, state[c][i], context)), Infinity);
      const [b, t, d] = h.shape;
      return this.head.forward(slice(h, [null, t - 1]).reshape([b, d]));
    }));
  }

  decode(ids: Tensor, state: MixerState[][]): Tensor {
    return scope(() => noGrad(() => {
      const h = this.run(this.embed.forward(ids), (blocks, input, c) => this.module(blocks, input, (block, z, i) => block.step(z, state[c][i])), Infinity);
      return this.head.forward(h);
    }));
  }
}
