// The parallel scan (engine/ops/scan.ts, shaders/scan.wgsl) against a sequential float64 reference.
//
// Tolerance: the scan reassociates the recurrence (a tree over tiles), so its f32 result differs from the
// sequential one by rounding that grows with the depth of the tree and the chunk length, not with T: each
// output is compared within 2e-5 · max|h| of its sequence (plus 1e-6), the "~1e-5 relative" target of glr.md.
// An indexing or carry error shows up as an O(max|h|) difference.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cumsum, getScanTiling, scan, scanRaw, scanStep, setScanTiling, ShapeError, tensor, zeros, type ScanKernel, type ScanTiling } from '../engine/index.ts';
import { checkOp, toGpu, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

let defaults: ScanTiling;
beforeAll(() => {
  defaults = getScanTiling();
});
afterEach(() => {
  setScanTiling(defaults);
});

/** Sequential float64 reference; a is [B, T, C] or [B, T] (broadcast). */
function scanRef(a: ref.Ref, b: ref.Ref, h0: ref.Ref | null): ref.Ref {
  const [B, T, C] = b.shape;
  const broadcast = a.shape.length === 2;
  const out = new Float64Array(B * T * C);
  for (let bi = 0; bi < B; bi++) {
    for (let c = 0; c < C; c++) {
      let h = h0 ? h0.data[bi * C + c] : 0;
      for (let t = 0; t < T; t++) {
        const i = (bi * T + t) * C + c;
        h = (broadcast ? a.data[bi * T + t] : a.data[i]) * h + b.data[i];
        out[i] = h;
      }
    }
  }
  return new ref.Ref(out, [B, T, C]);
}

async function expectScanClose(got: ArrayLike<number>, expected: ref.Ref, label: string) {
  const [B, T, C] = expected.shape;
  for (let bi = 0; bi < B; bi++) {
    for (let c = 0; c < C; c++) {
      let scale = 0;
      for (let t = 0; t < T; t++) scale = Math.max(scale, Math.abs(expected.data[(bi * T + t) * C + c]));
      for (let t = 0; t < T; t++) {
        const i = (bi * T + t) * C + c;
        const err = Math.abs(got[i] - expected.data[i]);
        if (!(err <= 2e-5 * scale + 1e-6)) {
          throw new Error(`${label}: h[${bi}, ${t}, ${c}] = ${got[i]}, expected ${expected.data[i]} (error ${err.toExponential(2)}, sequence max ${scale.toExponential(2)})`);
        }
      }
    }
  }
}

type Gates = 'random' | 'near0' | 'near1';
function gates(shape: number[], seed: number, kind: Gates): ref.Ref {
  if (kind === 'near0') return ref.randomRef(shape, seed, 0, 0.05);
  if (kind === 'near1') return ref.randomRef(shape, seed, 0.995, 1);
  return ref.randomRef(shape, seed, 0, 1);
}

async function checkForward(B: number, T: number, C: number, kind: Gates, withH0: boolean, kernel: ScanKernel, broadcast = false) {
  const a = gates(broadcast ? [B, T] : [B, T, C], T + C, kind);
  const b = ref.randomRef([B, T, C], 2 * T + C);
  const h0 = withH0 ? ref.randomRef([B, C], 5) : null;
  const got = await scan(toGpu(a), toGpu(b), h0 ? toGpu(h0) : null, { kernel }).toArray();
  await expectScanClose(got, scanRef(a, b, h0), `scan ${kernel} B${B} T${T} C${C} ${kind}${withH0 ? ' h0' : ''}${broadcast ? ' broadcast' : ''}`);
}

describe('scan forward', () => {
  // Each kernel on every adapter: every one is the choice somewhere (CPU drivers, GPUs, by shape or by tuning).
  for (const kernel of ['tree', 'chunks', 'tree-lookback', 'chunks-lookback'] as const) {
    it(`${kernel}: T around the tile length, with and without h0, gates near 0 and near 1`, async () => {
      const t = getScanTiling();
      const tile = kernel.startsWith('tree') ? t.treeWorkgroup * t.treeItems : kernel === 'chunks' ? t.chunk : 16;
      for (const T of [1, 2, 3, tile - 1, tile, tile + 1, 5 * tile + 3]) {
        for (const kind of ['random', 'near0', 'near1'] as const) {
          await checkForward(2, T, 3, kind, T % 2 === 1, kernel);
        }
      }
    });

    it(`${kernel}: many tiles and recursion levels (T = 100003), C = 1 and wide C`, async () => {
      await checkForward(1, 100_003, 1, 'near1', true, kernel);
      await checkForward(1, 20_011, 40, 'random', false, kernel);
    });

    it(`${kernel}: broadcast gates (one per step, shared by every channel)`, async () => {
      await checkForward(2, 300, 5, 'random', true, kernel, true);
      await checkForward(1, 1, 3, 'near1', false, kernel, true);
    });
  }

  it('chunks-lookback with channels enough for its channel-parallel single pass (C >= 64)', async () => {
    for (const T of [1, 16, 17, 1000]) await checkForward(2, T, 64, 'random', T % 2 === 1, 'chunks-lookback');
    await checkForward(1, 300, 96, 'near1', true, 'chunks-lookback', true);
  });

  it('look-back kernels are right when every predecessor is silent (the fallback path alone), f32 and i32', async () => {
    for (const kernel of ['tree-lookback', 'chunks-lookback'] as const) {
      const [B, T, C] = [2, kernel === 'tree-lookback' ? 3 * 16 * 16 + 5 : 53, kernel === 'tree-lookback' ? 3 : 64];
      setScanTiling({ treeWorkgroup: 16, treeItems: 16 });
      const a = gates([B, T, C], 11, 'random');
      const b = ref.randomRef([B, T, C], 12);
      const h0 = ref.randomRef([B, C], 13);
      const got = scanRaw({ batch: B, steps: T, channels: C, gate: toGpu(a), input: toGpu(b), h0: toGpu(h0), kernel, silent: true, label: 'scan' });
      await expectScanClose(await got.toArray(), scanRef(a, b, h0), `${kernel} silent`);
      const ints = Int32Array.from({ length: B * T * C }, (_, i) => (i * 7919) % 1000 - 500);
      const sums = await scanRaw({ batch: B, steps: T, channels: C, gate: null, input: tensor(ints, [B, T, C], { dtype: 'i32' }), h0: null, int: true, exclusive: true, kernel, silent: true, label: 'cumsum' }).toArray();
      for (let bi = 0; bi < B; bi++) for (let c = 0; c < C; c++) {
        let s = 0;
        for (let t = 0; t < T; t++) {
          const i = (bi * T + t) * C + c;
          if (sums[i] !== s) throw new Error(`${kernel} exclusive i32 cumsum at [${bi}, ${t}, ${c}]: ${sums[i]}, expected ${s}`);
          s += ints[i];
        }
      }
    }
  });

  it('T = 1,000,000 on the default strategy', async () => {
    await checkForward(1, 1_000_000, 1, 'near1', true, 'tree');
  });
});

describe('scan backward', () => {
  // Small tiles, so that these short sequences span several tiles and two levels of carries.
  for (const kernel of ['tree', 'chunks', 'tree-lookback'] as const) {
    for (const broadcast of [false, true]) {
      it(`${kernel}${broadcast ? ', broadcast gates' : ''}: gradients of a, b and h0 match finite differences`, async () => {
        setScanTiling({ treeWorkgroup: 4, treeItems: 2, chunk: 3 });
        const [B, T, C] = [2, 23, 3];
        await checkOp({
          label: `scan grad ${kernel}`,
          inputs: [gates(broadcast ? [B, T] : [B, T, C], 1, 'random'), ref.randomRef([B, T, C], 2), ref.randomRef([B, C], 3)],
          gpu: (a, b, h0) => scan(a, b, h0, { kernel }),
          reference: scanRef,
          tol: { atol: 1e-6, rtol: 1e-5 },
          gradTol: { atol: 1e-5, rtol: 1e-4 },
        });
      });
    }
  }
});

describe('step mode', () => {
  it('stepping token by token equals the parallel scan', async () => {
    const [B, T, C] = [2, 7, 4];
    const a = gates([B, T, C], 9, 'random');
    const b = ref.randomRef([B, T, C], 10);
    const full = await scan(toGpu(a), toGpu(b)).toArray();
    let h = zeros([B, C]);
    const at = toGpu(a);
    const bt = toGpu(b);
    for (let t = 0; t < T; t++) {
      const next = scanStep(at.slice([null, t]).reshape([B, C]), bt.slice([null, t]).reshape([B, C]), h);
      const values = await next.toArray();
      for (let bi = 0; bi < B; bi++) for (let c = 0; c < C; c++) {
        expect(values[bi * C + c]).toBeCloseTo(full[(bi * T + t) * C + c], 5);
      }
      h = next;
    }
    expect(() => scanStep(tensor([1, 2]), tensor([[1, 2]]), tensor([[1, 2]]))).toThrow(/must be \[1, 2\] or \[1\]/);
  });
});

describe('cumsum', () => {
  it('integer prefix sums are exact past 2^24 (where f32 is not)', async () => {
    const n = 100_000;
    const values = Int32Array.from({ length: n }, (_, i) => 1000 + (i % 7));
    const got = await cumsum(tensor(values)).toArray();
    let s = 0;
    for (let i = 0; i < n; i++) {
      s += values[i];
      if (got[i] !== s) throw new Error(`cumsum[${i}] = ${got[i]}, expected ${s}`);
    }
    expect(s).toBeGreaterThan(2 ** 24);
    expect(Array.from(await cumsum(tensor(Int32Array.from([3, -1, 4])), 0, { exclusive: true }).toArray())).toEqual([0, 3, 2]);
  });

  it('float prefix sums along any axis, inclusive/exclusive/reversed, with gradients', async () => {
    const x = ref.randomRef([3, 4, 5], 4);
    const along = (r: ref.Ref, axis: number, exclusive: boolean, reverse: boolean) => {
      const out = Float64Array.from(r.data);
      const outer = r.shape.slice(0, axis).reduce((p, q) => p * q, 1);
      const n = r.shape[axis];
      const inner = r.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
        let s = 0;
        for (let kk = 0; kk < n; kk++) {
          const k = reverse ? n - 1 - kk : kk;
          const idx = (o * n + k) * inner + i;
          const v = r.data[idx];
          out[idx] = exclusive ? s : s + v;
          s += v;
        }
      }
      return new ref.Ref(out, [...r.shape]);
    };
    for (const [axis, exclusive, reverse] of [[1, false, false], [2, true, false], [0, false, true]] as const) {
      await checkOp({
        label: `cumsum axis ${axis}${exclusive ? ' exclusive' : ''}${reverse ? ' reverse' : ''}`,
        inputs: [x],
        gpu: (t) => cumsum(t, axis, { exclusive, reverse }),
        reference: (r) => along(r, axis, exclusive, reverse),
        tol: { atol: 1e-6, rtol: 1e-6 },
        gradTol: { atol: 1e-5, rtol: 1e-5 },
      });
    }
  });
});

describe('scan errors', () => {
  it('names mismatched shapes', () => {
    expect(() => scan(zeros([2, 3, 4]), zeros([2, 3, 5]))).toThrow(ShapeError);
    expect(() => scan(zeros([2, 3, 4]), zeros([2, 3, 5]))).toThrow(/gates a \[2, 3, 4\] must be \[2, 3, 5\] or \[2, 3\]/);
    expect(() => scan(zeros([2, 3]), zeros([2, 3, 5]), zeros([5]))).toThrow(/h0 must be \[2, 5\]/);
    expect(() => scan(zeros([6]), zeros([6]))).toThrow(/\[batch, steps, channels\]/);
  });
});
