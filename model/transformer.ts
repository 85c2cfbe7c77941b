// A small causal Transformer language model over bytes (tests: test/transformer.test.ts; model kind transformer):
//   embedding -> N x ResidualBlock(attention with RoPE, SwiGLU MLP) -> RMSNorm -> head
// Attention is the attention mixer (model/attention.ts): the fused causal kernel for training, a per-row KV cache
// for decoding one byte at a time.

import { Embedding, HieroError, Linear, noGrad, RMSNorm, scope, truncatedNormal, type Optimizer, type Tensor } from '../engine/index.ts';
import { ResidualBlock, type MixerState } from './mixers.ts';
import { lastLogits, PlainByteLM, type ByteLM } from './text-model.ts';

export interface TransformerConfig {
  vocab: number;
  dim: number;
  layers: number;
  heads: number;
  /** Hidden width of the SwiGLU MLP. */
  mlpHidden: number;
  /** Longest sequence the model is trained on (RoPE itself has no limit). */
  maxSeq: number;
  ropeBase: number;
  normEps: number;
}

export const TINY_LM: TransformerConfig = { vocab: 256, dim: 64, layers: 2, heads: 4, mlpHidden: 128, maxSeq: 64, ropeBase: 10000, normEps: 1e-6 };

const BLOCK_NAMES = { mixerNorm: 'attn_norm', mixer: 'attn', mlpNorm: 'mlp_norm', mlp: 'mlp' };

export class TransformerLM extends PlainByteLM implements ByteLM {
  readonly embed: Embedding;
  readonly blocks: ResidualBlock[];
  readonly norm: RMSNorm;
  readonly head: Linear;

  constructor(readonly config: TransformerConfig) {
    super();
    if (config.dim % config.heads !== 0) throw new HieroError(`TransformerLM: dim ${config.dim} is not divisible by heads ${config.heads}`);
    const options = { heads: config.heads, conv: 0, rotary: 1, ropeBase: config.ropeBase, normEps: config.normEps };
    this.embed = this.child('embed', new Embedding(config.vocab, config.dim, { init: (s) => truncatedNormal(s, 1 / Math.sqrt(config.dim)) }));
    this.blocks = Array.from({ length: config.layers }, (_, i) => this.child(`blocks.${i}`, new ResidualBlock(config.dim, 'attention', options, config.mlpHidden, BLOCK_NAMES)));
    this.norm = this.child('norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.head = this.child('head', new Linear(config.dim, config.vocab, { bias: false }));
  }

  /** ids [B, T] (i32) -> logits [B, T, vocab]. */
  forward(ids: Tensor): Tensor {
    return scope(() => this.head.forward(this.norm.forward(this.blocks.reduce((h, block) => block.forward(h), this.embed.forward(ids)))));
  }

  /** One KV cache per block, for `length` positions. */
  initialState(batch: number, length: number): MixerState[] {
    return this.blocks.map((b) => b.initialState(batch, length));
  }

  async prefill(ids: Tensor, state: MixerState[]): Promise<Tensor> {
    return scope(() => noGrad(() => lastLogits(this.blocks.reduce((h, block, l) => block.prefill(h, state[l]), this.embed.forward(ids)), this.norm, this.head)));
  }

  decode(ids: Tensor, state: MixerState[]): Tensor {
    return scope(() => noGrad(() => this.head.forward(this.norm.forward(this.blocks.reduce((h, block, l) => block.step(h, state[l]), this.embed.forward(ids))))));
  }
}

/**
 * One training step on a batch: forward, backward, optimiser update. Returns the loss (on the GPU: reading it is
 * the caller's choice); every other tensor of the step is freed.
 */
export function trainStep(model: { loss(ids: Tensor, targets: Tensor): Tensor }, optimizer: Optimizer, batch: { ids: Tensor; targets: Tensor }): Tensor {
  return scope(() => {
    const loss = model.loss(batch.ids, batch.targets);
    loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
    return loss;
  });
}
