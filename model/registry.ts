// The one way to build a model from its weights, in the browser or in Node: the weights' metadata says which kind
// it is and how it is configured (written by every training run), and the kind's row (model/kinds) checks the
// config and builds it. Used by eval, solve, generate, chunks, resume, the inference worker and the playground.
// Tests: test/kinds.test.ts, test/worker.test.ts.

import { CheckpointError, loadHostWeights, readWeights, type DecodedCheckpoint, type LoadedWeights, type Module } from '../engine/index.ts';
import { isSensorTask, type SensorTask } from './data/sensors.ts';
import type { HiSS, HiSSConfig } from './hiss.ts';
import type { HRM, HRMConfig } from './hrm.ts';
import { readHrmManifest, readSession, type HeldOutSplit } from './hrm-session.ts';
import { isModelKind, listKinds, specOf, type ModelKind, type ModelSpec } from './kinds/index.ts';
import type { ByteLM } from './text-model.ts';

export interface LoadedModel {
  kind: ModelKind;
  spec: ModelSpec;
  model: Module;
  config: unknown;
  /** The weights' metadata (puzzle models: task and held-out split; every kind: step). */
  metadata: Record<string, string>;
}

function parseConfig(decoded: DecodedCheckpoint, origin: string): Record<string, unknown> {
  const text = decoded.metadata.config;
  if (!text) throw new CheckpointError(`${origin}: the weights carry no model config (not written by Hiero?)`);
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${origin}: the weights' model config is not valid JSON`);
  }
}

/** The kind the weights belong to (older checkpoints: HRM when only a task is named; TRM saved as variant 'trm'). */
export function kindOfWeights(metadata: Record<string, string>, config: Record<string, unknown>): ModelKind | null {
  const named = metadata.model ?? (metadata.task ? 'hrm' : undefined);
  if (named === 'hrm' && config.variant === 'trm') return 'trm';
  return isModelKind(named) ? named : null;
}

/** The kind of weights read from a checkpoint or file, before building anything (a named error when they say none). */
export function kindOfDecoded(decoded: DecodedCheckpoint, origin: string): ModelKind {
  const kind = kindOfWeights(decoded.metadata, parseConfig(decoded, origin));
  if (!kind) throw new CheckpointError(unknownKind(decoded, origin));
  return kind;
}

function unknownKind(decoded: DecodedCheckpoint, origin: string): string {
  const named = decoded.metadata.model;
  return named ? `${origin}: the weights are of a '${named}' model, which Hiero does not have (it has ${listKinds()})` : `${origin}: the weights do not say which model they belong to`;
}

/** Builds the model the weights describe and loads them (names, shapes and dtypes checked by loadStateDict). */
export function modelFromWeights(decoded: DecodedCheckpoint, origin: string): LoadedModel {
  const raw = parseConfig(decoded, origin);
  const kind = kindOfWeights(decoded.metadata, raw);
  if (!kind) throw new CheckpointError(unknownKind(decoded, origin));
  const spec = specOf(kind);
  let model: Module;
  let config: unknown;
  try {
    config = spec.validate(raw);
    model = spec.build(config);
  } catch (error) {
    throw new CheckpointError(`${origin}: its config does not describe a ${spec.title} Hiero can build (${(error as Error).message})`);
  }
  try {
    loadHostWeights(model, decoded.tensors);
  } catch (error) {
    model.dispose();
    throw new CheckpointError(`${origin}: ${(error as Error).message}`);
  }
  return { kind, spec, model, config, metadata: decoded.metadata };
}

/**
 * The model of a checkpoint from its weights alone (a damaged training state does not stop it): a checkpoint
 * directory, a .safetensors file, or a directory holding only one (weights downloaded from the playground).
 */
export async function loadCheckpointModel(path: string, read?: LoadedWeights): Promise<LoadedModel & { step: number | null }> {
  const weights = read ?? (await readWeights({ path }));
  const loaded = modelFromWeights(weights.decoded, weights.origin);
  const recorded = Number(weights.decoded.metadata.step);
  return { ...loaded, step: weights.step ?? (Number.isFinite(recorded) && weights.decoded.metadata.step !== undefined ? recorded : null) };
}

