// The inference worker's entry point: a HieroService exposed through comlink, in a browser Web Worker or in a Node
// worker thread (comlink's Node adapter). Apps do not load this file themselves: createHieroWorker()
// (apps/worker/client.ts) starts it. Here byte results and streamed chunks are transferred, never copied.

import * as Comlink from 'comlink';
import type { DeviceOptions } from '../../engine/index.ts';
import type { GenerateRequest, GeneratedText } from './protocol.ts';
import { HieroService } from './service.ts';

class TransferringService extends HieroService {
  override async generate(prompt: string | Uint8Array, options?: GenerateRequest, onChunk?: (bytes: Uint8Array) => unknown, requestId?: string): Promise<GeneratedText> {
    const send = onChunk && ((bytes: Uint8Array) => onChunk(Comlink.transfer(bytes, [bytes.buffer])));
    try {
      const result = await super.generate(prompt, options, send, requestId);
      return Comlink.transfer(result, [result.bytes.buffer]);
    } finally {
      release(onChunk);
    }
  }

  override async exportWeights(requestId?: string): Promise<Uint8Array> {
    const bytes = await super.exportWeights(requestId);
    return Comlink.transfer(bytes, [bytes.buffer]);
  }

  override async train(...args: Parameters<HieroService['train']>) {
    try {
      return await super.train(...args);
    } finally {
      release(args[1]);
    }
  }

  override async benchmark(...args: Parameters<HieroService['benchmark']>) {
    try {
      return await super.benchmark(...args);
    } finally {
      release(args[1]);
    }
  }
}

/** Lets the page side drop a callback's message port once the request that used it is over. */
function release(callback: unknown): void {
  (callback as { [Comlink.releaseProxy]?: () => void } | undefined)?.[Comlink.releaseProxy]?.();
}

const inBrowserWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
if (inBrowserWorker) {
  Comlink.expose(new TransferringService());
} else {
  // Computed specifiers: browser bundles never follow these.
  const threadsModule = 'node:worker_threads';
  const adapterModule = 'comlink/dist/esm/node-adapter.mjs';
  const { parentPort, workerData } = (await import(/* @vite-ignore */ threadsModule)) as typeof import('node:worker_threads');
  const nodeEndpoint = ((await import(/* @vite-ignore */ adapterModule)) as { default: (port: unknown) => Comlink.Endpoint }).default;
  if (!parentPort) throw new Error('apps/worker/worker.ts runs as a worker: start it with createHieroWorker()');
  Comlink.expose(new TransferringService((workerData as { device?: DeviceOptions } | undefined)?.device ?? {}), nodeEndpoint(parentPort));
}
