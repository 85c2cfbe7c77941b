// ARC-format grid tasks (tests: test/tasks.test.ts): the public ARC JSON format
//   { "train": [{ "input": [[…]], "output": [[…]] }, …], "test": [{ "input": …, "output"?: … }, …] }
// with grids up to 30×30 of colours 0-9. A loader that rejects malformed files with the field at fault, the
// 30×30 encoding HRM uses (0 pad, 1 end-of-grid marker, 2-11 colours), and the dihedral and colour-permutation
// augmentations (black kept fixed) with their inverses, so predictions can be mapped back and voted on.

import { PuzzleError, Random } from './common.ts';
import { dihedral } from './maze.ts';

export type ArcGrid = number[][];

export interface ArcPair {
  input: ArcGrid;
  output?: ArcGrid;
}

export interface ArcTask {
  name: string;
  train: ArcPair[];
  test: ArcPair[];
}

export const ARC_MAX = 30;
export const ARC_TOKENS = { pad: 0, eos: 1, colour0: 2 } as const;
export const ARC_VOCAB = 12;

function checkGrid(value: unknown, where: string): ArcGrid {
  if (!Array.isArray(value) || value.length === 0) throw new PuzzleError(`${where}: expected a non-empty list of rows`);
  if (value.length > ARC_MAX) throw new PuzzleError(`${where}: ${value.length} rows, more than ${ARC_MAX}`);
  const width = Array.isArray(value[0]) ? value[0].length : -1;
  value.forEach((row, r) => {
    if (!Array.isArray(row)) throw new PuzzleError(`${where}: row ${r} is not a list`);
    if (row.length !== width) throw new PuzzleError(`${where}: row ${r} has ${row.length} cells, row 0 has ${width} (grids must be rectangular)`);
    if (width === 0 || width > ARC_MAX) throw new PuzzleError(`${where}: rows of ${width} cells (1 to ${ARC_MAX} allowed)`);
    row.forEach((v, c) => {
      if (!Number.isInteger(v) || v < 0 || v > 9) throw new PuzzleError(`${where}: cell [${r}][${c}] is ${JSON.stringify(v)}, not a colour 0-9`);
    });
  });
  return value as ArcGrid;
}

/** Parses and validates one task from its JSON text (or already-parsed object). */
export function parseArcTask(source: string | unknown, name = 'task'): ArcTask {
  let data: unknown = source;
  if (typeof source === 'string') {
    try {
      data = JSON.parse(source);
    } catch (error) {
      throw new PuzzleError(`${name}: not valid JSON (${(error as Error).message})`);
    }
  }
  const obj = data as { train?: unknown; test?: unknown };
  if (!obj || typeof obj !== 'object') throw new PuzzleError(`${name}: expected an object with "train" and "test"`);
  const pairs = (key: 'train' | 'test', needOutput: boolean): ArcPair[] => {
    const list = obj[key];
    if (!Array.isArray(list) || list.length === 0) throw new PuzzleError(`${name}: "${key}" must be a non-empty list of pairs`);
    return list.map((pair, i) => {
      const p = pair as { input?: unknown; output?: unknown };
      const input = checkGrid(p?.input, `${name}.${key}[${i}].input`);
      if (p.output === undefined) {
        if (needOutput) throw new PuzzleError(`${name}.${key}[${i}]: a training pair needs an "output"`);
        return { input };
      }
      return { input, output: checkGrid(p.output, `${name}.${key}[${i}].output`) };
    });
  };
  return { name, train: pairs('train', true), test: pairs('test', false) };
}

/** Loads every *.json task in a directory (Node). */
export async function loadArcDirectory(dir: string): Promise<ArcTask[]> {
  const fsModule = 'node:fs/promises'; // computed: browser bundles (the playground's worker) never follow it
  const { readdir, readFile } = (await import(/* @vite-ignore */ fsModule)) as typeof import('node:fs/promises');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (f) => parseArcTask(await readFile(`${dir}/${f}`, 'utf8'), f.replace(/\.json$/, ''))));
}

