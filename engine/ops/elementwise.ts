// Elementwise ops (kernels: shaders/elementwise.wgsl; tests: test/elementwise.test.ts).
//
// Each unary and binary op is one row of a table that keeps together its kernel code, its float64 reference (the
// test oracle) and the input domain its generated tests sample. The rows are typed by the op-name unions, so an
// op without a reference or a domain fails to compile.

import { record } from '../autograd.ts';
import { DTypeError, formatShape } from '../errors.ts';
import { contiguousStrides, numel, type DType, type Tensor } from '../tensor.ts';
import { full } from './creation.ts';
import { allDense, broadcastShapes, dtypeCode, launchElementwise, mapParams, operand } from './launch.ts';
import { sumAxes } from './reduce.ts';
import { reshape } from './views.ts';

export type UnaryOpName =
  | 'neg' | 'abs' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'tanh' | 'sigmoid' | 'relu' | 'silu' | 'gelu' | 'softplus'
  | 'square' | 'sin' | 'cos' | 'reciprocal';

export interface UnaryOpSpec {
  /** OP code in elementwise.wgsl (U_*). */
  code: number;
  /** float64 reference: the test oracle. */
  reference: (x: number) => number;
  /** Inputs the generated tests draw from, avoiding points where the function or its derivative is undefined. */
  domain: [number, number];
  /** Absolute error WGSL permits the built-in (when looser than a few ULP). */
  builtinAbsoluteError?: number;
}

function erf(x: number): number {
  // Maclaurin series: converges for all x; in float64 it is accurate to ~1e-12 for |x| <= 4, the tested range.
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const sigmoid64 = (x: number) => 1 / (1 + Math.exp(-x));

export const UNARY_OPS: { readonly [K in UnaryOpName]: UnaryOpSpec } = {
  neg: { code: 0, reference: (x) => -x, domain: [-3, 3] },
  abs: { code: 1, reference: Math.abs, domain: [-3, 3] },
  exp: { code: 2, reference: Math.exp, domain: [-4, 4] },
  log: { code: 3, reference: Math.log, domain: [0.1, 5] },
  sqrt: { code: 4, reference: Math.sqrt, domain: [0.1, 5] },
  rsqrt: { code: 5, reference: (x) => 1 / Math.sqrt(x), domain: [0.2, 5] },
  tanh: { code: 6, reference: Math.tanh, domain: [-3, 3] },
  sigmoid: { code: 7, reference: sigmoid64, domain: [-6, 6] },
  relu: { code: 8, reference: (x) => Math.max(x, 0), domain: [-3, 3] },
  silu: { code: 9, reference: (x) => x * sigmoid64(x), domain: [-5, 5] },
  gelu: { code: 10, reference: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), domain: [-4, 4] },
  softplus: { code: 11, reference: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), domain: [-6, 6] },
  square: { code: 12, reference: (x) => x * x, domain: [-3, 3] },
  // WGSL only requires sin/cos to be within 2^-11 absolute on [-pi, pi], and software drivers use that freedom.
  sin: { code: 13, reference: Math.sin, domain: [-3, 3], builtinAbsoluteError: 2 ** -11 },
  cos: { code: 14, reference: Math.cos, domain: [-3, 3], builtinAbsoluteError: 2 ** -11 },
  reciprocal: { code: 15, reference: (x) => 1 / x, domain: [0.3, 4] },
};

export function unary(op: UnaryOpName, x: Tensor): Tensor {
  x.assertDType(op, 'f32');
  const spec = UNARY_OPS[op];
  const y = launchElementwise({
    entry: 'unary_forward',
    label: op,
    shape: x.shape,
    dtype: 'f32',
    inputs: [x],
    uniforms: mapParams(x.shape, operand(x, x.shape)),
    overrides: { OP: spec.code, STRIDED: !allDense(x.shape, x) },
  });
  return record(op, [x], y, (g, [xs, ys]) => [unaryBackward(op, xs, ys, g)], [x, y]);
}

function unaryBackward(op: UnaryOpName, x: Tensor, y: Tensor, g: Tensor): Tensor {
  const shape = x.shape;
  return launchElementwise({
    entry: 'unary_backward',
    label: `${op} backward`,
    shape,
    dtype: 'f32',
    inputs: [x, y, g],
    uniforms: mapParams(shape, operand(x, shape), operand(y, shape), operand(g, shape)),
    overrides: { OP: UNARY_OPS[op].code, STRIDED: !allDense(shape, x, y, g) },
  });
}

