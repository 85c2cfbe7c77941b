// HiSS (model/hiss.ts), its sensor data (model/data/sensors.ts) and its training session (model/sensor-session.ts).
// The kind's train/save/load/resume/eval/worker path is walked with every other kind in test/kinds.test.ts.

import { describe, expect, it } from 'vitest';
import { manualSeed, memory, noGradAsync, tensor } from '../engine/index.ts';
import { SENSOR_TASK_INFO, SENSOR_TASKS, SensorError, sensorStreams } from '../model/data/sensors.ts';
import { HiSS, predictionTimes, type HiSSConfig } from '../model/hiss.ts';
import { HISS_PRESETS, hissKind, validateHiSS } from '../model/kinds/hiss.ts';
import { predictStream, SensorSession } from '../model/sensor-session.ts';
import { runTraining } from '../model/training.ts';
import { expectClose, useDevice } from './helpers.ts';

useDevice();

const TINY: HiSSConfig = HISS_PRESETS.tiny.config;

describe('sensor streams', () => {
  it('are a pure function of task, split and index; splits differ; a small training set is a prefix of a larger one', () => {
    for (const task of SENSOR_TASKS) {
      const info = SENSOR_TASK_INFO[task];
      const [a] = sensorStreams(task, 'train', 1, 64);
      const again = sensorStreams(task, 'train', 3, 64);
      expect(Array.from(again[0].inputs)).toEqual(Array.from(a.inputs));
      expect(a.inputs.length).toBe(64 * info.channelsIn);
      expect(a.targets.length).toBe(64 * info.channelsOut);
      expect([...a.inputs, ...a.targets].every(Number.isFinite)).toBe(true);
      const [held] = sensorStreams(task, 'held-out', 1, 64);
      expect(Array.from(held.inputs)).not.toEqual(Array.from(a.inputs));
      expect(Array.from(sensorStreams(task, 'train', 1, 64, 2)[0].targets)).toEqual(Array.from(again[2].targets));
    }
  });

  it('IMU: the body starts at rest, and the accelerometer integrates to the target speed (up to bias and noise)', () => {
    const [s] = sensorStreams('imu', 'train', 1, 200);
    expect(Math.hypot(s.targets[0], s.targets[1], s.targets[2])).toBeLessThan(0.05);
    // Speed from the target differs from a plain integral of the forward accelerometer only through turning, bias
    // and noise: check the magnitudes are of one scale, a sanity bound on the generator, not an identity.
    const speed = Math.hypot(s.targets[199 * 3], s.targets[199 * 3 + 1]);
    expect(speed).toBeGreaterThan(0.05);
    expect(speed).toBeLessThan(3);
  });
});

