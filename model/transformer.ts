// A small causal Transformer language model over bytes (tests: test/transformer.test.ts):
//   embedding -> N x [x + attn(RMSNorm(x)), x + SwiGLU-MLP(RMSNorm(x))] -> RMSNorm -> head
// Attention uses RoPE on q and k and the fused causal attention kernel; every block is pre-norm residual.

import {
  HieroError,
  crossEntropy, Embedding, Linear, Module, RMSNorm, scope, truncatedNormal, type Optimizer, type Tensor,
} from '../engine/index.ts';
import { consume, FusedSelfAttention, SwiGLUMLP } from './layers.ts';

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


export class TransformerBlock extends Module {
  readonly attnNorm: RMSNorm;
  readonly attn: FusedSelfAttention;
  readonly mlpNorm: RMSNorm;
  readonly mlp: SwiGLUMLP;

  constructor(config: TransformerConfig) {
    super();
    this.attnNorm = this.child('attn_norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.attn = this.child('attn', new FusedSelfAttention({ dim: config.dim, heads: config.heads, causal: true, ropeBase: config.ropeBase }));
    this.mlpNorm = this.child('mlp_norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.mlp = this.child('mlp', new SwiGLUMLP(config.dim, config.mlpHidden));
  }

  forward(x: Tensor): Tensor {
    const a = consume(this.attnNorm.forward(x), (n) => this.attn.forward(n));
    const h = x.add(a);
    a.dispose();
    const m = consume(this.mlpNorm.forward(h), (n) => this.mlp.forward(n));
    const out = h.add(m);
    h.dispose();
    m.dispose();
    return out;
  }
}

export class TransformerLM extends Module {
  readonly embed: Embedding;
  readonly blocks: TransformerBlock[];
  readonly norm: RMSNorm;
  readonly head: Linear;

  constructor(readonly config: TransformerConfig) {
    super();
    if (config.dim % config.heads !== 0) throw new HieroError(`TransformerLM: dim ${config.dim} is not divisible by heads ${config.heads}`);
    this.embed = this.child('embed', new Embedding(config.vocab, config.dim, { init: (s) => truncatedNormal(s, 1 / Math.sqrt(config.dim)) }));
    this.blocks = Array.from({ length: config.layers }, (_, i) => this.child(`blocks.${i}`, new TransformerBlock(config)));
    this.norm = this.child('norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.head = this.child('head', new Linear(config.dim, config.vocab, { bias: false }));
  }

  /** ids [B, T] (i32) -> logits [B, T, vocab]. */
  forward(ids: Tensor): Tensor {
    let x = this.embed.forward(ids);
    for (const block of this.blocks) x = consume(x, (h) => block.forward(h));
    return consume(consume(x, (h) => this.norm.forward(h)), (h) => this.head.forward(h));
  }

  /** Mean next-byte cross-entropy of ids [B, T] against targets [B, T]. */
  loss(ids: Tensor, targets: Tensor): Tensor {
    return consume(this.forward(ids), (logits) => crossEntropy(logits, targets));
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
