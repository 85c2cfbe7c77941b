// H-Net between Hiero and the official code (goombalab/hnet at 3673fe1: a torch.save state dict and the JSON config
// generate.py's load_from_pretrained reads; tests: test/official-checkpoints.test.ts). Hiero's H-Net already carries
// the official names (model/hnet.ts), so where the architectures agree the map is the layout itself:
//   arch_layout ["m4", ["T22"], "m4"]     encoder / main network / decoder per stage; a letter per stack: m Mamba-2,
//                                          t attention; upper case adds a SwiGLU MLP of d_intermediate[stage]
//   d_model[s]                             widths[s]
//   ssm_cfg {d_state, d_conv, expand}      a mamba2 stack's stateSize, conv (expand 2 only); head dim 64 (mamba_ssm's
//                                          default: the official SSMConfig has no field for it), one group
//   attn_cfg {num_heads, rotary_emb_dim,   an attention stack's heads, rotary fraction (rotary_emb_dim / head dim),
//             window_size}[s]              window_size -1: global ('attention'); w >= 0: 'local-attention' seeing w + 1
//   *.mixer.conv1d.weight [C, 1, K]        Hiero's [C, K]
//   *.mlp.fc1 / fc2                        the same ([up | gate], as flash-attn's swiglu(gate, y)); the official width is
//                                          d_intermediate rounded up to 128, zero-padded on export (silu(0)·0 = 0)
// Everything else (embeddings, routing_module, residual_proj with its bias, pad_dimension, norms, Wqkv, out_proj,
// Mamba-2's in_proj, dt_bias, A_log, D, norm, out_proj, lm_head) has the same name and shape on both sides.
// What does not map is named: Hiero's HGRN and other recurrent stacks (the official code has Mamba-2 and attention
// only), a stack mixing m and t layers (Hiero's stacks have one mixer), expand ≠ 2, heads whose width is not 64.
// The official code's training-only choices are not in its config: an imported model gets the paper's target ratios
// (6 for one stage, 3 a stage for more), learning-rate multipliers from 2 outside to 1 inside, α 0.03.
// One difference in arithmetic, not in weights: the official forward runs the dechunking EMA through Mamba-2's kernel
// in bfloat16 (DeChunkLayer's dtype) even in a float32 model; its step path (generation) and Hiero compute it in full
// precision.

import { CheckpointError, type HostTensor } from '../engine/index.ts';
import type { HNetConfig, StackConfig } from './hnet.ts';
import { MAMBA2_HEAD_DIM as MAMBA_HEAD_DIM, mixerOf } from './hnet.ts';

/** The JSON config generate.py reads (HNetConfig with its AttnConfig and SSMConfig). */
export interface OfficialHNetConfig {
  arch_layout: OfficialLayout;
  d_model: number[];
  d_intermediate: number[];
  vocab_size: number;
  ssm_cfg: { chunk_size: number | number[]; d_conv: number | number[]; d_state: number | number[]; expand: number | number[] };
  attn_cfg: { num_heads: number[]; rotary_emb_dim: number[]; window_size: number[] };
  tie_embeddings: boolean;
}
type OfficialLayout = (string | OfficialLayout)[];

/** The official SwiGLU rounds its width up to a multiple of this (hnet/modules/mlp.py, multiple_of). */
const MLP_MULTIPLE = 128;
const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

interface Letters {
  mixer: 'm' | 't';
  mlp: boolean;
  layers: number;
}

