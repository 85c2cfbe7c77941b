// Training sessions (model/hrm-session.ts): a checkpoint resumes exactly, and solve/eval read it.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assign, full, manualSeed, noGrad } from '../engine/index.ts';
import { evaluateArcTasks, loadTask, presetConfig, solveWithModel, TrainingSession } from '../model/hrm-session.ts';
import { loadPuzzleModel } from '../model/registry.ts';
import { HRM } from '../model/hrm.ts';
import { formatMaze, generateMaze } from '../model/tasks/maze.ts';
import { Random } from '../model/tasks/common.ts';
import { temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

async function weights(session: TrainingSession): Promise<number[]> {
  const out: number[] = [];
  for (const [, p] of session.model.namedParameters()) out.push(...(await p.toArray()));
  return out;
}

describe('HRM training sessions', () => {
  it('resumes exactly (weights, Adam-atan2 moments, ACT slots, weight average, random streams)', async () => {
    manualSeed(9);
    const dir = temporaryDirectory('hiero-session');
    const config = presetConfig('hrm', 'tiny', 6, 16, 1);
    const session = await TrainingSession.create({ task: 'sudoku-4x4', config: { ...config, hidden: 16 }, seed: 3, trainCount: 20, testCount: 4, lr: 1e-2, weightDecay: 0.1, batch: 4, loss: 'softmax', optimizer: 'adam-atan2', ema: 0.9 });
    for (let i = 0; i < 3; i++) for (const t of Object.values(session.step())) t.dispose();
    await session.save(dir);
    for (let i = 0; i < 2; i++) for (const t of Object.values(session.step())) t.dispose();
    const continued = await weights(session);
    const average = Array.from(await session.ema.get('lm_head.weight')!.toArray());
    expect(average).not.toEqual(Array.from(await session.model.lm_head.weight.toArray()));
    await session.evaluate({ segments: 1 });
    expect(await weights(session)).toEqual(continued); // evaluation with the average restores the trained weights
    session.dispose();

    manualSeed(12345); // the resumed session restores the generator itself
    const resumed = await TrainingSession.resume(dir);
    expect(resumed.state.step).toBe(3);
    for (let i = 0; i < 2; i++) for (const t of Object.values(resumed.step())) t.dispose();
    expect(await weights(resumed)).toEqual(continued);
    expect(Array.from(await resumed.ema.get('lm_head.weight')!.toArray())).toEqual(average);

    const r = await resumed.evaluate({ segments: 2 });
    expect(r.exactBySegment).toHaveLength(2);
    resumed.dispose();

    const { model } = await loadPuzzleModel(dir);
    const solved = await solveWithModel(model, 'sudoku-4x4', '1... .... .... ...2');
    expect(solved.answer.split('\n')).toHaveLength(5);
    expect(solved.answer).toMatch(/^[1-4 |+\-\n]+$/); // every cell a digit, even from an untrained model
    expect(solved.segments).toBe(config.haltMaxSteps);
    expect(solved.haltSegment === null || (solved.haltSegment >= 1 && solved.haltSegment <= solved.segments)).toBe(true);
    await expect(solveWithModel(model, 'sudoku-4x4', '11.. .... .... ....')).rejects.toThrow(/digit 1 appears twice in row 1/);
    await expect(solveWithModel(model, 'sudoku-4x4', '1........')).rejects.toThrow(/trained on 4×4 grids, this puzzle is 3|not a 4×4, 6×6 or 9×9/);
    await expect(solveWithModel(model, 'maze-7', '#######')).rejects.toThrow(/row 1 has 7 cells; a 1-row maze/);
  });

  it('solves mazes given as text, and names what is wrong with a bad one', async () => {
    manualSeed(4);
    const model = new HRM({ ...presetConfig('hrm', 'tiny', 6, 49, 1), hidden: 16 });
    const example = generateMaze(7, new Random(2));
    const solved = await solveWithModel(model, 'maze-7', formatMaze(example.maze, 7));
    const rows = solved.answer.split('\n');
    expect(rows).toHaveLength(7);
    rows.forEach((row, r) => [...row].forEach((ch, c) => expect('#.SG*').toContain(ch)));
    expect(solved.valid).toBe(solved.firstValidSegment !== null);
    await expect(solveWithModel(model, 'maze-7', formatMaze(example.maze, 7).replace('G', '.'))).rejects.toThrow(/exactly one start and one goal/);
    await expect(solveWithModel(model, 'maze-7', formatMaze(example.maze, 7).replace('S', 'x'))).rejects.toThrow(/cell r\d+c\d+ is 'x'/);
    const walled = formatMaze(example.maze.map((v) => (v === 2 ? 1 : v)), 7);
    await expect(solveWithModel(model, 'maze-7', walled)).rejects.toThrow(/goal cannot be reached/);
    await expect(solveWithModel(model, 'arc:somewhere', '')).rejects.toThrow(/Sudoku and maze puzzles/);
    model.dispose();
  });

  it('loads ARC tasks from a directory and rejects unknown tasks', async () => {
    const dir = temporaryDirectory('hiero-arc');
    writeFileSync(join(dir, 'flip.json'), JSON.stringify({ train: [{ input: [[1, 0]], output: [[0, 1]] }], test: [{ input: [[2, 0]], output: [[0, 2]] }] }));
    const task = await loadTask(`arc:${dir}`, { train: 1, test: 1, seed: 1 });
    expect(task.seqLen).toBe(900);
    expect(task.heldOut).toHaveLength(1);
    expect(task.source.next(2).inputs.length).toBe(1800);
    // Two tasks, so puzzle embeddings are on: they train by sign-SGD on the rows a batch used.
    writeFileSync(join(dir, 'swap.json'), JSON.stringify({ train: [{ input: [[3, 4]], output: [[4, 3]] }], test: [{ input: [[5, 6]], output: [[6, 5]] }] }));
    const config = { ...presetConfig('hrm', 'tiny', 12, 900, 2), hidden: 8, heads: 2, haltMaxSteps: 1 };
    const session = await TrainingSession.create({ task: `arc:${dir}`, config, seed: 2, trainCount: 1, testCount: 1, lr: 1e-3, weightDecay: 0.1, batch: 2, loss: 'softmax' });
    expect(session.embeddingOptimizer).not.toBeNull();
    const before = Array.from(await session.model.puzzle_emb!.weight.toArray());
    for (const t of Object.values(session.step())) t.dispose();
    expect(Array.from(await session.model.puzzle_emb!.weight.toArray())).not.toEqual(before);
    const arc = await evaluateArcTasks(session.model, session.task.arcTasks!, { augmentations: 3, segments: 1 });
    expect(arc.tasks).toBe(2);
    expect(arc.pass2).toBeGreaterThanOrEqual(arc.pass1);
    session.dispose();
    await expect(loadTask('chess', { train: 1, test: 1, seed: 1 })).rejects.toThrow(/unknown task 'chess'/);
    await expect(loadTask('maze-8', { train: 1, test: 1, seed: 1 })).rejects.toThrow(/odd numbers/);
  });
});

describe('a diverging run', () => {
  it('is caught on the GPU at the step it happens, naming the quantity, with nothing read back per step', async () => {
    manualSeed(3);
    const config = { ...presetConfig('hrm', 'tiny', 6, 16, 1), hidden: 8, hCycles: 1, lCycles: 1 };
    const session = await TrainingSession.create({ task: 'sudoku-4x4', config, seed: 2, trainCount: 4, testCount: 2, lr: 1e-2, weightDecay: 0.1, batch: 2, loss: 'softmax', optimizer: 'adamw' });
    for (const t of Object.values(session.step())) t.dispose();
    expect(await session.monitor.check()).toBeNull();
    const poisoned = session.model.lm_head.weight;
    noGrad(() => assign(poisoned, full(poisoned.shape, NaN)));
    for (let i = 0; i < 3; i++) for (const t of Object.values(session.step())) t.dispose();
    expect(await session.monitor.check()).toEqual({ step: 2, quantities: ['loss', 'gradient norm'] });
    await expect(session.monitor.assertFinite()).rejects.toThrow(/the loss and the gradient norm became NaN or infinite at step 2/);
    session.dispose();
  });
});
