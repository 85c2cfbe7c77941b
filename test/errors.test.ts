// Bad input gets a HieroError that names the problem, before anything reaches the GPU.

import { describe, expect, it } from 'vitest';
import {
  DisposedTensorError, DTypeError, LimitError, matmul, runtime, scope, ShapeError, tensor, zeros,
} from '../engine/index.ts';
import { useDevice } from './helpers.ts';

useDevice();

describe('errors', () => {
  it('shape mismatches name both shapes and the axis', () => {
    expect(() => tensor([1, 2, 3]).add(tensor([1, 2]))).toThrow(ShapeError);
    expect(() => tensor([1, 2, 3]).add(tensor([1, 2]))).toThrow(/add: shapes \[3\] and \[2\] cannot be broadcast together \(axis -1: 3 vs 2\)/);
    expect(() => zeros([2, 3]).sum(2)).toThrow(/axis 2 is out of range for a tensor of rank 2/);
    expect(() => zeros([-1])).toThrow(/invalid size -1/);
  });

  it('wrong dtypes are named', () => {
    const ints = tensor(Int32Array.from([1, 2]));
    expect(() => ints.exp()).toThrow(DTypeError);
    expect(() => ints.exp()).toThrow(/exp: expected a tensor of dtype f32, got i32/);
    expect(() => ints.add(tensor([1, 2]))).toThrow(/dtypes differ \(i32 and f32\)/);
    expect(() => matmul(ints, ints)).toThrow(/matmul: expected a tensor of dtype f32/);
    expect(() => tensor([1], undefined, { requiresGrad: true, dtype: 'i32' })).toThrow(/requiresGrad needs dtype f32/);
  });

  it('using a disposed tensor is a clear error, and dispose is idempotent', async () => {
    const t = tensor([1, 2]);
    t.dispose();
    t.dispose();
    expect(() => t.add(1)).toThrow(DisposedTensorError);
    expect(() => t.add(1)).toThrow(/tensor #\d+ \[2\] was disposed/);
    await expect(t.toArray()).rejects.toThrow(DisposedTensorError);
    const kept = scope(() => tensor([3]));
    const dropped = { t: null as null | ReturnType<typeof tensor> };
    scope(() => {
      dropped.t = tensor([4]);
    });
    expect(kept.disposed).toBe(false);
    expect(dropped.t!.disposed).toBe(true);
  });

  it('a tensor over the adapter buffer limit is refused before allocation', () => {
    const limit = Math.min(runtime().limits.maxStorageBufferBindingSize, runtime().limits.maxBufferSize);
    const elements = Math.floor(limit / 4) + 1024;
    expect(() => zeros([elements])).toThrow(LimitError);
    expect(() => zeros([elements])).toThrow(/exceeds this adapter's buffer limit/);
  });

  it('async scope bodies are rejected', () => {
    expect(() => scope(async () => 1)).toThrow(/synchronous/);
  });
});
