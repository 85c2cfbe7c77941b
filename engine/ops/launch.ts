// Helpers shared by the op modules: output allocation, broadcasting, and the uniform layout of the elementwise
// family (shaders/elementwise.wgsl, struct MapParams).

import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms, type Overrides } from '../runtime.ts';
import type { ShaderFamily } from '../../shaders/index.ts';
import { DTYPE_CODE, MAX_RANK, numel, Storage, Tensor, type DType } from '../tensor.ts';

export const ELEMENTWISE_WG = 256;

/** A new contiguous tensor with uninitialised contents. */
export function empty(shape: readonly number[], dtype: DType, label: string): Tensor {
  const bytes = Math.max(numel(shape), 1) * 4;
  return new Tensor(new Storage(runtime().alloc(bytes, label, shape), bytes), shape, dtype);
}

export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (let i = 0; i < rank; i++) {
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (out[i] !== 1 && out[i] !== d) {
        throw new ShapeError(
          `${op}: shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast together ` +
            `(axis ${i - rank}: ${out[i]} vs ${d})`,
        );
      }
      out[i] = d;
    }
  }
  return out;
}

/** Strides that read `t` as if it had `shape` (right-aligned), with 0 along broadcast axes. */
export function broadcastStrides(t: Tensor, shape: readonly number[]): number[] {
  const lead = shape.length - t.rank;
  return shape.map((d, i) => {
    if (i < lead) return 0;
    const own = t.shape[i - lead];
    return own === 1 && d !== 1 ? 0 : t.strides[i - lead];
  });
}

export interface MapOperand {
  strides: readonly number[];
  offset: number;
}

export function operand(t: Tensor, shape: readonly number[]): MapOperand {
  return { strides: broadcastStrides(t, shape), offset: t.offset };
}

const NONE: MapOperand = { strides: [], offset: 0 };

/**
 * The same row-major walk over fewer axes: size-1 axes are dropped and neighbours that every operand steps through
 * as one run are merged. Each axis the kernel visits costs integer divisions, which CPU drivers run lane by lane.
 * Operands without strides (unused bindings) count as zero strides.
 */
export function mergeAxes(shape: readonly number[], operands: (readonly number[])[]): { shape: number[]; strides: number[][] } {
  // Plain loops: this runs for every elementwise launch, and closures here cost more than the arithmetic.
  const outShape: number[] = [];
  const count = operands.length;
  const outStrides: number[][] = [];
  for (let k = 0; k < count; k++) outStrides.push([]);
  for (let axis = 0; axis < shape.length; axis++) {
    const extent = shape[axis];
    if (extent === 1) continue;
    const last = outShape.length - 1;
    let mergeable = last >= 0;
    for (let k = 0; k < count && mergeable; k++) mergeable = outStrides[k][last] === (operands[k][axis] ?? 0) * extent;
    if (mergeable) {
      outShape[last] *= extent;
      for (let k = 0; k < count; k++) outStrides[k][last] = operands[k][axis] ?? 0;
      continue;
    }
    outShape.push(extent);
    for (let k = 0; k < count; k++) outStrides[k].push(operands[k][axis] ?? 0);
  }
  return { shape: outShape, strides: outStrides };
}

/** The uniforms of an elementwise kernel and the number of axes its index walk visits (a pipeline constant). */
export interface MapParams {
  bytes: ArrayBuffer;
  rank: number;
}

export function mapParams(
  shape: readonly number[],
  a: MapOperand = NONE,
  b: MapOperand = NONE,
  c: MapOperand = NONE,
  scalar = 0,
  scalar2 = 0,
): MapParams {
  if (shape.length > MAX_RANK) throw new ShapeError(`rank ${shape.length} exceeds ${MAX_RANK}`);
  const axes = mergeAxes(shape, [a.strides, b.strides, c.strides]);
  const u = new Uniforms();
  u.vec(axes.shape, 8).vec(axes.strides[0], 8).vec(axes.strides[1], 8).vec(axes.strides[2], 8);
  u.u32(numel(shape)).u32(axes.shape.length).u32(a.offset).u32(b.offset).u32(c.offset).f32(scalar).f32(scalar2).u32(0);
  return { bytes: u.build(), rank: axes.shape.length };
}


