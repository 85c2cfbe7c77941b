// HRM, the Hierarchical Reasoning Model (Wang et al. 2025), and TRM, the Tiny Recursive Model (Jolicoeur-Martineau
// 2025), on one machinery (../shared/design/hrm.md; tests: test/hrm.test.ts; training: model/hrm-train.ts).
//
// Parameter names mirror the official implementation's state dict (models/hrm/hrm_act_v1.py), so a checkpoint
// maps onto it one to one; `officialName` gives the official key of each of ours:
//   ours                                        official (prefix model.inner.)
//   embed_tokens.weight                         embed_tokens.embedding_weight
//   puzzle_emb.weight                           puzzle_emb.weights
//   embed_pos.weight                            embed_pos.embedding_weight   (learned positions only)
//   lm_head.weight, q_head.weight, q_head.bias  the same
//   H_level.layers.{i}.self_attn.qkv_proj.weight, .self_attn.o_proj.weight, .mlp.gate_up_proj.weight,
//   .mlp.down_proj.weight (and L_level.…)      the same
//   H_init, L_init                              the same (buffers)

import {
  HieroError,
  addRmsNorm, concat, embedding, Embedding, full, fusedMap, keep, Linear, Module, noGrad, scope, slice, tensor, truncatedNormal, zeros,
  type FusedMap, type Tensor,
} from '../engine/index.ts';
import { GRID_MIXERS, type Grid, type GridMixer, type GridMixerKind } from './grid-mixers.ts';
import { consume, SwiGLUMLP } from './layers.ts';


/** Halting decisions as 0/1, one kernel each: Q(halt) > 0 (TRM), Q(halt) > Q(continue) (HRM). */
const HALT_TRM = fusedMap('halt', (qHalt) => qHalt.gt(0));
const HALT_HRM = fusedMap('halt', (qHalt, qContinue) => qHalt.gt(qContinue));

export interface HRMConfig {
  /** 'hrm': separate H and L modules; 'trm': one network used for both updates (TRM's recursion schedule). */
  variant: 'hrm' | 'trm';
  vocab: number;
  /** Tokens per example (81 for 9×9 Sudoku). */
  seqLen: number;
  /** Distinct puzzle identifiers; with puzzleEmbedding, one learned prefix row per identifier. */
  puzzleIds: number;
  puzzleEmbedding: boolean;
  /**
   * Each puzzle embedding's width (the official puzzle_emb_ndim; absent: hidden): ceil(width / hidden) prefix
   * positions, the last zero-padded to hidden, as the official code lays them out.
   */
  puzzleEmbeddingWidth?: number;
  hidden: number;
  heads: number;
  /** SwiGLU expansion; inner width = round(expansion·hidden·2/3) rounded up to a multiple of ffnMultiple. */
  expansion: number;
  ffnMultiple: number;
  hLayers: number;
  lLayers: number;
  /** N (HRM) or T (TRM): high-level cycles per segment. */
  hCycles: number;
  /** T (HRM) or n (TRM): low-level steps per high-level cycle. */
  lCycles: number;
  positions: 'rope' | 'learned';
  ropeBase: number;
  normEps: number;
  /** Most segments per example (M_max). */
  haltMaxSteps: number;
  /** Probability of drawing a random minimum number of segments during training (ε). */
  haltExploration: number;
  /**
   * What mixes the cells in each block (a row of model/grid-mixers.ts; absent: attention, the paper's). pLSTM needs
   * the sequence to be a square grid without a puzzle-embedding prefix (Sudoku, mazes).
   */
  mixer?: GridMixerKind;
}

/** The paper's configuration (27M parameters for 9×9 Sudoku). */
export const HRM_PAPER: HRMConfig = {
  variant: 'hrm', vocab: 11, seqLen: 81, puzzleIds: 1, puzzleEmbedding: false, hidden: 512, heads: 8, expansion: 4,
  ffnMultiple: 256, hLayers: 4, lLayers: 4, hCycles: 2, lCycles: 2, positions: 'rope', ropeBase: 10000, normEps: 1e-5,
  haltMaxSteps: 16, haltExploration: 0.1,
};

/** TRM's attention configuration (2 layers, T = 3, n = 6). */
export const TRM_PAPER: HRMConfig = { ...HRM_PAPER, variant: 'trm', hLayers: 0, lLayers: 2, hCycles: 3, lCycles: 6 };