/** A grid as 30×30 tokens: colours at the top left, an end-of-grid marker on the row and column after it, padding elsewhere. */
export function encodeArcGrid(grid: ArcGrid): number[] {
  const out = new Array<number>(ARC_MAX * ARC_MAX).fill(ARC_TOKENS.pad);
  const h = grid.length;
  const w = grid[0].length;
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) out[r * ARC_MAX + c] = ARC_TOKENS.colour0 + grid[r][c];
  if (h < ARC_MAX) for (let c = 0; c <= Math.min(w, ARC_MAX - 1); c++) out[h * ARC_MAX + c] = ARC_TOKENS.eos;
  if (w < ARC_MAX) for (let r = 0; r <= Math.min(h, ARC_MAX - 1); r++) out[r * ARC_MAX + w] = ARC_TOKENS.eos;
  return out;
}

/** Reads a predicted 30×30 token grid back: the largest rectangle of colours before the end-of-grid markers. */
export function decodeArcGrid(tokens: readonly number[]): ArcGrid | null {
  let w = 0;
  while (w < ARC_MAX && tokens[w] >= ARC_TOKENS.colour0) w++;
  if (w === 0) return null;
  const grid: ArcGrid = [];
  for (let r = 0; r < ARC_MAX; r++) {
    const row = tokens.slice(r * ARC_MAX, r * ARC_MAX + w);
    if (!row.every((t) => t >= ARC_TOKENS.colour0)) break;
    grid.push(row.map((t) => t - ARC_TOKENS.colour0));
  }
  return grid;
}

export interface ArcAugmentation {
  /** 0..7: one of the symmetries of the square. */
  symmetry: number;
  /** colours[c] is the new colour of colour c; colours[0] = 0 (black stays). */
  colours: number[];
}

export function randomArcAugmentation(random: Random): ArcAugmentation {
  return { symmetry: random.int(8), colours: [0, ...random.shuffle([1, 2, 3, 4, 5, 6, 7, 8, 9])] };
}

export function applyArcAugmentation(grid: ArcGrid, aug: ArcAugmentation): ArcGrid {
  const h = grid.length;
  const w = grid[0].length;
  const t = dihedral(grid.flat(), h, w, aug.symmetry);
  return Array.from({ length: t.rows }, (_, r) => t.grid.slice(r * t.cols, (r + 1) * t.cols).map((v) => aug.colours[v]));
}

/** The augmentation that undoes `aug`. */
export function invertArcAugmentation(aug: ArcAugmentation): ArcAugmentation {
  const inverseSymmetry = [0, 3, 2, 1, 4, 5, 6, 7][aug.symmetry];
  const colours = new Array<number>(10);
  aug.colours.forEach((to, from) => (colours[to] = from));
  return { symmetry: inverseSymmetry, colours };
}

export interface ArcVote {
  grid: ArcGrid;
  votes: number;
}

/**
 * Votes over predictions made on augmented copies of one test input: each prediction is mapped back through its
 * augmentation's inverse, identical grids pool their votes, and the ranking (most votes first, ties by first
 * appearance) gives the attempts: pass@1 uses the first, pass@2 the first two.
 */
export function voteOnPredictions(predictions: (ArcGrid | null)[], augmentations: ArcAugmentation[]): ArcVote[] {
  const tally = new Map<string, ArcVote>();
  predictions.forEach((grid, i) => {
    if (!grid || grid.length === 0 || grid[0].length === 0) return;
    if (grid.some((row) => row.length !== grid[0].length)) return;
    const back = applyArcAugmentation(grid, invertArcAugmentation(augmentations[i]));
    const key = JSON.stringify(back);
    const entry = tally.get(key);
    if (entry) entry.votes++;
    else tally.set(key, { grid: back, votes: 1 });
  });
  return [...tally.values()].sort((a, b) => b.votes - a.votes);
}
