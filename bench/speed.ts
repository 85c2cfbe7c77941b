// Issue 20's measurements, side by side in one process: waits that sleep against waits that await (the work, the
// wall time and the main thread's CPU time), and the tiny HRM's training step (npm start's recipe): samples/s,
// dispatches, host time to encode.
//   npm run bench:speed [-- --section=waits|hrm] [--reps=N]
// Prints a table and writes bench/results/speed-<adapter>-<date>.json.

import { writeFileSync } from 'node:fs';
import { describeAdapter, init, keep, matmul, randn, runtime, scope, shutdown, sync, type Tensor, type WaitPolicy } from '../engine/index.ts';
import { option } from '../engine/measure/timing.ts';
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

/** npm start's recipe: tiny HRM, 4×4 Sudoku, batch 64, N = T = 1, 2 segments; the loss read every `every` steps. */
async function hrmRows(reps: number, policies: WaitPolicy[]): Promise<Row[]> {
  const rt = runtime();
  const session = await createSession({ variant: 'hrm', task: 'sudoku-4x4', preset: 'tiny', seed: 1, train: 5000, test: 200, batch: 64, lr: 0.01, maxSegments: 2, cycles: 1 });
  const batch = 64;
  const every = 5;
  const steps = async () => {
    let last: Tensor | null = null;
    for (let i = 0; i < every; i++) {
      const metrics = session.step();
      last?.dispose();
      last = metrics.loss;
      for (const t of Object.values(metrics)) if (t !== metrics.loss) t.dispose();
    }
    await last!.item();
    last!.dispose();
  };
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
  const samples: Record<string, number[]> = {};
  for (let r = 0; r < reps; r++) {
    for (const policy of policies) {
      const m = await timed(policy, steps);
      (samples[policy] ??= []).push((batch * every) / (m.wall / 1000));
    }
  }
  for (const policy of policies) rows.push({ section: 'hrm', name: `tiny HRM training, wait ${policy}`, value: median(samples[policy]), unit: 'samples/s', note: `batch ${batch}, loss read every ${every} steps` });
  session.dispose();
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = await init();
  const adapter = describeAdapter(report);
  console.log(`adapter: ${adapter}`);
  const section = option('section', 'all');
  const reps = Number(option('reps', '5'));
  const rows: Row[] = [];
  if (section === 'all' || section === 'waits') rows.push(...(await waitRows(reps)));
  if (section === 'all' || section === 'hrm') rows.push(...(await hrmRows(Math.max(1, Math.ceil(reps / 2)), ['await', 'sleep'])));
  for (const r of rows) console.log(`${r.section.padEnd(6)} ${r.name.padEnd(56)} ${r.value.toFixed(r.unit === '×' ? 3 : 1).padStart(9)} ${r.unit}${r.note ? `  (${r.note})` : ''}`);
  const date = new Date().toISOString().slice(0, 10);
  const name = report.software ? 'swiftshader' : 'gpu';
  writeFileSync(`bench/results/speed-${name}-${date}.json`, JSON.stringify({ adapter, date, rows }, null, 2) + '\n');
  await shutdown();
}
