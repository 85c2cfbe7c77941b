// HiSS against the same mixers flat and a causal Transformer (the paper's Table 2 in spirit) on the generated sensor
// tasks, at two training-set sizes, every row through the one training loop at the tiny preset's width with the
// same steps, batch and streams. A measurement, not a test:
//   npm run bench:hiss -- [--steps 300] [--tasks imu,tactile] [--sizes 32,256] [--rows hiss-hgrn,flat-hgrn,...]
// Results go to bench/results/hiss-<adapter>-<date>.json after every run (a partial table survives; a later run the
// same day adds its rows).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { init } from '../engine/index.ts';
import { hissFlopsPerSample, hissKind } from '../model/kinds/hiss.ts';
import type { HiSSConfig } from '../model/hiss.ts';
import { runTraining } from '../model/training.ts';

const ROWS = {
  'hiss-hgrn': { hierarchy: 'hiss', low: 'hgrn', high: 'hgrn' },
  'flat-hgrn': { hierarchy: 'flat', low: 'hgrn', high: 'hgrn' },
  'hiss-rglru': { hierarchy: 'hiss', low: 'rglru', high: 'rglru' },
  'flat-rglru': { hierarchy: 'flat', low: 'rglru', high: 'rglru' },
  'hiss-mamba2': { hierarchy: 'hiss', low: 'mamba2', high: 'mamba2' },
  'flat-mamba2': { hierarchy: 'flat', low: 'mamba2', high: 'mamba2' },
  'flat-transformer': { hierarchy: 'flat', low: 'attention', high: 'attention' },
} as const;

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '300' },
    tasks: { type: 'string', default: 'imu,tactile' },
    sizes: { type: 'string', default: '32,256' },
    rows: { type: 'string', default: 'hiss-hgrn,flat-hgrn,hiss-rglru,flat-rglru,flat-transformer' },
    seed: { type: 'string', default: '1' },
  },
});
const steps = Number(values.steps);
const rows = values.rows!.split(',') as (keyof typeof ROWS)[];
for (const r of rows) if (!ROWS[r]) throw new Error(`unknown row ${r} (${Object.keys(ROWS).join(', ')})`);

const report = await init();
const date = new Date().toISOString().slice(0, 10);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/hiss-${report.software ? 'swiftshader' : 'gpu'}-${date}.json`;
// Runs of the same day add to its file (a row measured again replaces its old result).
const results: Record<string, unknown>[] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).results : [];
console.log(`adapter: ${report.description}; ${steps} steps, batch 16, streams of 256 samples, tiny preset`);
for (const task of values.tasks!.split(',')) {
  for (const size of values.sizes!.split(',').map(Number)) {
    for (const row of rows) {
      const options = { ...ROWS[row], task, train: size, test: 64, steps, seed: Number(values.seed) };
      const run = await hissKind.createRun({ values: options, given: new Set(Object.keys(options)) });
      const t0 = performance.now();
      const outcome = await runTraining(run, { steps, evalEvery: steps, progressEvery: steps });
      const { model, state } = run as unknown as { model: { parameterCount(): number }; state: { config: HiSSConfig } };
      const e = outcome.lastEvaluation?.values as { mse: number; baseline: number };
      const result = { task, train: size, row, ...ROWS[row], steps, parameters: model.parameterCount(), mflopPerSample: hissFlopsPerSample(state.config) / 1e6, trainSeconds: (performance.now() - t0) / 1000, mse: e.mse, baseline: e.baseline, lastTrainMse: outcome.lastProgress?.loss };
      console.log(JSON.stringify(result));
      const same = results.findIndex((r) => r.task === task && r.train === size && r.row === row);
      if (same >= 0) results.splice(same, 1);
      results.push(result);
      writeFileSync(file, JSON.stringify({ adapter: report.description, date, results }, null, 2));
      run.dispose();
    }
  }
}
console.log(`wrote ${file}`);
