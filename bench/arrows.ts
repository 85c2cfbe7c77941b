// Arrow-pointing extrapolation (pLSTM paper, Pöppel et al. 2025): classifiers trained on images of one size, tested
// at that size and at 2x and 4x, with pLSTM, ViT-style attention and a raster-order 1D recurrence as the mixer, each
// at the same width, depth, steps and images. A measurement, not a test:
//   npm run bench:arrows -- [--steps 400] [--size 16] [--mixers plstm,attention,raster]
// Results go to bench/results/arrows-<adapter>-<date>.json after every row.

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { init, manualSeed } from '../engine/index.ts';
import { ARROW_MIXERS, ArrowRun, type ArrowMixer } from '../model/arrows.ts';
import { runTraining } from '../model/training.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '400' },
    size: { type: 'string', default: '16' },
    batch: { type: 'string', default: '16' },
    mixers: { type: 'string', default: ARROW_MIXERS.join(',') },
    test: { type: 'string', default: '128' },
    seed: { type: 'string', default: '1' },
  },
});
const [steps, size] = [Number(values.steps), Number(values.size)];
const mixers = values.mixers!.split(',') as ArrowMixer[];
for (const m of mixers) if (!ARROW_MIXERS.includes(m)) throw new Error(`unknown mixer ${m} (${ARROW_MIXERS.join(', ')})`);
const report = await init();
const date = new Date().toISOString().slice(0, 10);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/arrows-${report.software ? 'swiftshader' : 'gpu'}-${date}.json`;
const results: Record<string, unknown>[] = [];
console.log(`adapter: ${report.description}; train at ${size}px, ${steps} steps of ${values.batch}`);
for (const mixer of mixers) {
  manualSeed(Number(values.seed));
  const run = new ArrowRun({
    config: { mixer, patch: 2, dim: 32, layers: 2, heads: 2, mlpHidden: 64, normEps: 1e-5 },
    size, testSizes: [2 * size, 4 * size], train: 4096, test: Number(values.test), batch: Number(values.batch), lr: 3e-3, steps, seed: Number(values.seed),
  });
  const t0 = performance.now();
  const outcome = await runTraining(run, { steps, evalEvery: steps, progressEvery: Math.max(1, Math.floor(steps / 8)), onProgress: (p) => console.log(`  ${mixer} step ${p.step}: loss ${p.loss.toFixed(3)}`) });
  const result = { mixer, parameters: run.model.parameterCount(), steps, trainSize: size, trainSeconds: (performance.now() - t0) / 1000, ...outcome.lastEvaluation?.values, lastLoss: outcome.lastProgress?.loss };
  console.log(JSON.stringify(result));
  results.push(result);
  writeFileSync(file, JSON.stringify({ adapter: report.description, date, results }, null, 2));
  run.dispose();
}
console.log(`wrote ${file}`);
