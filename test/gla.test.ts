// Gated linear attention (engine/ops/gla.ts, shaders/gla.wgsl) against a float64 sequential recurrence:
// outputs and final states on awkward shapes (T = 1, primes, T not a multiple of the chunk, K ≠ V, H > 1, per-key
// and per-head gates, an initial state, T = 10⁴), gradients of q, k, v, g and the initial state against central
// finite differences of the reference, the step form against the chunked form, and named errors.
//
// Tolerances: f32 kernels against float64 sums of up to T·K terms of size ~1 (|o| ≲ 5): atol 2e-4 + rtol 1e-4 for
// T ≤ 40, atol 2e-3 + rtol 1e-3 for T = 10⁴ (the state is a sum over ~1/(1 − decay) steps). Finite differences in
// float64 (h = 1e-6) are exact to ~1e-8; the GPU's gradients are f32: atol 5e-4 + rtol 2e-3.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatedLinearAttention, gatedLinearAttentionStep, LimitError, scope, setGlaKernel, ShapeError, tensor, type Tensor } from '../engine/index.ts';
import { expectClose, useDevice } from './helpers.ts';

useDevice();

interface Case {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
  perHead: boolean;
  initial: boolean;
  chunk: number;
  scale: number;
}

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

interface Inputs {
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  g: Float64Array;
  h0: Float64Array | null;
}

function inputs(c: Case, seed: number): Inputs {
  const r = random(seed);
  const normal = () => (r() + r() + r() - 1.5) * 1.4;
  const n = c.B * c.T * c.H;
  // Log forget gates in (-∞, 0]: log σ(x), most between -1.5 and -0.05.
  const gate = () => Math.log(1 / (1 + Math.exp(-(normal() + 2))));
  return {
    q: Float64Array.from({ length: n * c.K }, normal),
    k: Float64Array.from({ length: n * c.K }, normal),
    v: Float64Array.from({ length: n * c.V }, normal),
    g: Float64Array.from({ length: n * (c.perHead ? 1 : c.K) }, gate),
    h0: c.initial ? Float64Array.from({ length: c.B * c.H * c.K * c.V }, normal) : null,
  };
}

/** The float64 recurrence, step by step: outputs [B, T, H, V] and final states [B, H, K, V]. */
function reference(c: Case, x: Inputs): { o: Float64Array; final: Float64Array } {
  const o = new Float64Array(c.B * c.T * c.H * c.V);
  const final = new Float64Array(c.B * c.H * c.K * c.V);
  for (let b = 0; b < c.B; b++) {
    for (let h = 0; h < c.H; h++) {
      const S = new Float64Array(c.K * c.V);
      if (x.h0) S.set(x.h0.subarray((b * c.H + h) * c.K * c.V, (b * c.H + h + 1) * c.K * c.V));
      for (let t = 0; t < c.T; t++) {
        const row = (b * c.T + t) * c.H + h;
        for (let i = 0; i < c.K; i++) {
          const a = Math.exp(c.perHead ? x.g[row] : x.g[row * c.K + i]);
          for (let j = 0; j < c.V; j++) S[i * c.V + j] = a * S[i * c.V + j] + x.k[row * c.K + i] * x.v[row * c.V + j];
        }
        for (let j = 0; j < c.V; j++) {
          let sum = 0;
          for (let i = 0; i < c.K; i++) sum += x.q[row * c.K + i] * S[i * c.V + j];
          o[row * c.V + j] = c.scale * sum;
        }
      }
      final.set(S, (b * c.H + h) * c.K * c.V);
    }
  }
  return { o, final };
}

function upload(c: Case, x: Inputs, requiresGrad = false): Record<'q' | 'k' | 'v' | 'g', Tensor> & { h0: Tensor | null } {
  const { B, T, H, K, V } = c;
  return {
    q: tensor(Float32Array.from(x.q), [B, T, H, K], { requiresGrad }),
    k: tensor(Float32Array.from(x.k), [B, T, H, K], { requiresGrad }),
    v: tensor(Float32Array.from(x.v), [B, T, H, V], { requiresGrad }),
    g: tensor(Float32Array.from(x.g), c.perHead ? [B, T, H] : [B, T, H, K], { requiresGrad }),
    h0: x.h0 ? tensor(Float32Array.from(x.h0), [B, H, K, V], { requiresGrad }) : null,
  };
}

