// matmul (engine/ops/matmul.ts, shaders/matmul.wgsl) against a float64 reference.
//
// Tolerance: each output is a k-term f32 dot product; its rounding error is bounded by ~k·eps·sum|a·b| and is
// typically sqrt(k)·eps·|a||b|. With |a|,|b| <= 1 and k <= 300: atol 2e-5 + rtol 1e-5 holds with margin, while an
// indexing error (a wrong element) shows up as an O(0.1) difference.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getMatmulTiles, MATMUL_KERNELS, matmul, prepareMatmul, runtime, setMatmulKernel, setMatmulTiles, ShapeError, subgroupMatmulRuns, tensor } from '../engine/index.ts';
import { checkOp, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

const TOL = { atol: 2e-5, rtol: 1e-5 };
const GRAD = { atol: 1e-4, rtol: 1e-4 };

const SHAPES: [number[], number[]][] = [
  [[1, 1], [1, 1]],
  [[1, 7], [7, 1]], // 1 x N @ N x 1
  [[5, 1], [1, 6]], // outer product, K = 1
  [[7, 13], [13, 5]], // primes
  [[65, 33], [33, 67]], // one past a 64 tile on m and n, K not a multiple of TILE_K
  [[64, 64], [64, 64]], // exactly one tile, the vec4 path
  [[3, 300], [300, 2]], // long K
  [[2, 1, 5, 3], [3, 3, 4]], // broadcast batch dims
  [[4, 8], [3, 8, 12]], // a broadcast over b's batch
];

describe('matmul', () => {
  // First in the file, so that no product has compiled the kernel yet.
  it('prepareMatmul compiles the CPU drivers\' subgroup kernel ahead: the first product then creates no pipeline', async () => {
    const rt = runtime();
    await prepareMatmul();
    const before = rt.stats.pipelines;
    const c = matmul(tensor(Array.from({ length: 40 }, (_, i) => [i % 3, 1])), tensor([[1, 2, 3], [4, 5, 6]]));
    const ready = rt.report.software && subgroupMatmulRuns();
    // Where the adapter has no such kernel (a GPU, a CPU driver without subgroups) preparing compiles nothing.
    if (ready) expect(rt.stats.pipelines).toBe(before);
    expect(Array.from(await c.toArray()).slice(0, 6)).toEqual([4, 5, 6, 5, 7, 9]);
    c.dispose();
  });

  for (const [sa, sb] of SHAPES) {
    it(`${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`, async () => {
      const a = ref.randomRef(sa, sa.length * 7 + sa[0]);
      const b = ref.randomRef(sb, sb.length * 13 + sb[0]);
      const small = sa.reduce((x, y) => x * y, 1) + sb.reduce((x, y) => x * y, 1) <= 400;
      await checkOp({
        label: `matmul ${sa} ${sb}`,
        inputs: [a, b],
        gpu: (x, y) => matmul(x, y),
        reference: ref.matmul,
        tol: TOL,
        gradTol: small ? GRAD : undefined,
      });
    });
  }

  it('reads transposed views in place (A along m, B along k) on both the vec4 and the strided path', async () => {
    for (const [m, k, n] of [[8, 12, 16], [5, 7, 3]]) {
      const at = ref.randomRef([k, m], 1);
      const bt = ref.randomRef([n, k], 2);
      await checkOp({
        label: `A^T @ B^T ${m}x${k}x${n}`,
        inputs: [at, bt],
        gpu: (x, y) => matmul(x.T, y.T),
        reference: (x, y) => ref.matmul(ref.transpose(x), ref.transpose(y)),
        tol: TOL,
        gradTol: GRAD,
      });
    }
  });

  it('gives the same result with other tile parameters', async () => {
    const a = ref.randomRef([37, 50], 3);
    const b = ref.randomRef([50, 29], 4);
    const before = getMatmulTiles();
    try {
      for (const t of [{ wgX: 8, wgY: 8, tileK: 8 }, { wgX: 16, wgY: 4, tileK: 32 }]) {
        setMatmulTiles(t);
        await checkOp({ label: `tiles ${JSON.stringify(t)}`, inputs: [a, b], gpu: matmul, reference: ref.matmul, tol: TOL });
      }
    } finally {
      setMatmulTiles(before);
    }
    expect(() => setMatmulTiles({ wgX: 64, wgY: 64 })).toThrow(/not a valid tiling/);
  });

  it('treats 1-D operands as vectors, as NumPy does', async () => {
    const m = tensor([[1, 2], [3, 4], [5, 6]]);
    const v = tensor([1, -1]);
    const mv = matmul(m, v);
    expect(mv.shape).toEqual([3]);
    expect(Array.from(await mv.toArray())).toEqual([-1, -1, -1]);
    const vm = matmul(tensor([1, 0, 1]), m);
    expect(vm.shape).toEqual([2]);
    expect(Array.from(await vm.toArray())).toEqual([6, 8]);
  });

  it('rejects mismatched inner dimensions with the shapes in the message', () => {
    expect(() => matmul(tensor([[1, 2, 3]]), tensor([[1, 2]]))).toThrow(ShapeError);
    expect(() => matmul(tensor([[1, 2, 3]]), tensor([[1, 2]]))).toThrow(/\[1, 3\] @ \[1, 2\]/);
  });
});

// Every kernel variant on every adapter (each is the default somewhere or a tuner's candidate: 'subgroup' on CPU drivers with
// subgroups, 'lanes' on those without, 'tiled' and 'wide' on GPUs by shape; 'subgroup' runs as 'lanes' where the adapter
// lacks subgroups of 4), on shapes that cross the 64- and 128-wide tiles and the subgroup kernel's 32-row blocks, with
// operands read along each dimension, and k not a multiple of 4 (its tail step).
for (const kernel of MATMUL_KERNELS) {
  describe(`matmul (${kernel} kernel)`, () => {
    beforeAll(() => setMatmulKernel(kernel));
    afterAll(() => setMatmulKernel(null));
    const cases: [number, number, number][] = [[132, 36, 260], [128, 8, 128], [7, 13, 5], [4, 4, 4], [70, 3, 33]];
    for (const [m, k, n] of cases) {
      it(`${m}x${k} @ ${k}x${n}, plain and through transposed views`, async () => {
        const a = ref.randomRef([m, k], m + k);
        const b = ref.randomRef([k, n], k + n);
        await checkOp({ label: `${kernel} ${m}x${k}x${n}`, inputs: [a, b], gpu: matmul, reference: ref.matmul, tol: TOL });
        const at = ref.transpose(a);
        const bt = ref.transpose(b);
        await checkOp({
          label: `${kernel} ${m}x${k}x${n} A^T B^T`, inputs: [at, bt], gpu: (x, y) => matmul(x.T, y.T),
          reference: (x, y) => ref.matmul(ref.transpose(x), ref.transpose(y)), tol: TOL,
        });
        // A along k and B along k (x @ Wᵀ): matmul_lanes_k on CPU drivers.
        await checkOp({
          label: `${kernel} ${m}x${k}x${n} A B^T`, inputs: [a, bt], gpu: (x, y) => matmul(x, y.T),
          reference: (x, y) => ref.matmul(x, ref.transpose(y)), tol: TOL,
        });
      });
    }
    it('x @ Wᵀ batched over a broadcast weight, with gradients (9 and 70 rows: both lanes forms on CPU drivers)', async () => {
      await checkOp({
        label: `${kernel} batched A B^T 70 rows`, inputs: [ref.randomRef([2, 70, 22], 9), ref.randomRef([17, 22], 10)],
        gpu: (x, w) => matmul(x, w.T), reference: (x, w) => ref.matmul(x, ref.transpose(w)), tol: TOL, gradTol: GRAD,
      });
      await checkOp({
        label: `${kernel} batched A B^T`, inputs: [ref.randomRef([3, 9, 22], 7), ref.randomRef([17, 22], 8)],
        gpu: (x, w) => matmul(x, w.T), reference: (x, w) => ref.matmul(x, ref.transpose(w)), tol: TOL, gradTol: GRAD,
      });
    });
    it('batched, with gradients', async () => {
      await checkOp({
        label: `${kernel} batched`, inputs: [ref.randomRef([2, 8, 12], 5), ref.randomRef([12, 4], 6)],
        gpu: matmul, reference: ref.matmul, tol: TOL, gradTol: GRAD,
      });
    });
  });
}
