// Views and layout (tests: test/views.test.ts). reshape of a contiguous tensor, permute/transpose, slice and
// expand share the input's buffer; kernels read them through strides. concat and reshaping a strided view copy.

import { record } from '../autograd.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { checkShape, contiguousStrides, numel, type Tensor } from '../tensor.ts';
import { copyStrided, sumToShape } from './elementwise.ts';
import { zeros } from './creation.ts';
import { empty, launchElementwise, normaliseAxis } from './launch.ts';
import { Uniforms } from '../runtime.ts';

function alias(t: Tensor): Tensor {
  return t.viewAs(t.shape, t.strides, t.offset);
}

function resolveShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  const inferred = shape.indexOf(-1);
  if (inferred !== shape.lastIndexOf(-1)) throw new ShapeError(`${op}: only one axis may be -1, got ${formatShape(shape)}`);
  const resolved = [...shape];
  if (inferred >= 0) {
    const known = numel(shape.filter((_, i) => i !== inferred));
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(`${op}: cannot reshape ${formatShape(x.shape)} (${x.size} elements) into ${formatShape(shape)}`);
    }
    resolved[inferred] = x.size / known;
  }
  checkShape(resolved, op);
  if (numel(resolved) !== x.size) {
    throw new ShapeError(
      `${op}: cannot reshape ${formatShape(x.shape)} (${x.size} elements) into ${formatShape(resolved)} (${numel(resolved)} elements)`,
    );
  }
  return resolved;
}

/**
 * Strides that read x's elements in row-major order under `shape`, when x's layout allows it without a copy:
 * each run of old axes that merges into new axes must itself be laid out as one contiguous run (PyTorch's rule).
 */
function viewStrides(x: Tensor, shape: readonly number[]): number[] | null {
  const oldShape = x.shape.filter((d) => d !== 1);
  const oldStrides = x.strides.filter((_, i) => x.shape[i] !== 1);
  const out = new Array<number>(shape.length);
  let oi = oldShape.length - 1;
  let ni = shape.length - 1;
  while (ni >= 0) {
    if (shape[ni] === 1) {
      out[ni] = 1;
      ni--;
      continue;
    }
    if (oi < 0) return null;
    // Gather old axes (from the back) until their product covers the new axes being formed.
    let oldSize = oldShape[oi];
    const chunkStride = oldStrides[oi];
    let stride = chunkStride;
    oi--;
    let newSize = shape[ni];
    out[ni] = stride;
    stride *= shape[ni];
    ni--;
    while (oldSize !== newSize) {
      if (oldSize < newSize) {
        if (oi < 0 || oldStrides[oi] !== chunkStride * oldSize) return null;
        oldSize *= oldShape[oi];
        oi--;
      } else {
        while (ni >= 0 && shape[ni] === 1) out[ni--] = stride;
        if (ni < 0) return null;
        out[ni] = stride;
        stride *= shape[ni];
        newSize *= shape[ni];
        ni--;
      }
    }
  }
  return oi < 0 ? out : null;
}

/** The same elements in row-major order with another shape (one axis may be -1): a view whenever the layout allows. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x.storage('reshape');
  const resolved = resolveShape('reshape', x, shape);
  let out: Tensor;
  const strides = x.isContiguous ? contiguousStrides(resolved) : viewStrides(x, resolved);
  if (strides) out = x.viewAs(resolved, strides, x.offset);
  else {
    const dense = copyStrided(x);
    out = dense.viewAs(resolved, contiguousStrides(resolved), 0);
    dense.dispose();
  }
  return record('reshape', [x], out, (g) => [reshape(g, x.shape)]);
}

export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.size]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normaliseAxis('unsqueeze', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Removes size-1 axes (all of them, or the one named). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normaliseAxis('squeeze', axis, x.rank);
  if (x.shape[a] !== 1) throw new ShapeError(`squeeze: axis ${axis} of ${formatShape(x.shape)} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

export function permute(x: Tensor, order: readonly number[]): Tensor {
  x.storage('permute');
  const resolved = order.map((a) => normaliseAxis('permute', a, x.rank));
  if (resolved.length !== x.rank || new Set(resolved).size !== x.rank) {
    throw new ShapeError(`permute: ${formatShape(order)} is not a permutation of the ${x.rank} axes of ${formatShape(x.shape)}`);
  }
  const out = x.viewAs(resolved.map((a) => x.shape[a]), resolved.map((a) => x.strides[a]), x.offset);
  const inverse = resolved.map((_, i) => resolved.indexOf(i));
  return record('permute', [x], out, (g) => [permute(g, inverse)]);
}

/** Swaps two axes (the last two by default): a view, no copy. */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  if (x.rank < 2 && axis0 === -2 && axis1 === -1) return permute(x, [...Array(x.rank).keys()]);
  const a = normaliseAxis('transpose', axis0, x.rank);
  const b = normaliseAxis('transpose', axis1, x.rank);
  const order = [...Array(x.rank).keys()];
  [order[a], order[b]] = [order[b], order[a]];
  return permute(x, order);
}

