// Replayed steps (engine/replay.ts, engine/runtime/replay.ts): a replay gives exactly the numbers of the eager step
// (same kernels over the same data in the same order, so equality is bitwise, not a tolerance), host state (step
// counts, schedules, random streams) advances as in eager runs, memory stays flat, and whatever would make a replay
// wrong is refused with a ReplayError that names it. The models' steps are checked in test/replay-models.test.ts.

import { describe, expect, it } from 'vitest';
import {
  AdamW, fusedMap, getRandomState, keep, manualSeed, memory, rand, randn, recordStep, ReplayError, scope, tensor, warmupCosine, type Tensor,
} from '../engine/index.ts';
import { useDevice } from './helpers.ts';

useDevice();

const IN = 6;
const HIDDEN = 10;
const BATCH = 5;

function makeModel(seed: number) {
  manualSeed(seed);
  const w1 = randn([IN, HIDDEN], { std: 0.4, requiresGrad: true });
  const w2 = randn([HIDDEN, 1], { std: 0.4, requiresGrad: true });
  const optimizer = new AdamW([w1, w2], { lr: 0.05, weightDecay: 0.01 });
  optimizer.schedule = warmupCosine({ peak: 0.05, warmup: 3, total: 12 });
  optimizer.maxGradNorm = 1;
  return { w1, w2, optimizer };
}

type Model = ReturnType<typeof makeModel>;

/** Forward with random input noise (a random stream per step), backward, a clipped AdamW step on a schedule. */
function trainStep(m: Model, x: Tensor, y: Tensor): { loss: Tensor } {
  const noisy = x.add(rand([BATCH, IN]).mul(0.1));
  const prediction = noisy.matmul(m.w1).tanh().matmul(m.w2);
  const loss = prediction.sub(y).square().mean();
  loss.backward();
  m.optimizer.step();
  m.optimizer.zeroGrad();
  return { loss: loss.detach() };
}

function batch(step: number): { x: Tensor; y: Tensor } {
  const xs = Array.from({ length: BATCH * IN }, (_, i) => Math.sin(step * 7.1 + i * 0.37));
  const ys = Array.from({ length: BATCH }, (_, i) => Math.cos(step * 3.3 + i));
  return { x: tensor(xs, [BATCH, IN]), y: tensor(ys, [BATCH, 1]) };
}

async function weights(m: Model): Promise<number[]> {
  return [...(await m.w1.toArray()), ...(await m.w2.toArray())];
}

