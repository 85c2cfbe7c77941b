// Scaled dot-product attention (kernels: shaders/attention.wgsl; tests: test/attention.test.ts).
//
// Two kernel variants compute the same thing: 'row' (one invocation per query row, no barriers: CPU drivers) and
// 'flash' (FlashAttention-2 tiling through workgroup memory: GPUs). The choice is per adapter (setAttentionKernel
// overrides it; bench/ measures both). RoPE can be applied inside the kernels as q and k are read, so a model keeps
// no rotated copies of q and k for backward.

import { isGradEnabled, noGrad, record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, HieroError, ShapeError } from '../errors.ts';
import { Uniforms, type Overrides } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { copyStrided } from './elementwise.ts';
import { empty, launch } from './launch.ts';
import { concat } from './views.ts';
import { ropeTable, rotaryChannels } from './rope.ts';

export const MAX_HEAD_DIM = 128;

export interface AttentionRope {
  /** Frequency base (10000 in most models). */
  base?: number;
  /** Fraction of each head's channels that rotate (1 = all), rounded down to an even count. */
  fraction?: number;
  /** Position of query 0 and of key 0 (decoding with a cache: the cache length, and 0). */
  queryOffset?: number;
  keyOffset?: number;
}

export interface AttentionOptions {
  causal?: boolean;
  /** Multiplies q·k (default 1/sqrt(headDim)). */
  scale?: number;
  /**
   * Rotates q and k with rotary position embedding (rotate-half pairing, as rope()) as the kernels read them; the
   * gradient flows to the unrotated q and k.
   */
  rope?: AttentionRope;
  /**
   * Per batch row, how many of the keys it may see (f32 [batch], whole numbers): decoding a batch whose rows have
   * cached different numbers of keys (see appendToCache). Forward only (no gradient), not with `rope`.
   */
  keyLengths?: Tensor;
  /**
   * Sliding-window (local) attention: each query sees only its last `window` keys, itself included (Griffin's local
   * attention). With `causal`, or with keyLengths when decoding. Forward and backward skip the keys outside it.
   */
  window?: number;
  /**
   * PrefixLM (with causal): i32 [batch], how many leading keys of each row every query sees — query i of row b sees
   * key j when j ≤ i or j < prefixLengths[b] (an instruction attends both ways, its response causally). Forward and
   * backward; not with window or keyLengths. Decoding after the prefix needs none (every new query is past it).
   */
  prefixLengths?: Tensor;
}

export type AttentionKernel = 'row' | 'flash';

let chosenKernel: AttentionKernel | null = null;

/** Picks a kernel for bh heads of tq queries over tk keys of headDim channels (the autotuner's). */
export type AttentionChooser = (tq: number, tk: number, headDim: number, bh: number) => AttentionKernel | null;
let attentionChooser: AttentionChooser | null = null;

/** Forces one attention kernel variant (null: choose per adapter and shape). */
export function setAttentionKernel(kernel: AttentionKernel | null): void {
  chosenKernel = kernel;
}

/** Installs a per-shape chooser (the autotuner's); null restores the per-adapter default. */
export function setAttentionChooser(next: AttentionChooser | null): void {
  attentionChooser = next;
}

/** The variant used for a shape: forced, else tuned, else 'row' on CPU drivers and 'flash' on GPUs. */
export function getAttentionKernel(tq = 0, tk = 0, headDim = 0, bh = 0): AttentionKernel {
  return chosenKernel ?? attentionChooser?.(tq, tk, headDim, bh) ?? (runtime().report.software ? 'row' : 'flash');
}

interface FlashTiles {
  br: number;
  dh: number;
  fwg: number;
}

const FLASH_WG = 64;
/** Per-invocation output elements the flash kernels hold in registers (MAX_OWNED in the WGSL). */
const MAX_OWNED = 32;

/** The largest flash tiling whose workgroup memory fits this adapter, for a head dimension (null: none fits). */
function flashTiles(headDim: number): FlashTiles | null {
  const dh = Math.ceil(headDim / 4) * 4;
  const limit = runtime().limits.maxComputeWorkgroupStorageSize ?? 16384;
  for (const br of [16, 8, 4]) {
    // tile_q, tile_o (BR x DH), tile_k, tile_v (BC x DH), tile_s, tile_ds (BR x BC), three row vectors; BC = BR.
    const bytes = 4 * (4 * br * dh + 2 * br * br + 3 * br);
    const owned = (br * dh) / FLASH_WG;
    if (bytes <= limit && Number.isInteger(owned) && owned <= MAX_OWNED) return { br, dh, fwg: FLASH_WG };
  }
  return null;
}

