// Recurrent LMs between Hiero and flash-linear-attention's Hugging Face layout (config.json + safetensors under fla's
// names; tests: test/official-checkpoints.test.ts). Where the architectures agree the map is one to one:
//   fla (HGRNForCausalLM, HGRN2ForCausalLM)                 Hiero (RecurrentLM, kinds hgrn and hgrn2)
//   model.embeddings.weight                                 embed.weight
//   model.lower_bounds                                      lower_bounds        (γ = cumsum(softmax) − first, both)
//   model.layers.{i}.attn_norm.weight                       blocks.{i}.mixer_norm.weight
//   HGRN: model.layers.{i}.attn.i_proj, .f_proj             blocks.{i}.mixer.input_gates.weight   ([i ; f] rows)
//         model.layers.{i}.attn.g_proj.weight               blocks.{i}.mixer.output_gate.weight
//         model.layers.{i}.attn.g_norm.weight               blocks.{i}.mixer.norm.weight   (rms(h)·w·silu(g), both)
//         model.layers.{i}.attn.o_proj.weight               blocks.{i}.mixer.out.weight
//   HGRN2: model.layers.{i}.attn.{q,f,i,o}_proj, .g_norm    blocks.{i}.mixer.{q,f,i,o}_proj, .g_norm   (the same names;
//         heads = hidden / expand_ratio, q = silu, k = 1 − λ, the scale K^−½, both)
//   model.layers.{i}.mlp_norm.weight                        blocks.{i}.mlp_norm.weight
//   model.layers.{i}.mlp.gate_proj.weight, .up_proj.weight  blocks.{i}.mlp.gate_up.weight   ([gate ; up] rows)
//   model.layers.{i}.mlp.down_proj.weight                   blocks.{i}.mlp.down.weight
//   model.norm.weight, lm_head.weight                       norm.weight, head.weight
// Where they do not, the importer names it: fla's short convolutions act on the i and f projections (Hiero's on the
// block's input, before them); expand_ratio ≠ 1; no lower bounds; hybrid attention layers; a tokenizer vocabulary
// (Hiero's language models read bytes: 256). GLA's mixer has fla's names in Hiero already (q/k/v/g_proj, gk_proj.0/1,
// g_norm_swish_gate, o_proj: fla's defaults expand_k ½, expand_v 1, rank-16 gate, normaliser 16), and so has Mamba-2's
// (in_proj, conv1d, dt_bias, A_log, D, norm, out_proj: mamba_ssm's), in fla's backbone.layers.{i}.norm/mixer blocks
// without MLPs (the depthwise conv weight [C, 1, K] is Hiero's [C, K]). RetNet's mixer has fla's names too
// (MultiScaleRetention: q/k/v/g_proj, g_norm_swish_gate, o_proj; expand_k 1, expand_v 2, fla's fixed decays, RoPE
// and scale). fla has no GateLoop or Griffin model, so those kinds have nothing to map to.

import { CheckpointError, type HostTensor } from '../engine/index.ts';
import type { RecurrentConfig } from './recurrent-lm.ts';

const BYTES = 256;

/** What of an fla config.json this map reads and writes. */
export interface FlaRecurrentConfig {
  model_type: FlaModelType;
  hidden_size: number;
  num_hidden_layers: number;
  use_short_conv: boolean;
  intermediate_size: number;
  hidden_act: string;
  elementwise_affine: boolean;
  norm_eps: number;
  vocab_size: number;
  tie_word_embeddings: boolean;
  attn: null;
  attnres_block_size: null;
  [field: string]: unknown;
}

function rows(...parts: HostTensor[]): HostTensor {
  const width = parts[0].shape[1];
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p.data as Float32Array, at);
    at += p.data.length;
  }
  return { dtype: 'f32', stored: 'F32', shape: [data.length / width, width], data };
}

function splitRows(t: HostTensor): [HostTensor, HostTensor] {
  const half = t.shape[0] / 2;
  const width = t.shape[1];
  const data = t.data as Float32Array;
  const part = (k: number): HostTensor => ({ dtype: 'f32', stored: 'F32', shape: [half, width], data: data.slice(k * half * width, (k + 1) * half * width) });
  return [part(0), part(1)];
}

