import { seededUniform } from '../engine/nn/init.ts';

// float64 CPU reference implementations: the oracle every GPU op is checked against, and the function whose
// finite differences check every GPU gradient.

export class Ref {
  constructor(
    readonly data: Float64Array,
    readonly shape: number[],
  ) {
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`Ref: ${data.length} values for ${shape}`);
  }

  static of(values: ArrayLike<number>, shape: number[]): Ref {
    return new Ref(Float64Array.from(values), shape);
  }

  get size(): number {
    return this.data.length;
  }

  clone(): Ref {
    return new Ref(Float64Array.from(this.data), [...this.shape]);
  }
}

/** Deterministic pseudo-random numbers for test inputs. */
export const rng = seededUniform;

export function randomRef(shape: number[], seed: number, low = -1, high = 1): Ref {
  const next = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  // Values are rounded to f32 so the GPU and the reference start from identical inputs.
  return new Ref(Float64Array.from({ length: n }, () => Math.fround(low + (high - low) * next())), shape);
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`broadcast ${a} ${b}`);
    return Math.max(x, y);
  });
}

/** Index into `shape` (right-aligned, broadcasting) of flat index i of `out`. */
function broadcastIndex(i: number, out: readonly number[], shape: readonly number[]): number {
  const strides = stridesOf(shape);
  let rem = i;
  let idx = 0;
  for (let d = out.length - 1; d >= 0; d--) {
    const coord = rem % out[d];
    rem = Math.floor(rem / out[d]);
    const sd = d - (out.length - shape.length);
    if (sd >= 0 && shape[sd] !== 1) idx += coord * strides[sd];
  }
  return idx;
}

export function map(x: Ref, f: (v: number) => number): Ref {
  return new Ref(x.data.map(f), [...x.shape]);
}

export function zip(a: Ref, b: Ref, f: (x: number, y: number) => number): Ref {
  const shape = broadcastShape(a.shape, b.shape);
  const n = shape.reduce((p, q) => p * q, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(a.data[broadcastIndex(i, shape, a.shape)], b.data[broadcastIndex(i, shape, b.shape)]);
  return new Ref(out, shape);
}

export function where(c: Ref, a: Ref, b: Ref): Ref {
  const shape = broadcastShape(broadcastShape(c.shape, a.shape), b.shape);
  const n = shape.reduce((p, q) => p * q, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = c.data[broadcastIndex(i, shape, c.shape)] !== 0 ? a.data[broadcastIndex(i, shape, a.shape)] : b.data[broadcastIndex(i, shape, b.shape)];
  }
  return new Ref(out, shape);
}

/** Reduces one axis with f over the values of each slice. */
export function reduceAxis(x: Ref, axis: number, f: (values: number[]) => number, keepdim = false): Ref {
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const values: number[] = [];
      for (let k = 0; k < n; k++) values.push(x.data[(o * n + k) * inner + i]);
      out[o * inner + i] = f(values);
    }
  }
  const shape = x.shape.flatMap((d, i) => (i === axis ? (keepdim ? [1] : []) : [d]));
  return new Ref(out, shape);
}

export function reduceAxes(x: Ref, axes: number[], f: (values: number[]) => number, keepdim = false): Ref {
  // f over the union of the axes: move them last, flatten, reduce once.
  const keep = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const moved = permute(x, [...keep, ...axes]);
  const keptShape = keep.map((i) => x.shape[i]);
  const flat = new Ref(moved.data, [...keptShape, axes.reduce((n, a) => n * x.shape[a], 1)]);
  const r = reduceAxis(flat, keptShape.length, f);
  if (!keepdim) return r;
  return new Ref(r.data, x.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

export const sumOf = (v: number[]) => v.reduce((a, b) => a + b, 0);
export const maxOf = (v: number[]) => (v.some(Number.isNaN) ? NaN : Math.max(...v));
export const minOf = (v: number[]) => (v.some(Number.isNaN) ? NaN : Math.min(...v));
export const argmaxOf = (v: number[]) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
export const argminOf = (v: number[]) => v.reduce((best, x, i) => (x < v[best] ? i : best), 0);
export const logsumexpOf = (v: number[]) => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
};

/** A new Ref of `shape` whose element at each coordinate is x.data[sourceIndex(axis, coordinate)] summed over axes. */
function gather(x: Ref, shape: number[], sourceIndex: (axis: number, coord: number) => number): Ref {
  const n = shape.reduce((p, q) => p * q, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let idx = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      const c = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      idx += sourceIndex(d, c);
    }
    out[i] = x.data[idx];
  }
  return new Ref(out, shape);
}

