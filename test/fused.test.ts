// Fused elementwise maps (engine/ops/fused.ts): one generated kernel for a chain of the op table's ops, forward and
// backward, against the float64 reference the op table gives (evaluateFused) and central finite differences of it.
// Tolerances: a chain of a few f32 ops, each within a few ulp (rtol 2e-6 forward); gradients as for single ops.

import { describe, expect, it } from 'vitest';
import { evaluateFused, fusedMap, fusedSum, runtime, scope, sync, tensor, type FusedBody, type FusedValue, type Tensor } from '../engine/index.ts';
import { checkOp, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

const TOL = { atol: 1e-6, rtol: 2e-6 };
const GRAD_TOL = { atol: 1e-5, rtol: 1e-4 };

/** The float64 reference of a fused body's `output`-th value over broadcast inputs. */
function reference(body: FusedBody, output = 0) {
  return (...inputs: ref.Ref[]): ref.Ref => {
    const shape = inputs.map((r) => r.shape).reduce((a, b) => ref.broadcastShape(a, b));
    const full = inputs.map((r) => ref.expandTo(r, shape));
    const out = new Float64Array(full[0].size);
    for (let i = 0; i < out.length; i++) out[i] = evaluateFused(body, inputs.length, full.map((r) => r.data[i]), output);
    return new ref.Ref(out, shape);
  };
}

/** The same, summed over the last axis in float64. */
function summedReference(body: FusedBody, output = 0) {
  const map = reference(body, output);
  return (...inputs: ref.Ref[]): ref.Ref => {
    const full = map(...inputs);
    const cols = full.shape[full.shape.length - 1];
    const out = new Float64Array(full.size / cols);
    for (let r = 0; r < out.length; r++) for (let j = 0; j < cols; j++) out[r] += full.data[r * cols + j];
    return new ref.Ref(out, full.shape.slice(0, -1));
  };
}

const bce = (x: FusedValue, y: FusedValue) => x.softplus().sub(x.mul(y));
const gated = (a: FusedValue, b: FusedValue, c: FusedValue) => a.gt(0).select(a.mul(b).tanh(), c.exp().add(0.5)).div(b.square().add(1));
const shared = (x: FusedValue) => {
  const s = x.sigmoid();
  return s.mul(s).sub(x.maximum(0.25)).add(x.neg().minimum(s));
};

describe('fusedMap', () => {
  it('a binary chain with a broadcast operand: one dispatch forward, one backward', async () => {
    const f = fusedMap('bce', bce);
    await checkOp({ label: 'bce', inputs: [ref.randomRef([3, 4], 1, -3, 3), ref.randomRef([3, 1], 2, 0, 1)], gpu: f, reference: reference(bce), tol: TOL, gradTol: GRAD_TOL });
    const rt = runtime();
    const x = tensor([[0.5, -1, 2]], undefined, { requiresGrad: true });
    const y = tensor([[1, 0, 1]], undefined, { requiresGrad: true });
    await sync();
    const before = rt.stats.dispatches;
    const out = f(x, y);
    expect(rt.stats.dispatches - before).toBe(1);
    const dy = tensor([[1, 2, 3]]);
    const mid = rt.stats.dispatches;
    out.backward(dy);
    expect(rt.stats.dispatches - mid, 'one backward dispatch for both gradients').toBe(1);
    expect(x.grad && y.grad).toBeTruthy();
    for (const t of [x, y, out, dy]) t.dispose();
  });

  it('where, comparisons and constants; a value used twice; gradients through each branch', async () => {
    await checkOp({
      label: 'gated', inputs: [ref.randomRef([2, 3, 4], 3, -2, 2), ref.randomRef([3, 4], 4, -2, 2), ref.randomRef([4], 5, -1, 1)],
      gpu: fusedMap('gated', gated), reference: reference(gated), tol: TOL, gradTol: GRAD_TOL,
    });
    await checkOp({ label: 'shared', inputs: [ref.randomRef([17], 6, -2, 2)], gpu: fusedMap('shared', shared), reference: reference(shared), tol: TOL, gradTol: GRAD_TOL });
  });

  it('integer inputs, trunc and comparisons as 0/1 (the halting logic of an ACT step), equal to the op-by-op chain', async () => {
    const halting = (r: FusedValue, steps: FusedValue, labels: FusedValue) =>
      r.mul(3).trunc().add(2).le(steps).mul(labels.ne(-100));
    const f = fusedMap('halting', halting);
    const r = tensor([0.1, 0.5, 0.9, 0.99, 0.34]);
    const steps = tensor([1, 2, 3, 4, 2]);
    const labels = tensor([3, -100, 2, 1, 0], undefined, { dtype: 'i32' });
    const fused = await scope(() => f(r, steps, labels)).toArray();
    const chained = await scope(() => r.mul(3).astype('i32').astype('f32').add(2).le(steps).astype('f32').mul(labels.ne(-100).astype('f32'))).toArray();
    expect(Array.from(fused)).toEqual(Array.from(chained));
    expect(Array.from(fused)).toEqual([0, 0, 0, 1, 0]);
    for (const t of [r, steps, labels]) t.dispose();
  });

  it('a map that only compares a tensor that requires grad records no graph (and keeps nothing alive)', () => {
    const x = tensor([1, -2, 3], undefined, { requiresGrad: true });
    const y = tensor([0, 1, 0]);
    const compared = fusedMap('compared', (a, b) => a.gt(0).eq(b).mul(b.add(1)))(x, y);
    expect(compared.gradFn).toBeNull();
    const mixed = fusedMap('mixed', (a, b) => a.gt(0).select(a, b))(x, y);
    expect(mixed.gradFn).not.toBeNull();
    for (const t of [x, y, compared, mixed]) t.dispose();
  });

  it('strided and offset inputs, and shape errors named', async () => {
    const f = fusedMap('bce', bce);
    await checkOp({
      label: 'bce of views', inputs: [ref.randomRef([4, 6], 7, -2, 2), ref.randomRef([6, 4], 8, 0, 1)],
      gpu: (x: Tensor, y: Tensor) => f(x.slice([[1, 3], [2, 6]]), y.transpose().slice([[0, 2], [1, 5]])),
      reference: (x, y) => reference(bce)(ref.slice(x, [[1, 3, 1], [2, 6, 1]]), ref.slice(ref.transpose(y), [[0, 2, 1], [1, 5, 1]])),
      tol: TOL, gradTol: GRAD_TOL,
    });
    const a = tensor([1, 2, 3]);
    expect(() => f(a)).toThrow(/bce: takes 2 tensors, got 1/);
    expect(() => f(a, tensor([1, 2]))).toThrow(/cannot be broadcast/);
    a.dispose();
  });

  it('a body returning several values: one dispatch writes them all, each with its own gradient', async () => {
    const several = (a: FusedValue, b: FusedValue) => [bce(a, b), a.gt(b), a.mul(b).tanh()] as const;
    const f = fusedMap('several', several);
    const inputs = [ref.randomRef([5, 3], 11, -2, 2), ref.randomRef([3], 12, -1, 1)];
    for (const output of [0, 2]) {
      await checkOp({ label: `several[${output}]`, inputs, gpu: (a: Tensor, b: Tensor) => f(a, b)[output], reference: reference(several, output), tol: TOL, gradTol: GRAD_TOL });
    }
    const rt = runtime();
    const [a, b] = [tensor([1, -2, 3]), tensor([0.5, 0.5, 4])];
    await sync();
    const before = rt.stats.dispatches;
    const outs = f(a, b);
    expect(rt.stats.dispatches - before).toBe(1);
    expect(Array.from(await outs[1].toArray())).toEqual([1, 0, 0]);
    expect(outs[1].gradFn, 'a comparison records no graph').toBeNull();
    for (const t of [a, b, ...outs]) t.dispose();
  });

  it('fusedSum: a map summed over the last axis in the same kernel, short rows and long rows, with gradients', async () => {
    const masked = (x: FusedValue, y: FusedValue, m: FusedValue) => bce(x, y).mul(m.ne(0));
    const f = fusedSum('masked bce', masked);
    // 7 short rows (one invocation a row) and 2 rows of 600 (a workgroup a row: at least FUSED_SUM_WORKGROUP_COLS).
    for (const [rows, cols] of [[7, 5], [2, 600]]) {
      await checkOp({
        label: `masked bce ${rows}x${cols}`,
        inputs: [ref.randomRef([rows, cols], 13, -3, 3), ref.randomRef([1, cols], 14, 0, 1), ref.randomRef([rows, 1], 15, -1, 1)],
        gpu: f, reference: summedReference(masked), tol: { atol: 1e-5, rtol: 1e-5 }, gradTol: GRAD_TOL, gradInputs: [0, 1],
      });
    }
    // A 1-D input sums to a scalar.
    const loss = (x: FusedValue) => x.square().mul(0.5);
    await checkOp({ label: 'scalar', inputs: [ref.randomRef([9], 16, -1, 1)], gpu: fusedSum('half square', loss), reference: summedReference(loss), tol: TOL, gradTol: GRAD_TOL });
    expect(() => fusedSum('scalar sum', (x) => x)(tensor(3))).toThrow(/scalar sum: sums over the last axis/);
  });

  it('fusedSum with several values: one dispatch forward, one backward for the value that needs one', async () => {
    const counts = (p: FusedValue, labels: FusedValue) => [p, labels.ne(-100), p.gt(0.5).mul(labels.ne(-100))] as const;
    const f = fusedSum('counts', counts);
    const inputs = [ref.randomRef([4, 6], 17, 0, 1), new ref.Ref(Float64Array.from({ length: 24 }, (_, i) => (i % 5 === 0 ? -100 : i % 3)), [4, 6])];
    for (const output of [0, 1, 2]) {
      await checkOp({ label: `counts[${output}]`, inputs, gpu: (p: Tensor, l: Tensor) => f(p, l)[output], reference: summedReference(counts, output), tol: TOL, ...(output === 0 ? { gradTol: GRAD_TOL, gradInputs: [0] } : {}) });
    }
    const rt = runtime();
    const p = tensor([[0.2, 0.9, 0.7], [0.6, 0.1, 0.3]], undefined, { requiresGrad: true });
    const labels = tensor([[1, -100, 2], [0, 1, -100]], undefined, { dtype: 'i32' });
    await sync();
    const before = rt.stats.dispatches;
    const [total, valid, right] = f(p, labels);
    expect(rt.stats.dispatches - before).toBe(1);
    expect(Array.from(await valid.toArray())).toEqual([2, 2]);
    expect(Array.from(await right.toArray())).toEqual([1, 1]);
    const mid = rt.stats.dispatches;
    total.backward(tensor([1, 2]));
    expect(rt.stats.dispatches - mid, 'one backward dispatch (a contiguous gradient: no reduction after it)').toBe(1);
    expect(Array.from(await p.grad!.toArray())).toEqual([1, 1, 1, 2, 2, 2]);
    for (const t of [p, labels, total, valid, right]) t.dispose();
  });

  it('more values than the adapter binds beside the inputs: split over dispatches, the same numbers', async () => {
    const four = (a: FusedValue, b: FusedValue, c: FusedValue) => [a.add(b), b.mul(c), c.sub(a), a.mul(b).mul(c)] as const;
    const rt = runtime();
    const [a, b, c] = [tensor([[1, 2], [3, 4]]), tensor([0.5, -1]), tensor([[2], [3]])];
    const whole = await Promise.all(scope(() => fusedSum('four', four)(a, b, c).map((t) => t)).map((t) => t.toArray()));
    const limits = rt.limits as Record<string, number>;
    const saved = limits.maxStorageBuffersPerShaderStage;
    limits.maxStorageBuffersPerShaderStage = 5;
    try {
      await sync();
      const before = rt.stats.dispatches;
      const split = fusedSum('four', four)(a, b, c);
      expect(rt.stats.dispatches - before, 'two values a dispatch beside three inputs').toBe(2);
      expect(await Promise.all(split.map((t) => t.toArray()))).toEqual(whole);
      expect(Array.from(whole[3])).toEqual([1 * 0.5 * 2 + 2 * -1 * 2, 3 * 0.5 * 3 + 4 * -1 * 3]);
      split.forEach((t) => t.dispose());
    } finally {
      limits.maxStorageBuffersPerShaderStage = saved;
    }
    for (const t of [a, b, c]) t.dispose();
  });
});
