// Autograd (engine/autograd.ts): accumulation, reuse, noGrad/detach, graph lifetime, and a composite (a tiny MLP)
// gradient-checked against finite differences of its float64 reference.

import { describe, expect, it } from 'vitest';
import { HieroError, memory, noGrad, scope, tensor } from '../engine/index.ts';
import { checkOp, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

describe('autograd', () => {
  it('accumulates through a tensor used several times, and into .grad across backward calls', async () => {
    const x = tensor([1, 2, 3], undefined, { requiresGrad: true });
    const y = x.mul(x).add(x.mul(3)).sum(); // d/dx = 2x + 3
    y.backward();
    expect(Array.from(await x.grad!.toArray())).toEqual([5, 7, 9]);
    x.mul(2).sum().backward();
    expect(Array.from(await x.grad!.toArray())).toEqual([7, 9, 11]);
  });

  it('records nothing under noGrad and cuts the graph at detach', async () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const z = x.detach().mul(x).sum(); // only the second factor is differentiated
    z.backward();
    expect(Array.from(await x.grad!.toArray())).toEqual([1, 2]);
  });

  it('refuses a second backward through freed buffers unless retainGraph was asked for', async () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    const e = Math.E;
    expect(Array.from(await x.grad!.toArray()).map((v) => +v.toFixed(4))).toEqual([2 * e, 2 * e * e].map((v) => +v.toFixed(4)));
    expect(() => y.backward()).toThrow(/second time/);
    expect(() => tensor([1, 2], undefined, { requiresGrad: true }).mul(2).backward()).toThrow(/pass a gradient/);
    expect(() => tensor([1]).backward()).toThrow(HieroError);
  });

  it('frees saved tensors after backward and when an unused graph is disposed', () => {
    const x = tensor(new Float32Array(1024), [32, 32], { requiresGrad: true });
    const before = memory().inUseBytes;
    scope(() => {
      x.matmul(x).tanh().sum().backward();
    });
    x.grad!.dispose();
    x.grad = null;
    expect(memory().inUseBytes).toBe(before);
    scope(() => {
      x.matmul(x).tanh().sum(); // never backpropagated: disposing the outputs frees the graph
    });
    expect(memory().inUseBytes).toBe(before);
  });

  it('handles a deep chain without recursion (2000 nodes)', async () => {
    const x = tensor([0.5], undefined, { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 2000; i++) y = y.mul(1.0005);
    y.sum().backward();
    expect(await x.grad!.item()).toBeCloseTo(1.0005 ** 2000, 3);
  });

  it('tiny MLP: every parameter gradient matches finite differences', async () => {
    // x [4, 3] -> tanh(x W1 + b1) [4, 5] -> W2 [5, 2] -> logsumexp over classes, mean.
    const inputs = [ref.randomRef([4, 3], 1), ref.randomRef([3, 5], 2), ref.randomRef([5], 3), ref.randomRef([5, 2], 4)];
    await checkOp({
      label: 'mlp',
      inputs,
      gpu: (x, w1, b1, w2) => x.matmul(w1).add(b1).tanh().matmul(w2).logsumexp(1).mean(),
      reference: (x, w1, b1, w2) => {
        const h = ref.map(ref.zip(ref.matmul(x, w1), b1, (a, b) => a + b), Math.tanh);
        const l = ref.reduceAxis(ref.matmul(h, w2), 1, ref.logsumexpOf);
        return ref.Ref.of([ref.sumOf([...l.data]) / l.size], []);
      },
      tol: { atol: 1e-5, rtol: 1e-5 },
      gradTol: { atol: 1e-5, rtol: 1e-4 },
    });
  });
});