/** x itself when the kernel can read it through strides (unit stride along the head dim), else a dense copy. */
function readable(x: Tensor): Tensor {
  return x.strides[3] === 1 || x.shape[3] === 1 ? x : copyStrided(x);
}

/** Where a backward kernel writes gradient element (b, h, t, d): offset + b·batch + h·head + t·time + d. */
interface GradLayout {
  offset: number;
  batch: number;
  head: number;
  time: number;
}

const NO_GRAD: GradLayout = { offset: 0, batch: 0, head: 0, time: 0 };

function layout(u: Uniforms, t: Tensor | null): Uniforms {
  if (!t) return u.u32(0).u32(0).u32(0).u32(0);
  return u.u32(t.offset).u32(t.strides[0]).u32(t.strides[1]).u32(t.strides[2]);
}

/**
 * softmax(q kᵀ · scale [+ causal mask]) v for q [B, H, Tq, Dh], k and v [B, H, Tk, Dh], read in place through
 * their strides. The causal mask is aligned to the end, so Tq = 1 with Tk cached keys is one decoding step.
 * The result is [B, H, Tq, Dh] laid out in memory as [B, Tq, H, Dh], so `.permute([0, 2, 1, 3])` back to
 * heads-last is a contiguous view.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  return attentionOf(q, k, v, options, null);
}

/**
 * attention() of the three parts of a packed projection qkv [B, T, 3, H, Dh] (a self-attention layer's fused
 * q/k/v output, reshaped): the same result, but its backward writes dq, dk and dv straight into one gradient of
 * qkv's shape, where three slices would each scatter theirs into a zero tensor and two adds would join them.
 */
export function attentionPacked(qkv: Tensor, options: AttentionOptions = {}): Tensor {
  qkv.assertDType('attentionPacked qkv', 'f32');
  if (qkv.rank !== 5 || qkv.shape[2] !== 3) throw new ShapeError(`attentionPacked: qkv must be [batch, seq, 3, heads, headDim], got ${formatShape(qkv.shape)}`);
  const packed = qkv.isContiguous ? qkv : copyStrided(qkv);
  const [b, t, , h, dh] = packed.shape;
  const part = (p: number) => packed.viewAs([b, h, t, dh], [t * 3 * h * dh, dh, 3 * h * dh, 1], packed.offset + p * h * dh, false);
  const [q, k, v] = [0, 1, 2].map(part);
  const result = attentionOf(q, k, v, options, packed);
  [q, k, v].forEach((x) => x.dispose());
  if (packed !== qkv) packed.dispose();
  return result;
}

