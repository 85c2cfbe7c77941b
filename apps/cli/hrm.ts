// `hiero train hrm|trm | eval | solve`: HRM/TRM on generated puzzles from the command line (tests: test/cli.test.ts).
// Every flag is typed and range-checked (apps/cli/args.ts) before any work starts; a run never writes into a
// directory that holds another run unless told to (--resume, --force); Ctrl-C during training saves and exits; a
// diverging run stops with a named error and saves nothing.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  init, memory, readCheckpointFile, readManifest, readScalars, saveCheckpoint, sync, type Tensor,
} from '../../engine/index.ts';
import { evaluatePuzzles } from '../../model/hrm-train.ts';
import {
  createSession, evaluateArcTasks, loadModel, loadTask, solveWithModel, TrainingSession, type NewSessionOptions, type Preset,
} from '../../model/hrm-session.ts';
import { PuzzleError } from '../../model/tasks/common.ts';
import { toBatch, tokensToSudoku } from '../../model/tasks/datasets.ts';
import { formatSudoku, specForCells } from '../../model/tasks/sudoku.ts';
import { IGNORE } from '../../model/hrm-train.ts';
import { UsageError, type CommandSpec, type Parsed } from './args.ts';
import { checkOutput, explainDivergence, freshDirectory, mib, printAdapter, printBesideProgress, printProgress, progressBar } from './output.ts';

const TASK_HELP = 'sudoku-4x4, sudoku-6x6, sudoku-9x9, sudoku-9x9-hard, maze-N (N odd, >= 7) or arc:DIR';
const TASK_PATTERN = /^(sudoku-(4x4|6x6|9x9)|sudoku-9x9-hard|maze-\d+|arc:.+)$/;

/** Options that define a new run's model and data: a resumed run keeps its own. */
const MODEL_OPTIONS = ['task', 'preset', 'lr', 'warmup', 'weight-decay', 'train', 'test', 'max-segments', 'cycles', 'hidden', 'positions', 'seed', 'loss', 'optimizer', 'ema', 'batch'] as const;

