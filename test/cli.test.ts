// The `hiero` command line's argument handling (apps/cli/hrm.ts): a mistaken call is one UsageError naming the flag.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flags, solve, train, UsageError } from '../apps/cli/hrm.ts';
import { useDevice } from './helpers.ts';

useDevice();

describe('hiero command line', () => {
  it('parses --name value, --name=value and bare switches', () => {
    const f = flags(['hrm', '--task', 'maze-9', '--steps=20', '--ema', '--lr', '0.01']);
    expect([...f.entries()]).toEqual([['task', 'maze-9'], ['steps', '20'], ['ema', 'true'], ['lr', '0.01']]);
  });

  it('names the flag or argument that is wrong, before any training starts', async () => {
    await expect(train(['--task', 'sudoku-4x4'])).rejects.toThrow(UsageError);
    await expect(train(['hrm', '--preset', 'huge'])).rejects.toThrow(/--preset: 'huge' is not tiny, small or paper/);
    await expect(train(['hrm', '--positions', 'sideways'])).rejects.toThrow(/--positions: 'sideways' is not rope or learned/);
    await expect(train(['hrm', '--cycles', 'two'])).rejects.toThrow(/--cycles: 'two' is not a number/);
    await expect(solve(['1... .... .... ...2'])).rejects.toThrow(/solve: give --checkpoint DIR/);
  });

  it('a resumed run saves back into the checkpoint it resumed from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hiero-cli-'));
    try {
      const tiny = ['--task', 'sudoku-4x4', '--hidden', '8', '--train', '4', '--test', '2', '--batch', '2', '--max-segments', '2', '--cycles', '1'];
      await train(['hrm', ...tiny, '--steps', '1', '--out', dir]);
      await train(['--resume', dir, '--steps', '1']);
      expect(JSON.parse(await readFile(join(dir, 'session.json'), 'utf8')).step).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
