// Checkpoint directories saved as one unit (engine/io/checkpoint.ts) as the HRM sessions use them: an interrupted
// save (an exception mid-save, or the process killed at any moment) leaves the previous checkpoint whole; damage
// and mixed files are named; eval and solve need only the weights; old layouts still load.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError, manualSeed, readManifest, saveCheckpoint, saveSafetensors, writeFileAtomic } from '../engine/index.ts';
import { presetConfig, readSession, TrainingSession } from '../model/hrm-session.ts';
import { loadPuzzleModel } from '../model/registry.ts';
import { temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

async function tinySession(): Promise<TrainingSession> {
  manualSeed(1);
  const config = { ...presetConfig('hrm', 'tiny', 6, 16, 1), hidden: 8, hCycles: 1, lCycles: 1 };
  return TrainingSession.create({ task: 'sudoku-4x4', config, seed: 2, trainCount: 4, testCount: 2, lr: 1e-2, weightDecay: 0.1, batch: 2, loss: 'softmax', optimizer: 'adamw' });
}

function step(session: TrainingSession): void {
  for (const t of Object.values(session.step())) t.dispose();
}

/** Every file a manifest names is at its step: the manifest, the session record and the weights' metadata agree. */
async function expectConsistent(dir: string): Promise<number> {
  const manifest = await readManifest(dir);
  expect((await readSession(dir)).step).toBe(manifest.step);
  const { model, state } = await loadPuzzleModel(dir);
  expect(state.step).toBe(manifest.step);
  model.dispose();
  const resumed = await TrainingSession.resume(dir);
  expect(resumed.state.step).toBe(manifest.step);
  resumed.dispose();
  return manifest.step;
}

describe('checkpoints saved as one unit', () => {
  it('an exception in the middle of a save leaves the previous checkpoint whole; the next save clears the debris', async () => {
    const dir = temporaryDirectory('hiero-unit');
    const session = await tinySession();
    step(session);
    await session.save(dir);
    step(session);
    await expect(session.save(dir, { afterFile: (role) => { if (role === 'training') throw new Error('power cut'); } })).rejects.toThrow('power cut');
    expect(await expectConsistent(dir)).toBe(1);
    expect(readdirSync(dir).length).toBeGreaterThan(4); // the manifest, three files, and the interrupted save's files
    writeFileSync(join(dir, 'model.safetensors.tmp-123-456'), ''); // what earlier versions left on an interrupted first save
    step(session);
    await session.save(dir);
    expect(await expectConsistent(dir)).toBe(3);
    expect(readdirSync(dir).sort()).toEqual(Object.values((await readManifest(dir)).files).map((f) => f.file).concat('manifest.json').sort());
    session.dispose();
  });

  it('a process killed at any moment of its saves leaves a checkpoint that loads whole', async () => {
    const root = resolve(__dirname, '..');
    for (const delay of [150, 400, 900]) {
      const dir = temporaryDirectory('hiero-kill');
      const child = spawn(process.execPath, ['--import', 'tsx', '--import', './engine/node/register.mjs', 'test/fixtures/save-loop.ts', dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let saves = 0;
      // Kill it `delay` ms after its third save: somewhere inside a later step or save.
      await new Promise<void>((done) => {
        child.stdout.on('data', (chunk: Buffer) => {
          saves += (chunk.toString().match(/saved/g) ?? []).length;
          if (saves >= 3 && !child.killed) setTimeout(() => { child.kill('SIGKILL'); done(); }, delay);
        });
      });
      await new Promise((done) => child.on('exit', done));
      expect(await expectConsistent(dir)).toBeGreaterThanOrEqual(3);
    }
  }, 300_000);

  it('names a damaged or mixed file; eval and solve read only the weights', async () => {
    const dir = temporaryDirectory('hiero-damage');
    const session = await tinySession();
    step(session);
    await session.save(dir);
    session.dispose();
    const manifest = await readManifest(dir);
    const damage = (role: string) => {
      const path = join(dir, manifest.files[role].file);
      const bytes = readFileSync(path);
      bytes.write('garbage!', bytes.length - 16); // eight bytes inside the tensor data
      writeFileSync(path, bytes);
    };
    damage('training');
    const { model } = await loadPuzzleModel(dir); // the weights alone: fine
    model.dispose();
    await expect(TrainingSession.resume(dir)).rejects.toThrow(new RegExp(`${manifest.files.training.file}: damaged \\(its SHA-256 does not match`));
    damage('weights');
    await expect(loadPuzzleModel(dir)).rejects.toThrow(CheckpointError);
    await expect(loadPuzzleModel(dir)).rejects.toThrow(new RegExp(`${manifest.files.weights.file}: damaged`));
  });

  it('a file from another step is named even when its checksum is right', async () => {
    const dir = temporaryDirectory('hiero-mixed');
    const session = await tinySession();
    step(session);
    const first = await session.save(dir);
    const firstWeights = readFileSync(join(dir, first.files.weights.file));
    step(session);
    const second = await session.save(dir);
    // A hand-made mix: step 2's manifest and session, step 1's weights (its checksum recorded, as if trusted).
    writeFileSync(join(dir, second.files.weights.file), firstWeights);
    await saveCheckpoint(dir, 'hrm', 2, [
      { role: 'weights', extension: 'safetensors', bytes: firstWeights },
      { role: 'session', extension: 'json', bytes: readFileSync(join(dir, second.files.session.file)) },
    ]);
    await expect(loadPuzzleModel(dir)).rejects.toThrow(/holds step 1, but the checkpoint is at step 2/);
    session.dispose();
  });

  it('directories from before manifests load, resume, and are converted by the next save', async () => {
    const dir = temporaryDirectory('hiero-legacy');
    const session = await tinySession();
    step(session);
    await saveSafetensors(join(dir, 'model.safetensors'), session.model.stateDict(), { config: JSON.stringify(session.state.config), task: session.state.task });
    await saveSafetensors(join(dir, 'training.safetensors'), [...session.optimizer.stateTensors(session.model.namedParameters()), ...session.trainer.stateTensors()]);
    await writeFileAtomic(join(dir, 'session.json'), JSON.stringify(session.state));
    session.dispose();
    const { model, state } = await loadPuzzleModel(dir);
    expect(state.task).toBe('sudoku-4x4');
    model.dispose();
    const resumed = await TrainingSession.resume(dir);
    step(resumed);
    await resumed.save(dir);
    resumed.dispose();
    expect(await expectConsistent(dir)).toBe(2);
    expect(readdirSync(dir)).not.toContain('session.json');
  });
});
