// Reductions (kernels: shaders/reduce.wgsl; tests: test/reduce.test.ts).
//
// One axis at a time, over a contiguous input viewed as [outer, n, inner]. `axis` may be a number, a list of axes,
// or omitted (all axes). keepdim keeps reduced axes as size 1.

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { HieroError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { numel, type Tensor } from '../tensor.ts';
import { copyStrided, exp, mul, sub } from './elementwise.ts';
import { empty, normaliseAxis } from './launch.ts';
import { expand, reshape } from './views.ts';

export type ReduceOpName = 'sum' | 'max' | 'min' | 'argmax' | 'argmin' | 'logsumexp';

const REDUCE_CODE: Record<ReduceOpName, number> = { sum: 0, max: 1, min: 2, argmax: 3, argmin: 4, logsumexp: 5 };
const COLUMNS_WG = 64;

/** Invocations per row in the workgroup-per-row kernel: fewer on CPU drivers, where each barrier is costly. */
function rowsWorkgroup(): number {
  return runtime().report.software ? 64 : 256;
}

/**
 * The workgroup-per-row kernel pays a tree of barriers per output; it wins only when a row is long or there are
 * too few outputs to keep the adapter busy with one invocation each.
 */
function useRowsKernel(outer: number, n: number, inner: number): boolean {
  return inner === 1 && n >= 64 && (n >= 2048 || outer < 256);
}

export type Axes = number | readonly number[] | undefined;

/** The reduced axes, normalised, sorted, without duplicates. */
export function resolveAxes(op: string, axis: Axes, rank: number): number[] {
  if (axis === undefined) return [...Array(rank).keys()];
  const list = typeof axis === 'number' ? [axis] : [...axis];
  const resolved = [...new Set(list.map((a) => normaliseAxis(op, a, rank)))];
  return resolved.sort((a, b) => a - b);
}

function reducedShape(shape: readonly number[], axes: number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

/** The kernel launch for one axis (no autograd). Returns [outer, inner] laid out contiguously. */
function reduceAxisRaw(op: ReduceOpName, x: Tensor, axis: number, scale = 1): Tensor {
  const rt = runtime();
  const dense = x.isContiguous ? x : copyStrided(x);
  const n = x.shape[axis] ?? 1;
  const outer = numel(x.shape.slice(0, axis));
  const inner = numel(x.shape.slice(axis + 1));
  const outShape = x.shape.filter((_, i) => i !== axis);
  const arg = op === 'argmax' || op === 'argmin';
  const out = empty(outShape, arg ? 'i32' : 'f32', op);
  if (n === 0) {
    if (dense !== x) dense.dispose();
    throw new HieroError(`${op}: cannot reduce over an axis of size 0`);
  }
  const uniforms = new Uniforms().u32(outer).u32(n).u32(inner).u32(dense.offset).f32(scale).build();
  const rows = useRowsKernel(outer, n, inner);
  rt.dispatch({
    family: 'reduce',
    entry: rows ? 'reduce_rows' : 'reduce_columns',
    overrides: { WG: rows ? rowsWorkgroup() : COLUMNS_WG, OP: REDUCE_CODE[op] },
    uniforms,
    outputs: [out.buffer(op)],
    inputs: [dense.buffer(op)],
    workgroups: rows ? rt.grid(outer, 1, op) : rt.grid(outer * inner, COLUMNS_WG, op),
    label: op,
  });
  if (dense !== x) dense.dispose();
  return out;
}

function reduceSequential(op: 'sum' | 'max' | 'min' | 'logsumexp', x: Tensor, axes: number[]): Tensor {
  // Highest axis first, so the remaining axes keep their indices.
  let current = x;
  for (let i = axes.length - 1; i >= 0; i--) {
    const next = reduceAxisRaw(op, current, axes[i]);
    if (current !== x) current.dispose();
    current = next;
  }
  return current === x ? x.viewAs(x.shape, x.strides, x.offset) : current;
}

/** Sum over `axes` with no autograd record; keepdim keeps them as size 1. Used by broadcasting backward passes. */
export function sumAxes(x: Tensor, axes: number[], keepdim: boolean): Tensor {
  const flat = reduceSequential('sum', x, axes);
  const shape = reducedShape(x.shape, axes, keepdim);
  const r = reshape(flat, shape);
  flat.dispose();
  return r;
}

/** Broadcasts a reduced gradient back over the reduced axes. */
function expandBack(g: Tensor, shape: readonly number[], axes: number[]): Tensor {
  const kept = reshape(g, reducedShape(shape, axes, true));
  const e = expand(kept, shape);
  kept.dispose();
  return e;
}

export function sum(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  x.assertDType('sum', 'f32');
  const axes = resolveAxes('sum', axis, x.rank);
  const out = sumAxes(x, axes, keepdim);
  return record('sum', [x], out, (g) => [expandBack(g, x.shape, axes)]);
}

export function mean(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  x.assertDType('mean', 'f32');
  const axes = resolveAxes('mean', axis, x.rank);
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  if (count === 0) throw new HieroError('mean: cannot average over zero elements');
  const summed = sumAxes(x, axes, keepdim);
  const out = mul(summed, 1 / count);
  summed.dispose();
  return record('mean', [x], out, (g) => {
    const scaled = mul(g, 1 / count);
    const r = expandBack(scaled, x.shape, axes);
    scaled.dispose();
    return [r];
  });
}

/** Max or min: gradient flows to the first extremal element of each reduced slice (as torch.max(dim) does). */
function extremum(op: 'max' | 'min', x: Tensor, axis: Axes, keepdim: boolean): Tensor {
  x.assertDType(op, 'f32');
  const axes = resolveAxes(op, axis, x.rank);
  // Several axes reduce as one: move them last, flatten them, and reduce that single axis.
  const { folded, axis: single, restore } = foldAxes(x, axes);
  const value = reduceAxisRaw(op, folded, single);
  const outShape = reducedShape(x.shape, axes, keepdim);
  const out = reshape(value, outShape);
  value.dispose();
  if (!x.requiresGrad) {
    if (folded !== x) folded.dispose();
    return out;
  }
  const index = reduceAxisRaw(op === 'max' ? 'argmax' : 'argmin', folded, single);
  const foldedShape = [...folded.shape];
  if (folded !== x) folded.dispose();
  const result = record(op, [x], out, (g, [idx]) => {
    const rt = runtime();
    const outer = numel(foldedShape.slice(0, single));
    const n = foldedShape[single];
    const inner = numel(foldedShape.slice(single + 1));
    const dense = g.isContiguous && g.offset === 0 ? g : copyStrided(g);
    const grad = empty(foldedShape, 'f32', `${op} backward`);
    rt.dispatch({
      family: 'reduce',
      entry: 'scatter_selected',
      overrides: { WG: COLUMNS_WG },
      uniforms: new Uniforms().u32(outer).u32(n).u32(inner).u32(0).f32(1).build(),
      outputs: [grad.buffer(op)],
      inputs: [dense.buffer(op), idx.buffer(op)],
      workgroups: rt.grid(outer * n * inner, COLUMNS_WG, `${op} backward`),
      label: `${op} backward`,
    });
    if (dense !== g) dense.dispose();
    const r = restore(grad);
    grad.dispose();
    return [r];
  }, [index]);
  index.dispose();
  return result;
}

interface Folded {
  folded: Tensor;
  axis: number;
  /** Maps a tensor of the folded shape back to x's shape and axis order. */
  restore(t: Tensor): Tensor;
}

function foldAxes(x: Tensor, axes: number[]): Folded {
  if (axes.length === 1) {
    return { folded: x, axis: axes[0], restore: (t) => t.viewAs(t.shape, t.strides, t.offset) };
  }
  const keepAxes = [...Array(x.rank).keys()].filter((i) => !axes.includes(i));
  const order = [...keepAxes, ...axes];
  const permuted = permuteRaw(x, order);
  const moved = contiguousRaw(permuted);
  permuted.dispose();
  const keptShape = keepAxes.map((i) => x.shape[i]);
  const foldedShape = [...keptShape, numel(axes.map((i) => x.shape[i]))];
  const folded = reshape(moved, foldedShape);
  moved.dispose();
  return {
    folded,
    axis: keptShape.length,
    restore(t) {
      const unfolded = reshape(t, order.map((i) => x.shape[i]));
      const inverse = order.map((_, i) => order.indexOf(i));
      const back = permuteRaw(unfolded, inverse);
      unfolded.dispose();
      const dense = contiguousRaw(back);
      back.dispose();
      return dense;
    },
  };
}

function permuteRaw(x: Tensor, order: number[]): Tensor {
  return x.viewAs(order.map((i) => x.shape[i]), order.map((i) => x.strides[i]), x.offset);
}

function contiguousRaw(x: Tensor): Tensor {
  return x.isContiguous ? x.viewAs(x.shape, x.strides, x.offset) : copyStrided(x);
}

export function max(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  return extremum('max', x, axis, keepdim);
}

export function min(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  return extremum('min', x, axis, keepdim);
}

function argExtremum(op: 'argmax' | 'argmin', x: Tensor, axis: number | undefined, keepdim: boolean): Tensor {
  x.assertDType(op, 'f32');
  if (axis === undefined) {
    const flat = reshape(contiguousRaw(x), [x.size]);
    const r = reduceAxisRaw(op, flat, 0);
    flat.dispose();
    if (!keepdim) return r;
    const kept = reshape(r, x.shape.map(() => 1));
    r.dispose();
    return kept;
  }
  const a = normaliseAxis(op, axis, x.rank);
  const r = reduceAxisRaw(op, x, a);
  if (!keepdim) return r;
  const kept = reshape(r, reducedShape(x.shape, [a], true));
  r.dispose();
  return kept;
}

/** Index (i32) of the first maximum along `axis`, or into the flattened tensor when axis is omitted. */
export function argmax(x: Tensor, axis?: number, keepdim = false): Tensor {
  return argExtremum('argmax', x, axis, keepdim);
}

export function argmin(x: Tensor, axis?: number, keepdim = false): Tensor {
  return argExtremum('argmin', x, axis, keepdim);
}

/** log(sum(exp(x))) along axes, computed stably (shifted by the maximum inside the kernel). */
export function logsumexp(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  x.assertDType('logsumexp', 'f32');
  const axes = resolveAxes('logsumexp', axis, x.rank);
  const { folded, axis: single } = foldAxes(x, axes);
  const value = reduceAxisRaw('logsumexp', folded, single);
  if (folded !== x) folded.dispose();
  const out = reshape(value, reducedShape(x.shape, axes, keepdim));
  value.dispose();
  // d lse / dx = softmax(x) = exp(x - lse)
  return record('logsumexp', [x], out, (g, [xs, lse]) => {
    const lseKept = expandBack(lse, x.shape, axes);
    const shifted = sub(xs, lseKept);
    const soft = exp(shifted);
    const gKept = expandBack(g, x.shape, axes);
    const r = mul(soft, gKept);
    for (const t of [lseKept, shifted, soft, gKept]) t.dispose();
    return [r];
  }, [x, out]);
}
