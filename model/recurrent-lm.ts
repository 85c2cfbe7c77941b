// The recurrent byte language model (../shared/design/glr.md, gla.md; tests: test/glr.test.ts, test/kinds.test.ts;
// model kinds hgrn, mingru, hgrn2, gla, retnet, mamba2, gateloop, griffin):
//   embedding -> N x ResidualBlock(mixer, SwiGLU MLP) -> RMSNorm -> head
// The mixer is any recurrent row of the mixer table; Griffin puts local attention in every attentionEvery-th block
// (its 2 : 1 pattern is attentionEvery 3). HGRN's and HGRN2's forget-gate lower bounds are learned per layer:
// γ = cumsum(softmax(Γ over layers)) − softmax(Γ)[0], so layer 0 has γ = 0 (it gets none, as in fla) and upper
// layers remember longer. Decoding is O(1) per byte for the recurrences (model/text-generate.ts).

import { cumsum, Embedding, keep, Linear, noGrad, RMSNorm, scope, softmax, truncatedNormal, zeros, type RnnMethod, type Tensor } from '../engine/index.ts';
import { MIXER_DEFAULTS, ResidualBlock, type MixerKind, type MixerOptions, type MixerState } from './mixers.ts';
import { lastLogits, PlainByteLM, type ByteLM } from './text-model.ts';

/** The mixers a recurrent LM is built of (attention rows are the Transformer's and Griffin's local blocks). */
export const RECURRENT_MIXERS = ['hgrn', 'mingru', 'hgrn2', 'gla', 'retnet', 'mamba2', 'gateloop', 'rglru', 'paragru', 'paralstm'] as const satisfies readonly MixerKind[];
export type RecurrentMixer = (typeof RECURRENT_MIXERS)[number];

/** The mixers whose forget gates take the learned per-layer lower bounds. */
const LOWER_BOUNDED: readonly RecurrentMixer[] = ['hgrn', 'hgrn2'];

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
  /** Heads of the matrix-state mixers, the RG-LRU's gate blocks and local attention (absent: 1). */
  heads?: number;
  /** Mamba-2: the state size N of each head's keys (absent: 16). */
  stateSize?: number;
  /** Griffin: every attentionEvery-th block is local attention (absent or 0: none). */
  attentionEvery?: number;
  /** Griffin: the positions its local attention sees (absent: 64). */
  window?: number;
  /** ParaGRU, ParaLSTM: how the recurrence is solved (absent: 'fused'). */
  rnnMethod?: RnnMethod;
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
    const options = recurrentMixerOptions(config);
    this.embed = this.child('embed', new Embedding(config.vocab, config.dim, { init: (s) => truncatedNormal(s, 1 / Math.sqrt(config.dim)) }));
    this.blocks = Array.from({ length: config.layers }, (_, i) => this.child(`blocks.${i}`, new ResidualBlock(config.dim, blockMixer(config, i), options, config.mlpHidden, BLOCK_NAMES)));
    this.norm = this.child('norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.head = this.child('head', new Linear(config.dim, config.vocab, { bias: false }));
    this.lowerBounds = LOWER_BOUNDED.includes(config.mixer) ? this.parameter('lower_bounds', zeros([config.layers, config.dim])) : null;
  }

  /** γ for every layer, one tensor [dim] each (layer 0: null, its γ is 0); null without lower bounds. */
  private gammas(): (Tensor | null)[] {
    const bounds = this.lowerBounds;
    if (!bounds) return this.blocks.map(() => null);
    return scope(() => {
      const probs = softmax(bounds.T); // [D, L]: softmax over layers
      const shifted = cumsum(probs, -1).sub(probs.slice([null, [0, 1]]));
      return this.blocks.map((_, l) => (l === 0 ? null : shifted.slice([null, l]).reshape([this.config.dim])));
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

  initialState(batch: number, length = 0): RecurrentState {
    return { layers: this.blocks.map((b) => b.initialState(batch, length)), gammas: noGrad(() => this.gammas().map((g) => (g ? keep(g) : null))) };
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

/** The mixer of block `layer`: Griffin's local attention every attentionEvery-th block, the config's mixer elsewhere. */
export function blockMixer(config: RecurrentConfig, layer: number): MixerKind {
  const every = config.attentionEvery ?? 0;
  return every > 0 && (layer + 1) % every === 0 ? 'local-attention' : config.mixer;
}

/** What the mixer rows read of a recurrent LM's config (local attention rotates half its channels, as recurrentgemma). */
export function recurrentMixerOptions(config: RecurrentConfig): MixerOptions {
  return {
    heads: config.heads ?? 1, conv: config.convKernel, rotary: 0.5, ropeBase: 10000, normEps: config.normEps,
    stateSize: config.stateSize ?? MIXER_DEFAULTS.stateSize, window: config.window ?? MIXER_DEFAULTS.window,
    rnnMethod: config.rnnMethod ?? MIXER_DEFAULTS.rnnMethod,
  };
}