/** What a mixer map reads of the config besides the weights. */
interface MixerContext {
  raw: Record<string, unknown>;
  number(field: string, fallback?: number): number;
  fail(why: string): never;
}

/**
 * One fla model type: its config checks (returning Hiero's heads where it has them), whether it learns lower bounds,
 * and one layer's mixer tensors, fla's key suffix (after model.layers.{i}.attn.) from Hiero's (after
 * blocks.{i}.mixer.) and back.
 */
interface MixerMap {
  architecture: string;
  lowerBounds: boolean;
  /** The LM around the mixers: fla's Mamba-2 is a backbone of norm → mixer blocks without MLPs. */
  skeleton: Skeleton;
  check(dim: number, c: MixerContext): Partial<Pick<RecurrentConfig, 'heads' | 'stateSize' | 'convKernel'>>;
  /** Hiero's mixer tensors from fla's (`take` removes a key, `ones` stands in for an absent norm weight). */
  toHiero(take: (suffix: string) => HostTensor, c: MixerContext & { affine: boolean; ones: (n: number) => HostTensor }): [string, HostTensor][];
  toFla(get: (suffix: string) => HostTensor): [string, HostTensor][];
  /** The config.json fields of this type beyond the shared ones. */
  flaFields(config: RecurrentConfig): Record<string, unknown>;
}

interface Skeleton {
  prefix: string;
  mixerNorm: string;
  mixer: string;
  finalNorm: string;
  mlp: boolean;
}
const FLA_LM: Skeleton = { prefix: 'model.', mixerNorm: 'attn_norm', mixer: 'attn', finalNorm: 'norm', mlp: true };
const FLA_MAMBA: Skeleton = { prefix: 'backbone.', mixerNorm: 'norm', mixer: 'mixer', finalNorm: 'norm_f', mlp: false };

/** A depthwise Conv1d's weight [C, 1, K] as Hiero's [C, K], and back. */
const squeezeConv = (t: HostTensor): HostTensor => ({ ...t, shape: t.shape.length === 3 ? [t.shape[0], t.shape[2]] : t.shape });
const unsqueezeConv = (t: HostTensor): HostTensor => ({ ...t, shape: [t.shape[0], 1, t.shape[1]] });

const same = (names: readonly string[], take: (suffix: string) => HostTensor): [string, HostTensor][] => names.map((n) => [n, take(n)]);

