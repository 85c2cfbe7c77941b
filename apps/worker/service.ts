// The inference worker's service: the object a Web Worker or a Node worker thread exposes through comlink
// (apps/worker/worker.ts), which apps reach through apps/worker/client.ts. Tests: test/worker.test.ts (Node) and
// test/web.test.ts (the browser, through the playground).
//
// One model at a time. Requests run one after another in the order they arrive; a request that fails rejects with
// a named error and the next one runs as usual. A training run (the playground's) is not one long request: each of
// its steps is queued like any other request, so a puzzle can be solved between two steps, and a paused run holds
// nothing up. A lost GPU device fails the request that met it (DeviceLostError) and is re-created, with the model
// reloaded from the host copy of its weights that the service keeps for that purpose.

import {
  AbortError, decodeSafetensors, deviceLost, encodeSafetensors, GPUExecutionError, HieroError, init, isInitialised, memory,
  prepareMatmul, readWeights, runtime, shutdownQuietly, type AdapterReport, type DecodedCheckpoint, type DeviceOptions,
} from '../../engine/index.ts';
import { quickBenchmark, type QuickResult } from '../../engine/measure/quick.ts';
import { chunkText, type HNetLM } from '../../model/hnet.ts';
import type { HRM } from '../../model/hrm.ts';
import { solveWithModel, type TrainingSession } from '../../model/hrm-session.ts';
import { KIND_NAMES, listKinds, MODEL_KINDS, type ServedRequest } from '../../model/kinds/index.ts';
import { GENERATE_OPTIONS, INPUT_LIMITS, lengthProblem, optionProblem, PROGRESS_OPTIONS, SOLVE_OPTIONS, TRAIN_OPTIONS, WORKER_TRAINING, type OptionSpec } from '../../model/options.ts';
import { modelFromWeights, type LoadedModel } from '../../model/registry.ts';
import { generateText } from '../../model/text-generate.ts';
import { SensorError } from '../../model/data/sensors.ts';
import type { HiSS } from '../../model/hiss.ts';
import { predictStream, type StreamPrediction } from '../../model/sensor-session.ts';
import { InstructionError, NEWLINE, promptBytes } from '../../model/data/instructions.ts';

/** The window an instruction model answers within (hrm-text's default training window). */
const INSTRUCTION_CONTEXT = 128;
import type { ByteLM } from '../../model/text-model.ts';
import { runTraining } from '../../model/training.ts';
import type {
  AdapterInfo, ChunkedTextResult, CheckpointSource, GenerateRequest, GeneratedText, ModelInfo, SolveResult, TrainProgress,
  TrainRequest, TrainResult, WorkerStatus,
} from './protocol.ts';

export { AbortError };

/** The GPU device was lost during a request; the worker opened a new one (send the request again). */
export class DeviceLostError extends GPUExecutionError {
  override name = 'DeviceLostError';
}

/** A request the worker cannot serve in its present state (no model loaded, a model of another kind, training). */
export class WorkerStateError extends HieroError {
  override name = 'WorkerStateError';
}

/** A request's arguments are malformed (a missing prompt, a byte count out of range, ...). */
export class RequestError extends HieroError {
  override name = 'RequestError';
}

interface Request {
  id: string;
  what: string;
  cancelled: boolean;
}

interface Training {
  session: TrainingSession;
  request: Request;
  paused: boolean;
  stopRequested: boolean;
  resume: (() => void) | null;
}

/** The weights behind the loaded model, on the host: what export returns and what recovery reloads. */
interface HostWeights {
  decoded: DecodedCheckpoint;
  origin: string;
  step: number | null;
}

const LIMITS_SHOWN = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension'];

export class HieroService {
  private loaded: LoadedModel | null = null;
  private weights: HostWeights | null = null;
  private training: Training | null = null;
  private readonly requests = new Map<string, Request>();
  private tail: Promise<unknown> = Promise.resolve();
  private counter = 0;
  private disposed = false;
  private recoveries = 0;
  private lastLoss: string | null = null;
  private deviceLostListener: ((reason: string) => unknown) | null = null;

