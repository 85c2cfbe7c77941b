// Gated linear recurrent layers (model/glr.ts) and the recurrent byte LM (model/recurrent-lm.ts).

import { describe, expect, it } from 'vitest';
import { AdamW, manualSeed, memory, noGrad, scope, sync, tensor } from '../engine/index.ts';
import { ByteBatcher, bytesOf } from '../model/data/text.ts';
import { RecurrentLM, type RecurrentConfig } from '../model/recurrent-lm.ts';
import { generateText } from '../model/text-generate.ts';
import { disposeState } from '../model/mixers.ts';
import { trainStep } from '../model/transformer.ts';
import { expectClose, useDevice } from './helpers.ts';

useDevice();

const HGRN: RecurrentConfig = { vocab: 256, dim: 16, layers: 2, mixer: 'hgrn', convKernel: 4, mlpHidden: 32, normEps: 1e-6 };
const MINGRU: RecurrentConfig = { ...HGRN, mixer: 'mingru', convKernel: 0, mlpHidden: 0 };
const TEXT = 'the quick brown fox jumps over the lazy dog. '.repeat(20);

describe('recurrent LM', () => {
  for (const config of [HGRN, MINGRU]) {
    it(`${config.mixer}: decoding token by token (O(1) state) gives the logits of the full sequence`, async () => {
      manualSeed(5);
      const model = new RecurrentLM(config);
      const bytes = bytesOf('recurrent!');
      const full = await noGrad(() => model.forward(tensor(Int32Array.from(bytes), [1, bytes.length], { dtype: 'i32' }))).toArray();
      const state = model.initialState(1);
      for (let t = 0; t < bytes.length; t++) {
        const logits = model.decode(tensor(Int32Array.of(bytes[t]), [1], { dtype: 'i32' }), state);
        // Same math in a different order (a parallel scan vs one step): f32 rounding, ~1e-6 of logits of size ~1.
        expectClose(await logits.toArray(), full.slice(t * 256, (t + 1) * 256), { atol: 2e-5, rtol: 1e-4 }, `${config.mixer} step ${t}`);
        logits.dispose();
      }
      // Greedy generation (tokens drawn and fed back on the GPU, read in chunks) equals stepping by hand with argmax.
      const streamed: number[] = [];
      const [continuation] = await generateText(model, [bytesOf('the')], { count: 5, temperature: 0, chunk: 2, onBytes: (_row, b) => streamed.push(...b) });
      const generated = Uint8Array.from([...bytesOf('the'), ...continuation]);
      expect(generated.length).toBe(8);
      expect(streamed).toEqual(Array.from(generated.slice(3)));
      const byHand = model.initialState(1);
      let last: Float32Array | Int32Array | Uint32Array = new Float32Array(0);
      for (const byte of bytesOf('the')) last = await model.decode(tensor(Int32Array.of(byte), [1], { dtype: 'i32' }), byHand).toArray();
      for (let n = 0; n < 5; n++) {
        const best = last.indexOf(Math.max(...last));
        expect(generated[3 + n], `greedy byte ${n}`).toBe(best);
        last = await model.decode(tensor(Int32Array.of(best), [1], { dtype: 'i32' }), byHand).toArray();
      }
      disposeState([state, byHand]);
      model.dispose();
    });
  }

  it('hgrn: lower bounds grow with depth and layer 0 has none', async () => {
    const model = new RecurrentLM(HGRN);
    expect(model.lowerBounds!.shape).toEqual([2, 16]);
    expect(model.namedParameters().map(([n]) => n)).toContain('blocks.1.mixer.conv_weight');
    model.dispose();
  });

  it('hgrn learns a repetitive text: loss below 1.2 nats within 80 steps', async () => {
    manualSeed(6);
    const model = new RecurrentLM({ ...HGRN, dim: 32, layers: 1, mlpHidden: 64 });
    const opt = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0 });
    const data = new ByteBatcher(bytesOf(TEXT), 8, 16, 3);
    let first = 0;
    let last = 0;
    for (let step = 1; step <= 80; step++) {
      const loss = scope(() => trainStep(model, opt, data.sample()));
      if (step === 1) first = await loss.item();
      if (step === 80) last = await loss.item();
      loss.dispose();
    }
    expect(first).toBeGreaterThan(4);
    expect(last).toBeLessThan(1.2);
    model.dispose();
    opt.dispose();
  });

  it('a training loop does not grow GPU memory', async () => {
    manualSeed(7);
    const model = new RecurrentLM(HGRN);
    const opt = new AdamW(model.parameters(), { lr: 1e-3, maxGradNorm: 1 });
    const data = new ByteBatcher(bytesOf(TEXT), 4, 16, 4);
    for (let i = 0; i < 2; i++) scope(() => trainStep(model, opt, data.sample())).dispose();
    await sync();
    const settled = memory();
    for (let i = 0; i < 8; i++) scope(() => trainStep(model, opt, data.sample())).dispose();
    await sync();
    expect(memory().totalBytes).toBe(settled.totalBytes);
    model.dispose();
    opt.dispose();
  });
});
