// Scan throughput (bytes moved / time) beside a plain copy of the same bytes, and the speedup over a naive
// one-invocation-per-sequence kernel, on the adapter found.
//   node --import tsx --import ./engine/node/register.mjs bench/scan.ts [--quick]
// Bytes moved by a scan: read a and b, write h (12 bytes per element); by the copy: read x, write y (8 bytes per
// element); both as GB/s, and the scan's GB/s as a fraction of the copy's.

import { describeAdapter, getScanTiling, init, rand, randn, scanRaw, setScanTiling, shutdown } from '../engine/index.ts';
import { empty, launch } from '../engine/ops/launch.ts';
import { Uniforms } from '../engine/runtime.ts';
import type { Tensor } from '../engine/tensor.ts';
import { measure } from '../engine/measure/timing.ts';

function plainCopy(x: Tensor): void {
  const y = empty(x.shape, 'f32', 'copy');
  const u = new Uniforms().vec([x.size], 8).vec([1], 8).vec([], 8).vec([], 8).u32(x.size).u32(1).u32(0).u32(0).u32(0).f32(0).f32(0).u32(0).build();
  // The identity map (an OP code with no function) over dense operands: one load and one store per element.
  launch({ family: 'elementwise', entry: 'unary_forward', label: 'copy', uniforms: u, overrides: { WG: 256, OP: 999, STRIDED: false }, outputs: [y], inputs: [x, x, x], workgroups: gridFor(x.size) });
}

let gridFor: (n: number) => [number, number];

export async function scanBenchmark(quick: boolean): Promise<Record<string, unknown>[]> {
  const { runtime } = await import('../engine/index.ts');
  gridFor = (n) => runtime().grid(n, 256, 'copy');
  const rows: Record<string, unknown>[] = [];
  const cases: [number, number][] = quick
    ? [[256, 1], [4096, 1], [4096, 64]]
    : [[256, 1], [4096, 1], [65536, 1], [1_000_000, 1], [256, 64], [4096, 64], [65536, 64]];
  const defaults = getScanTiling();
  for (const [T, C] of cases) {
    const a = rand([1, T, C], { low: 0.9, high: 1, seed: 1 });
    const b = randn([1, T, C], { seed: 2 });
    const n = T * C;
    const reps = quick ? 3 : 5;
    const copy = await measure(() => plainCopy(b), { reps });
    const fast = await measure(() => scanRaw({ batch: 1, steps: T, channels: C, gate: a, input: b, h0: null, label: 'scan' }), { reps });
    const tree = await measure(() => scanRaw({ batch: 1, steps: T, channels: C, gate: a, input: b, h0: null, kernel: 'tree', label: 'scan' }), { reps });
    const chunks = await measure(() => scanRaw({ batch: 1, steps: T, channels: C, gate: a, input: b, h0: null, kernel: 'chunks', label: 'scan' }), { reps });
    setScanTiling({ chunk: 1 << 30 });
    const naive = await measure(() => scanRaw({ batch: 1, steps: T, channels: C, gate: a, input: b, h0: null, kernel: 'chunks', label: 'naive scan' }), { reps: quick ? 1 : 3, warmup: 1 });
    setScanTiling(defaults);
    // Below the timer's resolution a time reads 0: report no rate rather than an infinite one.
    const rate = (bytes: number, ms: number) => (ms > 0 ? +(bytes / (ms * 1e6)).toFixed(3) : null);
    const copyGBs = rate(8 * n, copy.medianMs);
    const scanGBs = rate(12 * n, fast.medianMs);
    rows.push({
      T, C, 'scan ms': +fast.medianMs.toFixed(3), 'tree ms': +tree.medianMs.toFixed(3), 'chunks ms': +chunks.medianMs.toFixed(3),
      'scan GB/s': scanGBs, 'copy GB/s': copyGBs, 'scan/copy': scanGBs && copyGBs ? +(scanGBs / copyGBs).toFixed(3) : null,
      'naive ms': +naive.medianMs.toFixed(3), 'speedup vs naive': fast.medianMs > 0 ? +(naive.medianMs / fast.medianMs).toFixed(1) : null,
      dispatches: fast.dispatches, method: fast.method,
    });
    a.dispose();
    b.dispose();
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = await init();
  console.log(`adapter: ${describeAdapter(report)}`);
  console.table(await scanBenchmark(process.argv.includes('--quick')));
  shutdown();
}