function attentionOf(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions, packed: Tensor | null): Tensor {
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    t.assertDType(`attention ${name}`, 'f32');
    if (t.rank !== 4) throw new ShapeError(`attention: ${name} must be [batch, heads, seq, headDim], got ${formatShape(t.shape)}`);
  }
  const [b, h, tq, dh] = q.shape;
  const tk = k.shape[2];
  if (k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== dh || v.shape.join() !== k.shape.join()) {
    throw new ShapeError(`attention: q ${formatShape(q.shape)}, k ${formatShape(k.shape)} and v ${formatShape(v.shape)} do not agree`);
  }
  if (dh > MAX_HEAD_DIM) throw new ShapeError(`attention: head dimension ${dh} exceeds the kernel's maximum of ${MAX_HEAD_DIM}`);
  const causal = options.causal ?? false;
  const scale = options.scale ?? 1 / Math.sqrt(dh);
  const rope = options.rope ?? null;
  const rotary = rope ? rotaryChannels(dh, rope.fraction) : 0;
  const queryOffset = rope?.queryOffset ?? 0;
  const keyOffset = rope?.keyOffset ?? 0;
  for (const [name, value] of [['queryOffset', queryOffset], ['keyOffset', keyOffset]] as const) {
    if (!Number.isInteger(value) || value < 0) throw new HieroError(`attention: rope.${name} must be a non-negative integer, got ${value}`);
  }
  const window = options.window ?? 0;
  if (!Number.isInteger(window) || window < 0) throw new HieroError(`attention: window must be a whole number of keys (0: no window), got ${window}`);
  const keyLengths = options.keyLengths ?? null;
  if (window > 0 && !causal && !keyLengths) throw new HieroError('attention: a window needs causal: true (or keyLengths when decoding): it is the last `window` keys of each query');
  if (keyLengths) {
    keyLengths.assertDType('attention keyLengths', 'f32');
    if (keyLengths.rank !== 1 || keyLengths.shape[0] !== b) throw new ShapeError(`attention: keyLengths must be [${b}], got ${formatShape(keyLengths.shape)}`);
    if (rope) throw new HieroError('attention: keyLengths and rope cannot be combined (cache keys already rotated, and rotate the queries with rope())');
    if ([q, k, v].some((t) => t.requiresGrad) && isGradEnabled()) throw new HieroError('attention: keyLengths is for decoding and has no gradient; run it under noGrad');
  }
  const prefixLengths = options.prefixLengths ?? null;
  if (prefixLengths) {
    prefixLengths.assertDType('attention prefixLengths', 'i32');
    if (prefixLengths.rank !== 1 || prefixLengths.shape[0] !== b) throw new ShapeError(`attention: prefixLengths must be [${b}], got ${formatShape(prefixLengths.shape)}`);
    if (!causal) throw new HieroError('attention: prefixLengths needs causal: true (a prefix seen both ways, the rest causally); without causal every key is seen already');
    if (window > 0 || keyLengths) throw new HieroError('attention: prefixLengths cannot be combined with window or keyLengths');
  }
  const rt = runtime();
  const bh = b * h;
  const rows = bh * tq;
  const useRope = rotary > 0;
  const ropeCosSin = useRope ? ropeTable(rotary, rope!.base ?? 10000, Math.max(queryOffset + tq, keyOffset + tk)) : null;
  // The prefix lengths ride in the table binding as floats, after RoPE's table when both are on.
  const prefixAt = ropeCosSin && prefixLengths ? ropeCosSin.size : 0;
  const table = prefixLengths
    ? noGrad(() => (ropeCosSin ? concat([ropeCosSin.reshape([ropeCosSin.size]), prefixLengths.astype('f32')], 0) : prefixLengths.astype('f32')))
    : ropeCosSin;
  const tiles = !keyLengths && getAttentionKernel(tq, tk, dh, bh) === 'flash' ? flashTiles(dh) : null;
  const overrides: Overrides = tiles
    ? { FWG: tiles.fwg, BR: tiles.br, BC: tiles.br, DH: tiles.dh, CAUSAL: causal, ROPE: useRope, PREFIX: prefixLengths !== null }
    : { WG: 64, CAUSAL: causal, ROPE: useRope, KEY_LENGTHS: keyLengths !== null, PREFIX: prefixLengths !== null, ...(dh <= 16 ? { SHORT_HEAD_DIM: dh } : {}) };
  // Heads of up to 16 channels have row kernels that hold a row in registers (shaders/attention.wgsl, row16_*).
  const entry = (name: string) => `${tiles ? 'flash' : dh <= 16 ? 'row16' : 'row'}_${name}`;
  const [qr, kr, vr] = [q, k, v].map(readable);
  // Output memory in [B, Tq, H, Dh] order, viewed as [B, H, Tq, Dh].
  const buffer = empty([b, tq, h, dh], 'f32', 'attention');
  const out = buffer.viewAs([b, h, tq, dh], [tq * h * dh, dh, h * dh, 1], 0);
  buffer.dispose();
  // [L | D]: the forward writes L (log-sum-exp per row), the dq kernel D = dO · O for the dk/dv kernel.
  const stats = empty([2 * rows], 'f32', 'attention');
  // Operands q, k, v, o, dO, then the two gradient layouts (backward; forward: none).
  const params = (operands: (Tensor | null)[], grads: [GradLayout, GradLayout] | null = null) => {
    const u = new Uniforms();
    for (const t of operands) layout(u, t);
    for (const g of grads ?? [NO_GRAD, NO_GRAD]) u.u32(g.offset).u32(g.batch).u32(g.head).u32(g.time);
    return u.u32(bh).u32(tq).u32(tk).u32(dh).f32(scale).u32(h).u32(rotary).u32(queryOffset).u32(keyOffset).u32(window).u32(prefixAt).build();
  };
  // Row kernels: one invocation per row; flash kernels: one workgroup per (tile, batch·head), folded into 2-D.
  const grid = (length: number, label: string) =>
    tiles ? rt.grid(bh * Math.ceil(length / tiles.br), 1, label) : rt.grid(bh * length, 64, label);
  launch({
    family: 'attention', entry: entry('forward'), label: 'attention', overrides, uniforms: params([qr, kr, vr, out, null]),
    outputs: [out, stats], inputs: [qr, kr, vr, null, null, table ?? keyLengths],
    workgroups: grid(tq, 'attention'),
  });
  // The table is saved too: a longer sequence later may replace the cached one before this backward runs.
  const backward = (g: Tensor, saved: readonly Tensor[]): (Tensor | null)[] => {
    const [qs, ks, vs, os, st] = saved;
    const savedTable = saved[5] ?? null;
    const gr = readable(g);
    const operands = [qs, ks, vs, os, gr];
    const dense = (t: number): GradLayout => ({ offset: 0, batch: h * t * dh, head: t * dh, time: dh });
    // Packed: part p of dqkv [B, T, 3, H, Dh] seen as [B, H, T, Dh].
    const third = (p: number): GradLayout => ({ offset: p * h * dh, batch: tq * 3 * h * dh, head: dh, time: 3 * h * dh });
    const dqkv = packed ? empty(packed.shape, 'f32', 'attention backward') : null;
    const dq = dqkv ?? empty(q.shape, 'f32', 'attention backward');
    launch({
      family: 'attention', entry: entry('backward_dq'), label: 'attention backward dq', overrides,
      uniforms: params(operands, dqkv ? [third(0), NO_GRAD] : [dense(tq), NO_GRAD]),
      outputs: [dq, st], inputs: [qs, ks, vs, gr, os, savedTable],
      workgroups: grid(tq, 'attention backward'),
    });
    const dk = dqkv ?? empty(k.shape, 'f32', 'attention backward');
    const dv = dqkv ? null : empty(v.shape, 'f32', 'attention backward');
    launch({
      family: 'attention', entry: entry('backward_dkv'), label: 'attention backward dkv', overrides: { ...overrides, PACKED_GRADS: dqkv !== null },
      uniforms: params(operands, dqkv ? [third(1), third(2)] : [dense(tk), dense(tk)]),
      // Packed, dk and dv are two thirds of one buffer: it is bound once, as out, and dv is written there too.
      outputs: [dk, dv], inputs: [qs, ks, vs, gr, st, savedTable],
      workgroups: grid(tk, 'attention backward'),
    });
    if (gr !== g) gr.dispose();
    if (dqkv) return [dqkv];
    const keepIf = (t: Tensor, wanted: boolean) => (wanted ? t : (t.dispose(), null));
    return [keepIf(dq, q.requiresGrad), keepIf(dk, k.requiresGrad), keepIf(dv!, v.requiresGrad)];
  };
  const saved = table ? [qr, kr, vr, out, stats, table] : [qr, kr, vr, out, stats];
  const result = packed ? record('attention', [packed], out, backward, saved) : record('attention', [q, k, v], out, backward, saved);
  stats.dispose();
  if (table && table !== ropeCosSin) table.dispose();
  [qr, kr, vr].forEach((t, i) => t !== [q, k, v][i] && t.dispose());
  return result;
}

