// Views and layout (engine/ops/views.ts): shapes, values and gradients. All exact (no arithmetic but sums of
// gradients over at most a few terms): tolerance 1e-6.

import { describe, expect, it } from 'vitest';
import { concat, expand, ShapeError, slice, tensor } from '../engine/index.ts';
import { checkOp, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

const TOL = { atol: 1e-6, rtol: 1e-6 };

describe('views', () => {
  it('reshape (with -1) shares storage with a contiguous input and copies a strided one', async () => {
    const x = ref.randomRef([2, 3, 4], 1);
    await checkOp({ label: 'reshape', inputs: [x], gpu: (t) => t.reshape([4, -1]), reference: (r) => new ref.Ref(r.data, [4, 6]), tol: TOL, gradTol: TOL });
    await checkOp({
      label: 'reshape of a transpose',
      inputs: [x],
      gpu: (t) => t.transpose(0, 2).reshape([-1]),
      reference: (r) => { const p = ref.permute(r, [2, 1, 0]); return new ref.Ref(p.data, [24]); },
      tol: TOL,
      gradTol: TOL,
    });
    const t = tensor([1, 2, 3, 4, 5, 6]);
    const v = t.reshape([2, 3]);
    expect(v.buffer('test')).toBe(t.buffer('test'));
    expect(() => t.reshape([4, 2])).toThrow(/cannot reshape \[6\]/);
  });

  it('permute and transpose are views with the right values and gradients', async () => {
    const x = ref.randomRef([2, 3, 4], 2);
    await checkOp({ label: 'permute', inputs: [x], gpu: (t) => t.permute([2, 0, 1]).mul(1), reference: (r) => ref.permute(r, [2, 0, 1]), tol: TOL, gradTol: TOL });
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.T.isContiguous).toBe(false);
    expect(await t.T.toNested()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(() => t.permute([0, 0])).toThrow(ShapeError);
  });

  it('slice: ranges, steps, negative indices, single indices, and the scatter gradient', async () => {
    const x = ref.randomRef([5, 6], 3);
    await checkOp({
      label: 'slice',
      inputs: [x],
      gpu: (t) => slice(t, [[1, -1], [0, null, 2]]),
      reference: (r) => ref.slice(r, [[1, 4, 1], [0, 6, 2]]),
      tol: TOL,
      gradTol: TOL,
    });
    await checkOp({
      label: 'slice index',
      inputs: [x],
      gpu: (t) => slice(t, [2]).squeeze(0),
      reference: (r) => { const s = ref.slice(r, [[2, 3, 1], null]); return new ref.Ref(s.data, [6]); },
      tol: TOL,
      gradTol: TOL,
    });
    expect(() => slice(tensor([1, 2]), [5])).toThrow(/out of range/);
  });

  it('slice: the one-pass gradient of unit-step slices (3-D, clamped and negative bounds, a broadcast upstream gradient)', async () => {
    const x = ref.randomRef([3, 4, 5], 8);
    await checkOp({
      label: 'slice 3-D',
      inputs: [x],
      gpu: (t) => slice(t, [null, [1, 3], [-2, 99]]),
      reference: (r) => ref.slice(r, [[0, 3, 1], [1, 3, 1], [3, 5, 1]]),
      tol: TOL,
      gradTol: TOL,
    });
    await checkOp({
      label: 'slice then sum',
      inputs: [x],
      gpu: (t) => slice(t, [[1, 2], null, [0, 3]]).sum(),
      reference: (r) => { const s = ref.slice(r, [[1, 2, 1], [0, 4, 1], [0, 3, 1]]); return new ref.Ref(Float64Array.of(s.data.reduce((a, b) => a + b, 0)), []); },
      tol: TOL,
      gradTol: TOL,
    });
  });

  it('concat along any axis, with gradients flowing to each part', async () => {
    const a = ref.randomRef([2, 3], 4);
    const b = ref.randomRef([2, 1], 5);
    const c = ref.randomRef([2, 2], 6);
    await checkOp({ label: 'concat axis 1', inputs: [a, b, c], gpu: (x, y, z) => concat([x, y, z], 1), reference: (x, y, z) => ref.concat([x, y, z], 1), tol: TOL, gradTol: TOL });
    await checkOp({ label: 'concat axis 0', inputs: [a, a], gpu: (x, y) => concat([x, y], 0), reference: (x, y) => ref.concat([x, y], 0), tol: TOL, gradTol: TOL });
    expect(() => concat([tensor([[1, 2]]), tensor([[1, 2, 3]])], 0)).toThrow(/incompatible/);
  });

  it('expand broadcasts without copying and sums gradients back', async () => {
    const x = ref.randomRef([3, 1], 7);
    await checkOp({ label: 'expand', inputs: [x], gpu: (t) => expand(t, [2, 3, 4]), reference: (r) => ref.expandTo(r, [2, 3, 4]), tol: TOL, gradTol: TOL });
    expect(() => expand(tensor([1, 2]), [3])).toThrow(/cannot expand/);
  });

  it('unsqueeze / squeeze / flatten', async () => {
    const t = tensor([[1, 2, 3]]);
    expect(t.unsqueeze(0).shape).toEqual([1, 1, 3]);
    expect(t.unsqueeze(-1).shape).toEqual([1, 3, 1]);
    expect(t.squeeze().shape).toEqual([3]);
    expect(t.flatten().shape).toEqual([3]);
    expect(() => t.squeeze(1)).toThrow(/not 1/);
  });
});
