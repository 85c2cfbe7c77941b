// The table of model kinds: one row each (its own file beside this one), read by the registry (modelFromWeights),
// `hiero train|eval|generate|chunks|solve|export|models`, the inference worker and the playground, and nothing
// else. Adding a kind: write its file (a ModelSpec: config checks, presets, build, describe, its training run, the
// worker requests it serves) and add its row here. Tests: test/kinds.test.ts walks every row.

import { CheckpointError, readManifest, type Manifest } from '../../engine/index.ts';
import { TextSession, type TextKind } from '../text-session.ts';
import { TrainingSession } from '../hrm-session.ts';
import { SensorSession } from '../sensor-session.ts';
import type { TrainingRun } from '../training.ts';
import { gateloopKind } from './gateloop.ts';
import { glaKind } from './gla.ts';
import { griffinKind } from './griffin.ts';
import { hgrnKind } from './hgrn.ts';
import { hgrn2Kind } from './hgrn2.ts';
import { hissKind } from './hiss.ts';
import { mamba2Kind } from './mamba2.ts';
import { retnetKind } from './retnet.ts';
import { hnetKind } from './hnet.ts';
import { hrmKind } from './hrm.ts';
import { hrmTextKind } from './hrm-text.ts';
import { mingruKind } from './mingru.ts';
import { paragruKind } from './paragru.ts';
import { paralstmKind } from './paralstm.ts';
import { transformerKind } from './transformer.ts';
import { trmKind } from './trm.ts';
import type { ModelFamily, ModelSpec } from './types.ts';

export const MODEL_KINDS = {
  hrm: hrmKind,
  trm: trmKind,
  hnet: hnetKind,
  transformer: transformerKind,
  hgrn: hgrnKind,
  mingru: mingruKind,
  hgrn2: hgrn2Kind,
  gla: glaKind,
  retnet: retnetKind,
  mamba2: mamba2Kind,
  gateloop: gateloopKind,
  griffin: griffinKind,
  paragru: paragruKind,
  paralstm: paralstmKind,
  'hrm-text': hrmTextKind,
  hiss: hissKind,
} as const satisfies Record<string, ModelSpec<any, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type ModelKind = keyof typeof MODEL_KINDS;
export type { ModelFamily, ModelSpec, PresetInfo, ServedInfo, ServedRequest, TrainValues } from './types.ts';

export const KIND_NAMES = Object.keys(MODEL_KINDS) as ModelKind[];

export function isModelKind(name: unknown): name is ModelKind {
  return typeof name === 'string' && Object.hasOwn(MODEL_KINDS, name);
}

/** A kind's row, typed loosely: for code that serves any kind (the registry, the command line, the worker). */
export function specOf(kind: ModelKind): ModelSpec {
  return MODEL_KINDS[kind] as unknown as ModelSpec;
}

/** "hrm, trm, hnet, transformer, hgrn or mingru": for messages. */
export function listKinds(kinds: readonly string[] = KIND_NAMES): string {
  return kinds.length < 2 ? kinds.join('') : `${kinds.slice(0, -1).join(', ')} or ${kinds[kinds.length - 1]}`;
}

export const kindsOf = (family: ModelFamily): ModelKind[] => KIND_NAMES.filter((k) => MODEL_KINDS[k].family === family);

/**
 * What each family's checkpoints are: the manifest kind they are saved under (kept from before the table, so
 * older checkpoints still load) and how a run saved in a directory continues.
 */
export const FAMILIES: { readonly [F in ModelFamily]: { checkpointKind: string; resume(dir: string, manifest: Manifest): Promise<TrainingRun> } } = {
  puzzle: { checkpointKind: 'hrm', resume: (dir) => TrainingSession.resume(dir) },
  text: {
    checkpointKind: 'text',
    resume: (dir) => TextSession.resume(dir, (name) => {
      if (!isModelKind(name) || MODEL_KINDS[name].family !== 'text') throw new CheckpointError(`${dir}: the session file names no language model Hiero has ('${name}')`);
      return specOf(name) as unknown as TextKind;
    }),
  },
  sensor: {
    checkpointKind: 'sensor',
    resume: (dir) => SensorSession.resume(dir, (name) => {
      if (name !== 'hiss') throw new CheckpointError(`${dir}: the session file names no sensor model Hiero has ('${name}')`);
      return hissKind;
    }),
  },
};

/** The family a checkpoint directory's manifest says it holds. */
export async function familyOfCheckpoint(dir: string): Promise<{ family: ModelFamily; manifest: Manifest }> {
  const manifest = await readManifest(dir);
  const family = (Object.keys(FAMILIES) as ModelFamily[]).find((f) => FAMILIES[f].checkpointKind === manifest.kind);
  if (!family) throw new CheckpointError(`${dir}: a '${manifest.kind}' checkpoint, which no Hiero model kind trains`);
  return { family, manifest };
}

/** Continues the run saved in `dir` exactly. */
export async function resumeRun(dir: string): Promise<TrainingRun> {
  const { family, manifest } = await familyOfCheckpoint(dir);
  return FAMILIES[family].resume(dir, manifest);
}
