// HiSS, hierarchical state-space models for continuous sequence-to-sequence (Bhirangi et al., ICML 2024; design note
// ../shared/design/plstm-hiss.md; tests: test/hiss.test.ts; data: model/data/sensors.ts):
//   x [B, T, C_in] → input projection → chunks of c samples, [B·T/c, c, D] → low stack (any mixers of the table,
//   every chunk in parallel) → each chunk's last output, [B, T/c, D] → high stack (any mixers) → head → [B, T/c, C_out]
// Predictions come at the chunk rate (the target at each chunk's last sample, as the paper samples them) or
// upsampled to every sample: a sample of chunk j reads its own low-level output plus the high level's output for
// chunk j − 1 (what is known causally), so the model still predicts online. 'flat' stacks the same blocks over the
// raw stream (the paper's flat baselines; with attention blocks it is the causal Transformer), same parameters.
// The paper's levels are S4/S5/Mamba-type SSMs; here any mixer of the table serves (they are all causal).

import { concat, Linear, Module, RMSNorm, scope, ShapeError, slice, zeros, type Tensor } from '../engine/index.ts';
import { MIXER_DEFAULTS, ResidualBlock, type MixerKind, type MixerOptions } from './mixers.ts';

export interface HiSSConfig {
  channelsIn: number;
  channelsOut: number;
  dim: number;
  /** Samples per low-level chunk (c). */
  chunk: number;
  lowMixer: MixerKind;
  lowLayers: number;
  highMixer: MixerKind;
  highLayers: number;
  /** 'hiss': low stack within chunks, high stack over chunk features; 'flat': the same blocks over the raw stream. */
  hierarchy: 'hiss' | 'flat';
  /** Predictions at each chunk's last sample, or at every sample. */
  output: 'chunk' | 'upsampled';
  /** SwiGLU width after each mixer (0: none). */
  mlpHidden: number;
  heads: number;
  /** Short causal convolution of the mixers that take one (HGRN, RG-LRU, Mamba-2). */
  conv: number;
  normEps: number;
}

const BLOCK_NAMES = { mixerNorm: 'mixer_norm', mixer: 'mixer', mlpNorm: 'mlp_norm', mlp: 'mlp' };

export function hissMixerOptions(c: HiSSConfig): MixerOptions {
  return { heads: c.heads, conv: c.conv, rotary: 0.5, ropeBase: 10000, normEps: c.normEps, stateSize: MIXER_DEFAULTS.stateSize, window: MIXER_DEFAULTS.window, rnnMethod: MIXER_DEFAULTS.rnnMethod };
}

/** The samples a prediction row stands for: chunk-rate predictions are at samples c−1, 2c−1, … */
export function predictionTimes(config: Pick<HiSSConfig, 'chunk' | 'output'>, length: number): number[] {
  if (config.output === 'upsampled') return Array.from({ length }, (_, t) => t);
  return Array.from({ length: Math.floor(length / config.chunk) }, (_, j) => (j + 1) * config.chunk - 1);
}

export class HiSS extends Module {
  readonly input: Linear;
  readonly low: ResidualBlock[];
  readonly high: ResidualBlock[];
  readonly norm: RMSNorm;
  readonly head: Linear;

  constructor(readonly config: HiSSConfig) {
    super();
    const o = hissMixerOptions(config);
    const block = (kind: MixerKind) => new ResidualBlock(config.dim, kind, o, config.mlpHidden, BLOCK_NAMES);
    this.input = this.child('input', new Linear(config.channelsIn, config.dim));
    this.low = Array.from({ length: config.lowLayers }, (_, i) => this.child(`low.${i}`, block(config.lowMixer)));
    this.high = Array.from({ length: config.highLayers }, (_, i) => this.child(`high.${i}`, block(config.highMixer)));
    this.norm = this.child('norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.head = this.child('head', new Linear(config.dim, config.channelsOut));
  }

  /**
   * x [B, T, C_in] with T a multiple of the chunk → [B, T/c, C_out] (chunk rate) or [B, T, C_out] (upsampled).
   * Every mixer is causal, so a stream padded at its end to whole chunks predicts its real samples unchanged.
   */
  forward(x: Tensor): Tensor {
    const [batch, length, channels] = x.shape;
    const { chunk, dim } = this.config;
    if (channels !== this.config.channelsIn) throw new ShapeError(`HiSS: the stream has ${channels} channels; the model reads ${this.config.channelsIn}`);
    if (length % chunk !== 0 || length === 0) throw new ShapeError(`HiSS: ${length} samples are not whole chunks of ${chunk}`);
    const chunks = length / chunk;
    const stack = (blocks: ResidualBlock[], h: Tensor) => blocks.reduce((y, b) => b.forward(y), h);
    return scope(() => {
      const h = this.input.forward(x);
      const out = (y: Tensor) => this.head.forward(this.norm.forward(y));
      if (this.config.hierarchy === 'flat') {
        const y = stack(this.high, stack(this.low, h));
        return out(this.config.output === 'upsampled' ? y : slice(y, [null, [chunk - 1, length, chunk]]));
      }
      const low = stack(this.low, h.reshape([batch * chunks, chunk, dim]));
      const features = slice(low, [null, chunk - 1]).reshape([batch, chunks, dim]);
      const high = stack(this.high, features);
      if (this.config.output === 'chunk') return out(high);
      // Each chunk's samples read the high level as it stood after the chunk before (zeros for the first).
      const before = chunks === 1 ? zeros([batch, 1, dim]) : concat([zeros([batch, 1, dim]), slice(high, [null, [0, chunks - 1]])], 1);
      return out(low.reshape([batch, chunks, chunk, dim]).add(before.unsqueeze(2)).reshape([batch, length, dim]));
    });
  }
}
