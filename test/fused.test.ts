// Fused elementwise maps (engine/ops/fused.ts): one generated kernel for a chain of the op table's ops, forward and
// backward, against the float64 reference the op table gives (evaluateFused) and central finite differences of it.
// Tolerances: a chain of a few f32 ops, each within a few ulp (rtol 2e-6 forward); gradients as for single ops.

import { describe, expect, it } from 'vitest';
import { evaluateFused, fusedMap, runtime, scope, sync, tensor, type FusedValue, type Tensor } from '../engine/index.ts';
import { checkOp, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

const TOL = { atol: 1e-6, rtol: 2e-6 };
const GRAD_TOL = { atol: 1e-5, rtol: 1e-4 };

/** The float64 reference of a fused body over broadcast inputs. */
function reference(body: (...xs: FusedValue[]) => FusedValue) {
  return (...inputs: ref.Ref[]): ref.Ref => {
    const shape = inputs.map((r) => r.shape).reduce((a, b) => ref.broadcastShape(a, b));
    const full = inputs.map((r) => ref.expandTo(r, shape));
    const out = new Float64Array(full[0].size);
    for (let i = 0; i < out.length; i++) out[i] = evaluateFused(body, inputs.length, full.map((r) => r.data[i]));
    return new ref.Ref(out, shape);
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
});
