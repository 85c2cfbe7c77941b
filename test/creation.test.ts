// Creating tensors (engine/ops/creation.ts): host data, GPU fills and ranges, seeded random numbers.

import { describe, expect, it } from 'vitest';
import { arange, full, manualSeed, ones, rand, randn, ShapeError, tensor, zeros } from '../engine/index.ts';
import { useDevice } from './helpers.ts';

useDevice();

describe('creation', () => {
  it('tensor() from nested arrays, typed arrays and scalars', async () => {
    const t = tensor([[1, 2], [3, 4]]);
    expect(t.shape).toEqual([2, 2]);
    expect(await t.toNested()).toEqual([[1, 2], [3, 4]]);
    expect(tensor(Int32Array.from([1, 2])).dtype).toBe('i32');
    expect(tensor(Uint32Array.from([1, 2])).dtype).toBe('u32');
    expect(await tensor(3.5).item()).toBe(3.5);
    expect(tensor([1, 2, 3, 4], [2, 2]).shape).toEqual([2, 2]);
    expect(() => tensor([[1, 2], [3]])).toThrow(ShapeError);
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
  });

  it('zeros, ones, full and arange on the GPU', async () => {
    expect(Array.from(await zeros([3]).toArray())).toEqual([0, 0, 0]);
    expect(Array.from(await ones([2], { dtype: 'i32' }).toArray())).toEqual([1, 1]);
    expect(Array.from(await full([2], -2.5).toArray())).toEqual([-2.5, -2.5]);
    expect(Array.from(await arange(5).toArray())).toEqual([0, 1, 2, 3, 4]);
    expect(arange(5).dtype).toBe('i32');
    expect(Array.from(await arange(1, 2, 0.25).toArray())).toEqual([1, 1.25, 1.5, 1.75]);
    expect(arange(3, 0).shape).toEqual([0]);
  });

  it('random numbers are reproducible from a seed and have the right moments', async () => {
    manualSeed(42);
    const a = await randn([4096]).toArray();
    const b = await randn([4096]).toArray();
    manualSeed(42);
    const a2 = await randn([4096]).toArray();
    expect(Array.from(a2)).toEqual(Array.from(a));
    expect(Array.from(b)).not.toEqual(Array.from(a));
    const moments = (typed: Float32Array | Int32Array | Uint32Array) => {
      const v = Array.from(typed);
      const m = v.reduce((s, x) => s + x, 0) / v.length;
      return [m, Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / v.length)];
    };
    // 4096 samples: the standard error of the mean is 1/64 ~ 0.016, of the std ~0.011; 4 standard errors.
    const [m, s] = moments(a);
    expect(Math.abs(m)).toBeLessThan(0.07);
    expect(Math.abs(s - 1)).toBeLessThan(0.05);
    const u = await rand([4096], { low: 2, high: 4 }).toArray();
    expect(Math.min(...Array.from(u))).toBeGreaterThanOrEqual(2);
    expect(Math.max(...Array.from(u))).toBeLessThan(4);
    expect(Math.abs(moments(u)[0] - 3)).toBeLessThan(0.04);
    expect(Array.from(await rand([8], { seed: 7 }).toArray())).toEqual(Array.from(await rand([8], { seed: 7 }).toArray()));
  });
});
