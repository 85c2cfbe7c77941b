// Optimisers (engine/optim, shaders/optim.wgsl) against float64 re-implementations of PyTorch's update rules,
// over several steps. Tolerance: a few f32 operations per step, compounded over 5 steps: rtol 1e-5, atol 1e-6.

import { describe, expect, it } from 'vitest';
import {
  AdamAtan2, AdamW, clipGradNorm, NonFiniteError, NonFiniteMonitor, SGD, SignSGDRows, tensor, warmupCosine, warmupStableDecay, type Tensor,
} from '../engine/index.ts';
import { expectClose, useDevice } from './helpers.ts';

useDevice();

const TOL = { atol: 1e-6, rtol: 1e-5 };
const GRADS = [[0.5, -1, 2, 0], [0.1, 0.3, -0.2, 4], [1, 1, 1, 1], [-3, 0.5, 0, 2], [0.2, -0.2, 0.2, -0.2]];

function setGrad(p: Tensor, values: number[]) {
  p.grad?.dispose();
  p.grad = tensor(values);
}

describe('AdamW', () => {
  it('matches the reference update over 5 steps, with bias correction, decoupled decay and a no-decay group', async () => {
    const init = [1, -2, 0.5, 3];
    const a = tensor(init, undefined, { requiresGrad: true });
    const b = tensor(init, undefined, { requiresGrad: true });
    const opt = new AdamW([{ params: [a] }, { params: [b], weightDecay: 0, lrMultiplier: 0.5 }], { lr: 0.01, weightDecay: 0.1, betas: [0.9, 0.95], eps: 1e-8 });
    const refA = [...init];
    const refB = [...init];
    const m = [init.map(() => 0), init.map(() => 0)];
    const v = [init.map(() => 0), init.map(() => 0)];
    GRADS.forEach((g, t) => {
      setGrad(a, g);
      setGrad(b, g);
      opt.step();
      [refA, refB].forEach((w, which) => {
        const lr = which === 0 ? 0.01 : 0.005;
        const wd = which === 0 ? 0.1 : 0;
        for (let i = 0; i < 4; i++) {
          m[which][i] = 0.9 * m[which][i] + 0.1 * g[i];
          v[which][i] = 0.95 * v[which][i] + 0.05 * g[i] * g[i];
          w[i] *= 1 - lr * wd;
          w[i] -= (lr * (m[which][i] / (1 - 0.9 ** (t + 1)))) / (Math.sqrt(v[which][i] / (1 - 0.95 ** (t + 1))) + 1e-8);
        }
      });
    });
    expectClose(await a.toArray(), refA, TOL, 'adamw decayed');
    expectClose(await b.toArray(), refB, TOL, 'adamw no decay');
  });

  // Where the adapter binds nine storage buffers (SwiftShader: 12), a group's parameters are updated two to a
  // dispatch (adamw_pair) and gradient norms read eight gradients a dispatch (grad_sq_multi): the same numbers as
  // one optimiser per parameter, which takes the one-parameter kernels.
  it('updates a group two parameters to a dispatch exactly as one at a time, and takes the norm of ten gradients', async () => {
    const sizes = [3, 5000, 1, 7, 2, 9, 4, 6, 5, 8];
    const values = sizes.map((n, k) => Array.from({ length: n }, (_, i) => Math.cos(3 * i + k)));
    const make = () => sizes.map((n, k) => tensor(values[k].map((x) => x / 2), [n], { requiresGrad: true }));
    const fused = make();
    const single = make();
    const group = new AdamW(fused, { lr: 0.01, weightDecay: 0.1, maxGradNorm: 1 });
    const each = single.map((p) => new AdamW([p], { lr: 0.01, weightDecay: 0.1 }));
    const expectedNorm = Math.sqrt(values.flat().reduce((s, x) => s + Math.fround(x) ** 2, 0));
    for (let step = 0; step < 3; step++) {
      fused.forEach((p, k) => setGrad(p, values[k]));
      single.forEach((p, k) => setGrad(p, values[k].map((x) => x / expectedNorm)));
      group.step();
      each.forEach((o) => o.step());
    }
    expect(await group.lastGradNorm!.item()).toBeCloseTo(expectedNorm, 3);
    for (let k = 0; k < sizes.length; k++) expectClose(await fused[k].toArray(), await single[k].toArray(), { atol: 1e-6, rtol: 1e-5 }, `parameter ${k}`);
  });

  it('clips the global gradient norm on the GPU inside step()', async () => {
    const p = tensor([0, 0], undefined, { requiresGrad: true });
    const q = tensor([0], undefined, { requiresGrad: true });
    const opt = new SGD([p, q], { lr: 1, maxGradNorm: 1 });
    setGrad(p, [3, 0]);
    setGrad(q, [4]);
    opt.step();
    expect(await opt.lastGradNorm!.item()).toBeCloseTo(5, 5);
    expectClose(await p.toArray(), [-0.6, 0], TOL, 'clipped p');
    expectClose(await q.toArray(), [-0.8], TOL, 'clipped q');
    setGrad(p, [3, 0]);
    setGrad(q, [4]);
    const norm = clipGradNorm([p, q], 10);
    expect(await norm.item()).toBeCloseTo(5, 5);
    expectClose(await p.grad!.toArray(), [3, 0], TOL, 'unclipped below the bound');
  });

  it('sums squares across several partials per gradient (sizes past one workgroup chunk of 4096)', async () => {
    const sizes = [1, 4097, 10_000];
    const params = sizes.map((n) => tensor(new Float32Array(n), [n], { requiresGrad: true }));
    let expected = 0;
    params.forEach((p, k) => {
      const values = Array.from({ length: sizes[k] }, (_, i) => Math.sin(i + k));
      expected += values.reduce((s, v) => s + Math.fround(v) ** 2, 0);
      setGrad(p, values);
    });
    const opt = new SGD(params, { lr: 0 });
    opt.trackGradNorm = true;
    opt.step();
    expect(await opt.lastGradNorm!.item()).toBeCloseTo(Math.sqrt(expected), 3);
  });
});