const FLA_MIXERS = {
  hgrn: {
    architecture: 'HGRNForCausalLM',
    lowerBounds: true,
    skeleton: FLA_LM,
    check(_dim, c) {
      if (c.number('expand_ratio', 1) !== 1) c.fail(`expand_ratio ${c.raw.expand_ratio}: Hiero's HGRN mixes at the model's width (expand_ratio 1)`);
      if (c.raw.use_short_conv) c.fail("use_short_conv: fla convolves the i and f projections, Hiero the block's input before them; the two do not map");
      return {};
    },
    toHiero: (take, c) => [
      ['input_gates.weight', rows(take('i_proj.weight'), take('f_proj.weight'))], ['output_gate.weight', take('g_proj.weight')],
      ['norm.weight', c.affine ? take('g_norm.weight') : c.ones(c.number('hidden_size'))], ['out.weight', take('o_proj.weight')],
    ],
    toFla: (get) => {
      const [input, forget] = splitRows(get('input_gates.weight'));
      return [['i_proj.weight', input], ['f_proj.weight', forget], ['g_proj.weight', get('output_gate.weight')], ['g_norm.weight', get('norm.weight')], ['o_proj.weight', get('out.weight')]];
    },
    flaFields: () => ({ expand_ratio: 1, use_lower_bound: true }),
  },
  hgrn2: {
    architecture: 'HGRN2ForCausalLM',
    lowerBounds: true,
    skeleton: FLA_LM,
    check(dim, c) {
      // fla: expand_ratio (each head's forget width) decides the heads when given, else num_heads does.
      const heads = c.raw.expand_ratio === null && typeof c.raw.num_heads === 'number' ? c.raw.num_heads : dim / c.number('expand_ratio', 128);
      if (!Number.isInteger(heads) || heads < 1) c.fail(`hidden_size ${dim} and expand_ratio ${c.raw.expand_ratio} give no whole number of heads`);
      if (c.raw.use_short_conv) c.fail("use_short_conv: Hiero's HGRN2 has no short convolutions");
      return { heads };
    },
    toHiero: (take, c) => [
      ...same(['q_proj.weight', 'f_proj.weight', 'i_proj.weight'], take),
      ['g_norm.weight', c.affine ? take('g_norm.weight') : c.ones(c.number('hidden_size'))],
      ['o_proj.weight', take('o_proj.weight')],
    ],
    toFla: (get) => same(['q_proj.weight', 'f_proj.weight', 'i_proj.weight', 'g_norm.weight', 'o_proj.weight'], get),
    flaFields: (config) => ({ expand_ratio: config.dim / (config.heads ?? 1), num_heads: config.heads ?? 1, use_lower_bound: true }),
  },
  gla: {
    architecture: 'GLAForCausalLM',
    lowerBounds: false,
    skeleton: FLA_LM,
    check(_dim, c) {
      const is = (field: string, want: unknown, why: string) => {
        if ((c.raw[field] ?? null) !== want) c.fail(`${field} ${JSON.stringify(c.raw[field])}: ${why}`);
      };
      if (c.number('expand_k', 0.5) !== 0.5 || c.number('expand_v', 1) !== 1) c.fail(`expand_k ${c.raw.expand_k}, expand_v ${c.raw.expand_v}: Hiero's GLA has fla's defaults, ½ and 1`);
      const heads = c.number('num_heads', 4);
      if (c.raw.num_kv_heads !== undefined && c.raw.num_kv_heads !== null && c.raw.num_kv_heads !== heads) c.fail(`num_kv_heads ${c.raw.num_kv_heads}: Hiero's GLA has a key and value per head`);
      is('feature_map', null, 'Hiero applies no feature map to q and k');
      is('clamp_min', null, 'Hiero does not clamp the gate');
      if (c.raw.use_short_conv) c.fail("use_short_conv: not mapped (Hiero's GLA presets have none)");
      if (c.raw.use_output_gate === false) c.fail('use_output_gate false: Hiero\'s GLA always gates its output');
      if (c.raw.use_gk === false || c.raw.use_gv === true) c.fail('use_gk false or use_gv true: Hiero\'s GLA gates keys only');
      return { heads };
    },
    toHiero: (take, c) => [
      ...same(['q_proj.weight', 'k_proj.weight', 'v_proj.weight', 'g_proj.weight', 'gk_proj.0.weight', 'gk_proj.1.weight', 'gk_proj.1.bias'], take),
      // fla names the per-head norm g_norm when it does not fuse it with the gate (fuse_norm false): the same math.
      ['g_norm_swish_gate.weight', c.raw.fuse_norm === false ? take('g_norm.weight') : take('g_norm_swish_gate.weight')],
      ['o_proj.weight', take('o_proj.weight')],
    ],
    toFla: (get) => same(['q_proj.weight', 'k_proj.weight', 'v_proj.weight', 'g_proj.weight', 'gk_proj.0.weight', 'gk_proj.1.weight', 'gk_proj.1.bias', 'g_norm_swish_gate.weight', 'o_proj.weight'], get),
    flaFields: (config) => ({ expand_k: 0.5, expand_v: 1, num_heads: config.heads ?? 4, num_kv_heads: null, feature_map: null, use_output_gate: true, clamp_min: null, use_gk: true, use_gv: false, fuse_norm: true }),
  },
  retnet: {
    architecture: 'RetNetForCausalLM',
    lowerBounds: false,
    skeleton: FLA_LM,
    check(_dim, c) {
      if (c.number('expand_k', 1) !== 1 || c.number('expand_v', 2) !== 2) c.fail(`expand_k ${c.raw.expand_k}, expand_v ${c.raw.expand_v}: Hiero's RetNet has fla's defaults, 1 and 2`);
      const heads = c.number('num_heads', 8);
      if (c.raw.num_kv_heads !== undefined && c.raw.num_kv_heads !== null && c.raw.num_kv_heads !== heads) c.fail(`num_kv_heads ${c.raw.num_kv_heads}: Hiero's RetNet has a key and value per head`);
      if ((c.raw.feature_map ?? null) !== null) c.fail(`feature_map ${JSON.stringify(c.raw.feature_map)}: Hiero applies no feature map to q and k`);
      if (c.raw.use_short_conv) c.fail("use_short_conv: not mapped (Hiero's RetNet presets have none)");
      if (c.raw.use_output_gate === false) c.fail("use_output_gate false: Hiero's RetNet always gates its output");
      return { heads };
    },
    // The decay per head (1 − 2^(−5−h)), the scale K^−½ and RoPE (rotate-half over the whole key head, base 10000,
    // positions from 0) are fixed in both, so the weights are all there is.
    toHiero: (take, c) => [
      ...same(['q_proj.weight', 'k_proj.weight', 'v_proj.weight', 'g_proj.weight'], take),
      ['g_norm_swish_gate.weight', c.raw.fuse_norm === false ? take('g_norm.weight') : take('g_norm_swish_gate.weight')],
      ['o_proj.weight', take('o_proj.weight')],
    ],
    toFla: (get) => same(['q_proj.weight', 'k_proj.weight', 'v_proj.weight', 'g_proj.weight', 'g_norm_swish_gate.weight', 'o_proj.weight'], get),
    flaFields: (config) => ({ expand_k: 1, expand_v: 2, num_heads: config.heads ?? 8, num_kv_heads: null, feature_map: null, use_output_gate: true, fuse_norm: true }),
  },
  mamba2: {
    architecture: 'Mamba2ForCausalLM',
    lowerBounds: false,
    skeleton: FLA_MAMBA,
    check(dim, c) {
      const want = (field: string, value: unknown, why: string) => {
        if (c.raw[field] !== undefined && JSON.stringify(c.raw[field]) !== JSON.stringify(value)) c.fail(`${field} ${JSON.stringify(c.raw[field])}: ${why}`);
      };
      want('expand', 2, "Hiero's Mamba-2 has expand 2");
      want('n_groups', 1, "Hiero's Mamba-2 shares one group of B and C across its heads");
      want('use_bias', false, 'Hiero has no biases in in_proj and out_proj');
      want('use_conv_bias', true, "Hiero's convolution has a bias");
      want('hidden_act', 'silu', 'Hiero applies silu after the convolution');
      want('rmsnorm', true, 'Hiero normalises the gated output');
      want('norm_before_gate', false, 'Hiero gates, then normalises');
      want('D_has_hdim', false, 'Hiero has one D per head');
      const limit = c.raw.dt_limit ?? c.raw.time_step_limit;
      if (limit !== undefined && (!Array.isArray(limit) || limit[0] !== 0 || limit[1] !== Infinity)) c.fail(`dt_limit ${JSON.stringify(limit)}: Hiero does not clamp Δt`);
      const headDim = c.number('head_dim', 64);
      const heads = (2 * dim) / headDim;
      if (!Number.isInteger(heads)) c.fail(`expand · hidden_size ${2 * dim} is not a multiple of head_dim ${headDim}`);
      return { heads, stateSize: c.number('state_size', 128), convKernel: c.number('conv_kernel', 4) };
    },
    toHiero: (take) => [
      ['in_proj.weight', take('in_proj.weight')], ['conv1d.weight', squeezeConv(take('conv1d.weight'))], ['conv1d.bias', take('conv1d.bias')],
      ...same(['dt_bias', 'A_log', 'D', 'norm.weight', 'out_proj.weight'], take),
    ],
    toFla: (get) => [
      ['in_proj.weight', get('in_proj.weight')], ['conv1d.weight', unsqueezeConv(get('conv1d.weight'))], ['conv1d.bias', get('conv1d.bias')],
      ...same(['dt_bias', 'A_log', 'D', 'norm.weight', 'out_proj.weight'], get),
    ],
    flaFields: (config) => ({
      num_heads: config.heads ?? 1, head_dim: (2 * config.dim) / (config.heads ?? 1), state_size: config.stateSize ?? 16, expand: 2, n_groups: 1,
      conv_kernel: config.convKernel, use_bias: false, use_conv_bias: true, hidden_act: 'silu', rmsnorm: true, norm_before_gate: false, D_has_hdim: false,
    }),
  },
} as const satisfies Record<string, MixerMap>;

