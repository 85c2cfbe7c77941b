// How bench/ measures: warm-up runs first (pipelines compiled, pool filled), then the median of `reps` runs. GPU
// time comes from timestamp queries around each dispatch when the adapter has 'timestamp-query' (the sum over the
// dispatches of one run); otherwise wall time from the first dispatch to queue completion.

import { runtime, scope, sync } from '../engine/index.ts';

export interface Measurement {
  medianMs: number;
  method: 'gpu-timestamps' | 'queue-completion';
  dispatches: number;
}

export async function measure(run: () => void, options: { warmup?: number; reps?: number } = {}): Promise<Measurement> {
  const rt = runtime();
  const warmup = options.warmup ?? 1;
  const reps = options.reps ?? 5;
  for (let i = 0; i < warmup; i++) scope(run);
  await sync();
  const timestamps = rt.device.features.has('timestamp-query');
  const times: number[] = [];
  let dispatches = 0;
  for (let i = 0; i < reps; i++) {
    const before = rt.stats.dispatches;
    if (timestamps) {
      rt.startProfile();
      scope(run);
      const profile = await rt.stopProfile();
      times.push([...profile.values()].reduce((s, e) => s + e.milliseconds, 0));
    } else {
      const t0 = performance.now();
      scope(run);
      await sync();
      times.push(performance.now() - t0);
    }
    dispatches = rt.stats.dispatches - before;
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)], method: timestamps ? 'gpu-timestamps' : 'queue-completion', dispatches };
}

export function option(name: string, fallback: string): string {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
}
