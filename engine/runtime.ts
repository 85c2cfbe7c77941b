// The runtime between tensors and the GPU: a kernel registry (WGSL family + entry + overrides -> cached pipeline),
// a size-classed buffer pool, and command batching. Dispatches are encoded into one command encoder and submitted
// only when a value is read, at an explicit step boundary (`flush`), or when the batch grows past a bound.
//
// Ordering rules that make pooling safe inside a batch:
// - A buffer released while its readers are still only encoded may be handed out again in the same batch: queue
//   order runs the earlier dispatches first.
// - queue.writeBuffer lands before the open batch's dispatches run, so it may only target a buffer that batch has
//   not touched; an upload into a touched buffer goes through the encoder (a staging copy) instead.
// - Buffers are destroyed only after the batch that last used them has been submitted.

import { describeAdapter, type AcquiredDevice, type AdapterReport } from './device.ts';
import { GPUExecutionError, HieroError, LimitError } from './errors.ts';
import { shaderSources, type ShaderFamily } from '../shaders/index.ts';

export type Overrides = Record<string, number | boolean>;

export interface KernelSpec {
  family: ShaderFamily;
  entry: string;
  overrides?: Overrides;
}

export interface DispatchSpec extends KernelSpec {
  /** Bytes for binding 0 (a uniform struct), or null when the kernel has none. */
  uniforms: ArrayBuffer | null;
  /** Storage buffers written by the kernel, bound from binding 1 on. */
  outputs: GPUBuffer[];
  /** Storage buffers read by the kernel, bound after the outputs. */
  inputs: GPUBuffer[];
  workgroups: [number, number?, number?];
  /** Shown in error messages: the tensor op this dispatch belongs to. */
  label: string;
}

export interface MemoryStats {
  /** Bytes of GPU buffers held by live tensors. */
  inUseBytes: number;
  /** Bytes of released buffers kept for reuse. */
  pooledBytes: number;
  /** inUseBytes + pooledBytes: all GPU memory Hiero holds for tensors. */
  totalBytes: number;
  liveBuffers: number;
  pooledBuffers: number;
}

/** GPU time per op label, from timestamp queries (see Runtime.startProfile). */
export type KernelProfile = Map<string, { dispatches: number; milliseconds: number }>;

export interface RuntimeStats {
  dispatches: number;
  submits: number;
  readbacks: number;
  pipelines: number;
}

const UNIFORM_ALIGN = 256;
const UNIFORM_ARENA_BYTES = 1 << 18;
const MAX_DISPATCHES_PER_BATCH = 4096;
/** Timed dispatches per batch when profiling: WebGPU caps a query set at 4096 queries, two per dispatch. */
const MAX_PROFILED_DISPATCHES = 2048;
const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