/** Positions before the tokens that hold the puzzle embedding. */
export function puzzlePrefix(config: HRMConfig): number {
  return config.puzzleEmbedding ? Math.ceil((config.puzzleEmbeddingWidth ?? config.hidden) / config.hidden) : 0;
}

export function ffnWidth(config: HRMConfig): number {
  const raw = Math.round((config.expansion * config.hidden * 2) / 3);
  return Math.ceil(raw / config.ffnMultiple) * config.ffnMultiple;
}

/** The official state-dict key of one of our parameter or buffer names. */
export function officialName(name: string): string {
  const renamed = name
    .replace(/^embed_tokens\.weight$/, 'embed_tokens.embedding_weight')
    .replace(/^embed_pos\.weight$/, 'embed_pos.embedding_weight')
    .replace(/^puzzle_emb\.weight$/, 'puzzle_emb.weights');
  return `model.inner.${renamed}`;
}

/** Post-norm block without biases or a learned norm scale: h = rms(h + attn(h)); h = rms(h + mlp(h)). */
class HRMBlock extends Module {
  readonly mixer: GridMixer;
  readonly mlp: SwiGLUMLP;
  private readonly grid: Grid;

  constructor(readonly config: HRMConfig) {
    super();
    const kind = config.mixer ?? 'attention';
    const side = Math.sqrt(config.seqLen);
    this.grid = { width: side, height: side };
    this.mixer = this.child(GRID_MIXERS[kind].name, GRID_MIXERS[kind].build(config.hidden, {
      heads: config.heads, ropeBase: config.positions === 'rope' ? config.ropeBase : null, attentionNames: { qkv: 'qkv_proj', out: 'o_proj' }, normEps: config.normEps,
    }));
    this.mlp = this.child('mlp', new SwiGLUMLP(config.hidden, ffnWidth(config), { gateUp: 'gate_up_proj', down: 'down_proj' }));
  }

  forward(h: Tensor): Tensor {
    // Each residual sum is freed as soon as its norm is taken (the norm keeps its output, not its input, for the
    // backward): a scope would hold them to the block's end, +4 % peak memory for the paper HRM at batch 384.
    const eps = this.config.normEps;
    const residual = (x: Tensor, update: Tensor) => consume(update, (u) => addRmsNorm(x, u, eps));
    const h1 = residual(h, this.mixer.forward(h, this.grid));
    return consume(h1, (x) => residual(x, this.mlp.forward(x)));
  }
}

/** A stack of blocks with the input injected once, by addition: f(z, injection) = blocks(z + injection). */
class ReasoningModule extends Module {
  readonly layers: HRMBlock[];

  constructor(config: HRMConfig, count: number) {
    super();
    this.layers = Array.from({ length: count }, (_, i) => this.child(`layers.${i}`, new HRMBlock(config)));
  }

  forward(z: Tensor, injection: Tensor): Tensor {
    // Each layer's input is freed once the next exists (the graph keeps what backward needs), not at a scope's end.
    return this.layers.reduce((h, layer) => consume(h, (t) => layer.forward(t)), z.add(injection));
  }
}

export interface HRMCarry {
  zH: Tensor; // [B, S, D]
  zL: Tensor; // [B, S, D]
}

export interface SegmentOutput {
  carry: HRMCarry;
  /** [B, seqLen, vocab] */
  logits: Tensor;
  /** [B] */
  qHalt: Tensor;
  /** [B] */
  qContinue: Tensor;
}

export class HRM extends Module {
  readonly embed_tokens: Embedding;
  readonly puzzle_emb: Embedding | null;
  readonly embed_pos: Embedding | null;
  readonly lm_head: Linear;
  readonly q_head: Linear;
  readonly H_level: ReasoningModule | null;
  readonly L_level: ReasoningModule;
  readonly H_init: Tensor;
  readonly L_init: Tensor;
  /** Prefix positions that hold the puzzle embedding (0, or ceil(its width / hidden)). */
  readonly prefix: number;

