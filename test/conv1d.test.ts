// Causal depthwise conv1d (engine/ops/conv1d.ts, shaders/conv1d.wgsl) against a float64 reference.
// Tolerance: K <= 4 products per output: rtol 1e-6, atol 1e-6; gradients sum over B·T terms: rtol 1e-5.

import { describe, expect, it } from 'vitest';
import { causalConv1d, zeros } from '../engine/index.ts';
import { checkOp, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

function convRef(x: ref.Ref, w: ref.Ref, bias: ref.Ref | null): ref.Ref {
  const [B, T, C] = x.shape;
  const K = w.shape[1];
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) {
    let acc = bias ? bias.data[c] : 0;
    for (let k = 0; k < K; k++) {
      const s = t - (K - 1) + k;
      if (s >= 0) acc += w.data[c * K + k] * x.data[(b * T + s) * C + c];
    }
    out[(b * T + t) * C + c] = acc;
  }
  return new ref.Ref(out, [B, T, C]);
}

describe('causalConv1d', () => {
  for (const [B, T, C, K] of [[2, 7, 3, 4], [1, 2, 5, 4], [3, 5, 2, 1]]) {
    it(`B${B} T${T} C${C} K${K}: forward and gradients of x, weight and bias`, async () => {
      await checkOp({
        label: 'conv1d',
        inputs: [ref.randomRef([B, T, C], 1), ref.randomRef([C, K], 2), ref.randomRef([C], 3)],
        gpu: (x, w, b) => causalConv1d(x, w, b),
        reference: convRef,
        tol: { atol: 1e-6, rtol: 1e-6 },
        gradTol: { atol: 1e-5, rtol: 1e-5 },
      });
    });
  }
  it('never sees the future and checks shapes', async () => {
    const x = zeros([1, 4, 1]);
    expect(() => causalConv1d(x, zeros([2, 4]))).toThrow(/weight must be \[1, kernel\]/);
    expect(() => causalConv1d(zeros([4, 1]), zeros([1, 4]))).toThrow(/\[batch, steps, channels\]/);
  });
});
