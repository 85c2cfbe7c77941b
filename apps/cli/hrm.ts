// `hiero eval | solve | export`: held-out scores of a checkpoint of any kind, trained HRM/TRM checkpoints on puzzles,
// and weights-only copies of any checkpoint (tests: test/cli.test.ts, test/shipped.test.ts, test/kinds.test.ts).
// Training is `hiero train` (apps/cli/train.ts).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assertWeightsSource, init, readCheckpointFile, readCheckpointJson, readManifest, readWeights, saveCheckpoint, type LoadedWeights } from '../../engine/index.ts';
import { loadCorpus, unigramBitsPerByte } from '../../model/data/corpus.ts';
import { specOf, type ModelFamily } from '../../model/kinds/index.ts';
import { SENSOR_TASK_INFO, sensorStreams } from '../../model/data/sensors.ts';
import { describeSensorEvaluation, evaluateSensorStreams } from '../../model/sensor-session.ts';
import { evaluateText, type TextSessionState } from '../../model/text-session.ts';
import { evaluateInstructions } from '../../model/instruction-eval.ts';
import { evaluatePuzzles } from '../../model/hrm-train.ts';
import { evaluateArcTasks, loadTask, resizePuzzleModel, solveWithModel } from '../../model/hrm-session.ts';
import { kindOfDecoded, loadPuzzleModel, loadSensorModel, loadTextModel } from '../../model/registry.ts';
import { SOLVE_OPTIONS, TRAIN_OPTIONS } from '../../model/options.ts';
import { PuzzleError } from '../../model/tasks/common.ts';
import { toBatch } from '../../model/tasks/datasets.ts';
import { UsageError, type CommandSpec, type Parsed } from './args.ts';
import { checkOutput, NEW_CHECKPOINT_OPTIONS, printAdapter } from './output.ts';
import { exportFla, exportOfficial } from './official.ts';

/** eval's options that only some families' checkpoints take. */
const EVAL_OPTION_FAMILIES: [string, ModelFamily[]][] = [
  ['segments', ['puzzle']], ['task', ['puzzle']], ['augmentations', ['puzzle']], ['count', ['puzzle', 'sensor']],
  ['corpus', ['text']], ['seq', ['text']], ['windows', ['text']], ['instructions', ['text']],
];
const FAMILY_WORDS: { [F in ModelFamily]: string } = { puzzle: 'puzzle model', text: 'language model', sensor: 'sensor model' };

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'Held-out scores of a checkpoint of any kind: a puzzle model\'s accuracy after every segment (ARC\ncheckpoints: pass@1 and pass@2 by voting); a language model\'s bits per byte (and an H-Net\'s chunks) on held-out\ntext; a sensor model\'s MSE on held-out streams. Reads only the checkpoint\'s weights.',
  positionals: '',
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint directory (required)', value: 'DIR' },
    segments: SOLVE_OPTIONS.segments,
    task: { ...TRAIN_OPTIONS.task, help: 'puzzle checkpoints: evaluate on another task of the same vocabulary (maze-11 for a maze-7 model: a larger grid than trained on; needs --positions rope or --mixer plstm in training)' },
    count: { type: 'integer', min: 1, max: 1e6, help: 'puzzles and sensor streams: evaluate the first N held-out puzzles or streams only' },
    augmentations: { type: 'integer', min: 1, max: 64, default: 8, help: 'ARC: augmented predictions voted on per test input' },
    corpus: { ...TRAIN_OPTIONS.corpus, help: "language models: the held-out text of 'english', 'shakespeare' or a text file (default: the run's own corpus, else english)" },
    seq: { ...TRAIN_OPTIONS.seq, help: "language models: bytes per window (default: the run's own, else 128)" },
    windows: { type: 'integer', min: 1, max: 100000, default: 32, help: 'language models: held-out windows, evenly spaced' },
    instructions: { type: 'integer', min: 1, max: 1000, default: 8, help: 'models trained on instructions (hrm-text): held-out instructions per task family and split, scored by exact match' },
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
  await assertWeightsSource(dir);
  // Read once: the weights say the kind, then the same bytes build the model.
  const weights = await readWeights({ path: dir });
  const family = specOf(kindOfDecoded(weights.decoded, weights.origin)).family;
  const wrong = EVAL_OPTION_FAMILIES.find(([name, families]) => p.given.has(name) && !families.includes(family));
  if (wrong) throw new UsageError(`eval --${wrong[0]} applies to ${wrong[1].map((f) => FAMILY_WORDS[f]).join(' and ')} checkpoints; ${dir} holds a ${FAMILY_WORDS[family]}`);
  printAdapter(await init());
  if (family === 'text') return evaluateLanguageModel(dir, p, weights);
  if (family === 'sensor') return evaluateSensorModel(dir, p, weights);
  const loadedPuzzle = await loadPuzzleModel(dir, weights);
  const { state } = loadedPuzzle;
  const taskName = (p.values.task as string | undefined) ?? state.task;
  const other = taskName !== state.task;
  const segments = (p.values.segments as number | undefined) ?? state.config.haltMaxSteps;
  // Another task (a larger maze): its own held-out puzzles, none of which the run trained on (a fresh seed's split).
  const task = await loadTask(taskName, other ? { train: 1, test: (p.values.count as number | undefined) ?? state.heldOut.test, seed: state.heldOut.seed + 7 } : { train: state.heldOut.train, test: state.heldOut.test, seed: state.heldOut.seed });
  let model = loadedPuzzle.model;
  if (other) {
    try {
      model = resizePuzzleModel(loadedPuzzle.model, { vocab: task.vocab, seqLen: task.seqLen, puzzleIds: task.puzzleIds }, taskName);
    } finally {
      if (model !== loadedPuzzle.model) loadedPuzzle.model.dispose();
    }
  }
  const count = (p.values.count as number | undefined) ?? task.heldOut.length;
  const examples = task.heldOut.slice(0, count);
  if (examples.length === 0) throw new PuzzleError(`eval: task ${state.task} has no held-out puzzles with answers`);
  const start = performance.now();
  const r = await evaluatePuzzles(model, { ...toBatch(examples) }, { segments });
  const seconds = (performance.now() - start) / 1000;
  console.log(`${taskName}${other ? ` (a model trained on ${state.task})` : ''} (step ${state.step}), ${r.predictions.length} held-out puzzles, ${segments} segments (${(r.predictions.length / seconds).toFixed(1)} puzzles/s):`);
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