describe('recordStep', () => {
  it('replays a training step (schedule, clipping, random noise) with exactly the eager numbers', async () => {
    const steps = 9;
    const eager = makeModel(3);
    const eagerLosses: number[] = [];
    for (let s = 0; s < steps; s++) {
      const { x, y } = batch(s);
      const { loss } = scope(() => trainStep(eager, x, y));
      eagerLosses.push((await loss.toArray())[0]);
      for (const t of [x, y, loss]) t.dispose();
    }
    const eagerWeights = await weights(eager);
    const eagerRandom = getRandomState();

    const replayed = makeModel(3);
    const step = recordStep((x: Tensor, y: Tensor) => trainStep(replayed, x, y), { name: 'mlp step' });
    const losses: number[] = [];
    const phases: string[] = [];
    for (let s = 0; s < steps; s++) {
      const { x, y } = batch(s);
      phases.push(step.phase);
      const { loss } = await step.run(x, y);
      losses.push((await loss!.toArray())[0]);
      for (const t of [x, y, loss!]) t.dispose();
    }
    expect(phases.slice(0, 4)).toEqual(['warm-up', 'recording', 'recording', 'replaying']);
    expect(step.replays).toBe(steps - 3);
    expect(step.dispatches).toBeGreaterThan(10);
    expect(losses).toEqual(eagerLosses);
    expect(await weights(replayed)).toEqual(eagerWeights);
    expect(replayed.optimizer.stepCount).toBe(steps);
    expect(replayed.optimizer.lr).toBe(eager.optimizer.lr);
    expect(getRandomState()).toEqual(eagerRandom);
    step.dispose();
    for (const m of [eager, replayed]) {
      m.optimizer.dispose();
      m.w1.dispose();
      m.w2.dispose();
    }
  });

  it('carries state through outputs passed back in, and replaying does not grow GPU memory', async () => {
    const decay = tensor([0.5, 0.25, 0.125]);
    const step = recordStep((state: Tensor, input: Tensor) => ({ state: state.mul(decay).add(input) }), { name: 'decay' });
    let state = tensor([0, 0, 0]);
    let expected = [0, 0, 0];
    let inUse = 0;
    for (let s = 0; s < 12; s++) {
      const input = tensor([s, 1, -s]);
      const next = (await step.run(state, input)).state!;
      state.dispose();
      input.dispose();
      state = next;
      expected = expected.map((v, i) => v * [0.5, 0.25, 0.125][i] + [s, 1, -s][i]);
      if (s === 5) inUse = memory().inUseBytes;
    }
    expect(await state.toArray()).toEqual(Float32Array.from(expected));
    expect(memory().inUseBytes).toBe(inUse);
    step.dispose();
    state.dispose();
    decay.dispose();
  });

  it('a kernel whose uniforms take more than one 256-byte slot (a fused map of seven inputs) replays with its own numbers', async () => {
    // Seven leaves make a 320-byte uniform struct: the replay must give it two slots, or the next dispatch's
    // uniforms overwrite its tail (the bug this test was written for: the map then read a wrong shape and wrote nothing).
    const seven = fusedMap('seven', (a, b, c, d, e, f, g) => a.add(b).mul(c).sub(d).add(e.mul(f)).div(g));
    const step = recordStep((x: Tensor) => {
      const y = seven(x, x.add(1), x.mul(2), x, x.sub(3), x, x.add(10));
      return { y: y.add(x) };
    }, { name: 'seven' });
    for (let s = 0; s < 6; s++) {
      const x = tensor([s, s + 0.5, -s]);
      const y = (await step.run(x)).y!;
      const expected = [s, s + 0.5, -s].map((v) => Math.fround(((v + v + 1) * 2 * v - v + (v - 3) * v) / (v + 10) + v));
      const got = Array.from(await y.toArray());
      got.forEach((g, i) => expect(g, `call ${s + 1}, element ${i} (${step.phase})`).toBeCloseTo(expected[i], 5));
      x.dispose();
      y.dispose();
    }
    expect(step.phase).toBe('replaying');
    step.dispose();
  });

  it('refuses a read-back inside the step by name', async () => {
    const x = tensor([1, 2, 3]);
    const step = recordStep(async (a: Tensor) => {
      const total = (await a.sum().toArray())[0];
      return { y: a.mul(total) };
    }, { name: 'reads back', warmup: 0 });
    await expect(step.run(x)).rejects.toThrow(ReplayError);
    await expect(step.run(x)).rejects.toThrow(/reads back: a read-back inside a recorded step/);
    step.dispose();
    x.dispose();
  });

  it('refuses data made inside the step, host numbers baked into kernels and state carried by reassignment', async () => {
    const x = tensor([1, 2, 3]);
    let counter = 0;
    const uploads = recordStep((a: Tensor) => ({ y: a.add(tensor([counter++, 0, 0])) }), { name: 'uploads', warmup: 0 });
    await uploads.run(x);
    await expect(uploads.run(x)).rejects.toThrow(/uploads: upload \d+ inside the step sent other data/);
    await expect(uploads.run(x), 'a refusal stands on later calls').rejects.toThrow(/uploads: upload \d+ inside the step sent other data/);

    const baked = recordStep((a: Tensor) => ({ y: a.mul(++counter) }), { name: 'baked', warmup: 0 });
    await baked.run(x);
    await expect(baked.run(x)).rejects.toThrow(/baked: dispatch \d+ \(mul\) was given other uniform values/);

    let carried = tensor([0, 0, 0]);
    const reassigned = recordStep((a: Tensor) => {
      const next = carried.add(a);
      carried.dispose();
      carried = keep(next.detach());
      return { y: carried.mul(2) };
    }, { name: 'reassigned', warmup: 0 });
    const kept = await reassigned.run(x);
    await expect(reassigned.run(x)).rejects.toThrow(/reassigned: dispatch \d+ \(add\), binding \d, reads a tensor from outside the step that was replaced/);
    for (const s of [uploads, baked, reassigned]) s.dispose();
    kept.y!.dispose();
    carried.dispose();
    x.dispose();
  });

  it('refuses a shape change and a tensor disposed under the recording', async () => {
    const w = tensor([1, 2, 3]);
    const step = recordStep((a: Tensor) => ({ y: a.mul(w) }), { name: 'scaled' });
    const x = tensor([1, 1, 1]);
    for (let s = 0; s < 4; s++) (await step.run(x)).y!.dispose();
    expect(step.phase).toBe('replaying');
    const wrong = tensor([1, 1, 1, 1]);
    await expect(step.run(wrong)).rejects.toThrow(/scaled: argument 1 is \[4\] f32, but the step was recorded for \[3\] f32/);
    w.dispose();
    await expect(step.run(x)).rejects.toThrow(/scaled: a tensor the recorded step reads or writes \(first at dispatch mul\) has been disposed/);
    step.dispose();
    await expect(step.run(x)).rejects.toThrow(/was disposed/);
    x.dispose();
    wrong.dispose();
  });
});
