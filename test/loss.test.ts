// Cross-entropy (engine/ops/loss.ts, shaders/loss.wgsl) against a float64 reference.
// Tolerances: a row's loss is a log-sum-exp over <= 50 classes and one subtraction: rtol 1e-5 with atol 1e-6;
// gradients: softmax minus one-hot, times the upstream value: rtol 1e-4, atol 1e-6.

import { describe, expect, it } from 'vitest';
import { crossEntropy, tensor } from '../engine/index.ts';
import { checkOp, expectClose, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

function ceRef(x: ref.Ref, targets: number[], reduction: 'mean' | 'sum' | 'none', ignore = -100): ref.Ref {
  const c = x.shape[x.shape.length - 1];
  const losses = targets.map((t, r) => {
    if (t === ignore) return 0;
    const row = [...x.data.slice(r * c, (r + 1) * c)];
    return ref.logsumexpOf(row) - row[t];
  });
  if (reduction === 'none') return ref.Ref.of(losses, x.shape.slice(0, -1));
  const total = losses.reduce((a, b) => a + b, 0);
  const count = Math.max(1, targets.filter((t) => t !== ignore).length);
  return ref.Ref.of([reduction === 'sum' ? total : total / count], []);
}

describe('crossEntropy', () => {
  for (const reduction of ['mean', 'sum', 'none'] as const) {
    it(`${reduction}, with ignored targets, on [2, 3, 7] logits`, async () => {
      const x = ref.randomRef([2, 3, 7], 4, -3, 3);
      const targets = [0, 6, -100, 3, 3, 1];
      await checkOp({
        label: `ce ${reduction}`,
        inputs: [x],
        gpu: (l) => crossEntropy(l, tensor(Int32Array.from(targets), [2, 3]), { reduction }),
        reference: (l) => ceRef(l, targets, reduction),
        tol: { atol: 1e-6, rtol: 1e-5 },
        gradTol: { atol: 1e-6, rtol: 1e-4 },
      });
    });
  }

  it('many classes (the row kernel strides over them) and host targets', async () => {
    const x = ref.randomRef([5, 300], 5, -2, 2);
    const targets = [0, 299, 150, 7, 42];
    await checkOp({ label: 'ce 300', inputs: [x], gpu: (l) => crossEntropy(l, targets), reference: (l) => ceRef(l, targets, 'mean'), tol: { atol: 1e-6, rtol: 1e-5 } });
  });

  it('is stable for logits of ±1e4', async () => {
    const logits = tensor([[1e4, -1e4, 0], [-1e4, 1e4, 1e4]], undefined, { requiresGrad: true });
    const loss = crossEntropy(logits, [0, 0], { reduction: 'none' });
    expectClose(await loss.toArray(), [0, 2e4 + Math.log(2)], { atol: 1e-2, rtol: 1e-6 }, 'ce ±1e4');
    loss.sum().backward();
    // At |x| = 1e4 an f32 holds the log-sum-exp only to ±2^-11 (its spacing there is 2^-10), so exp(x - lse) is
    // exact only to a relative 2^-11 ~ 4.9e-4: 0.5 ± 2.5e-4. That bound, not a tuned number, is the tolerance.
    expectClose(await logits.grad!.toArray(), [0, 0, 0, -1, 0.5, 0.5], { atol: 2.5e-4, rtol: 0 }, 'ce grad ±1e4');
  });

  it('rejects out-of-range targets: host targets at once, GPU targets at the next read-back', async () => {
    expect(() => crossEntropy(tensor([[1, 2]]), [2])).toThrow(/target 2 at position 0 is outside \[0, 2\)/);
    expect(() => crossEntropy(tensor([[1, 2]]), tensor(Int32Array.from([0, 1])))).toThrow(/do not match logits/);
    const loss = crossEntropy(tensor([[1, 2], [3, 4]]), tensor(Int32Array.from([1, 5])));
    await expect(loss.item()).rejects.toThrow(/target in row 1 is outside \[0, 2\)/);
    const ok = crossEntropy(tensor([[1, 2]]), tensor(Int32Array.from([1])));
    expect(await ok.item()).toBeCloseTo(Math.log(1 + Math.exp(-1)), 6);
  });
});
