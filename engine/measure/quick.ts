// The playground's quick benchmark (engine page, run in the inference worker): copy bandwidth, FMA peak, matmul and
// the gated-recurrence scan, measured exactly as `npm run bench` measures them (timing.ts beside this file), at the 'quick'
// sizes for the adapter, so a visitor can compare GPUs in a few seconds. Nothing here touches Node.

import { runtime } from '../index.ts';
import { kernelRows } from './kernels.ts';
import { measureLimits } from './limits.ts';
import { sizesFor } from './types.ts';

export interface QuickResult {
  name: string;
  shape: string;
  value: number;
  unit: 'GB/s' | 'GFLOP/s';
  /** Median milliseconds per call. */
  ms: number;
}

/** Each result as soon as it is measured (onResult), then all of them. `size: 'tiny'` is for tests. */
export async function quickBenchmark(options: { size?: 'tiny' | 'quick'; onResult?: (r: QuickResult) => void | Promise<void> } = {}): Promise<QuickResult[]> {
  const sizes = sizesFor(options.size ?? 'quick', runtime().report.software);
  const results: QuickResult[] = [];
  const emit = async (r: QuickResult) => {
    results.push(r);
    await options.onResult?.(r);
  };
  const reps = 3;
  const limits = await measureLimits(sizes.copyElements, sizes.fmaInvocations, reps);
  const copied = sizes.copyElements * 4;
  await emit({ name: 'copy bandwidth', shape: copied >= 2 ** 20 ? `${copied / 2 ** 20} MiB` : `${copied / 1024} KiB`, value: limits.copyGBs, unit: 'GB/s', ms: limits.copy.medianMs });
  await emit({ name: 'FMA peak', shape: `${sizes.fmaInvocations} threads`, value: limits.fmaGflops, unit: 'GFLOP/s', ms: limits.fma.medianMs });
  for (const kernel of ['matmul', 'scan']) {
    for (const row of await kernelRows(sizes, limits, reps, (name) => name === kernel)) {
      if (row.value === null) continue;
      await emit({ name: row.name, shape: row.shape, value: row.value, unit: row.unit as QuickResult['unit'], ms: row.ms });
    }
  }
  return results;
}
