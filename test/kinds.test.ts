// The table of model kinds (model/kinds), walked row by row: every kind builds its tiny preset, trains two steps
// through the one training loop, saves, loads through the registry with the same outputs, resumes through the
// table, is listed by `hiero models --json`, has `hiero train KIND --help`, and is served by the inference worker.

import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { noGradAsync, readManifest, tensor, type Module } from '../engine/index.ts';
import { createHieroWorker, type HieroWorker } from '../apps/worker/client.ts';
import { main } from '../apps/cli/hiero.ts';
import type { HRM } from '../model/hrm.ts';
import { TrainingSession } from '../model/hrm-session.ts';
import { KIND_NAMES, resumeRun, specOf, type ModelFamily, type ModelKind } from '../model/kinds/index.ts';
import { loadCheckpointModel } from '../model/registry.ts';
import { predictStream } from '../model/sensor-session.ts';
import { generateText } from '../model/text-generate.ts';
import { answerInstructions } from '../model/instruction-eval.ts';
import type { ByteLM } from '../model/text-model.ts';
import { runTraining, type TrainingRun } from '../model/training.ts';
import { disposeState } from '../model/mixers.ts';
import { sensorStreams } from '../model/data/sensors.ts';
import type { HiSS } from '../model/hiss.ts';
import { expectClose, temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

/** Options that make each family's tiny preset quick on a CPU driver (a family left out is a compile error). */
const QUICK: Record<ModelFamily, Record<string, string | number>> = {
  puzzle: { task: 'sudoku-4x4', train: 4, test: 2, batch: 2, hidden: 8, cycles: 1, 'max-segments': 2 },
  text: { batch: 2, seq: 32 },
  sensor: { task: 'imu', train: 4, test: 2, batch: 2, length: 32 },
};
/** Kinds that need more than their family's quick options: HRM-Text's instructions need a window of 128 bytes. */
const QUICK_KIND: Partial<Record<ModelKind, Record<string, string | number>>> = { 'hrm-text': { seq: 128 } };

/** Each family's outputs on a fixed input, read back: what must survive a save and a load. */
const OUTPUTS: Record<ModelFamily, (model: Module) => Promise<Float32Array>> = {
  puzzle: async (model) => {
    const hrm = model as HRM;
    const inputs = tensor(Int32Array.from({ length: hrm.config.seqLen }, (_, i) => (i * 7) % hrm.config.vocab), [1, hrm.config.seqLen], { dtype: 'i32' });
    const out = hrm.evaluate(inputs, null, 1);
    const logits = Float32Array.from(await out.logits[0].toArray());
    for (const list of Object.values(out)) list.forEach((t) => t.dispose());
    inputs.dispose();
    return logits;
  },
  text: async (model) => {
    const ids = tensor(Int32Array.from('the table of kinds', (c) => c.charCodeAt(0)), [1, 18], { dtype: 'i32' });
    const { logits } = await noGradAsync(() => (model as ByteLM).predict(ids));
    const values = Float32Array.from(await logits.toArray());
    logits.dispose();
    ids.dispose();
    return values;
  },
  sensor: async (model) => {
    const hiss = model as HiSS;
    const [stream] = sensorStreams('imu', 'held-out', 1, 16);
    const predicted = await noGradAsync(() => hiss.forward(tensor(stream.inputs, [1, 16, hiss.config.channelsIn])).toArray());
    return Float32Array.from(predicted);
  },
};

/** The outputs of the model a run evaluates (a weight average, when the run keeps one: that is what it saves). */
function outputsOfRun(run: TrainingRun, family: ModelFamily): Promise<Float32Array> {
  if (run instanceof TrainingSession) return run.withAveragedWeights(() => OUTPUTS[family](run.model));
  return OUTPUTS[family]((run as unknown as { model: Module }).model);
}

const checkpoints = new Map<ModelKind, string>();

describe('the table of model kinds', () => {
  for (const kind of KIND_NAMES) {
    it(`${kind}: the tiny preset trains 2 steps through the shared loop, saves, loads through the registry with the same outputs, and resumes`, async () => {
      const spec = specOf(kind);
      const dir = join(temporaryDirectory(`hiero-kind-${kind}`), 'run');
      const values = { ...QUICK[spec.family], ...QUICK_KIND[kind], steps: 2 };
      const run = await spec.createRun({ values, given: new Set(Object.keys(values)) });
      expect(run.kind).toBe(kind);
      const progress: number[] = [];
      const outcome = await runTraining(run, { steps: 2, evalEvery: 2, progressEvery: 1, onProgress: (p) => void progress.push(p.step), save: async () => void (await run.save(dir)) });
      expect(outcome).toMatchObject({ done: 2, stopped: false });
      expect(progress).toEqual([1, 2]);
      expect(outcome.lastEvaluation?.text.length).toBeGreaterThan(0);
      expect((await readManifest(dir)).step).toBe(2);
      const expected = await outputsOfRun(run, spec.family);
      run.dispose();

      const loaded = await loadCheckpointModel(dir);
      expect(loaded.kind).toBe(kind);
      expect(loaded.spec.describe(loaded.config, loaded.model.parameterCount())).toMatch(/parameters/);
      // The same weights in the same kernels: the same numbers exactly.
      expect(Array.from(await OUTPUTS[spec.family](loaded.model))).toEqual(Array.from(expected));
      loaded.model.dispose();

      const resumed = await resumeRun(dir);
      expect(resumed.kind).toBe(kind);
      expect(resumed.stepsDone).toBe(2);
      await runTraining(resumed, { steps: 1, evalEvery: 100 });
      expect(resumed.stepsDone).toBe(3);
      resumed.dispose();
      checkpoints.set(kind, dir);
    }, 300_000); // hrm-text, the slowest row, takes ~60 s alone on SwiftShader; a busy machine doubles it
  }
});

describe('every language model kind reads a prompt in one pass', () => {
  it('prefill leaves the decoding state that stepping byte by byte leaves (the next logits agree)', async () => {
    const prompts = ['the table of kinds, read at once', 'a second row of the same length!'].map((t) => new TextEncoder().encode(t));
    const [rows, length] = [prompts.length, prompts[0].length];
    // A PrefixLM (hrm-text) reads a prefilled prompt both ways and a stepped one causally, by design: test/hrm-text.test.ts
    // checks that its decoding after a prefill equals its parallel forward instead.
    for (const kind of KIND_NAMES.filter((k) => specOf(k).family === 'text' && k !== 'hrm-text')) {
      const { model } = await loadCheckpointModel(checkpoints.get(kind)!);
      const lm = model as ByteLM;
      const byHand = lm.initialState(rows, length + 2);
      let stepped: Float32Array | null = null;
      for (let t = 0; t < length; t++) {
        const ids = tensor(Int32Array.from(prompts, (p) => p[t]), [rows], { dtype: 'i32' });
        const logits = lm.decode(ids, byHand);
        stepped = Float32Array.from(await logits.toArray());
        logits.dispose();
        ids.dispose();
      }
      const filled = lm.initialState(rows, length + 2);
      const all = tensor(Int32Array.from(prompts.flatMap((p) => [...p])), [rows, length], { dtype: 'i32' });
      const prefilled = await lm.prefill(all, filled);
      // The same sums in another order (a parallel scan and tiled attention against one step at a time): f32 rounding.
      expectClose(await prefilled.toArray(), stepped!, { atol: 1e-4, rtol: 1e-3 }, `${kind}: logits after the prompt`);
      const next = tensor(Int32Array.of(32, 32), [rows], { dtype: 'i32' });
      const [a, b] = [lm.decode(next, filled), lm.decode(next, byHand)];
      expectClose(await a.toArray(), await b.toArray(), { atol: 1e-4, rtol: 1e-3 }, `${kind}: the next step's logits`);
      for (const t of [all, prefilled, next, a, b]) t.dispose();
      disposeState([filled, byHand]);
      model.dispose();
    }
  }, 120_000);
});

describe('H-Net with the state-expansion mixers inside', () => {
  it('--encoder mamba2 --main retnet: trains a step, and a prompt read in one pass leaves the state stepping leaves', async () => {
    const values = { ...QUICK.text, steps: 1, encoder: 'mamba2', main: 'retnet' };
    const run = (await specOf('hnet').createRun({ values, given: new Set(Object.keys(values)) })) as unknown as { model: ByteLM; describe(): string[]; dispose(): void };
    expect(run.describe()[0]).toMatch(/encoders mamba2, main network retnet/);
    await runTraining(run as unknown as TrainingRun, { steps: 1, evalEvery: 100 });
    const lm = run.model;
    const prompt = new TextEncoder().encode('state expansion, chunked');
    const byHand = lm.initialState(1, prompt.length + 2);
    let stepped: Float32Array | null = null;
    for (const byte of prompt) {
      const ids = tensor(Int32Array.of(byte), [1], { dtype: 'i32' });
      const logits = lm.decode(ids, byHand);
      stepped = Float32Array.from(await logits.toArray());
      logits.dispose();
      ids.dispose();
    }
    const filled = lm.initialState(1, prompt.length + 2);
    const all = tensor(Int32Array.from(prompt), [1, prompt.length], { dtype: 'i32' });
    const prefilled = await lm.prefill(all, filled);
    expectClose(await prefilled.toArray(), stepped!, { atol: 1e-4, rtol: 1e-3 }, 'H-Net mamba2/retnet: logits after the prompt');
    for (const t of [all, prefilled]) t.dispose();
    disposeState([filled, byHand]);
    run.dispose();
  }, 120_000);
});

describe('the command line reads the table', () => {
  let output: string[] = [];
  beforeEach(() => {
    output = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void output.push(args.join(' ')));
  });
  afterEach(() => vi.restoreAllMocks());

  it('hiero models lists every kind, one line each and as JSON', async () => {
    expect(await main(['models'])).toBe(0);
    expect(output).toHaveLength(KIND_NAMES.length);
    output = [];
    expect(await main(['models', '--json'])).toBe(0);
    const listed = JSON.parse(output.join('\n')) as { kind: string; family: string; presets: Record<string, { lr: number }>; requests: string[] }[];
    expect(listed.map((k) => k.kind)).toEqual(KIND_NAMES);
    for (const k of listed) {
      expect(Object.keys(k.presets)).toContain('tiny');
      expect(k.requests.length).toBeGreaterThan(0);
    }
  });

  it('hiero eval scores every kind\'s checkpoint: accuracy per segment, or bits per byte on held-out text', async () => {
    expect([...checkpoints.keys()]).toEqual(KIND_NAMES);
    for (const [kind, dir] of checkpoints) {
      output = [];
      const family = specOf(kind).family;
      const text = family === 'text';
      const instructions = kind === 'hrm-text';
      expect(await main(['eval', '--checkpoint', dir, ...(instructions ? ['--instructions', '1'] : text ? ['--windows', '2'] : ['--count', '2'])]), kind).toBe(0);
      const expected = instructions ? /exact match: \d+\.\d% on held-out examples/ : text ? /\d\.\d{3} bits\/byte over 64 bytes \(32-byte windows/
        : family === 'sensor' ? /held-out MSE \d\.\d{4} over 2 streams \(predicting the mean: \d\.\d{4}/ : /segment 2: exact/;
      expect(output.join('\n'), kind).toMatch(expected);
    }
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(await main(['eval', '--checkpoint', checkpoints.get('hgrn')!, '--segments', '2'])).toBe(2);
    // Weights alone (as the playground downloads them): a .safetensors file, or a directory holding only that file.
    for (const kind of ['hrm', 'hgrn'] as const) {
      const dir = checkpoints.get(kind)!;
      const lone = temporaryDirectory(`hiero-weights-${kind}`);
      const file = join(lone, 'downloaded.safetensors');
      copyFileSync(join(dir, (await readManifest(dir)).files.weights.file), file);
      for (const target of [lone, file]) {
        output = [];
        const text = specOf(kind).family === 'text';
        expect(await main(['eval', '--checkpoint', target, ...(text ? ['--windows', '2'] : ['--count', '2'])]), `${kind} ${target}`).toBe(0);
        expect(await main(text ? ['generate', '--checkpoint', target, '--bytes', '3', 'ab'] : ['solve', '--checkpoint', target, '1... ..4. .3.. ...2']), `${kind} ${target}`).toBe(0);
      }
    }
  });

  it('hiero train KIND --help shows that kind\'s presets and only the options it takes', async () => {
    for (const kind of KIND_NAMES) {
      output = [];
      expect(await main(['train', kind, '--help'])).toBe(0);
      const text = output.join('\n');
      expect(text).toMatch(new RegExp(`usage: hiero train ${kind} \\[options\\]`));
      for (const preset of Object.keys(specOf(kind).presets)) expect(text).toContain(preset);
      expect(text.includes('--corpus')).toBe(specOf(kind).family === 'text');
      // Every kind takes a task: puzzles for hrm/trm, mqar for the language models; H-Net alone picks its mixers.
      expect(text).toContain('--task');
      expect(text.includes('--encoder') && text.includes('--main')).toBe(kind === 'hnet');
    }
  });
});

describe('the inference worker serves every kind', () => {
  let hiero: HieroWorker;
  beforeAll(async () => {
    hiero = await createHieroWorker();
  }, 120_000);
  afterAll(async () => {
    await hiero.dispose();
  });

  it('loads each kind\'s checkpoint and answers the requests its row names', async () => {
    expect([...checkpoints.keys()]).toEqual(KIND_NAMES);
    for (const [kind, dir] of checkpoints) {
      const spec = specOf(kind);
      const info = await hiero.load({ path: dir });
      expect(info).toMatchObject({ kind, step: 2, requests: [...spec.requests] });
      for (const request of spec.requests) {
        if (request === 'solve') {
          const solved = await hiero.solve('1... ..4. .3.. ...2', { segments: 1 });
          expect(solved.views).toHaveLength(1);
        } else if (request === 'generate') {
          // Greedy bytes from the worker equal the engine's, run directly on the same checkpoint (an instruction
          // model: continuing the prompt when asked to, answering it as an instruction by default).
          const { bytes } = await hiero.generate('ab', { bytes: 3, temperature: 0, instruction: false });
          const loaded = await loadCheckpointModel(dir);
          const [direct] = await generateText(loaded.model as ByteLM, [new TextEncoder().encode('ab')], { count: 3, temperature: 0 });
          expect(Array.from(bytes), kind).toEqual(Array.from(direct));
          if (kind === 'hrm-text') {
            const answer = await hiero.generate('What is 2 + 3?', { bytes: 8 });
            const [expected] = await answerInstructions(loaded.model as ByteLM, ['What is 2 + 3?'], 128, 8);
            expect(answer.text).toBe(expected);
            await expect(hiero.generate('  ', {})).rejects.toThrow(/generate: the instruction is empty/);
          }
          loaded.model.dispose();
        } else if (request === 'predict') {
          // The worker's predictions equal the engine's on the same checkpoint; bad streams get named errors.
          const [stream] = sensorStreams('imu', 'held-out', 1, 20);
          const rows = Array.from({ length: 20 }, (_, t) => Array.from(stream.inputs.subarray(t * 6, t * 6 + 6)));
          const served = await hiero.predict(rows);
          const loaded = await loadCheckpointModel(dir);
          const direct = await predictStream(loaded.model as HiSS, rows);
          expect(served).toEqual(direct);
          loaded.model.dispose();
          await expect(hiero.predict(rows.slice(0, 2))).rejects.toThrow(/predict: the stream has 2 samples, shorter than one chunk \(8\)/);
          await expect(hiero.predict(rows.map((r) => [...r, 0]))).rejects.toThrow(/predict: sample 0 has 7 channels; the model reads 6/);
          await expect(hiero.predict(rows.map((r, t) => (t === 3 ? r.map(() => Number.NaN) : r)))).rejects.toThrow(/predict: sample 3, channel 0 is NaN/);
        } else {
          const chunked = await hiero.chunks('hello world');
          expect(chunked.boundaries[0][0]).toBe(0);
        }
      }
    }
  }, 300_000);
});
