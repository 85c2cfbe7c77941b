// Issue 20's measurements, side by side in one process: waits that sleep against waits that await (wall time and
// the process's CPU time), matmul kernels against the FMA probe, and the tiny HRM's training step (npm start's
// recipe): samples/s, dispatches, host time to encode. With --adapter=null, Dawn's null backend (nothing runs):
// the host time per dispatch of that step, warmed up, median of 200.
//   npm run bench:speed [-- --section=waits|matmul|hrm] [--reps=N] [--adapter=null]
// Prints a table and writes bench/results/speed-<adapter>-<date>.json.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describeAdapter, init, keep, matmul, randn, runtime, scope, setMatmulKernel, shutdown, subgroupMatmulRuns, sync, type Tensor, type WaitPolicy } from '../engine/index.ts';
import { measureFma } from '../engine/measure/limits.ts';
import { measure, option } from '../engine/measure/timing.ts';
import { createSession } from '../model/hrm-session.ts';

interface Row {
  section: string;
  name: string;
  value: number;
  unit: string;
  note?: string;
}

/** Median of the samples. */
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Wall ms and main-thread CPU ms of `run` (awaited), under the given wait policy. */
async function timed(policy: WaitPolicy, run: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  runtime().waitPolicy = policy;
  await sync();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1000 };
}

/**
 * Six 512³ products read back, the issue's probe, A B A B under both policies. The process's CPU time counts all
 * its threads (SwiftShader's workers too), so the main thread's share is what changes: the spin is the difference.
 */
async function waitRows(reps: number): Promise<Row[]> {
  const a = randn([512, 512], { seed: 1 });
  const b = randn([512, 512], { seed: 2 });
  const work = async () => {
    const out: Tensor[] = [];
    scope(() => { for (let i = 0; i < 6; i++) out.push(keep(matmul(a, b))); });
    await out[5].toArray();
    for (const t of out) t.dispose();
  };
  const results: Record<WaitPolicy, { wall: number[]; cpu: number[] }> = { await: { wall: [], cpu: [] }, sleep: { wall: [], cpu: [] } };
  for (const policy of ['await', 'sleep'] as const) await timed(policy, work); // warm: pipelines, pool, estimates
  for (let r = 0; r < reps; r++) {
    for (const policy of ['await', 'sleep'] as const) {
      const m = await timed(policy, work);
      results[policy].wall.push(m.wall);
      results[policy].cpu.push(m.cpu);
    }
  }
  a.dispose();
  b.dispose();
  const rows: Row[] = [];
  for (const policy of ['await', 'sleep'] as const) {
    rows.push({ section: 'waits', name: `six 512³ matmuls read back, wait ${policy}`, value: median(results[policy].wall), unit: 'ms', note: `process CPU ${median(results[policy].cpu).toFixed(0)} ms` });
  }
  rows.push({ section: 'waits', name: 'sleep / await wall time', value: median(results.sleep.wall) / median(results.await.wall), unit: '×' });
  return rows;
}

/**
 * GFLOP/s of the CPU drivers' kernels ('subgroup', the default where the adapter has subgroups; 'lanes', the default
 * without them; 'direct', the one before both) as shares of the FMA probe. The probe's own reading drifts by tens of
 * percent over a minute on a shared machine, so every kernel sample is taken right after a probe sample and the
 * share is the median of those pairs' ratios.
 */