/** The fla model types mapped, each Hiero's kind of the same name. */
export type FlaModelType = keyof typeof FLA_MIXERS;
export const FLA_MODEL_TYPES = Object.keys(FLA_MIXERS) as FlaModelType[];
export const isFlaModelType = (v: unknown): v is FlaModelType => typeof v === 'string' && v in FLA_MIXERS;

/** An fla HGRN, HGRN2, GLA, RetNet or Mamba-2 checkpoint as Hiero's kind of the same name: its config and weights. */
export function recurrentFromFla(state: Map<string, HostTensor>, raw: Record<string, unknown>, origin: string): { kind: FlaModelType; config: RecurrentConfig; weights: Map<string, HostTensor> } {
  const fail = (why: string): never => {
    throw new CheckpointError(`${origin}: ${why}`);
  };
  const kind = isFlaModelType(raw.model_type) ? raw.model_type : fail(`model_type ${JSON.stringify(raw.model_type)}: only fla's ${FLA_MODEL_TYPES.join(', ')} are mapped (fla has no GateLoop or Griffin model; its other models have no Hiero kind)`);
  const number = (field: string, fallback?: number) => {
    const v = raw[field] ?? fallback;
    return typeof v === 'number' && Number.isFinite(v) ? v : fail(`config.${field} must be a number, got ${JSON.stringify(raw[field])}`);
  };
  const dim = number('hidden_size');
  const layers = number('num_hidden_layers');
  const map: MixerMap = FLA_MIXERS[kind];
  const context: MixerContext = { raw, number, fail };
  const shape = map.check(dim, context);
  const { prefix, mixerNorm, mixer, finalNorm } = map.skeleton;
  if (map.lowerBounds && raw.use_lower_bound === false) fail(`use_lower_bound false: Hiero's ${kind.toUpperCase()} always learns the per-layer lower bounds`);
  if (raw.attn) fail('hybrid attention layers (config.attn) are not mapped');
  if (raw.attnres_block_size) fail('attention residuals (attnres_block_size) are not mapped');
  if (map.skeleton.mlp && (raw.hidden_act ?? 'swish') !== 'swish') fail(`hidden_act ${JSON.stringify(raw.hidden_act)}: Hiero's MLP is SwiGLU (swish)`);
  const vocab = number('vocab_size');
  if (vocab !== BYTES) fail(`a vocabulary of ${vocab} tokens: Hiero's language models read bytes (vocab_size 256); a tokenizer's model has no Hiero counterpart`);
  const weights = new Map<string, HostTensor>();
  const take = (key: string): HostTensor => {
    const t = state.get(key) ?? fail(`no ${key} in the weights`);
    state.delete(key);
    return t.dtype === 'f32' ? t : { ...t, dtype: 'f32', data: Float32Array.from(t.data as ArrayLike<number>) };
  };
  const ones = (n: number): HostTensor => ({ dtype: 'f32', stored: 'F32', shape: [n], data: new Float32Array(n).fill(1) });
  const affine = raw.elementwise_affine !== false;
  weights.set('embed.weight', take(`${prefix}embeddings.weight`));
  if (map.lowerBounds) weights.set('lower_bounds', take(`${prefix}lower_bounds`));
  let mlpHidden = 0;
  for (let i = 0; i < layers; i++) {
    const f = `${prefix}layers.${i}.`;
    const h = `blocks.${i}.`;
    weights.set(`${h}mixer_norm.weight`, take(`${f}${mixerNorm}.weight`));
    for (const [name, t] of map.toHiero((suffix) => take(`${f}${mixer}.${suffix}`), { ...context, affine, ones })) weights.set(`${h}mixer.${name}`, t);
    if (!map.skeleton.mlp) continue;
    weights.set(`${h}mlp_norm.weight`, take(`${f}mlp_norm.weight`));
    const gate = take(`${f}mlp.gate_proj.weight`);
    mlpHidden = gate.shape[0];
    weights.set(`${h}mlp.gate_up.weight`, rows(gate, take(`${f}mlp.up_proj.weight`)));
    weights.set(`${h}mlp.down.weight`, take(`${f}mlp.down_proj.weight`));
  }
  weights.set('norm.weight', take(`${prefix}${finalNorm}.weight`));
  weights.set('head.weight', raw.tie_word_embeddings ? weights.get('embed.weight')! : take('lm_head.weight'));
  if (state.size) fail(`${state.size} tensor(s) this map does not know (${[...state.keys()].slice(0, 3).join(', ')})`);
  const config: RecurrentConfig = { vocab, dim, layers, mixer: kind, convKernel: 0, mlpHidden, normEps: number('norm_eps', 1e-6), ...shape };
  return { kind, config, weights };
}

