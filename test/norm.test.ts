// RMSNorm, softmax, log-softmax (engine/ops/norm.ts, shaders/norm.wgsl) against float64 references.
// Tolerances: each output is a handful of f32 operations over a row sum (n <= 300 terms): rtol 1e-5, atol 1e-6;
// gradients add one more row sum: rtol 1e-4, atol 1e-5.

import { describe, expect, it } from 'vitest';
import { addRmsNorm, logSoftmax, rmsNorm, softmax, tensor } from '../engine/index.ts';
import { checkOp, expectClose, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

const TOL = { atol: 1e-6, rtol: 1e-5 };
const GRAD = { atol: 1e-5, rtol: 1e-4 };

function rowsRef(x: ref.Ref, f: (row: number[]) => number[]): ref.Ref {
  const n = x.shape[x.shape.length - 1];
  const out: number[] = [];
  for (let r = 0; r < x.size / n; r++) out.push(...f([...x.data.slice(r * n, (r + 1) * n)]));
  return ref.Ref.of(out, [...x.shape]);
}

const rmsRef = (x: ref.Ref, w: ref.Ref | null, eps: number) =>
  rowsRef(x, (row) => {
    const rstd = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / row.length + eps);
    return row.map((v, j) => v * rstd * (w ? w.data[j] : 1));
  });

const softmaxRef = (x: ref.Ref, log: boolean) =>
  rowsRef(x, (row) => {
    const lse = ref.logsumexpOf(row);
    return row.map((v) => (log ? v - lse : Math.exp(v - lse)));
  });

// [130, 4]: on CPU drivers, rows one per invocation across three workgroups of 64; [4, 300]: a workgroup per row.
const SHAPES = [[1], [3, 5], [2, 3, 7], [130, 4], [4, 300]];

describe('rmsNorm', () => {
  for (const shape of SHAPES) {
    it(`${JSON.stringify(shape)} with and without weight`, async () => {
      const x = ref.randomRef(shape, 1);
      const w = ref.randomRef([shape[shape.length - 1]], 2, 0.5, 1.5);
      const small = x.size <= 64;
      await checkOp({ label: 'rmsNorm w', inputs: [x, w], gpu: (a, b) => rmsNorm(a, b, 1e-5), reference: (a, b) => rmsRef(a, b, 1e-5), tol: TOL, gradTol: small ? GRAD : undefined });
      await checkOp({ label: 'rmsNorm', inputs: [x], gpu: (a) => rmsNorm(a, null, 1e-6), reference: (a) => rmsRef(a, null, 1e-6), tol: TOL, gradTol: small ? GRAD : undefined });
    });
  }
  it('rejects a weight that does not match the last axis', () => {
    expect(() => rmsNorm(tensor([[1, 2, 3]]), tensor([1, 2]))).toThrow(/does not match the last axis \(3\)/);
  });
  for (const shape of [[3, 5], [130, 4], [2, 300]]) {
    it(`addRmsNorm ${JSON.stringify(shape)}: rmsNorm(x + u) in one pass, the gradient of the sum to both`, async () => {
      const x = ref.randomRef(shape, 3);
      const u = ref.randomRef(shape, 4);
      const sumRef = (a: ref.Ref, b: ref.Ref) => rmsRef(ref.zip(a, b, (p, q) => p + q), null, 1e-6);
      await checkOp({ label: 'addRmsNorm', inputs: [x, u], gpu: (a, b) => addRmsNorm(a, b, 1e-6), reference: sumRef, tol: TOL, gradTol: x.size <= 600 ? GRAD : undefined });
    });
  }
  it('addRmsNorm: the same numbers as add then rmsNorm; shapes named', async () => {
    const x = tensor([[1, -2, 3, 0.5], [0.1, 0.2, -0.3, 4]]);
    const u = tensor([[0.3, 0.3, -1, 2], [1, 1, 1, 1]]);
    const fused = await addRmsNorm(x, u).toArray();
    const sum = x.add(u);
    const chained = await rmsNorm(sum).toArray();
    expect(Array.from(fused)).toEqual(Array.from(chained));
    expect(() => addRmsNorm(x, tensor([1, 2, 3, 4]))).toThrow(/must have the same shape/);
    for (const t of [x, u, sum]) t.dispose();
  });
});

describe('softmax and logSoftmax', () => {
  for (const shape of SHAPES) {
    it(`${JSON.stringify(shape)}`, async () => {
      const x = ref.randomRef(shape, 3, -3, 3);
      const small = x.size <= 64;
      await checkOp({ label: 'softmax', inputs: [x], gpu: softmax, reference: (a) => softmaxRef(a, false), tol: TOL, gradTol: small ? GRAD : undefined });
      await checkOp({ label: 'logSoftmax', inputs: [x], gpu: logSoftmax, reference: (a) => softmaxRef(a, true), tol: TOL, gradTol: small ? GRAD : undefined });
    });
  }
  it('is stable for logits of ±1e4 and reads strided views', async () => {
    const x = tensor([[1e4, 0, -1e4], [-1e4, -1e4, -1e4]]);
    expectClose(await softmax(x).toArray(), [1, 0, 0, 1 / 3, 1 / 3, 1 / 3], { atol: 1e-7, rtol: 1e-6 }, 'softmax');
    expectClose(await logSoftmax(x).toArray(), [0, -1e4, -2e4, -Math.log(3), -Math.log(3), -Math.log(3)], { atol: 1e-3, rtol: 1e-6 }, 'logSoftmax');
    const t = ref.randomRef([4, 3], 9);
    await checkOp({ label: 'softmax of transpose', inputs: [t], gpu: (a) => softmax(a.T), reference: (a) => softmaxRef(ref.transpose(a), false), tol: TOL, gradTol: GRAD });
  });
});
