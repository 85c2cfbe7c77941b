// The state-expansion comparison of README's "State expansion" tables: each byte LM kind at its tiny preset (equal
// parameter counts, test/kinds.test.ts) trained for the same steps through the one training loop on the English
// corpus and on MQAR at two window lengths, then its held-out bits/byte or recall and its step-decoding speed.
// A measurement, not a test: npm run bench:state -- [--steps N] [--kinds a,b] [--tasks english,mqar32,mqar64,decode].
// 'decode' trains nothing: it times step decoding of every kind's tiny preset back to back in one process (the only
// fair comparison of speeds; the training runs' wall times come from separate runs on a shared machine).
// Results go to bench/results/state-expansion-<adapter>-<date>-<tasks>.json after every run (a partial table survives).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { init, memory, runtime, sync } from '../engine/index.ts';
import { specOf, type ModelKind } from '../model/kinds/index.ts';
import { recurrentStateFloats } from '../model/kinds/recurrent.ts';
import type { RecurrentConfig } from '../model/recurrent-lm.ts';
import { generateText } from '../model/text-generate.ts';
import type { ByteLM } from '../model/text-model.ts';
import type { TextKind, TextSession } from '../model/text-session.ts';
import { runTraining } from '../model/training.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '100' },
    kinds: { type: 'string', default: 'transformer,hgrn,hgrn2,gla,retnet,mamba2,gateloop,griffin' },
    tasks: { type: 'string', default: 'english,mqar32,mqar64' },
    batch: { type: 'string', default: '8' },
  },
});
const steps = Number(values.steps);
const batch = Number(values.batch);
const kinds = values.kinds!.split(',') as ModelKind[];
const TASKS: Record<string, Record<string, string | number>> = {
  english: { corpus: 'english', seq: 128 },
  mqar32: { task: 'mqar', seq: 32 },
  mqar64: { task: 'mqar', seq: 64 },
};
const tasks = values.tasks!.split(',');
for (const t of tasks) if (!TASKS[t] && t !== 'decode') throw new Error(`unknown task ${t} (${Object.keys(TASKS).join(', ')}, decode)`);

const report = await init();
const adapter = report.description;
const date = new Date().toISOString().slice(0, 10);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/state-expansion-${report.software ? 'swiftshader' : 'gpu'}-${date}-${tasks.join('-')}.json`;
// Rows already measured today on this adapter for other kinds stay (a run of a few kinds completes a table).
const earlier = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { results: Record<string, unknown>[] }).results : [];
const results: Record<string, unknown>[] = earlier.filter((r) => !kinds.includes(r.kind as ModelKind));
console.log(`adapter: ${adapter}; ${steps} steps, batch ${batch}`);

/** Step decoding of an untrained tiny preset: 16 prompt bytes in one pass, then 128 bytes one at a time (batch 1). */
async function decodeRow(kind: ModelKind): Promise<Record<string, unknown>> {
  const spec = specOf(kind);
  const model = spec.build(structuredClone((spec.presets.tiny as unknown as { config: unknown }).config)) as ByteLM;
  const prompt = [new TextEncoder().encode('The quick brown ')];
  await generateText(model, prompt, { count: 16, temperature: 0.8, seed: 1 });
  await sync();
  const seconds: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    await generateText(model, prompt, { count: 128, temperature: 0.8, seed: 1 });
    seconds.push((performance.now() - t0) / 1000);
  }
  seconds.sort((a, b) => a - b);
  const before = runtime().stats.dispatches;
  await generateText(model, prompt, { count: 16, temperature: 0.8, seed: 1 });
  const dispatchesPerByte = (runtime().stats.dispatches - before) / 16;
  const parameters = model.parameterCount();
  model.dispose();
  return { kind, task: 'decode', parameters, decodeBytesPerSecond: 128 / seconds[1], dispatchesPerByte };
}

for (const task of tasks) {
  if (task === 'decode') {
    for (const kind of kinds) {
      const row = await decodeRow(kind);
      results.push(row);
      console.log(JSON.stringify(row));
      writeFileSync(file, JSON.stringify({ adapter, date, results }, null, 2));
    }
    continue;
  }
  for (const kind of kinds) {
    const spec = specOf(kind);
    const given = { ...TASKS[task], steps, batch, seed: 1 };
    const run = (await spec.createRun({ values: given, given: new Set(Object.keys(given)) })) as TextSession;
    const started = performance.now();
    const outcome = await runTraining(run, { steps, evalEvery: steps, progressEvery: steps });
    const trainSeconds = (performance.now() - started) / 1000;
    const evaluation = outcome.lastEvaluation?.values ?? (await run.evaluateHeldOut()).values;
    const row: Record<string, unknown> = {
      kind, task, steps, batch, seq: run.state.seq, parameters: run.model.parameterCount(), mflopPerByte: (spec as unknown as TextKind).flopsPerByte(run.state.config) / 1e6,
      trainSeconds, peakMiB: memory().peakBytes / 2 ** 20, ...evaluation,
    };
    if ((run.state.config as RecurrentConfig).mixer) row.stateFloats = recurrentStateFloats(run.state.config as RecurrentConfig, 0);
    results.push(row);
    console.log(JSON.stringify(row));
    writeFileSync(file, JSON.stringify({ adapter, date, dispatches: runtime().stats.dispatches, results }, null, 2));
    run.dispose();
  }
}
console.log(`wrote ${file}`);