describe('the HiSS model', () => {
  const config = (over: Partial<HiSSConfig>): HiSSConfig => validateHiSS({ ...TINY, channelsIn: 6, channelsOut: 3, chunk: 4, ...over });

  it('predicts at the chunk rate or at every sample, hierarchical or flat, and every variant is causal', async () => {
    const length = 16;
    const [stream] = sensorStreams('imu', 'held-out', 1, length);
    for (const hierarchy of ['hiss', 'flat'] as const) {
      for (const output of ['chunk', 'upsampled'] as const) {
        manualSeed(3);
        const model = new HiSS(config({ hierarchy, output }));
        const times = predictionTimes(model.config, length);
        const run = (inputs: Float32Array) => noGradAsync(async () => {
          const out = model.forward(tensor(inputs, [1, length, 6]));
          expect(out.shape).toEqual([1, times.length, 3]);
          const values = await out.toArray();
          out.dispose();
          return values;
        });
        const base = await run(stream.inputs);
        // Changing the readings from sample 9 on must leave every prediction for an earlier sample as it was.
        const changed = Float32Array.from(stream.inputs, (v, i) => (i >= 9 * 6 ? v + 1 : v));
        const after = await run(changed);
        times.forEach((t, p) => {
          const a = Array.from(base.subarray(p * 3, p * 3 + 3)), b = Array.from(after.subarray(p * 3, p * 3 + 3));
          if (t < 9) expectClose(b, a, { atol: 1e-6, rtol: 0 }, `${hierarchy}/${output}: prediction for sample ${t}`);
          else if (t === times.at(-1)) expect(b).not.toEqual(a);
        });
        model.dispose();
      }
    }
  });

  it('predictStream pads a stream to whole chunks without changing its predictions, and names bad streams', async () => {
    manualSeed(4);
    const model = new HiSS(config({ output: 'upsampled' }));
    const [stream] = sensorStreams('imu', 'held-out', 1, 16);
    const rows = Array.from({ length: 14 }, (_, t) => Array.from(stream.inputs.subarray(t * 6, t * 6 + 6)));
    const short = await predictStream(model, rows);
    const whole = await predictStream(model, stream.inputs);
    expect(short.times).toEqual(Array.from({ length: 14 }, (_, t) => t));
    expectClose(short.predictions.flat(), whole.predictions.slice(0, 14).flat(), { atol: 1e-6, rtol: 0 }, 'padded predictions');
    await expect(predictStream(model, rows.slice(0, 3))).rejects.toThrow(/3 samples, shorter than one chunk \(4\)/);
    await expect(predictStream(model, rows.map((r, t) => (t === 5 ? [...r.slice(0, 2), NaN, ...r.slice(3)] : r)))).rejects.toThrow(/sample 5, channel 2 is NaN/);
    await expect(predictStream(model, rows.map((r) => r.slice(0, 5)))).rejects.toThrow(/sample 0 has 5 channels; the model reads 6/);
    await expect(predictStream(model, rows.map((r) => r.slice(0, 5)))).rejects.toBeInstanceOf(SensorError);
    model.dispose();
  });

  it('names a config that cannot work before building anything', () => {
    expect(() => validateHiSS({ ...TINY, lowMixer: 'rglru', conv: 0 })).toThrow(/the low mixer \(rglru\): rglru needs its short convolution/);
    expect(() => validateHiSS({ ...TINY, lowLayers: 0, highLayers: 0 })).toThrow(/no mixer at all/);
    expect(() => validateHiSS({ ...TINY, chunk: 0 })).toThrow(/chunk must be a whole number/);
  });
});

describe('HiSS training', () => {
  it('learns the tactile task past predicting the mean, and its training loop does not grow GPU memory', async () => {
    const values = { task: 'tactile', train: 128, test: 16, length: 256, batch: 16, steps: 100, seed: 1 };
    const run = (await hissKind.createRun({ values, given: new Set(Object.keys(values)) })) as SensorSession;
    const outcome = await runTraining(run, { steps: 100, evalEvery: 100, progressEvery: 100 });
    const e = outcome.lastEvaluation!.values as { mse: number; baseline: number };
    // Measured on SwiftShader (seed 1): 0.020 against the mean's 0.039, 0.52x. The bound, 0.75x, asks that it
    // learned, with room for another adapter's f32 summation order over 100 steps.
    expect(e.mse).toBeLessThan(0.75 * e.baseline);
    const settled = memory().totalBytes;
    await runTraining(run, { steps: 6, evalEvery: 1000, progressEvery: 3 });
    expect(memory().totalBytes).toBe(settled);
    run.dispose();
  }, 120_000);

  it('names a stream length that is not whole chunks, or a task it does not have, before training', async () => {
    await expect(hissKind.createRun({ values: { task: 'imu', length: 20, chunk: 8 }, given: new Set(['task', 'length', 'chunk']) })).rejects.toThrow(/--length 20 is not a whole number of chunks of 8/);
    await expect(hissKind.createRun({ values: { task: 'imu', length: 4 }, given: new Set(['task', 'length']) })).rejects.toThrow(/--length 4 is shorter than one chunk/);
    await expect(hissKind.createRun({ values: { task: 'sudoku-4x4' }, given: new Set(['task']) })).rejects.toThrow(/--task sudoku-4x4: hiss trains on sensor streams, imu or tactile/);
  });
});