const base: Case = { B: 1, T: 1, H: 1, K: 3, V: 2, perHead: false, initial: false, chunk: 16, scale: 1 };
const CASES: Case[] = [
  base,
  { ...base, B: 2, T: 7, H: 2, K: 5, V: 3, chunk: 4 },
  { ...base, T: 37, H: 3, K: 4, V: 6, chunk: 16, scale: 0.5 },
  { ...base, B: 2, T: 23, H: 2, K: 8, V: 8, perHead: true, chunk: 8 },
  { ...base, T: 17, H: 1, K: 6, V: 4, initial: true, chunk: 5 },
  { ...base, B: 1, T: 64, H: 2, K: 16, V: 16, perHead: true, initial: true, chunk: 16, scale: 0.25 },
];

// Both variants of the output and dq kernels ('row': CPU drivers' default, 'element': GPUs'), whatever the adapter.
for (const kernel of ['row', 'element'] as const) describe(`gatedLinearAttention (${kernel} kernels)`, () => {
  beforeAll(() => setGlaKernel(kernel));
  afterAll(() => setGlaKernel(null));
  for (const c of CASES) {
    it(`equals the float64 recurrence: B ${c.B}, T ${c.T}, H ${c.H}, K ${c.K}, V ${c.V}, ${c.perHead ? 'per-head' : 'per-key'} gates, chunk ${c.chunk}${c.initial ? ', an initial state' : ''}`, async () => {
      const x = inputs(c, c.T * 31 + c.K);
      const ref = reference(c, x);
      const t = upload(c, x);
      const { output, finalState } = gatedLinearAttention(t.q, t.k, t.v, t.g, { chunk: c.chunk, scale: c.scale, initialState: t.h0, returnFinalState: true });
      expectClose(await output.toArray(), ref.o, { atol: 2e-4, rtol: 1e-4 }, 'output');
      expectClose(await finalState.toArray(), ref.final, { atol: 2e-4, rtol: 1e-4 }, 'final state');
      for (const u of [output, finalState, t.q, t.k, t.v, t.g, t.h0]) u?.dispose();
    });
  }

  for (const c of [
    { ...base, B: 1, T: 6, H: 2, K: 3, V: 2, chunk: 4, initial: true, scale: 0.7 },
    { ...base, B: 2, T: 5, H: 1, K: 2, V: 3, chunk: 2, perHead: true },
  ]) {
    it(`gradients of q, k, v, g${c.initial ? ' and the initial state' : ''} match finite differences (${c.perHead ? 'per-head' : 'per-key'} gates, chunk ${c.chunk})`, async () => {
      const x = inputs(c, 99 + c.K);
      const weights = Float64Array.from({ length: c.B * c.T * c.H * c.V }, random(5));
      const loss = (y: Inputs) => reference(c, y).o.reduce((s, v, i) => s + v * weights[i], 0);
      const t = upload(c, x, true);
      scope(() => {
        const output = gatedLinearAttention(t.q, t.k, t.v, t.g, { chunk: c.chunk, scale: c.scale, initialState: t.h0 });
        output.mul(tensor(Float32Array.from(weights), output.shape)).sum().backward();
      });
      const names = ['q', 'k', 'v', 'g', ...(c.initial ? ['h0'] : [])] as const;
      for (const name of names) {
        const values = x[name as keyof Inputs] as Float64Array;
        const numeric = values.map((_, i) => {
          const eps = 1e-6;
          const saved = values[i];
          values[i] = saved + eps;
          const up = loss(x);
          values[i] = saved - eps;
          const down = loss(x);
          values[i] = saved;
          return (up - down) / (2 * eps);
        });
        const gpu = (name === 'h0' ? t.h0! : t[name as 'q' | 'k' | 'v' | 'g']).grad;
        expect(gpu, `${name} has a gradient`).not.toBeNull();
        expectClose(await gpu!.toArray(), numeric, { atol: 5e-4, rtol: 2e-3 }, `d loss / d ${name}`);
      }
      for (const u of [t.q, t.k, t.v, t.g, t.h0]) u?.dispose();
    });
  }

});