  constructor(private readonly deviceOptions: DeviceOptions = {}) {}

  // -------------------------------------------------------------------------------------------------------------
  // The queue

  private enqueue<T>(what: string, requestId: string | undefined, work: (request: Request) => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new WorkerStateError(`${what}: this worker has been disposed; create a new one`));
    const id = requestId ?? `auto-${++this.counter}`;
    if (this.requests.has(id)) return Promise.reject(new RequestError(`${what}: request id '${id}' is already in use`));
    const request: Request = { id, what, cancelled: false };
    this.requests.set(id, request);
    const run = async (): Promise<T> => {
      try {
        if (this.disposed) throw new WorkerStateError(`${what}: this worker was disposed before the request ran`);
        if (request.cancelled) throw new AbortError(`${what}: cancelled before it started`);
        await this.ensureDevice();
        return await work(request);
      } catch (error) {
        throw await this.explain(error, what);
      } finally {
        this.requests.delete(id);
      }
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Cancels a queued or running request (a running one stops at its next read-back). Unknown ids are ignored. */
  cancel(requestId: string): void {
    const request = this.requests.get(requestId);
    if (request) request.cancelled = true;
    if (this.training?.request.id === requestId) {
      this.training.request.cancelled = true;
      this.resumeTraining();
    }
  }

  /** Called with the reason whenever the GPU device is lost (the worker re-creates it by itself). */
  onDeviceLost(listener: ((reason: string) => unknown) | null): void {
    this.deviceLostListener = listener;
  }

  private async ensureDevice(): Promise<void> {
    if (!isInitialised()) await init(this.deviceOptions);
    const lost = deviceLost();
    if (lost) await this.recover(lost);
  }

  /** A new device, and the model rebuilt on it from the host weights. Tensors of the lost device are dropped, not freed. */
  private async recover(reason: string): Promise<void> {
    this.recoveries++;
    this.lastLoss = reason;
    this.loaded = null;
    this.training = null;
    await shutdownQuietly();
    await init(this.deviceOptions);
    if (this.weights) this.loaded = modelFromWeights(this.weights.decoded, this.weights.origin);
    try {
      await this.deviceLostListener?.(reason);
    } catch {
      // A listener that throws (or a closed page's proxy) must not stop the worker.
    }
  }

  /** The error a caller sees: a lost device is recovered from first and named as such. */
  private async explain(error: unknown, what: string): Promise<Error> {
    const lost = isInitialised() ? deviceLost() : null;
    if (lost) {
      await this.recover(lost);
      const reloaded = this.loaded ? ' and reloaded the model' : '';
      return new DeviceLostError(`${what}: the GPU device was lost (${lost}); the worker opened a new one${reloaded}. Send the request again.`);
    }
    if (error instanceof Error) return error;
    return new HieroError(`${what}: ${String(error)}`);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Requests

  /** The adapter the worker runs on (opening the device if it is not open yet). */
  adapter(requestId?: string): Promise<AdapterInfo> {
    return this.enqueue('adapter', requestId, async () => adapterInfo(runtime().report));
  }

  /** Loads a checkpoint (a directory or safetensors file by URL or path, or its bytes), replacing the model. */
  load(source: CheckpointSource, requestId?: string): Promise<ModelInfo> {
    return this.enqueue('load', requestId, async () => {
      if (this.training) throw new WorkerStateError('load: a training run is in progress in this worker; stop it first');
      if (!source || typeof source !== 'object' || !('url' in source || 'path' in source || 'bytes' in source)) {
        throw new RequestError('load: give { url }, { path } or { bytes } (a checkpoint directory or a safetensors file)');
      }
      const weights = await readWeights(source);
      const loaded = modelFromWeights(weights.decoded, weights.origin);
      this.replaceModel(loaded, { decoded: weights.decoded, origin: weights.origin, step: weights.step ?? stepOf(weights.decoded) });
      // A loaded model is ready to answer: the kernel a CPU driver takes a second to compile is compiled now, off the
      // main thread, not inside the first request (where an abort could not stop it).
      await prepareMatmul();
      return this.describe();
    });
  }

  /** What is loaded, or null. */
  model(requestId?: string): Promise<ModelInfo | null> {
    return this.enqueue('model', requestId, async () => (this.loaded ? this.describe() : null));
  }

  /** Runs the HRM on one puzzle (text: Sudoku digits with '.' for blanks, or a maze), every segment's answer shown. */
  solve(puzzle: string, options: { segments?: number } = {}, requestId?: string): Promise<SolveResult> {
    return this.enqueue('solve', requestId, async (request) => {
      if (typeof puzzle !== 'string' || puzzle.trim() === '') throw new RequestError('solve: give the puzzle as text (Sudoku digits with "." for blanks, or a maze)');
      const tooLong = lengthProblem('solve: the puzzle', puzzle.length, INPUT_LIMITS.puzzleCharacters, 'characters');
      if (tooLong) throw new RequestError(tooLong);
      const loaded = this.require('solve', 'solve');
      if (options.segments !== undefined) check('solve: segments', SOLVE_OPTIONS.segments, options.segments);
      const run = () => solveWithModel(loaded.model as HRM, loaded.metadata.task, puzzle, { segments: options.segments, cancelled: () => request.cancelled });
      return this.training ? this.training.session.withAveragedWeights(run) : run();
    });
  }

  /**
   * Continues a prompt with the loaded language model (any kind that serves generate), handing each piece of new bytes to onChunk as it is
   * read from the GPU. A cancelled request stops at its next read-back and rejects with AbortError.
   */
  generate(prompt: string | Uint8Array, options: GenerateRequest = {}, onChunk?: (bytes: Uint8Array) => unknown, requestId?: string): Promise<GeneratedText> {
    return this.enqueue('generate', requestId, async (request) => {
      const loaded = this.require('generate', 'generate');
      let bytes = typeof prompt === 'string' ? new TextEncoder().encode(prompt) : prompt instanceof Uint8Array ? prompt : null;
      if (!bytes) throw new RequestError('generate: the prompt must be a string or a Uint8Array of bytes');
      const instruction = options.instruction ?? loaded.kind === 'hrm-text';
      if (instruction) {
        try {
          const line = promptBytes(bytes, INSTRUCTION_CONTEXT);
          bytes = new Uint8Array(line.length + 1);
          bytes.set(line);
          bytes[line.length] = NEWLINE;
        } catch (error) {
          if (error instanceof InstructionError) throw new RequestError(`generate: ${error.message}`);
          throw error;
        }
      }
      if (bytes.length === 0) throw new RequestError('generate: the prompt is empty; give at least one byte');
      const tooLong = lengthProblem('generate: the prompt', bytes.length, INPUT_LIMITS.promptBytes, 'bytes');
      if (tooLong) throw new RequestError(tooLong);
      const count = options.bytes ?? 100;
      check('generate: bytes', GENERATE_OPTIONS.bytes, count);
      if (options.temperature !== undefined) check('generate: temperature', GENERATE_OPTIONS.temperature, options.temperature);
      if (options.topK !== undefined) check('generate: topK', GENERATE_OPTIONS['top-k'], options.topK);
      if (options.seed !== undefined) check('generate: seed', GENERATE_OPTIONS.seed, options.seed);
      if (options.chunk !== undefined) check('generate: chunk', GENERATE_OPTIONS.chunk, options.chunk);
      const deliveries: Promise<unknown>[] = [];
      let callbackError: Error | null = null;
      let answered = false; // an instruction's answer ends at its newline
      const [generated] = await generateText(loaded.model as ByteLM, [bytes], {
        count, temperature: options.temperature ?? (instruction ? 0 : undefined), topK: options.topK, seed: options.seed, chunk: options.chunk,
        // Calls through a comlink proxy are messages on one port: they arrive in the order they are sent.
        onBytes: (_row, fresh) => {
          if (answered) return;
          let piece = fresh;
          if (instruction && fresh.includes(NEWLINE)) {
            piece = fresh.subarray(0, fresh.indexOf(NEWLINE));
            answered = true;
          }
          // A callback that throws stops the generation, and the request fails with what it threw.
          if (onChunk && piece.length) deliveries.push(Promise.resolve().then(() => onChunk(piece)).catch((error: unknown) => void (callbackError ??= error instanceof Error ? error : new Error(String(error)))));
        },
        cancelled: () => request.cancelled || callbackError !== null || answered,
      });
      await Promise.all(deliveries);
      if (callbackError) throw new RequestError(`generate: onChunk threw: ${(callbackError as Error).message}`);
      if (request.cancelled) throw new AbortError(`generate: cancelled after ${generated.length} of ${count} bytes`);
      const out = instruction && generated.includes(NEWLINE) ? generated.subarray(0, generated.indexOf(NEWLINE)) : generated;
      return { text: new TextDecoder().decode(out), bytes: out };
    });
  }

  /** H-Net: where each stage puts chunk boundaries in a text, and stage 1's boundary probabilities. */
  chunks(text: string, requestId?: string): Promise<ChunkedTextResult> {
    return this.enqueue('chunks', requestId, async (request) => {
      if (typeof text !== 'string' || text.length === 0) throw new RequestError('chunks: give a non-empty text');
      const tooLong = lengthProblem('chunks: the text', new TextEncoder().encode(text).length, INPUT_LIMITS.chunkBytes, 'bytes');
      if (tooLong) throw new RequestError(tooLong);
      const loaded = this.require('chunks', 'chunks');
      return chunkText(loaded.model as HNetLM, text, { cancelled: () => request.cancelled });
    });
  }

  /** HiSS: the loaded model's predictions for one sensor stream (checked first: NaN, channels, length). */
  predict(stream: readonly (readonly number[])[] | Float32Array, requestId?: string): Promise<StreamPrediction> {
    return this.enqueue('predict', requestId, async () => {
      const length = stream instanceof Float32Array ? stream.length : Array.isArray(stream) ? stream.length : 0;
      const samples = stream instanceof Float32Array && this.loaded?.spec.family === 'sensor' ? length / (this.loaded.model as HiSS).config.channelsIn : length;
      const tooLong = lengthProblem('predict: the stream', samples, INPUT_LIMITS.sensorSamples, 'samples');
      if (tooLong) throw new RequestError(tooLong);
      const loaded = this.require('predict', 'predict');
      try {
        return await predictStream(loaded.model as HiSS, stream);
      } catch (error) {
        if (error instanceof SensorError) throw new RequestError(`predict: ${error.message}`);
        throw error;
      }
    });
  }

  /** The loaded model's weights as a safetensors file (with its config in the metadata), transferable. */
  exportWeights(requestId?: string): Promise<Uint8Array> {
    return this.enqueue('exportWeights', requestId, async () => {
      if (this.training) return this.training.session.weightsFile();
      if (!this.weights) throw new WorkerStateError('exportWeights: no model is loaded');
      return encodeSafetensors(this.weights.decoded.tensors, this.weights.decoded.metadata);
    });
  }

  /** The playground's quick benchmark (copy, FMA, matmul, scan), each result handed to onResult as it comes. */
  benchmark(options: { size?: 'tiny' | 'quick' } = {}, onResult?: (r: QuickResult) => unknown, requestId?: string): Promise<QuickResult[]> {
    return this.enqueue('benchmark', requestId, () => quickBenchmark({ size: options.size, onResult: onResult ? async (r) => void (await onResult(r)) : undefined }));
  }

  /** GPU memory the worker holds now (bytes in live tensors; all it holds, pool included), training, device losses. */
  status(requestId?: string): Promise<WorkerStatus> {
    return this.enqueue('status', requestId, async () => {
      const m = memory();
      return { inUseBytes: m.inUseBytes, heldBytes: m.totalBytes, training: this.training !== null, paused: this.training?.paused ?? false, deviceRecoveries: this.recoveries, lastDeviceLoss: this.lastLoss };
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Training (the playground: a tiny HRM on generated Sudoku, in the visitor's browser)

  /**
   * Trains a new HRM; the trained model replaces the loaded one. Progress goes to onProgress every few steps and at
   * every held-out evaluation. pause(), resume() and stop() steer it; stop() and cancel() keep what was learned.
   */
  async train(request: TrainRequest, onProgress?: (p: TrainProgress) => unknown, requestId?: string): Promise<TrainResult> {
    const defaults = WORKER_TRAINING;
    const steps = request.steps ?? defaults.steps;
    const evalEvery = request.evalEvery ?? defaults.evalEvery;
    const progressEvery = request.progressEvery ?? defaults.progressEvery;
    const task = request.task ?? defaults.task;
    const run = await this.enqueue('train', requestId === undefined ? undefined : `${requestId}:setup`, async () => {
      if (this.training) throw new WorkerStateError('train: a training run is already in progress in this worker');
      if (task !== 'sudoku-4x4' && task !== 'sudoku-6x6') throw new RequestError(`train: the worker trains sudoku-4x4 or sudoku-6x6, not '${task}'`);
      check('train: steps', TRAIN_OPTIONS.steps, steps);
      check('train: evalEvery', TRAIN_OPTIONS['eval-every'], evalEvery);
      check('train: progressEvery', PROGRESS_OPTIONS.progressEvery, progressEvery);
      const fields = { hidden: 'hidden', batch: 'batch', lr: 'lr', train: 'train', test: 'test', seed: 'seed' } as const;
      for (const [field, option] of Object.entries(fields)) {
        const value = request[field as keyof typeof fields];
        if (value !== undefined) check(`train: ${field}`, TRAIN_OPTIONS[option], value);
      }
      if (request.replay !== undefined && typeof request.replay !== 'boolean') throw new RequestError(`train: replay must be true or false, got ${JSON.stringify(request.replay)}`);
      const values = {
        task, preset: 'tiny', seed: request.seed ?? defaults.seed, train: request.train ?? defaults.train, test: request.test ?? defaults.test,
        batch: request.batch ?? defaults.batch, lr: request.lr, hidden: request.hidden ?? defaults.hidden, cycles: defaults.cycles, 'max-segments': defaults.maxSegments,
      };
      return (await MODEL_KINDS.hrm.createRun({ values, given: new Set(Object.keys(values)) })) as TrainingSession;
    });
    run.replay = request.replay ?? false;
    const id = requestId ?? `train-${++this.counter}`;
    const training: Training = { session: run, request: { id, what: 'train', cancelled: false }, paused: false, stopRequested: false, resume: null };
    this.training = training;
    this.replaceModel({ kind: 'hrm', spec: MODEL_KINDS.hrm, model: run.model, config: run.state.config, metadata: { task } }, null);
    const stopping = () => training.stopRequested || training.request.cancelled || this.training !== training;
    let last: TrainProgress | null = null;
    try {
      const outcome = await runTraining(run, {
        steps, evalEvery, progressEvery,
        beforeStep: async () => {
          if (training.paused) await new Promise<void>((resolve) => (training.resume = resolve));
          return !stopping();
        },
        // Each step is a request of its own: a puzzle can be solved between two steps, and a paused run holds nothing up.
        around: (work) => this.enqueue('train', undefined, async () => {
          if (this.training !== training) throw new WorkerStateError('train: the training run ended (the device was lost or the worker disposed)');
          return work();
        }),
        onProgress: async (q) => {
          const evaluation = q.evaluation?.values as { cell: number; exact: number; exactBySegment: number[] } | undefined;
          const { trainCell, trainExact } = q.values;
          last = {
            step: q.step, steps, loss: q.loss, samplesPerSecond: q.rate,
            ...(trainCell !== null && trainExact !== null ? { trainCell, trainExact } : {}),
            ...(evaluation ? { cell: evaluation.cell, exact: evaluation.exact, exactBySegment: evaluation.exactBySegment } : {}),
          };
          await onProgress?.(last);
        },
      });
      // The trained weights, kept on the host: for export and for a device recovery.
      const bytes = await this.enqueue('train', undefined, () => run.weightsFile());
      const decoded = decodeSafetensors(bytes, 'the trained model');
      return await this.enqueue('train', undefined, async () => {
        const loaded = modelFromWeights(decoded, 'the trained model');
        this.training = null;
        run.dispose();
        this.replaceModel(loaded, { decoded, origin: 'the trained model', step: run.state.step });
        return { steps: outcome.done, stopped: outcome.stopped || training.stopRequested || training.request.cancelled, last, model: this.describe() };
      });
    } catch (error) {
      if (this.training === training) {
        this.training = null;
        this.loaded = null;
        run.dispose();
      }
      throw error;
    }
  }

  /** Pauses the training run after its current step. */
  pause(): void {
    if (this.training) this.training.paused = true;
  }

  resume(): void {
    this.resumeTraining();
  }

  /** Ends the training run after its current step; what it learned becomes the loaded model. */
  stop(): void {
    if (!this.training) return;
    this.training.stopRequested = true;
    this.resumeTraining();
  }

  private resumeTraining(): void {
    const training = this.training;
    if (!training) return;
    training.paused = false;
    training.resume?.();
    training.resume = null;
  }

  // -------------------------------------------------------------------------------------------------------------

  /** Releases the model and the GPU device. Requests already queued are refused; the worker cannot be used again. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    for (const request of this.requests.values()) request.cancelled = true;
    this.stop();
    await this.tail;
    this.disposed = true;
    this.loaded?.model.dispose();
    this.loaded = null;
    this.weights = null;
    await shutdownQuietly();
  }

  /** Tests only: loses the GPU device as a driver reset would (WebGPU's device.destroy()). */
  loseDeviceForTesting(): void {
    runtime().device.destroy();
  }

  /** The loaded model, when its kind serves `request` (solve, generate, chunks); a named error otherwise. */
  private require(what: string, request: ServedRequest): LoadedModel {
    if (!this.loaded) throw new WorkerStateError(`${what}: no model is loaded; call load(checkpoint) first`);
    if (!this.loaded.spec.requests.includes(request)) {
      const serving = KIND_NAMES.filter((k) => (MODEL_KINDS[k].requests as readonly ServedRequest[]).includes(request)).map((k) => MODEL_KINDS[k].title);
      throw new WorkerStateError(`${what}: the loaded model (${this.loaded.spec.title}) does not serve ${request}; load a checkpoint of ${listKinds(serving)}`);
    }
    return this.loaded;
  }

  private replaceModel(loaded: LoadedModel, weights: HostWeights | null): void {
    if (this.loaded && this.loaded.model !== loaded.model) this.loaded.model.dispose();
    this.loaded = loaded;
    this.weights = weights;
  }

  private describe(): ModelInfo {
    const { kind, spec, model, config, metadata } = this.loaded!;
    const parameters = model.parameterCount();
    const step = this.training ? this.training.session.state.step : (this.weights?.step ?? null);
    return { kind, parameters, step, description: spec.describe(config, parameters), requests: [...spec.requests], ...spec.servedInfo(config, metadata) };
  }
}

function stepOf(decoded: DecodedCheckpoint): number | null {
  const step = Number(decoded.metadata.step);
  return decoded.metadata.step !== undefined && Number.isFinite(step) ? step : null;
}

/** A RequestError naming the field when a request's value is outside its option's one range (model/options.ts). */
function check(what: string, spec: OptionSpec, value: unknown): void {
  const problem = optionProblem(spec, value);
  if (problem) throw new RequestError(`${what} ${problem}`);
}

export function adapterInfo(report: AdapterReport): AdapterInfo {
  const limits: Record<string, number> = {};
  for (const name of LIMITS_SHOWN) if (report.limits[name] !== undefined) limits[name] = report.limits[name];
  const name = [report.vendor, report.architecture, report.device, report.description].filter((s) => s && s !== 'unknown').join(' ');
  return { name: name || 'unknown adapter', runtime: report.runtime, software: report.software, limits, features: report.features };
}
