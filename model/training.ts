// The one training loop (tests: test/kinds.test.ts, test/cli.test.ts, test/worker.test.ts). Every way of training a
// model — `hiero train`, the inference worker's train request, the playground — runs its steps through runTraining:
// the steps, the progress read-backs (every few steps, never inside one), the non-finite check that rides on them,
// held-out evaluation, saving, and stopping (Ctrl-C, a signal, pause/stop, cancellation). What differs between
// callers is in the hooks; what differs between model kinds is behind TrainingRun.

import {
  AdamW, CheckpointError, loadHostWeights, memory, readCheckpointJson, readCheckpointTensors, setRandomState, uploadTensors, type Manifest, type Module,
  type NonFiniteMonitor, type SaveHooks,
} from '../engine/index.ts';

/** One step's progress, read back from the GPU. */
export interface StepReading {
  loss: number;
  /** Named values for charts and APIs (null: not defined at this step, e.g. no sample halted). */
  values: Record<string, number | null>;
  /** The values as the progress line shows them (after the step and the loss). */
  text: string;
}

export interface EvaluationReading {
  /** Named values (a number, or one per segment or stage). */
  values: Record<string, number | number[]>;
  /** One line: what the held-out evaluation found. */
  text: string;
  /** Lines that show what the model can do now (a held-out puzzle it solves), for the end of a run. */
  shown?: string[];
}

/** A training run of some model kind: what runTraining drives. */
export interface TrainingRun<Metrics = unknown> {
  /** Its model kind's name (a row of model/kinds). */
  readonly kind: string;
  /** Steps trained so far, over every resumption. */
  readonly stepsDone: number;
  /** Samples (puzzles) or bytes one step trains on, for the rate. */
  readonly itemsPerStep: number;
  readonly itemUnit: 'samples' | 'bytes';
  /** Notes the first non-finite loss or gradient norm (on the GPU), checked when progress is read. */
  readonly monitor: NonFiniteMonitor;
  /**
   * Record the training step once and replay it (engine/replay.ts): the same numbers as eager steps, without the op,
   * autograd and allocation layers; a step that cannot be replayed (H-Net reads chunk counts back) raises a ReplayError.
   */
  replay: boolean;
  /** Encodes one step (forward, backward, update); the metrics stay on the GPU. */
  trainStep(): Promise<Metrics>;
  read(metrics: Metrics): Promise<StepReading>;
  release(metrics: Metrics): void;
  evaluateHeldOut(): Promise<EvaluationReading>;
  save(dir: string, hooks?: SaveHooks): Promise<Manifest>;
  /** The weights file alone (what eval, solve, generate and the worker load). */
  weightsFile(): Promise<Uint8Array>;
  /** Lines that say what is being trained (model, sizes, data). */
  describe(): string[];
  dispose(): void;
}

export interface Progress extends StepReading {
  /** The run's step count (over every resumption) and this loop's step and steps. */
  step: number;
  done: number;
  steps: number;
  /** Items (samples or bytes) per second of stepping (time spent paused does not count). */
  rate: number;
  peakBytes: number;
  /** At evaluation points: what the held-out evaluation found after this step. */
  evaluation?: EvaluationReading;
}

export interface TrainingHooks {
  steps: number;
  /** Steps between held-out evaluations (and saves, with `save`). */
  evalEvery: number;
  /** Steps between progress reports (default 5); the first and last step always report. */
  progressEvery?: number;
  /** Awaited before each step: resolves false to stop (a paused run waits here). */
  beforeStep?: () => Promise<boolean> | boolean;
  /** Whether to stop after this step: stops with a save, without evaluating (Ctrl-C, a signal). */
  interrupted?: () => boolean;
  /** Runs each step's work (the worker queues it between other requests); default: at once. */
  around?: <T>(work: () => Promise<T>) => Promise<T>;
  /** Every few steps and at every evaluation (which it then carries). */
  onProgress?: (p: Progress) => void | Promise<void>;
  /** Saves the run (at each evaluation, on interruption and at the end); absent: nothing is saved. */
  save?: () => Promise<void>;
}