/** "m4", "T22": one mixer letter, its case (MLP or not), the layer count. */
function parseStack(text: unknown, where: string, fail: (why: string) => never): Letters {
  if (typeof text !== 'string') return fail(`arch_layout: ${where} must be a string like "m4" or "T22", got ${JSON.stringify(text)}`);
  const parts = [...text.matchAll(/([mMtT])(\d+)/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join('') !== text) fail(`arch_layout: ${where} ${JSON.stringify(text)} is not letters m, M, t, T each followed by a layer count`);
  const letters = new Set(parts.map((m) => m[1]));
  if (letters.size > 1) fail(`arch_layout: ${where} ${JSON.stringify(text)} mixes layer types; Hiero's stacks have one mixer and one MLP choice each`);
  const letter = parts[0][1];
  return { mixer: letter.toLowerCase() as 'm' | 't', mlp: letter === letter.toUpperCase(), layers: parts.reduce((n, m) => n + Number(m[2]), 0) };
}

/** A per-stage setting: a list indexed by stage, or one value for all (hnet/modules/utils.py, get_stage_cfg). */
function atStage(value: unknown, stage: number, field: string, fail: (why: string) => never): number {
  const v = Array.isArray(value) ? value[stage] : value;
  return typeof v === 'number' && Number.isFinite(v) ? v : fail(`${field} has no number for stage ${stage} (got ${JSON.stringify(value)})`);
}

/** The official H-Net's state dict and config as Hiero's H-Net config and weights. */
export function hnetFromOfficial(state: Map<string, HostTensor>, raw: Record<string, unknown>, origin: string): { config: HNetConfig; weights: Map<string, HostTensor> } {
  const fail = (why: string): never => {
    throw new CheckpointError(`${origin}: ${why}`);
  };
  if (!Array.isArray(raw.arch_layout)) fail('config: arch_layout must be a list (an official H-Net config has one)');
  const widths = Array.isArray(raw.d_model) && raw.d_model.every((w) => Number.isInteger(w) && w > 0) ? (raw.d_model as number[]) : fail(`config: d_model must be a list of widths, got ${JSON.stringify(raw.d_model)}`);
  const intermediate = Array.isArray(raw.d_intermediate) ? (raw.d_intermediate as unknown[]) : fail('config: d_intermediate must be a list (one MLP width a stage)');
  if ((raw.vocab_size ?? 256) !== 256) fail(`a vocabulary of ${raw.vocab_size}: Hiero's H-Net reads bytes (vocab_size 256)`);
  const ssm = (raw.ssm_cfg ?? {}) as Record<string, unknown>;
  const attn = (raw.attn_cfg ?? {}) as Record<string, unknown>;

  // The layouts of the stages, outermost first: [encoder, [inner], decoder] ... [main].
  const encoders: StackConfig[] = [];
  const decoders: StackConfig[] = [];
  let main: StackConfig | null = null;
  const stack = (text: unknown, stage: number, where: string): StackConfig => {
    const letters = parseStack(text, where, fail);
    const width = widths[stage] ?? fail(`config: d_model has no width for stage ${stage}`);
    const mlpDeclared = letters.mlp ? atStage(intermediate, stage, 'd_intermediate', fail) : 0;
    if (letters.mlp && !(mlpDeclared > 0)) fail(`arch_layout: ${where} ${JSON.stringify(text)} has MLPs but d_intermediate[${stage}] is ${mlpDeclared}`);
    const mlp = letters.mlp ? roundUp(mlpDeclared, MLP_MULTIPLE) : 0;
    if (letters.mixer === 'm') {
      const expand = atStage(ssm.expand ?? 2, stage, 'ssm_cfg.expand', fail);
      if (expand !== 2) fail(`ssm_cfg.expand ${expand}: Hiero's Mamba-2 has expand 2`);
      const heads = (2 * width) / MAMBA_HEAD_DIM;
      if (!Number.isInteger(heads)) fail(`stage ${stage}: Mamba-2's inner width ${2 * width} is not a multiple of its head dim ${MAMBA_HEAD_DIM}`);
      return { kind: 'mamba2', layers: letters.layers, heads, mlp, conv: atStage(ssm.d_conv ?? 4, stage, 'ssm_cfg.d_conv', fail), rotary: 0, stateSize: atStage(ssm.d_state ?? 128, stage, 'ssm_cfg.d_state', fail) };
    }
    const heads = atStage(attn.num_heads, stage, 'attn_cfg.num_heads', fail);
    if (!Number.isInteger(heads) || heads < 1 || width % heads !== 0) fail(`attn_cfg.num_heads[${stage}] ${heads} does not divide d_model ${width}`);
    const rotaryDim = atStage(attn.rotary_emb_dim ?? 0, stage, 'attn_cfg.rotary_emb_dim', fail);
    if (rotaryDim % 2 !== 0 || rotaryDim < 0 || rotaryDim > width / heads) fail(`attn_cfg.rotary_emb_dim[${stage}] ${rotaryDim}: must be even and at most the head dim ${width / heads}`);
    const window = atStage(attn.window_size ?? -1, stage, 'attn_cfg.window_size', fail);
    const base = { layers: letters.layers, heads, mlp, conv: 0, rotary: rotaryDim / (width / heads) };
    // flash-attn's window (w, -1): a position sees the w before it and itself.
    return window < 0 ? { kind: 'attention', ...base } : { kind: 'local-attention', ...base, window: window + 1 };
  };
  let layout: unknown = raw.arch_layout;
  for (let stage = 0; ; stage++) {
    if (!Array.isArray(layout)) fail(`arch_layout: stage ${stage} must be a list`);
    const l = layout as unknown[];
    if (l.length === 1) {
      main = stack(l[0], stage, `stage ${stage}'s main network`);
      if (stage + 1 !== widths.length) fail(`arch_layout has ${stage + 1} stages but d_model ${widths.length} widths`);
      break;
    }
    if (l.length !== 3) fail(`arch_layout: stage ${stage} must be [encoder, [inner stage], decoder] or [main network], got ${l.length} entries`);
    encoders.push(stack(l[0], stage, `stage ${stage}'s encoder`));
    decoders.push(stack(l[2], stage, `stage ${stage}'s decoder`));
    layout = l[1];
  }
  const chunking = widths.length - 1;
  const config: HNetConfig = {
    widths, encoders, decoders, main: main!,
    ratios: Array.from({ length: chunking }, () => (chunking === 1 ? 6 : 3)),
    lrMultipliers: widths.map((_, i) => (widths.length === 1 ? 1 : 2 - i / (widths.length - 1))),
    alpha: 0.03, normEps: 1e-5, ropeBase: 10000, initRange: 0.02,
  };

  const weights = new Map<string, HostTensor>();
  const widen = (t: HostTensor): HostTensor => (t.dtype === 'f32' ? t : { ...t, dtype: 'f32', data: Float32Array.from(t.data as ArrayLike<number>) });
  for (const [name, t] of state) {
    if (/\.mixer\.conv1d\.weight$/.test(name)) {
      if (t.shape.length !== 3 || t.shape[1] !== 1) fail(`${name}: a depthwise Conv1d weight is [C, 1, K], got [${t.shape}]`);
      weights.set(name, { ...widen(t), shape: [t.shape[0], t.shape[2]] });
    } else weights.set(name, widen(t));
  }
  if (raw.tie_embeddings === true && !weights.has('lm_head.weight')) weights.set('lm_head.weight', weights.get('embeddings.weight') ?? fail('no embeddings.weight in the weights'));
  return { config, weights };
}

/** Hiero's H-Net as the official code's state dict and config (bfloat16: every tensor rounded, as the official checkpoints are stored). */
export function hnetToOfficial(weights: Map<string, HostTensor>, config: HNetConfig, dtype: 'bfloat16' | 'float32'): {
  state: Map<string, { shape: number[]; data: Float32Array; dtype: 'float32' | 'bfloat16' }>;
  config: OfficialHNetConfig;
} {
  const fail = (why: string): never => {
    throw new CheckpointError(`export --format official: ${why}`);
  };
  const stages = config.widths.length;
  const perStage = {
    intermediate: new Array<number | null>(stages).fill(null), heads: new Array<number | null>(stages).fill(null),
    rotary: new Array<number | null>(stages).fill(null), window: new Array<number | null>(stages).fill(null),
    dState: new Array<number | null>(stages).fill(null), dConv: new Array<number | null>(stages).fill(null),
  };
  /** One per-stage setting, which every stack of the stage must agree on (the official config has one a stage). */
  const agree = (field: keyof typeof perStage, stage: number, value: number, what: string) => {
    const seen = perStage[field][stage];
    if (seen !== null && seen !== value) fail(`stage ${stage}'s stacks differ in ${what} (${seen} and ${value}); the official config has one a stage`);
    perStage[field][stage] = value;
  };
  const letters = (s: StackConfig, stage: number, where: string): string => {
    const kind = mixerOf(s);
    const width = config.widths[stage];
    if (s.mlp > 0) agree('intermediate', stage, s.mlp, 'MLP width');
    if (kind === 'mamba2') {
      if ((2 * width) / s.heads !== MAMBA_HEAD_DIM) fail(`${where}: Mamba-2 heads of ${(2 * width) / s.heads} channels; the official code's are ${MAMBA_HEAD_DIM} (its width ${width} would need ${(2 * width) / MAMBA_HEAD_DIM} heads)`);
      agree('dState', stage, s.stateSize ?? 16, 'Mamba-2 state size');
      agree('dConv', stage, s.conv, 'convolution width');
      return `${s.mlp > 0 ? 'M' : 'm'}${s.layers}`;
    }
    if (kind === 'attention' || kind === 'local-attention') {
      agree('heads', stage, s.heads, 'attention heads');
      const headDim = width / s.heads;
      agree('rotary', stage, 2 * Math.floor((s.rotary * headDim) / 2), 'rotary channels');
      agree('window', stage, kind === 'attention' ? -1 : (s.window ?? 64) - 1, 'attention window');
      return `${s.mlp > 0 ? 'T' : 't'}${s.layers}`;
    }
    return fail(`${where} is ${kind}: the official code has Mamba-2 ('m') and attention ('t') layers only`);
  };
  let layout: OfficialLayout = [letters(config.main, stages - 1, 'the main network')];
  for (let stage = stages - 2; stage >= 0; stage--) layout = [letters(config.encoders[stage], stage, `stage ${stage}'s encoder`), layout, letters(config.decoders[stage], stage, `stage ${stage}'s decoder`)];

  const state = new Map<string, { shape: number[]; data: Float32Array; dtype: 'float32' | 'bfloat16' }>();
  const put = (name: string, shape: number[], data: Float32Array) => state.set(name, { shape, data, dtype });
  for (const [name, t] of weights) {
    const data = t.data as Float32Array;
    if (/\.mixer\.conv1d\.weight$/.test(name)) {
      put(name, [t.shape[0], 1, t.shape[1]], data);
      continue;
    }
    // The SwiGLU zero-padded to the official width: fc1 [up | gate] rows, fc2 columns.
    const fc = /\.mlp\.fc([12])\.weight$/.exec(name);
    if (fc) {
      const hidden = fc[1] === '1' ? t.shape[0] / 2 : t.shape[1];
      const padded = roundUp(hidden, MLP_MULTIPLE);
      if (padded !== hidden) {
        const width = fc[1] === '1' ? t.shape[1] : t.shape[0];
        if (fc[1] === '1') {
          const out = new Float32Array(2 * padded * width);
          out.set(data.subarray(0, hidden * width), 0);
          out.set(data.subarray(hidden * width), padded * width);
          put(name, [2 * padded, width], out);
        } else {
          const out = new Float32Array(width * padded);
          for (let r = 0; r < width; r++) out.set(data.subarray(r * hidden, (r + 1) * hidden), r * padded);
          put(name, [width, padded], out);
        }
        continue;
      }
    }
    put(name, [...t.shape], data);
  }
  // A stage without such a stack takes another stage's value where the official configs repeat one (heads, rotary,
  // state and convolution sizes), the neutral one where they do not (no MLP, a global window); the official code
  // reads a value only where it is used.
  const list = (v: (number | null)[], fallback: number, repeat = true) => v.map((x) => x ?? (repeat ? v.find((y) => y !== null) : null) ?? fallback);
  const shared = (v: (number | null)[], fallback: number) => {
    const values = list(v, fallback);
    return values.every((x) => x === values[0]) ? values[0] : values;
  };
  return {
    state,
    config: {
      arch_layout: layout,
      d_model: [...config.widths],
      d_intermediate: list(perStage.intermediate, 0, false),
      vocab_size: 256,
      ssm_cfg: { chunk_size: 256, d_conv: shared(perStage.dConv, 4), d_state: shared(perStage.dState, 128), expand: 2 },
      attn_cfg: { num_heads: list(perStage.heads, 1), rotary_emb_dim: list(perStage.rotary, 0), window_size: list(perStage.window, -1, false) },
      tie_embeddings: false,
    },
  };
}
