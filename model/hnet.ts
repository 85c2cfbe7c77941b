// H-Net, dynamic chunking (Hwang, Wang & Gu 2025; ../shared/design/hnet.md; tests: test/hnet.test.ts; training:
// model/text-session.ts). A byte-level language model whose routing module learns where chunks end, compacts the
// chunks' first bytes for a main network (itself a stage, for two stages), smooths its outputs over chunks with an
// EMA, expands them back to bytes and decodes.
//
// Names follow the official state dict (hnet/models/hnet.py, mixer_seq.py) where there is a counterpart:
//   embeddings.weight, lm_head.weight
//   backbone.encoder.layers.{i}.norm1 / mixer / norm2 / mlp.fc1 / mlp.fc2, backbone.encoder.rmsnorm
//   backbone.routing_module.q_proj_layer.weight, .k_proj_layer.weight        (identity at init)
//   backbone.residual_proj.weight, .bias                                     (weight zero at init)
//   backbone.main_network...                                                 (a nested stage, or the innermost one)
//   backbone.main_network.pad_dimension                                      (a wider stage pads its input)
//   attention mixers: mixer.Wqkv.weight, mixer.out_proj.weight
// Hiero's variant (hnet.md): encoder and decoder layers are gated linear recurrences (HGRN, glr.ts: mixer.input_gates,
// output_gate, out, norm, conv_weight) instead of Mamba-2; the main network is Transformer blocks (or HGRN).

import {
  AbortError, assign, ConfigError, asyncScope, runtime, noGradAsync, boundaryProbability, chunkBoundaries, compact, concat, crossEntropy,
  Embedding, expandChunks, full, HieroError, keep, Linear, Module, noGrad, normal, ratioLoss, RMSNorm, scan, scope,
  slice, straightThrough, tensor, where, zeros, type Chunking, type Tensor,
} from '../engine/index.ts';
import { consume } from './layers.ts';
import { INPUT_LIMITS, lengthProblem } from './options.ts';
import { lastPositions, MIXERS, replaceState, ResidualBlock, type BlockNames, type MixerKind, type MixerOptions, type MixerState } from './mixers.ts';
import type { ByteLM, Prediction, TextLosses } from './text-model.ts';

/** A stack of blocks: encoder, decoder, or main network. */
export interface StackConfig {
  /** The mixer of every block (model/mixers.ts); 'transformer', as checkpoints before the mixer table say, is 'attention'. */
  kind: MixerKind | 'transformer';
  layers: number;
  /** transformer: attention heads (dividing the stage's width). */
  heads: number;
  /** SwiGLU width; 0: the block is its mixer alone (as the official 'm'/'t' layers). */
  mlp: number;
  /** hgrn: kernel of the short causal convolution on the gate inputs (0: none). */
  conv: number;
  /** transformer: fraction of each head's channels RoPE rotates. */
  rotary: number;
  /** mamba2: the state size N (absent: 16). */
  stateSize?: number;
  /** local-attention: the window (absent: 64). */
  window?: number;
}

/** What the mixer rows read of a stack. */
export function stackOptions(stack: StackConfig, ropeBase: number, normEps: number): MixerOptions {
  return { heads: stack.heads, conv: stack.conv, rotary: stack.rotary, ropeBase, normEps, attentionNames: ATTENTION_NAMES, stateSize: stack.stateSize, window: stack.window };
}

/** mamba_ssm's Mamba-2 head dim (the official H-Net's, which its config cannot change). */
export const MAMBA2_HEAD_DIM = 64;

/**
 * A stack with another mixer (hiero train hnet --encoder/--main): its depth, heads and MLP kept, a convolution where
 * the mixer needs one, and Mamba-2 heads of mamba_ssm's 64 channels where the width allows (so that the model maps to
 * the official H-Net: model/official-hnet.ts).
 */