/**
 * Writes one step of keys or values, rows [B, H, Dh], into a cache [B, H, L, Dh] at each row's position
 * (positions f32 [B], whole numbers; a negative position skips the row: it did not step). In place, no gradient.
 */
export function appendToCache(cache: Tensor, rows: Tensor, positions: Tensor): void {
  cache.assertDType('appendToCache cache', 'f32');
  rows.assertDType('appendToCache rows', 'f32');
  positions.assertDType('appendToCache positions', 'f32');
  const [b, h, length, dh] = cache.shape;
  if (cache.rank !== 4 || !cache.isContiguous || cache.offset !== 0) throw new ShapeError(`appendToCache: the cache must be a contiguous [batch, heads, length, headDim], got ${formatShape(cache.shape)}`);
  if (rows.shape.join() !== [b, h, dh].join()) throw new ShapeError(`appendToCache: rows ${formatShape(rows.shape)} must be ${formatShape([b, h, dh])}`);
  if (positions.shape.join() !== String(b)) throw new ShapeError(`appendToCache: positions must be [${b}], got ${formatShape(positions.shape)}`);
  const dense = rows.isContiguous && rows.offset === 0 ? rows : copyStrided(rows);
  const uniforms = new Uniforms();
  for (let i = 0; i < 7; i++) layout(uniforms, null);
  launch({
    family: 'attention', entry: 'cache_write', label: 'cache write', overrides: { WG: 64 },
    uniforms: uniforms.u32(b * h).u32(1).u32(length).u32(dh).f32(1).u32(h).u32(0).u32(0).u32(0).build(),
    outputs: [cache, null], inputs: [dense, null, null, null, null, positions],
    workgroups: runtime().grid(b * h * dh, 64, 'cache write'),
  });
  if (dense !== rows) dense.dispose();
}
