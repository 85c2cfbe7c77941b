// The recurrent byte language model (../shared/design/glr.md; tests: test/glr.test.ts; model kinds hgrn and mingru):
//   embedding -> N x ResidualBlock(mixer: HGRN or minGRU, SwiGLU MLP) -> RMSNorm -> head
// HGRN's forget-gate lower bounds are learned per layer: γ = cumsum(softmax(Γ over layers)) − softmax(Γ)[0], so
// layer 0 has γ = 0 and upper layers remember longer. Decoding is O(1) per byte (model/text-generate.ts).

import { cumsum, Embedding, keep, Linear, noGrad, RMSNorm, scope, softmax, truncatedNormal, zeros, type Tensor } from '../engine/index.ts';
import { ResidualBlock, type MixerState } from './mixers.ts';
import { lastLogits, PlainByteLM, type ByteLM } from './text-model.ts';

export type RecurrentMixer = 'hgrn' | 'mingru';

export interface RecurrentConfig {
  vocab: number;
  dim: number;
  layers: number;
  mixer: RecurrentMixer;
  /** Kernel of the short causal depthwise convolution in front of HGRN's gates (0: none). */
  convKernel: number;
  /** Hidden width of the SwiGLU MLP after each mixer (0: no MLP). */
  mlpHidden: number;
  normEps: number;
}

export const TINY_RECURRENT: RecurrentConfig = { vocab: 256, dim: 64, layers: 2, mixer: 'hgrn', convKernel: 4, mlpHidden: 128, normEps: 1e-6 };

const BLOCK_NAMES = { mixerNorm: 'mixer_norm', mixer: 'mixer', mlpNorm: 'mlp_norm', mlp: 'mlp' };

/** What decoding carries from byte to byte: each layer's mixer state, and the lower bounds computed once. */
export interface RecurrentState {
  layers: MixerState[];
  gammas: (Tensor | null)[];
}

export class RecurrentLM extends PlainByteLM implements ByteLM {
  readonly embed: Embedding;
  readonly blocks: ResidualBlock[];
  readonly norm: RMSNorm;
  readonly head: Linear;
  /** Γ [layers, dim]: HGRN's learned lower bounds, before softmax over layers. */
  readonly lowerBounds: Tensor | null;

  constructor(readonly config: RecurrentConfig) {
    super();
    const options = { heads: 1, conv: config.convKernel, rotary: 0, ropeBase: 10000, normEps: config.normEps };
    this.embed = this.child('embed', new Embedding(config.vocab, config.dim, { init: (s) => truncatedNormal(s, 1 / Math.sqrt(config.dim)) }));
    this.blocks = Array.from({ length: config.layers }, (_, i) => this.child(`blocks.${i}`, new ResidualBlock(config.dim, config.mixer, options, config.mlpHidden, BLOCK_NAMES)));
    this.norm = this.child('norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.head = this.child('head', new Linear(config.dim, config.vocab, { bias: false }));
    this.lowerBounds = config.mixer === 'hgrn' ? this.parameter('lower_bounds', zeros([config.layers, config.dim])) : null;
  }

  /** γ for every layer, one tensor [dim] each (layer 0 is all zeros); null without lower bounds. */
  private gammas(): (Tensor | null)[] {
    const bounds = this.lowerBounds;
    if (!bounds) return this.blocks.map(() => null);
    return scope(() => {
      const probs = softmax(bounds.T); // [D, L]: softmax over layers
      const shifted = cumsum(probs, -1).sub(probs.slice([null, [0, 1]]));
      return this.blocks.map((_, l) => shifted.slice([null, l]).reshape([this.config.dim]));
    });
  }

  /** ids [B, T] (i32) -> logits [B, T, vocab]. */
  forward(ids: Tensor): Tensor {
    return scope(() => {
      const gammas = this.gammas();
      const x = this.blocks.reduce((h, block, l) => block.forward(h, { lowerBound: gammas[l] }), this.embed.forward(ids));
      return this.head.forward(this.norm.forward(x));
    });
  }

  initialState(batch: number): RecurrentState {
    return { layers: this.blocks.map((b) => b.initialState(batch, 0)), gammas: noGrad(() => this.gammas().map((g) => keep(g))) };
  }

  async prefill(ids: Tensor, state: RecurrentState): Promise<Tensor> {
    return scope(() => noGrad(() => {
      const x = this.blocks.reduce((h, block, l) => block.prefill(h, state.layers[l], { lowerBound: state.gammas[l] }), this.embed.forward(ids));
      return lastLogits(x, this.norm, this.head);
    }));
  }

  /** One byte per row, ids [B] (i32) -> logits [B, vocab]; advances `state` (no recomputation of the prefix). */
  decode(ids: Tensor, state: RecurrentState): Tensor {
    return scope(() => noGrad(() => {
      const x = this.blocks.reduce((h, block, l) => block.step(h, state.layers[l], { lowerBound: state.gammas[l] }), this.embed.forward(ids));
      return this.head.forward(this.norm.forward(x));
    }));
  }
}
