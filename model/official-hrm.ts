// HRM checkpoints both ways between Hiero and the official code (sapientinc/HRM, models/hrm/hrm_act_v1.py;
// tests: test/official-checkpoints.test.ts). The parameter names map one to one (model/hrm.ts, officialName); what
// differs is packaging and three choices the official code makes:
//   - keys: the loss head's `model.inner.` prefix, and `_orig_mod.` before it when the model was torch.compile'd
//     (pretrain.py compiles unless DISABLE_COMPILE is set);
//   - the SwiGLU width is always a multiple of 256 (`_find_multiple(..., 256)`, no config field): imported models
//     get ffnMultiple 256; exported ones are zero-padded to it, which is exactly neutral (silu(0)·0 = 0 and the
//     padded columns of down_proj are zero);
//   - H_init and L_init are kept in the forward dtype (bfloat16 by default): imported widened to f32, exported
//     rounded to bfloat16 (the one inexact step, ≤ 2^-9 relative, and only when forward_dtype is bfloat16).
// The puzzle embedding (`puzzle_emb_ndim`, any width: ceil(ndim / hidden) prefix positions, zero-padded) and the
// token encodings of Sudoku (0 pad, 1 blank, 2.. digits), mazes (0 pad, 1 wall, 2 open, 3 start, 4 goal, 5 path)
// and ARC (0 pad, 1 end of row, 2..11 colours) are the same in both.

import { CheckpointError, type HostTensor } from '../engine/index.ts';
import { ffnWidth, officialName, type HRMConfig } from './hrm.ts';
import { validateHRMConfig } from './kinds/puzzle.ts';

/** The official arch section (config/arch/hrm_v1.yaml, as all_config.yaml saves it). */
export interface OfficialHrmArch {
  name: string;
  loss: { name: string; loss_type?: string };
  H_cycles: number;
  L_cycles: number;
  H_layers: number;
  L_layers: number;
  hidden_size: number;
  num_heads: number;
  expansion: number;
  puzzle_emb_ndim: number;
  pos_encodings: 'rope' | 'learned';
  rope_theta?: number;
  rms_norm_eps?: number;
  halt_max_steps: number;
  halt_exploration_prob: number;
  forward_dtype?: string;
}

/** What the official dataset's metadata (data/<name>/train/dataset.json) must say for the shapes to agree. */
export interface OfficialDatasetShape {
  vocab_size: number;
  seq_len: number;
  num_puzzle_identifiers: number;
}

const OFFICIAL_FFN_MULTIPLE = 256;
const COMPILED = '_orig_mod.';
const INNER = 'model.inner.';

/** Our name of an official state-dict key (prefixes stripped); null for a key that is not the model's. */
export function hieroNameOf(key: string): string | null {
  let k = key.startsWith(COMPILED) ? key.slice(COMPILED.length) : key;
  if (!k.startsWith(INNER)) return null;
  k = k.slice(INNER.length);
  return k
    .replace(/^embed_tokens\.embedding_weight$/, 'embed_tokens.weight')
    .replace(/^embed_pos\.embedding_weight$/, 'embed_pos.weight')
    .replace(/^puzzle_emb\.weights$/, 'puzzle_emb.weight');
}

