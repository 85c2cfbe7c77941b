// What the byte language models' rows share: a training run on text (model/text-session.ts) from the options, with
// the defaults every text kind takes. Each kind's own file says its presets, config checks and sizes.

import { manualSeed } from '../../engine/index.ts';
import { loadCorpus, NAMED_CORPORA } from '../data/corpus.ts';
import { mqarLengthProblem } from '../data/mqar.ts';
import { OptionError, type TrainOptionName } from '../options.ts';
import type { ByteLM } from '../text-model.ts';
import { TextSession, type TextKind } from '../text-session.ts';
import type { TrainingRun } from '../training.ts';
import type { ModelSpec, PresetInfo, ServedInfo, ServedRequest, TrainValues } from './types.ts';

/** The options a text kind takes besides the common ones. */
export const TEXT_OPTIONS = ['corpus', 'seq', 'task', 'objective'] as const satisfies readonly TrainOptionName[];

/** The generated task a language model trains on instead of a corpus (--task), or null for the corpus; named errors. */
export function textTask(values: TrainValues['values'], fallback: 'instructions' | null = null): 'mqar' | 'instructions' | null {
  const task = (values.task as string | undefined) ?? (values.corpus === undefined ? fallback ?? undefined : undefined);
  if (values.objective !== undefined && task !== 'instructions') throw new OptionError('objective', 'applies with --task instructions (what of an instruction and its response is scored)');
  if (task === undefined) return null;
  if (task !== 'mqar' && task !== 'instructions') throw new OptionError('task', `${task}: a language model trains on a corpus (--corpus), on --task mqar or on --task instructions; '${task}' is a puzzle task, for hrm and trm`);
  if (values.corpus !== undefined) throw new OptionError('task', `${task} generates its own windows: leave out --corpus`);
  return task;
}

export interface TextKindDefinition<C, M extends ByteLM> {
  kind: string;
  title: string;
  summary: string;
  presets: Readonly<Record<string, PresetInfo & { config: C }>>;
  requests: readonly ServedRequest[];
  validate(config: unknown): C;
  build(config: C): M;
  describe(config: C, parameters: number): string;
  flopsPerByte(config: C): number;
  servedInfo?(config: C): ServedInfo;
  /** The preset's config for windows of `seq` bytes (a Transformer sizes its positions by it). */
  forWindows?(config: C, seq: number): C;
  /** The task when neither --task nor --corpus is given (hrm-text: instructions); absent: the corpus. */
  defaultTask?: 'instructions';
  /** Training options this kind takes besides TEXT_OPTIONS, and how they change the preset's config. */
  options?: readonly TrainOptionName[];
  configure?(config: C, values: TrainValues['values']): C;
}

/** A text kind's row from its definition. */
export function textKind<C, M extends ByteLM>(d: TextKindDefinition<C, M>): ModelSpec<C, M> & TextKind {
  const spec: ModelSpec<C, M> & TextKind = {
    kind: d.kind,
    title: d.title,
    summary: d.summary,
    family: 'text',
    presets: d.presets,
    defaultPreset: 'tiny',
    trainOptions: [...TEXT_OPTIONS, ...(d.options ?? [])],
    requests: d.requests,
    validate: d.validate,
    build: (config: unknown) => d.build(d.validate(config)),
    describe: (config: unknown, parameters: number) => d.describe(config as C, parameters),
    flopsPerByte: (config: unknown) => d.flopsPerByte(config as C),
    servedInfo: (config: unknown) => d.servedInfo?.(config as C) ?? {},
    runLabel: (values) => {
      // A label only: a bad --task is named by createRun, not here.
      const task = (values.task as string | undefined) ?? (values.corpus === undefined ? d.defaultTask : undefined);
      if (task === 'mqar' || task === 'instructions') return task;
      const corpus = (values.corpus as string | undefined) ?? 'english';
      return Object.hasOwn(NAMED_CORPORA, corpus) ? corpus : 'text';
    },
    async createRun({ values }: TrainValues): Promise<TrainingRun> {
      const preset = (values.preset as string | undefined) ?? 'tiny';
      const steps = (values.steps as number | undefined) ?? 100;
      const seed = (values.seed as number | undefined) ?? 1;
      const corpus = (values.corpus as string | undefined) ?? 'english';
      const task = textTask(values, d.defaultTask ?? null);
      const seq = (values.seq as number | undefined) ?? (task === 'mqar' ? 64 : task === 'instructions' ? 128 : preset === 'tiny' ? 128 : 512);
      // A missing or empty corpus, or a window MQAR cannot fill, is named before anything starts.
      const tooShort = task === 'mqar' ? mqarLengthProblem(seq) : null;
      if (tooShort) throw new OptionError('seq', `${seq} with --task mqar: ${tooShort}`);
      if (!task) loadCorpus(corpus);
      manualSeed(seed);
      const sized = ((c: C) => (d.forWindows ? d.forWindows(c, seq) : c))(structuredClone(d.presets[preset].config));
      const config = d.validate(d.configure ? d.configure(sized, values) : sized);
      return TextSession.create(spec, {
        model: d.kind, preset, config, corpus, ...(task ? { task } : {}), ...(task === 'instructions' ? { objective: (values.objective as 'answer' | 'all' | undefined) ?? 'answer' } : {}), seq, batch: (values.batch as number | undefined) ?? 8,
        lr: (values.lr as number | undefined) ?? d.presets[preset].lr, warmup: (values.warmup as number | undefined) ?? Math.max(1, Math.floor(steps / 20)),
        totalSteps: steps, weightDecay: (values['weight-decay'] as number | undefined) ?? 0.1, seed,
      });
    },
  };
  return spec;
}
