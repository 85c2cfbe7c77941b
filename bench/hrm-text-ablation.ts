// HRM-Text's ablation (paper, Table 3) at the tiny preset: {Transformer, HRM} x {P(x) causal, P(a|q) causal,
// P(a|q) PrefixLM}, each through the one training loop on the generated instructions, at matched training FLOPs (the
// Transformer of matched forward FLOPs backpropagates through all its blocks, so it gets fewer steps), then held-out
// exact match per split and teacher-forced bits per response byte. A measurement, not a test:
//   npm run bench:hrm-text -- [--steps 150] [--batch 8] [--seq 112] [--rows hrm-answer-prefix,transformer-answer-prefix,...]
// The six rows run by default; hrm-answer-prefix-no-magicnorm and hrm-answer-prefix-no-warmup take MagicNorm or the
// warm-up away from the paper's recipe, one at a time.
// Results go to bench/results/hrm-text-ablation-<adapter>-<date>.json after every row (a partial table survives).

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { init } from '../engine/index.ts';
import { hrmTextKind } from '../model/kinds/hrm-text.ts';
import type { HRMTextConfig } from '../model/hrm-text.ts';
import { runTraining } from '../model/training.ts';

const ROWS = {
  'transformer-all-causal': { architecture: 'transformer', objective: 'all', mask: 'causal' },
  'hrm-all-causal': { architecture: 'hrm', objective: 'all', mask: 'causal' },
  'transformer-answer-causal': { architecture: 'transformer', objective: 'answer', mask: 'causal' },
  'hrm-answer-causal': { architecture: 'hrm', objective: 'answer', mask: 'causal' },
  'transformer-answer-prefix': { architecture: 'transformer', objective: 'answer', mask: 'prefix' },
  'hrm-answer-prefix': { architecture: 'hrm', objective: 'answer', mask: 'prefix' },
  // What MagicNorm and the warm-up each change, one at a time from the paper's recipe (the last row).
  'hrm-answer-prefix-no-magicnorm': { architecture: 'hrm', objective: 'answer', mask: 'prefix', 'magic-norm': 'off' },
  'hrm-answer-prefix-no-warmup': { architecture: 'hrm', objective: 'answer', mask: 'prefix', 'bp-warmup': 0 },
} as const;

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '150' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '112' },
    rows: { type: 'string', default: Object.keys(ROWS).filter((r) => !r.includes('-no-')).join(',') },
  },
});
const hrmSteps = Number(values.steps);
const rows = values.rows!.split(',') as (keyof typeof ROWS)[];
for (const r of rows) if (!ROWS[r]) throw new Error(`unknown row ${r} (${Object.keys(ROWS).join(', ')})`);

const report = await init();
const date = new Date().toISOString().slice(0, 10);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/hrm-text-ablation-${report.software ? 'swiftshader' : 'gpu'}-${date}.json`;
const spec = hrmTextKind;
const flopsOf = (architecture: 'hrm' | 'transformer') => spec.flopsPerByte({ ...(spec.presets.tiny as unknown as { config: HRMTextConfig }).config, architecture });
const results: Record<string, unknown>[] = [];
console.log(`adapter: ${report.description}; HRM rows ${hrmSteps} steps, batch ${values.batch}, windows of ${values.seq} bytes`);
for (const row of rows) {
  const condition = ROWS[row];
  // Matched training FLOPs: the Transformer's steps scaled by the HRM's FLOPs per byte over its own.
  const steps = condition.architecture === 'hrm' ? hrmSteps : Math.round((hrmSteps * flopsOf('hrm')) / flopsOf('transformer'));
  const options = { ...condition, steps, batch: Number(values.batch), seq: Number(values.seq), seed: 1 };
  const run = await spec.createRun({ values: options, given: new Set(Object.keys(options)) });
  const t0 = performance.now();
  // Every step's loss: whether a recipe diverges (a non-finite or climbing loss) shows here, not in the end score.
  const losses: number[] = [];
  const outcome = await runTraining(run, {
    steps, evalEvery: steps, progressEvery: 1,
    onProgress: (p) => {
      losses.push(p.loss);
      if (p.step % Math.max(1, Math.floor(steps / 5)) === 0) console.log(`  ${row} step ${p.step}: loss ${p.loss.toFixed(3)} ${p.text}`);
    },
  });
  const evaluation = outcome.lastEvaluation;
  const result = { row, ...condition, steps, parameters: (run as unknown as { model: { parameterCount(): number } }).model.parameterCount(), mflopPerByte: flopsOf(condition.architecture) / 1e6, trainSeconds: (performance.now() - t0) / 1000, lossFirst: losses[0], lossLast: losses.at(-1), lossMax: Math.max(...losses), finite: losses.every(Number.isFinite), ...evaluation?.values, text: evaluation?.text };
  console.log(JSON.stringify(result));
  results.push(result);
  writeFileSync(file, JSON.stringify({ adapter: report.description, date, results }, null, 2));
  run.dispose();
}
console.log(`wrote ${file}`);