/** Bits per byte on held-out text (and an H-Net's chunks), with the run's own corpus and window when it recorded them. */
async function evaluateLanguageModel(dir: string, p: Parsed, weights: LoadedWeights): Promise<number> {
  const manifest = await readManifest(dir).catch(() => null); // a bare weights file has none
  const session = manifest?.files.session ? await readCheckpointJson<Partial<TextSessionState>>(dir, manifest, 'session').catch(() => null) : null;
  const seq = (p.values.seq as number | undefined) ?? session?.seq ?? 128;
  const { model, spec, config, step, kind } = await loadTextModel(dir, weights);
  // A model trained on instructions (hrm-text's default) is scored by exact match on held-out instructions.
  if (p.values.corpus === undefined && (session?.task === 'instructions' || (!session && kind === 'hrm-text'))) {
    const start = performance.now();
    const e = await evaluateInstructions(model, seq, p.values.instructions as number);
    const seconds = (performance.now() - start) / 1000;
    console.log(`${spec.describe(config, model.parameterCount())}${step === null ? '' : ` (step ${step})`}, on ${e.count} held-out instructions of each split (${seconds.toFixed(0)} s):`);
    console.log(`  exact match: ${(100 * e.examples).toFixed(1)}% on held-out examples, ${(100 * e.templates).toFixed(1)}% on held-out phrasings; ${e.bitsExamples.toFixed(3)} / ${e.bitsTemplates.toFixed(3)} bits per response byte`);
    for (const f of e.families) console.log(`  ${f.family.padEnd(9)} ${(100 * f.examples).toFixed(0).padStart(3)}% examples  ${(100 * f.templates).toFixed(0).padStart(3)}% phrasings`);
    model.dispose();
    return 0;
  }
  const corpusName = (p.values.corpus as string | undefined) ?? session?.corpus ?? 'english';
  const corpus = loadCorpus(corpusName);
  const start = performance.now();
  const e = await evaluateText(model, corpus.heldOut, seq, p.values.windows as number, 8);
  const seconds = (performance.now() - start) / 1000;
  console.log(`${spec.describe(config, model.parameterCount())}${step === null ? '' : ` (step ${step})`}, on the held-out text of ${corpus.description}:`);
  console.log(`  ${e.bitsPerByte.toFixed(3)} bits/byte over ${e.bytes} bytes (${seq}-byte windows; unigram baseline ${unigramBitsPerByte(corpus).toFixed(3)}; ${(e.bytes / seconds).toFixed(0)} bytes/s)`);
  e.bytesPerChunk.forEach((b, k) => console.log(`  stage ${k + 1}: ${b.toFixed(2)} bytes per chunk, ${(100 * e.wordBoundaryShare[k]).toFixed(0)}% of boundaries at word starts or spaces`));
  model.dispose();
  return 0;
}

/**
 * The solvers that come with the project (model/checkpoints), by number of cells: `hiero solve` works right after
 * clone. The 6×6 one is what two hours of a CPU driver trained (README: its curve); one that solves needs a GPU.
 */
export const SHIPPED_SOLVERS: Record<number, string> = {
  16: fileURLToPath(new URL('../../model/checkpoints/sudoku-4x4', import.meta.url)),
  36: fileURLToPath(new URL('../../model/checkpoints/sudoku-6x6', import.meta.url)),
};