/** True when every operand is contiguous with exactly `shape`: the kernel can skip index arithmetic. */
export function allDense(shape: readonly number[], ...tensors: Tensor[]): boolean {
  return tensors.every(
    (t) => t.isContiguous && t.rank === shape.length && t.shape.every((d, i) => d === shape[i]),
  );
}

export interface ElementwiseLaunch {
  entry: string;
  label: string;
  shape: readonly number[];
  dtype: DType;
  /** Bound in order as a, b, c; missing ones are bound to a placeholder. */
  inputs: Tensor[];
  uniforms: MapParams;
  overrides?: Overrides;
  /** Write into this tensor instead of allocating (strided copies into a region). */
  into?: Tensor;
}

/**
 * Elements per invocation of an elementwise map: on CPU drivers 4 once there are enough elements to keep 16
 * workgroups (SwiftShader: a fill or add of 98k elements takes about half the time), 1 on GPUs.
 */
function elementsPerInvocation(count: number): number {
  return runtime().report.software && count >= 4 * 16 * ELEMENTWISE_WG ? 4 : 1;
}

export function launchElementwise(spec: ElementwiseLaunch): Tensor {
  const rt = runtime();
  const out = spec.into ?? empty(spec.shape, spec.dtype, spec.label);
  const buffers = spec.inputs.map((t) => t.buffer(spec.label));
  const placeholder = buffers[0] ?? rt.unusedBinding;
  while (buffers.length < 3) buffers.push(placeholder);
  const count = numel(spec.shape);
  const per = elementsPerInvocation(count);
  rt.dispatch({
    family: 'elementwise',
    entry: spec.entry,
    overrides: { WG: ELEMENTWISE_WG, RANK: spec.uniforms.rank, PER: per, ...spec.overrides },
    uniforms: spec.uniforms.bytes,
    outputs: [out.buffer(spec.label)],
    inputs: buffers,
    workgroups: rt.grid(Math.ceil(count / per), ELEMENTWISE_WG, spec.label),
    label: spec.label,
  });
  return out;
}

export function dtypeCode(dtype: DType): number {
  return DTYPE_CODE[dtype];
}

export function normaliseAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

export interface KernelLaunch {
  family: ShaderFamily;
  entry: string;
  label: string;
  overrides?: Overrides;
  uniforms: ArrayBuffer;
  /** Written tensors (or raw buffers such as assertion flags), bound from binding 1; null binds a scratch buffer. */
  outputs: (Tensor | GPUBuffer | null)[];
  /** Read tensors, bound after the outputs; null binds a placeholder. */
  inputs: (Tensor | null)[];
  workgroups: [number, number?, number?];
  /** Uniforms recomputed when a recorded step is replayed (see DispatchSpec.refresh). */
  refresh?: () => ArrayBuffer;
}

/** Dispatches a kernel whose bindings are uniforms, then outputs, then inputs (the convention of every WGSL file). */
export function launch(spec: KernelLaunch): void {
  const rt = runtime();
  rt.dispatch({
    family: spec.family,
    entry: spec.entry,
    overrides: spec.overrides,
    uniforms: spec.uniforms,
    outputs: spec.outputs.map((t, slot) => (t instanceof Tensor ? t.buffer(spec.label) : (t ?? rt.unusedOutput(slot)))),
    inputs: spec.inputs.map((t) => (t ? t.buffer(spec.label) : rt.unusedBinding)),
    workgroups: spec.workgroups,
    label: spec.label,
    refresh: spec.refresh,
  });
}

/** A contiguous tensor with offset 0 (the layout row kernels index directly): x itself or a copy. */
export function dense(x: Tensor, copy: (t: Tensor) => Tensor): Tensor {
  return x.isContiguous && x.offset === 0 ? x : copy(x);
}