  constructor(readonly config: HRMConfig) {
    super();
    if (config.hidden % config.heads !== 0) throw new HieroError(`HRM: hidden size ${config.hidden} is not divisible by its ${config.heads} attention heads`);
    const d = config.hidden;
    this.prefix = puzzlePrefix(config);
    this.embed_tokens = this.child('embed_tokens', new Embedding(config.vocab, d, { init: (s) => truncatedNormal(s, 1 / Math.sqrt(d)) }));
    this.puzzle_emb = config.puzzleEmbedding ? this.child('puzzle_emb', new Embedding(config.puzzleIds, config.puzzleEmbeddingWidth ?? d, { init: (s) => full(s, 0) })) : null;
    this.embed_pos = config.positions === 'learned'
      ? this.child('embed_pos', new Embedding(config.seqLen + this.prefix, d, { init: (s) => truncatedNormal(s, 1 / Math.sqrt(d)) }))
      : null;
    this.lm_head = this.child('lm_head', new Linear(d, config.vocab, { bias: false }));
    // Q head starts at (almost) "never halt": zero weights, bias -5.
    this.q_head = this.child('q_head', new Linear(d, 2, { bias: true, init: (s) => full(s, 0) }));
    const bias = tensor([-5, -5]);
    this.q_head.loadStateDict({ weight: this.q_head.weight, bias });
    bias.dispose();
    this.H_level = config.variant === 'hrm' ? this.child('H_level', new ReasoningModule(config, config.hLayers)) : null;
    this.L_level = this.child('L_level', new ReasoningModule(config, config.lLayers));
    this.H_init = this.buffer('H_init', truncatedNormal([d], 1));
    this.L_init = this.buffer('L_init', truncatedNormal([d], 1));
  }

  get seqWithPrefix(): number {
    return this.config.seqLen + this.prefix;
  }

  /** Fresh carries for a batch: the initial states broadcast to every position. */
  initialCarry(batch: number): HRMCarry {
    const shape = [batch, this.seqWithPrefix, this.config.hidden];
    return {
      zH: keep(noGrad(() => this.H_init.expand(shape).contiguous())),
      zL: keep(noGrad(() => this.L_init.expand(shape).contiguous())),
    };
  }

  /** (x + positions) · 1/sqrt(2) · sqrt(D), one kernel forward and one backward. */
  private scaled: FusedMap | null = null;

  /** x̃ = sqrt(D) · [puzzle embedding ; token embeddings] (+ learned positions, scaled by 1/sqrt(2)). */
  inputEmbeddings(inputs: Tensor, puzzleIds: Tensor | null): Tensor {
    const d = this.config.hidden;
    return scope(() => {
      let x = embedding(this.embed_tokens.weight, inputs);
      if (this.puzzle_emb) {
        if (!puzzleIds) throw new HieroError('HRM: this model has puzzle embeddings; pass puzzle identifiers');
        let puzzle = embedding(this.puzzle_emb.weight, puzzleIds); // [B, width]
        const padding = this.prefix * d - puzzle.shape[1];
        if (padding > 0) puzzle = concat([puzzle, zeros([inputs.shape[0], padding])], 1);
        x = concat([puzzle.reshape([inputs.shape[0], this.prefix, d]), x], 1);
      }
      if (this.embed_pos) {
        this.scaled ??= fusedMap('hrm input', (t, pos) => t.add(pos).mul(Math.SQRT1_2).mul(Math.sqrt(d)));
        return this.scaled(x, this.embed_pos.weight);
      }
      return x.mul(Math.sqrt(d));
    });
  }

  private high(zH: Tensor, zL: Tensor): Tensor {
    return (this.H_level ?? this.L_level).forward(zH, zL);
  }