export interface TrainingOutcome {
  /** Steps this loop ran. */
  done: number;
  /** Whether it stopped early (interrupted, stopped, or cancelled). */
  stopped: boolean;
  seconds: number;
  lastProgress: Progress | null;
  lastEvaluation: EvaluationReading | null;
}

export async function runTraining<M>(run: TrainingRun<M>, hooks: TrainingHooks): Promise<TrainingOutcome> {
  const { steps, evalEvery } = hooks;
  const progressEvery = hooks.progressEvery ?? 5;
  const around = hooks.around ?? (<T>(work: () => Promise<T>) => work());
  const interrupted = () => hooks.interrupted?.() ?? false;
  let activeMs = 0;
  let done = 0;
  let stopped = false;
  let lastProgress: Progress | null = null;
  let lastEvaluation: EvaluationReading | null = null;
  const save = async () => {
    if (!hooks.save) return;
    await run.monitor.assertFinite(); // never save weights from a run that went non-finite
    await hooks.save();
  };
  for (let s = 1; s <= steps; s++) {
    if (hooks.beforeStep && !(await hooks.beforeStep())) {
      stopped = true;
      break;
    }
    const began = performance.now();
    const outcome = await around(async () => {
      const metrics = await run.trainStep();
      done++;
      const last = s === steps || interrupted();
      const evaluating = s % evalEvery === 0 || last;
      let progress: Progress | null = null;
      try {
        if (s % progressEvery === 0 || s === 1 || evaluating) {
          const reading = await run.read(metrics);
          await run.monitor.assertFinite();
          const seconds = (activeMs + performance.now() - began) / 1000;
          progress = { ...reading, step: run.stepsDone, done, steps, rate: (done * run.itemsPerStep) / Math.max(seconds, 1e-6), peakBytes: memory().peakBytes };
        }
      } finally {
        run.release(metrics);
      }
      // An interruption may have arrived during the reads above: it, too, ends the run with a save (and no evaluation).
      const stop = interrupted();
      if (progress && evaluating && !stop) progress.evaluation = await run.evaluateHeldOut();
      return { progress, stop, saveNow: evaluating || stop };
    });
    activeMs += performance.now() - began;
    if (outcome.progress) {
      lastProgress = outcome.progress;
      if (outcome.progress.evaluation) lastEvaluation = outcome.progress.evaluation;
      await hooks.onProgress?.(outcome.progress);
    }
    if (outcome.saveNow) await around(save);
    if (outcome.stop) {
      stopped = s < steps;
      break;
    }
  }
  return { done, stopped, seconds: activeMs / 1000, lastProgress, lastEvaluation };
}

/**
 * A resumable session's record from its checkpoint (weights, training and session files): named errors for a
 * weights-only copy (`serves`: what it can still do, "generate") and for a session file of another step.
 */
export async function readSessionRecord<S extends { step: number }>(dir: string, manifest: Manifest, serves: string): Promise<S> {
  if (!manifest.files.training) throw new CheckpointError(`${dir}: holds weights only (no training state), so it can ${serves} but not resume`);
  const state = await readCheckpointJson<S>(dir, manifest, 'session');
  if (state.step !== manifest.step) throw new CheckpointError(`${dir}: the session file is at step ${state.step}, the checkpoint at step ${manifest.step}`);
  return state;
}

/**
 * Loads a checkpoint's weights into the model and its AdamW moments into the optimiser, at the record's step, and
 * the engine's random state as it was saved.
 */
export async function restoreTraining(dir: string, manifest: Manifest, model: Module, optimizer: AdamW, record: { step: number; engineRandom: [number, number] }): Promise<void> {
  loadHostWeights(model, (await readCheckpointTensors(dir, manifest, 'weights')).tensors);
  const moments = uploadTensors((await readCheckpointTensors(dir, manifest, 'training')).tensors);
  optimizer.loadStateTensors(model.namedParameters(), moments);
  for (const t of moments.values()) t.dispose();
  optimizer.stepCount = record.step;
  setRandomState(record.engineRandom);
}
