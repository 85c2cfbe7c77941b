// The HRM's modules with pLSTM or attention as their mixer, on mazes: trained at one size through the one training
// loop, then evaluated (exact path and cell accuracy after the last segment) at that size and on larger mazes, the
// same weights on a larger grid. Both mixers take RoPE-free inputs except attention's own RoPE over the raster index
// (--positions rope: no position table, so any grid size loads). A measurement, not a test:
//   npm run bench:mazes -- [--steps 200] [--size 7] [--larger 9,11] [--mixers attention,plstm]
// Results go to bench/results/maze-mixers-<adapter>-<date>.json after every row.

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { init } from '../engine/index.ts';
import { loadTask, resizePuzzleModel, type TrainingSession } from '../model/hrm-session.ts';
import { evaluatePuzzles } from '../model/hrm-train.ts';
import { specOf } from '../model/kinds/index.ts';
import { toBatch } from '../model/tasks/datasets.ts';
import { runTraining } from '../model/training.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '200' },
    size: { type: 'string', default: '7' },
    larger: { type: 'string', default: '9,11' },
    mixers: { type: 'string', default: 'attention,plstm' },
    batch: { type: 'string', default: '16' },
    test: { type: 'string', default: '64' },
  },
});
const steps = Number(values.steps);
const report = await init();
const date = new Date().toISOString().slice(0, 10);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/maze-mixers-${report.software ? 'swiftshader' : 'gpu'}-${date}.json`;
const results: Record<string, unknown>[] = [];
console.log(`adapter: ${report.description}; HRM tiny (hidden 32, 1 cycle, 2 segments), maze-${values.size}, ${steps} steps of ${values.batch}`);
for (const mixer of values.mixers!.split(',')) {
  const options = { task: `maze-${values.size}`, mixer, positions: 'rope', hidden: 32, cycles: 1, 'max-segments': 2, batch: Number(values.batch), train: 2000, test: Number(values.test), steps, seed: 1 };
  const run = (await specOf('hrm').createRun({ values: options, given: new Set(Object.keys(options)) })) as TrainingSession;
  const t0 = performance.now();
  await runTraining(run, { steps, evalEvery: steps, progressEvery: Math.max(1, Math.floor(steps / 5)), onProgress: (p) => console.log(`  ${mixer} step ${p.step}: loss ${p.loss.toFixed(3)} ${p.text}`) });
  const trainSeconds = (performance.now() - t0) / 1000;
  const bySize: Record<string, { exact: number; cell: number }> = {};
  await run.withAveragedWeights(async () => {
    for (const size of [Number(values.size), ...values.larger!.split(',').map(Number)]) {
      const task = await loadTask(`maze-${size}`, { train: 1, test: Number(values.test), seed: 8 });
      const model = resizePuzzleModel(run.model, task, `maze-${size}`);
      const r = await evaluatePuzzles(model, toBatch(task.heldOut), { segments: 2 });
      bySize[`maze-${size}`] = { exact: r.exactBySegment.at(-1)!, cell: r.cellBySegment.at(-1)! };
      if (model !== run.model) model.dispose();
    }
  });
  const result = { mixer, parameters: run.model.parameterCount(), steps, trainSeconds, ...bySize };
  console.log(JSON.stringify(result));
  results.push(result);
  writeFileSync(file, JSON.stringify({ adapter: report.description, date, results }, null, 2));
  run.dispose();
}
console.log(`wrote ${file}`);
