// Rotary position embedding (kernel: shaders/rope.wgsl; tests: test/rope.test.ts).

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { keep, type Tensor } from '../tensor.ts';
import { tensor } from './creation.ts';
import { copyStrided } from './elementwise.ts';
import { empty, launch } from './launch.ts';

export interface RopeOptions {
  /** Frequency base (10000 in most models). */
  base?: number;
  /** Fraction of each head's channels that rotate (1 = all); rounded down to an even count. */
  fraction?: number;
  /** Position of the first token (for decoding one token at a time). */
  positionOffset?: number;
  /**
   * Per batch row, the position of its first token (i32 [batch]): rows decoding at different lengths. `maxPosition`
   * must bound every offset + seq (the cos/sin table is sized by it).
   */
  rowOffsets?: { offsets: Tensor; maxPosition: number };
}

interface Table {
  positions: number;
  /** [positions, rotary / 2, 2]: cos and sin of each position's angle for each pair. */
  values: Tensor;
}

// One table per (rotary channels, base), grown to the longest sequence seen. Computed once in float64. Tables
// belong to the device they were made on: after shutdown() and init() (a lost device re-created), new ones are made.
const tablesByRuntime = new WeakMap<object, Map<string, Table>>();

/** The cos/sin table of `rotary` rotating channels for at least `positions` positions (shared with attention). */
export function ropeTable(rotary: number, base: number, positions: number): Tensor {
  const key = `${rotary}:${base}`;
  const rt = runtime();
  let tables = tablesByRuntime.get(rt);
  if (!tables) tablesByRuntime.set(rt, (tables = new Map()));
  const cached = tables.get(key);
  if (cached && cached.positions >= positions && !cached.values.disposed) return cached.values;
  cached?.values.dispose();
  const capacity = Math.max(positions, 2 * (cached?.positions ?? 0), 64);
  const half = rotary / 2;
  const values = new Float32Array(capacity * half * 2);
  for (let p = 0; p < capacity; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * Math.pow(base, (-2 * i) / rotary);
      values[(p * half + i) * 2] = Math.cos(angle);
      values[(p * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  const entry = { positions: capacity, values: keep(tensor(values)) };
  tables.set(key, entry);
  return entry.values;
}

/**
 * Channels of a head that rotate: `fraction` of them, rounded down to an even count. A fraction written as a count over
 * the head dim (16/48, from a config's rotary_emb_dim) gives that count back, though 48 · (16/48) is 15.999… in floats.
 */
export function rotaryChannels(headDim: number, fraction = 1): number {
  return 2 * Math.floor((headDim * fraction) / 2 + 1e-9);
}

/** Applies RoPE to x [B, T, H, Dh] along T. */
export function rope(x: Tensor, options: RopeOptions = {}): Tensor {
  x.assertDType('rope', 'f32');
  if (x.rank !== 4) throw new ShapeError(`rope: expected x of shape [batch, seq, heads, headDim], got ${formatShape(x.shape)}`);
  const [batch, seq, heads, headDim] = x.shape;
  const rotary = rotaryChannels(headDim, options.fraction);
  const offset = options.positionOffset ?? 0;
  const base = options.base ?? 10000;
  if (rotary === 0) return x.viewAs(x.shape, x.strides, x.offset);
  const rt = runtime();
  const rows = options.rowOffsets ?? null;
  if (rows) {
    rows.offsets.assertDType('rope rowOffsets', 'i32');
    if (rows.offsets.rank !== 1 || rows.offsets.shape[0] !== batch) throw new ShapeError(`rope: rowOffsets must be [${batch}], got ${formatShape(rows.offsets.shape)}`);
  }
  const table = ropeTable(rotary, base, rows ? rows.maxPosition + seq : offset + seq);
  const apply = (input: Tensor, sign: number, label: string) => {
    // Read in place through batch/time/head strides when the head dim is unit-stride (a slice of a fused qkv).
    const src = input.strides[3] === 1 || headDim === 1 ? input : copyStrided(input);
    const out = empty(x.shape, 'f32', label);
    const uniforms = new Uniforms()
      .u32(batch).u32(seq).u32(heads).u32(headDim).u32(rotary).u32(offset)
      .u32(src.offset).u32(src.strides[0]).u32(src.strides[1]).u32(src.strides[2])
      .build();
    launch({
      family: 'rope', entry: 'rope', label,
      overrides: { WG: 64, SIGN: sign, ROW_OFFSETS: rows !== null }, uniforms,
      outputs: [out], inputs: [src, table, rows?.offsets ?? null],
      workgroups: rt.grid(x.size, 64, label),
    });
    if (src !== input) src.dispose();
    return out;
  };
  return record('rope', [x], apply(x, 1, 'rope'), (g) => [apply(g, -1, 'rope backward')]);
}
