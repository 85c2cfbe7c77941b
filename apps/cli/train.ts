// `hiero train KIND | --resume DIR`: any model kind of the table (model/kinds) through the one training loop
// (model/training.ts). Every flag is typed and range-checked (apps/cli/args.ts, ranges from model/options.ts) and
// checked against what the kind takes before any work starts; a run never writes into a directory that holds
// another run unless told to (--resume, --force); Ctrl-C (or SIGTERM, SIGHUP) saves and exits 130; a diverging run
// stops with a named error and saves nothing. Tests: test/cli.test.ts, test/kinds.test.ts.

import { init, memory, readManifest, shutdownQuietly, sync } from '../../engine/index.ts';
import { isModelKind, KIND_NAMES, listKinds, MODEL_KINDS, resumeRun, specOf, type ModelKind } from '../../model/kinds/index.ts';
import { COMMON_TRAIN_OPTIONS, OptionError, TRAIN_OPTIONS, type TrainOptionName } from '../../model/options.ts';
import { runTraining, type TrainingRun } from '../../model/training.ts';
import { UsageError, type CommandSpec, type Parsed } from './args.ts';
import { checkOutput, explainDivergence, freshDirectory, mib, printAdapter, printBesideProgress, printProgress, progressBar } from './output.ts';

const kindLines = KIND_NAMES.map((k) => `  ${k.padEnd(12)} ${MODEL_KINDS[k].summary}`);

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Trains a model, with held-out evaluation and checkpoints, or continues a run exactly where its checkpoint\n' +
    'left it (--resume DIR). The kinds (hiero models lists them with their presets):\n' + kindLines.join('\n'),
  positionals: KIND_NAMES.join('|'),
  maxPositionals: 1,
  options: {
    ...TRAIN_OPTIONS,
    out: { type: 'string', help: 'checkpoint directory (default: checkpoints/<model>-<task or corpus>, numbered if taken)', value: 'DIR' },
    resume: { type: 'string', help: 'continue the run saved in DIR (it saves back there unless --out is given)', value: 'DIR' },
    force: { type: 'boolean', help: 'replace the checkpoint in --out if there is one' },
    replay: { type: 'boolean', help: 'record the training step once and replay it (the same numbers, less host time per step; H-Net cannot: it reads chunk counts back)' },
  },
  notes: [
    'examples:',
    '  hiero train hrm --task sudoku-4x4 --steps 500',
    '  hiero train hnet --preset tiny --steps 300',
    '  hiero train hgrn --steps 300',
    '  hiero train --resume checkpoints/hrm-sudoku-4x4 --steps 500',
    'Ctrl-C saves the run and stops (press it again to stop without saving).',
  ],
};

/** The --help of one kind: `hiero train KIND --help` shows only the options that kind takes. */
export function kindTrainSpec(kind: ModelKind): CommandSpec {
  const spec = specOf(kind);
  const names = new Set<string>([...COMMON_TRAIN_OPTIONS, ...spec.trainOptions, 'out', 'resume', 'force', 'replay']);
  const presets = Object.entries(spec.presets).map(([name, p]) => `  ${name.padEnd(14)} ${p.summary} (lr ${p.lr})`);
  return {
    ...trainSpec,
    invocation: `hiero train ${kind}`,
    positionals: '',
    summary: `Trains ${spec.summary}.\nPresets:\n${presets.join('\n')}`,
    options: Object.fromEntries(Object.entries(trainSpec.options).filter(([name]) => names.has(name))),
    notes: [
      'examples:',
      `  hiero train ${kind} --preset ${spec.defaultPreset} --steps 300`,
      `  hiero train --resume checkpoints/${kind}-${spec.runLabel({})} --steps 300`,
      'Ctrl-C saves the run and stops (press it again to stop without saving).',
    ],
  };
}

/** Options a resumed run keeps from its checkpoint. */
const FIXED_ON_RESUME = (Object.keys(TRAIN_OPTIONS) as TrainOptionName[]).filter((name) => name !== 'steps' && name !== 'eval-every');

/** Which kinds take a flag, for "applies to ... only". */
function ownersOf(flag: string): string {
  return listKinds(KIND_NAMES.filter((k) => (specOf(k).trainOptions as readonly string[]).includes(flag))).replace(/ or /, ' and ');
}

/**
 * Stop requests from Ctrl-C and termination signals (SIGTERM from timeout, docker stop or systemd; SIGHUP from a
 * closed terminal): the first asks the loop to save and stop, a second quits without saving. Quitting first lets the
 * GPU device settle and closes it (bounded, about a second at most): exiting with read-backs in flight crashed Dawn's
 * native teardown (a segmentation fault, measured in 1 of 5 runs with the second Ctrl-C 60 ms after the first).
 */
export class Interrupts {
  requested = false;
  private quitting = false;
  private static readonly SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  private readonly handler = () => {
    if (this.quitting) process.exit(130);
    if (this.requested) {
      this.quitting = true;
      console.error(`\nhiero: stopped without saving; the checkpoint in ${this.lastSaved()} is unchanged`);
      void shutdownQuietly(1000).catch(() => undefined).finally(() => process.exit(130));
      return;
    }
    this.requested = true;
    console.error('\nhiero: stopping after this step and saving (Ctrl-C again to stop without saving)');
  };

  constructor(private readonly lastSaved: () => string) {
    for (const signal of Interrupts.SIGNALS) process.on(signal, this.handler);
  }

