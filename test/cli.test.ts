// The `hiero` command line (apps/cli): every mistaken call of issue 11 is one line naming what was wrong, with exit
// code 2 and no work done; trained work is never overwritten by a repeated or mistyped command; Ctrl-C saves.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readManifest } from '../engine/index.ts';
import { main } from '../apps/cli/hiero.ts';
import { KIND_NAMES } from '../model/kinds/index.ts';
import { temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

const TINY = ['--task', 'sudoku-4x4', '--hidden', '8', '--train', '4', '--test', '2', '--batch', '2', '--max-segments', '2', '--cycles', '1'];

let errors: string[] = [];
let output: string[] = [];
beforeEach(() => {
  errors = [];
  output = [];
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void errors.push(args.join(' ')));
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void output.push(args.join(' ')));
});
afterEach(() => vi.restoreAllMocks());

async function usage(argv: string[], message: RegExp): Promise<void> {
  const code = await main(argv);
  expect(code, `exit code of hiero ${argv.join(' ')}`).toBe(2);
  expect(errors.join('\n'), `message of hiero ${argv.join(' ')}`).toMatch(message);
  expect(errors.join('\n')).not.toMatch(/\n\s+at /); // no stack trace
  errors = [];
}

describe('hiero command line: mistakes are named before any work starts', () => {
  it('unknown flags and commands, with the closest valid name', async () => {
    await usage(['train', 'hrm', '--stpes', '2'], /train: unknown option --stpes \(did you mean --steps\?\)/);
    await usage(['train', 'hrm', '--verbose'], /train: unknown option --verbose/);
    await usage(['trian', 'hrm'], /unknown command 'trian' \(did you mean 'train'\?\)/);
    await usage(['solve', '--checkpont', 'x'], /did you mean --checkpoint\?/);
    // The list follows the table of kinds (a kind added there is named here without editing this test).
    const escaped = KIND_NAMES.map((k) => k.replace(/[-]/g, '\\-'));
    await usage(['train', 'lstm'], new RegExp(`train: unknown model 'lstm' \\(${escaped.slice(0, -1).join(', ')} or ${escaped.at(-1)}; hiero models describes them\\)`));
    await usage(['train'], /say which model: hiero train hrm\|trm\|hnet\|transformer\|hgrn\|mingru/);
    await usage(['train', 'hgrn', '--rnn-method', 'newton'], /train --rnn-method applies to paragru and paralstm only/);
    await usage(['train', 'paragru', '--rnn-method', 'jacobi'], /--rnn-method/);
    await usage(['train', 'hrm', '--corpus', 'english'], /train --corpus applies to hnet, transformer, hgrn, mingru, hgrn2, gla, retnet, mamba2, gateloop, griffin, paragru, paralstm and hrm-text only/);
    await usage(['train', 'hgrn', '--preset', 'paper'], /train --preset: 'paper' is not a preset of hgrn \(tiny, small\)/);
    await usage(['train', 'hnet', '--task', 'sudoku-4x4'], /train --task sudoku-4x4: a language model trains on a corpus \(--corpus\), on --task mqar or on --task instructions; 'sudoku-4x4' is a puzzle task, for hrm and trm/);
    await usage(['train', 'hnet', '--main', 'lstm'], /train --main: 'lstm' is not one of hgrn, mingru, attention/);
  });

  it('every value typed and range-checked, the valid range in the message', async () => {
    for (const steps of ['0', '-5', '1.5', 'abc', '']) {
      await usage(['train', 'hrm', `--steps=${steps}`], new RegExp(`--steps: '${steps}' is not a whole number from 1 to`));
    }
    await usage(['train', 'hrm', '--test', '0'], /--test: '0' is not a whole number from 1/);
    await usage(['train', 'hrm', '--batch', '0'], /--batch: '0' is not a whole number from 1 to 65536/);
    await usage(['train', 'hrm', '--batch', '-1'], /--batch needs a value \(a whole number from 1 to 65536\)/);
    await usage(['train', 'hrm', '--train', '0'], /--train: '0' is not a whole number from 1/);
    await usage(['train', 'hrm', '--lr', '0'], /--lr: '0' is not a number > 0/);
    await usage(['train', 'hrm', '--preset', 'huge'], /--preset: 'huge' is not one of tiny, small, paper/);
    await usage(['train', 'hrm', '--positions', 'sideways'], /--positions: 'sideways' is not one of rope, learned/);
    await usage(['train', 'hrm', '--task', 'sudoku-5x5'], /--task: 'sudoku-5x5' is not one of sudoku-4x4/);
    await usage(['train', 'hrm', '--force=yes'], /--force is a switch and takes no value/);
    await usage(['eval', '--checkpoint', 'x', '--segments=-1'], /eval --segments: '-1' is not a whole number from 1 to 256/);
    await usage(['eval', '--checkpoint', 'x', '--segments', '0'], /eval --segments: '0' is not a whole number/);
    await usage(['eval'], /eval: give --checkpoint DIR/);
    await usage(['demo', '--steps=abc'], /demo --steps: 'abc' is not a whole number/);
    await usage(['demo', 'now'], /demo: unexpected argument 'now'/);
  });

  it('--help per command exits 0; hiero with no command shows the commands', async () => {
    expect(await main(['train', '--help'])).toBe(0);
    expect(output.join('\n')).toContain(`usage: hiero train ${KIND_NAMES.join('|')} [options]`);
    expect(output.join('\n')).toMatch(/--steps N\s+training steps, this run \(default 100\) \[a whole number from 1 to/);
    output = [];
    expect(await main(['help', 'solve'])).toBe(0);
    expect(output.join('\n')).toMatch(/usage: hiero solve/);
    expect(await main(['--help'])).toBe(0);
    expect(await main([])).toBe(2);
    expect(output.join('\n')).toMatch(/train\s+Trains a model/);
    // Each command's line is its first sentence, whole.
    for (const line of output.filter((l) => /^  [a-z]+ {2,}[A-Z]/.test(l))) expect(line, line).toMatch(/\.$/);
  });
});

describe('hiero command line: trained work is never lost', () => {
  it('never writes into a directory holding another run unless --resume or --force; resumed runs save in place', async () => {
    const dir = join(temporaryDirectory('hiero-cli'), 'run');
    expect(await main(['train', 'hrm', ...TINY, '--steps', '1', '--out', dir])).toBe(0);
    await usage(['train', 'hrm', ...TINY, '--steps', '1', '--out', dir], /holds a hrm checkpoint at step 1; continue it with hiero train --resume .*or pass --force/);
    await usage(['train', '--resume', dir, '--task', 'sudoku-6x6'], /--task cannot change a resumed run/);
    expect(await main(['train', '--resume', dir, '--steps', '1'])).toBe(0);
    expect((await readManifest(dir)).step).toBe(2);
    expect(await main(['train', 'hrm', ...TINY, '--steps', '1', '--out', dir, '--force'])).toBe(0);
    expect((await readManifest(dir)).step).toBe(1);
    const other = temporaryDirectory('hiero-cli-other');
    writeFileSync(join(other, 'notes.txt'), 'mine');
    await usage(['train', 'hrm', ...TINY, '--out', other], /is not empty and holds no checkpoint/);
  });

  it('default output names do not collide: a second run gets a new directory', async () => {
    const cwd = process.cwd();
    process.chdir(temporaryDirectory('hiero-cwd'));
    try {
      expect(await main(['train', 'hrm', ...TINY, '--steps', '1'])).toBe(0);
      expect(await main(['train', 'hrm', ...TINY, '--steps', '1'])).toBe(0);
      expect(existsSync('checkpoints/hrm-sudoku-4x4/manifest.json')).toBe(true);
      expect(existsSync('checkpoints/hrm-sudoku-4x4-2/manifest.json')).toBe(true);
      expect(await main(['demo', '--steps', '2', '--batch', '2', '--sample', '4'])).toBe(0); // the space form works
      expect(await main(['demo', '--steps', '1', '--batch', '2', '--sample', '0'])).toBe(0);
      expect((await readManifest('checkpoints/demo-lm')).step).toBe(2);
      expect((await readManifest('checkpoints/demo-lm-2')).step).toBe(1);
    } finally {
      process.chdir(cwd);
    }
  });

  it('a directory that cannot be written, and a puzzle that is not one, are named before any work', async () => {
    await usage(['train', 'hrm', ...TINY, '--out', 'README.md'], /README\.md is a file, not a directory; choose another --out/);
    await usage(['train', 'hrm', ...TINY, '--out', 'README.md/run'], /README\.md\/run is a file \(or lies under one\), not a directory/);
    await usage(['export', '--checkpoint', 'model/checkpoints/sudoku-4x4', '--out', '/proc/hiero-export'], /\/proc\/hiero-export cannot be written/);
    await usage(['solve', 'abc'], /solve: not a puzzle: 'a' is neither a Sudoku digit/);
    await usage(['solve', '   '], /solve: no puzzle given/);
    await usage(['generate', '--checkpoint', 'x', 'a'.repeat(20000)], /generate: prompt 1 has 20,000 bytes; at most 16,384 are read/);
    await usage(['chunks', '--checkpoint', 'x', 'a'.repeat(70000)], /chunks: the text has 70,000 bytes; at most 65,536 are read/);
  });

  it('SIGTERM saves like Ctrl-C, and the run resumes from it; a second signal exits 130 without saving', async () => {
    const root = resolve(__dirname, '..');
    const run = (dir: string, signals: number[]) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--import', './engine/node/register.mjs', 'apps/cli/hiero.ts', 'train', 'hrm', ...TINY, '--steps', '100000', '--eval-every', '100000', '--out', dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (chunk) => {
        text += chunk;
        if (/step 5 /.test(text) && !child.killed) signals.forEach((delay, i) => setTimeout(() => child.kill(i === 0 ? 'SIGTERM' : 'SIGINT'), delay));
      });
      child.stderr.on('data', (chunk) => (text += chunk));
      return new Promise<{ code: number | null; text: string }>((done) => child.on('exit', (code) => done({ code, text })));
    };
    const dir = join(temporaryDirectory('hiero-sigterm'), 'run');
    const terminated = await run(dir, [0]);
    expect(terminated.code, terminated.text).toBe(130);
    expect(terminated.text).toMatch(/stopping after this step and saving/);
    const saved = (await readManifest(dir)).step;
    expect(saved).toBeGreaterThanOrEqual(5);
    expect(await main(['train', '--resume', dir, '--steps', '1'])).toBe(0);
    expect((await readManifest(dir)).step).toBe(saved + 1);
    const twice = await run(join(temporaryDirectory('hiero-twice'), 'run'), [0, 30]);
    expect(twice.code, twice.text).toBe(130);
  }, 300_000);

  it('Ctrl-C during training saves the step reached and exits 130', async () => {
    const dir = join(temporaryDirectory('hiero-sigint'), 'run');
    const root = resolve(__dirname, '..');
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', './engine/node/register.mjs', 'apps/cli/hiero.ts', 'train', 'hrm', ...TINY, '--steps', '100000', '--eval-every', '100000', '--out', dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const sent = new Promise<void>((done) => {
      child.stdout.on('data', (chunk) => {
        text += chunk;
        if (/step 5 /.test(text) && !child.killed) {
          child.kill('SIGINT');
          done();
        }
      });
    });
    child.stderr.on('data', (chunk) => (text += chunk));
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    await sent;
    expect(code, text).toBe(130);
    expect(text).toMatch(/stopping after this step and saving/);
    const manifest = await readManifest(dir);
    expect(manifest.step).toBeGreaterThanOrEqual(5);
    expect(JSON.parse(readFileSync(join(dir, manifest.files.session.file), 'utf8')).step).toBe(manifest.step);
  }, 300_000);
});
