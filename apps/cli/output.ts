// Where a command's results go, and what it says about the adapter: shared by train, demo and the H-Net commands.

import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describeAdapter, isCheckpoint, NonFiniteError, readManifest, type AdapterReport } from '../../engine/index.ts';
import { UsageError, type OptionSpec } from './args.ts';

/** --out and --force of the commands that write a new checkpoint directory (export, import). */
export const NEW_CHECKPOINT_OPTIONS = {
  out: { type: 'string', help: 'the new checkpoint directory (required)', value: 'DIR' },
  force: { type: 'boolean', help: 'replace a checkpoint in --out' },
} as const satisfies Record<string, OptionSpec>;

export function printAdapter(report: AdapterReport): void {
  console.log(`adapter: ${describeAdapter(report)}`);
  if (report.fallback) console.log(`hiero: running on a CPU driver because ${report.fallback}: correct, but slow`);
}

async function entries(dir: string): Promise<string[] | null> {
  try {
    return await readdir(dir);
  } catch {
    return null;
  }
}

/** The first of `base`, `base-2`, `base-3`, ... that does not exist yet: default output names never collide. */
export async function freshDirectory(base: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    if ((await entries(candidate)) === null) return candidate;
  }
}

/** Why a directory cannot be written, in a user's words (a file in the way, permissions, a read-only or full disk). */
function whyNotWritable(out: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EEXIST':
    case 'ENOTDIR':
      return `${out} is a file (or lies under one), not a directory; choose another --out`;
    case 'EACCES':
    case 'EPERM':
      return `${out} cannot be written: permission denied; choose another --out`;
    case 'EROFS':
      return `${out} is on a read-only file system; choose another --out`;
    case 'ENOSPC':
    case 'EDQUOT':
      return `the disk holding ${out} is full; free some space or choose another --out`;
    default:
      return `${out} cannot be written (${error.code ?? error.message}); choose another --out`;
  }
}

/**
 * mkdir -p, one level at a time: Node's own recursive mkdir never returns on some file systems (/proc, for one),
 * and a mistyped --out must fail, not hang.
 */
async function makeDirectory(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await stat(path)).isDirectory()) return;
    if (code !== 'ENOENT' || dirname(path) === path) throw error;
    await makeDirectory(dirname(path));
    await mkdir(path);
  }
}

/**
 * Creates the output directory and writes a file into it before any work starts, so that a run never trains for
 * hours to fail at its first save: a file in the way, a read-only location or a full disk are named at once.
 */
async function probeWritable(out: string): Promise<void> {
  const probe = join(out, `.hiero-write-test-${process.pid}`);
  try {
    await makeDirectory(out);
    await writeFile(probe, 'hiero checks that it can write here before it trains\n');
    await rm(probe, { force: true });
  } catch (error) {
    throw new UsageError(whyNotWritable(out, error as NodeJS.ErrnoException));
  }
}

/** Refuses an output directory that holds another run (or anything else) unless --force, or that cannot be written. */
export async function checkOutput(out: string, force: boolean): Promise<void> {
  const kind = await stat(out).then((s) => (s.isDirectory() ? 'directory' : 'file'), () => 'nothing');
  if (kind === 'file') throw new UsageError(`${out} is a file, not a directory; choose another --out`);
  const files = await entries(out);
  if (files === null || files.length === 0 || force) return probeWritable(out);
  if (await isCheckpoint(out)) {
    const m = await readManifest(out).catch(() => null);
    const what = m ? `a ${m.kind} checkpoint at step ${m.step}` : 'a checkpoint';
    const resume = m?.kind === 'hrm' ? `continue it with hiero train --resume ${out}, or ` : '';
    throw new UsageError(`${out} holds ${what}; ${resume}pass --force to replace it, or choose another --out`);
  }
  throw new UsageError(`${out} is not empty and holds no checkpoint; choose another --out (or --force to write there anyway)`);
}


/** A line between progress-bar updates: on a terminal it must not land on the bar's own line. */
export function printBesideProgress(message: string, tty: boolean): void {
  if (tty) process.stdout.write(`\n${message}\n`);
  else console.log(message);
}

/** A diverged run's error, saying which checkpoint still stands (training never saves non-finite weights). */
export function explainDivergence(error: unknown, out: string, savedStep: number | null): unknown {
  if (!(error instanceof NonFiniteError)) return error;
  const kept = savedStep === null ? 'nothing was saved' : `the checkpoint in ${out} (step ${savedStep}) is unchanged`;
  return new NonFiniteError(`${error.message}; ${kept}. Try a lower --lr.`);
}

/** MiB with one decimal below 10 MiB: the progress line's memory column. */
export const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0);

export function progressBar(done: number, total: number, width = 24): string {
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** A training progress line: redrawn in place on a terminal, one line per report in a log. */
export function printProgress(line: string, last: boolean, tty: boolean): void {
  if (tty) process.stdout.write(`\r${line}${last ? '\n' : ''}`);
  else console.log(line);
}