export function permute(x: Ref, order: number[]): Ref {
  const strides = stridesOf(x.shape);
  return gather(x, order.map((a) => x.shape[a]), (d, c) => c * strides[order[d]]);
}

export function matmul(a: Ref, b: Ref): Ref {
  const m = a.shape[a.shape.length - 2];
  const k = a.shape[a.shape.length - 1];
  const n = b.shape[b.shape.length - 1];
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batches = batch.reduce((p, q) => p * q, 1);
  const out = new Float64Array(batches * m * n);
  for (let z = 0; z < batches; z++) {
    const za = broadcastIndex(z, batch, a.shape.slice(0, -2));
    const zb = broadcastIndex(z, batch, b.shape.slice(0, -2));
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a.data[za * m * k + i * k + q] * b.data[zb * k * n + q * n + j];
        out[z * m * n + i * n + j] = s;
      }
    }
  }
  return new Ref(out, [...batch, m, n]);
}

export function transpose(x: Ref): Ref {
  const order = x.shape.map((_, i) => i);
  [order[order.length - 2], order[order.length - 1]] = [order[order.length - 1], order[order.length - 2]];
  return permute(x, order);
}

export function slice(x: Ref, ranges: ([number, number, number] | null)[]): Ref {
  const specs = x.shape.map((d, i) => ranges[i] ?? [0, d, 1]);
  const shape = specs.map(([s, e, st]) => Math.max(0, Math.ceil((e - s) / st)));
  const strides = stridesOf(x.shape);
  return gather(x, shape, (d, c) => (specs[d][0] + c * specs[d][2]) * strides[d]);
}

export function concat(xs: Ref[], axis: number): Ref {
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((n, x) => n + x.shape[axis], 0);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const x of xs) {
      const block = x.shape[axis] * inner;
      for (let j = 0; j < block; j++) out.push(x.data[o * block + j]);
    }
  }
  return Ref.of(out, shape);
}

export function expandTo(x: Ref, shape: number[]): Ref {
  return zip(x, new Ref(new Float64Array(shape.reduce((a, b) => a * b, 1)), shape), (v) => v);
}

/** sum(f(inputs) * weights): the scalar whose gradient the tests compare. */
export function weightedSum(out: Ref, weights: Ref): number {
  let s = 0;
  for (let i = 0; i < out.size; i++) s += out.data[i] * weights.data[i];
  return s;
}

/** Central finite differences of sum(f(inputs) * weights) in float64, for every input element. */
export function numericalGradients(f: (...inputs: Ref[]) => Ref, inputs: Ref[], weights: Ref, h = 1e-6): Float64Array[] {
  return inputs.map((input, which) => {
    const grad = new Float64Array(input.size);
    for (let i = 0; i < input.size; i++) {
      const plus = inputs.map((x, j) => (j === which ? x.clone() : x));
      const minus = inputs.map((x, j) => (j === which ? x.clone() : x));
      plus[which].data[i] += h;
      minus[which].data[i] -= h;
      grad[i] = (weightedSum(f(...plus), weights) - weightedSum(f(...minus), weights)) / (2 * h);
    }
    return grad;
  });
}

/** Rotary embedding of x [B, T, H, D], rotate-half pairing (d, d + rotary/2), positions from `offset`. */
export function ropeRef(x: Ref, base: number, fraction: number, offset: number, inverse = false): Ref {
  const [b, t, h, d] = x.shape;
  const rotary = 2 * Math.floor((d * fraction) / 2);
  const half = rotary / 2;
  const out = Float64Array.from(x.data);
  for (let bi = 0; bi < b; bi++) for (let ti = 0; ti < t; ti++) for (let hi = 0; hi < h; hi++) {
    const row = ((bi * t + ti) * h + hi) * d;
    for (let i = 0; i < half; i++) {
      const angle = (ti + offset) * Math.pow(base, (-2 * i) / rotary) * (inverse ? -1 : 1);
      const x1 = x.data[row + i];
      const x2 = x.data[row + i + half];
      out[row + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
      out[row + i + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
    }
  }
  return new Ref(out, [...x.shape]);
}
