// HRM-Text (model/hrm-text.ts): the module-call schedule and backprop window, MagicNorm's bounded states, PrefixLM
// through the model, and decoding with a KV cache per module call equal to the parallel forward.

import { describe, expect, it } from 'vitest';
import { manualSeed, noGrad, scope, tensor } from '../engine/index.ts';
import { backpropWindow, HRMTextLM, moduleCalls, type HRMTextConfig } from '../model/hrm-text.ts';
import { disposeState } from '../model/mixers.ts';
import { expectClose, useDevice } from './helpers.ts';
import { hrmTextKind } from '../model/kinds/hrm-text.ts';

useDevice();

const CONFIG: HRMTextConfig = {
  vocab: 256, dim: 16, heads: 2, hLayers: 1, lLayers: 1, hCycles: 2, lCalls: 3, mlpHidden: 24, ropeBase: 10000, normEps: 1e-5,
  mask: 'prefix', architecture: 'hrm', bp: { from: 2, to: 5, warmup: 0.2 }, magicNorm: true,
};

const bytes = (text: string) => Int32Array.from(new TextEncoder().encode(text));

describe('HRM-Text', () => {
  it("the paper's schedule: 2 H-cycles of 3 L calls and 1 H call; the backprop window ramps from 2 to 5", () => {
    expect(moduleCalls(CONFIG).join('')).toBe('LLLHLLLH');
    expect([0, 0.05, 0.1, 0.2, 0.9].map((p) => backpropWindow(CONFIG, p))).toEqual([2, 3, 4, 5, 5]);
    expect(backpropWindow({ ...CONFIG, bp: { from: 1, to: 1, warmup: 0 } }, 0.5), 'a window holds at least one L call').toBe(2);
  });

  for (const [mask, architecture, magicNorm] of [['prefix', 'hrm', true], ['causal', 'hrm', true], ['prefix', 'transformer', true], ['prefix', 'hrm', false]] as const) {
    it(`${architecture}, ${mask}${magicNorm ? '' : ', no MagicNorm'}: decoding after the prompt's prefill gives the parallel forward's logits`, async () => {
      manualSeed(3);
      const model = new HRMTextLM({ ...CONFIG, mask, architecture, magicNorm });
      const text = 'add 2 3\n5\n';
      const prompt = 'add 2 3\n'.length;
      const ids = tensor(bytes(text), [1, text.length], { dtype: 'i32' });
      const whole = await noGrad(() => model.forward(ids)).toArray();
      const state = model.initialState(1, text.length);
      const first = await model.prefill(tensor(bytes(text.slice(0, prompt)), [1, prompt], { dtype: 'i32' }), state);
      const at = (t: number) => Array.from(whole.subarray(t * 256, (t + 1) * 256));
      expectClose(await first.toArray(), at(prompt - 1), { atol: 2e-5, rtol: 1e-4 }, 'after the prompt');
      for (let t = prompt; t < text.length; t++) {
        const logits = model.decode(tensor(bytes(text[t]), [1], { dtype: 'i32' }), state);
        expectClose(await logits.toArray(), at(t), { atol: 2e-5, rtol: 1e-4 }, `position ${t}`);
        logits.dispose();
      }
      disposeState(state);
      ids.dispose();
    });
  }

  it('PrefixLM: the instruction is seen both ways (an instruction byte changes the logits before it), the response causally', async () => {
    manualSeed(4);
    for (const mask of ['prefix', 'causal'] as const) {
      const model = new HRMTextLM({ ...CONFIG, mask });
      const run = async (text: string) => noGrad(() => model.forward(tensor(bytes(text), [1, text.length], { dtype: 'i32' }))).toArray();
      const [a, b] = [await run('abcd\nxy'), await run('abcz\nxy')];
      const changedEarly = a.subarray(0, 256).some((v, i) => v !== b[i]);
      expect(changedEarly, `${mask}: the first position's logits depend on the 4th instruction byte`).toBe(mask === 'prefix');
      const [c, d] = [await run('abcd\nxy'), await run('abcd\nxz')];
      expect(c.subarray(0, 6 * 256)).toEqual(d.subarray(0, 6 * 256)); // a later response byte never reaches back
    }
  });

  it('MagicNorm off leaves the states unnormalised between calls: the same weights give other logits', async () => {
    const logitsOf = async (magicNorm: boolean) => {
      manualSeed(6);
      const model = new HRMTextLM({ ...CONFIG, magicNorm });
      const out = await noGrad(() => model.forward(tensor(bytes('abc\nd'), [1, 5], { dtype: 'i32' }))).toArray();
      model.dispose();
      return out;
    };
    const [on, off] = [await logitsOf(true), await logitsOf(false)];
    expect(on.every(Number.isFinite) && off.every(Number.isFinite)).toBe(true);
    expect(on.some((v, i) => Math.abs(v - off[i]) > 1e-4)).toBe(true);
  });

  it('a config saved before --magic-norm existed loads with MagicNorm on; a wrong value is named', () => {
    const { magicNorm: _, ...saved } = CONFIG;
    expect(hrmTextKind.validate(saved).magicNorm).toBe(true);
    expect(() => hrmTextKind.validate({ ...CONFIG, magicNorm: 'yes' })).toThrow(/magicNorm must be true or false, got "yes"/);
  });

  it('gradients reach every parameter through the narrowest backprop window (the last L and H calls)', async () => {
    manualSeed(5);
    const model = new HRMTextLM(CONFIG);
    model.progress = 0; // the narrowest window: the last L and H calls
    const ids = tensor(bytes('sort 3 1 2\n1 2 3\n'), [1, 17], { dtype: 'i32' });
    scope(() => model.forward(ids).square().mean().backward());
    for (const [name, p] of model.namedParameters()) expect(p.grad, `${name} has a gradient`).not.toBeNull();
    ids.dispose();
  });
});