export function withMixer(stack: StackConfig, kind: MixerKind, width: number): StackConfig {
  const needsConv = kind === 'mamba2' || kind === 'rglru';
  const mambaHeads = (2 * width) / MAMBA2_HEAD_DIM;
  const heads = kind === 'mamba2' && Number.isInteger(mambaHeads) ? mambaHeads : stack.heads;
  return { ...stack, kind, heads, conv: needsConv && stack.conv < 2 ? 4 : stack.conv };
}

export interface HNetConfig {
  /** Width of each stage, outermost first; the last is the innermost main network's. Never shrinking with depth. */
  widths: number[];
  /** One per chunking stage (widths.length - 1), outermost first. */
  encoders: StackConfig[];
  decoders: StackConfig[];
  /** The innermost main network. */
  main: StackConfig;
  /** Target bytes (outer chunks) per chunk, N, per chunking stage: every one greater than 1. */
  ratios: number[];
  /** Learning-rate multiplier per stage, outermost first (the official code uses about 2.0, 1.5, 1.0). */
  lrMultipliers: number[];
  /** Weight of the ratio losses, α. */
  alpha: number;
  normEps: number;
  ropeBase: number;
  /** Std of the linear layers' initial weights (official: 0.02 at width 1024; smaller models want more). */
  initRange: number;
}

const HGRN = (layers: number): StackConfig => ({ kind: 'hgrn', layers, heads: 1, mlp: 0, conv: 4, rotary: 1 });
const TRANSFORMER = (layers: number, heads: number, mlp: number): StackConfig => ({ kind: 'attention', layers, heads, mlp, conv: 0, rotary: 0.5 });

/** Presets: 'tiny' learns on a CPU driver in minutes; 'small' and 'small-2stage' are sized for a GPU. */
export const HNET_PRESETS = {
  // α = 0.3: a model this small lets the cross-entropy pull its chunks down to ~2.5 bytes at the paper's 0.03-0.1
  // (measured on SwiftShader, 40 steps of 8 x 128 bytes: 2.2 at 0.03, 2.5 at 0.1, 3.3 at 0.3, for the same bits/byte).
  tiny: {
    widths: [64, 96], encoders: [HGRN(1)], decoders: [HGRN(1)], main: TRANSFORMER(2, 4, 256), ratios: [4], lrMultipliers: [2, 1],
    alpha: 0.3, normEps: 1e-5, ropeBase: 10000, initRange: 0.08,
  },
  // α = 0.05, as a 17M-parameter reproduction found better than the paper's 0.03 (hnet.md). Not yet run on a GPU.
  small: {
    widths: [256, 384], encoders: [HGRN(2)], decoders: [HGRN(2)], main: TRANSFORMER(8, 6, 1024), ratios: [6], lrMultipliers: [2, 1],
    alpha: 0.05, normEps: 1e-5, ropeBase: 10000, initRange: 0.04,
  },
  'small-2stage': {
    widths: [192, 256, 384], encoders: [HGRN(2), HGRN(1)], decoders: [HGRN(2), HGRN(1)], main: TRANSFORMER(6, 6, 1024),
    ratios: [3, 3], lrMultipliers: [2, 1.5, 1], alpha: 0.05, normEps: 1e-5, ropeBase: 10000, initRange: 0.04,
  },
} satisfies Record<string, HNetConfig>;

export type HNetPreset = keyof typeof HNET_PRESETS;

