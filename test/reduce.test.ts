// Reductions (engine/ops/reduce.ts, shaders/reduce.wgsl) against float64 references.
//
// Tolerances: a sum of n f32 values carries rounding error up to ~n·eps·sum|x| in the worst case and ~sqrt(n)·eps
// typically; with n <= 1000 and |x| <= 1 that is < 1e-4 absolute in the worst case, so sums use atol 1e-4 with
// rtol 1e-5. max/min/arg* are exact. logsumexp adds one exp and one log per element: rtol 1e-5.

import { describe, expect, it } from 'vitest';
import { argmax, argmin, logsumexp, max, mean, min, sum, tensor } from '../engine/index.ts';
import { checkOp, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

const SUM_TOL = { atol: 1e-4, rtol: 1e-5 };
const EXACT = { atol: 0, rtol: 0 };
const GRAD = { atol: 1e-5, rtol: 1e-4 };

const CASES: { shape: number[]; axis: number | number[] | undefined }[] = [
  { shape: [7], axis: 0 },
  { shape: [3, 5], axis: 1 },
  { shape: [3, 5], axis: 0 },
  { shape: [2, 3, 4], axis: 1 },
  { shape: [2, 3, 4], axis: [0, 2] },
  { shape: [2, 3, 4], axis: undefined },
  { shape: [4, 1000], axis: 1 }, // the workgroup-per-row kernel
  { shape: [1000, 3], axis: 0 }, // the invocation-per-column kernel over a long axis
  { shape: [1], axis: 0 },
];

function axesOf(shape: number[], axis: number | number[] | undefined): number[] {
  if (axis === undefined) return shape.map((_, i) => i);
  return (typeof axis === 'number' ? [axis] : axis).map((a) => (a < 0 ? a + shape.length : a));
}

describe('value reductions with gradients', () => {
  const ops = [
    { name: 'sum', gpu: sum, f: ref.sumOf, tol: SUM_TOL },
    { name: 'mean', gpu: mean, f: (v: number[]) => ref.sumOf(v) / v.length, tol: SUM_TOL },
    { name: 'max', gpu: max, f: ref.maxOf, tol: EXACT },
    { name: 'min', gpu: min, f: ref.minOf, tol: EXACT },
    { name: 'logsumexp', gpu: logsumexp, f: ref.logsumexpOf, tol: { atol: 1e-5, rtol: 1e-5 } },
  ] as const;
  for (const op of ops) {
    for (const keepdim of [false, true]) {
      it(`${op.name} (keepdim ${keepdim})`, async () => {
        for (const [i, c] of CASES.entries()) {
          const x = ref.randomRef(c.shape, 100 + i);
          const big = c.shape.reduce((a, b) => a * b, 1) > 100;
          await checkOp({
            label: `${op.name} ${JSON.stringify(c.shape)} axis ${JSON.stringify(c.axis)}`,
            inputs: [x],
            gpu: (t) => op.gpu(t, c.axis, keepdim),
            reference: (r) => ref.reduceAxes(r, axesOf(c.shape, c.axis), op.f, keepdim),
            tol: big && op.name === 'mean' ? { atol: 1e-6, rtol: 1e-5 } : op.tol,
            // Finite differences cost 2 reference evaluations per element: check gradients on the small cases.
            gradTol: big ? undefined : op.name === 'sum' || op.name === 'mean' ? { atol: 1e-5, rtol: 1e-5 } : GRAD,
          });
        }
      });
    }
  }
});

describe('arg reductions', () => {
  it('argmax / argmin along an axis and over everything, first index on ties', async () => {
    const x = tensor([[1, 5, 5, 0], [7, -1, 7, -1], [2, 2, 2, 2]]);
    expect(Array.from(await argmax(x, 1).toArray())).toEqual([1, 0, 0]);
    expect(Array.from(await argmin(x, 1).toArray())).toEqual([3, 1, 0]);
    expect(Array.from(await argmax(x, 0).toArray())).toEqual([1, 0, 1, 2]);
    expect(await argmax(x).item()).toBe(4);
    expect(argmax(x, 1, true).shape).toEqual([3, 1]);
    expect(argmax(x).dtype).toBe('i32');
    const long = ref.randomRef([3, 777], 5);
    const expected = ref.reduceAxis(long, 1, ref.argmaxOf);
    const got = await argmax(tensor(Float32Array.from(long.data), long.shape), 1).toArray();
    expect(Array.from(got)).toEqual(Array.from(expected.data));
  });
});

describe('edge cases', () => {
  it('logsumexp is stable for logits of ±1e4 and max/argmax propagate NaN', async () => {
    const x = tensor([[1e4, 1e4 - 1, -1e4], [-1e4, -1e4, -1e4]]);
    const lse = await logsumexp(x, 1).toArray();
    expect(lse[0]).toBeCloseTo(1e4 + Math.log(1 + Math.exp(-1)), 2);
    expect(lse[1]).toBeCloseTo(-1e4 + Math.log(3), 2);
    const withNaN = tensor([1, NaN, 3]);
    expect(Number.isNaN(await max(withNaN).item())).toBe(true);
    expect(await argmax(withNaN).item()).toBe(1);
  });

  it('sum over a strided view (transpose) and of a large vector', async () => {
    const x = ref.randomRef([5, 3], 9);
    await checkOp({
      label: 'sum of transpose',
      inputs: [x],
      gpu: (t) => t.transpose().sum(1),
      reference: (r) => ref.reduceAxis(ref.transpose(r), 1, ref.sumOf),
      tol: SUM_TOL,
      gradTol: GRAD,
    });
    const n = 200_003;
    const total = await tensor(new Float32Array(n).fill(0.5)).sum().item();
    expect(total).toBeCloseTo(n * 0.5, 0);
  });
});
