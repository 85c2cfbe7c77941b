// The README's main command: trains a small byte-level Transformer LM on real text (Shakespeare passages shipped
// in model/data) on the GPU, printing the adapter, the loss as it falls, a sample, and the cost of a step.
// Only the printed values are read back from the GPU; the checkpoint is saved atomically as safetensors.

import { mkdirSync, readFileSync } from 'node:fs';
import {
  AdamW, decayGroups, describeAdapter, init, manualSeed, noGrad, runtime, saveSafetensors, scope, softmax, sync,
  tensor, warmupCosine,
} from '../../engine/index.ts';
import { ByteBatcher, bytesOf } from '../../model/data/text.ts';
import { trainStep, TransformerLM, type TransformerConfig } from '../../model/transformer.ts';

export const DEMO_LM: TransformerConfig = { vocab: 256, dim: 64, layers: 2, heads: 4, mlpHidden: 128, maxSeq: 32, ropeBase: 10000, normEps: 1e-6 };

function option(args: string[], name: string, fallback: number): number {
  const found = args.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split('=')[1]) : fallback;
}

/** Samples `count` bytes after `prompt`, re-running the model on the last maxSeq bytes each time. */
async function generate(model: TransformerLM, prompt: string, count: number, temperature: number, seed: number): Promise<string> {
  const bytes = [...bytesOf(prompt)];
  let state = seed;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let i = 0; i < count; i++) {
    const window = bytes.slice(-model.config.maxSeq);
    const probs = await scope(() =>
      noGrad(() => {
        const logits = model.forward(tensor(Int32Array.from(window), [1, window.length], { dtype: 'i32' }));
        const last = logits.slice([0, window.length - 1]).reshape([model.config.vocab]);
        return softmax(last.mul(1 / temperature));
      }),
    ).toArray();
    let r = random();
    let choice = 0;
    for (; choice < probs.length - 1; choice++) {
      r -= probs[choice];
      if (r <= 0) break;
    }
    bytes.push(choice);
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

export async function runDemo(args: string[]): Promise<void> {
  const steps = option(args, 'steps', 100);
  const batch = option(args, 'batch', 8);
  const report = await init();
  console.log(`adapter: ${describeAdapter(report)}`);
  manualSeed(0);
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
  const sample = await generate(model, 'To be', 120, 0.7, 1);
  console.log(`sample (temperature 0.7):\n  ${sample.replace(/\n/g, '\n  ')}`);
  mkdirSync('checkpoints', { recursive: true });
  await saveSafetensors('checkpoints/demo-lm.safetensors', model.stateDict(), { config: JSON.stringify(DEMO_LM), steps: String(steps) });
  console.log('saved checkpoints/demo-lm.safetensors');
}
