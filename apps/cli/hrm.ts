// `hiero eval | solve | export`: trained HRM/TRM checkpoints on puzzles from the command line, and weights-only copies
// of any checkpoint (tests: test/cli.test.ts, test/shipped.test.ts). Training is `hiero train` (apps/cli/train.ts).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { init, readCheckpointFile, readManifest, saveCheckpoint } from '../../engine/index.ts';
import { evaluatePuzzles } from '../../model/hrm-train.ts';
import { evaluateArcTasks, loadTask, solveWithModel } from '../../model/hrm-session.ts';
import { loadPuzzleModel } from '../../model/registry.ts';
import { SOLVE_OPTIONS } from '../../model/options.ts';
import { PuzzleError } from '../../model/tasks/common.ts';
import { toBatch } from '../../model/tasks/datasets.ts';
import { UsageError, type CommandSpec, type Parsed } from './args.ts';
import { checkOutput, printAdapter } from './output.ts';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'Held-out accuracy of a checkpoint after every segment (ARC checkpoints: pass@1 and pass@2 by voting).\nReads only the checkpoint\'s weights.',
  positionals: '',
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint directory (required)', value: 'DIR' },
    segments: SOLVE_OPTIONS.segments,
    count: { type: 'integer', min: 1, max: 1e6, help: 'evaluate the first N held-out puzzles only' },
    augmentations: { type: 'integer', min: 1, max: 64, default: 8, help: 'ARC: augmented predictions voted on per test input' },
  },
};

export const solveSpec: CommandSpec = {
  name: 'solve',
  summary: 'Runs a trained model on one puzzle and prints its answer: a Sudoku as digits with "." for blanks\n(rows may be separated by spaces), or a maze as rows of # . S G (the path is printed as *). The puzzle comes\nas arguments or on standard input. Without --checkpoint, a 4×4 Sudoku uses the solver shipped in\nmodel/checkpoints.',
  positionals: '[PUZZLE ...]',
  maxPositionals: 1000,
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint directory (default: the shipped solver for the puzzle\'s size)', value: 'DIR' },
    segments: SOLVE_OPTIONS.segments,
  },
};

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

function checkpointOf(spec: CommandSpec, p: Parsed): string {
  const dir = p.values.checkpoint as string | undefined;
  if (!dir) throw new UsageError(`${spec.name}: give --checkpoint DIR (for example: hiero ${spec.name} --checkpoint checkpoints/hrm-sudoku-4x4)`);
  return dir;
}

export async function evaluate(p: Parsed): Promise<number> {
  const dir = checkpointOf(evalSpec, p);
  await readManifest(dir);
  printAdapter(await init());
  const { model, state } = await loadPuzzleModel(dir);
  const segments = (p.values.segments as number | undefined) ?? state.config.haltMaxSteps;
  const task = await loadTask(state.task, { train: state.heldOut.train, test: state.heldOut.test, seed: state.heldOut.seed });
  const count = (p.values.count as number | undefined) ?? task.heldOut.length;
  const examples = task.heldOut.slice(0, count);
  if (examples.length === 0) throw new PuzzleError(`eval: task ${state.task} has no held-out puzzles with answers`);
  const start = performance.now();
  const r = await evaluatePuzzles(model, { ...toBatch(examples) }, { segments });
  const seconds = (performance.now() - start) / 1000;
  console.log(`${state.task} (step ${state.step}), ${r.predictions.length} held-out puzzles, ${segments} segments (${(r.predictions.length / seconds).toFixed(1)} puzzles/s):`);
  r.exactBySegment.forEach((e, m) => {
    const beyond = m >= state.config.haltMaxSteps ? '   (beyond the trained segments)' : '';
    console.log(`  segment ${m + 1}: exact ${pct(e)}, cell ${pct(r.cellBySegment[m])}${beyond}`);
  });
  if (task.arcTasks) {
    const augmentations = p.values.augmentations as number;
    const arc = await evaluateArcTasks(model, task.arcTasks, { augmentations, segments });
    console.log(`  ARC, voting over ${augmentations} augmentations: pass@1 ${pct(arc.pass1)}, pass@2 ${pct(arc.pass2)} of ${arc.tasks} test inputs`);
  }
  model.dispose();
  return 0;
}

/**
 * The solvers that come with the project (model/checkpoints), by number of cells: `hiero solve` works right after
 * clone. No 6×6 solver ships: one that solves needs a GPU's training budget (issue 13).
 */
export const SHIPPED_SOLVERS: Record<number, string> = {
  16: fileURLToPath(new URL('../../model/checkpoints/sudoku-4x4', import.meta.url)),
};

/** The shipped solver for a Sudoku given as text (its size from the number of cells), or a usage error. */
function shippedSolverFor(text: string): string {
  const cells = text.replace(/[\s|+\-]/g, '').length;
  const dir = SHIPPED_SOLVERS[cells];
  if (!dir) {
    const what = /[#SG]/.test(text) ? 'mazes' : `puzzles of ${cells} cells`;
    throw new UsageError(`solve: no solver for ${what} ships with Hiero (4×4 Sudoku's does); train one and give --checkpoint DIR`);
  }
  return dir;
}

export async function solve(p: Parsed): Promise<number> {
  const given = p.values.checkpoint as string | undefined;
  const raw = p.positionals.length > 0 ? null : readFileSync(0, 'utf8');
  const dir = given ?? shippedSolverFor(raw ?? p.positionals.join(''));
  await readManifest(dir);
  await init();
  const { model, state } = await loadPuzzleModel(dir);
  if (!given) console.log(`(the shipped ${state.task} solver, model/checkpoints)`);
  // Sudoku digits may come as several arguments; a maze's rows are lines (one argument each, or stdin as it is).
  const text = raw ?? p.positionals.join(state.task.startsWith('maze-') ? '\n' : ' ');
  const result = await solveWithModel(model, state.task, text, { segments: p.values.segments as number | undefined });
  console.log(result.answer);
  const halt = result.haltSegment === null ? 'the Q head never chose to halt' : `the Q head halts after segment ${result.haltSegment}`;
  console.log(
    result.valid
      ? `solved: the answer above is segment ${result.shownSegment}'s, the first right one of ${result.segments}; ${halt}`
      : `not solved: no segment of ${result.segments} got it right (the answer above is the last segment's); ${halt}`,
  );
  model.dispose();
  return 0;
}

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'Writes a weights-only copy of a checkpoint (no optimiser state: a fraction of the size), for shipping a\nsolver or serving a model. It evaluates, solves and generates like the original; it cannot be resumed.',
  positionals: '',
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint to copy (required)', value: 'DIR' },
    out: { type: 'string', help: 'the new checkpoint directory (required)', value: 'DIR' },
    force: { type: 'boolean', help: 'replace a checkpoint in --out' },
  },
};

export async function exportWeights(p: Parsed): Promise<number> {
  const from = checkpointOf(exportSpec, p);
  const out = p.values.out as string | undefined;
  if (!out) throw new UsageError('export: give --out DIR for the weights-only copy');
  const manifest = await readManifest(from);
  if (!manifest.files.weights) throw new UsageError(`export: ${from} has no weights file`);
  await checkOutput(out, Boolean(p.values.force));
  const bytes = await readCheckpointFile(from, manifest, 'weights');
  const written = await saveCheckpoint(out, manifest.kind, manifest.step, [{ role: 'weights', extension: 'safetensors', bytes }]);
  console.log(`wrote ${out}: the weights of ${from} at step ${written.step} (${(bytes.byteLength / 1024).toFixed(0)} KiB)`);
  return 0;
}
