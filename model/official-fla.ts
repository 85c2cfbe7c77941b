// Recurrent LMs between Hiero and flash-linear-attention's Hugging Face layout (config.json + safetensors under fla's
// names; tests: test/official-checkpoints.test.ts). Where the architectures agree the map is one to one:
//   fla (HGRNForCausalLM)                                   Hiero (RecurrentLM, kind hgrn)
//   model.embeddings.weight                                 embed.weight
//   model.lower_bounds                                      lower_bounds        (γ = cumsum(softmax) − first, both)
//   model.layers.{i}.attn_norm.weight                       blocks.{i}.mixer_norm.weight
//   model.layers.{i}.attn.i_proj.weight, .f_proj.weight     blocks.{i}.mixer.input_gates.weight   ([i ; f] rows)
//   model.layers.{i}.attn.g_proj.weight                     blocks.{i}.mixer.output_gate.weight
//   model.layers.{i}.attn.g_norm.weight                     blocks.{i}.mixer.norm.weight   (rms(h)·w·silu(g), both)
//   model.layers.{i}.attn.o_proj.weight                     blocks.{i}.mixer.out.weight
//   model.layers.{i}.mlp_norm.weight                        blocks.{i}.mlp_norm.weight
//   model.layers.{i}.mlp.gate_proj.weight, .up_proj.weight  blocks.{i}.mlp.gate_up.weight   ([gate ; up] rows)
//   model.layers.{i}.mlp.down_proj.weight                   blocks.{i}.mlp.down.weight
//   model.norm.weight, lm_head.weight                       norm.weight, head.weight
// Where they do not, the importer names it: fla's short convolutions act on the i and f projections (Hiero's on the
// block's input, before them); expand_ratio ≠ 1; no lower bounds; hybrid attention layers; a tokenizer vocabulary
// (Hiero's language models read bytes: 256). HGRN2, GLA, RetNet, Mamba-2 and GateLoop are not mapped yet.

import { CheckpointError, type HostTensor } from '../engine/index.ts';
import type { RecurrentConfig } from './recurrent-lm.ts';

const BYTES = 256;