/** One axis's slice: [start, end) with a positive step; negative start/end count from the end; null keeps all. */
export type SliceSpec = null | number | [number | null, number | null] | [number | null, number | null, number];

/**
 * A strided view selecting a range on each axis (a view, no copy). A plain number selects one index and keeps
 * the axis (size 1); use squeeze to drop it.
 */
export function slice(x: Tensor, ranges: readonly SliceSpec[]): Tensor {
  x.storage('slice');
  if (ranges.length > x.rank) throw new ShapeError(`slice: ${ranges.length} ranges for a tensor of rank ${x.rank}`);
  const shape: number[] = [];
  const strides: number[] = [];
  let offset = x.offset;
  x.shape.forEach((size, axis) => {
    const spec = ranges[axis] ?? null;
    let start = 0;
    let end = size;
    let step = 1;
    if (typeof spec === 'number') {
      start = spec < 0 ? spec + size : spec;
      if (start < 0 || start >= size) throw new ShapeError(`slice: index ${spec} is out of range for axis ${axis} of size ${size}`);
      end = start + 1;
    } else if (spec) {
      step = spec[2] ?? 1;
      if (!Number.isInteger(step) || step <= 0) throw new ShapeError(`slice: step must be a positive integer, got ${step} on axis ${axis}`);
      const clampIndex = (v: number | null, fallback: number) => {
        if (v === null) return fallback;
        const r = v < 0 ? v + size : v;
        return Math.min(Math.max(r, 0), size);
      };
      start = clampIndex(spec[0], 0);
      end = clampIndex(spec[1], size);
    }
    const length = Math.max(0, Math.ceil((end - start) / step));
    shape.push(length);
    strides.push(x.strides[axis] * step);
    offset += start * x.strides[axis];
  });
  const out = x.viewAs(shape, strides, offset);
  return record('slice', [x], out, (g) => {
    const starts: number[] = [];
    const steps: number[] = [];
    x.shape.forEach((size, axis) => {
      const spec = ranges[axis] ?? null;
      if (typeof spec === 'number') {
        starts.push(spec < 0 ? spec + size : spec);
        steps.push(1);
      } else if (spec) {
        const s0 = spec[0];
        starts.push(s0 === null ? 0 : Math.min(Math.max(s0 < 0 ? s0 + size : s0, 0), size));
        steps.push(spec[2] ?? 1);
      } else {
        starts.push(0);
        steps.push(1);
      }
    });
    const scattered = sliceScatter(g, x.shape, starts, steps);
    if (scattered) return [scattered];
    // Scatter g into a zero tensor of x's shape through the same slice layout, relative to a dense buffer.
    const grad = zeros(x.shape);
    const dense = contiguousStrides(x.shape);
    let gradOffset = 0;
    const gradStrides: number[] = [];
    x.shape.forEach((size, axis) => {
      const spec = ranges[axis] ?? null;
      let start = 0;
      let step = 1;
      if (typeof spec === 'number') start = spec < 0 ? spec + size : spec;
      else if (spec) {
        step = spec[2] ?? 1;
        const s = spec[0];
        start = s === null ? 0 : Math.min(Math.max(s < 0 ? s + size : s, 0), size);
      }
      gradOffset += start * dense[axis];
      gradStrides.push(dense[axis] * step);
    });
    if (g.size > 0) copyStrided(g, { target: grad, strides: gradStrides, offset: gradOffset });
    return [grad];
  });
}

