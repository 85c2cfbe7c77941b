// Hiero's inference worker as an app sees it (the package's `hiero/worker` entry point): createHieroWorker() starts
// the worker (a Web Worker in a browser, a worker thread in Node) and returns the same typed API in both. Every call
// is a request queued in order; an AbortSignal cancels one; errors keep their names (CheckpointError, PuzzleError,
// AbortError, DeviceLostError, ...). Tests: test/worker.test.ts, test/web.test.ts.
//
//   const hiero = await createHieroWorker();
//   await hiero.load({ url: 'checkpoints/sudoku-4x4/' });
//   const { answer, views, haltSegment } = await hiero.solve('1... ..4. .3.. ...2');
//   await hiero.dispose();

import * as Comlink from 'comlink';
import { prepareWorkerDrivers, type DeviceOptions } from '../../engine/device.ts';
import type {
  AdapterInfo, CheckpointSource, ChunkedTextResult, GenerateRequest, GeneratedText, ModelInfo, QuickResult, SolveResult, StreamPrediction,
  TrainProgress, TrainRequest, TrainResult, WorkerStatus,
} from './protocol.ts';
import type { HieroService } from './service.ts';

export type * from './protocol.ts';

export interface HieroWorkerOptions {
  /** Node: which adapter the worker opens ('auto': a real GPU first, SwiftShader fallback). Browsers choose their own. */
  device?: DeviceOptions;
  /** Browser: a Worker you started yourself on apps/worker/worker.ts (for bundlers that need to see it). */
  worker?: Worker;
  /** Called when the worker's GPU device was lost (the worker re-creates it and reloads the model by itself). */
  onDeviceLost?: (reason: string) => void;
}

export interface RequestOptions {
  /** Cancels the request: a queued one never runs, a running one stops at its next read-back. Rejects with AbortError. */
  signal?: AbortSignal;
}

export interface HieroWorker {
  /** The adapter the worker runs on. */
  adapter(options?: RequestOptions): Promise<AdapterInfo>;
  /**
   * Loads a checkpoint: a directory (its manifest and weights, verified) or a .safetensors file, by URL (or path, in
   * Node), or its bytes (an ArrayBuffer given as bytes is transferred to the worker, and so detached here).
   */
  load(source: CheckpointSource, options?: RequestOptions): Promise<ModelInfo>;
  /** The loaded model, or null. */
  model(options?: RequestOptions): Promise<ModelInfo | null>;
  /** HRM: every segment's answer, confidence and Q values, the first right one, and where it would halt. */
  solve(puzzle: string, options?: RequestOptions & { segments?: number }): Promise<SolveResult>;
  /** H-Net or byte Transformer: continues the prompt, streaming new bytes to onChunk as they are read. */
  generate(prompt: string | Uint8Array, options?: RequestOptions & GenerateRequest & { onChunk?: (bytes: Uint8Array) => void }): Promise<GeneratedText>;
  /** H-Net: each stage's chunk boundaries in a text, and stage 1's boundary probabilities. */
  chunks(text: string, options?: RequestOptions): Promise<ChunkedTextResult>;
  /**
   * HiSS: predictions for a sensor stream, rows of channel readings (or a flat Float32Array, sample-major), at least
   * one chunk long; named errors for NaN, wrong channel counts, too-short or too-long streams.
   */
  predict(stream: readonly (readonly number[])[] | Float32Array, options?: RequestOptions): Promise<StreamPrediction>;
  /** Trains a tiny HRM on generated Sudoku in the worker; the trained model becomes the loaded one. */
  train(request: TrainRequest, options?: RequestOptions & { onProgress?: (p: TrainProgress) => void }): Promise<TrainResult>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Ends a training run after its current step, keeping what it learned. */
  stop(): Promise<void>;
  /** The loaded model's weights as a safetensors file (transferred). */
  exportWeights(options?: RequestOptions): Promise<Uint8Array>;
  /** Copy bandwidth, FMA peak, matmul GFLOP/s and scan GB/s on the worker's adapter. */
  benchmark(options?: RequestOptions & { size?: 'tiny' | 'quick'; onResult?: (r: QuickResult) => void }): Promise<QuickResult[]>;
  status(options?: RequestOptions): Promise<WorkerStatus>;
  /** Releases the model and the GPU device, then ends the worker. */
  dispose(): Promise<void>;
  /** Tests only: loses the worker's GPU device as a driver reset would. */
  loseDeviceForTesting(): Promise<void>;
}

interface Started {
  endpoint: Comlink.Endpoint;
  terminate: () => void | Promise<unknown>;
  /** Rejects if the worker itself fails (it could not start, or it crashed): no request waits forever. */
  failure: Promise<never>;
}

function workerFailure(message: string): Error {
  return Object.assign(new Error(message), { name: 'WorkerError' });
}

