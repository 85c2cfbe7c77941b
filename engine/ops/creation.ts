// Creating tensors: from host data (one upload), or on the GPU (fill, arange, random) so that creating a constant
// inside a training step never forces a submit.

import { runtime } from '../context.ts';
import { DTypeError, formatShape, HieroError, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { checkShape, DTYPES, numel, type AnyTypedArray, type DType, type Tensor } from '../tensor.ts';
import { dtypeCode, empty, launchElementwise, mapParams } from './launch.ts';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  name?: string;
}

type NestedNumbers = number | NestedNumbers[];

function inferShape(data: NestedNumbers): number[] {
  const shape: number[] = [];
  let level: NestedNumbers = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0] as NestedNumbers;
  }
  return shape;
}

function flatten(data: NestedNumbers, shape: number[], depth = 0, out: number[] = []): number[] {
  if (depth === shape.length) {
    if (typeof data !== 'number') throw new ShapeError(`tensor(): nested data is ragged at depth ${depth}`);
    out.push(data);
    return out;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new ShapeError(`tensor(): nested data is not rectangular at depth ${depth} (expected ${shape[depth]} items)`);
  }
  for (const item of data) flatten(item, shape, depth + 1, out);
  return out;
}

function checkDType(op: string, dtype: DType): DType {
  if (!DTYPES.includes(dtype)) throw new DTypeError(`${op}: unknown dtype '${String(dtype)}' (use f32, i32 or u32)`);
  return dtype;
}

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) {
    if (t.dtype !== 'f32') throw new DTypeError(`requiresGrad needs dtype f32, got ${t.dtype}`);
    t.requiresGrad = true;
  }
  t.name = options.name;
  return t;
}

/**
 * A tensor from host data: a typed array or flat number array with an explicit shape, or nested arrays (shape
 * inferred). dtype defaults to the typed array's (Int32Array -> i32, Uint32Array -> u32) or f32.
 */
export function tensor(
  data: AnyTypedArray | NestedNumbers | readonly number[],
  shape?: readonly number[],
  options: TensorOptions = {},
): Tensor {
  const implied: DType =
    data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : 'f32';
  const dtype = checkDType('tensor()', options.dtype ?? implied);
  let values: ArrayLike<number>;
  let resolved: number[];
  if (ArrayBuffer.isView(data)) {
    values = data as AnyTypedArray;
    resolved = checkShape(shape ?? [values.length], 'tensor()');
  } else if (typeof data === 'number') {
    values = [data];
    resolved = checkShape(shape ?? [], 'tensor()');
  } else {
    const nestedShape = inferShape(data as NestedNumbers);
    const flat = flatten(data as NestedNumbers, nestedShape);
    values = flat;
    resolved = checkShape(shape ?? nestedShape, 'tensor()');
  }
  if (numel(resolved) !== values.length) {
    throw new ShapeError(`tensor(): ${values.length} values do not fill shape ${formatShape(resolved)} (${numel(resolved)} elements)`);
  }
  const typed =
    dtype === 'f32' ? Float32Array.from(values) : dtype === 'i32' ? Int32Array.from(values) : Uint32Array.from(values);
  const t = empty(resolved, dtype, 'tensor()');
  if (typed.length) runtime().upload(t.buffer('tensor()'), typed);
  return finish(t, options);
}

/** A tensor whose every element is `value`. */
export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  const resolved = checkShape(shape, 'full()');
  const dtype = checkDType('full()', options.dtype ?? 'f32');
  const t = launchElementwise({
    entry: 'fill',
    label: 'full',
    shape: resolved,
    dtype,
    inputs: [],
    uniforms: mapParams(resolved, undefined, undefined, undefined, value),
    overrides: { OUT_DTYPE: dtypeCode(dtype) },
  });
  return finish(t, options);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, ...options });
}

export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, ...options });
}

/** [start, start + step, …) up to (excluding) end, like NumPy; dtype i32 when every argument is an integer. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step)) throw new HieroError(`arange(): step must be a finite non-zero number, got ${step}`);
  const count = Math.max(0, Math.ceil((end - start) / step));
  const integral = [start, end, step].every(Number.isInteger);
  const dtype = checkDType('arange()', options.dtype ?? (integral ? 'i32' : 'f32'));
  const t = launchElementwise({
    entry: 'arange',
    label: 'arange',
    shape: [count],
    dtype,
    inputs: [],
    uniforms: mapParams([count], undefined, undefined, undefined, start, step),
    overrides: { OUT_DTYPE: dtypeCode(dtype) },
  });
  return finish(t, options);
}

// ----------------------------------------------------------------------------------------------------------------
// Random numbers: Philox on the GPU. A global generator hands each call its own stream, so a program that seeds
// once with manualSeed() draws the same numbers every run; a call can also pass its own seed.

let globalSeed = 0x2545f491;
let nextStream = 0;

export function manualSeed(seed: number): void {
  globalSeed = seed >>> 0;
  nextStream = 0;
}

/** The global generator's state, for checkpoints that must resume the same random stream. */
export function getRandomState(): [number, number] {
  return [globalSeed, nextStream];
}

export function setRandomState(state: readonly [number, number]): void {
  globalSeed = state[0] >>> 0;
  nextStream = state[1];
}

/** A fresh seed from the global generator, for host-side sampling (initialisers) that must follow manualSeed. */
export function nextSeed(): number {
  return (Math.imul(globalSeed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(nextStream++, 0xc2b2ae35)) >>> 0;
}

export interface RandomOptions extends TensorOptions {
  /** Use this seed (stream 0) instead of the global generator. */
  seed?: number;
}

/** The (seed, stream) of a draw: the caller's seed (stream 0), or the global generator's next stream. */
export function randomStream(seed?: number): [number, number] {
  return seed !== undefined ? [seed >>> 0, 0] : [globalSeed, nextStream++];
}

function random(shape: readonly number[], dist: 0 | 1, a: number, b: number, options: RandomOptions, op: string): Tensor {
  const resolved = checkShape(shape, op);
  if ((options.dtype ?? 'f32') !== 'f32') throw new DTypeError(`${op}: random tensors are f32`);
  const n = numel(resolved);
  // A replayed step draws the next stream of the global generator, as the eager op would.
  const uniforms = () => {
    const [seed, stream] = randomStream(options.seed);
    return new Uniforms().u32(n).u32(seed).u32(stream).u32(0).f32(a).f32(b).build();
  };
  const rt = runtime();
  const t = empty(resolved, 'f32', op);
  rt.dispatch({
    family: 'random',
    entry: 'random_fill',
    overrides: { WG: 256, DIST: dist },
    uniforms: uniforms(),
    refresh: uniforms,
    outputs: [t.buffer(op)],
    inputs: [],
    workgroups: rt.grid(n, 256, op),
    label: op,
  });
  return finish(t, options);
}

/** Uniform samples in [low, high). */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  return random(shape, 0, options.low ?? 0, options.high ?? 1, options, 'rand');
}

/** Normal samples with the given mean and standard deviation. */
export function randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  return random(shape, 1, options.mean ?? 0, options.std ?? 1, options, 'randn');
}