export const neg = (x: Tensor) => unary('neg', x);
export const abs = (x: Tensor) => unary('abs', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const relu = (x: Tensor) => unary('relu', x);
export const silu = (x: Tensor) => unary('silu', x);
export const gelu = (x: Tensor) => unary('gelu', x);
export const softplus = (x: Tensor) => unary('softplus', x);
export const square = (x: Tensor) => unary('square', x);
export const sin = (x: Tensor) => unary('sin', x);
export const cos = (x: Tensor) => unary('cos', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);

// ----------------------------------------------------------------------------------------------------------------
// Binary ops with NumPy broadcasting. A plain number as the second operand is passed as a kernel constant.

export type ArithmeticOpName = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';
export type ComparisonOpName = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type BinaryOpName = ArithmeticOpName | ComparisonOpName;

export interface BinaryOpSpec {
  code: number;
  reference: (a: number, b: number) => number;
  /** Inputs for the generated tests: [a range, b range]. */
  domain: [[number, number], [number, number]];
  /** Which dtypes the op accepts. */
  dtypes: readonly DType[];
}

const ALL: readonly DType[] = ['f32', 'i32', 'u32'];

export const BINARY_OPS: { readonly [K in BinaryOpName]: BinaryOpSpec } = {
  add: { code: 0, reference: (a, b) => a + b, domain: [[-3, 3], [-3, 3]], dtypes: ALL },
  sub: { code: 1, reference: (a, b) => a - b, domain: [[-3, 3], [-3, 3]], dtypes: ALL },
  mul: { code: 2, reference: (a, b) => a * b, domain: [[-3, 3], [-3, 3]], dtypes: ALL },
  div: { code: 3, reference: (a, b) => a / b, domain: [[-3, 3], [0.5, 3]], dtypes: ALL },
  pow: { code: 4, reference: Math.pow, domain: [[0.2, 3], [-2, 2]], dtypes: ['f32'] },
  maximum: { code: 5, reference: Math.max, domain: [[-3, 3], [-3, 3]], dtypes: ALL },
  minimum: { code: 6, reference: Math.min, domain: [[-3, 3], [-3, 3]], dtypes: ALL },
  eq: { code: 7, reference: (a, b) => Number(a === b), domain: [[-2, 2], [-2, 2]], dtypes: ALL },
  ne: { code: 8, reference: (a, b) => Number(a !== b), domain: [[-2, 2], [-2, 2]], dtypes: ALL },
  lt: { code: 9, reference: (a, b) => Number(a < b), domain: [[-2, 2], [-2, 2]], dtypes: ALL },
  le: { code: 10, reference: (a, b) => Number(a <= b), domain: [[-2, 2], [-2, 2]], dtypes: ALL },
  gt: { code: 11, reference: (a, b) => Number(a > b), domain: [[-2, 2], [-2, 2]], dtypes: ALL },
  ge: { code: 12, reference: (a, b) => Number(a >= b), domain: [[-2, 2], [-2, 2]], dtypes: ALL },
};

const COMPARISONS = new Set<BinaryOpName>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

export type Operand = Tensor | number;

function checkBinaryDTypes(op: BinaryOpName, a: Tensor, b: Operand): void {
  a.storage(op);
  const allowed = BINARY_OPS[op].dtypes;
  if (!allowed.includes(a.dtype)) throw new DTypeError(`${op}: dtype ${a.dtype} is not supported (use ${allowed.join(', ')})`);
  if (typeof b !== 'number') {
    b.storage(op);
    if (b.dtype !== a.dtype) {
      throw new DTypeError(`${op}: dtypes differ (${a.dtype} and ${b.dtype}); convert one with astype()`);
    }
  }
}

export function binary(op: BinaryOpName, a: Operand, b: Operand): Tensor {
  if (typeof a === 'number') {
    if (typeof b === 'number') throw new DTypeError(`${op}: at least one operand must be a tensor`);
    a = full([], a, { dtype: b.dtype });
    const result = binary(op, a, b);
    a.dispose();
    return result;
  }
  checkBinaryDTypes(op, a, b);
  const spec = BINARY_OPS[op];
  const comparison = COMPARISONS.has(op);
  const scalar = typeof b === 'number';
  const shape = scalar ? [...a.shape] : broadcastShapes(op, a.shape, (b as Tensor).shape);
  const bt = scalar ? null : (b as Tensor);
  const out = launchElementwise({
    entry: 'binary_forward',
    label: op,
    shape,
    dtype: comparison ? 'u32' : a.dtype,
    inputs: bt ? [a, bt] : [a],
    uniforms: mapParams(shape, operand(a, shape), bt ? operand(bt, shape) : undefined, undefined, scalar ? (b as number) : 0),
    overrides: {
      OP: spec.code,
      DTYPE: dtypeCode(a.dtype),
      STRIDED: !(bt ? allDense(shape, a, bt) : allDense(shape, a)),
      B_SCALAR: scalar,
    },
  });
  if (comparison) return out;
  const at = a;
  const save = op === 'add' || op === 'sub' ? [] : bt ? [at, bt] : [at];
  return record(op, [at, bt], out, (g, saved) => binaryBackward(op, at.shape, bt?.shape ?? null, b, g, saved), save);
}

function binaryBackward(
  op: BinaryOpName,
  aShape: readonly number[],
  bShape: readonly number[] | null,
  b: Operand,
  g: Tensor,
  saved: readonly Tensor[],
): (Tensor | null)[] {
  if (op === 'add' || op === 'sub') {
    const da = sumToShape(g, aShape);
    const db = bShape ? (op === 'add' ? sumToShape(g, bShape) : negSumToShape(g, bShape)) : null;
    return [da, db];
  }
  const [as, bs] = saved;
  const scalar = typeof b === 'number';
  const grad = (entry: string) =>
    launchElementwise({
      entry,
      label: `${op} backward`,
      shape: g.shape,
      dtype: 'f32',
      inputs: bs ? [as, bs, g] : [as, as, g],
      uniforms: mapParams(
        g.shape,
        operand(as, g.shape),
        bs ? operand(bs, g.shape) : undefined,
        operand(g, g.shape),
        scalar ? (b as number) : 0,
      ),
      overrides: { OP: BINARY_OPS[op].code, STRIDED: true, B_SCALAR: scalar },
    });
  const gaFull = grad('binary_backward_a');
  const da = sumToShape(gaFull, aShape);
  if (da !== gaFull) gaFull.dispose();
  let db: Tensor | null = null;
  if (bShape) {
    const gbFull = grad('binary_backward_b');
    db = sumToShape(gbFull, bShape);
    if (db !== gbFull) gbFull.dispose();
  }
  return [da, db];
}

function negSumToShape(g: Tensor, shape: readonly number[]): Tensor {
  const n = neg(g);
  const r = sumToShape(n, shape);
  if (r !== n) n.dispose();
  return r;
}

/**
 * Sums a broadcast gradient back down to `shape`. Returns a new handle (never `g` itself) so the caller may
 * dispose g and the result independently; a dense g of the right shape is not copied.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g.viewAs(g.shape, g.strides, g.offset);
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = sumAxes(g, axes, true);
  if (numel(summed.shape) !== numel(shape)) {
    throw new DTypeError(`internal: sumToShape ${formatShape(g.shape)} -> ${formatShape(shape)}`);
  }
  const r = reshape(summed, shape);
  summed.dispose();
  return r;
}

export const add = (a: Operand, b: Operand) => binary('add', a, b);
export const sub = (a: Operand, b: Operand) => binary('sub', a, b);
export const mul = (a: Operand, b: Operand) => binary('mul', a, b);
export const div = (a: Operand, b: Operand) => binary('div', a, b);
export const pow = (a: Operand, b: Operand) => binary('pow', a, b);
export const maximum = (a: Operand, b: Operand) => binary('maximum', a, b);
export const minimum = (a: Operand, b: Operand) => binary('minimum', a, b);

/** min(max(x, low), high): the gradient passes where low < x < high (NaN stays NaN). */
export function clamp(x: Tensor, low: number, high: number): Tensor {
  if (!(low <= high)) throw new DTypeError(`clamp: low ${low} is above high ${high}`);
  const raised = maximum(x, low);
  const out = minimum(raised, high);
  raised.dispose();
  return out;
}
export const eq = (a: Operand, b: Operand) => binary('eq', a, b);
export const ne = (a: Operand, b: Operand) => binary('ne', a, b);
export const lt = (a: Operand, b: Operand) => binary('lt', a, b);
export const le = (a: Operand, b: Operand) => binary('le', a, b);
export const gt = (a: Operand, b: Operand) => binary('gt', a, b);
export const ge = (a: Operand, b: Operand) => binary('ge', a, b);

// ----------------------------------------------------------------------------------------------------------------

/** cond ? a : b elementwise, broadcasting all three; cond of any dtype (non-zero is true). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  cond.storage('where');
  const like = typeof a === 'number' ? (typeof b === 'number' ? null : b) : a;
  const dtype = like?.dtype ?? 'f32';
  const at = typeof a === 'number' ? full([], a, { dtype }) : a;
  const bt = typeof b === 'number' ? full([], b, { dtype }) : b;
  at.storage('where');
  bt.storage('where');
  if (at.dtype !== bt.dtype) throw new DTypeError(`where: branches have different dtypes (${at.dtype} and ${bt.dtype})`);
  const shape = broadcastShapes('where', cond.shape, at.shape, bt.shape);
  const out = launchElementwise({
    entry: 'where_forward',
    label: 'where',
    shape,
    dtype: at.dtype,
    inputs: [cond, at, bt],
    uniforms: mapParams(shape, operand(cond, shape), operand(at, shape), operand(bt, shape)),
    overrides: { DTYPE: dtypeCode(cond.dtype) },
  });
  const result = record('where', [null, at, bt], out, (g, [c]) => {
    const branch = (which: number, target: Tensor) => {
      if (!target.requiresGrad) return null;
      const full = launchElementwise({
        entry: 'where_backward',
        label: 'where backward',
        shape: g.shape,
        dtype: 'f32',
        inputs: [c, g],
        uniforms: mapParams(g.shape, operand(c, g.shape), operand(g, g.shape)),
        overrides: { OP: which, DTYPE: dtypeCode(c.dtype) },
      });
      const reduced = sumToShape(full, target.shape);
      full.dispose();
      return reduced;
    };
    return [null, branch(0, at), branch(1, bt)];
  }, [cond]);
  if (at !== a) at.dispose();
  if (bt !== b) bt.dispose();
  return result;
}

/** A contiguous copy of x (or a new handle on x when it already is contiguous). Differentiable. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous) {
    const alias = x.viewAs(x.shape, x.strides, x.offset);
    return record('contiguous', [x], alias, (g) => [g.viewAs(g.shape, g.strides, g.offset)]);
  }
  const out = copyStrided(x);
  return record('contiguous', [x], out, (g) => [g.viewAs(g.shape, g.strides, g.offset)]);
}

/** The raw strided copy (no autograd): x's elements, in row-major order, into a new contiguous tensor. */
export function copyStrided(x: Tensor, into?: { target: Tensor; strides: readonly number[]; offset: number }): Tensor {
  return launchElementwise({
    entry: 'copy_strided',
    label: 'copy',
    overrides: { STRIDED: into !== undefined },
    shape: x.shape,
    dtype: x.dtype,
    inputs: [x],
    uniforms: mapParams(
      x.shape,
      operand(x, x.shape),
      undefined,
      into ? { strides: into.strides, offset: into.offset } : { strides: contiguousStrides(x.shape), offset: 0 },
    ),
    into: into?.target,
  });
}

/** Converts to another dtype (float -> int truncates toward zero; negative -> u32 clamps to 0). */
export function astype(x: Tensor, dtype: DType): Tensor {
  x.storage('astype');
  if (!['f32', 'i32', 'u32'].includes(dtype)) throw new DTypeError(`astype: unknown dtype '${String(dtype)}'`);
  const src = x.isContiguous ? x : copyStrided(x);
  const out = launchElementwise({
    entry: 'cast_dtype',
    label: 'astype',
    shape: x.shape,
    dtype,
    inputs: [src],
    uniforms: mapParams(x.shape, { strides: [], offset: src.offset }),
    overrides: { DTYPE: dtypeCode(x.dtype), OUT_DTYPE: dtypeCode(dtype) },
  });
  if (src !== x) src.dispose();
  if (x.dtype === 'f32' && dtype === 'f32') return record('astype', [x], out, (g) => [g.viewAs(g.shape, g.strides, g.offset)]);
  return out;
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, { dtype: t.dtype });
}