async function startNodeWorker(options: HieroWorkerOptions): Promise<Started> {
  const threadsModule = 'node:worker_threads';
  const adapterModule = 'comlink/dist/esm/node-adapter.mjs';
  const { Worker } = (await import(/* @vite-ignore */ threadsModule)) as typeof import('node:worker_threads');
  await prepareWorkerDrivers(options.device?.adapter);
  const nodeEndpoint = ((await import(/* @vite-ignore */ adapterModule)) as { default: (w: unknown) => Comlink.Endpoint }).default;
  // From the TypeScript sources (this repository), a plain bootstrap registers the loaders the worker needs first.
  const fromSource = import.meta.url.endsWith('.ts');
  const files = fromSource ? { entry: './node-bootstrap.mjs', worker: './worker.ts' } : { entry: './worker-thread.js', worker: '' };
  const entry = new URL(/* @vite-ignore */ files.entry, import.meta.url);
  const workerEntry = files.worker ? new URL(/* @vite-ignore */ files.worker, import.meta.url).href : null;
  const worker = new Worker(entry, { workerData: { device: options.device ?? {}, entry: workerEntry } });
  let ended = false;
  const failure = new Promise<never>((_, reject) => {
    worker.once('error', (error) => reject(workerFailure(`the Hiero worker failed: ${error.message}`)));
    worker.once('exit', (code) => {
      if (!ended) reject(workerFailure(`the Hiero worker exited (code ${code})`));
    });
  });
  failure.catch(() => undefined);
  return {
    endpoint: nodeEndpoint(worker), failure, terminate: () => {
      ended = true;
      return worker.terminate();
    },
  };
}

function startBrowserWorker(options: HieroWorkerOptions): Started {
  const worker = options.worker ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'hiero' });
  const failure = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (event) => reject(workerFailure(`the Hiero worker failed: ${event.message || 'it could not be loaded'}`)), { once: true });
  });
  failure.catch(() => undefined);
  return { endpoint: worker, failure, terminate: () => worker.terminate() };
}

/** Starts Hiero's inference worker. */
export async function createHieroWorker(options: HieroWorkerOptions = {}): Promise<HieroWorker> {
  const inBrowser = typeof (globalThis as { window?: unknown }).window !== 'undefined' || options.worker !== undefined;
  const started = inBrowser ? startBrowserWorker(options) : await startNodeWorker(options);
  const remote = Comlink.wrap<HieroService>(started.endpoint);
  if (options.onDeviceLost) await Promise.race([remote.onDeviceLost(Comlink.proxy(options.onDeviceLost)), started.failure]);
  let next = 0;
  let disposed = false;

  /** Runs one request with its own id, so that its AbortSignal can cancel exactly it. */
  const request = async <T>(signal: AbortSignal | undefined, call: (id: string) => Promise<T>): Promise<T> => {
    if (disposed) throw Object.assign(new Error('this Hiero worker has been disposed; create a new one'), { name: 'WorkerStateError' });
    if (signal?.aborted) throw Object.assign(new Error('the request was cancelled before it was sent'), { name: 'AbortError' });
    const id = `request-${++next}`;
    const onAbort = () => void remote.cancel(id);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([call(id), started.failure]);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  };
  const callback = <F extends (...args: never[]) => unknown>(f: F | undefined) => (f ? Comlink.proxy(f) : undefined);

  return {
    adapter: (o = {}) => request(o.signal, (id) => remote.adapter(id)),
    load: (source, o = {}) => request(o.signal, (id) => {
      if (!source || typeof source !== 'object') throw Object.assign(new Error(`load: give { url }, { path } or { bytes } (a checkpoint directory or a safetensors file), got ${source === null ? 'null' : typeof source}`), { name: 'RequestError' });
      const bytes = 'bytes' in source ? source.bytes : null;
      const transferable = bytes instanceof ArrayBuffer ? bytes : null;
      return remote.load(transferable ? Comlink.transfer(source, [transferable]) : source, id);
    }),
    model: (o = {}) => request(o.signal, (id) => remote.model(id)),
    solve: (puzzle, o = {}) => request(o.signal, (id) => remote.solve(puzzle, { segments: o.segments }, id)),
    generate: (prompt, o = {}) => request(o.signal, (id) => remote.generate(
      prompt, { bytes: o.bytes, temperature: o.temperature, topK: o.topK, seed: o.seed, chunk: o.chunk, instruction: o.instruction }, callback(o.onChunk), id,
    )),
    chunks: (text, o = {}) => request(o.signal, (id) => remote.chunks(text, id)),
    predict: (stream, o = {}) => request(o.signal, (id) => remote.predict(stream, id)),
    train: (r, o = {}) => request(o.signal, (id) => remote.train(r, callback(o.onProgress), id)),
    pause: () => request(undefined, () => remote.pause()),
    resume: () => request(undefined, () => remote.resume()),
    stop: () => request(undefined, () => remote.stop()),
    exportWeights: (o = {}) => request(o.signal, (id) => remote.exportWeights(id)),
    benchmark: (o = {}) => request(o.signal, (id) => remote.benchmark({ size: o.size }, callback(o.onResult), id)),
    status: (o = {}) => request(o.signal, (id) => remote.status(id)),
    loseDeviceForTesting: () => request(undefined, () => remote.loseDeviceForTesting()),
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      try {
        await remote.dispose();
      } finally {
        remote[Comlink.releaseProxy]();
        await started.terminate();
      }
    },
  };
}
