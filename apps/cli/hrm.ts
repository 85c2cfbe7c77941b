// `hiero train | eval | solve`: HRM/TRM on generated puzzles from the command line.

import { readFileSync } from 'node:fs';
import { describeAdapter, init, manualSeed, memory, sync } from '../../engine/index.ts';
import { evaluateArcTasks, loadModel, presetConfig, readSession, solveWithModel, TrainingSession, type Preset } from '../../model/hrm-session.ts';

/** A mistake in how a command was called: reported as one line, without a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function flags(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < args.length && !args[i + 1].startsWith('--')) out.set(a.slice(2), args[++i]);
    else out.set(a.slice(2), 'true');
  }
  return out;
}

function number(f: Map<string, string>, name: string, fallback: number): number {
  const v = f.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name}: '${v}' is not a number`);
  return n;
}

function progressBar(done: number, total: number, width = 24): string {
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export async function train(args: string[]): Promise<void> {
  const [variantArg] = args;
  const f = flags(args);
  const fresh = `checkpoints/${variantArg ?? 'hrm'}-${f.get('task') ?? 'sudoku-4x4'}`;
  const resumeFrom = f.has('resume') ? (f.get('resume') === 'true' ? (f.get('out') ?? fresh) : f.get('resume')!) : null;
  // A resumed run saves back where it came from unless told otherwise: never over another task's checkpoint.
  const out = f.get('out') ?? resumeFrom ?? fresh;
  const report = await init();
  console.log(`adapter: ${describeAdapter(report)}`);
  let session: TrainingSession;
  if (resumeFrom !== null) {
    session = await TrainingSession.resume(resumeFrom);
    console.log(`resumed ${session.state.task} at step ${session.state.step}`);
  } else {
    if (variantArg !== 'hrm' && variantArg !== 'trm') throw new UsageError("train: say which model, 'hrm' or 'trm' (hiero train hrm --task sudoku-4x4)");
    const seed = number(f, 'seed', 1);
    manualSeed(seed);
    const taskName = f.get('task') ?? 'sudoku-4x4';
    const preset = (f.get('preset') ?? 'tiny') as Preset;
    if (!['tiny', 'small', 'paper'].includes(preset)) throw new UsageError(`--preset: '${preset}' is not tiny, small or paper`);
    const probe = await import('../../model/hrm-session.ts').then((m) => m.loadTask(taskName, { train: 1, test: 0, seed }));
    const config = presetConfig(variantArg, preset, probe.vocab, probe.seqLen, probe.puzzleIds);
    if (f.has('max-segments')) config.haltMaxSteps = number(f, 'max-segments', config.haltMaxSteps);
    if (f.has('cycles')) config.hCycles = config.lCycles = number(f, 'cycles', config.hCycles);
    if (f.has('hidden')) config.hidden = number(f, 'hidden', config.hidden);
    if (f.has('positions')) {
      const positions = f.get('positions');
      if (positions !== 'rope' && positions !== 'learned') throw new UsageError(`--positions: '${positions}' is not rope or learned`);
      config.positions = positions;
    }
    session = await TrainingSession.create({
      task: taskName, config, seed, trainCount: number(f, 'train', 500), testCount: number(f, 'test', 100),
      lr: number(f, 'lr', preset === 'paper' ? 1e-4 : 1e-2), weightDecay: number(f, 'weight-decay', preset === 'paper' ? 1 : 0.1),
      batch: number(f, 'batch', 64), loss: (f.get('loss') ?? 'softmax') as 'softmax' | 'stablemax',
      optimizer: (f.get('optimizer') ?? (preset === 'paper' ? 'adam-atan2' : 'adamw')) as 'adamw' | 'adam-atan2',
      // TRM evaluates an exponential moving average of its weights (0.999), as its reference code does.
      ema: f.has('ema') ? number(f, 'ema', 0.999) : variantArg === 'trm' ? 0.999 : undefined,
    });
  }
  const { model, state } = session;
  const steps = number(f, 'steps', 100);
  const evalEvery = number(f, 'eval-every', Math.max(10, Math.floor(steps / 4)));
  console.log(
    `model: ${state.config.variant.toUpperCase()} hidden ${state.config.hidden}, ${state.config.hLayers}+${state.config.lLayers} layers, ` +
      `N=${state.config.hCycles} T=${state.config.lCycles}, up to ${state.config.haltMaxSteps} segments, ${model.parameterCount().toLocaleString('en')} parameters; ` +
      `task ${state.task}: ${state.trainCount} training puzzles (augmented), ${session.task.heldOut.length} held out; batch ${state.batch}`,
  );
  const start = performance.now();
  const first = state.step;
  const tty = process.stdout.isTTY;
  for (let s = 1; s <= steps; s++) {
    const m = session.step();
    const last = s === steps;
    if (s % 5 === 0 || s === 1 || last) {
      const [loss, tokens, exact, q, segments, halted] = await Promise.all(
        [m.loss, m.tokenAccuracy, m.exactCorrect, m.qAccuracy, m.segments, m.halted].map((t) => t.item()),
      );
      const rate = ((s * state.batch) / ((performance.now() - start) / 1000)).toFixed(1);
      // Accuracies are over the samples that halted at this step; none may have.
      const ofHalted = (v: number, show: (v: number) => string) => (halted > 0 ? show(v) : '-');
      const line =
        `${progressBar(s, steps)} step ${state.step}  loss ${loss.toFixed(3)}  cells ${ofHalted(tokens, pct)}  exact ${ofHalted(exact, pct)}  ` +
        `Q ${ofHalted(q, pct)}  segments ${ofHalted(segments, (v) => v.toFixed(2))}  ${rate} samples/s  peak ${mib(memory().peakBytes)} MiB`;
      if (tty) process.stdout.write(`\r${line}${last ? '\n' : ''}`);
      else console.log(line);
    }
    for (const t of Object.values(m)) t.dispose();
    if (s % evalEvery === 0 || last) {
      const r = await session.evaluate({ segments: state.config.haltMaxSteps });
      const segs = r.exactBySegment.length;
      const msg = `  held-out after step ${state.step}: cell ${pct(r.cellBySegment[segs - 1])}, exact ${pct(r.exactBySegment[segs - 1])} (per segment: ${r.exactBySegment.map(pct).join(' ')})`;
      if (tty) process.stdout.write(`\n${msg}\n`);
      else console.log(msg);
      await session.save(out);
    }
  }
  await sync();
  const seconds = (performance.now() - start) / 1000;
  console.log(`trained ${state.step - first} steps in ${seconds.toFixed(0)} s (${(((state.step - first) * state.batch) / seconds).toFixed(1)} samples/s); peak GPU memory held ${mib(memory().peakBytes)} MiB (${mib(memory().peakInUseBytes)} MiB in live tensors); checkpoint: ${out}`);
  session.dispose();
}

export async function evaluate(args: string[]): Promise<void> {
  const f = flags(args);
  const dir = f.get('checkpoint') ?? args.find((a) => !a.startsWith('--'));
  if (!dir) throw new UsageError('eval: give a checkpoint directory (hiero eval --checkpoint checkpoints/hrm-sudoku-4x4)');
  const report = await init();
  console.log(`adapter: ${describeAdapter(report)}`);
  const state = readSession(dir);
  const session = await TrainingSession.resume(dir);
  const segments = number(f, 'segments', state.config.haltMaxSteps);
  const start = performance.now();
  const r = await session.evaluate({ segments, count: f.has('count') ? number(f, 'count', 0) : undefined });
  const seconds = (performance.now() - start) / 1000;
  console.log(`${state.task}, ${r.predictions.length} held-out puzzles, ${segments} segments (${(r.predictions.length / seconds).toFixed(1)} puzzles/s):`);
  r.exactBySegment.forEach((e, m) => console.log(`  segment ${m + 1}: exact ${pct(e)}, cell ${pct(r.cellBySegment[m])}`));
  if (session.task.arcTasks) {
    const augmentations = number(f, 'augmentations', 8);
    const arc = await session.withAveragedWeights(() => evaluateArcTasks(session.model, session.task.arcTasks!, { augmentations, segments }));
    console.log(`  ARC, voting over ${augmentations} augmentations: pass@1 ${pct(arc.pass1)}, pass@2 ${pct(arc.pass2)} of ${arc.tasks} test inputs`);
  }
  session.dispose();
}

export async function solve(args: string[]): Promise<void> {
  const f = flags(args);
  const dir = f.get('checkpoint');
  if (!dir) throw new UsageError('solve: give --checkpoint DIR and the puzzle as an argument or on stdin (Sudoku digits with "." for blanks, or maze rows of # . S G)');
  const positional = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--checkpoint');
  await init();
  const { model, state } = await loadModel(dir);
  // Sudoku digits may come as several arguments; a maze's rows are lines (one argument each, or stdin as it is).
  const text = positional.length > 0 ? positional.join(state.task.startsWith('maze-') ? '\n' : '') : readFileSync(0, 'utf8');
  const result = await solveWithModel(model, state.task, text);
  console.log(result.answer);
  const halt = result.haltSegment === null ? `the Q head never chose to halt` : `the Q head halts after segment ${result.haltSegment}`;
  console.log(result.valid ? `solved: right after segment ${result.firstValidSegment} of ${result.segments}; ${halt}` : `not solved: no segment of ${result.segments} got it right (last answer shown); ${halt}`);
}