/** Flags that only one family of models takes (the other family refuses them by name). */
export const PUZZLE_ONLY = ['task', 'train', 'test', 'max-segments', 'cycles', 'hidden', 'positions', 'loss', 'optimizer', 'ema'] as const;
export const TEXT_ONLY = ['corpus', 'seq'] as const;

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Trains a model, with held-out evaluation and checkpoints, or continues a run exactly where its checkpoint\n' +
    'left it (--resume DIR):\n' +
    '  hrm, trm             HRM or TRM on generated puzzles (deep supervision, adaptive halting)\n' +
    '  hnet, transformer    H-Net (dynamic chunking) or its byte-Transformer baseline on English text',
  positionals: 'hrm|trm|hnet|transformer',
  maxPositionals: 1,
  options: {
    task: { type: 'string', help: `hrm/trm: the puzzles, ${TASK_HELP} (default sudoku-4x4)`, value: 'TASK' },
    corpus: { type: 'string', help: "hnet/transformer: 'english' (Brown corpus and Shakespeare, shipped) or a text file (default english)", value: 'TEXT' },
    preset: { type: 'choice', choices: ['tiny', 'small', 'paper', 'small-2stage'], help: 'model size: tiny, small, paper (hrm/trm); tiny, small, small-2stage (hnet/transformer) (default tiny)' },
    steps: { type: 'integer', min: 1, max: 1e9, help: 'training steps, this run (default 100)' },
    batch: { type: 'integer', min: 1, max: 65536, help: 'puzzles (hrm/trm, default 64) or text windows (hnet/transformer, default 8) per step' },
    seq: { type: 'integer', min: 8, max: 65536, help: 'hnet/transformer: bytes per window (default: 128 tiny, 512 otherwise)' },
    lr: { type: 'number', min: 0, exclusiveMin: true, max: 10, help: 'peak learning rate (default: hrm/trm 1e-2 tiny, 1e-3 small, 1e-4 paper; 3e-3 hnet/transformer tiny, 1e-3 small)' },
    warmup: { type: 'integer', min: 0, max: 1e9, help: 'learning-rate warm-up steps (default: none for hrm/trm, steps/20 for hnet/transformer)' },
    'weight-decay': { type: 'number', min: 0, max: 10, help: 'decoupled weight decay (default: 0.1, hrm paper 1)' },
    train: { type: 'integer', min: 1, max: 1e7, help: 'hrm/trm: distinct training puzzles, augmented on the fly (default 500)' },
    test: { type: 'integer', min: 1, max: 1e6, help: 'hrm/trm: held-out puzzles (default 100)' },
    'max-segments': { type: 'integer', min: 1, max: 64, help: 'most ACT segments per puzzle (M_max)' },
    cycles: { type: 'integer', min: 1, max: 16, help: 'high- and low-level cycles per segment (N = T)' },
    hidden: { type: 'integer', min: 8, max: 4096, help: 'hidden size (a multiple of the heads)' },
    positions: { type: 'choice', choices: ['rope', 'learned'], help: 'position encoding' },
    seed: { type: 'integer', min: 0, max: 2 ** 32 - 1, default: 1, help: 'seed of the data and the initial weights' },
    loss: { type: 'choice', choices: ['softmax', 'stablemax'], help: 'hrm/trm: token loss (default softmax)' },
    optimizer: { type: 'choice', choices: ['adamw', 'adam-atan2'], help: 'optimiser (default adamw; paper adam-atan2)' },
    ema: { type: 'number', min: 0, exclusiveMin: true, max: 0.99999, help: 'evaluate an exponential moving average of the weights with this decay (TRM: 0.999)' },
    'eval-every': { type: 'integer', min: 1, max: 1e9, help: 'steps between held-out evaluations and saves (default steps/4, at least 10)' },
    out: { type: 'string', help: 'checkpoint directory (default: checkpoints/<model>-<task or corpus>, numbered if taken)', value: 'DIR' },
    resume: { type: 'string', help: 'continue the run saved in DIR (it saves back there unless --out is given)', value: 'DIR' },
    force: { type: 'boolean', help: 'replace the checkpoint in --out if there is one' },
  },
  notes: [
    'examples:',
    '  hiero train hrm --task sudoku-4x4 --steps 500',
    '  hiero train hnet --preset tiny --steps 300',
    '  hiero train --resume checkpoints/hrm-sudoku-4x4 --steps 500',
    'Ctrl-C saves the run and stops (press it again to stop without saving).',
  ],
};

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'Held-out accuracy of a checkpoint after every segment (ARC checkpoints: pass@1 and pass@2 by voting).\nReads only the checkpoint\'s weights.',
  positionals: '',
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint directory (required)', value: 'DIR' },
    segments: { type: 'integer', min: 1, max: 256, help: 'segments to run (default: the model\'s M_max; more shows test-time scaling)' },
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
    segments: { type: 'integer', min: 1, max: 256, help: 'segments to run (default: the model\'s M_max)' },
  },
};

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
/** A UsageError for flags given that belong to another family of models. */
export function refuseFlags(p: Parsed, flags: readonly string[], owners: string): void {
  const wrong = flags.find((name) => p.given.has(name));
  if (wrong) throw new UsageError(`train --${wrong} applies to ${owners} only`);
}

/** Stop requests from Ctrl-C: the first asks the loop to save and stop, the second quits at once. */
export class Interrupts {
  requested = false;
  private readonly handler = () => {
    if (this.requested) {
      console.error(`\nhiero: stopped without saving; the checkpoint in ${this.lastSaved()} is unchanged`);
      process.exit(130);
    }
    this.requested = true;
    console.error('\nhiero: stopping after this step and saving (Ctrl-C again to stop without saving)');
  };

  constructor(private readonly lastSaved: () => string) {
    process.on('SIGINT', this.handler);
  }

  dispose(): void {
    process.off('SIGINT', this.handler);
  }
}

