// Elementwise ops (engine/ops/elementwise.ts, shaders/elementwise.wgsl) against their float64 references.
//
// Tolerances: inputs are exact f32 values, so a correctly rounded f32 result is within 6e-8 relative of the
// float64 reference. WGSL allows transcendental built-ins a few ULP (exp: 3 + 2|x| ULP; log, sqrt: ~2^-21
// absolute near 1), GELU uses a 1.5e-7 erf approximation: rtol 2e-6 with atol 1e-6 covers all of that with a
// margin and would still catch any formula error. Gradients go through two or three such steps plus the
// weighted sum's accumulation: rtol 1e-4, atol 1e-5.

import { describe, expect, it } from 'vitest';
import {
  astype, BINARY_OPS, binary, tensor, UNARY_OPS, unary, where, type BinaryOpName, type UnaryOpName,
} from '../engine/index.ts';
import { mergeAxes } from '../engine/ops/launch.ts';
import { checkOp, expectClose, toGpu, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

const FORWARD = { atol: 1e-6, rtol: 2e-6 };
const GRAD = { atol: 1e-5, rtol: 1e-4 };

// Awkward shapes: a scalar, a single element, a prime length, a 2-D non-multiple of the workgroup, rank 4.
const SHAPES: number[][] = [[], [1], [7], [3, 5], [2, 3, 1, 4], [257]];

describe('unary ops', () => {
  for (const name of Object.keys(UNARY_OPS) as UnaryOpName[]) {
    const spec = UNARY_OPS[name];
    it(`${name}: forward and gradient on awkward shapes`, async () => {
      for (const [i, shape] of SHAPES.entries()) {
        const x = ref.randomRef(shape, 11 + i, ...spec.domain);
        await checkOp({
          label: `${name} ${JSON.stringify(shape)}`,
          inputs: [x],
          gpu: (t) => unary(name, t),
          reference: (r) => ref.map(r, spec.reference),
          tol: spec.builtinAbsoluteError ? { ...FORWARD, atol: spec.builtinAbsoluteError } : FORWARD,
          gradTol: shape.length > 2 ? undefined : spec.builtinAbsoluteError ? { ...GRAD, atol: 2 * spec.builtinAbsoluteError } : GRAD,
        });
      }
    });
  }

  it('read a transposed (strided) view without copying it first', async () => {
    const x = ref.randomRef([4, 6], 5);
    await checkOp({
      label: 'exp of transpose',
      inputs: [x],
      gpu: (t) => t.transpose().exp(),
      reference: (r) => ref.map(ref.transpose(r), Math.exp),
      tol: FORWARD,
      gradTol: GRAD,
    });
  });

  it('stay finite at extreme inputs (sigmoid, tanh, softplus, silu at ±1e4)', async () => {
    const x = tensor([-1e4, -100, 0, 100, 1e4]);
    expectClose(await x.sigmoid().toArray(), [0, 0, 0.5, 1, 1], { atol: 1e-7, rtol: 0 }, 'sigmoid');
    expectClose(await x.tanh().toArray(), [-1, -1, 0, 1, 1], { atol: 0, rtol: 0 }, 'tanh');
    expectClose(await x.softplus().toArray(), [0, 0, Math.LN2, 100, 1e4], { atol: 1e-6, rtol: 1e-7 }, 'softplus');
    expectClose(await x.silu().toArray(), [-0, -0, 0, 100, 1e4], { atol: 1e-6, rtol: 1e-7 }, 'silu');
  });
});

const PAIRS: [number[], number[]][] = [
  [[5], [5]],
  [[3, 4], [4]], // trailing broadcast
  [[4, 1, 3], [5, 1]], // both sides stretch
  [[1], [2, 3]],
  [[], [3]], // scalar tensor
  [[2, 3, 4], [2, 3, 4]],
];

describe('binary ops', () => {
  for (const name of Object.keys(BINARY_OPS) as BinaryOpName[]) {
    const spec = BINARY_OPS[name];
    const comparison = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(name);
    it(`${name}: forward${comparison ? '' : ' and gradients'} with broadcasting`, async () => {
      for (const [i, [sa, sb]] of PAIRS.entries()) {
        let a = ref.randomRef(sa, 21 + i, ...spec.domain[0]);
        let b = ref.randomRef(sb, 31 + i, ...spec.domain[1]);
        if (comparison) {
          // Small integers, so that equal values actually occur.
          a = ref.map(a, Math.round);
          b = ref.map(b, Math.round);
        }
        if (name === 'maximum' || name === 'minimum') b = ref.map(b, (v) => (Math.abs(v) < 0.05 ? v + 0.2 : v));
        await checkOp({
          label: `${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
          inputs: [a, b],
          gpu: (x, y) => (comparison ? binary(name, x, y).astype('f32') : binary(name, x, y)),
          reference: (x, y) => ref.zip(x, y, spec.reference),
          tol: FORWARD,
          gradTol: comparison ? undefined : GRAD,
        });
      }
    });
  }

  it('accept a number as either operand', async () => {
    const x = ref.randomRef([3, 2], 3, 0.5, 2);
    await checkOp({ label: 'x * 3', inputs: [x], gpu: (t) => t.mul(3), reference: (r) => ref.map(r, (v) => v * 3), tol: FORWARD, gradTol: GRAD });
    await checkOp({ label: '2 - x', inputs: [x], gpu: (t) => binary('sub', 2, t), reference: (r) => ref.map(r, (v) => 2 - v), tol: FORWARD, gradTol: GRAD });
    await checkOp({ label: 'x ** 2.5', inputs: [x], gpu: (t) => t.pow(2.5), reference: (r) => ref.map(r, (v) => v ** 2.5), tol: FORWARD, gradTol: GRAD });
  });

  it('pow: negative bases with integral exponents, and NaN otherwise', async () => {
    const out = await tensor([-2, -2, -2, 0, 0]).pow(tensor([2, 3, 0.5, 0, 2])).toArray();
    expect(Array.from(out.slice(0, 2))).toEqual([4, -8]);
    expect(Number.isNaN(out[2])).toBe(true);
    expect(Array.from(out.slice(3))).toEqual([1, 0]);
  });

  it('maximum/minimum split the gradient evenly on ties', async () => {
    const a = tensor([1, 2, 3], undefined, { requiresGrad: true });
    const b = tensor([1, 5, 0], undefined, { requiresGrad: true });
    a.maximum(b).sum().backward();
    expect(Array.from(await a.grad!.toArray())).toEqual([0.5, 0, 1]);
    expect(Array.from(await b.grad!.toArray())).toEqual([0.5, 1, 0]);
  });

  it('integer arithmetic and comparisons on i32 and u32', async () => {
    const a = tensor(Int32Array.from([-7, 3, 9, 2 ** 30]));
    const b = tensor(Int32Array.from([2, -3, 9, 2]));
    expect(Array.from(await a.add(b).toArray())).toEqual([-5, 0, 18, 2 ** 30 + 2]);
    expect(Array.from(await a.mul(b).toArray())).toEqual([-14, -9, 81, -(2 ** 31)] /* 2^30 * 2 wraps, as i32 does */);
    expect(Array.from(await a.div(b).toArray())).toEqual([-3, -1, 1, 2 ** 29]);
    expect(Array.from(await a.maximum(b).toArray())).toEqual([2, 3, 9, 2 ** 30]);
    expect(Array.from(await a.lt(b).toArray())).toEqual([1, 0, 0, 0]);
    const u = tensor(Uint32Array.from([0, 1, 0xffffffff]));
    expect(Array.from(await u.gt(1).toArray())).toEqual([0, 0, 1]);
    expect(a.lt(b).dtype).toBe('u32');
  });
});

describe('where', () => {
  it('selects with broadcasting, takes any condition dtype, and routes gradients to the chosen branch', async () => {
    const cond = ref.Ref.of([1, 0, 0, 1, 1, 0], [2, 3]);
    const a = ref.randomRef([2, 3], 1);
    const b = ref.randomRef([3], 2);
    await checkOp({
      label: 'where',
      inputs: [a, b],
      gpu: (x, y) => where(toGpu(cond).gt(0), x, y),
      reference: (x, y) => ref.where(cond, x, y),
      tol: FORWARD,
      gradTol: GRAD,
    });
    const chosen = where(tensor([0, 2, -1]), 1, tensor([5, 6, 7]));
    expect(Array.from(await chosen.toArray())).toEqual([5, 1, 1]);
  });
});

describe('astype', () => {
  it('converts between f32, i32 and u32 (truncating toward zero, clamping negatives for u32)', async () => {
    const x = tensor([-2.7, -0.5, 0, 1.9, 3e9]);
    expect(Array.from(await astype(x, 'i32').slice([[0, 4]]).toArray())).toEqual([-2, 0, 0, 1]);
    expect(Array.from(await astype(x, 'u32').toArray())).toEqual([0, 0, 0, 1, 3e9]);
    expect(Array.from(await astype(tensor(Int32Array.from([-3, 5])), 'f32').toArray())).toEqual([-3, 5]);
    expect(Array.from(await astype(tensor(Int32Array.from([-3, 5])), 'u32').toArray())).toEqual([0, 5]);
  });
});

describe('index walk', () => {
  it('merges axes every operand walks as one run and drops size-1 axes', () => {
    // A [4, 3, 2] slice of a [4, 3, 6] tensor, with a broadcast [2] operand and the contiguous output.
    const merged = mergeAxes([4, 1, 3, 2], [[18, 0, 6, 1], [0, 0, 0, 1], [6, 6, 2, 1]]);
    expect(merged.shape).toEqual([12, 2]);
    expect(merged.strides).toEqual([[6, 1], [0, 1], [2, 1]]);
    // A transpose cannot merge; operands without strides count as zeros.
    expect(mergeAxes([3, 5], [[1, 3], []])).toEqual({ shape: [3, 5], strides: [[1, 3], [0, 0]] });
    expect(mergeAxes([1, 1], [[1, 1]])).toEqual({ shape: [], strides: [[]] });
  });
});

describe('non-finite values', () => {
  // IEEE 754 results (as PyTorch gives them) on every adapter: CPU drivers return finite garbage for these unless
  // the kernels check (shaders/elementwise.wgsl, unary).
  it('NaN propagates through every unary op, and inputs outside a domain give NaN or the right infinity', async () => {
    const nan = tensor([NaN]);
    for (const op of Object.keys(UNARY_OPS) as (keyof typeof UNARY_OPS)[]) {
      const [value] = await unary(op, nan).toArray();
      expect(Number.isNaN(value), `${op}(NaN)`).toBe(true);
    }
    const x = tensor([-1, 0, 4]);
    expect(Array.from(await x.log().toArray())).toEqual([NaN, -Infinity, Math.log(4)].map((v) => Math.fround(v)));
    expect(Array.from(await x.sqrt().toArray())).toEqual([NaN, 0, 2]);
    expect(Array.from(await x.rsqrt().toArray())).toEqual([NaN, Infinity, 0.5]);
    expect(Array.from(await tensor([Infinity, -Infinity]).tanh().toArray())).toEqual([1, -1]);
  });

  it('NaN survives maximum, minimum, sums and max reductions', async () => {
    const a = tensor([1, NaN, 3]);
    expect(Array.from(await a.maximum(tensor([0, 0, NaN])).toArray()).map(Number.isNaN)).toEqual([false, true, true]);
    expect(Number.isNaN(await a.sum().item())).toBe(true);
    expect(Number.isNaN(await a.max().item())).toBe(true);
  });
});
