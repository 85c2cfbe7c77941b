// Multi-query associative recall (model/data/mqar.ts) and `--task mqar` for the language models: the windows are
// what the task says (distinct keys, every query answered by its own pair's value, only the answers scored), the
// sampler is seeded and resumable, bad task options are named before any work, and a run trains, reports recall,
// saves and resumes on the task. The recurrent presets' parameter counts (equal size, for the README's tables).

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkMqarLength, MQAR_IGNORED, MQAR_KEYS, MQAR_VALUES, MqarSampler, mqarPairs } from '../model/data/mqar.ts';
import { KIND_NAMES, resumeRun, specOf, type ModelKind } from '../model/kinds/index.ts';
import type { TextSession } from '../model/text-session.ts';
import { runTraining } from '../model/training.ts';
import { temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

describe('MQAR windows', () => {
  it('hold seq/4 distinct keys with values, then every key once as a query whose target is its value', () => {
    const seq = 42;
    const sampler = new MqarSampler(3, seq, 7);
    const { ids, targets } = sampler.sample();
    const pairs = mqarPairs(seq);
    expect(pairs).toBe(10);
    for (let b = 0; b < 3; b++) {
      const row = Array.from(ids.subarray(b * seq, (b + 1) * seq));
      const rowTargets = Array.from(targets.subarray(b * seq, (b + 1) * seq));
      const value = new Map<number, number>();
      for (let i = 0; i < pairs; i++) {
        const [k, v] = [row[2 * i], row[2 * i + 1]];
        expect(k).toBeGreaterThanOrEqual(MQAR_KEYS.first);
        expect(k).toBeLessThan(MQAR_KEYS.first + MQAR_KEYS.count);
        expect(v).toBeGreaterThanOrEqual(MQAR_VALUES.first);
        expect(v).toBeLessThan(MQAR_VALUES.first + MQAR_VALUES.count);
        expect(value.has(k)).toBe(false);
        value.set(k, v);
      }
      const queried = new Set<number>();
      for (let i = 0; i < pairs; i++) {
        const at = 2 * pairs + 2 * i;
        queried.add(row[at]);
        expect(rowTargets[at]).toBe(value.get(row[at]));
        expect(row[at + 1]).toBe(value.get(row[at]));
      }
      expect(queried.size).toBe(pairs);
      // Only the answers are scored: the pairs, the answers' own positions and the padding are ignored.
      expect(rowTargets.filter((t) => t !== MQAR_IGNORED)).toHaveLength(pairs);
    }
  });

  it('are seeded and resume from their state', () => {
    const a = new MqarSampler(2, 16, 99);
    a.sample();
    const saved = a.state;
    const next = a.sample();
    const b = new MqarSampler(2, 16, saved);
    expect(Array.from(b.sample().ids)).toEqual(Array.from(next.ids));
    expect(Array.from(new MqarSampler(2, 16, 1).sample().ids)).not.toEqual(Array.from(new MqarSampler(2, 16, 2).sample().ids));
  });

  it('name a window too short for a pair or asking for more keys than there are', () => {
    expect(() => checkMqarLength(3)).toThrow(/holds no key-value pair/);
    expect(() => checkMqarLength(260)).toThrow(/there are 64 \(--seq at most 256\)/);
    expect(() => checkMqarLength(256)).not.toThrow();
  });
});

describe('--task mqar', () => {
  it('names a puzzle task given to a language model, mqar given to a puzzle model, and mqar with a corpus, before any work', async () => {
    const values = (extra: Record<string, string | number>) => ({ values: { steps: 1, ...extra }, given: new Set(Object.keys(extra)) });
    await expect(specOf('hgrn2').createRun(values({ task: 'sudoku-4x4' }))).rejects.toThrow(/a language model trains on a corpus \(--corpus\), on --task mqar or on --task instructions/);
    await expect(specOf('gla').createRun(values({ task: 'mqar', corpus: 'english' }))).rejects.toThrow(/leave out --corpus/);
    await expect(specOf('hrm').createRun(values({ task: 'mqar' }))).rejects.toThrow(/language models' task/);
    await expect(specOf('retnet').createRun(values({ task: 'mqar', seq: 1000 }))).rejects.toThrow(/--seq 1000 with --task mqar: .*--seq at most 256/);
  });

  it('trains a matrix-state model on generated recall, reports recall on held-out windows, saves and resumes on the task', async () => {
    const dir = join(temporaryDirectory('hiero-mqar'), 'run');
    const values = { task: 'mqar', seq: 16, batch: 2, steps: 2 };
    const run = (await specOf('hgrn2').createRun({ values, given: new Set(Object.keys(values)) })) as TextSession;
    expect(run.describe()[0]).toMatch(/multi-query associative recall, 4 key-value pairs/);
    const outcome = await runTraining(run, { steps: 2, evalEvery: 2, save: async () => void (await run.save(dir)) });
    expect(outcome.lastEvaluation?.text).toMatch(/^recall \d+\.\d% of 256 held-out answers \(chance 1\.6%\)/);
    const accuracy = outcome.lastEvaluation?.values.accuracy as number;
    expect(accuracy).toBeGreaterThanOrEqual(0);
    expect(accuracy).toBeLessThanOrEqual(1);
    run.dispose();
    const resumed = (await resumeRun(dir)) as TextSession;
    expect(resumed.state.task).toBe('mqar');
    expect(resumed.sampler).toBeInstanceOf(MqarSampler);
    await runTraining(resumed, { steps: 1, evalEvery: 100 });
    expect(resumed.stepsDone).toBe(3);
    resumed.dispose();
  }, 60_000);
});

describe('the recurrent presets', () => {
  it("every recurrent kind's tiny and small presets are within 3 % of HGRN's parameters (equal-size comparisons)", () => {
    const recurrent = KIND_NAMES.filter((k) => specOf(k).family === 'text' && (specOf(k).presets.tiny as unknown as { config: { mixer?: string } }).config.mixer);
    expect(recurrent).toEqual(expect.arrayContaining(['hgrn', 'mingru', 'hgrn2', 'gla', 'retnet', 'mamba2', 'gateloop', 'griffin']));
    // Counted from the configs by building each on the device.
    const count = (kind: ModelKind, preset: string) => {
      const spec = specOf(kind);
      const model = spec.build((spec.presets[preset] as unknown as { config: unknown }).config);
      const n = model.parameterCount();
      model.dispose();
      return n;
    };
    for (const preset of ['tiny', 'small']) {
      const reference = count('hgrn', preset);
      for (const kind of recurrent) expect(Math.abs(count(kind, preset) / reference - 1), `${kind} ${preset}`).toBeLessThan(0.03);
    }
  });
});