function archNumber(arch: Record<string, unknown>, field: string, origin: string, fallback?: number): number {
  const v = arch[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new CheckpointError(`${origin}: arch.${field} must be a number, got ${JSON.stringify(arch[field])}`);
  return v;
}

/**
 * An official HRM state dict and its arch config as Hiero's config and weights. seqLen comes from the task the
 * model will be used on (the official config keeps it in the dataset, not the checkpoint); with learned positions
 * it must agree with the weights.
 */
export function hrmFromOfficial(state: Map<string, HostTensor>, arch: Record<string, unknown>, seqLen: number, origin: string): { config: HRMConfig; weights: Map<string, HostTensor> } {
  const name = String(arch.name ?? '');
  if (!/hrm_act_v1/.test(name)) throw new CheckpointError(`${origin}: arch.name is ${JSON.stringify(arch.name)}; this importer reads the official HRM (hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1)`);
  const weights = new Map<string, HostTensor>();
  const foreign: string[] = [];
  for (const [key, t] of state) {
    const ours = hieroNameOf(key);
    if (ours === null) foreign.push(key);
    else weights.set(ours, t.dtype === 'f32' ? t : { ...t, dtype: 'f32', data: Float32Array.from(t.data as ArrayLike<number>) });
  }
  if (foreign.length) throw new CheckpointError(`${origin}: ${foreign.length} key(s) outside the model (${foreign.slice(0, 3).join(', ')}): an official HRM state dict has only model.inner.* (or _orig_mod.model.inner.*) keys`);
  const shapeOf = (n: string) => weights.get(n)?.shape ?? null;
  const hidden = archNumber(arch, 'hidden_size', origin);
  const rawNdim = arch.puzzle_emb_ndim;
  // An unresolved interpolation (a hand-copied hrm_v1.yaml) means what hydra would have made of it.
  const ndim = rawNdim === '${.hidden_size}' ? hidden : archNumber(arch, 'puzzle_emb_ndim', origin, 0);
  const tokens = shapeOf('embed_tokens.weight') ?? (() => { throw new CheckpointError(`${origin}: no embed_tokens.embedding_weight: not an HRM state dict`); })();
  const puzzle = shapeOf('puzzle_emb.weight');
  if (ndim > 0 && !puzzle) throw new CheckpointError(`${origin}: arch.puzzle_emb_ndim is ${ndim} but the state dict has no puzzle_emb.weights`);
  const positions = arch.pos_encodings;
  if (positions !== 'rope' && positions !== 'learned') throw new CheckpointError(`${origin}: arch.pos_encodings must be rope or learned, got ${JSON.stringify(positions)}`);
  const config: HRMConfig = validateHRMConfig({
    variant: 'hrm', vocab: tokens[0], seqLen, puzzleIds: puzzle ? puzzle[0] : 1, puzzleEmbedding: ndim > 0,
    ...(ndim > 0 && ndim !== hidden ? { puzzleEmbeddingWidth: ndim } : {}),
    hidden, heads: archNumber(arch, 'num_heads', origin), expansion: archNumber(arch, 'expansion', origin), ffnMultiple: OFFICIAL_FFN_MULTIPLE,
    hLayers: archNumber(arch, 'H_layers', origin), lLayers: archNumber(arch, 'L_layers', origin), hCycles: archNumber(arch, 'H_cycles', origin), lCycles: archNumber(arch, 'L_cycles', origin),
    positions, ropeBase: archNumber(arch, 'rope_theta', origin, 10000), normEps: archNumber(arch, 'rms_norm_eps', origin, 1e-5),
    haltMaxSteps: archNumber(arch, 'halt_max_steps', origin), haltExploration: archNumber(arch, 'halt_exploration_prob', origin),
  }, 'hrm');
  const pos = shapeOf('embed_pos.weight');
  const prefix = ndim > 0 ? Math.ceil(ndim / hidden) : 0;
  if (positions === 'learned' && pos && pos[0] !== seqLen + prefix) {
    throw new CheckpointError(`${origin}: learned positions for ${pos[0] - prefix} tokens, but the task has ${seqLen}: import it for a task of that size`);
  }
  return { config, weights };
}

/**
 * An official ARC model's puzzle embedding in Hiero's order. The official build_arc_dataset.py gives every puzzle, and
 * every augmented copy of it (`{name}_t{symmetry}_{colours}`), an identifier of its own (0 is blank) and lists them in
 * the dataset's identifiers.json; Hiero's ARC tasks are the task files of a directory in name order, one identifier
 * each (its augmentations reuse the task's). So task i takes the official row of the puzzle named as its file; the
 * rows of augmented copies are left out (a difference in inference, said in README: the official code gives an
 * augmented puzzle its own embedding, Hiero the task's).
 */
export function arcPuzzleRows(weights: Map<string, HostTensor>, config: HRMConfig, taskNames: string[], identifiers: unknown, origin: string): HRMConfig {
  if (!Array.isArray(identifiers) || !identifiers.every((n) => typeof n === 'string')) throw new CheckpointError(`${origin}: identifiers.json must be a list of puzzle names (build_arc_dataset.py writes one)`);
  const table = weights.get('puzzle_emb.weight');
  if (!table) throw new CheckpointError(`${origin}: an ARC model without a puzzle embedding (arch.puzzle_emb_ndim 0): nothing tells the tasks apart`);
  if (identifiers.length !== table.shape[0]) throw new CheckpointError(`${origin}: identifiers.json names ${identifiers.length} puzzles but the puzzle embedding has ${table.shape[0]} rows: not this model's dataset`);
  const row = new Map(identifiers.map((name, id) => [name, id]));
  const missing = taskNames.filter((n) => !row.has(n));
  if (missing.length) throw new CheckpointError(`${origin}: ${missing.length} of the ${taskNames.length} task(s) were not in the model's dataset (${missing.slice(0, 3).join(', ')}): it has no embedding for them`);
  const width = table.shape[1];
  const data = new Float32Array(taskNames.length * width);
  taskNames.forEach((name, i) => data.set((table.data as Float32Array).subarray(row.get(name)! * width, (row.get(name)! + 1) * width), i * width));
  weights.set('puzzle_emb.weight', { ...table, shape: [taskNames.length, width], data });
  return { ...config, puzzleIds: taskNames.length };
}

/** Pads the SwiGLU of one layer from Hiero's inner width to the official multiple of 256, with zeros. */
function padSwiGLU(name: string, t: HostTensor, from: number, to: number): HostTensor {
  if (from === to) return t;
  const data = t.data as Float32Array;
  if (name.endsWith('.mlp.gate_up_proj.weight')) {
    const d = t.shape[1];
    const out = new Float32Array(2 * to * d);
    out.set(data.subarray(0, from * d), 0); // the gate rows
    out.set(data.subarray(from * d, 2 * from * d), to * d); // the up rows, after the padded gate
    return { ...t, shape: [2 * to, d], data: out };
  }
  if (name.endsWith('.mlp.down_proj.weight')) {
    const d = t.shape[0];
    const out = new Float32Array(d * to);
    for (let r = 0; r < d; r++) out.set(data.subarray(r * from, (r + 1) * from), r * to);
    return { ...t, shape: [d, to], data: out };
  }
  return t;
}

/**
 * Hiero's HRM weights as the official state dict (compiled: `_orig_mod.model.inner.*`, or `model.inner.*`), its
 * arch config and the dataset shape the official loader must find. TRM and non-attention mixers have no official
 * HRM counterpart and are refused by name.
 */
export function hrmToOfficial(weights: Map<string, HostTensor>, config: HRMConfig, options: { compiled: boolean; forwardDtype: 'bfloat16' | 'float32' }): {
  state: Map<string, { shape: number[]; data: Float32Array; dtype: 'float32' | 'bfloat16' }>;
  arch: OfficialHrmArch;
  dataset: OfficialDatasetShape;
} {
  if (config.variant !== 'hrm') throw new CheckpointError(`a TRM checkpoint has no counterpart in the official HRM code (its L and H updates share one network)`);
  if (config.mixer && config.mixer !== 'attention') throw new CheckpointError(`an HRM with mixer ${config.mixer} has no counterpart in the official code (attention only)`);
  const inner = ffnWidth(config);
  const official = ffnWidth({ ...config, ffnMultiple: OFFICIAL_FFN_MULTIPLE });
  if (inner > official) throw new CheckpointError(`the SwiGLU width ${inner} is wider than the official code's ${official} for expansion ${config.expansion}: not expressible there`);
  const state = new Map<string, { shape: number[]; data: Float32Array; dtype: 'float32' | 'bfloat16' }>();
  for (const [name, t] of weights) {
    if (t.dtype !== 'f32') throw new CheckpointError(`${name}: a ${t.dtype} tensor in HRM weights`);
    const padded = padSwiGLU(name, t, inner, official);
    const key = `${options.compiled ? COMPILED : ''}${officialName(name)}`;
    const initial = name === 'H_init' || name === 'L_init';
    state.set(key, { shape: padded.shape, data: padded.data as Float32Array, dtype: initial && options.forwardDtype === 'bfloat16' ? 'bfloat16' : 'float32' });
  }
  const arch: OfficialHrmArch = {
    name: 'hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1', loss: { name: 'losses@ACTLossHead', loss_type: 'stablemax_cross_entropy' },
    H_cycles: config.hCycles, L_cycles: config.lCycles, H_layers: config.hLayers, L_layers: config.lLayers,
    hidden_size: config.hidden, num_heads: config.heads, expansion: config.expansion,
    puzzle_emb_ndim: config.puzzleEmbedding ? config.puzzleEmbeddingWidth ?? config.hidden : 0,
    pos_encodings: config.positions, rope_theta: config.ropeBase, rms_norm_eps: config.normEps,
    halt_max_steps: config.haltMaxSteps, halt_exploration_prob: config.haltExploration, forward_dtype: options.forwardDtype,
  };
  return { state, arch, dataset: { vocab_size: config.vocab, seq_len: config.seqLen, num_puzzle_identifiers: config.puzzleIds } };
}
