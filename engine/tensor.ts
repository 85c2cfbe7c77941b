// Tensors: a shape, strides and offset (in elements) over a reference-counted GPU buffer. Views (reshape of a
// contiguous tensor, transpose, permute, slice, expand) share the buffer; kernels read views through strides.
//
// Lifetime: `dispose()` drops this handle's reference (idempotent); the buffer goes back to the pool when the last
// handle and the last saved-for-backward reference are gone. `scope(fn)` disposes every tensor created inside fn
// that fn does not return. Using a disposed tensor throws DisposedTensorError.

import { runtime } from './context.ts';
import { DisposedTensorError, DTypeError, formatShape, ShapeError } from './errors.ts';
import type { GraphNode } from './autograd.ts';

export type DType = 'f32' | 'i32' | 'u32';
export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;
export type AnyTypedArray = Float32Array | Int32Array | Uint32Array;

export const DTYPE_CODE: Record<DType, number> = { f32: 0, i32: 1, u32: 2 };
export const DTYPES: readonly DType[] = ['f32', 'i32', 'u32'];
export const MAX_RANK = 8;

export function typedArrayFor(dtype: DType, buffer: ArrayBuffer): AnyTypedArray {
  if (dtype === 'f32') return new Float32Array(buffer);
  if (dtype === 'i32') return new Int32Array(buffer);
  return new Uint32Array(buffer);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function checkShape(shape: readonly number[], what: string): number[] {
  if (!Array.isArray(shape)) throw new ShapeError(`${what}: shape must be an array of sizes, got ${String(shape)}`);
  shape.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${what}: shape ${formatShape(shape)} has an invalid size ${d} at axis ${i}`);
    }
  });
  if (shape.length > MAX_RANK) {
    throw new ShapeError(`${what}: shape ${formatShape(shape)} has rank ${shape.length}; Hiero supports up to ${MAX_RANK}`);
  }
  return [...shape];
}

/** A GPU buffer shared by a tensor and its views; freed to the pool when the last reference goes. */
export class Storage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) runtime().release(this.buffer);
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Scopes: a stack of sets of tensors created while each scope was innermost.

const scopes: Set<Tensor>[] = [];

function track(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top) {
    top.add(t);
    t._scope = top;
  }
}

/** Removes a tensor from scope tracking, so no enclosing scope disposes it. Returns the tensor. */
export function keep<T extends Tensor | null | undefined>(t: T): T {
  if (t) {
    t._scope?.delete(t);
    t._scope = null;
  }
  return t;
}

function collectTensors(value: unknown, into: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value instanceof Tensor) {
    into.add(value);
    return;
  }
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, into, seen);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, into, seen);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into, seen);
  }
}

/**
 * Runs fn and disposes every tensor created inside it except those it returns (directly, or inside arrays, Maps
 * and plain objects) and those passed to keep(). Returned tensors belong to the enclosing scope. fn must be
 * synchronous: tensors created after an await could not be attributed to the scope.
 */
export function scope<T>(fn: () => T): T {
  const tracked = new Set<Tensor>();
  scopes.push(tracked);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of tracked) t.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of tracked) t.dispose();
    throw new TypeError('scope(fn): fn returned a Promise; scopes are synchronous (await outside, compute inside)');
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of tracked) {
    if (!survivors.has(t)) t.dispose();
  }
  for (const t of survivors) {
    if (t._scope === tracked) {
      t._scope = null;
      track(t);
    }
  }
  return result;
}

/**
 * scope() for work with awaits in it (a model whose forward reads a count back, as H-Net's chunking does): every
 * tensor created until fn settles, and not returned, is disposed. Tensors made by other code while fn is suspended
 * would be attributed to it too, so nothing else may create tensors concurrently (Hiero's loops and its worker run
 * one request at a time).
 */
export async function asyncScope<T>(fn: () => Promise<T>): Promise<T> {
  const tracked = new Set<Tensor>();
  scopes.push(tracked);
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    removeScope(tracked);
    for (const t of tracked) t.dispose();
    throw error;
  }
  removeScope(tracked);
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of tracked) if (!survivors.has(t)) t.dispose();
  for (const t of survivors) {
    if (t._scope === tracked) {
      t._scope = null;
      track(t);
    }
  }
  return result;
}

function removeScope(set: Set<Tensor>): void {
  const at = scopes.lastIndexOf(set);
  if (at >= 0) scopes.splice(at, 1);
}

// ----------------------------------------------------------------------------------------------------------------

let nextId = 1;
const disposeSymbol: symbol = (Symbol as unknown as { dispose?: symbol }).dispose ?? Symbol.for('Symbol.dispose');

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  /** Offset of element [0, …, 0] in the buffer, in elements. */
  readonly offset: number;
  readonly dtype: DType;
  readonly size: number;
  requiresGrad = false;
  /** Accumulated gradient of a leaf after backward(); owned by the tensor (disposed with it). */
  grad: Tensor | null = null;
  /** The graph node that produced this tensor, when it was computed from tensors that require grad. */
  gradFn: GraphNode | null = null;
  /** Optional name, used in error messages and checkpoints. */
  name: string | undefined;
  /** @internal the scope set this tensor is tracked by */
  _scope: Set<Tensor> | null = null;
  private storageRef: Storage | null;

  /** @internal use the creation functions (tensor, zeros, …) or ops instead. */
  constructor(
    storage: Storage,
    shape: readonly number[],
    dtype: DType,
    strides?: readonly number[],
    offset = 0,
    tracked = true,
  ) {
    this.storageRef = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = dtype;
    this.size = numel(shape);
    if (tracked) track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.storageRef === null;
  }

  /** @internal the storage, after checking the tensor is alive. */
  storage(op: string): Storage {
    if (!this.storageRef) {
      throw new DisposedTensorError(
        `${op}: tensor #${this.id}${this.name ? ` '${this.name}'` : ''} ${formatShape(this.shape)} was disposed`,
      );
    }
    return this.storageRef;
  }

  /** @internal */
  buffer(op: string): GPUBuffer {
    return this.storage(op).buffer;
  }

  get isContiguous(): boolean {
    const expected = contiguousStrides(this.shape);
    for (let i = 0; i < this.shape.length; i++) {
      if (this.shape[i] !== 1 && this.strides[i] !== expected[i]) return false;
    }
    return true;
  }

  /** @internal a new handle on the same storage with another layout. */
  viewAs(shape: readonly number[], strides: readonly number[], offset: number, tracked = true): Tensor {
    return new Tensor(this.storage('view').retain(), shape, this.dtype, strides, offset, tracked);
  }

  /** @internal an untracked handle that keeps the storage alive for backward. */
  saveForBackward(): Tensor {
    return this.viewAs(this.shape, this.strides, this.offset, false);
  }

  assertDType(op: string, ...allowed: DType[]): this {
    this.storage(op);
    if (!allowed.includes(this.dtype)) {
      throw new DTypeError(`${op}: expected a tensor of dtype ${allowed.join(' or ')}, got ${this.dtype}`);
    }
    return this;
  }

  /**
   * Drops the accumulated gradient (backward adds to it: a hand-written loop clears it after each update, as an
   * optimizer's zeroGrad() does for its parameters).
   */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /** Frees this handle. The gradient (if any) goes with it; views and saved copies keep the buffer alive. */
  dispose(): void {
    if (!this.storageRef) return;
    const storage = this.storageRef;
    this.storageRef = null;
    storage.release();
    this._scope?.delete(this);
    this._scope = null;
    if (this.gradFn) {
      const node = this.gradFn;
      this.gradFn = null;
      node.unref();
    }
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''}${this.disposed ? ', disposed' : ''})`;
  }
}

(Tensor.prototype as unknown as Record<symbol, unknown>)[disposeSymbol] = function (this: Tensor) {
  this.dispose();
};
