// The README's main command: trains a small byte-level Transformer LM on real text (Shakespeare passages shipped
// in model/data) on the GPU, printing the adapter, the loss as it falls, a sample, and the cost of a step.
// Only the printed values are read back from the GPU; the checkpoint is saved as one unit (engine/io/checkpoint.ts).

import { readFileSync } from 'node:fs';
import {
  AdamW, decayGroups, init, manualSeed, noGrad, runtime, sample, saveCheckpoint, scope, serializeTensors, sync, tensor,
  warmupCosine,
} from '../../engine/index.ts';
import { ByteBatcher, bytesOf } from '../../model/data/text.ts';
import { trainStep, TransformerLM, type TransformerConfig } from '../../model/transformer.ts';
import type { CommandSpec, Parsed } from './args.ts';
import { checkOutput, freshDirectory, printAdapter } from './output.ts';

export const DEMO_LM: TransformerConfig = { vocab: 256, dim: 64, layers: 2, heads: 4, mlpHidden: 128, maxSeq: 32, ropeBase: 10000, normEps: 1e-6 };

export const demoSpec: CommandSpec = {
  name: 'demo',
  summary: 'Trains a small byte-level Transformer LM on Shakespeare, printing the loss as it falls, a sample, and the\ncost of a step; saves it as a checkpoint directory.',
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

/** Samples `count` bytes after `prompt`, re-running the model on the last maxSeq bytes each time (tokens drawn on the GPU). */
async function generate(model: TransformerLM, prompt: string, count: number, temperature: number, seed: number): Promise<string> {
  const bytes = [...bytesOf(prompt)];
  for (let i = 0; i < count; i++) {
    const window = bytes.slice(-model.config.maxSeq);
    const token = scope(() =>
      noGrad(() => {
        const logits = model.forward(tensor(Int32Array.from(window), [1, window.length], { dtype: 'i32' }));
        return sample(logits.slice([0, window.length - 1]).reshape([model.config.vocab]), { temperature, seed, stream: i });
      }),
    );
    bytes.push((await token.toArray())[0]);
    token.dispose();
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

export async function demo(p: Parsed): Promise<number> {
  const steps = p.values.steps as number;
  const batch = p.values.batch as number;
  const out = (p.values.out as string | undefined) ?? (await freshDirectory('checkpoints/demo-lm'));
  await checkOutput(out, Boolean(p.values.force));
  printAdapter(await init());
  manualSeed(p.values.seed as number);
  const text = readFileSync(new URL('../../model/data/shakespeare.txt', import.meta.url), 'utf8');
  const model = new TransformerLM(DEMO_LM);
  const data = new ByteBatcher(bytesOf(text), batch, DEMO_LM.maxSeq, 7);
  const schedule = warmupCosine({ peak: 3e-3, warmup: 10, total: steps, min: 3e-4 });
  const opt = new AdamW(decayGroups(model.namedParameters()), { lr: schedule(1), weightDecay: 0.01, maxGradNorm: 1 });
  console.log(
    `model: byte-level Transformer, ${DEMO_LM.layers} layers, dim ${DEMO_LM.dim}, ${DEMO_LM.heads} heads, ` +
      `${model.parameterCount().toLocaleString('en')} parameters; ${text.length} bytes of Shakespeare; batch ${batch} x ${DEMO_LM.maxSeq}; ${steps} steps`,
  );
  const start = performance.now();
  let stepDispatches = 0;
  for (let step = 1; step <= steps; step++) {
    opt.lr = schedule(step);
    const before = runtime().stats.dispatches;
    const loss = scope(() => trainStep(model, opt, data.sample()));
    stepDispatches = runtime().stats.dispatches - before;
    if (step === 1 || step % 10 === 0 || step === steps) {
      const value = await loss.item();
      const elapsed = (performance.now() - start) / 1000;
      console.log(`step ${String(step).padStart(4)}  loss ${value.toFixed(3)}  lr ${opt.lr.toExponential(1)}  ${elapsed.toFixed(1)} s`);
    }
    loss.dispose();
  }
  await sync();
  const total = (performance.now() - start) / 1000;
  console.log(`training: ${(total / steps * 1000).toFixed(0)} ms per step, ${stepDispatches} dispatches per step, ${runtime().stats.submits} submits in all`);
  if ((p.values.sample as number) > 0) {
    const text = await generate(model, 'To be', p.values.sample as number, 0.7, 1);
    console.log(`sample (temperature 0.7):\n  ${text.replace(/\n/g, '\n  ')}`);
  }
  const weights = await serializeTensors(model.stateDict(), { config: JSON.stringify(DEMO_LM), step: String(steps) });
  await saveCheckpoint(out, 'lm', steps, [{ role: 'weights', extension: 'safetensors', bytes: weights }]);
  console.log(`saved ${out}`);
  return 0;
}