describe('gatedLinearAttention', () => {
  it('T = 10⁴: long sequences, many chunks', async () => {
    const c: Case = { ...base, T: 10_000, H: 1, K: 2, V: 3, chunk: 32 };
    const x = inputs(c, 7);
    const ref = reference(c, x);
    const t = upload(c, x);
    const { output, finalState } = gatedLinearAttention(t.q, t.k, t.v, t.g, { chunk: c.chunk, returnFinalState: true });
    expectClose(await output.toArray(), ref.o, { atol: 2e-3, rtol: 1e-3 }, 'output at T = 10⁴');
    expectClose(await finalState.toArray(), ref.final, { atol: 2e-3, rtol: 1e-3 }, 'final state at T = 10⁴');
    for (const u of [output, finalState, t.q, t.k, t.v, t.g]) u.dispose();
  });

  it('the step form, one step at a time, gives the chunked form\'s outputs and final state', async () => {
    for (const perHead of [false, true]) {
      const c: Case = { ...base, B: 2, T: 9, H: 2, K: 4, V: 3, perHead, initial: true, chunk: 4, scale: 0.5 };
      const x = inputs(c, 3);
      const t = upload(c, x);
      const { output, finalState } = gatedLinearAttention(t.q, t.k, t.v, t.g, { chunk: c.chunk, scale: c.scale, initialState: t.h0, returnFinalState: true });
      const whole = await output.toArray();
      let state = t.h0!;
      for (let s = 0; s < c.T; s++) {
        const at = (u: Tensor, d: number) => u.slice([null, s]).contiguous().reshape(d ? [c.B, c.H, d] : [c.B, c.H]);
        const stepped = scope(() => gatedLinearAttentionStep(at(t.q, c.K), at(t.k, c.K), at(t.v, c.V), at(t.g, perHead ? 0 : c.K), state, { scale: c.scale }));
        const expected = Array.from({ length: c.B * c.H * c.V }, (_, e) => {
          const [b, rest] = [Math.floor(e / (c.H * c.V)), e % (c.H * c.V)];
          return whole[(b * c.T + s) * c.H * c.V + rest];
        });
        expectClose(await stepped.output.toArray(), expected, { atol: 2e-5, rtol: 1e-4 }, `step ${s} (${perHead ? 'per-head' : 'per-key'})`);
        if (state !== t.h0) state.dispose();
        state = stepped.state;
        stepped.output.dispose();
      }
      expectClose(await state.toArray(), await finalState.toArray(), { atol: 2e-5, rtol: 1e-4 }, 'final state');
      for (const u of [output, finalState, state, t.q, t.k, t.v, t.g, t.h0]) u?.dispose();
    }
  });

  it('names mismatched shapes and dimensions beyond the kernels\' limit before anything runs', () => {
    const q = tensor(new Float32Array(2 * 3 * 1 * 4), [2, 3, 1, 4]);
    const v = tensor(new Float32Array(2 * 3 * 1 * 5), [2, 3, 1, 5]);
    const g = tensor(new Float32Array(2 * 3 * 1 * 4), [2, 3, 1, 4]);
    expect(() => gatedLinearAttention(q, q.reshape([2, 3, 2, 2]), v, g)).toThrow(ShapeError);
    expect(() => gatedLinearAttention(q, q, v, tensor(new Float32Array(6), [2, 3, 1, 1]).reshape([2, 3, 1, 1]))).toThrow(/g must be \[2, 3, 1, 4\] \(per key channel\) or \[2, 3, 1\] \(per head\)/);
    expect(() => gatedLinearAttention(q, q, v.reshape([3, 2, 1, 5]), g)).toThrow(/v must be \[2, 3, 1, valueDim\]/);
    const wide = tensor(new Float32Array(129), [1, 1, 1, 129]);
    expect(() => gatedLinearAttention(wide, wide, v.slice([[0, 1], [0, 1]]).contiguous(), wide)).toThrow(LimitError);
    expect(() => gatedLinearAttention(q, q, v, g, { initialState: tensor(new Float32Array(4), [1, 1, 2, 2]) })).toThrow(/initialState must be \[2, 1, 4, 5\]/);
  });
});
