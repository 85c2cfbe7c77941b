// `npm run demo`: the tiny byte Transformer (the transformer kind's tiny preset) trained on the Shakespeare passages
// shipped in model/data, through the one training loop, printing the adapter, the loss as it falls, a sample, and
// the cost of a step. Its checkpoint is a transformer checkpoint like any other: `hiero generate` and the worker load it.

import { init, runtime } from '../../engine/index.ts';
import { MODEL_KINDS } from '../../model/kinds/index.ts';
import { generateText } from '../../model/text-generate.ts';
import { runTraining } from '../../model/training.ts';
import type { ByteLM } from '../../model/text-model.ts';
import type { TextSession } from '../../model/text-session.ts';
import type { CommandSpec, Parsed } from './args.ts';
import { checkOutput, freshDirectory, printAdapter } from './output.ts';

/** The demo's recipe: windows of 32 bytes, a short warm-up, light weight decay. */
export const DEMO_RECIPE = { seq: 32, lr: 3e-3, warmup: 10, 'weight-decay': 0.01 } as const;

export const demoSpec: CommandSpec = {
  name: 'demo',
  summary: 'Trains a small byte-level Transformer LM on Shakespeare, printing the loss as it falls, a sample, and the\ncost of a step; saves it as a checkpoint directory (hiero generate --checkpoint DIR continues it).',
  positionals: '',
  options: {
    steps: { type: 'integer', min: 1, max: 1e6, default: 100, help: 'training steps' },
    batch: { type: 'integer', min: 1, max: 4096, default: 8, help: 'sequences of 32 bytes per step' },
    seed: { type: 'integer', min: 0, max: 2 ** 32 - 1, default: 0, help: 'seed of the initial weights and batches' },
    sample: { type: 'integer', min: 0, max: 100000, default: 120, help: 'bytes of text to generate after training' },
    out: { type: 'string', help: 'checkpoint directory (default checkpoints/demo-lm, numbered if taken)', value: 'DIR' },
    force: { type: 'boolean', help: 'replace the checkpoint in --out if there is one' },
  },
};

export async function demo(p: Parsed): Promise<number> {
  const steps = p.values.steps as number;
  const out = (p.values.out as string | undefined) ?? (await freshDirectory('checkpoints/demo-lm'));
  await checkOutput(out, Boolean(p.values.force));
  printAdapter(await init());
  const values = { ...DEMO_RECIPE, corpus: 'shakespeare', steps, batch: p.values.batch as number, seed: p.values.seed as number };
  const run = (await MODEL_KINDS.transformer.createRun({ values, given: new Set(Object.keys(values)) })) as TextSession;
  console.log(`${run.describe()[0]}; ${steps} steps`);
  const before = runtime().stats.dispatches;
  const outcome = await runTraining(run, {
    steps, evalEvery: steps, progressEvery: 10,
    onProgress: (q) => {
      console.log(`step ${String(q.step).padStart(4)}  loss ${q.loss.toFixed(3)}  lr ${run.optimizer.lr.toExponential(1)}  ${q.text}`);
      if (q.evaluation) console.log(`held-out: ${q.evaluation.text}`);
    },
    save: async () => void (await run.save(out)),
  });
  const perStep = (runtime().stats.dispatches - before) / steps;
  console.log(`training: ${((outcome.seconds / steps) * 1000).toFixed(0)} ms per step, ${perStep.toFixed(0)} dispatches per step (held-out evaluation included), ${runtime().stats.submits} submits in all`);
  const count = p.values.sample as number;
  if (count > 0) {
    const [continuation] = await generateText(run.model as ByteLM, [new TextEncoder().encode('To be')], { count, temperature: 0.7, seed: 1 });
    console.log(`sample (temperature 0.7):\n  ${`To be${new TextDecoder().decode(continuation)}`.replace(/\n/g, '\n  ')}`);
  }
  run.dispose();
  console.log(`saved ${out}`);
  return 0;
}
