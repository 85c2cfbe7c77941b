// How bench/ measures kernels: a warm-up run first (pipelines compiled, pool filled), then `reps` samples, each
// one timed region (runtime().timeRegion: GPU timestamps around the region, or wall time to queue completion without
// 'timestamp-query') holding as many back-to-back calls as it takes to last `targetMs`, so even a 5 µs kernel is
// measured over milliseconds and neither the timer's resolution nor its quantization shows. A sample is the
// region's time divided by its calls; the row is the median sample.

import { runtime, scope, sync } from '../index.ts';

export interface Measurement {
  /** Median milliseconds per call. */
  medianMs: number;
  method: 'gpu-timestamps' | 'queue-completion';
  /** Dispatches one call makes. */
  dispatches: number;
  /** Calls per timed region (the repetition that made the region long enough). */
  calls: number;
}

export interface MeasureOptions {
  warmup?: number;
  reps?: number;
  /** Milliseconds a timed region should last at least (default: 2 on GPUs, 0 on CPU drivers: one call suffices). */
  targetMs?: number;
  /**
   * Calls per timed region, fixed (instead of judged from a first call against targetMs): samples taken one at a
   * time, interleaved with other measurements, then keep one dispatch count, whose duration the runtime's wait
   * pacer has learned, so the main thread sleeps through them instead of polling (engine/runtime/waits.ts).
   */
  calls?: number;
}

export async function measure(run: () => void, options: MeasureOptions = {}): Promise<Measurement> {
  const rt = runtime();
  const warmup = options.warmup ?? 1;
  const reps = options.reps ?? 5;
  const target = options.targetMs ?? (rt.report.software ? 0 : 2);
  for (let i = 0; i < warmup; i++) scope(run);
  await sync();
  const before = rt.stats.dispatches;
  let calls = options.calls ?? 1;
  let method: Measurement['method'] = rt.report.features.includes('timestamp-query') ? 'gpu-timestamps' : 'queue-completion';
  let dispatches = 0;
  if (options.calls === undefined) {
    const first = await rt.timeRegion(() => scope(run));
    dispatches = rt.stats.dispatches - before;
    method = first.method;
    // Calls per region: enough to reach the target, judged from the first call (at most 4096).
    calls = target > 0 ? Math.min(4096, Math.max(1, Math.ceil(target / Math.max(first.milliseconds, 1e-4)))) : 1;
  }
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    // Each call's outputs are freed at once (their buffers serve the next call), so repetition costs no memory.
    const r = await rt.timeRegion(() => { for (let c = 0; c < calls; c++) scope(run); });
    method = r.method;
    samples.push(r.milliseconds / calls);
    if (options.calls !== undefined && i === 0) dispatches = (rt.stats.dispatches - before) / calls;
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(samples.length / 2)], method, dispatches, calls };
}

export function option(name: string, fallback: string): string {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}
