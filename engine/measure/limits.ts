// The adapter's practical limits, measured first so every kernel can be reported as a fraction of them.

import { runtime } from '../index.ts';
import { empty, launch } from '../ops/launch.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { measure, type MeasureOptions, type Measurement } from './timing.ts';

/** Copies x (a multiple of 4 elements) into a new tensor with 16-byte loads and stores: the bandwidth probe. */
export function copyVec4(x: Tensor): Tensor {
  const y = empty(x.shape, 'f32', 'copy');
  const n = x.size / 4;
  launch({
    family: 'probe', entry: 'copy_vec4', label: 'copy', uniforms: new Uniforms().u32(n).f32(0).build(),
    overrides: { WG: 256 }, outputs: [y], inputs: [x], workgroups: runtime().grid(n, 256, 'copy'),
  });
  return y;
}

export interface Limits {
  copyGBs: number;
  copyBytes: number;
  fmaGflops: number;
  copy: Measurement;
  fma: Measurement;
}

/** The FMA probe alone: GFLOP/s of independent fused multiply-adds over `invocations` invocations, median of `reps`. */
export async function measureFma(invocations: number, reps: number, options: MeasureOptions = {}): Promise<{ gflops: number; measurement: Measurement }> {
  const iterations = 256;
  const out = empty([invocations * 4], 'f32', 'bench');
  const fma = await measure(() => {
    launch({
      family: 'probe', entry: 'fma_peak', label: 'fma', uniforms: new Uniforms().u32(invocations).f32(0.5).build(),
      overrides: { WG: 256, ITERATIONS: iterations }, outputs: [out], inputs: [null],
      workgroups: runtime().grid(invocations, 256, 'fma'),
    });
  }, { reps, ...options });
  out.dispose();
  return { gflops: (64 * iterations * invocations) / (fma.medianMs * 1e6), measurement: fma };
}

export async function measureLimits(copyElements: number, fmaInvocations: number, reps: number): Promise<Limits> {
  const x = empty([copyElements], 'f32', 'bench');
  const copy = await measure(() => copyVec4(x), { reps });
  x.dispose();
  const fma = await measureFma(fmaInvocations, reps);
  const copyBytes = 8 * copyElements;
  return {
    copyGBs: copyBytes / (copy.medianMs * 1e6),
    copyBytes,
    fmaGflops: fma.gflops,
    copy,
    fma: fma.measurement,
  };
}
