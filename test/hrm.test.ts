// HRM / TRM (model/hrm.ts, model/hrm-train.ts).

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crossEntropy, loadIntoModule, manualSeed, noGrad, runtime, saveSafetensors, scope, SGD, tensor } from '../engine/index.ts';
import { ACTTrainer, evaluatePuzzles, IGNORE, type PuzzleBatch, type PuzzleSource } from '../model/hrm-train.ts';
import { ffnWidth, HRM, HRM_PAPER, officialName, type HRMConfig } from '../model/hrm.ts';
import { sudokuExample, sudokuSource, sudokuSplit, toBatch } from '../model/tasks/datasets.ts';
import { SUDOKU } from '../model/tasks/sudoku.ts';
import { temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

const TINY: HRMConfig = {
  ...HRM_PAPER, vocab: 6, seqLen: 4, hidden: 8, heads: 2, expansion: 2, ffnMultiple: 8, hLayers: 1, lLayers: 1,
  hCycles: 2, lCycles: 2, haltMaxSteps: 3, haltExploration: 0,
};

const ids = (values: number[]) => tensor(Int32Array.from(values), [values.length / 4, 4], { dtype: 'i32' });

describe('HRM model', () => {
  it('has the paper configuration: 27,275,266 parameters for 9×9 Sudoku', () => {
    const model = new HRM(HRM_PAPER);
    expect(ffnWidth(HRM_PAPER)).toBe(1536);
    expect(model.parameterCount()).toBe(27_275_266);
    model.dispose();
  });

  it('the one-step gradient: backward cost does not grow with N·T, no gradient reaches the no-grad steps', () => {
    const backwardDispatches = (cycles: number) => {
      manualSeed(1);
      const model = new HRM({ ...TINY, hCycles: cycles, lCycles: cycles });
      const carry = model.initialCarry(2);
      let count = 0;
      scope(() => {
        const out = model.segment(carry, ids([2, 3, 4, 5, 5, 4, 3, 2]), null);
        const loss = out.logits.sum().add(out.qHalt.sum());
        const before = runtime().stats.dispatches;
        loss.backward();
        count = runtime().stats.dispatches - before;
        expect(out.carry.zH.requiresGrad).toBe(false);
        out.carry.zH.dispose();
        out.carry.zL.dispose();
      });
      expect((model.L_level.layers[0].mixer as unknown as { qkv: { weight: { grad: unknown } } }).qkv.weight.grad).toBeTruthy();
      model.dispose();
      return count;
    };
    expect(backwardDispatches(3)).toBe(backwardDispatches(1));
  });

  it('finite differences agree with the gradient of the last step (N = T = 1: the segment is that step)', async () => {
    manualSeed(2);
    const model = new HRM({ ...TINY, hCycles: 1, lCycles: 1 });
    const inputs = ids([2, 3, 4, 5]);
    const targets = tensor(Int32Array.from([3, 2, 5, 4]), [1, 4], { dtype: 'i32' });
    const lossOf = () => {
      const carry = model.initialCarry(1);
      const out = model.segment(carry, inputs, null);
      const loss = crossEntropy(out.logits, targets).add(out.qHalt.sum().mul(0.1));
      [carry.zH, carry.zL, out.carry.zH, out.carry.zL].forEach((t) => t.dispose());
      return loss;
    };
    scope(() => lossOf().backward());
    const weight = model.H_level!.layers[0].mlp.down.weight;
    const analytic = await weight.grad!.toArray();
    const values = await weight.toArray();
    // Central differences in f32 with h = 1e-2: forward rounding (~1e-6) / h leaves ~1e-4 of noise, and the
    // O(h²) truncation is far smaller for these smooth functions: atol 2e-3 + 5% relative.
    for (const index of [0, 5, 17, 30]) {
      const at = async (delta: number) => {
        const v = Float32Array.from(values);
        v[index] += delta;
        model.loadStateDict(new Map([...model.stateDict()].map(([n, t]) => [n, n === 'H_level.layers.0.mlp.down_proj.weight' ? tensor(v, weight.shape) : t])));
        const loss = noGrad(() => scope(() => lossOf()));
        const value = await loss.item();
        loss.dispose();
        return value;
      };
      const numeric = ((await at(1e-2)) - (await at(-1e-2))) / 2e-2;
      expect(Math.abs(numeric - analytic[index])).toBeLessThan(2e-3 + 0.05 * Math.abs(analytic[index]));
    }
  });

  it('maps every parameter and buffer onto an official state-dict name, and round-trips a checkpoint', async () => {
    manualSeed(3);
    const model = new HRM({ ...TINY, puzzleEmbedding: true, puzzleIds: 3 });
    const names = [...model.stateDict().keys()].map(officialName);
    expect(names).toContain('model.inner.embed_tokens.embedding_weight');
    expect(names).toContain('model.inner.puzzle_emb.weights');
    expect(names).toContain('model.inner.H_level.layers.0.self_attn.qkv_proj.weight');
    expect(names).toContain('model.inner.L_level.layers.0.mlp.gate_up_proj.weight');
    expect(names).toContain('model.inner.q_head.bias');
    expect(names).toContain('model.inner.H_init');
    expect(Array.from(await model.q_head.bias!.toArray())).toEqual([-5, -5]);
    const path = join(temporaryDirectory('hiero-hrm'), 'hrm.safetensors');
    await saveSafetensors(path, model.stateDict());
    const fresh = new HRM({ ...TINY, puzzleEmbedding: true, puzzleIds: 3 });
    await loadIntoModule(fresh, path);
    const pid = tensor(Int32Array.from([2]), [1], { dtype: 'i32' });
    const a = model.evaluate(ids([2, 3, 4, 5]), pid, 2).logits[1];
    const b = fresh.evaluate(ids([2, 3, 4, 5]), pid, 2).logits[1];
    expect(Array.from(await b.toArray())).toEqual(Array.from(await a.toArray()));
  });
});

/** Candidate batches whose tokens say which call made them: call k gives every token the value 2 + k % 4. */
class CountingSource implements PuzzleSource {
  calls = 0;
  next(batch: number): PuzzleBatch {
    const token = 2 + (this.calls++ % 4);
    return { inputs: new Int32Array(batch * 4).fill(token), labels: new Int32Array(batch * 4).fill(token), puzzleIds: new Int32Array(batch) };
  }
}

describe('ACT bookkeeping', () => {
  it('halts at M_max, refills exactly the halted slots from the new batch and resets their counters', async () => {
    manualSeed(4);
    const model = new HRM({ ...TINY, haltMaxSteps: 2 });
    const source = new CountingSource();
    const trainer = new ACTTrainer(model, new SGD(model.parameters(), { lr: 0 }), source, 3, { loss: 'softmax' });
    const state = async () => {
      const t = trainer as unknown as { halted: { toArray(): Promise<ArrayLike<number>> }; steps: { toArray(): Promise<ArrayLike<number>> }; inputs: { toArray(): Promise<ArrayLike<number>> } };
      return { halted: Array.from(await t.halted.toArray()), steps: Array.from(await t.steps.toArray()), inputs: Array.from(await t.inputs.toArray()) };
    };
    trainer.step(); // every slot starts halted: filled from call 0 (token 2)
    let s = await state();
    expect(s.steps).toEqual([1, 1, 1]);
    expect(s.inputs.every((v) => v === 2)).toBe(true);
    expect(s.halted).toEqual([0, 0, 0]); // Q(halt) = Q(continue) = -5 at init: no early halt
    trainer.step(); // call 1 is drawn but not used: nobody had halted
    s = await state();
    expect(s.inputs.every((v) => v === 2)).toBe(true);
    expect(s.steps).toEqual([2, 2, 2]);
    expect(s.halted).toEqual([1, 1, 1]); // M_max reached
    trainer.step(); // refilled from call 2 (token 4)
    s = await state();
    expect(s.inputs.every((v) => v === 4)).toBe(true);
    expect(s.steps).toEqual([1, 1, 1]);
    trainer.dispose();
  });

  it('halts early where Q(halt) > Q(continue), and keeps the other slots', async () => {
    manualSeed(5);
    const model = new HRM({ ...TINY, haltMaxSteps: 4 });
    // A Q head that reads position 0: halt when its first feature is positive. Inputs differ per slot, so slots differ.
    const source: PuzzleSource = {
      next: (batch) => ({
        inputs: Int32Array.from({ length: batch * 4 }, (_, i) => 2 + (Math.floor(i / 4) % 4)),
        labels: new Int32Array(batch * 4).fill(IGNORE),
        puzzleIds: new Int32Array(batch),
      }),
    };
    const trainer = new ACTTrainer(model, new SGD(model.parameters(), { lr: 0 }), source, 4, { loss: 'softmax' });
    const q = model.q_head;
    q.loadStateDict({ weight: tensor(new Float32Array(2 * 8).map((_, i) => (i < 8 ? (i === 0 ? 20 : 0) : 0)), [2, 8]), bias: tensor([0, 0]) });
    const metrics = trainer.step();
    const halted = Array.from(await (trainer as unknown as { halted: { toArray(): Promise<ArrayLike<number>> } }).halted.toArray());
    // Each slot halts exactly when its own Q(halt) > Q(continue) (= 0), read from the same segment.
    const carry = model.initialCarry(4);
    const out = noGrad(() => model.segment(carry, tensor(source.next(4).inputs, [4, 4], { dtype: 'i32' }), null));
    const qHalt = Array.from(await out.qHalt.toArray());
    expect(halted).toEqual(qHalt.map((v) => (v > 0 ? 1 : 0)));
    expect(await metrics.halted.item()).toBe(halted.reduce((a, b) => a + b, 0));
    trainer.dispose();
  });
});

describe('HRM learns', () => {
  it('4×4 Sudoku: held-out accuracy on the blank cells rises clearly above chance (copying the givens scores 0 there)', async () => {
    manualSeed(6);
    const spec = SUDOKU['4x4'];
    const { train, test } = sudokuSplit(spec, 120, 48, 11);
    // N = T = 1 and two segments: the cheapest HRM that learns within the time a CPU driver allows (about 2 s a step).
    const config: HRMConfig = {
      ...HRM_PAPER, vocab: 6, seqLen: 16, hidden: 32, heads: 2, expansion: 2, ffnMultiple: 16, hLayers: 1, lLayers: 1,
      hCycles: 1, lCycles: 1, haltMaxSteps: 2, haltExploration: 0.1,
    };
    const model = new HRM(config);
    const { AdamW } = await import('../engine/index.ts');
    const opt = new AdamW(model.parameters(), { lr: 1e-2, betas: [0.9, 0.95], weightDecay: 0.1 });
    const trainer = new ACTTrainer(model, opt, sudokuSource(spec, train, 12), 64, { loss: 'softmax' });
    for (let step = 0; step < 60; step++) {
      const m = trainer.step();
      for (const t of Object.values(m)) t.dispose();
    }
    const result = await evaluatePuzzles(model, toBatch(test.map(sudokuExample)), { segments: 2 });
    let blanks = 0;
    let right = 0;
    test.forEach((ex, e) => ex.puzzle.forEach((v, i) => {
      if (v !== 0) return;
      blanks++;
      if (result.predictions[e][i] === ex.solution[i] + 1) right++;
    }));
    const blankAccuracy = right / blanks;
    console.log(`4×4 held-out: blank-cell accuracy ${(100 * blankAccuracy).toFixed(1)}% (chance 25%), all cells ${(100 * result.cellBySegment[1]).toFixed(1)}%, exact ${(100 * result.exactBySegment[1]).toFixed(1)}%`);
    // Measured 35.5% with this seed on SwiftShader; ~560 blank cells put the estimate's standard error near 2%.
    expect(blankAccuracy).toBeGreaterThan(0.31);
    trainer.dispose();
  }, 300_000);
});
