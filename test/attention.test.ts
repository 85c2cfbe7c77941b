// Fused attention (engine/ops/attention.ts, shaders/attention.wgsl) against a float64 reference that forms the
// full score matrix. Tolerances: each output is a softmax-weighted sum over <= 9 keys of dot products over Dh
// <= 16: rtol 1e-5, atol 1e-6; gradients recompute the same quantities twice more: rtol 1e-4, atol 1e-5.

import { describe, expect, it } from 'vitest';
import { attention, tensor, zeros } from '../engine/index.ts';
import { checkOp, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

function attentionRef(q: ref.Ref, k: ref.Ref, v: ref.Ref, causal: boolean): ref.Ref {
  const [b, h, tq, dh] = q.shape;
  const tk = k.shape[2];
  const scale = 1 / Math.sqrt(dh);
  const out = new Float64Array(b * h * tq * dh);
  for (let z = 0; z < b * h; z++) {
    for (let i = 0; i < tq; i++) {
      const allowed = causal ? Math.min(tk, i + 1 + tk - tq) : tk;
      const scores: number[] = [];
      for (let j = 0; j < allowed; j++) {
        let s = 0;
        for (let d = 0; d < dh; d++) s += q.data[(z * tq + i) * dh + d] * k.data[(z * tk + j) * dh + d];
        scores.push(s * scale);
      }
      const lse = ref.logsumexpOf(scores);
      for (let j = 0; j < allowed; j++) {
        const p = Math.exp(scores[j] - lse);
        for (let d = 0; d < dh; d++) out[(z * tq + i) * dh + d] += p * v.data[(z * tk + j) * dh + d];
      }
    }
  }
  return new ref.Ref(out, [...q.shape]);
}

describe('attention', () => {
  const cases: [number[], number, boolean][] = [
    [[1, 1, 1, 4], 1, false],
    [[2, 2, 5, 8], 5, false],
    [[2, 2, 5, 8], 5, true],
    [[1, 3, 4, 16], 9, true], // fewer queries than keys: the mask is aligned to the end
    [[1, 1, 3, 7], 6, false],
  ];
  for (const [qShape, tk, causal] of cases) {
    it(`q ${JSON.stringify(qShape)}, ${tk} keys, ${causal ? 'causal' : 'bidirectional'}`, async () => {
      const kShape = [qShape[0], qShape[1], tk, qShape[3]];
      await checkOp({
        label: 'attention',
        inputs: [ref.randomRef(qShape, 1, -2, 2), ref.randomRef(kShape, 2, -2, 2), ref.randomRef(kShape, 3)],
        gpu: (q, k, v) => attention(q, k, v, { causal }),
        reference: (q, k, v) => attentionRef(q, k, v, causal),
        tol: { atol: 1e-6, rtol: 1e-5 },
        gradTol: { atol: 1e-5, rtol: 1e-4 },
      });
    });
  }

  it('reads heads-last views [B, T, H, Dh].permute(0, 2, 1, 3) in place, causal', async () => {
    const shape = [2, 5, 3, 4]; // B, T, H, Dh
    const heads = (r: ref.Ref) => ref.permute(r, [0, 2, 1, 3]);
    await checkOp({
      label: 'attention on permuted views',
      inputs: [ref.randomRef(shape, 4), ref.randomRef(shape, 5), ref.randomRef(shape, 6)],
      gpu: (q, k, v) => attention(q.permute([0, 2, 1, 3]), k.permute([0, 2, 1, 3]), v.permute([0, 2, 1, 3]), { causal: true }).permute([0, 2, 1, 3]),
      reference: (q, k, v) => heads(attentionRef(heads(q), heads(k), heads(v), true)),
      tol: { atol: 1e-6, rtol: 1e-5 },
      gradTol: { atol: 1e-5, rtol: 1e-4 },
    });
  });

  it('stays finite for large scores and checks its shapes', async () => {
    const q = tensor(new Float32Array(8).fill(100), [1, 1, 2, 4]);
    const k = tensor(new Float32Array(12).map((_, i) => (i % 4) * 50), [1, 1, 3, 4]);
    const out = await attention(q, k, zeros([1, 1, 3, 4]).add(1)).toArray();
    expect(Array.from(out).every((x) => Math.abs(x - 1) < 1e-5)).toBe(true);
    expect(() => attention(q, k, zeros([1, 1, 2, 4]))).toThrow(/do not agree/);
    expect(() => attention(zeros([1, 1, 1, 200]), zeros([1, 1, 1, 200]), zeros([1, 1, 1, 200]))).toThrow(/exceeds the kernel's maximum of 128/);
  });
});