  dispose(): void {
    for (const signal of Interrupts.SIGNALS) process.off(signal, this.handler);
  }
}

/** The checks of a new run's flags against its kind: a flag it does not take, a preset it does not have. */
function checkKindFlags(kind: ModelKind, p: Parsed): void {
  const spec = specOf(kind);
  const takes = new Set<string>([...COMMON_TRAIN_OPTIONS, ...spec.trainOptions]);
  const wrong = (Object.keys(TRAIN_OPTIONS) as TrainOptionName[]).find((name) => p.given.has(name) && !takes.has(name));
  if (wrong) throw new UsageError(`train --${wrong} applies to ${ownersOf(wrong)} only`);
  const preset = p.values.preset as string | undefined;
  if (preset !== undefined && !(preset in spec.presets)) {
    throw new UsageError(`train --preset: '${preset}' is not a preset of ${kind} (${Object.keys(spec.presets).join(', ')})`);
  }
}

export async function train(p: Parsed): Promise<number> {
  const resumeFrom = (p.values.resume as string | undefined) ?? null;
  const named = p.positionals[0];
  let kind: ModelKind | null = null;
  if (resumeFrom !== null) {
    if (named !== undefined) throw new UsageError(`train --resume continues the run saved in ${resumeFrom}; give no model name ('${named}')`);
    const fixed = FIXED_ON_RESUME.find((name) => p.given.has(name));
    if (fixed) throw new UsageError(`train --resume: --${fixed} cannot change a resumed run (it continues with its own settings)`);
    await readManifest(resumeFrom); // a missing or unreadable checkpoint is named before anything starts
  } else {
    if (named === undefined) throw new UsageError(`train: say which model: hiero train ${KIND_NAMES.join('|')} (or --resume DIR)`);
    if (!isModelKind(named)) throw new UsageError(`train: unknown model '${named}' (${listKinds()}; hiero models describes them)`);
    kind = named;
    checkKindFlags(kind, p);
  }
  const values = p.values as Partial<Record<TrainOptionName, string | number>>;
  const out = (p.values.out as string | undefined) ?? resumeFrom ?? (await freshDirectory(`checkpoints/${kind}-${specOf(kind!).runLabel(values)}`));
  if (out !== resumeFrom) await checkOutput(out, Boolean(p.values.force));

  printAdapter(await init());
  let run: TrainingRun;
  if (resumeFrom !== null) {
    run = await resumeRun(resumeFrom);
    console.log(`resumed ${run.kind} at step ${run.stepsDone}`);
  } else {
    try {
      run = await specOf(kind!).createRun({ values, given: p.given });
    } catch (error) {
      // The model's own check, phrased as the option that caused it.
      if (/hidden size \d+ is not divisible/.test((error as Error).message)) throw new UsageError(`train --hidden: ${(error as Error).message}`);
      if (error instanceof OptionError) throw new UsageError(`train ${error.message}`);
      throw error;
    }
  }
  run.replay = Boolean(p.values.replay);
  const steps = (p.values.steps as number | undefined) ?? 100;
  const evalEvery = (p.values['eval-every'] as number | undefined) ?? Math.max(10, Math.floor(steps / 4));
  const [first, ...rest] = run.describe();
  console.log(`${first}; checkpoint: ${out}`);
  rest.forEach((line) => console.log(line));

  console.log('training (the first step compiles the GPU kernels, so it is the slowest; progress follows it)');
  let savedStep: number | null = resumeFrom !== null ? run.stepsDone : null;
  const interrupts = new Interrupts(() => (savedStep === null ? `${out} (none yet)` : `${out} (step ${savedStep})`));
  const tty = process.stdout.isTTY;
  const started = run.stepsDone;
  const perSecond = (rate: number) => `${rate.toFixed(run.itemUnit === 'bytes' ? 0 : 1)} ${run.itemUnit}/s`;
  let outcome: Awaited<ReturnType<typeof runTraining>>;
  try {
    outcome = await runTraining(run, {
      steps, evalEvery,
      interrupted: () => interrupts.requested,
      onProgress: (q) => {
        printProgress(`${progressBar(q.done, q.steps)} step ${q.step}  loss ${q.loss.toFixed(3)}  ${q.text}  ${perSecond(q.rate)}  peak ${mib(q.peakBytes)} MiB`, q.done === q.steps || interrupts.requested, tty);
        if (q.evaluation) printBesideProgress(`  held-out after step ${q.step}: ${q.evaluation.text}`, tty);
      },
      save: async () => {
        await run.save(out);
        savedStep = run.stepsDone;
      },
    });
    await sync();
  } catch (error) {
    throw explainDivergence(error, out, savedStep);
  } finally {
    interrupts.dispose();
  }
  const done = run.stepsDone - started;
  console.log(
    `trained ${done} steps in ${outcome.seconds.toFixed(0)} s (${perSecond((done * run.itemsPerStep) / Math.max(outcome.seconds, 1e-6))}); peak GPU memory held ` +
      `${mib(memory().peakBytes)} MiB (${mib(memory().peakInUseBytes)} MiB in live tensors); checkpoint: ${out} (step ${run.stepsDone})`,
  );
  outcome.lastEvaluation?.shown?.forEach((line) => console.log(line));
  run.dispose();
  return interrupts.requested ? 130 : 0;
}
