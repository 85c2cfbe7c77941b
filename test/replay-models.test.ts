// Replayed training steps of the models (engine/replay.ts through TrainingRun.replay): a run that records its step
// and replays it gives exactly the losses and weights of the eager run (tiny HRM, Transformer, HGRN, ParaLSTM trained by Newton) (the same kernels over the same data in the
// same order: equality is bitwise). H-Net's step reads chunk counts back, and is refused by name.

import { describe, expect, it } from 'vitest';
import { memory, ReplayError } from '../engine/index.ts';
import { specOf, type ModelKind } from '../model/kinds/index.ts';
import type { TrainingRun } from '../model/training.ts';
import { useDevice } from './helpers.ts';

useDevice();

const QUICK: Partial<Record<ModelKind, Record<string, string | number>>> = {
  hrm: { task: 'sudoku-4x4', train: 8, test: 2, batch: 4, hidden: 16, cycles: 1, 'max-segments': 2, seed: 5 },
  transformer: { batch: 2, seq: 32, seed: 5 },
  hgrn: { batch: 2, seq: 32, seed: 5 },
  paralstm: { batch: 2, seq: 32, seed: 5, 'rnn-method': 'newton' },
};

async function train(kind: ModelKind, replay: boolean, steps: number): Promise<{ losses: number[]; weights: Uint8Array; dispatches: number }> {
  const values = { ...QUICK[kind]!, steps };
  const run: TrainingRun = await specOf(kind).createRun({ values, given: new Set(Object.keys(values)) });
  run.replay = replay;
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const metrics = await run.trainStep();
    losses.push((await run.read(metrics)).loss);
    run.release(metrics);
  }
  const weights = await run.weightsFile();
  const dispatches = (run as unknown as { trainer?: { replayedDispatches: number } }).trainer?.replayedDispatches ?? 0;
  run.dispose();
  return { losses, weights, dispatches };
}

describe('replayed training steps', () => {
  for (const kind of Object.keys(QUICK) as ModelKind[]) {
    it(`${kind}: a replayed run gives exactly the eager run's losses and weights`, async () => {
      const steps = 6;
      const eager = await train(kind, false, steps);
      const replayed = await train(kind, true, steps);
      expect(replayed.losses).toEqual(eager.losses);
      expect(Buffer.from(replayed.weights).equals(Buffer.from(eager.weights))).toBe(true);
      if (kind === 'hrm') expect(replayed.dispatches).toBeGreaterThan(50);
    });
  }

  it('hrm: neither eager nor replayed training grows GPU memory (with a weight average)', async () => {
    for (const replay of [false, true]) {
      const values = { ...QUICK.hrm!, ema: 0.99, steps: 30 };
      const run = await specOf('hrm').createRun({ values, given: new Set(Object.keys(values)) });
      run.replay = replay;
      const inUse: number[] = [];
      for (let s = 1; s <= 24; s++) {
        run.release(await run.trainStep());
        if (s % 8 === 0) inUse.push(memory().inUseBytes);
      }
      expect(new Set(inUse).size, `${replay ? 'replayed' : 'eager'}: in-use bytes after steps 8, 16, 24: ${inUse.join(', ')}`).toBe(1);
      run.dispose();
    }
  });

  it('hnet: the step reads chunk counts back, so recording it is refused by name', async () => {
    const values = { batch: 2, seq: 32, seed: 5, steps: 3 };
    const run = await specOf('hnet').createRun({ values, given: new Set(Object.keys(values)) });
    run.replay = true;
    const first = await run.trainStep(); // the warm-up call runs eagerly
    run.release(first);
    const refusal = run.trainStep();
    await expect(refusal).rejects.toThrow(ReplayError);
    await expect(refusal).rejects.toThrow(/hnet training step: a read-back inside a recorded step/);
    run.dispose();
  });
});
