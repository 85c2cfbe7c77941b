// Parameter initialisers. Sampled on the host in float64 from a seeded generator (they run once, before training)
// and uploaded: truncated normals need rejection sampling, which the host does simply and exactly.

import { DTypeError } from '../errors.ts';
import { full, nextSeed, tensor } from '../ops/creation.ts';
import { numel, type Tensor } from '../tensor.ts';

export interface InitOptions {
  seed?: number;
  requiresGrad?: boolean;
}

/** A small seeded uniform generator on (0, 1) (mulberry32), for host-side sampling that must be reproducible. */
export function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

function gaussians(n: number, seed: number): () => number {
  const uniform = seededUniform(seed);
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

function fromHost(shape: readonly number[], values: Float32Array, options: InitOptions): Tensor {
  return tensor(values, shape, { requiresGrad: options.requiresGrad });
}

/** Normal(0, std). */
export function normal(shape: readonly number[], std: number, options: InitOptions = {}): Tensor {
  const n = numel(shape);
  const draw = gaussians(n, options.seed ?? nextSeed());
  return fromHost(shape, Float32Array.from({ length: n }, () => std * draw()), options);
}

/**
 * Normal(0, std) truncated to [lower, upper] standard deviations by rejection, then rescaled so the result has
 * standard deviation `std` exactly (as the HRM reference code's trunc_normal_init_ does; PyTorch's trunc_normal_
 * does not rescale).
 */
export function truncatedNormal(shape: readonly number[], std: number, options: InitOptions & { lower?: number; upper?: number } = {}): Tensor {
  const lower = options.lower ?? -2;
  const upper = options.upper ?? 2;
  if (!(lower < upper)) throw new DTypeError(`truncatedNormal: lower ${lower} must be below upper ${upper}`);
  const n = numel(shape);
  const draw = gaussians(n, options.seed ?? nextSeed());
  const raw = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = draw();
    while (z < lower || z > upper) z = draw();
    raw[i] = z;
  }
  // Variance of a standard normal truncated to [a, b], to undo the shrinkage truncation causes.
  const pdf = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  const cdf = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
  const mass = cdf(upper) - cdf(lower);
  const variance = 1 + (lower * pdf(lower) - upper * pdf(upper)) / mass - ((pdf(lower) - pdf(upper)) / mass) ** 2;
  const factor = std / Math.sqrt(variance);
  return fromHost(shape, Float32Array.from(raw, (z) => z * factor), options);
}

/** LeCun normal: truncated normal with std = 1/sqrt(fanIn) (fanIn = the last axis of a [out, in] weight). */
export function lecunNormal(shape: readonly number[], options: InitOptions & { fanIn?: number } = {}): Tensor {
  const fanIn = options.fanIn ?? shape[shape.length - 1];
  return truncatedNormal(shape, 1 / Math.sqrt(fanIn), options);
}

export function zerosInit(shape: readonly number[], options: InitOptions = {}): Tensor {
  return full(shape, 0, { requiresGrad: options.requiresGrad });
}

/** Identity for a square [n, n] (or the leading diagonal of a rectangular) matrix. */
export function identity(shape: readonly number[], options: InitOptions = {}): Tensor {
  if (shape.length !== 2) throw new DTypeError(`identity: needs a 2-D shape, got [${shape.join(', ')}]`);
  const [rows, cols] = shape;
  const values = new Float32Array(rows * cols);
  for (let i = 0; i < Math.min(rows, cols); i++) values[i * cols + i] = 1;
  return fromHost(shape, values, options);
}

function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 100; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