/** Pool size classes: multiples of 256 B up to 4 KiB, then 8 steps per power of two (waste under 12.5 %). */
export function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly report: AdapterReport;
  readonly limits: Record<string, number>;
  readonly stats: RuntimeStats = { dispatches: 0, submits: 0, readbacks: 0, pipelines: 0 };
  /** Flush after every dispatch so a GPU error names exactly one kernel (slow; for debugging). */
  debug = false;
  /** Upper bound on pooled (released, not yet reused) bytes; beyond it, released buffers are destroyed. */
  poolCapBytes = 1 << 30;

  private readonly acquired: AcquiredDevice;
  private readonly modules = new Map<ShaderFamily, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  private readonly pool = new Map<number, GPUBuffer[]>();
  private readonly bufferBytes = new WeakMap<GPUBuffer, number>();
  private inUseBytes = 0;
  private pooledBytes = 0;
  private liveBuffers = 0;
  private pooledBuffers = 0;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batchLabels: string[] = [];
  private batchDispatches = 0;
  private readonly uniformArena = new Uint8Array(UNIFORM_ARENA_BYTES);
  private uniformUsed = 0;
  private readonly uniformBuffer: GPUBuffer;
  private destroyAfterSubmit: GPUBuffer[] = [];
  /** Buffers bound or copied by the batch being encoded: the ones queue.writeBuffer must not overtake. */
  private touched = new Set<GPUBuffer>();
  private afterSubmit: (() => Promise<void>)[] = [];
  private pendingChecks: Promise<void>[] = [];
  private failure: HieroError | null = null;
  private lost = false;
  private profile: KernelProfile | null = null;
  private profileQueries: GPUQuerySet | null = null;
  private profileLabels: string[] = [];
  private readonly placeholder: GPUBuffer;
  private assertions = new Map<string, { flag: GPUBuffer; initial: number; describe: (value: number) => string }>();
  private readonly writablePlaceholders: GPUBuffer[] = [];

  constructor(acquired: AcquiredDevice) {
    this.acquired = acquired;
    this.device = acquired.device;
    this.report = acquired.report;
    this.limits = acquired.report.limits;
    this.uniformBuffer = this.device.createBuffer({ size: UNIFORM_ARENA_BYTES, usage: 0x40 | 0x8 /* UNIFORM|COPY_DST */ });
    this.placeholder = this.device.createBuffer({ size: 16, usage: STORAGE_USAGE });
    this.device.lost.then((info) => {
      this.lost = true;
      if (info.reason !== 'destroyed') {
        this.failure ??= new GPUExecutionError(
          `GPU device lost (${info.reason}): ${info.message}. Last kernels: ${this.recentLabels()}`,
        );
      }
    });
    this.device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.failure ??= new GPUExecutionError(`GPU error: ${error.message} (near kernels: ${this.recentLabels()})`);
    });
  }

  get adapterName(): string {
    return describeAdapter(this.report);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Kernels

  pipeline(spec: KernelSpec, outputs: number, inputs: number): GPUComputePipeline {
    const key = `${spec.family}:${spec.entry}:${outputs}/${inputs}:${JSON.stringify(spec.overrides ?? {})}`;
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    let module = this.modules.get(spec.family);
    if (!module) {
      this.device.pushErrorScope('validation');
      module = this.device.createShaderModule({ code: shaderSources[spec.family], label: spec.family });
      this.check(this.device.popErrorScope(), `compiling shaders/${spec.family}.wgsl`);
      this.modules.set(spec.family, module);
      this.watchCompilation(module, spec.family);
    }
    const constants: Record<string, number> = {};
    for (const [name, value] of Object.entries(spec.overrides ?? {})) constants[name] = Number(value);
    this.device.pushErrorScope('validation');
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.layout(outputs, inputs).pipeline,
      compute: { module, entryPoint: spec.entry, constants },
    });
    this.check(this.device.popErrorScope(), `creating pipeline ${key}`);
    this.pipelines.set(key, pipeline);
    this.stats.pipelines++;
    return pipeline;
  }

  /** WGSL source of a kernel family, for inspection (`hiero shader matmul`). */
  shaderSource(family: ShaderFamily): string {
    return shaderSources[family];
  }

  private watchCompilation(module: GPUShaderModule, family: string): void {
    const done = module.getCompilationInfo().then((info) => {
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length) {
        this.failure ??= new GPUExecutionError(
          `WGSL compilation of shaders/${family}.wgsl failed: ` +
            errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; '),
        );
      }
    });
    this.pendingChecks.push(done);
  }

  private layout(outputs: number, inputs: number) {
    const key = `${outputs}/${inputs}`;
    let entry = this.layouts.get(key);
    if (!entry) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform' } },
      ];
      for (let i = 0; i < outputs + inputs; i++) {
        entries.push({ binding: 1 + i, visibility: 4, buffer: { type: i < outputs ? 'storage' : 'read-only-storage' } });
      }
      const group = this.device.createBindGroupLayout({ entries });
      entry = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
      this.layouts.set(key, entry);
    }
    return entry;
  }

  /** Workgroup grid for `count` items of `perGroup` each, folded into 2-D past the per-dimension limit. */
  grid(count: number, perGroup: number, label: string): [number, number] {
    const groups = Math.max(1, Math.ceil(count / perGroup));
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (groups <= maxDim) return [groups, 1];
    const y = Math.ceil(groups / maxDim);
    if (y > maxDim) {
      throw new LimitError(
        `${label}: ${count} elements need ${groups} workgroups, more than this adapter's 2-D dispatch limit ` +
          `(${maxDim} x ${maxDim})`,
      );
    }
    return [Math.ceil(groups / y), y];
  }

  dispatch(spec: DispatchSpec): void {
    this.assertUsable();
    const [x, y = 1, z = 1] = spec.workgroups;
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (x > maxDim || y > maxDim || z > maxDim) {
      throw new LimitError(
        `${spec.label}: dispatch of ${x} x ${y} x ${z} workgroups exceeds this adapter's ` +
          `maxComputeWorkgroupsPerDimension (${maxDim})`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return;
    const pipeline = this.pipeline(spec, spec.outputs.length, spec.inputs.length);
    const layout = this.layout(spec.outputs.length, spec.inputs.length);
    if (this.batchDispatches >= (this.profile ? MAX_PROFILED_DISPATCHES : MAX_DISPATCHES_PER_BATCH)) this.flush();
    const uniformBytes = spec.uniforms?.byteLength ?? 0;
    if (this.uniformUsed + Math.max(uniformBytes, 16) > UNIFORM_ARENA_BYTES) this.flush();
    const uniformOffset = this.uniformUsed;
    if (spec.uniforms) this.uniformArena.set(new Uint8Array(spec.uniforms), uniformOffset);
    const uniformSize = Math.max(16, Math.ceil(uniformBytes / 16) * 16);
    this.uniformUsed += Math.ceil(uniformSize / UNIFORM_ALIGN) * UNIFORM_ALIGN;

    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.uniformBuffer, offset: uniformOffset, size: uniformSize } },
    ];
    [...spec.outputs, ...spec.inputs].forEach((buffer, i) => {
      entries.push({ binding: 1 + i, resource: { buffer } });
      this.touched.add(buffer);
    });
    const bindGroup = this.device.createBindGroup({ layout: layout.group, entries });
    const pass = this.profile ? this.timedPass(spec.label) : this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.batchLabels.push(spec.label);
    this.batchDispatches++;
    this.stats.dispatches++;
    if (this.debug) this.flush();
  }

  /** A buffer to bind where a kernel declares an input binding that this dispatch does not read. */
  get unusedBinding(): GPUBuffer {
    return this.placeholder;
  }

  /** A buffer for output slot `slot` where this dispatch writes nothing (one per slot: writable bindings may not alias). */
  unusedOutput(slot: number): GPUBuffer {
    while (this.writablePlaceholders.length <= slot) {
      this.writablePlaceholders.push(this.device.createBuffer({ size: 16, usage: STORAGE_USAGE }));
    }
    return this.writablePlaceholders[slot];
  }

  /** A pass of its own for one dispatch, bracketed by timestamp writes (profiling only). */
  private timedPass(label: string): GPUComputePassEncoder {
    this.endPass();
    const index = this.profileLabels.length;
    this.profileLabels.push(label);
    this.pass = this.commandEncoder().beginComputePass({
      timestampWrites: { querySet: this.profileQueries!, beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 },
    });
    return this.pass;
  }

  /**
   * Starts attributing GPU time to op labels with timestamp queries: each dispatch gets its own pass, so expect
   * somewhat more overhead than normal runs. Needs the adapter's 'timestamp-query' feature.
   */
  startProfile(): void {
    if (!this.device.features.has('timestamp-query')) {
      throw new HieroError("profiling needs the adapter's 'timestamp-query' feature, which this adapter lacks");
    }
    this.flush();
    this.profileQueries ??= this.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_PROFILED_DISPATCHES });
    this.profile = new Map();
  }

  /** Stops profiling and returns GPU milliseconds per op label since startProfile(). */
  async stopProfile(): Promise<KernelProfile> {
    await this.sync();
    const result = this.profile ?? new Map();
    this.profile = null;
    return result;
  }

  private resolveProfile(): void {
    const count = this.profileLabels.length;
    if (!this.profile || count === 0 || !this.encoder) return;
    const bytes = 16 * count;
    const resolved = this.device.createBuffer({ size: bytes, usage: 0x200 /* QUERY_RESOLVE */ | 0x4 /* COPY_SRC */ });
    const readable = this.device.createBuffer({ size: bytes, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    this.encoder.resolveQuerySet(this.profileQueries!, 0, 2 * count, resolved, 0);
    this.encoder.copyBufferToBuffer(resolved, 0, readable, 0, bytes);
    this.destroyAfterSubmit.push(resolved);
    const labels = this.profileLabels;
    const profile = this.profile;
    this.profileLabels = [];
    this.afterSubmit.push(() =>
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

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submits everything encoded so far. Cheap when nothing is pending. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    this.resolveProfile();
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformArena.buffer, 0, this.uniformUsed);
    }
    const labels = this.batchLabels;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([this.encoder.finish()]);
    const validation = this.device.popErrorScope();
    const memory = this.device.popErrorScope();
    this.check(validation, `running kernels (${summarise(labels)})`);
    this.check(memory, `running kernels (${summarise(labels)})`);
    this.stats.submits++;
    this.encoder = null;
    this.batchLabels = [];
    this.batchDispatches = 0;
    this.touched.clear();
    this.uniformUsed = 0;
    for (const buffer of this.destroyAfterSubmit) buffer.destroy();
    this.destroyAfterSubmit = [];
    for (const task of this.afterSubmit) this.pendingChecks.push(task());
    this.afterSubmit = [];
  }

  private check(scope: Promise<GPUError | null>, what: string): void {
    this.pendingChecks.push(
      scope.then((error) => {
        if (error) this.failure ??= new GPUExecutionError(`GPU error while ${what}: ${error.message}`);
      }),
    );
  }

  private recentLabels(): string {
    return summarise(this.batchLabels);
  }

  private assertUsable(): void {
    if (this.failure) {
      // Reported once: the batch it came from is gone, but later work on this device can still run.
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
    if (this.lost) throw new GPUExecutionError('the GPU device was released or lost; call init() again');
  }

  /**
   * A u32 flag that kernels set when they meet bad input they cannot report themselves (an out-of-range index);
   * `initial` means fine. One flag per key serves every dispatch until the next read-back or sync(), which checks
   * it and throws describe(value) if any dispatch set it.
   */
  gpuAssertion(key: string, describe: (value: number) => string, initial = 0): GPUBuffer {
    const existing = this.assertions.get(key);
    if (existing) return existing.flag;
    const flag = this.device.createBuffer({ size: 4, usage: STORAGE_USAGE, mappedAtCreation: true });
    new Uint32Array(flag.getMappedRange())[0] = initial;
    flag.unmap();
    this.assertions.set(key, { flag, initial, describe });
    return flag;
  }

  private async checkAssertions(): Promise<void> {
    if (this.assertions.size === 0) return;
    const pending = [...this.assertions.values()];
    this.assertions.clear();
    const staging = this.device.createBuffer({ size: pending.length * 4, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    const encoder = this.device.createCommandEncoder();
    pending.forEach((a, i) => encoder.copyBufferToBuffer(a.flag, 0, staging, i * 4, 4));
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(1 /* READ */);
    const values = new Uint32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    pending.forEach((a) => a.flag.destroy());
    pending.forEach((a, i) => {
      if (values[i] !== a.initial) throw new HieroError(a.describe(values[i]));
    });
  }

  /** Waits for all submitted work and surfaces any GPU error it raised, naming the kernels involved. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.settle();
    await this.checkAssertions();
  }

  private async settle(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    await Promise.all(checks);
    this.assertUsable();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Memory

  alloc(bytes: number, label: string): GPUBuffer {
    this.assertUsable();
    const maxBinding = this.limits.maxStorageBufferBindingSize ?? 134217728;
    const maxBuffer = this.limits.maxBufferSize ?? 268435456;
    const limit = Math.min(maxBinding, maxBuffer);
    if (bytes > limit) {
      throw new LimitError(
        `${label}: a tensor of ${bytes} bytes exceeds this adapter's buffer limit of ${limit} bytes ` +
          `(maxStorageBufferBindingSize ${maxBinding}, maxBufferSize ${maxBuffer})`,
      );
    }
    const size = Math.min(sizeClass(bytes), limit);
    const free = this.pool.get(size);
    let buffer = free?.pop();
    if (buffer) {
      this.pooledBytes -= size;
      this.pooledBuffers--;
    } else {
      buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE });
      this.bufferBytes.set(buffer, size);
      this.liveBuffers++;
    }
    this.inUseBytes += size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.bufferBytes.get(buffer) ?? buffer.size;
    this.inUseBytes -= size;
    if (this.pooledBytes + size > this.poolCapBytes) {
      this.liveBuffers--;
      this.retire(buffer);
      return;
    }
    let free = this.pool.get(size);
    if (!free) this.pool.set(size, (free = []));
    free.push(buffer);
    this.pooledBytes += size;
    this.pooledBuffers++;
  }

  /** Destroys every pooled buffer (memory held by live tensors is untouched). */
  emptyPool(): void {
    for (const buffers of this.pool.values()) for (const buffer of buffers) this.retire(buffer);
    this.liveBuffers -= this.pooledBuffers;
    this.pool.clear();
    this.pooledBytes = 0;
    this.pooledBuffers = 0;
  }

  private retire(buffer: GPUBuffer): void {
    if (this.encoder) this.destroyAfterSubmit.push(buffer);
    else buffer.destroy();
  }

  memory(): MemoryStats {
    return {
      inUseBytes: this.inUseBytes,
      pooledBytes: this.pooledBytes,
      totalBytes: this.inUseBytes + this.pooledBytes,
      liveBuffers: this.liveBuffers - this.pooledBuffers,
      pooledBuffers: this.pooledBuffers,
    };
  }

  upload(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.assertUsable();
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const padded = Math.ceil(bytes.byteLength / 4) * 4;
    if (!this.touched.has(buffer)) {
      if (padded === bytes.byteLength) this.device.queue.writeBuffer(buffer, byteOffset, bytes);
      else {
        const copy = new Uint8Array(padded);
        copy.set(bytes);
        this.device.queue.writeBuffer(buffer, byteOffset, copy);
      }
      return;
    }
    const staging = this.device.createBuffer({ size: Math.max(padded, 4), usage: 0x4 /* COPY_SRC */, mappedAtCreation: true });
    new Uint8Array(staging.getMappedRange()).set(bytes);
    staging.unmap();
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(staging, 0, buffer, byteOffset, padded);
    this.touched.add(buffer);
    this.destroyAfterSubmit.push(staging);
  }

  /** Copies `bytes` from `buffer` to the CPU: flushes the batch, waits for the GPU, reports any GPU error. */
  async read(buffer: GPUBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    this.assertUsable();
    const padded = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({ size: padded, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(buffer, byteOffset, staging, 0, padded);
    this.touched.add(buffer);
    this.flush();
    this.stats.readbacks++;
    try {
      await staging.mapAsync(1 /* READ */);
    } catch (error) {
      await this.settle();
      throw new GPUExecutionError(`reading a tensor back failed: ${(error as Error).message}`);
    }
    const result = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    await this.settle();
    await this.checkAssertions();
    return result;
  }

  destroy(): void {
    this.flush();
    this.emptyPool();
    this.acquired.release();
    this.lost = true;
  }
}

function summarise(labels: string[]): string {
  if (labels.length === 0) return 'none';
  const unique = [...new Set(labels)];
  const shown = unique.slice(0, 12).join(', ');
  return unique.length > 12 ? `${shown}, … (${labels.length} dispatches)` : shown;
}

/** Packs a uniform struct: scalars are 4 bytes; `vec8` writes an array<vec4<u32>, 2> on a 16-byte boundary. */
export class Uniforms {
  private readonly words: number[] = [];
  private readonly kinds: ('u' | 'i' | 'f')[] = [];

  u32(value: number): this {
    this.words.push(value >>> 0);
    this.kinds.push('u');
    return this;
  }
  i32(value: number): this {
    this.words.push(value | 0);
    this.kinds.push('i');
    return this;
  }
  f32(value: number): this {
    this.words.push(value);
    this.kinds.push('f');
    return this;
  }
  align16(): this {
    while (this.words.length % 4) this.u32(0);
    return this;
  }
  vec(values: readonly number[], length: number): this {
    this.align16();
    for (let i = 0; i < length; i++) this.u32(values[i] ?? 0);
    return this;
  }
  build(): ArrayBuffer {
    this.align16();
    const buffer = new ArrayBuffer(this.words.length * 4);
    const view = new DataView(buffer);
    this.words.forEach((w, i) => {
      const kind = this.kinds[i];
      if (kind === 'f') view.setFloat32(i * 4, w, true);
      else if (kind === 'i') view.setInt32(i * 4, w, true);
      else view.setUint32(i * 4, w, true);
    });
    return buffer;
  }
}