export async function train(p: Parsed): Promise<number> {
  refuseFlags(p, TEXT_ONLY, 'hnet and transformer');
  if (p.values.preset === 'small-2stage') throw new UsageError("train --preset: 'small-2stage' is an hnet/transformer preset; hrm and trm take tiny, small or paper");
  const v: Parsed['values'] = { task: 'sudoku-4x4', preset: 'tiny', steps: 100, batch: 64, train: 500, test: 100, loss: 'softmax', ...p.values };
  const resumeFrom = (v.resume as string | undefined) ?? null;
  const variant = p.positionals[0];
  if (resumeFrom !== null) {
    if (variant !== undefined) throw new UsageError(`train --resume continues the run saved in ${resumeFrom}; give no model name ('${variant}')`);
    const fixed = MODEL_OPTIONS.filter((name) => p.given.has(name));
    if (fixed.length) throw new UsageError(`train --resume: --${fixed[0]} cannot change a resumed run (it continues with its own settings)`);
    await readManifest(resumeFrom); // a missing or unreadable checkpoint is named before anything starts
  } else {
    if (variant !== 'hrm' && variant !== 'trm') {
      throw new UsageError(variant === undefined ? "train: say which model: hiero train hrm|trm (or --resume DIR)" : `train: unknown model '${variant}' (hrm or trm)`);
    }
    if (!TASK_PATTERN.test(v.task as string)) throw new UsageError(`train --task: '${v.task}' is not one of ${TASK_HELP}`);
  }
  const out = (v.out as string | undefined) ?? resumeFrom ?? (await freshDirectory(`checkpoints/${variant}-${v.task}`));
  if (out !== resumeFrom) await checkOutput(out, Boolean(v.force));

  const report = await init();
  printAdapter(report);
  let session: TrainingSession;
  if (resumeFrom !== null) {
    session = await TrainingSession.resume(resumeFrom);
    console.log(`resumed ${session.state.task} at step ${session.state.step}`);
  } else {
    const preset = v.preset as Preset;
    const overrides = { maxSegments: v['max-segments'], cycles: v.cycles, hidden: v.hidden, positions: v.positions };
    try {
      session = await createSession({
        variant: variant as 'hrm' | 'trm', task: v.task as string, preset, seed: v.seed as number,
        train: v.train as number, test: v.test as number, batch: v.batch as number,
        lr: v.lr as number | undefined, warmup: v.warmup as number | undefined, weightDecay: v['weight-decay'] as number | undefined,
        loss: v.loss as 'softmax' | 'stablemax', optimizer: v.optimizer as 'adamw' | 'adam-atan2' | undefined, ema: v.ema as number | undefined,
        ...(overrides as Partial<NewSessionOptions>),
      });
    } catch (error) {
      // The model's own check, phrased as the option that caused it.
      if (/hidden size \d+ is not divisible/.test((error as Error).message)) throw new UsageError(`train --hidden: ${(error as Error).message}`);
      throw error;
    }
  }
  const { model, state } = session;
  const steps = v.steps as number;
  const evalEvery = (v['eval-every'] as number | undefined) ?? Math.max(10, Math.floor(steps / 4));
  console.log(
    `model: ${state.config.variant.toUpperCase()} hidden ${state.config.hidden}, ${state.config.hLayers}+${state.config.lLayers} layers, ` +
      `N=${state.config.hCycles} T=${state.config.lCycles}, up to ${state.config.haltMaxSteps} segments, ${model.parameterCount().toLocaleString('en')} parameters; ` +
      `task ${state.task}: ${state.trainCount} training puzzles (augmented), ${session.task.heldOut.length} held out; batch ${state.batch}; checkpoint: ${out}`,
  );
  let savedStep: number | null = resumeFrom !== null ? state.step : null;
  const interrupts = new Interrupts(() => (savedStep === null ? `${out} (none yet)` : `${out} (step ${savedStep})`));
  const start = performance.now();
  const first = state.step;
  const tty = process.stdout.isTTY;
  let lastEvaluation: Awaited<ReturnType<TrainingSession['evaluate']>> | null = null;
  const save = async () => {
    await session.monitor.assertFinite(); // never save weights from a run that went non-finite
    await session.save(out);
    savedStep = state.step;
  };
  try {
    for (let s = 1; s <= steps; s++) {
      const m = session.step();
      const last = s === steps || interrupts.requested;
      if (s % 5 === 0 || s === 1 || last) {
        const [loss, tokens, exact, q, segments, halted] = await readScalars([m.loss, m.tokenAccuracy, m.exactCorrect, m.qAccuracy, m.segments, m.halted]);
        await session.monitor.assertFinite();
        const rate = ((s * state.batch) / ((performance.now() - start) / 1000)).toFixed(1);
        // Accuracies are over the samples that halted at this step; none may have.
        const ofHalted = (x: number, show: (x: number) => string) => (halted > 0 ? show(x) : '-');
        const line =
          `${progressBar(s, steps)} step ${state.step}  loss ${loss.toFixed(3)}  cells ${ofHalted(tokens, pct)}  exact ${ofHalted(exact, pct)}  ` +
          `Q ${ofHalted(q, pct)}  segments ${ofHalted(segments, (x) => x.toFixed(2))}  ${rate} samples/s  peak ${mib(memory().peakBytes)} MiB`;
        printProgress(line, last, tty);
      }
      for (const t of Object.values(m) as Tensor[]) t.dispose();
      // A Ctrl-C may have arrived during the reads above: it, too, ends the run with a save.
      if (s % evalEvery === 0 || last || interrupts.requested) {
        if (!interrupts.requested) {
          const r = await session.evaluate({ segments: state.config.haltMaxSteps });
          lastEvaluation = r;
          const segs = r.exactBySegment.length;
          const msg = `  held-out after step ${state.step}: cell ${pct(r.cellBySegment[segs - 1])}, exact ${pct(r.exactBySegment[segs - 1])} (per segment: ${r.exactBySegment.map(pct).join(' ')})`;
          printBesideProgress(msg, tty);
        }
        await save();
      }
      if (interrupts.requested) break;
    }
    await sync();
  } catch (error) {
    throw explainDivergence(error, out, savedStep);
  } finally {
    interrupts.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  const done = state.step - first;
  console.log(
    `trained ${done} steps in ${seconds.toFixed(0)} s (${((done * state.batch) / seconds).toFixed(1)} samples/s); peak GPU memory held ` +
      `${mib(memory().peakBytes)} MiB (${mib(memory().peakInUseBytes)} MiB in live tensors); checkpoint: ${out} (step ${state.step})`,
  );
  if (lastEvaluation) showSolvedExample(session, lastEvaluation.predictions);
  session.dispose();
  return interrupts.requested ? 130 : 0;
}

/** Prints one held-out Sudoku the model solved, beside the model's answer: what training achieved, shown. */
function showSolvedExample(session: TrainingSession, predictions: Int32Array[]): void {
  const sudoku = /^sudoku-(\d)x\d/.exec(session.state.task);
  if (!sudoku) return;
  const spec = specForCells(Number(sudoku[1]) ** 2);
  const index = session.task.heldOut.findIndex((ex, i) => predictions[i]?.every((t, j) => ex.labels[j] === IGNORE || t === ex.labels[j]));
  if (index < 0) {
    console.log('no held-out puzzle is solved yet');
    return;
  }
  const puzzle = formatSudoku(tokensToSudoku(session.task.heldOut[index].inputs), spec).split('\n');
  const answer = formatSudoku(tokensToSudoku(predictions[index]), spec).split('\n');
  console.log(`a held-out puzzle it solves (held-out #${index + 1}):`);
  puzzle.forEach((line, i) => console.log(`  ${line.padEnd(puzzle[0].length)}   ${i === Math.floor(puzzle.length / 2) ? '->' : '  '}   ${answer[i]}`));
}

function checkpointOf(spec: CommandSpec, p: Parsed): string {
  const dir = p.values.checkpoint as string | undefined;
  if (!dir) throw new UsageError(`${spec.name}: give --checkpoint DIR (for example: hiero ${spec.name} --checkpoint checkpoints/hrm-sudoku-4x4)`);
  return dir;
}

export async function evaluate(p: Parsed): Promise<number> {
  const dir = checkpointOf(evalSpec, p);
  await readManifest(dir);
  printAdapter(await init());
  const { model, state } = await loadModel(dir);
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
  const { model, state } = await loadModel(dir);
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
