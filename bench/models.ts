// Whole models: one training step (forward, backward, AdamW) and inference throughput, with the dispatches and
// submits each costs. Timed by wall clock to queue completion, since a step's cost includes encoding it.

import { AdamW, noGrad, runtime, scope, sync, tensor } from '../engine/index.ts';
import { RecurrentLM, TINY_RECURRENT } from '../model/glr.ts';
import { trainStep, TransformerLM } from '../model/transformer.ts';
import { DEMO_LM } from '../apps/cli/demo.ts';
import type { BenchRow, Sizes } from './types.ts';

export interface WallClock {
  medianMs: number;
  dispatches: number;
  submits: number;
}

export async function wallClock(run: () => void | Promise<void>, reps: number, warmup = 1): Promise<WallClock> {
  const rt = runtime();
  for (let i = 0; i < warmup; i++) {
    await run();
    await sync();
  }
  const times: number[] = [];
  let dispatches = 0;
  let submits = 0;
  for (let i = 0; i < reps; i++) {
    const before = { ...rt.stats };
    const t0 = performance.now();
    await run();
    await sync();
    times.push(performance.now() - t0);
    dispatches = rt.stats.dispatches - before.dispatches;
    submits = rt.stats.submits - before.submits;
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)], dispatches, submits };
}

function ids(batch: number, seq: number, seed: number) {
  return tensor(Int32Array.from({ length: batch * seq }, (_, i) => (i * 31 + seed * 7) % 256), [batch, seq], { dtype: 'i32' });
}

export async function modelRows(sizes: Sizes, reps: number, want: (name: string) => boolean): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const { modelBatch: batch, modelSeq: seq } = sizes;
  const tokens = batch * seq;
  const models = [
    { name: 'Transformer LM', config: `${DEMO_LM.layers}L d${DEMO_LM.dim} h${DEMO_LM.heads}`, make: () => new TransformerLM({ ...DEMO_LM, maxSeq: seq }) },
    { name: 'HGRN LM', config: `${TINY_RECURRENT.layers}L d${TINY_RECURRENT.dim} conv${TINY_RECURRENT.convKernel}`, make: () => new RecurrentLM(TINY_RECURRENT) },
  ];
  for (const m of models) {
    if (!want(m.name)) continue;
    const model = m.make();
    const opt = new AdamW(model.parameters(), { lr: 1e-3, maxGradNorm: 1 });
    const x = ids(batch, seq, 1);
    const y = ids(batch, seq, 2);
    const shape = `${m.config}, ${model.parameterCount().toLocaleString('en')} params, batch ${batch}×${seq}`;
    const train = await wallClock(() => scope(() => void trainStep(model, opt, { ids: x, targets: y })), reps);
    rows.push({ section: 'models', name: `${m.name} train step`, shape, ms: train.medianMs, value: tokens / (train.medianMs / 1000), unit: 'tokens/s', dispatches: train.dispatches, submits: train.submits });
    const infer = await wallClock(() => scope(() => void noGrad(() => model.forward(x))), reps);
    rows.push({ section: 'models', name: `${m.name} forward`, shape, ms: infer.medianMs, value: tokens / (infer.medianMs / 1000), unit: 'tokens/s', dispatches: infer.dispatches, submits: infer.submits });
    if (model instanceof RecurrentLM) {
      const count = Math.max(4, Math.min(32, seq));
      const gen = await wallClock(async () => void (await model.generate(Uint8Array.of(116, 104), count, { temperature: 0 })), Math.max(1, Math.floor(reps / 2)));
      rows.push({ section: 'models', name: `${m.name} step-mode decoding`, shape: `batch 1, ${count} bytes`, ms: gen.medianMs, value: count / (gen.medianMs / 1000), unit: 'tokens/s', dispatches: gen.dispatches, submits: gen.submits, note: 'O(1) state; one read-back per byte' });
    }
    x.dispose();
    y.dispose();
    opt.dispose();
    model.dispose();
  }
  return rows;
}