/** What of an fla HGRN config.json this map reads. */
export interface FlaHgrnConfig {
  model_type: 'hgrn';
  hidden_size: number;
  num_hidden_layers: number;
  expand_ratio: number;
  use_short_conv: boolean;
  use_lower_bound: boolean;
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

/** An fla HGRN checkpoint as Hiero's hgrn kind: its config and weights. */
export function hgrnFromFla(state: Map<string, HostTensor>, raw: Record<string, unknown>, origin: string): { config: RecurrentConfig; weights: Map<string, HostTensor> } {
  const fail = (why: string): never => {
    throw new CheckpointError(`${origin}: ${why}`);
  };
  if (raw.model_type !== 'hgrn') fail(`model_type ${JSON.stringify(raw.model_type)}: only fla's hgrn is mapped (HGRN2, GLA, RetNet, Mamba-2 and GateLoop are not yet)`);
  const number = (field: string, fallback?: number) => {
    const v = raw[field] ?? fallback;
    return typeof v === 'number' && Number.isFinite(v) ? v : fail(`config.${field} must be a number, got ${JSON.stringify(raw[field])}`);
  };
  const dim = number('hidden_size');
  const layers = number('num_hidden_layers');
  if (number('expand_ratio', 1) !== 1) fail(`expand_ratio ${raw.expand_ratio}: Hiero's HGRN mixes at the model's width (expand_ratio 1)`);
  if (raw.use_short_conv) fail("use_short_conv: fla convolves the i and f projections, Hiero the block's input before them; the two do not map");
  if (raw.use_lower_bound === false) fail("use_lower_bound false: Hiero's HGRN always learns the per-layer lower bounds");
  if (raw.attn) fail('hybrid attention layers (config.attn) are not mapped');
  if (raw.attnres_block_size) fail('attention residuals (attnres_block_size) are not mapped');
  if ((raw.hidden_act ?? 'swish') !== 'swish') fail(`hidden_act ${JSON.stringify(raw.hidden_act)}: Hiero's MLP is SwiGLU (swish)`);
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
  weights.set('embed.weight', take('model.embeddings.weight'));
  weights.set('lower_bounds', take('model.lower_bounds'));
  let mlpHidden = 0;
  for (let i = 0; i < layers; i++) {
    const f = `model.layers.${i}.`;
    const h = `blocks.${i}.`;
    weights.set(`${h}mixer_norm.weight`, take(`${f}attn_norm.weight`));
    weights.set(`${h}mixer.input_gates.weight`, rows(take(`${f}attn.i_proj.weight`), take(`${f}attn.f_proj.weight`)));
    weights.set(`${h}mixer.output_gate.weight`, take(`${f}attn.g_proj.weight`));
    weights.set(`${h}mixer.norm.weight`, affine ? take(`${f}attn.g_norm.weight`) : ones(dim));
    weights.set(`${h}mixer.out.weight`, take(`${f}attn.o_proj.weight`));
    weights.set(`${h}mlp_norm.weight`, take(`${f}mlp_norm.weight`));
    const gate = take(`${f}mlp.gate_proj.weight`);
    mlpHidden = gate.shape[0];
    weights.set(`${h}mlp.gate_up.weight`, rows(gate, take(`${f}mlp.up_proj.weight`)));
    weights.set(`${h}mlp.down.weight`, take(`${f}mlp.down_proj.weight`));
  }
  weights.set('norm.weight', take('model.norm.weight'));
  weights.set('head.weight', raw.tie_word_embeddings ? weights.get('embed.weight')! : take('lm_head.weight'));
  if (state.size) fail(`${state.size} tensor(s) this map does not know (${[...state.keys()].slice(0, 3).join(', ')})`);
  const config: RecurrentConfig = { vocab, dim, layers, mixer: 'hgrn', convKernel: 0, mlpHidden, normEps: number('norm_eps', 1e-6) };
  return { config, weights };
}

/** Hiero's hgrn weights as an fla HGRNForCausalLM checkpoint (config.json fields and safetensors names). */
export function hgrnToFla(weights: Map<string, HostTensor>, config: RecurrentConfig): { state: Map<string, HostTensor>; config: FlaHgrnConfig } {
  if (config.mixer !== 'hgrn') throw new CheckpointError(`a ${config.mixer} LM: only HGRN maps to fla so far`);
  if (config.convKernel > 0) throw new CheckpointError(`convKernel ${config.convKernel}: Hiero's short convolution (on the block's input) has no fla counterpart; train with --conv 0 to export`);
  if (config.mlpHidden === 0) throw new CheckpointError("an HGRN without MLPs: fla's HGRN blocks always have one");
  const state = new Map<string, HostTensor>();
  const get = (name: string) => weights.get(name) ?? (() => { throw new CheckpointError(`no ${name} in the weights`); })();
  state.set('model.embeddings.weight', get('embed.weight'));
  state.set('model.lower_bounds', get('lower_bounds'));
  for (let i = 0; i < config.layers; i++) {
    const f = `model.layers.${i}.`;
    const h = `blocks.${i}.`;
    state.set(`${f}attn_norm.weight`, get(`${h}mixer_norm.weight`));
    const [input, forget] = splitRows(get(`${h}mixer.input_gates.weight`));
    state.set(`${f}attn.i_proj.weight`, input);
    state.set(`${f}attn.f_proj.weight`, forget);
    state.set(`${f}attn.g_proj.weight`, get(`${h}mixer.output_gate.weight`));
    state.set(`${f}attn.g_norm.weight`, get(`${h}mixer.norm.weight`));
    state.set(`${f}attn.o_proj.weight`, get(`${h}mixer.out.weight`));
    state.set(`${f}mlp_norm.weight`, get(`${h}mlp_norm.weight`));
    const [gate, up] = splitRows(get(`${h}mlp.gate_up.weight`));
    state.set(`${f}mlp.gate_proj.weight`, gate);
    state.set(`${f}mlp.up_proj.weight`, up);
    state.set(`${f}mlp.down_proj.weight`, get(`${h}mlp.down.weight`));
  }
  state.set('model.norm.weight', get('norm.weight'));
  state.set('lm_head.weight', get('head.weight'));
  return {
    state,
    config: {
      model_type: 'hgrn', architectures: ['HGRNForCausalLM'], hidden_size: config.dim, num_hidden_layers: config.layers, expand_ratio: 1,
      use_short_conv: false, use_lower_bound: true, intermediate_size: config.mlpHidden, hidden_act: 'swish', elementwise_affine: true,
      norm_eps: config.normEps, vocab_size: config.vocab, tie_word_embeddings: false, attn: null, attnres_block_size: null, attn_mode: 'chunk',
    },
  };
}