async function matmulRows(reps: number): Promise<Row[]> {
  const probes: number[] = [];
  const rows: Row[] = [];
  // Square sizes, and the tiny HRM's products (batch 64 × 16 cells): forward x·Wᵀ, input gradient g·W, weight gradient gᵀ·x.
  const shapes: [string, number[], number[], 'plain' | 'bT' | 'aT'][] = [
    ['256³', [256, 256], [256, 256], 'plain'], ['512³', [512, 512], [512, 512], 'plain'], ['1024³', [1024, 1024], [1024, 1024], 'plain'],
    ['1024x32 @ (96x32)ᵀ', [1024, 32], [96, 32], 'bT'], ['1024x96 @ 96x32', [1024, 96], [96, 32], 'plain'], ['(1024x96)ᵀ @ 1024x32', [1024, 96], [1024, 32], 'aT'],
  ];
  const kernels = subgroupMatmulRuns() ? (['subgroup', 'lanes', 'direct'] as const) : (['lanes', 'direct'] as const);
  for (const [name, sa, sb, layout] of shapes) {
    const a0 = randn(sa, { seed: 1 });
    const b0 = randn(sb, { seed: 2 });
    const a = layout === 'aT' ? a0.T : a0;
    const b = layout === 'bT' ? b0.T : b0;
    const flops = 2 * a.shape[0] * a.shape[1] * b.shape[1];
    for (const kernel of kernels) {
      setMatmulKernel(kernel);
      const gflops: number[] = [];
      const shares: number[] = [];
      // Calls per sample fixed once, so that every sample repeats a dispatch count the wait pacer knows.
      const { calls } = await measure(() => matmul(a, b), { reps: 1, targetMs: 50 });
      await measureFma(1 << 14, 1, { calls: 1 });
      for (let r = 0; r < reps; r++) {
        const probe = (await measureFma(1 << 14, 1, { calls: 1, warmup: 0 })).gflops;
        const m = await measure(() => matmul(a, b), { reps: 1, calls, warmup: 0 });
        probes.push(probe);
        gflops.push(flops / (m.medianMs * 1e6));
        shares.push(gflops[gflops.length - 1] / probe);
      }
      rows.push({ section: 'matmul', name: `${name}, ${kernel}`, value: median(gflops), unit: 'GFLOP/s', note: `${(100 * median(shares)).toFixed(0)} % of the FMA probe (pairs ${(100 * Math.min(...shares)).toFixed(0)}–${(100 * Math.max(...shares)).toFixed(0)} %)` });
    }
    setMatmulKernel(null);
    for (const t of [a0, b0]) t.dispose();
  }
  rows.unshift({ section: 'matmul', name: 'FMA probe', value: median(probes), unit: 'GFLOP/s', note: `median of ${probes.length} samples, one before each kernel sample (${Math.min(...probes).toFixed(1)}–${Math.max(...probes).toFixed(1)})` });
  return rows;
}

/** Host time of the tiny HRM step on the null backend: encode and submit, nothing waited for, warmed up; eager and replayed. */
async function hostRows(steps: number): Promise<Row[]> {
  const rt = runtime();
  const rows: Row[] = [];
  for (const replay of [false, true]) {
    const session = await createSession({ variant: 'hrm', task: 'sudoku-4x4', preset: 'tiny', seed: 1, train: 5000, test: 200, batch: 64, lr: 0.01, maxSegments: 2, cycles: 1 });
    session.replay = replay;
    const times: number[] = [];
    let dispatches = 0;
    for (let i = 0; i < 50 + steps; i++) {
      const before = rt.stats.dispatches;
      const t0 = performance.now();
      const metrics = await session.trainStep();
      for (const t of Object.values(metrics)) t.dispose();
      rt.flush();
      if (i >= 50) times.push(performance.now() - t0);
      dispatches = rt.stats.dispatches - before;
      if (i % 10 === 9) await sync();
    }
    session.dispose();
    const ms = median(times);
    rows.push({ section: 'host', name: `tiny HRM training step, host time, ${replay ? 'replayed' : 'eager'} (null backend)`, value: (1000 * ms) / dispatches, unit: 'µs/dispatch', note: `${ms.toFixed(2)} ms for ${dispatches} dispatches` });
  }
  return rows;
}

