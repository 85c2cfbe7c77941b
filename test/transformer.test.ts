// The byte-level Transformer LM (model/transformer.ts): it learns, its training loop holds GPU memory flat, and
// its checkpoint reproduces its logits exactly.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdamW, loadIntoModule, manualSeed, memory, noGrad, runtime, saveSafetensors, scope, sync, tensor } from '../engine/index.ts';
import { ByteBatcher, bytesOf } from '../model/data/text.ts';
import { trainStep, TransformerLM, type TransformerConfig } from '../model/transformer.ts';
import { temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

const CONFIG: TransformerConfig = { vocab: 256, dim: 32, layers: 1, heads: 2, mlpHidden: 64, maxSeq: 16, ropeBase: 10000, normEps: 1e-6 };
const TEXT = 'the quick brown fox jumps over the lazy dog. '.repeat(20);

function sampledStep(model: TransformerLM, opt: AdamW, data: ByteBatcher) {
  return scope(() => trainStep(model, opt, data.sample()));
}

describe('TransformerLM', () => {
  it('learns a repetitive text: mean next-byte loss below 1.0 nats within 60 steps (from ~5.5)', async () => {
    manualSeed(1);
    const model = new TransformerLM(CONFIG);
    const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
    const data = new ByteBatcher(bytesOf(TEXT), 8, 16, 1);
    let first = 0;
    let last = 0;
    const readbacksBefore = runtime().stats.readbacks;
    for (let step = 1; step <= 60; step++) {
      const loss = sampledStep(model, opt, data);
      if (step === 1) first = await loss.item();
      if (step === 60) last = await loss.item();
      loss.dispose();
    }
    // The only read-backs were the two losses asked for: training steps themselves read nothing.
    expect(runtime().stats.readbacks - readbacksBefore).toBe(2);
    expect(first).toBeGreaterThan(4);
    expect(last).toBeLessThan(1.0);
    model.dispose();
    opt.dispose();
  });

  it('a training loop does not grow GPU memory', async () => {
    manualSeed(2);
    const model = new TransformerLM(CONFIG);
    const opt = new AdamW(model.parameters(), { lr: 1e-3, maxGradNorm: 1 });
    const data = new ByteBatcher(bytesOf(TEXT), 4, 16, 2);
    for (let i = 0; i < 2; i++) sampledStep(model, opt, data).dispose();
    await sync();
    const settled = memory();
    for (let i = 0; i < 10; i++) sampledStep(model, opt, data).dispose();
    await sync();
    expect(memory().totalBytes).toBe(settled.totalBytes);
    expect(memory().inUseBytes).toBe(settled.inUseBytes);
    model.dispose();
    opt.dispose();
  });

  it('a saved checkpoint loads into a fresh model with identical logits', async () => {
    manualSeed(3);
    const model = new TransformerLM(CONFIG);
    const path = join(temporaryDirectory('hiero-lm'), 'lm.safetensors');
    await saveSafetensors(path, model.stateDict(), { config: JSON.stringify(CONFIG) });
    manualSeed(4);
    const fresh = new TransformerLM(CONFIG);
    const metadata = await loadIntoModule(fresh, path);
    expect(JSON.parse(metadata.config)).toEqual(CONFIG);
    const ids = tensor(Int32Array.from(bytesOf('hello world, hi!')), [1, 16], { dtype: 'i32' });
    const [a, b] = noGrad(() => [model.forward(ids), fresh.forward(ids)]);
    expect(Array.from(await b.toArray())).toEqual(Array.from(await a.toArray()));
    expect(fresh.namedParameters().map(([n]) => n)).toContain('blocks.0.attn.qkv.weight');
  });
});
