// Whole models: one training step (forward, backward, AdamW) and inference throughput, with the dispatches and
// submits each costs. Timed by wall clock to queue completion, since a step's cost includes encoding it.

import { AdamW, memory, noGrad, recordStep, resetPeakMemory, runtime, scope, sync, tensor, type Tensor } from '../engine/index.ts';
import { HRM, HRM_PAPER } from '../model/hrm.ts';
import { ACTTrainer, makeOptimizer } from '../model/hrm-train.ts';
import { sudokuSource, sudokuSplit, sudokuVocab } from '../model/tasks/datasets.ts';
import { SUDOKU } from '../model/tasks/sudoku.ts';
import { HNET_PRESETS, type HNetLM } from '../model/hnet.ts';
import { TextSession } from '../model/text-session.ts';
import { generateText } from '../model/text-generate.ts';
import { RecurrentLM, TINY_RECURRENT } from '../model/recurrent-lm.ts';
import { MODEL_KINDS } from '../model/kinds/index.ts';
import { TRANSFORMER_PRESETS } from '../model/kinds/transformer.ts';
import { trainStep, TransformerLM } from '../model/transformer.ts';
import type { BenchRow, Sizes } from '../engine/measure/types.ts';

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
  const DEMO_LM = TRANSFORMER_PRESETS.tiny;
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
    if (m.name === 'Transformer LM') {
      const host = await hostCost(() => scope(() => void trainStep(model, opt, { ids: x, targets: y })), Math.max(5, reps * 3));
      rows.push({ section: 'models', name: 'host µs per dispatch', shape: `${m.name} train step, ${host.dispatches} dispatches`, ms: host.medianMs, value: (1000 * host.medianMs) / host.dispatches, unit: 'µs', dispatches: host.dispatches, note: 'CPU time to encode, the GPU idle' });
    }
    const infer = await wallClock(() => scope(() => void noGrad(() => model.forward(x))), reps);
    rows.push({ section: 'models', name: `${m.name} forward`, shape, ms: infer.medianMs, value: tokens / (infer.medianMs / 1000), unit: 'tokens/s', dispatches: infer.dispatches, submits: infer.submits });
    const count = Math.max(4, Math.min(32, seq));
    const gen = await wallClock(async () => void (await generateText(model, [Uint8Array.of(116, 104)], { count, temperature: 0 })), Math.max(1, Math.floor(reps / 2)));
    const state = model instanceof RecurrentLM ? 'O(1) state' : 'KV cache';
    rows.push({ section: 'models', name: `${m.name} step-mode decoding`, shape: `batch 1, ${count} bytes`, ms: gen.medianMs, value: count / (gen.medianMs / 1000), unit: 'tokens/s', dispatches: gen.dispatches, submits: gen.submits, note: `${state}; tokens drawn on the GPU, read every 16 bytes` });
    if (m.name === 'Transformer LM') {
      // Last for this model: eager steps after a recording would free what it holds (and be refused).
      const recorded = recordStep((a: Tensor, b: Tensor) => ({ loss: trainStep(model, opt, { ids: a, targets: b }) }), { name: 'bench train step' });
      const replay = async () => (await recorded.run(x, y)).loss!.dispose();
      const host = await hostCost(replay, Math.max(5, reps * 3));
      rows.push({ section: 'models', name: 'host µs per dispatch, replayed', shape: `${m.name} train step, ${host.dispatches} dispatches`, ms: host.medianMs, value: (1000 * host.medianMs) / host.dispatches, unit: 'µs', dispatches: host.dispatches, note: 'recordStep: one submit of the recorded dispatches' });
      recorded.dispose();
    }
    x.dispose();
    y.dispose();
    opt.dispose();
    model.dispose();
  }
  if (want('H-Net')) rows.push(...(await hnetRows(sizes, reps)));
  if (sizes.hrmBatch > 0 && want('HRM paper segment')) rows.push(await hrmSegmentRow(sizes.hrmBatch, reps));
  return rows;
}

