// GPU time, measured with timestamp queries: per op label (startProfile/stopProfile: each dispatch in a pass of its
// own, bracketed by timestamps) and per region (timeRegion: one pair of timestamps around everything a piece of
// code dispatches, so a timer's resolution divides by the repetitions). Needs the 'timestamp-query' feature;
// without it a region is timed by wall time to queue completion.

import { HieroError } from '../errors.ts';

/** GPU time per op label, from timestamp queries (see Runtime.startProfile). */
export type KernelProfile = Map<string, { dispatches: number; milliseconds: number }>;

/** Timed dispatches per batch when profiling: WebGPU caps a query set at 4096 queries, two per dispatch. */
export const MAX_PROFILED_DISPATCHES = 2048;

/** What the profiler needs of the runtime that encodes the work. */
export interface Encoding {
  readonly device: GPUDevice;
  commandEncoder(): GPUCommandEncoder;
  endPass(): void;
  destroyAfterSubmit(buffer: GPUBuffer): void;
  afterSubmit(task: () => Promise<void>): void;
  sync(): Promise<void>;
  flush(): void;
}

export class Profiler {
  private profile: KernelProfile | null = null;
  private queries: GPUQuerySet | null = null;
  private labels: string[] = [];
  private region: { queries: GPUQuerySet; started: boolean } | null = null;
  private regionQueries: GPUQuerySet | null = null;

  constructor(private readonly host: Encoding) {}

  /** Whether dispatches are being timed one by one. */
  get active(): boolean {
    return this.profile !== null;
  }

  start(): void {
    const { device } = this.host;
    if (!device.features.has('timestamp-query')) {
      throw new HieroError("profiling needs the adapter's 'timestamp-query' feature, which this adapter lacks");
    }
    this.host.flush();
    this.queries ??= device.createQuerySet({ type: 'timestamp', count: 2 * MAX_PROFILED_DISPATCHES });
    this.profile = new Map();
  }

  async stop(): Promise<KernelProfile> {
    await this.host.sync();
    const result = this.profile ?? new Map();
    this.profile = null;
    return result;
  }

  /** The pass of one profiled dispatch, bracketed by timestamp writes. */
  timedPass(label: string): GPUComputePassDescriptor {
    const index = this.labels.length;
    this.labels.push(label);
    return { timestampWrites: { querySet: this.queries!, beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 } };
  }

  /** A new pass inside a timed region: the first stamps the region's start, every one its end (the last stands). */
  regionPass(): GPUComputePassDescriptor | undefined {
    const region = this.region;
    if (!region) return undefined;
    const descriptor = { timestampWrites: { querySet: region.queries, ...(region.started ? {} : { beginningOfPassWriteIndex: 0 }), endOfPassWriteIndex: 1 } };
    region.started = true;
    return descriptor;
  }

  /** At submit: the batch's profiled timestamps are resolved and read once the GPU is done with them. */
  resolve(encoder: GPUCommandEncoder | null): void {
    const count = this.labels.length;
    if (!this.profile || count === 0 || !encoder) return;
    const { device } = this.host;
    const bytes = 16 * count;
    const resolved = device.createBuffer({ size: bytes, usage: 0x200 /* QUERY_RESOLVE */ | 0x4 /* COPY_SRC */ });
    const readable = device.createBuffer({ size: bytes, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    encoder.resolveQuerySet(this.queries!, 0, 2 * count, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readable, 0, bytes);
    this.host.destroyAfterSubmit(resolved);
    const labels = this.labels;
    const profile = this.profile;
    this.labels = [];
    this.host.afterSubmit(() =>
      readable.mapAsync(1).then(() => {
        const stamps = new BigUint64Array(readable.getMappedRange());
        labels.forEach((label, i) => {
          const entry = profile.get(label) ?? { dispatches: 0, milliseconds: 0 };
          entry.dispatches++;
          entry.milliseconds += Number(stamps[2 * i + 1] - stamps[2 * i]) / 1e6;
          profile.set(label, entry);
        });
        readable.unmap();
        readable.destroy();
      }),
    );
  }

  async timeRegion(encode: () => void): Promise<{ milliseconds: number; method: 'gpu-timestamps' | 'queue-completion' }> {
    const { device } = this.host;
    await this.host.sync();
    if (!device.features.has('timestamp-query') || this.profile) {
      const start = performance.now();
      encode();
      await this.host.sync();
      return { milliseconds: performance.now() - start, method: 'queue-completion' };
    }
    const queries = (this.regionQueries ??= device.createQuerySet({ type: 'timestamp', count: 2 }));
    this.region = { queries, started: false };
    let dispatched: boolean;
    try {
      encode();
    } finally {
      dispatched = this.region.started;
      this.host.endPass();
      this.region = null;
    }
    if (!dispatched) return { milliseconds: 0, method: 'gpu-timestamps' };
    const resolved = device.createBuffer({ size: 16, usage: 0x200 /* QUERY_RESOLVE */ | 0x4 /* COPY_SRC */ });
    const readable = device.createBuffer({ size: 16, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    const encoder = this.host.commandEncoder();
    encoder.resolveQuerySet(queries, 0, 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readable, 0, 16);
    this.host.destroyAfterSubmit(resolved);
    await this.host.sync();
    await readable.mapAsync(1);
    const stamps = new BigUint64Array(readable.getMappedRange());
    const milliseconds = Number(stamps[1] - stamps[0]) / 1e6;
    readable.unmap();
    readable.destroy();
    return { milliseconds, method: 'gpu-timestamps' };
  }
}
