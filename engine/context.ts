// The process-wide runtime: init() opens the device once; every op finds it here.

import { acquireDevice, type AdapterReport, type DeviceOptions } from './device.ts';
import { HieroError } from './errors.ts';
import { Runtime } from './runtime.ts';

let current: Runtime | null = null;
let opening: Promise<Runtime> | null = null;

/** Opens the GPU device (idempotent). Resolves to the adapter report. */
export async function init(options: DeviceOptions & { debug?: boolean } = {}): Promise<AdapterReport> {
  if (!current) {
    opening ??= acquireDevice(options).then((acquired) => new Runtime(acquired));
    try {
      current = await opening;
    } finally {
      opening = null;
    }
  }
  if (options.debug !== undefined) current.debug = options.debug;
  return current.report;
}

export function runtime(): Runtime {
  if (!current) throw new HieroError('Hiero is not initialised: call `await init()` before creating tensors');
  return current;
}

export function isInitialised(): boolean {
  return current !== null;
}

/** Releases the device (and in Node, Dawn), so the process can exit. Tensors made before are unusable. */
export function shutdown(): void {
  current?.destroy();
  current = null;
}

/** shutdown() once the device's open error scopes have settled: for a worker thread that is about to end. */
export async function shutdownQuietly(timeoutMs?: number): Promise<void> {
  const runtime = current;
  if (!runtime) return;
  await runtime.quiesce(timeoutMs);
  if (current === runtime) shutdown();
}

/**
 * Why the device was lost (a driver reset, the GPU process crashing, the GPU removed), or null while it works. A lost
 * device stays lost: shutdown() and init() open a new one, on which tensors must be made again.
 */
export function deviceLost(): string | null {
  return current?.lostReason ?? null;
}