/** The tiny H-Net preset: one training step (with its count read-backs) and batched generation, in bytes/s. */
async function hnetRows(sizes: Sizes, reps: number): Promise<BenchRow[]> {
  const seq = Math.max(16, sizes.modelSeq * 4);
  const batch = sizes.modelBatch;
  const session = TextSession.create(MODEL_KINDS.hnet, { model: 'hnet', preset: 'tiny', config: HNET_PRESETS.tiny, corpus: 'english', seq, batch, lr: 3e-3, warmup: 1, totalSteps: 100, weightDecay: 0.1, seed: 1 });
  const step = async () => {
    const m = await session.step();
    session.release(m);
  };
  const train = await wallClock(step, reps);
  const rows: BenchRow[] = [{
    section: 'models', name: 'H-Net train step', shape: `tiny, ${session.model.parameterCount().toLocaleString('en')} params, batch ${batch}×${seq} bytes`,
    ms: train.medianMs, value: (batch * seq) / (train.medianMs / 1000), unit: 'bytes/s', dispatches: train.dispatches, submits: train.submits,
    note: 'one count read-back per chunking stage',
  }];
  const prompts = Array.from({ length: batch }, (_, i) => new TextEncoder().encode(['The ', 'It was ', 'Once ', 'In the '][i % 4]));
  const count = Math.max(8, Math.min(32, seq));
  const gen = await wallClock(async () => void (await generateText(session.model as HNetLM, prompts, { count, temperature: 0.8 })), Math.max(1, Math.floor(reps / 2)));
  rows.push({
    section: 'models', name: 'H-Net generation', shape: `tiny, ${batch} prompts × ${count} bytes`, ms: gen.medianMs,
    value: (batch * count) / (gen.medianMs / 1000), unit: 'bytes/s', dispatches: gen.dispatches, submits: gen.submits,
    note: 'batched; KV cache steps on boundaries only',
  });
  session.dispose();
  return rows;
}

/**
 * Host cost: the CPU time of encoding `run` (its dispatches recorded, nothing waited for) while the GPU is idle,
 * median of `reps`. What a GPU-bound step costs on top of its kernels.
 */
export async function hostCost(run: () => void | Promise<void>, reps: number): Promise<{ medianMs: number; dispatches: number }> {
  const rt = runtime();
  await run();
  await sync();
  const times: number[] = [];
  let dispatches = 0;
  for (let i = 0; i < reps; i++) {
    await sync();
    const before = rt.stats.dispatches;
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
    dispatches = rt.stats.dispatches - before;
  }
  await sync();
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)], dispatches };
}

/**
 * One ACT training segment of the paper's HRM (27M parameters, 9×9 Sudoku): forward through N·T steps with the
 * one-step gradient, the bootstrapped Q target's extra segment, backward and AdamW, as in the PyTorch comparison
 * of issue 10. Samples/s and the peak GPU memory Hiero held.
 */
export async function hrmSegmentRow(batch: number, reps: number): Promise<BenchRow> {
  const spec = SUDOKU['9x9'];
  const split = sudokuSplit(spec, 16, 0, 1);
  const model = new HRM({ ...HRM_PAPER, vocab: sudokuVocab(spec) });
  const opt = makeOptimizer(model, { lr: 1e-4, weightDecay: 1 });
  const trainer = new ACTTrainer(model, opt, sudokuSource(spec, split.train, 2), batch, { loss: 'softmax' });
  const step = () => {
    const metrics = trainer.step();
    for (const t of Object.values(metrics)) t.dispose();
  };
  // The peak of this workload alone: other rows' pooled buffers go first.
  await sync();
  runtime().emptyPool();
  resetPeakMemory();
  const timed = await wallClock(step, Math.max(1, Math.min(reps, 3)));
  const { peakBytes: peak, peakInUseBytes: peakInUse } = memory();
  trainer.dispose();
  opt.dispose();
  model.dispose();
  return {
    section: 'models', name: 'HRM paper segment', shape: `27.3M params, 9×9 Sudoku, batch ${batch}`, ms: timed.medianMs,
    value: batch / (timed.medianMs / 1000), unit: 'samples/s', dispatches: timed.dispatches, submits: timed.submits,
    note: `peak GPU memory ${(peak / 2 ** 20).toFixed(0)} MiB held, ${(peakInUse / 2 ** 20).toFixed(0)} MiB in live tensors`,
  };
}