/**
 * The gradient of a unit-step slice in one dispatch (shaders/elementwise.wgsl, slice_scatter): g inside the region,
 * zero outside, where a zero fill and a scatter took two. Null when a step is not 1 or g is empty (the caller
 * falls back to those two).
 */
function sliceScatter(g: Tensor, shape: readonly number[], starts: number[], steps: number[]): Tensor | null {
  if (g.size === 0 || steps.some((s) => s !== 1) || shape.length === 0) return null;
  const ends = starts.map((start, axis) => start + g.shape[axis]);
  const u = new Uniforms();
  u.vec(shape, 8).vec(g.strides, 8).vec(starts, 8).vec(ends, 8);
  u.u32(numel(shape)).u32(shape.length).u32(g.offset).u32(0).u32(0).f32(0).f32(0).u32(0);
  return launchElementwise({
    entry: 'slice_scatter', label: 'slice backward', shape, dtype: g.dtype, inputs: [g],
    uniforms: { bytes: u.build(), rank: shape.length },
  });
}

/** Joins tensors along an existing axis. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const first = tensors[0];
  for (const t of tensors) t.storage('concat');
  const a = normaliseAxis('concat', axis, first.rank);
  tensors.forEach((t, i) => {
    if (t.dtype !== first.dtype) throw new ShapeError(`concat: tensor ${i} has dtype ${t.dtype}, tensor 0 has ${first.dtype}`);
    if (t.rank !== first.rank || t.shape.some((d, j) => j !== a && d !== first.shape[j])) {
      throw new ShapeError(
        `concat: tensor ${i} has shape ${formatShape(t.shape)}, incompatible with ${formatShape(first.shape)} along axis ${a}`,
      );
    }
  });
  const shape = [...first.shape];
  shape[a] = tensors.reduce((n, t) => n + t.shape[a], 0);
  const out = empty(shape, first.dtype, 'concat');
  const strides = contiguousStrides(shape);
  const starts: number[] = [];
  let start = 0;
  for (const t of tensors) {
    starts.push(start);
    if (t.size > 0) copyStrided(t, { target: out, strides, offset: start * strides[a] });
    start += t.shape[a];
  }
  return record('concat', tensors, out, (g) =>
    tensors.map((t, i) => {
      if (!t.requiresGrad) return null;
      const ranges: SliceSpec[] = shape.map(() => null);
      ranges[a] = [starts[i], starts[i] + t.shape[a]];
      return sliceRaw(g, ranges);
    }),
  );
}

function sliceRaw(x: Tensor, ranges: SliceSpec[]): Tensor {
  // Gradients are computed with recording off, so slice() records nothing here.
  return slice(x, ranges);
}

/** Broadcasts x to `shape` (right-aligned, size-1 axes stretch; -1 keeps an axis): a view with zero strides. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  x.storage('expand');
  if (shape.length < x.rank) throw new ShapeError(`expand: cannot expand ${formatShape(x.shape)} to fewer axes ${formatShape(shape)}`);
  const lead = shape.length - x.rank;
  const resolved = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead] : d));
  checkShape(resolved, 'expand');
  const strides = resolved.map((d, i) => {
    if (i < lead) return 0;
    const own = x.shape[i - lead];
    if (own === d) return x.strides[i - lead];
    if (own === 1) return 0;
    throw new ShapeError(`expand: axis ${i} of ${formatShape(x.shape)} has size ${own}; it cannot expand to ${d}`);
  });
  const out = x.viewAs(resolved, strides, x.offset);
  return record('expand', [x], out, (g) => [sumToShape(g, x.shape)]);
}

/** A new handle on the same data, cut from the autograd graph. */
export function detach(x: Tensor): Tensor {
  x.storage('detach');
  return alias(x);
}
