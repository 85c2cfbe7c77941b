// Embedding, RoPE and SwiGLU (engine/ops/{embedding,rope,swiglu}.ts, shaders/{embedding,rope,swiglu}.wgsl)
// against float64 references. Embedding is exact (copies and in-order sums of a few rows); RoPE is one rotation
// with float64 tables rounded to f32: rtol 1e-6, atol 1e-6; SwiGLU: exp + a few products: rtol 2e-6, atol 1e-6.

import { describe, expect, it } from 'vitest';
import { embedding, rope, swiglu, swigluPacked, tensor } from '../engine/index.ts';
import { checkOp, expectClose, toGpu, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

describe('embedding', () => {
  it('gathers rows and accumulates repeated ids in the gradient', async () => {
    const table = ref.randomRef([6, 5], 1);
    const ids = [[0, 3, 3], [5, 0, 3]];
    const idTensor = () => tensor(Int32Array.from(ids.flat()), [2, 3]);
    await checkOp({
      label: 'embedding',
      inputs: [table],
      gpu: (t) => embedding(t, idTensor()),
      reference: (t) => ref.Ref.of(ids.flat().flatMap((id) => [...t.data.slice(id * 5, id * 5 + 5)]), [2, 3, 5]),
      tol: { atol: 0, rtol: 0 },
      gradTol: { atol: 1e-6, rtol: 1e-6 },
    });
  });

  it('gives the same gradient bits on every run (no atomics)', async () => {
    const table = tensor(new Float32Array(40).map((_, i) => Math.sin(i)), [8, 5], { requiresGrad: true });
    const ids = tensor(Int32Array.from(Array.from({ length: 200 }, (_, i) => (i * 7) % 8)));
    const grads: number[][] = [];
    for (let r = 0; r < 2; r++) {
      embedding(table, ids).mul(tensor(new Float32Array(1000).map((_, i) => Math.cos(i * 0.37)), [200, 5])).sum().backward();
      grads.push(Array.from(await table.grad!.toArray()));
      table.grad!.dispose();
      table.grad = null;
    }
    expect(grads[1]).toEqual(grads[0]);
  });

  it('reports an out-of-range id at the next read-back', async () => {
    const out = embedding(tensor([[1, 2], [3, 4]]), tensor(Int32Array.from([1, 2, 0])));
    await expect(out.toArray()).rejects.toThrow(/id at flat position 1 is outside \[0, 2\)/);
    expect(() => embedding(tensor([1, 2]), tensor(Int32Array.from([0])))).toThrow(/\[vocab, dim\]/);
  });
});

describe('rope', () => {
  it('rotates each batch row from its own position (decoding rows of different lengths)', async () => {
    const x = ref.randomRef([3, 2, 2, 6], 31);
    const offsets = [0, 5, 2];
    const got = await rope(toGpu(x), { base: 100, rowOffsets: { offsets: tensor(Int32Array.from(offsets)), maxPosition: 8 } }).toArray();
    for (let b = 0; b < 3; b++) {
      const row = ref.slice(x, [[b, b + 1, 1], null, null, null]);
      const expected = ref.ropeRef(row, 100, 1, offsets[b]);
      expectClose(got.slice(b * 24, (b + 1) * 24), Array.from(expected.data), { atol: 1e-6, rtol: 1e-5 }, `row ${b}`);
    }
  });

  for (const [fraction, offset] of [[1, 0], [0.5, 3]]) {
    it(`rotates ${fraction * 100}% of the channels from position ${offset}`, async () => {
      const x = ref.randomRef([2, 5, 3, 8], 2);
      await checkOp({
        label: `rope ${fraction} ${offset}`,
        inputs: [x],
        gpu: (t) => rope(t, { base: 100, fraction, positionOffset: offset }),
        reference: (r) => ref.ropeRef(r, 100, fraction, offset),
        tol: { atol: 1e-6, rtol: 1e-6 },
        gradTol: { atol: 1e-5, rtol: 1e-5 },
      });
    });
  }
  it('reads a slice of a fused projection in place', async () => {
    const fused = ref.randomRef([2, 4, 3, 2, 6], 8); // B, T, (q|k|v), H, Dh
    await checkOp({
      label: 'rope of a slice',
      inputs: [fused],
      gpu: (t) => rope(t.slice([null, null, [1, 2]]).squeeze(2), { base: 50 }),
      reference: (r) => {
        const picked = ref.slice(r, [null, null, [1, 2, 1], null, null]);
        return ref.ropeRef(new ref.Ref(picked.data, [2, 4, 2, 6]), 50, 1, 0);
      },
      tol: { atol: 1e-6, rtol: 1e-6 },
      gradTol: { atol: 1e-5, rtol: 1e-5 },
    });
  });

  it('rejects a tensor that is not [B, T, H, Dh]', () => {
    expect(() => rope(tensor([[1, 2]]))).toThrow(/\[batch, seq, heads, headDim\]/);
  });
});

describe('swiglu', () => {
  it('silu(gate) * up and both gradients', async () => {
    const silu = (g: number) => g / (1 + Math.exp(-g));
    await checkOp({
      label: 'swiglu',
      inputs: [ref.randomRef([3, 7], 3, -4, 4), ref.randomRef([3, 7], 4)],
      gpu: swiglu,
      reference: (g, u) => ref.zip(g, u, (a, b) => silu(a) * b),
      tol: { atol: 1e-6, rtol: 2e-6 },
      gradTol: { atol: 1e-5, rtol: 1e-4 },
    });
    expect(() => swiglu(tensor([1, 2]), tensor([1]))).toThrow(/same shape/);
  });

  it('reads the two halves of a fused gate/up projection in place', async () => {
    const silu = (g: number) => g / (1 + Math.exp(-g));
    await checkOp({
      label: 'swiglu of halves',
      inputs: [ref.randomRef([2, 3, 10], 5, -3, 3)],
      gpu: (t) => swiglu(t.slice([null, null, [0, 5]]), t.slice([null, null, [5, 10]])),
      reference: (r) => {
        const gate = ref.slice(r, [null, null, [0, 5, 1]]);
        const up = ref.slice(r, [null, null, [5, 10, 1]]);
        return ref.zip(gate, up, (a, b) => silu(a) * b);
      },
      tol: { atol: 1e-6, rtol: 2e-6 },
      gradTol: { atol: 1e-5, rtol: 1e-4 },
    });
  });

  for (const upFirst of [false, true]) {
    it(`swigluPacked: a fused [${upFirst ? 'up | gate' : 'gate | up'}] projection, its gradient in one dispatch`, async () => {
      const silu = (g: number) => g / (1 + Math.exp(-g));
      await checkOp({
        label: 'swigluPacked',
        inputs: [ref.randomRef([2, 3, 10], 6, -3, 3)],
        gpu: (t) => swigluPacked(t, 5, { upFirst }),
        reference: (r) => {
          const first = ref.slice(r, [null, null, [0, 5, 1]]);
          const second = ref.slice(r, [null, null, [5, 10, 1]]);
          return upFirst ? ref.zip(second, first, (a, b) => silu(a) * b) : ref.zip(first, second, (a, b) => silu(a) * b);
        },
        tol: { atol: 1e-6, rtol: 2e-6 },
        gradTol: { atol: 1e-5, rtol: 1e-4 },
      });
      expect(() => swigluPacked(tensor([[1, 2, 3]]), 2)).toThrow(/expected \[\.\.\., 4\]/);
    });
  }
});
