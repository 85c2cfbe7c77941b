// Modules, layers and initialisers (engine/nn).

import { describe, expect, it } from 'vitest';
import { Embedding, identity, lecunNormal, Linear, Module, RMSNorm, tensor, truncatedNormal, type Tensor } from '../engine/index.ts';
import { expectClose, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

class TwoLayer extends Module {
  readonly first = this.child('first', new Linear(3, 4));
  readonly norm = this.child('norm', new RMSNorm(4));
  readonly second = this.child('second', new Linear(4, 2, { bias: false }));
  forward(x: Tensor): Tensor {
    return this.second.forward(this.norm.forward(this.first.forward(x)));
  }
}

describe('modules', () => {
  it('names parameters by dotted path, counts them, switches train/eval', () => {
    const m = new TwoLayer();
    expect(m.namedParameters().map(([n, p]) => `${n}:${p.shape.join('x')}`)).toEqual([
      'first.weight:4x3', 'first.bias:4', 'norm.weight:4', 'second.weight:2x4',
    ]);
    expect(m.parameterCount()).toBe(12 + 4 + 4 + 8);
    m.eval();
    expect(m.second.training).toBe(false);
  });

  it('Linear computes x Wᵀ + b and loadStateDict copies values in place', async () => {
    const lin = new Linear(3, 2);
    lin.loadStateDict({ weight: tensor([[1, 0, 2], [0, 1, -1]]), bias: tensor([0.5, -0.5]) });
    const y = lin.forward(tensor([[1, 2, 3]]));
    expect(Array.from(await y.toArray())).toEqual([7.5, -1.5]);
  });

  it('loadStateDict names every missing, unexpected and mis-shaped tensor and writes nothing then', async () => {
    const m = new TwoLayer();
    const before = Array.from(await m.first.bias!.toArray());
    const state = new Map(m.stateDict());
    state.set('first.bias', tensor([9, 9, 9, 9]));
    state.set('norm.weight', tensor([1, 2]));
    state.delete('second.weight');
    state.set('extra', tensor([1]));
    expect(() => m.loadStateDict(state)).toThrow(/'norm.weight' has shape \[2\], the model needs \[4\]; missing 'second.weight' \[2, 4\]; unexpected 'extra'/);
    expect(Array.from(await m.first.bias!.toArray())).toEqual(before);
  });

  it('Embedding and RMSNorm layers run forward and backward', async () => {
    const emb = new Embedding(5, 3, { std: 0.5 });
    const norm = new RMSNorm(3);
    const out = norm.forward(emb.forward(tensor(Int32Array.from([1, 4, 1]))));
    out.sum().backward();
    expect(out.shape).toEqual([3, 3]);
    expect(emb.weight.grad!.shape).toEqual([5, 3]);
    expect(norm.weight!.grad!.shape).toEqual([3]);
  });
});

describe('initialisers', () => {
  it('truncated normal: within bounds, standard deviation as asked, reproducible from a seed', async () => {
    const values = Array.from(await truncatedNormal([20000], 0.5, { seed: 3 }).toArray());
    // Truncation at ±2 standard deviations of the *compensated* normal (std / sqrt(0.7737) for [-2, 2]), so the
    // result's std is exactly 0.5: samples stay within ±2 · 0.5 / sqrt(0.7737) = ±1.1369.
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(1.137);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    // 20000 samples: the standard error of the std is ~0.5 / sqrt(2 * 20000) = 0.0025; allow 4 of them.
    expect(Math.abs(std - 0.5)).toBeLessThan(0.01);
    expect(Array.from(await truncatedNormal([5], 1, { seed: 3 }).toArray())).toEqual(Array.from(await truncatedNormal([5], 1, { seed: 3 }).toArray()));
    const lecun = Array.from(await lecunNormal([64, 400], { seed: 1 }).toArray());
    const lstd = Math.sqrt(lecun.reduce((a, b) => a + b * b, 0) / lecun.length);
    expect(Math.abs(lstd - 1 / 20)).toBeLessThan(0.002);
    expectClose(await identity([2, 3]).toArray(), [1, 0, 0, 0, 1, 0], { atol: 0, rtol: 0 }, 'identity');
    void ref;
  });
});
