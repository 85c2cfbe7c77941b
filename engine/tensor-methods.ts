// PyTorch-style methods on Tensor. They live here, not in tensor.ts, so that tensor.ts does not import the ops
// (which import it); the `declare module` block types them on the class.

import { backward, type BackwardOptions } from './autograd.ts';
import { runtime } from './context.ts';
import { HieroError, ShapeError, formatShape } from './errors.ts';
import * as ew from './ops/elementwise.ts';
import { matmul } from './ops/matmul.ts';
import * as red from './ops/reduce.ts';
import * as views from './ops/views.ts';
import { Tensor, typedArrayFor, type AnyTypedArray, type DType } from './tensor.ts';

type Operand = Tensor | number;
type NestedArray = number | NestedArray[];

declare module './tensor.ts' {
  interface Tensor {
    /** Reads the values back (row-major). Waits for the GPU; surfaces any GPU error. */
    toArray(): Promise<AnyTypedArray>;
    /** Reads the values back as nested arrays. */
    toNested(): Promise<NestedArray>;
    /** Reads a one-element tensor as a number. */
    item(): Promise<number>;
    backward(grad?: Tensor, options?: BackwardOptions): void;
    detach(): Tensor;
    astype(dtype: DType): Tensor;
    contiguous(): Tensor;
    reshape(shape: readonly number[]): Tensor;
    flatten(): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    permute(order: readonly number[]): Tensor;
    transpose(axis0?: number, axis1?: number): Tensor;
    readonly T: Tensor;
    slice(ranges: readonly views.SliceSpec[]): Tensor;
    expand(shape: readonly number[]): Tensor;
    add(other: Operand): Tensor;
    sub(other: Operand): Tensor;
    mul(other: Operand): Tensor;
    div(other: Operand): Tensor;
    pow(other: Operand): Tensor;
    maximum(other: Operand): Tensor;
    minimum(other: Operand): Tensor;
    clamp(low: number, high: number): Tensor;
    eq(other: Operand): Tensor;
    ne(other: Operand): Tensor;
    lt(other: Operand): Tensor;
    le(other: Operand): Tensor;
    gt(other: Operand): Tensor;
    ge(other: Operand): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    silu(): Tensor;
    gelu(): Tensor;
    softplus(): Tensor;
    square(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    reciprocal(): Tensor;
    matmul(other: Tensor): Tensor;
    sum(axis?: red.Axes, keepdim?: boolean): Tensor;
    mean(axis?: red.Axes, keepdim?: boolean): Tensor;
    max(axis?: red.Axes, keepdim?: boolean): Tensor;
    min(axis?: red.Axes, keepdim?: boolean): Tensor;
    argmax(axis?: number, keepdim?: boolean): Tensor;
    argmin(axis?: number, keepdim?: boolean): Tensor;
    logsumexp(axis?: red.Axes, keepdim?: boolean): Tensor;
  }
}

function nest(values: AnyTypedArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return values[0];
  const build = (axis: number, offset: number): NestedArray[] => {
    const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: shape[axis] }, (_, i) =>
      axis === shape.length - 1 ? values[offset + i] : build(axis + 1, offset + i * stride),
    );
  };
  return build(0, 0);
}

const methods: Partial<Record<keyof Tensor, unknown>> & ThisType<Tensor> = {
  async toArray(this: Tensor) {
    this.storage('toArray');
    if (this.size === 0) return typedArrayFor(this.dtype, new ArrayBuffer(0));
    const dense = this.isContiguous ? this : ew.copyStrided(this);
    try {
      const bytes = await runtime().read(dense.buffer('toArray'), dense.offset * 4, this.size * 4);
      return typedArrayFor(this.dtype, bytes);
    } finally {
      if (dense !== this) dense.dispose();
    }
  },
  async toNested(this: Tensor) {
    return nest(await this.toArray(), this.shape);
  },
  async item(this: Tensor) {
    if (this.size !== 1) throw new ShapeError(`item(): the tensor has shape ${formatShape(this.shape)}, not one element`);
    return (await this.toArray())[0];
  },
  backward(this: Tensor, grad?: Tensor, options?: BackwardOptions) {
    backward(this, grad, options);
  },
  detach(this: Tensor) {
    return views.detach(this);
  },
  astype(this: Tensor, dtype: DType) {
    return ew.astype(this, dtype);
  },
  contiguous(this: Tensor) {
    return ew.contiguous(this);
  },
  reshape(this: Tensor, shape: readonly number[]) {
    return views.reshape(this, shape);
  },
  flatten(this: Tensor) {
    return views.flatten(this);
  },
  squeeze(this: Tensor, axis?: number) {
    return views.squeeze(this, axis);
  },
  unsqueeze(this: Tensor, axis: number) {
    return views.unsqueeze(this, axis);
  },
  permute(this: Tensor, order: readonly number[]) {
    return views.permute(this, order);
  },
  transpose(this: Tensor, a?: number, b?: number) {
    return views.transpose(this, a, b);
  },
  slice(this: Tensor, ranges: readonly views.SliceSpec[]) {
    return views.slice(this, ranges);
  },
  expand(this: Tensor, shape: readonly number[]) {
    return views.expand(this, shape);
  },
  matmul(this: Tensor, other: Tensor) {
    return matmul(this, other);
  },
  argmax(this: Tensor, axis?: number, keepdim?: boolean) {
    return red.argmax(this, axis, keepdim);
  },
  argmin(this: Tensor, axis?: number, keepdim?: boolean) {
    return red.argmin(this, axis, keepdim);
  },
  clamp(this: Tensor, low: number, high: number) {
    return ew.clamp(this, low, high);
  },
};

for (const op of Object.keys(ew.BINARY_OPS) as ew.BinaryOpName[]) {
  (methods as Record<string, unknown>)[op] = function (this: Tensor, other: Operand) {
    return ew.binary(op, this, other);
  };
}
for (const op of Object.keys(ew.UNARY_OPS) as ew.UnaryOpName[]) {
  (methods as Record<string, unknown>)[op] = function (this: Tensor) {
    return ew.unary(op, this);
  };
}
for (const op of ['sum', 'mean', 'max', 'min', 'logsumexp'] as const) {
  (methods as Record<string, unknown>)[op] = function (this: Tensor, axis?: red.Axes, keepdim?: boolean) {
    return red[op](this, axis, keepdim);
  };
}

Object.assign(Tensor.prototype, methods);
Object.defineProperty(Tensor.prototype, 'T', {
  get(this: Tensor) {
    if (this.rank < 2) throw new HieroError(`.T needs at least 2 dimensions, got ${formatShape(this.shape)}`);
    return views.transpose(this);
  },
});