  /**
   * One segment. HRM: N·T − 1 low-level and N − 1 high-level updates without gradient, then one of each with
   * gradient (the one-step gradient approximation). TRM: T − 1 recursions without gradient, then one with
   * gradient through all its n + 1 calls. The returned carry is detached.
   */
  segment(carry: HRMCarry, inputs: Tensor, puzzleIds: Tensor | null): SegmentOutput {
    const { hCycles, lCycles, variant } = this.config;
    return scope(() => {
      const x = this.inputEmbeddings(inputs, puzzleIds);
      const lowStep = (zL: Tensor, zH: Tensor) => scope(() => this.L_level.forward(zL, zH.add(x)));
      // Each update frees the state it replaces at once: a scope alone would hold every cycle's state to the end.
      const replace = (old: Tensor, next: Tensor) => (old.dispose(), next);
      let zH = carry.zH.detach();
      let zL = carry.zL.detach();
      noGrad(() => {
        for (let i = 0; i < hCycles; i++) {
          const lastCycle = i === hCycles - 1;
          if (variant === 'trm' && lastCycle) break;
          for (let j = 0; j < lCycles; j++) {
            if (variant === 'hrm' && lastCycle && j === lCycles - 1) break;
            zL = replace(zL, lowStep(zL, zH));
          }
          if (variant === 'hrm' && lastCycle) break;
          zH = replace(zH, this.high(zH, zL));
        }
      });
      if (variant === 'hrm') {
        zL = replace(zL, lowStep(zL, zH));
      } else {
        for (let j = 0; j < lCycles; j++) zL = replace(zL, lowStep(zL, zH));
      }
      zH = replace(zH, this.high(zH, zL));
      x.dispose();
      const [b, s, d] = zH.shape;
      const logits = this.lm_head.forward(slice(zH, [null, [this.prefix, s], null]));
      const q = this.q_head.forward(slice(zH, [null, 0]).reshape([b, d]));
      const qHalt = slice(q, [null, 0]).reshape([b]);
      const qContinue = slice(q, [null, 1]).reshape([b]);
      return { carry: { zH: keep(zH.detach()), zL: keep(zL.detach()) }, logits, qHalt, qContinue };
    });
  }

  /**
   * The Q head's halting decision per sample (1 = halt), f32 [B]. HRM halts when Q(halt) > Q(continue); TRM, which
   * trains no Q(continue), when Q(halt) > 0 (a sigmoid above one half).
   */
  wantsToHalt(out: Pick<SegmentOutput, 'qHalt' | 'qContinue'>): Tensor {
    return this.config.variant === 'trm' ? HALT_TRM(out.qHalt) : HALT_HRM(out.qHalt, out.qContinue);
  }

  /**
   * Runs up to `segments` segments from fresh states without gradient, one at a time: each yields the logits after
   * it, the Q head's halting decision and its two values (the caller owns and frees them). A caller that reads each
   * segment before asking for the next can stop between any two (solve's cancellation).
   */
  *segmentsFrom(inputs: Tensor, puzzleIds: Tensor | null, segments: number): Generator<{ logits: Tensor; halt: Tensor; qHalt: Tensor; qContinue: Tensor }> {
    let carry = noGrad(() => this.initialCarry(inputs.shape[0]));
    try {
      for (let m = 0; m < segments; m++) {
        const out = scope(() => noGrad(() => {
          const o = this.segment(carry, inputs, puzzleIds);
          return { logits: o.logits, halt: this.wantsToHalt(o), carry: o.carry, qHalt: o.qHalt, qContinue: o.qContinue };
        }));
        carry.zH.dispose();
        carry.zL.dispose();
        carry = out.carry;
        yield { logits: keep(out.logits), halt: keep(out.halt), qHalt: keep(out.qHalt), qContinue: keep(out.qContinue) };
      }
    } finally {
      carry.zH.dispose();
      carry.zL.dispose();
    }
  }

  /**
   * Runs `segments` segments from fresh states without gradient; returns the logits after each, the Q head's
   * halting decision after each, and its two values (evaluation always runs them all; the decisions say where ACT
   * would have stopped).
   */
  evaluate(inputs: Tensor, puzzleIds: Tensor | null, segments: number): { logits: Tensor[]; halts: Tensor[]; qHalt: Tensor[]; qContinue: Tensor[] } {
    const all = { logits: [] as Tensor[], halts: [] as Tensor[], qHalt: [] as Tensor[], qContinue: [] as Tensor[] };
    for (const out of this.segmentsFrom(inputs, puzzleIds, segments)) {
      all.logits.push(out.logits);
      all.halts.push(out.halt);
      all.qHalt.push(out.qHalt);
      all.qContinue.push(out.qContinue);
    }
    return all;
  }
}

/** One line: the architecture and its sizes. */
export function describeHRM(c: HRMConfig, parameters: number): string {
  return `${c.variant.toUpperCase()} hidden ${c.hidden}, ${c.hLayers}+${c.lLayers} layers, N=${c.hCycles} T=${c.lCycles}, up to ${c.haltMaxSteps} segments, ${parameters.toLocaleString('en')} parameters`;
}