/** The shipped solver for a Sudoku given as text (its size from the number of cells), or a usage error. */
function shippedSolverFor(text: string): string {
  const cells = text.replace(/[\s|+\-]/g, '').length;
  if (cells === 0) throw new UsageError('solve: no puzzle given (a Sudoku as digits with "." for blanks, as arguments or on standard input; a maze as rows of # . S G)');
  const stray = /[^0-9.#SG\s|+\-]/.exec(text);
  if (stray) throw new UsageError(`solve: not a puzzle: '${stray[0]}' is neither a Sudoku digit or '.', nor a maze cell (# . S G)`);
  const dir = SHIPPED_SOLVERS[cells];
  if (!dir) {
    const what = /[#SG]/.test(text) ? 'mazes' : `puzzles of ${cells} cells`;
    throw new UsageError(`solve: no solver for ${what} ships with Hiero (4×4 and 6×6 Sudoku's do); train one and give --checkpoint DIR`);
  }
  return dir;
}

export async function solve(p: Parsed): Promise<number> {
  const given = p.values.checkpoint as string | undefined;
  // A terminal would wait for typed input that nobody announced: no arguments at a terminal is a usage error.
  if (p.positionals.length === 0 && process.stdin.isTTY) throw new UsageError('solve: no puzzle given: pass it as arguments, or pipe it in (hiero solve < puzzle.txt)');
  const raw = p.positionals.length > 0 ? null : readFileSync(0, 'utf8');
  const dir = given ?? shippedSolverFor(raw ?? p.positionals.join(''));
  await assertWeightsSource(dir);
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
  summary: 'Writes a weights-only copy of a checkpoint (no optimiser state: a fraction of the size), for shipping a\nsolver or serving a model. It evaluates, solves and generates like the original; it cannot be resumed.\nWith --format official (HRM, H-Net) or fla (HGRN, HGRN2, GLA, RetNet, Mamba-2): the files the official code loads instead.',
  positionals: '',
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint to copy (required)', value: 'DIR' },
    ...NEW_CHECKPOINT_OPTIONS,
    format: { type: 'choice', choices: ['hiero', 'official', 'fla'], default: 'hiero', help: "official: for HRM, step_N and all_config.yaml for the official code's evaluate.py (sapientinc/HRM); for H-Net, model.pt and config.json for goombalab/hnet's generate.py; SwiGLU zero-padded to the official widths; fla (HGRN, HGRN2, GLA, RetNet, Mamba-2): config.json and model.safetensors for flash-linear-attention" },
    uncompiled: { type: 'boolean', help: 'official: keys without _orig_mod. (for runs with DISABLE_COMPILE=1)' },
    dtype: { type: 'choice', choices: ['bfloat16', 'float32'], default: 'bfloat16', help: "official: HRM's forward_dtype (H_init and L_init are stored in it); H-Net's every tensor (the official model is built in bfloat16); float32 keeps them exact" },
  },
};

export async function exportWeights(p: Parsed): Promise<number> {
  const from = checkpointOf(exportSpec, p);
  const out = p.values.out as string | undefined;
  if (!out) throw new UsageError('export: give --out DIR for the weights-only copy');
  if (p.values.format === 'official') {
    await checkOutput(out, Boolean(p.values.force));
    return exportOfficial(from, out, { uncompiled: Boolean(p.values.uncompiled), dtype: p.values.dtype as 'bfloat16' | 'float32' });
  }
  for (const name of ['uncompiled', 'dtype']) if (p.given.has(name)) throw new UsageError(`export --${name} applies to --format official`);
  if (p.values.format === 'fla') {
    await checkOutput(out, Boolean(p.values.force));
    return exportFla(from, out);
  }
  const manifest = await readManifest(from);
  if (!manifest.files.weights) throw new UsageError(`export: ${from} has no weights file`);
  await checkOutput(out, Boolean(p.values.force));
  const bytes = await readCheckpointFile(from, manifest, 'weights');
  const written = await saveCheckpoint(out, manifest.kind, manifest.step, [{ role: 'weights', extension: 'safetensors', bytes }]);
  console.log(`wrote ${out}: the weights of ${from} at step ${written.step} (${(bytes.byteLength / 1024).toFixed(0)} KiB)`);
  return 0;
}

/** MSE on the held-out streams the run was evaluated on (the same generator, split and length as its training). */
async function evaluateSensorModel(dir: string, p: Parsed, weights: LoadedWeights): Promise<number> {
  const { model, spec, state } = await loadSensorModel(dir, weights);
  const count = Math.min((p.values.count as number | undefined) ?? state.heldOut.test, state.heldOut.test);
  const streams = sensorStreams(state.task, 'held-out', count, state.heldOut.length);
  const start = performance.now();
  const e = await evaluateSensorStreams(model, streams, state.heldOut.length);
  const seconds = (performance.now() - start) / 1000;
  console.log(`${spec.describe(state.config, model.parameterCount())}${state.step === null ? '' : ` (step ${state.step})`}, on ${state.task} (${SENSOR_TASK_INFO[state.task].summary}):`);
  console.log(`  ${describeSensorEvaluation(e, state.task)}; streams of ${state.heldOut.length} samples (${((count * state.heldOut.length) / seconds).toFixed(0)} samples/s)`);
  model.dispose();
  return 0;
}