/** npm start's recipe: tiny HRM, 4×4 Sudoku, batch 64, N = T = 1, 2 segments; the loss read every `every` steps. */
async function hrmRows(reps: number, policies: WaitPolicy[]): Promise<Row[]> {
  const rt = runtime();
  const session = await createSession({ variant: 'hrm', task: 'sudoku-4x4', preset: 'tiny', seed: 1, train: 5000, test: 200, batch: 64, lr: 0.01, maxSegments: 2, cycles: 1 });
  const batch = 64;
  const every = 5;
  const stepsOf = async (session: Awaited<ReturnType<typeof createSession>>) => {
    let last: Tensor | null = null;
    for (let i = 0; i < every; i++) {
      const metrics = await session.trainStep();
      last?.dispose();
      last = metrics.loss;
      for (const t of Object.values(metrics)) if (t !== metrics.loss) t.dispose();
    }
    await last!.item();
    last!.dispose();
  };
  const steps = () => stepsOf(session);
  await steps();
  await sync();
  const before = rt.stats.dispatches;
  const t0 = performance.now();
  const metrics = session.step();
  const encodeMs = performance.now() - t0;
  const dispatches = rt.stats.dispatches - before;
  for (const t of Object.values(metrics)) t.dispose();
  await sync();
  const rows: Row[] = [
    { section: 'hrm', name: 'tiny HRM training step: dispatches', value: dispatches, unit: 'dispatches' },
    { section: 'hrm', name: 'tiny HRM training step: host time to encode', value: encodeMs, unit: 'ms', note: `${((1000 * encodeMs) / dispatches).toFixed(1)} µs per dispatch` },
  ];
  // Side by side in one process: the waits, and the same steps replayed (the session's own recorded step).
  const samples: Record<string, number[]> = {};
  // A replayed session of its own: an eager step in between would free what the recording holds (and be refused).
  const replayed = await createSession({ variant: 'hrm', task: 'sudoku-4x4', preset: 'tiny', seed: 1, train: 5000, test: 200, batch: 64, lr: 0.01, maxSegments: 2, cycles: 1 });
  replayed.replay = true;
  const variants = [...policies.map((policy) => ({ name: `wait ${policy}`, policy, run: steps })), { name: 'wait sleep, replayed', policy: 'sleep' as WaitPolicy, run: () => stepsOf(replayed) }];
  await stepsOf(replayed); // warm-up and the two recorded calls
  for (let r = 0; r < reps; r++) {
    for (const v of variants) {
      const m = await timed(v.policy, v.run);
      (samples[v.name] ??= []).push((batch * every) / (m.wall / 1000));
    }
  }
  replayed.dispose();
  for (const v of variants) rows.push({ section: 'hrm', name: `tiny HRM training, ${v.name}`, value: median(samples[v.name]), unit: 'samples/s', note: `batch ${batch}, loss read every ${every} steps` });
  session.dispose();
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const nullBackend = option('adapter', 'auto') === 'null';
  const report = await init(nullBackend ? { adapter: 'null' } : {});
  const adapter = describeAdapter(report);
  console.log(`adapter: ${adapter}${nullBackend ? ' (null backend)' : ''}`);
  const section = option('section', 'all');
  const reps = Number(option('reps', '5'));
  const rows: Row[] = [];
  if (nullBackend) rows.push(...(await hostRows(200)));
  else {
    if (section === 'all' || section === 'waits') rows.push(...(await waitRows(reps)));
    if (section === 'all' || section === 'matmul') rows.push(...(await matmulRows(reps)));
    if (section === 'all' || section === 'hrm') rows.push(...(await hrmRows(Math.max(1, Math.ceil(reps / 2)), ['await', 'sleep'])));
  }
  for (const r of rows) console.log(`${r.section.padEnd(6)} ${r.name.padEnd(56)} ${r.value.toFixed(r.unit === '×' ? 3 : 1).padStart(9)} ${r.unit}${r.note ? `  (${r.note})` : ''}`);
  const date = new Date().toISOString().slice(0, 10);
  const name = nullBackend ? 'null' : report.software ? 'swiftshader' : 'gpu';
  // A run of some sections replaces those sections' rows in the day's file and keeps the others.
  const file = `bench/results/speed-${name}-${date}.json`;
  const ran = new Set(rows.map((r) => r.section));
  const kept = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { rows: Row[] }).rows.filter((r) => !ran.has(r.section)) : [];
  writeFileSync(file, JSON.stringify({ adapter, date, rows: [...kept, ...rows] }, null, 2) + '\n');
  await shutdown();
}