/**
 * Writes `value` (broadcast to target's shape) into target's own storage, in place and inside the current batch:
 * what optimisers use to update parameters. Not recorded by autograd; refuses a target that is part of a graph.
 */
export function assign(target: Tensor, value: Tensor): Tensor {
  target.storage('assign');
  value.storage('assign');
  if (target.dtype !== value.dtype) throw new DTypeError(`assign: dtypes differ (${target.dtype} and ${value.dtype})`);
  if (target.gradFn) throw new DTypeError('assign: the target was computed by a recorded op; assign into leaves or under noGrad');
  const shape = broadcastShapes('assign', target.shape, value.shape);
  if (shape.length !== target.rank || shape.some((d, i) => d !== target.shape[i])) {
    throw new DTypeError(`assign: a value of shape ${formatShape(value.shape)} does not fit a target of shape ${formatShape(target.shape)}`);
  }
  if (target.buffer('assign') === value.buffer('assign')) {
    const tmp = copyStrided(value);
    assign(target, tmp);
    tmp.dispose();
    return target;
  }
  launchElementwise({
    entry: 'copy_strided',
    label: 'assign',
    shape: target.shape,
    dtype: target.dtype,
    inputs: [value],
    uniforms: mapParams(target.shape, operand(value, target.shape), undefined, { strides: target.strides, offset: target.offset }),
    into: target,
  });
  return target;
}

/** A copy of x in new storage (contiguous), cut from the autograd graph: for snapshots such as weight averages. */
export function clone(x: Tensor): Tensor {
  x.storage('clone');
  return copyStrided(x);
}