describe('NonFiniteMonitor', () => {
  it('records the first step whose loss or gradient norm is NaN or infinite, and which', async () => {
    const monitor = new NonFiniteMonitor(['loss', 'gradient norm']);
    monitor.watch(1, tensor([0.5]), tensor([2]));
    monitor.watch(2, tensor([0.4]), tensor([Infinity]));
    monitor.watch(3, tensor([NaN]), tensor([NaN]));
    expect(await monitor.check()).toEqual({ step: 2, quantities: ['gradient norm'] });
    await expect(monitor.assertFinite()).rejects.toThrow(NonFiniteError);
    await expect(monitor.assertFinite()).rejects.toThrow(/gradient norm became NaN or infinite at step 2/);
    const clean = new NonFiniteMonitor(['loss']);
    clean.watch(1, tensor([1]));
    expect(await clean.check()).toBeNull();
    const lossOnly = new NonFiniteMonitor(['loss']);
    lossOnly.watch(7, tensor([NaN]));
    expect(await lossOnly.check()).toEqual({ step: 7, quantities: ['loss'] });
    [monitor, clean, lossOnly].forEach((m) => m.dispose());
  });
});

describe('AdamAtan2', () => {
  it('matches the reference update: p -= lr/bc1 · atan2(m, sqrt(v/bc2)), with decoupled decay', async () => {
    const init = [1, -2, 0.5, 3];
    const p = tensor(init, undefined, { requiresGrad: true });
    const opt = new AdamAtan2([p], { lr: 0.01, weightDecay: 0.1, betas: [0.9, 0.95] });
    const w = [...init];
    const m = [0, 0, 0, 0];
    const v = [0, 0, 0, 0];
    GRADS.forEach((g, t) => {
      setGrad(p, g);
      opt.step();
      for (let i = 0; i < 4; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.95 * v[i] + 0.05 * g[i] * g[i];
        w[i] *= 1 - 0.01 * 0.1;
        w[i] -= (0.01 / (1 - 0.9 ** (t + 1))) * Math.atan2(m[i], Math.sqrt(v[i] / (1 - 0.95 ** (t + 1))));
      }
    });
    // atan2 in WGSL is specified to a few ULP; over 5 steps that stays far inside rtol 1e-5.
    expectClose(await p.toArray(), w, TOL, 'adam-atan2');
  });
});

describe('SignSGDRows', () => {
  it('moves only the rows that received a gradient, by lr · sign(g), with decoupled decay on those rows', async () => {
    const p = tensor([[1, 2], [3, 4], [5, 6]], undefined, { requiresGrad: true });
    const opt = new SignSGDRows([p], { lr: 0.1, weightDecay: 0.5 });
    p.grad = tensor([[0.3, -2], [0, 0], [0, 1e-6]]);
    opt.step();
    expectClose(await p.toArray(), [1 * 0.95 - 0.1, 2 * 0.95 + 0.1, 3, 4, 5 * 0.95, 6 * 0.95 - 0.1], TOL, 'sign-sgd');
  });
});

describe('SGD', () => {
  for (const nesterov of [false, true]) {
    it(`momentum ${nesterov ? 'with' : 'without'} Nesterov, with weight decay`, async () => {
      const p = tensor([1, -2, 0.5, 3], undefined, { requiresGrad: true });
      const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov });
      const w = [1, -2, 0.5, 3];
      const buf = [0, 0, 0, 0];
      for (const g of GRADS) {
        setGrad(p, g);
        opt.step();
        for (let i = 0; i < 4; i++) {
          const gi = g[i] + 0.01 * w[i];
          buf[i] = 0.9 * buf[i] + gi;
          w[i] -= 0.1 * (nesterov ? gi + 0.9 * buf[i] : buf[i]);
        }
      }
      expectClose(await p.toArray(), w, TOL, 'sgd');
    });
  }
});

describe('schedules', () => {
  it('warmup + cosine and warmup-stable-decay', () => {
    const cos = warmupCosine({ peak: 1, warmup: 10, total: 110, min: 0.1 });
    expect(cos(5)).toBeCloseTo(0.5);
    expect(cos(10)).toBeCloseTo(1);
    expect(cos(60)).toBeCloseTo(0.55);
    expect(cos(110)).toBeCloseTo(0.1);
    expect(cos(500)).toBeCloseTo(0.1);
    const wsd = warmupStableDecay({ peak: 2, warmup: 4, stable: 10, decay: 6, min: 0.2 });
    expect(wsd(2)).toBeCloseTo(1);
    expect(wsd(14)).toBeCloseTo(2);
    expect(wsd(17)).toBeCloseTo(1.1);
    expect(wsd(20)).toBeCloseTo(0.2);
  });
});