/** Hiero's hgrn, hgrn2, gla, retnet or mamba2 weights as fla's ForCausalLM checkpoint (config.json fields and safetensors names). */
export function recurrentToFla(weights: Map<string, HostTensor>, config: RecurrentConfig): { state: Map<string, HostTensor>; config: FlaRecurrentConfig } {
  const kind = config.mixer;
  if (!isFlaModelType(kind)) throw new CheckpointError(`a ${kind} LM: only ${FLA_MODEL_TYPES.join(', ')} map to fla (fla has no ${kind} model)`);
  const map: MixerMap = FLA_MIXERS[kind];
  if (kind === 'hgrn' && config.convKernel > 0) throw new CheckpointError(`convKernel ${config.convKernel}: Hiero's short convolution (on the block's input) has no fla counterpart; train with --conv 0 to export`);
  if (kind === 'mamba2' && config.convKernel < 2) throw new CheckpointError(`convKernel ${config.convKernel}: fla's Mamba-2 always convolves x, B and C`);
  if ((kind === 'gla' || kind === 'retnet') && config.convKernel > 0) throw new CheckpointError(`convKernel ${config.convKernel}: short convolutions are not mapped for ${kind}`);
  const { prefix, mixerNorm, mixer, finalNorm } = map.skeleton;
  if (map.skeleton.mlp && config.mlpHidden === 0) throw new CheckpointError(`an ${kind.toUpperCase()} without MLPs: fla's blocks always have one`);
  if (!map.skeleton.mlp && config.mlpHidden > 0) throw new CheckpointError(`a ${kind} LM with MLPs (mlpHidden ${config.mlpHidden}): fla's Mamba-2 blocks are the mixer alone; train with --mlp 0 to export`);
  const state = new Map<string, HostTensor>();
  const get = (name: string) => weights.get(name) ?? (() => { throw new CheckpointError(`no ${name} in the weights`); })();
  state.set(`${prefix}embeddings.weight`, get('embed.weight'));
  if (map.lowerBounds) state.set(`${prefix}lower_bounds`, get('lower_bounds'));
  for (let i = 0; i < config.layers; i++) {
    const f = `${prefix}layers.${i}.`;
    const h = `blocks.${i}.`;
    state.set(`${f}${mixerNorm}.weight`, get(`${h}mixer_norm.weight`));
    for (const [suffix, t] of map.toFla((name) => get(`${h}mixer.${name}`))) state.set(`${f}${mixer}.${suffix}`, t);
    if (!map.skeleton.mlp) continue;
    state.set(`${f}mlp_norm.weight`, get(`${h}mlp_norm.weight`));
    const [gate, up] = splitRows(get(`${h}mlp.gate_up.weight`));
    state.set(`${f}mlp.gate_proj.weight`, gate);
    state.set(`${f}mlp.up_proj.weight`, up);
    state.set(`${f}mlp.down_proj.weight`, get(`${h}mlp.down.weight`));
  }
  state.set(`${prefix}${finalNorm}.weight`, get('norm.weight'));
  state.set('lm_head.weight', get('head.weight'));
  return {
    state,
    config: {
      model_type: kind, architectures: [map.architecture], hidden_size: config.dim, num_hidden_layers: config.layers,
      use_short_conv: false, intermediate_size: config.mlpHidden, hidden_act: 'swish', elementwise_affine: true, ...map.flaFields(config),
      norm_eps: config.normEps, vocab_size: config.vocab, tie_word_embeddings: false, attn: null, attnres_block_size: null, attn_mode: 'chunk',
    },
  };
}
