// Token sampling on the GPU (engine/ops/sample.ts, shaders/random.wgsl sample_rows) against float64 expectations.
// The draw is random, so it is checked statistically: 20,000 rows with the same logits give frequencies whose
// binomial standard deviation is below 0.0036; each must lie within 5 of those of its softmax probability (a wrong
// temperature or a top-k leak moves some frequency by 0.05 or more). Argmax cases are exact.

import { describe, expect, it } from 'vitest';
import { sample, tensor } from '../engine/index.ts';
import { useDevice } from './helpers.ts';

useDevice();

describe('sample', () => {
  it('temperature 0 and top-k 1 take each row’s argmax (the first on ties)', async () => {
    const logits = [[0.1, 3, -1, 3], [5, 4, 3, 2], [-2, -1, -3, -1.5]];
    const x = tensor(logits);
    expect(Array.from(await sample(x, { temperature: 0 }).toArray())).toEqual([1, 0, 1]);
    expect(Array.from(await sample(x, { temperature: 2, topK: 1 }).toArray())).toEqual([1, 0, 1]);
    expect(sample(tensor([[[1, 2]]])).shape).toEqual([1, 1]);
  });

  it('draws from softmax(logits / T) restricted to the top k, with frequencies within 5 sigma', async () => {
    const row = [1.0, 2.0, 0.5, -1.0, 1.5, 0.0, 2.2, -0.5];
    const rows = 20_000;
    const x = tensor(Float32Array.from({ length: rows * row.length }, (_, i) => row[i % row.length]), [rows, row.length]);
    for (const [temperature, topK] of [[0.7, 3], [1.3, 0]] as const) {
      const tokens = await sample(x, { temperature, topK, seed: 7 }).toArray();
      const counts = new Array(row.length).fill(0);
      for (const t of tokens) counts[t]++;
      const order = row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).map(([, i]) => i);
      const allowed = new Set(topK ? order.slice(0, topK) : order);
      const weights = row.map((v, i) => (allowed.has(i) ? Math.exp(v / temperature) : 0));
      const total = weights.reduce((a, b) => a + b, 0);
      weights.forEach((w, i) => {
        const p = w / total;
        const sigma = Math.sqrt((p * (1 - p)) / rows);
        const freq = counts[i] / rows;
        if (Math.abs(freq - p) > 5 * sigma + 1e-9) throw new Error(`T ${temperature} k ${topK}: token ${i} drawn ${freq.toFixed(4)}, expected ${p.toFixed(4)} ± ${(5 * sigma).toFixed(4)}`);
      });
    }
  });

  it('repeats with a seed, differs between global-generator draws, and names bad options', async () => {
    const x = tensor(Float32Array.from({ length: 64 * 16 }, (_, i) => Math.sin(i)), [64, 16]);
    const a = Array.from(await sample(x, { seed: 3 }).toArray());
    expect(Array.from(await sample(x, { seed: 3 }).toArray())).toEqual(a);
    const b = Array.from(await sample(x).toArray());
    const c = Array.from(await sample(x).toArray());
    expect(b).not.toEqual(c);
    expect(() => sample(x, { temperature: -1 })).toThrow(/temperature must be a finite number >= 0/);
    expect(() => sample(x, { topK: 1.5 })).toThrow(/topK must be a whole number/);
    expect(() => sample(tensor(1))).toThrow(/vocabulary axis/);
  });
});
