// Fused attention (engine/ops/attention.ts, shaders/attention.wgsl) against a float64 reference that forms the
// full score matrix. Tolerances: each output is a softmax-weighted sum over <= 19 keys of dot products over Dh
// <= 16 (128 in one forward-only case, with inputs in [-0.5, 0.5] so scores stay O(1)): rtol 1e-5, atol 1e-6;
// gradients recompute the same quantities twice more: rtol 1e-4, atol 1e-5.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendToCache, attention, attentionPacked, noGrad, setAttentionKernel, tensor, zeros } from '../engine/index.ts';
import { checkOp, expectClose, toGpu, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

function attentionRef(q: ref.Ref, k: ref.Ref, v: ref.Ref, causal: boolean, window = 0, prefixes: number[] | null = null): ref.Ref {
  const [b, h, tq, dh] = q.shape;
  const tk = k.shape[2];
  const scale = 1 / Math.sqrt(dh);
  const out = new Float64Array(b * h * tq * dh);
  for (let z = 0; z < b * h; z++) {
    for (let i = 0; i < tq; i++) {
      // PrefixLM: the row's first prefix keys are seen by every query, as well as the causal ones.
      const prefix = prefixes ? Math.min(tk, prefixes[Math.floor(z / h)]) : 0;
      const allowed = causal ? Math.max(prefix, Math.min(tk, i + 1 + tk - tq)) : tk;
      const first = window > 0 ? Math.max(0, allowed - window) : 0;
      const scores: number[] = [];
      for (let j = first; j < allowed; j++) {
        let s = 0;
        for (let d = 0; d < dh; d++) s += q.data[(z * tq + i) * dh + d] * k.data[(z * tk + j) * dh + d];
        scores.push(s * scale);
      }
      const lse = ref.logsumexpOf(scores);
      for (let j = first; j < allowed; j++) {
        const p = Math.exp(scores[j - first] - lse);
        for (let d = 0; d < dh; d++) out[(z * tq + i) * dh + d] += p * v.data[(z * tk + j) * dh + d];
      }
    }
  }
  return new ref.Ref(out, [...q.shape]);
}

/** Part p of a packed projection [B, T, 3, H, Dh], as [B, H, T, Dh]. */
function packedPart(qkv: ref.Ref, p: number): ref.Ref {
  const [b, t, , h, dh] = qkv.shape;
  const out = new Float64Array(b * h * t * dh);
  for (let z = 0; z < b; z++) for (let i = 0; i < t; i++) for (let y = 0; y < h; y++) for (let d = 0; d < dh; d++) {
    out[((z * h + y) * t + i) * dh + d] = qkv.data[((((z * t + i) * 3 + p) * h + y) * dh) + d];
  }
  return new ref.Ref(out, [b, h, t, dh]);
}

/** Rotary embedding of [B, H, T, D] tensors (ref.ropeRef works on [B, T, H, D]). */
function ropeHeadsFirst(x: ref.Ref, base: number, fraction: number, offset: number): ref.Ref {
  return ref.permute(ref.ropeRef(ref.permute(x, [0, 2, 1, 3]), base, fraction, offset), [0, 2, 1, 3]);
}

const TOL = { atol: 1e-6, rtol: 1e-5 };
const GRAD = { atol: 1e-5, rtol: 1e-4 };

// Every case runs on both kernel variants: 'row' (CPU drivers' default) and 'flash' (GPUs' default), whatever the
// adapter, so each is checked here. Shapes cross the flash tiles' edges (16 rows and keys per tile when the head
// dim allows, 8 otherwise; head dims that are not multiples of 4 are padded in the tiles).
for (const kernel of ['row', 'flash'] as const) {
  describe(`attention (${kernel} kernel)`, () => {
    beforeAll(() => setAttentionKernel(kernel));
    afterAll(() => setAttentionKernel(null));
    // [q shape, keys, causal, sliding window (0: none)]
    const cases: [number[], number, boolean, number?][] = [
      [[1, 1, 1, 4], 1, false],
      [[2, 2, 5, 8], 5, false],
      [[2, 2, 5, 8], 5, true],
      [[1, 3, 4, 16], 9, true], // fewer queries than keys: the mask is aligned to the end
      [[1, 1, 3, 7], 6, false],
      [[1, 2, 17, 6], 19, true], // two query tiles, two key tiles, a padded head dim
      [[1, 1, 18, 4], 18, false],
      // Sliding windows: narrower than a tile, crossing tile edges, wider than the sequence, with fewer queries than keys.
      [[2, 2, 9, 8], 9, true, 3],
      [[1, 2, 37, 6], 37, true, 17],
      [[1, 1, 5, 4], 5, true, 64],
      [[1, 2, 4, 8], 21, true, 6],
    ];
    for (const [qShape, tk, causal, window = 0] of cases) {
      it(`q ${JSON.stringify(qShape)}, ${tk} keys, ${causal ? 'causal' : 'bidirectional'}${window ? `, window ${window}` : ''}`, async () => {
        const kShape = [qShape[0], qShape[1], tk, qShape[3]];
        await checkOp({
          label: `attention ${kernel}`,
          inputs: [ref.randomRef(qShape, 1, -2, 2), ref.randomRef(kShape, 2, -2, 2), ref.randomRef(kShape, 3)],
          gpu: (q, k, v) => attention(q, k, v, { causal, window }),
          reference: (q, k, v) => attentionRef(q, k, v, causal, window),
          tol: TOL,
          gradTol: GRAD,
        });
      });
    }

    it('PrefixLM: each row sees its prefix both ways and the rest causally, forward and backward, with and without RoPE', async () => {
      // Prefixes of 0 (plain causal), inside a tile, across tile edges, the whole row and past it; two rows differ.
      for (const [qShape, prefixes] of [[[2, 2, 9, 8], [0, 4]], [[2, 1, 19, 6], [17, 3]], [[1, 2, 5, 4], [9]], [[2, 1, 33, 8], [20, 33]]] as const) {
        const kShape = [...qShape];
        const lengths = () => tensor(Int32Array.from(prefixes), [prefixes.length], { dtype: 'i32' });
        await checkOp({
          label: `prefix ${kernel} ${JSON.stringify(qShape)} ${prefixes}`,
          inputs: [ref.randomRef([...qShape], 21, -2, 2), ref.randomRef(kShape, 22, -2, 2), ref.randomRef(kShape, 23)],
          gpu: (q, k, v) => attention(q, k, v, { causal: true, prefixLengths: lengths() }),
          reference: (q, k, v) => attentionRef(q, k, v, true, 0, [...prefixes]),
          tol: TOL, gradTol: GRAD,
        });
      }
      const qShape = [2, 2, 6, 8];
      await checkOp({
        label: `prefix ${kernel} with RoPE`,
        inputs: [ref.randomRef(qShape, 24, -2, 2), ref.randomRef(qShape, 25, -2, 2), ref.randomRef(qShape, 26)],
        gpu: (q, k, v) => attention(q, k, v, { causal: true, rope: { base: 100 }, prefixLengths: tensor(Int32Array.from([3, 5]), [2], { dtype: 'i32' }) }),
        reference: (q, k, v) => attentionRef(ropeHeadsFirst(q, 100, 1, 0), ropeHeadsFirst(k, 100, 1, 0), v, true, 0, [3, 5]),
        tol: TOL, gradTol: GRAD,
      });
    });

    it('PrefixLM then KV-cached decoding: a step after a bidirectional prefix equals the full PrefixLM pass at that position', async () => {
      const [b, h, t, dh] = [2, 2, 7, 8];
      const full = [ref.randomRef([b, h, t + 1, dh], 31, -2, 2), ref.randomRef([b, h, t + 1, dh], 32, -2, 2), ref.randomRef([b, h, t + 1, dh], 33)];
      const [q, k, v] = full.map((r) => toGpu(r));
      const prefix = tensor(Int32Array.from([4, 7]), [2], { dtype: 'i32' });
      const whole = await noGrad(() => attention(q, k, v, { causal: true, prefixLengths: prefix })).toArray();
      // The step: the last query against all t + 1 keys, causal (every key is at or before it; the prefix is behind).
      const last = await noGrad(() => attention(q.slice([null, null, [t, t + 1], null]), k, v, { causal: true })).toArray();
      const expected = Array.from({ length: b * h * dh }, (_, n) => whole[(Math.floor(n / dh) * (t + 1) + t) * dh + (n % dh)]);
      expectClose(last, expected, TOL, 'decoding step after the prefix');
      for (const x of [q, k, v, prefix]) x.dispose();
    });

    it('rotates q and k with RoPE as it reads them: equal to rope() then attention, gradients included', async () => {
      for (const [fraction, queryOffset, keyOffset, causal] of [[1, 0, 0, true], [0.5, 4, 1, false]] as const) {
        const qShape = [1, 2, 5, 8];
        const kShape = [1, 2, 6, 8];
        await checkOp({
          label: `attention ${kernel} with RoPE (fraction ${fraction}, offsets ${queryOffset}/${keyOffset})`,
          inputs: [ref.randomRef(qShape, 7, -2, 2), ref.randomRef(kShape, 8, -2, 2), ref.randomRef(kShape, 9)],
          gpu: (q, k, v) => attention(q, k, v, { causal, rope: { base: 100, fraction, queryOffset, keyOffset } }),
          reference: (q, k, v) =>
            attentionRef(ropeHeadsFirst(q, 100, fraction, queryOffset), ropeHeadsFirst(k, 100, fraction, keyOffset), v, causal),
          tol: TOL,
          gradTol: GRAD,
        });
      }
    });

    it('handles the largest head dimension (128) with RoPE', async () => {
      const shape = [1, 1, 3, 128];
      await checkOp({
        label: `attention ${kernel} head dim 128`,
        inputs: [ref.randomRef(shape, 10, -0.5, 0.5), ref.randomRef(shape, 11, -0.5, 0.5), ref.randomRef(shape, 12)],
        gpu: (q, k, v) => attention(q, k, v, { causal: true, rope: { base: 10000 } }),
        reference: (q, k, v) => attentionRef(ropeHeadsFirst(q, 10000, 1, 0), ropeHeadsFirst(k, 10000, 1, 0), v, true),
        tol: TOL,
      });
    });

    it('reads heads-last views [B, T, H, Dh].permute(0, 2, 1, 3) in place, causal', async () => {
      const shape = [2, 5, 3, 4]; // B, T, H, Dh
      const heads = (r: ref.Ref) => ref.permute(r, [0, 2, 1, 3]);
      await checkOp({
        label: `attention ${kernel} on permuted views`,
        inputs: [ref.randomRef(shape, 4), ref.randomRef(shape, 5), ref.randomRef(shape, 6)],
        gpu: (q, k, v) => attention(q.permute([0, 2, 1, 3]), k.permute([0, 2, 1, 3]), v.permute([0, 2, 1, 3]), { causal: true }).permute([0, 2, 1, 3]),
        reference: (q, k, v) => heads(attentionRef(heads(q), heads(k), heads(v), true)),
        tol: TOL,
        gradTol: GRAD,
      });
    });

    // Head dims 8 (the row16 kernels on CPU drivers) and 20 (the general row kernels), with RoPE and without.
    it('attentionPacked of [B, T, 3, H, Dh] equals attention of its three parts, its one gradient included', async () => {
      for (const [shape, causal, withRope] of [[[2, 5, 3, 2, 8], true, false], [[1, 6, 3, 2, 20], false, true]] as const) {
        const rope = withRope ? { base: 100 } : undefined;
        await checkOp({
          label: `attentionPacked ${kernel} ${JSON.stringify(shape)}`,
          inputs: [ref.randomRef([...shape], 13, -1.5, 1.5)],
          gpu: (qkv) => attentionPacked(qkv, { causal, rope }),
          reference: (qkv) => {
            const [q, k, v] = [0, 1, 2].map((p) => packedPart(qkv, p));
            return withRope ? attentionRef(ropeHeadsFirst(q, 100, 1, 0), ropeHeadsFirst(k, 100, 1, 0), v, causal) : attentionRef(q, k, v, causal);
          },
          tol: TOL,
          gradTol: GRAD,
        });
      }
    });

    it('stays finite for large scores', async () => {
      const q = tensor(new Float32Array(8).fill(100), [1, 1, 2, 4]);
      const k = tensor(new Float32Array(12).map((_, i) => (i % 4) * 50), [1, 1, 3, 4]);
      const out = await attention(q, k, zeros([1, 1, 3, 4]).add(1)).toArray();
      expect(Array.from(out).every((x) => Math.abs(x - 1) < 1e-5)).toBe(true);
    });
  });
}

describe('attention input checks', () => {
  it('names shape mismatches, oversized heads and bad RoPE offsets', () => {
    const q = tensor(new Float32Array(8).fill(1), [1, 1, 2, 4]);
    const k = tensor(new Float32Array(12).fill(1), [1, 1, 3, 4]);
    expect(() => attention(q, k, zeros([1, 1, 2, 4]))).toThrow(/do not agree/);
    expect(() => attention(zeros([1, 1, 1, 200]), zeros([1, 1, 1, 200]), zeros([1, 1, 1, 200]))).toThrow(/exceeds the kernel's maximum of 128/);
    expect(() => attention(q, k, k, { rope: { queryOffset: -1 } })).toThrow(/rope.queryOffset must be a non-negative integer/);
    expect(() => attention(q, k, k, { window: 2 })).toThrow(/a window needs causal: true/);
    const prefix = tensor(Int32Array.from([1]), [1], { dtype: 'i32' });
    expect(() => attention(q, k, k, { prefixLengths: prefix })).toThrow(/prefixLengths needs causal: true/);
    expect(() => attention(q, k, k, { causal: true, window: 2, prefixLengths: prefix })).toThrow(/prefixLengths cannot be combined with window/);
    expect(() => attention(q, k, k, { causal: true, prefixLengths: tensor([1]) })).toThrow(/prefixLengths/);
    prefix.dispose();
    expect(() => attention(q, k, k, { causal: true, window: 1.5 })).toThrow(/window must be a whole number/);
  });
});

describe('decoding with a per-row cache', () => {
  it('appendToCache writes each stepping row at its position; keyLengths limits each row to its own keys', async () => {
    const [B, H, L, Dh] = [3, 2, 5, 4];
    const cache = tensor(new Float32Array(B * H * L * Dh), [B, H, L, Dh]);
    const rows = ref.randomRef([B, H, Dh], 21);
    appendToCache(cache, toGpu(rows), tensor([0, -1, 4]));
    const written = await cache.toArray();
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < L; t++) for (let d = 0; d < Dh; d++) {
      const at = ((b * H + h) * L + t) * Dh + d;
      const expected = (b === 0 && t === 0) || (b === 2 && t === 4) ? rows.data[(b * H + h) * Dh + d] : 0;
      expect(written[at]).toBeCloseTo(expected, 6);
    }
    // Attention of one query per row over its own first lengths[b] keys equals attention over exactly those keys.
    const q = ref.randomRef([B, H, 1, Dh], 22);
    const k = ref.randomRef([B, H, L, Dh], 23);
    const v = ref.randomRef([B, H, L, Dh], 24);
    const lengths = [5, 2, 1];
    const got = await noGrad(() => attention(toGpu(q), toGpu(k), toGpu(v), { keyLengths: tensor(lengths) })).toArray();
    for (let b = 0; b < B; b++) {
      const one = (r: ref.Ref, n: number) => ref.slice(r, [[b, b + 1, 1], null, [0, n, 1], null]);
      const expected = attentionRef(one(q, 1), one(k, lengths[b]), one(v, lengths[b]), false);
      expectClose(got.slice(b * H * Dh, (b + 1) * H * Dh), Array.from(expected.data), TOL, `row ${b}`);
    }
    expect(() => attention(toGpu(q), toGpu(k), toGpu(v), { keyLengths: tensor([1, 2]) })).toThrow(/keyLengths must be \[3\]/);
  });
});