/** A byte language model's checkpoint, for generate and chunks (another family's is a named error). */
export async function loadTextModel(dir: string, read?: LoadedWeights): Promise<LoadedModel & { step: number | null; model: ByteLM }> {
  const loaded = await loadCheckpointModel(dir, read);
  if (loaded.spec.family !== 'text') {
    loaded.model.dispose();
    throw new CheckpointError(`${dir}: holds ${loaded.spec.title} weights, not a language model's`);
  }
  return loaded as LoadedModel & { step: number | null; model: ByteLM };
}

/** What eval and solve know of a puzzle model's checkpoint besides its weights. */
export interface CheckpointInfo {
  task: string;
  config: HRMConfig;
  step: number;
  heldOut: HeldOutSplit;
}

/**
 * The model of a checkpoint directory, for eval and solve: it reads the weights file alone (a damaged training state
 * does not stop them). The config, task and held-out split come from the weights' own metadata.
 */
export async function loadPuzzleModel(dir: string, read?: LoadedWeights): Promise<{ model: HRM; state: CheckpointInfo }> {
  const weights = read ?? (await readWeights({ path: dir }));
  if (weights.kind !== null && weights.kind !== 'hrm') throw new CheckpointError(`${dir}: a ${weights.kind} checkpoint, not an HRM/TRM one`);
  let decoded = weights.decoded;
  const { metadata } = decoded;
  if ((!metadata.task || !metadata.config || !metadata.heldOut) && weights.kind !== null) {
    const manifest = await readHrmManifest(dir);
    // Directories from before manifests keep these only in the session record.
    const session = await readSession(dir, manifest);
    const heldOut: HeldOutSplit = { seed: session.seed, train: session.trainCount, test: session.testCount };
    decoded = { ...decoded, metadata: { ...metadata, model: 'hrm', task: session.task, config: JSON.stringify(session.config), heldOut: JSON.stringify(heldOut) } };
  }
  const loaded = modelFromWeights(decoded, dir);
  if (loaded.spec.family !== 'puzzle') {
    loaded.model.dispose();
    throw new CheckpointError(`${dir}: holds ${loaded.spec.title} weights, not an HRM/TRM's`);
  }
  if (!decoded.metadata.task || !decoded.metadata.heldOut) {
    loaded.model.dispose();
    throw new CheckpointError(`${dir}: the weights do not say which puzzles they were trained on (no task or held-out split in their metadata)`);
  }
  let heldOut: HeldOutSplit;
  try {
    heldOut = JSON.parse(decoded.metadata.heldOut);
  } catch {
    loaded.model.dispose();
    throw new CheckpointError(`${dir}: the weights' held-out split record is not valid JSON`);
  }
  const step = weights.step ?? Number(decoded.metadata.step ?? 0);
  return { model: loaded.model as HRM, state: { task: loaded.metadata.task, config: loaded.config as HRMConfig, step, heldOut } };
}

/** What eval and the worker know of a sensor model's checkpoint: its task and held-out streams. */
export interface SensorCheckpointInfo {
  task: SensorTask;
  config: HiSSConfig;
  step: number | null;
  heldOut: { test: number; length: number };
}

/** A sensor-stream model's checkpoint (HiSS), for eval and predict (another family's is a named error). */
export async function loadSensorModel(path: string, read?: LoadedWeights): Promise<{ model: HiSS; spec: ModelSpec; state: SensorCheckpointInfo }> {
  const loaded = await loadCheckpointModel(path, read);
  const fail = (message: string): never => {
    loaded.model.dispose();
    throw new CheckpointError(`${path}: ${message}`);
  };
  if (loaded.spec.family !== 'sensor') fail(`holds ${loaded.spec.title} weights, not a sensor model's`);
  const task = loaded.metadata.task;
  if (!isSensorTask(task)) fail(`the weights do not say which sensor task they were trained on (task ${JSON.stringify(task)})`);
  let heldOut = { test: 64, length: 256 };
  try {
    if (loaded.metadata.heldOut) heldOut = JSON.parse(loaded.metadata.heldOut);
  } catch {
    fail("the weights' held-out record is not valid JSON");
  }
  return { model: loaded.model as HiSS, spec: loaded.spec, state: { task: task as SensorTask, config: loaded.config as HiSSConfig, step: loaded.step, heldOut } };
}
