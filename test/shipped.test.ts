// The models that ship in model/checkpoints do what README says they do, right after clone: the 4×4 Sudoku solver
// solves its held-out puzzles (regenerated from the split its weights record, never seen in training) and
// `hiero solve` finds it without --checkpoint; the tiny H-Net predicts held-out English far better than byte
// frequencies and chunks near its target.
//
// Thresholds: each is the figure measured on SwiftShader (README) less a margin for another adapter's rounding.
// Exact accuracy is a count of whole puzzles, so a few borderline cells can flip one or two puzzles either way on a
// GPU whose float sums associate differently; 5 points of 500 puzzles is 25 puzzles, far more than that.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fileURLToPath } from 'node:url';
import { main } from '../apps/cli/hiero.ts';
import { SHIPPED_SOLVERS } from '../apps/cli/hrm.ts';
import { evaluatePuzzles } from '../model/hrm-train.ts';
import { loadTask } from '../model/hrm-session.ts';
import { loadPuzzleModel } from '../model/registry.ts';
import { englishCorpus, unigramBitsPerByte } from '../model/data/corpus.ts';
import { evaluateText } from '../model/text-session.ts';
import { loadSensorModel, loadTextModel } from '../model/registry.ts';
import { sensorStreams } from '../model/data/sensors.ts';
import { evaluateSensorStreams } from '../model/sensor-session.ts';
import { toBatch } from '../model/tasks/datasets.ts';
import { useDevice } from './helpers.ts';

useDevice();

/** Held-out exact accuracy after the last trained segment, as measured for README (SwiftShader, all 500 puzzles). */
const SUDOKU_4X4_EXACT = 0.97;
const MARGIN = 0.05;
/** Held-out cell accuracy of the shipped 6×6 solver after its last trained segment (SwiftShader, README). */
const SUDOKU_6X6_CELLS = 0.81;

/** A shipped solver's scores after its trained segments, on the held-out split its weights record. */
async function heldOutScores(dir: string) {
  const { model, state } = await loadPuzzleModel(dir);
  try {
    const task = await loadTask(state.task, { train: state.heldOut.train, test: state.heldOut.test, seed: state.heldOut.seed });
    const r = await evaluatePuzzles(model, toBatch(task.heldOut), { segments: state.config.haltMaxSteps });
    return { task: state.task, heldOut: state.heldOut.test, r };
  } finally {
    model.dispose();
  }
}

describe('the shipped checkpoints', () => {
  let output: string[] = [];
  beforeEach(() => {
    output = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void output.push(args.join(' ')));
  });
  afterEach(() => vi.restoreAllMocks());

  it('the 4×4 solver solves its held-out puzzles', async () => {
    const { task, heldOut, r } = await heldOutScores(SHIPPED_SOLVERS[16]);
    expect(task).toBe('sudoku-4x4');
    const exact = r.exactBySegment[r.exactBySegment.length - 1];
    expect(r.predictions.length).toBe(heldOut);
    expect(exact).toBeGreaterThanOrEqual(SUDOKU_4X4_EXACT - MARGIN);
  }, 120_000);

  it('the 6×6 solver: its held-out cells as measured, and hiero solve finds it for a 6×6 puzzle', async () => {
    const { task, r } = await heldOutScores(SHIPPED_SOLVERS[36]);
    expect(task).toBe('sudoku-6x6');
    expect(r.cellBySegment[r.cellBySegment.length - 1]).toBeGreaterThanOrEqual(SUDOKU_6X6_CELLS - MARGIN);
    expect(await main(['solve', '1..... ...... ...... ...... ...... .....2'])).toBe(0);
    expect(output.join('\n')).toMatch(/the shipped sudoku-6x6 solver/);
  }, 300_000);

  it('hiero solve uses the shipped solver without --checkpoint', async () => {
    const code = await main(['solve', SHIPPED_PUZZLE]);
    expect(code).toBe(0);
    const text = output.join('\n');
    expect(text).toMatch(/the shipped sudoku-4x4 solver/);
    expect(text).toMatch(/^solved: /m);
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void errors.push(args.join(' ')));
    expect(await main(['solve', '1........ ......... ......... ......... ......... ......... ......... ......... ........2'])).toBe(2);
    expect(errors.join('\n')).toMatch(/no solver for puzzles of 81 cells ships with Hiero/);
  }, 120_000);

  it('the tiny H-Net: held-out bits/byte well below the unigram baseline, chunks near its target of 4 bytes', async () => {
    const { model, kind } = await loadTextModel(fileURLToPath(new URL('../model/checkpoints/hnet-tiny', import.meta.url)));
    try {
      expect(kind).toBe('hnet');
      const corpus = englishCorpus();
      const r = await evaluateText(model, corpus.heldOut, 128, 16, 8);
      // Measured 2.95 over 32 windows; a quarter of the gap to the unigram baseline is room for the smaller sample.
      const unigram = unigramBitsPerByte(corpus);
      expect(r.bitsPerByte).toBeLessThan(unigram - 0.75 * (unigram - 2.95));
      // The band: within ±30 % of the target N.
      expect(r.bytesPerChunk[0]).toBeGreaterThan(4 * 0.7);
      expect(r.bytesPerChunk[0]).toBeLessThan(4 * 1.3);
    } finally {
      model.dispose();
    }
  }, 180_000);

  it('the tiny HiSS (tactile): held-out MSE a tenth of predicting the mean, as README says', async () => {
    const { model, state } = await loadSensorModel(fileURLToPath(new URL('../model/checkpoints/hiss-tactile', import.meta.url)));
    try {
      expect(state.task).toBe('tactile');
      // Measured 0.0039 against the mean's 0.0425 over the 64 held-out streams; the same streams here (a fixed seed),
      // so only another adapter's f32 rounding moves it: 0.005 leaves room for that and nothing else.
      const e = await evaluateSensorStreams(model, sensorStreams('tactile', 'held-out', state.heldOut.test, state.heldOut.length), state.heldOut.length);
      expect(e.mse).toBeLessThan(0.005);
      expect(e.baseline).toBeGreaterThan(0.04);
    } finally {
      model.dispose();
    }
  }, 120_000);
});

/** A held-out puzzle the shipped solver solves (README's worker example uses it too). */
const SHIPPED_PUZZLE = '1... ..4. .3.. ...2';
