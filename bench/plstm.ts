// pLSTM's 2D op (engine/ops/plstm.ts) whole against blocked: forward + backward time, dispatches and the peak of GPU
// memory in use, over square grids, on the adapter found.
//   node --import tsx --import ./engine/node/register.mjs bench/plstm.ts [--quick] [--batch 8] [--json FILE]
// The whole grid is one block: O(N²) path weights per head. Blocked: blocks of at most `block` cells a side whose
// states are carried along anti-diagonals: O(N·(block² + K·V)) per head, and one batched product per anti-diagonal.

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeAdapter, init, memory, plstm2d, PLSTM_BLOCK, PLSTM_GATE_NAMES, PLSTM_WHOLE, randn, resetPeakMemory, scope, shutdown, sync, type PlstmGates } from '../engine/index.ts';
import { measure } from '../engine/measure/timing.ts';

const HEADS = 2;
const CHANNELS = 8; // K = V: the grid mixer's head width at the tiny presets' sizes

export async function plstmBenchmark(quick: boolean, batch: number): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const side of quick ? [12, 16, 32] : [9, 12, 16, 24, 32, 48]) {
    const q = randn([batch, side, side, HEADS, CHANNELS], { seed: 1, requiresGrad: true });
    const k = randn([batch, side, side, HEADS, CHANNELS], { seed: 2, requiresGrad: true });
    const v = randn([batch, side, side, HEADS, CHANNELS], { seed: 3, requiresGrad: true });
    const gates = Object.fromEntries(PLSTM_GATE_NAMES.map((name, i) => [name, randn([batch, side, side, HEADS], { seed: 10 + i }).sigmoid().mul(0.9)])) as unknown as PlstmGates;
    for (const block of [side, 16, 8, 4].filter((b, i, all) => b <= side && all.indexOf(b) === i)) {
      const run = () => {
        plstm2d(q, k, v, gates, { block }).square().sum().backward();
        for (const t of [q, k, v]) {
          t.grad?.dispose();
          t.grad = null;
        }
      };
      scope(run);
      await sync();
      resetPeakMemory();
      const before = memory().inUseBytes;
      scope(run);
      await sync();
      const peakMiB = (memory().peakInUseBytes - before) / 2 ** 20;
      const timing = await measure(run, { reps: quick ? 2 : 3 });
      rows.push({
        grid: `${side} x ${side}`, form: block >= side ? 'whole' : `blocks of ${block}`, 'forward + backward ms': +timing.medianMs.toFixed(1),
        dispatches: timing.dispatches, 'peak MiB in use': +peakMiB.toFixed(1), default: block === (side <= PLSTM_WHOLE ? side : PLSTM_BLOCK),
      });
    }
    for (const t of [q, k, v, ...Object.values(gates)]) t.dispose();
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, batch: { type: 'string', default: '8' }, json: { type: 'string' } } });
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1 || batch > 64) throw new Error(`--batch must be an integer in [1, 64], got ${values.batch}`);
  const report = await init();
  const adapter = describeAdapter(report);
  console.log(`adapter: ${adapter}; batch ${batch}, ${HEADS} heads, K = V = ${CHANNELS}`);
  const rows = await plstmBenchmark(values.quick, batch);
  console.table(rows);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ adapter, date: new Date().toISOString().slice(0, 10), batch, heads: HEADS, channels: CHANNELS, results: rows }, null, 2)}\n`);
  shutdown();
}
