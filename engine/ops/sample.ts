// Drawing tokens from logits on the GPU (kernel: shaders/random.wgsl, sample_rows; tests: test/sample.test.ts), so a
// decoding loop can feed each step's token to the next without reading it back: reads happen only when the caller
// wants the text.

import { runtime } from '../context.ts';
import { formatShape, HieroError, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { randomStream } from './creation.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';

export interface SampleOptions {
  /** Softmax temperature; 0 takes the argmax (default 1). */
  temperature?: number;
  /** Sample among the k largest logits only (0: all; 1: the argmax). */
  topK?: number;
  /** A fixed seed; by default the global generator's next stream (manualSeed makes runs repeat). */
  seed?: number;
  /** With a seed: the stream to draw from (a decoding loop passes its step), default 0. */
  stream?: number;
}

/** One token per row of logits [..., vocab] -> i32 [...]. */
export function sample(logits: Tensor, options: SampleOptions = {}): Tensor {
  logits.assertDType('sample', 'f32');
  if (logits.rank === 0) throw new ShapeError(`sample: logits must have a vocabulary axis, got ${formatShape(logits.shape)}`);
  const temperature = options.temperature ?? 1;
  const topK = options.topK ?? 0;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new HieroError(`sample: temperature must be a finite number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new HieroError(`sample: topK must be a whole number >= 0, got ${topK}`);
  const vocab = logits.shape[logits.rank - 1];
  if (vocab === 0) throw new ShapeError('sample: the vocabulary axis is empty');
  const rows = logits.size / vocab;
  const uniforms = () => {
    const [seed, defaultStream] = randomStream(options.seed);
    const stream = options.seed !== undefined ? (options.stream ?? 0) >>> 0 : defaultStream;
    return new Uniforms().u32(rows).u32(vocab).u32(seed).u32(stream).f32(temperature).u32(topK).build();
  };
  const source = dense(logits, copyStrided);
  const tokens = empty(logits.shape.slice(0, -1), 'i32', 'sample');
  launch({
    family: 'random', entry: 'sample_rows', label: 'sample',
    uniforms: uniforms(),
    // A replay draws the global generator's next stream; a caller's own seed and stream cannot be known there, so
    // those uniforms stay checked (a recording refuses them if they change).
    refresh: options.seed === undefined ? uniforms : undefined,
    overrides: { WG: 64 }, outputs: [tokens], inputs: [source], workgroups: runtime().grid(rows, 64, 'sample'),
  });
  if (source !== logits) source.dispose();
  return tokens;
}