/** Named errors for a config that cannot work (before any tensor is made). */
export function validateHNetConfig(c: HNetConfig): HNetConfig {
  const fail = (message: string): never => {
    throw new ConfigError(`H-Net config: ${message}`);
  };
  if (!c || typeof c !== 'object') fail(`expected an object, got ${JSON.stringify(c)}`);
  for (const field of ['widths', 'encoders', 'decoders', 'ratios', 'lrMultipliers'] as const) if (!Array.isArray(c[field])) fail(`${field} must be a list`);
  if (!c.main || typeof c.main !== 'object') fail('main must describe the main network');
  const stages = c.widths.length;
  if (stages < 2) fail(`needs at least two widths (a chunking stage and a main network), got ${stages}`);
  c.widths.forEach((w, i) => {
    if (!Number.isInteger(w) || w < 2) fail(`width ${i} must be a whole number >= 2, got ${w}`);
    if (i > 0 && w < c.widths[i - 1]) fail(`widths must not shrink with depth: stage ${i - 1} is ${c.widths[i - 1]} wide, stage ${i} ${w}`);
  });
  if (c.encoders.length !== stages - 1 || c.decoders.length !== stages - 1) fail(`needs ${stages - 1} encoder and decoder stacks for ${stages} widths`);
  if (c.ratios.length !== stages - 1) fail(`needs ${stages - 1} target ratios for ${stages} widths, got ${c.ratios.length}`);
  c.ratios.forEach((n, i) => {
    if (!(n > 1)) fail(`the target ratio of stage ${i} must be greater than 1 (bytes per chunk), got ${n}`);
  });
  if (c.lrMultipliers.length !== stages) fail(`needs ${stages} learning-rate multipliers, got ${c.lrMultipliers.length}`);
  const stacks: [StackConfig, number, string][] = [
    ...c.encoders.map((s, i) => [s, c.widths[i], `encoder ${i}`] as [StackConfig, number, string]),
    ...c.decoders.map((s, i) => [s, c.widths[i], `decoder ${i}`] as [StackConfig, number, string]),
    [c.main, c.widths[stages - 1], 'main network'],
  ];
  for (const [s, width, name] of stacks) {
    if (!Number.isInteger(s.layers) || s.layers < 0) fail(`${name}: layers must be a whole number >= 0, got ${s.layers}`);
    const kind = mixerOf(s);
    if (!(kind in MIXERS)) fail(`${name}: unknown mixer '${s.kind}' (${Object.keys(MIXERS).join(', ')})`);
    const problem = MIXERS[kind].check(width, stackOptions(s, c.ropeBase, c.normEps));
    if (problem) fail(`${name}: ${problem}`);
  }
  if (!(c.alpha >= 0)) fail(`alpha must be >= 0, got ${c.alpha}`);
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Blocks and stacks

export function mixerOf(stack: StackConfig): MixerKind {
  return stack.kind === 'transformer' ? 'attention' : stack.kind;
}

/** H-Net's block names are the official Block's: norm1, mixer, norm2, mlp.fc1 ([up | gate]) and mlp.fc2. */
const BLOCK_NAMES: BlockNames = { mixerNorm: 'norm1', mixer: 'mixer', mlpNorm: 'norm2', mlp: 'mlp', mlpParts: { gateUp: 'fc1', down: 'fc2' }, upFirst: true };
const ATTENTION_NAMES = { qkv: 'Wqkv', out: 'out_proj' };

/** A stack of residual blocks ending with an RMSNorm (official Isotropic). */
class Isotropic extends Module {
  readonly layers: ResidualBlock[];
  readonly rmsnorm: RMSNorm;

  constructor(width: number, stack: StackConfig, eps: number, ropeBase: number) {
    super();
    const options = stackOptions(stack, ropeBase, eps);
    this.layers = Array.from({ length: stack.layers }, (_, i) => this.child(`layers.${i}`, new ResidualBlock(width, mixerOf(stack), options, stack.mlp, BLOCK_NAMES)));
    this.rmsnorm = this.child('rmsnorm', new RMSNorm(width, { eps }));
  }

  /** With `prefill`, each layer also leaves its decoding state as stepping through x would (model/mixer.ts). */
  forward(x: Tensor, prefill?: { states: MixerState[]; lengths: Tensor | null }): Tensor {
    return scope(() => this.rmsnorm.forward(this.layers.reduce((h, layer, i) => (prefill ? layer.prefill(h, prefill.states[i], { lengths: prefill.lengths }) : layer.forward(h)), x)));
  }

  initialState(batch: number, length: number): MixerState[] {
    return this.layers.map((l) => l.initialState(batch, length));
  }

  /** Rows where `active` (f32 [B]) is 0 keep their state. */
  step(x: Tensor, states: MixerState[], active: Tensor): Tensor {
    return scope(() => this.rmsnorm.forward(this.layers.reduce((h, layer, i) => layer.step(h, states[i], { active }), x)));
  }
}

class RoutingModule extends Module {
  readonly q_proj_layer: Linear;
  readonly k_proj_layer: Linear;

  constructor(width: number) {
    super();
    const eye = () => tensor(Float32Array.from({ length: width * width }, (_, i) => (Math.floor(i / width) === i % width ? 1 : 0)), [width, width]);
    this.q_proj_layer = this.child('q_proj_layer', new Linear(width, width, { bias: false, init: eye }));
    this.k_proj_layer = this.child('k_proj_layer', new Linear(width, width, { bias: false, init: eye }));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Stages

/** What one chunking stage decided, for the losses and for seeing the chunks. */
export interface Route {
  /** Boundary probabilities [B, L] over the stage's input positions. */
  p: Tensor;
  chunks: Chunking;
  /** u32 [B, L]: the stage's valid input positions (null: all). */
  valid: Tensor | null;
  /** The stage's target ratio N. */
  target: number;
}

export interface StageState {
  encoder?: MixerState[];
  decoder?: MixerState[];
  main?: StageState | MixerState[];
  /** The router's previous hidden state [B, W], and whether a row has seen a position yet (f32 [B]). */
  last?: Tensor;
  seen?: Tensor;
  /** The EMA's last smoothed value [B, W]. */
  smoothed?: Tensor;
}

export class HNetStage extends Module {
  readonly width: number;
  readonly innermost: boolean;
  readonly pad_dimension: Tensor | null;
  readonly encoder: Isotropic | null;
  readonly routing_module: RoutingModule | null;
  readonly residual_proj: Linear | null;
  readonly main_network: HNetStage | Isotropic;
  readonly decoder: Isotropic | null;

  constructor(readonly config: HNetConfig, readonly stage: number, parentWidth: number) {
    super();
    this.width = config.widths[stage];
    this.innermost = stage === config.widths.length - 1;
    const pad = this.width - parentWidth;
    this.pad_dimension = stage > 0 && pad > 0 ? this.parameter('pad_dimension', zeros([pad])) : null;
    const { normEps: eps, ropeBase } = config;
    if (this.innermost) {
      this.encoder = this.decoder = null;
      this.routing_module = null;
      this.residual_proj = null;
      this.main_network = this.child('main_network', new Isotropic(this.width, config.main, eps, ropeBase));
      return;
    }
    this.encoder = this.child('encoder', new Isotropic(this.width, config.encoders[stage], eps, ropeBase));
    this.routing_module = this.child('routing_module', new RoutingModule(this.width));
    this.residual_proj = this.child('residual_proj', new Linear(this.width, this.width, { bias: true, init: (s) => zeros(s) }));
    this.main_network = this.child('main_network', new HNetStage(config, stage + 1, this.width));
    this.decoder = this.child('decoder', new Isotropic(this.width, config.decoders[stage], eps, ropeBase));
  }

  /** x [..., D] -> [..., width]: the learned padding of a wider stage. */
  private pad(x: Tensor): Tensor {
    // Always a new handle, so the caller may free it whether or not it was padded.
    if (!this.pad_dimension) return x.reshape(x.shape);
    const lead = x.shape.slice(0, -1);
    const expanded = this.pad_dimension.expand([...lead, this.pad_dimension.shape[0]]);
    const out = concat([x, expanded], x.rank - 1);
    expanded.dispose();
    return out;
  }

  private narrow(x: Tensor, width: number): Tensor {
    if (x.shape[x.rank - 1] === width) return x;
    const out = slice(x, x.shape.map((_, i) => (i === x.rank - 1 ? [0, width] as [number, number] : null)));
    x.dispose();
    return out;
  }

  /**
   * x [B, L, D] (valid positions: u32 [B, L] or null) -> [B, L, D] and this stage's and inner stages' routes. With
   * `prefill` (a fresh decoding state, and each row's real positions: null for all L), the state is left as stepping
   * through x would leave it: a prompt read in one pass.
   */
  async forward(x: Tensor, valid: Tensor | null, prefill?: { state: StageState; lengths: Tensor | null }): Promise<{ out: Tensor; routes: Route[] }> {
    const width = x.shape[2];
    const state = prefill?.state;
    const lengths = prefill?.lengths ?? null;
    const h = this.pad(x);
    if (this.innermost) {
      return { out: this.narrow(consume(h, (t) => (this.main_network as Isotropic).forward(t, state && { states: state.main as MixerState[], lengths })), width), routes: [] };
    }
    const encoded = consume(h, (t) => this.encoder!.forward(t, state && { states: state.encoder!, lengths }));
    if (state) {
      replaceState(state as MixerState, 'last', lastPositions(encoded, lengths));
      replaceState(state as MixerState, 'seen', full([x.shape[0]], 1)); // every row has at least one position
    }
    const residual = this.residual_proj!.forward(encoded);
    const q = this.routing_module!.q_proj_layer.forward(encoded);
    const k = this.routing_module!.k_proj_layer.forward(encoded);
    const p = boundaryProbability(q, k);
    q.dispose();
    k.dispose();
    const chunks = await chunkBoundaries(p, valid);
    const compacted = compact(encoded, chunks);
    encoded.dispose();
    const chunkLengths = state ? tensor(Int32Array.from(chunks.counts), [chunks.batch], { dtype: 'i32' }) : null;
    const inner = await (this.main_network as HNetStage).forward(compacted, chunks.valid, state && { state: state.main as StageState, lengths: chunkLengths });
    compacted.dispose();
    // The EMA over chunks: z̄_j = P_j ẑ_j + (1 - P_j) z̄_{j-1}, P_j the (clamped) probability that opened chunk j.
    const opened = compact(p, chunks);
    const P = opened.clamp(1e-4, 1 - 1e-4);
    opened.dispose();
    const gate = P.neg().add(1);
    const input = inner.out.mul(P.unsqueeze(-1));
    inner.out.dispose();
    const smoothed = scan(gate, input);
    for (const t of [gate, input, P]) t.dispose();
    if (state) {
      replaceState(state as MixerState, 'smoothed', lastPositions(smoothed, chunkLengths));
      chunkLengths!.dispose();
    }
    const expanded = consume(smoothed, (t) => expandChunks(t, chunks));
    // z = z̃ · STE(c) + r, with c the confidence in the decision taken: p where a chunk opened, 1 - p elsewhere.
    const confidence = noGrad(() => chunks.mask.astype('f32'));
    const c = where(confidence, p, p.neg().add(1));
    confidence.dispose();
    const ste = consume(straightThrough(c), (t) => t.unsqueeze(-1));
    c.dispose();
    const z = consume(expanded.mul(ste), (t) => t.add(residual));
    for (const t of [expanded, ste, residual]) t.dispose();
    const out = this.narrow(consume(z, (t) => this.decoder!.forward(t, state && { states: state.decoder!, lengths })), width);
    return { out, routes: [{ p, chunks, valid, target: this.config.ratios[this.stage] }, ...inner.routes] };
  }

  initialState(batch: number, length: number): StageState {
    if (this.innermost) return { main: (this.main_network as Isotropic).initialState(batch, length) };
    return {
      encoder: this.encoder!.initialState(batch, length),
      decoder: this.decoder!.initialState(batch, length),
      main: (this.main_network as HNetStage).initialState(batch, length),
      last: keep(zeros([batch, this.width])),
      seen: keep(zeros([batch])),
      smoothed: keep(zeros([batch, this.width])),
    };
  }

  /**
   * One position per row, x [B, D]; rows where `active` (f32 [B]) is 0 leave their state untouched. The main network
   * steps only for rows where a chunk opens: the state of every inner part advances exactly as the full sequence's
   * forward would have it. Returns [B, D] (meaningless for inactive rows) and this position's boundary decisions.
   */
  step(x: Tensor, state: StageState, active: Tensor): { out: Tensor; boundaries: Tensor[] } {
    const width = x.shape[1];
    return scope(() => {
      const h = this.pad(x);
      if (this.innermost) return { out: this.narrow((this.main_network as Isotropic).step(h, state.main as MixerState[], active), width), boundaries: [] };
      const encoded = this.encoder!.step(h, state.encoder!, active);
      const residual = this.residual_proj!.forward(encoded);
      const batch = encoded.shape[0];
      // p from the cosine of q(previous) and k(this): the router's pair, as a two-position sequence.
      const pair = concat([state.last!.unsqueeze(1), encoded.unsqueeze(1)], 1);
      const probability = boundaryProbability(this.routing_module!.q_proj_layer.forward(pair), this.routing_module!.k_proj_layer.forward(pair)).slice([null, 1]).reshape([batch]);
      const p = where(state.seen!, probability, 1); // a row's first position always opens a chunk
      const opens = keep(p.gt(0.5).astype('f32').mul(active));
      const inner = (this.main_network as HNetStage).step(encoded, state.main as StageState, opens);
      const P = p.clamp(1e-4, 1 - 1e-4).reshape([batch, 1]);
      const blended = inner.out.mul(P).add(state.smoothed!.mul(P.neg().add(1)));
      replaceState(state as MixerState, 'smoothed', where(opens.reshape([batch, 1]), blended, state.smoothed!));
      // STE(c) is 1 going forward: z = z̄ + r.
      const out = this.decoder!.step(state.smoothed!.add(residual), state.decoder!, active);
      replaceState(state as MixerState, 'last', where(active.reshape([batch, 1]), encoded, state.last!));
      replaceState(state as MixerState, 'seen', state.seen!.maximum(active));
      return { out: this.narrow(out, width), boundaries: [opens, ...inner.boundaries] };
    });
  }
}

/** The forward pass's outputs: logits and every stage's routing. */
export interface HNetOutput {
  logits: Tensor;
  routes: Route[];
}

/** CE + α Σ ratio losses (what training minimises), the CE, Σ ratio losses, and each stage's chunks per row. */
export interface HNetLosses extends TextLosses {
  ratio: Tensor;
}

export class HNetLM extends Module implements ByteLM {
  readonly embeddings: Embedding;
  readonly backbone: HNetStage;
  readonly lm_head: Linear;

  constructor(readonly config: HNetConfig) {
    super();
    validateHNetConfig(config);
    const w = config.widths[0];
    this.embeddings = this.child('embeddings', new Embedding(256, w, { init: (s) => normal(s, 1) }));
    this.backbone = this.child('backbone', new HNetStage(config, 0, w));
    this.lm_head = this.child('lm_head', new Linear(w, 256, { bias: false, init: (s) => normal(s, config.initRange) }));
    this.initWeights();
  }

  /**
   * The official initialisation: every linear layer N(0, initRange), output projections (out, out_proj, fc2) scaled by
   * 1/sqrt of the residual updates above them; the router stays the identity and the residual projection zero.
   */
  private initWeights(): void {
    const depth = (s: StackConfig) => s.layers * (s.mlp > 0 ? 2 : 1);
    let residuals = 0;
    for (let i = 0; i < this.config.widths.length - 1; i++) residuals += depth(this.config.encoders[i]) + depth(this.config.decoders[i]);
    residuals += depth(this.config.main);
    noGrad(() => {
      for (const [name, p] of this.namedParameters()) {
        if (!/\.(encoder|decoder|main_network)\./.test(`.${name}`) || /routing_module|residual_proj|pad_dimension/.test(name)) continue;
        if (!name.endsWith('.weight') || p.rank !== 2) continue;
        const output = /\.(out|out_proj|fc2)\.weight$/.test(name);
        const std = this.config.initRange / (output ? Math.sqrt(Math.max(1, residuals)) : 1);
        const fresh = normal(p.shape as number[], std);
        assign(p, fresh);
        fresh.dispose();
      }
    });
  }

  /** ids [B, T] (i32) -> logits [B, T, 256] and the routes. Reads one count per chunking stage back. */
  async forward(ids: Tensor): Promise<HNetOutput> {
    const x = this.embeddings.forward(ids);
    const { out, routes } = await this.backbone.forward(x, null);
    x.dispose();
    return { logits: consume(out, (t) => this.lm_head.forward(t)), routes };
  }

  /** The multiplier of the stage a parameter belongs to (one more `main_network.` per stage inwards). */
  learningRateMultiplier(parameterName: string): number {
    const stage = (parameterName.match(/main_network\./g) ?? []).length;
    return this.config.lrMultipliers[Math.min(stage, this.config.widths.length - 1)];
  }

  async predict(ids: Tensor): Promise<Prediction> {
    const { logits, routes } = await this.forward(ids);
    const boundaries = await boundaryPositions(routes, ids.shape[0]);
    for (const r of routes) {
      r.chunks.dispose();
      r.p.dispose();
    }
    return { logits, boundaries };
  }

  async prefill(ids: Tensor, state: StageState): Promise<Tensor> {
    return noGradAsync(() => asyncScope(async () => {
      const [batch, steps] = ids.shape;
      const { out, routes } = await this.backbone.forward(this.embeddings.forward(ids), null, { state, lengths: null });
      for (const r of routes) r.chunks.dispose();
      return this.lm_head.forward(slice(out, [null, steps - 1]).reshape([batch, out.shape[2]]));
    }));
  }

  decode(ids: Tensor, state: StageState): Tensor {
    const { logits, boundaries } = this.step(ids, state);
    boundaries.forEach((b) => b.dispose());
    return logits;
  }

  /** Next-byte cross-entropy of ids [B, T] against targets [B, T], plus α Σ ratio losses. */
  async losses(ids: Tensor, targets: Tensor): Promise<HNetLosses> {
    return asyncScope(async () => {
      const { logits, routes } = await this.forward(ids);
      const ce = crossEntropyOf(logits, targets);
      let ratio = full([], 0);
      for (const r of routes) ratio = consume(ratio, (t) => t.add(ratioLoss(r.p, r.chunks, r.target, r.valid)));
      const loss = ce.add(ratio.mul(this.config.alpha));
      const counts = routes.map((r) => r.chunks.counts);
      for (const r of routes) r.chunks.dispose();
      return { loss, ce, ratio, counts };
    });
  }

  /** The decoding state of a batch of `batch` rows that will see at most `length` positions. */
  initialState(batch: number, length: number): StageState {
    return this.backbone.initialState(batch, length);
  }

  /** One byte per row, ids [B] (i32) -> logits [B, 256], and where chunks opened at each stage (f32 [B] each). */
  step(ids: Tensor, state: StageState): { logits: Tensor; boundaries: Tensor[] } {
    return scope(() => noGrad(() => {
      const { out, boundaries } = this.backbone.step(this.embeddings.forward(ids), state, full([ids.shape[0]], 1));
      return { logits: this.lm_head.forward(out), boundaries };
    }));
  }
}

function crossEntropyOf(logits: Tensor, targets: Tensor): Tensor {
  return crossEntropy(logits, targets);
}

// ---------------------------------------------------------------------------------------------------------------
// Seeing the chunks

/** Byte positions where each stage's chunks start, per row: stage k's positions mapped through the earlier stages. */
export async function boundaryPositions(routes: Route[], batch: number): Promise<number[][][]> {
  const stages: number[][][] = [];
  let outer: number[][] | null = null; // per row: byte position of each of the previous stage's chunks
  for (const route of routes) {
    const length = route.chunks.steps;
    const mask = await route.chunks.mask.toArray();
    const rows: number[][] = [];
    for (let b = 0; b < batch; b++) {
      const positions: number[] = [];
      for (let j = 0; j < length; j++) {
        if (!mask[b * length + j]) continue;
        positions.push(outer ? outer[b][j] : j);
      }
      rows.push(positions);
    }
    stages.push(rows);
    outer = rows;
  }
  return stages;
}

export interface ChunkedText {
  text: string;
  /** Per stage, the byte offsets where its chunks start. */
  boundaries: number[][];
  /** Per stage-1 position, the boundary probability. */
  probabilities: number[];
}

/** Bytes a chunks window decides boundaries for, and the bytes of context read before it (their decisions dropped). */
export const CHUNK_WINDOW = { bytes: 1024, context: 64 };

/**
 * Each stage's chunk starts in `text` (bytes), and stage 1's boundary probabilities. Long texts are read in windows
 * of CHUNK_WINDOW.bytes, each after CHUNK_WINDOW.context bytes of the text before it (so no window opens a chunk
 * only because it starts): the cost is linear in the length, where one pass over everything is quadratic in the main
 * network's attention. Windows of one length run as one batch, a few at a time; `cancelled` is checked between.
 */
export async function chunkText(model: HNetLM, text: string, options: { cancelled?: () => boolean } = {}): Promise<ChunkedText> {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length === 0) throw new HieroError('chunks: the text is empty');
  const tooLong = lengthProblem('chunks: the text', bytes.length, INPUT_LIMITS.chunkBytes, 'bytes');
  if (tooLong) throw new HieroError(tooLong);
  const { bytes: size, context } = CHUNK_WINDOW;
  const windows = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => {
    const start = i * size;
    return { from: Math.max(0, start - context), start, end: Math.min(bytes.length, start + size) };
  });
  const stages = model.config.widths.length - 1;
  const boundaries: number[][] = Array.from({ length: stages }, () => []);
  const probabilities = new Array<number>(bytes.length).fill(0);
  const byLength = new Map<number, typeof windows>();
  for (const w of windows) byLength.set(w.end - w.from, [...(byLength.get(w.end - w.from) ?? []), w]);
  // Windows per pass: one on a CPU driver, where a pass of 1 KiB of the tiny H-Net takes about a second (measured on
  // SwiftShader), so that a cancelled request stops within a second; eight elsewhere, to batch them (how long a pass
  // takes on a GPU is unmeasured: no GPU was lent to the session that wrote this).
  const GROUP = runtime().report.software ? 1 : 8;
  let read = 0;
  for (const [length, group] of byLength) {
    for (let g = 0; g < group.length; g += GROUP) {
      if (options.cancelled?.()) throw new AbortError(`chunks: cancelled after ${read} of ${windows.length} windows`);
      const part = group.slice(g, g + GROUP);
      read += part.length;
      await noGradAsync(() => asyncScope(async () => {
        const ids = tensor(Int32Array.from(part.flatMap((w) => [...bytes.subarray(w.from, w.end)])), [part.length, length], { dtype: 'i32' });
        const { routes } = await model.forward(ids);
        const positions = await boundaryPositions(routes, part.length);
        const p = await routes[0].p.toArray();
        for (const r of routes) r.chunks.dispose();
        part.forEach((w, row) => {
          positions.forEach((stage, k) => boundaries[k].push(...stage[row].map((t) => w.from + t).filter((t) => t >= w.start && t < w.end)));
          for (let t = w.start; t < w.end; t++) probabilities[t] = p[row * length + (t - w.from)];
        });
      }));
    }
  }
  for (const stage of boundaries) stage.sort((x, y) => x - y);
  return { text, boundaries, probabilities };
}

/** The text with boundaries marked: '|' before a stage-1 chunk, '‖' before a stage-2 one (byte offsets). */
export function markChunks(chunked: ChunkedText): string {
  const bytes = new TextEncoder().encode(chunked.text);
  const stage1 = new Set(chunked.boundaries[0] ?? []);
  const stage2 = new Set(chunked.boundaries[1] ?? []);
  const parts: string[] = [];
  let from = 0;
  const decoder = new TextDecoder();
  for (let t = 1; t <= bytes.length; t++) {
    if (t === bytes.length || stage1.has(t) || stage2.has(t)) {
      parts.push(decoder.decode(bytes.subarray(from, t)));
      if (t < bytes.length) parts.push(stage2.has(t) ? '‖' : '|');
      from = t;
    }
  }
  return parts.join('');
}

