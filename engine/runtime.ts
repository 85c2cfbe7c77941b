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
import { BufferPool, sizeClass, STORAGE_USAGE, type MemoryStats } from './memory.ts';
import { shaderSources, type ShaderFamily } from '../shaders/index.ts';

export { sizeClass, type MemoryStats } from './memory.ts';

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
/**
 * Every kernel's uniform binding is this window of the arena, moved by a dynamic offset: the bind group then
 * depends only on the storage buffers, so it can be cached and reused (creating one costs ~20-30 µs in Dawn).
 */
const UNIFORM_WINDOW = 512;
/** Cached bind groups kept at most; past it the cache starts over (a pooled training loop needs a few thousand). */
const MAX_CACHED_BIND_GROUPS = 16384;
const MAX_DISPATCHES_PER_BATCH = 4096;
const MAX_POOLED_STAGING_BYTES = 1 << 20;
/** Timed dispatches per batch when profiling: WebGPU caps a query set at 4096 queries, two per dispatch. */
const MAX_PROFILED_DISPATCHES = 2048;

interface PipelineVariant {
  outputs: number;
  inputs: number;
  /** Number of override constants, and their values (booleans as 0/1). */
  count: number;
  constants: Record<string, number>;
  pipeline: GPUComputePipeline;
  group: GPUBindGroupLayout;
}

interface CachedBindGroup {
  ids: number[];
  group: GPUBindGroup;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly report: AdapterReport;
  readonly limits: Record<string, number>;
  readonly stats: RuntimeStats = { dispatches: 0, submits: 0, readbacks: 0, pipelines: 0 };
  /** Flush after every dispatch so a GPU error names exactly one kernel (slow; for debugging). */
  debug = false;
  /** The storage-buffer pool and its accounting (memory()). */
  readonly pool: BufferPool;

  private readonly acquired: AcquiredDevice;
  private readonly modules = new Map<ShaderFamily, GPUShaderModule>();
  private readonly variants = new Map<ShaderFamily, Map<string, Map<number, PipelineVariant[]>>>();
  private readonly layouts = new Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>();
  /** Bind groups by layout and storage buffers (see UNIFORM_WINDOW); entries go when one of their buffers is destroyed. */
  private readonly bindGroups = new Map<number, CachedBindGroup[]>();
  private readonly bindGroupsOf = new Map<number, [number, CachedBindGroup][]>();
  private bindGroupCount = 0;
  private readonly idScratch: number[] = [];
  private readonly dynamicOffset = [0];
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private bindGroupKeys = 0;
  /** MAP_READ buffers for read-backs, reused by size class. */
  private readonly readStaging = new Map<number, GPUBuffer[]>();

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
  /** Why the device was lost (its reason and message), once it has been. */
  lostReason: string | null = null;
  private profile: KernelProfile | null = null;
  private profileQueries: GPUQuerySet | null = null;
  private profileLabels: string[] = [];
  private region: { queries: GPUQuerySet; started: boolean } | null = null;
  private regionQueries: GPUQuerySet | null = null;
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
    this.pool = new BufferPool(this.device, {
      batchOpen: () => this.encoder !== null,
      flush: () => this.flush(),
      forget: (buffer) => this.forgetBindGroups(buffer),
    });
    this.device.lost.then((info) => {
      this.lost = true;
      this.lostReason = info.message ? `${info.reason}: ${info.message}` : String(info.reason);
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
    return this.variant(spec, outputs, inputs).pipeline;
  }

  /**
   * The cached pipeline of a kernel variant. Looked up by a numeric hash of the override values (no strings are
   * built per dispatch), then checked exactly.
   */
  private variant(spec: KernelSpec, outputs: number, inputs: number): PipelineVariant {
    let byEntry = this.variants.get(spec.family);
    if (!byEntry) this.variants.set(spec.family, (byEntry = new Map()));
    let byHash = byEntry.get(spec.entry);
    if (!byHash) byEntry.set(spec.entry, (byHash = new Map()));
    const overrides = spec.overrides;
    let hash = outputs * 31 + inputs;
    let count = 0;
    if (overrides) {
      for (const name in overrides) {
        hash = (Math.imul(hash, 0x01000193) + +overrides[name] + 1) | 0;
        count++;
      }
    }
    let bucket = byHash.get(hash);
    if (bucket) {
      for (const v of bucket) {
        if (v.outputs !== outputs || v.inputs !== inputs || v.count !== count) continue;
        let same = true;
        if (overrides) for (const name in overrides) if (v.constants[name] !== +overrides[name]) { same = false; break; }
        if (same) return v;
      }
    } else byHash.set(hash, (bucket = []));
    const created = this.createVariant(spec, outputs, inputs, count);
    bucket.push(created);
    return created;
  }

  private createVariant(spec: KernelSpec, outputs: number, inputs: number, count: number): PipelineVariant {
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
    const label = `${spec.family}:${spec.entry}:${outputs}/${inputs}:${JSON.stringify(constants)}`;
    const layout = this.layout(outputs, inputs);
    this.device.pushErrorScope('validation');
    const pipeline = this.device.createComputePipeline({ label, layout: layout.pipeline, compute: { module, entryPoint: spec.entry, constants } });
    this.check(this.device.popErrorScope(), `creating pipeline ${label}`);
    this.stats.pipelines++;
    return { outputs, inputs, count, constants, pipeline, group: layout.group };
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
        { binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform', hasDynamicOffset: true } },
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
    const variant = this.variant(spec, spec.outputs.length, spec.inputs.length);
    if (this.batchDispatches >= (this.profile ? MAX_PROFILED_DISPATCHES : MAX_DISPATCHES_PER_BATCH)) this.flush();
    const uniformBytes = spec.uniforms?.byteLength ?? 0;
    if (uniformBytes > UNIFORM_WINDOW) throw new LimitError(`${spec.label}: ${uniformBytes} bytes of uniforms exceed ${UNIFORM_WINDOW}`);
    if (this.uniformUsed + UNIFORM_WINDOW > UNIFORM_ARENA_BYTES) this.flush();
    const uniformOffset = this.uniformUsed;
    if (spec.uniforms) this.uniformArena.set(new Uint8Array(spec.uniforms), uniformOffset);
    this.uniformUsed += Math.max(UNIFORM_ALIGN, Math.ceil(uniformBytes / UNIFORM_ALIGN) * UNIFORM_ALIGN);

    const bindGroup = this.bindGroup(variant.group, spec.outputs, spec.inputs);
    const pass = this.profile ? this.timedPass(spec.label) : this.computePass();
    pass.setPipeline(variant.pipeline);
    this.dynamicOffset[0] = uniformOffset;
    pass.setBindGroup(0, bindGroup, this.dynamicOffset);
    pass.dispatchWorkgroups(x, y, z);
    this.batchLabels.push(spec.label);
    this.batchDispatches++;
    this.stats.dispatches++;
    if (this.debug) this.flush();
  }

  private bufferId(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) this.bufferIds.set(buffer, (id = this.nextBufferId++));
    return id;
  }

  /**
   * The bind group of these storage buffers (uniforms at binding 0 through the arena window), cached by a numeric
   * hash of the buffers' ids and checked exactly. Layouts are shared by every kernel with the same binding counts,
   * so the counts are part of the ids.
   */
  private bindGroup(group: GPUBindGroupLayout, outs: GPUBuffer[], ins: GPUBuffer[]): GPUBindGroup {
    const ids = this.idScratch;
    ids.length = 0;
    ids.push(outs.length, ins.length);
    let hash = outs.length * 17 + ins.length;
    for (const buffer of outs) {
      const id = this.bufferId(buffer);
      ids.push(id);
      hash = (Math.imul(hash, 0x01000193) + id) | 0;
      this.touched.add(buffer);
    }
    for (const buffer of ins) {
      const id = this.bufferId(buffer);
      ids.push(id);
      hash = (Math.imul(hash, 0x01000193) + id) | 0;
      this.touched.add(buffer);
    }
    let bucket = this.bindGroups.get(hash);
    if (bucket) {
      for (const cached of bucket) {
        const c = cached.ids;
        if (c.length !== ids.length) continue;
        let same = true;
        for (let k = 0; k < c.length; k++) if (c[k] !== ids[k]) { same = false; break; }
        if (same) return cached.group;
      }
    }
    // Entries of groups already dropped through another buffer linger in bindGroupsOf; both start over together.
    if (this.bindGroupCount >= MAX_CACHED_BIND_GROUPS || this.bindGroupKeys >= 4 * MAX_CACHED_BIND_GROUPS) {
      this.bindGroups.clear();
      this.bindGroupsOf.clear();
      this.bindGroupCount = 0;
      this.bindGroupKeys = 0;
      bucket = undefined;
    }
    if (!bucket) this.bindGroups.set(hash, (bucket = []));
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniformBuffer, offset: 0, size: UNIFORM_WINDOW } }];
    let binding = 1;
    for (const buffer of outs) entries.push({ binding: binding++, resource: { buffer } });
    for (const buffer of ins) entries.push({ binding: binding++, resource: { buffer } });
    const created: CachedBindGroup = { ids: ids.slice(), group: this.device.createBindGroup({ layout: group, entries }) };
    bucket.push(created);
    this.bindGroupCount++;
    for (let k = 2; k < ids.length; k++) {
      let list = this.bindGroupsOf.get(ids[k]);
      if (!list) this.bindGroupsOf.set(ids[k], (list = []));
      list.push([hash, created]);
      this.bindGroupKeys++;
    }
    return created.group;
  }

  /** Drops the cached bind groups that use a buffer about to be destroyed. */
  private forgetBindGroups(buffer: GPUBuffer): void {
    const id = this.bufferIds.get(buffer);
    if (id === undefined) return;
    for (const [hash, entry] of this.bindGroupsOf.get(id) ?? []) {
      const bucket = this.bindGroups.get(hash);
      const at = bucket?.indexOf(entry) ?? -1;
      if (at >= 0) {
        bucket!.splice(at, 1);
        this.bindGroupCount--;
        if (bucket!.length === 0) this.bindGroups.delete(hash);
      }
    }
    this.bindGroupsOf.delete(id);
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
    if (!this.pass) {
      const region = this.region;
      this.pass = region
        ? this.commandEncoder().beginComputePass({
            // The first pass of a region stamps its start; every pass stamps the end (the last one's stands).
            timestampWrites: { querySet: region.queries, ...(region.started ? {} : { beginningOfPassWriteIndex: 0 }), endOfPassWriteIndex: 1 },
          })
        : this.commandEncoder().beginComputePass();
      if (region) region.started = true;
    }
    return this.pass;
  }

  /**
   * GPU milliseconds of everything `encode` dispatches, from one pair of timestamps around it: a region of many
   * dispatches (a kernel repeated, a whole training step) is timed as a whole, so the timer's resolution (~0.1 ms in
   * browsers) divides by the repetitions. Without the 'timestamp-query' feature: wall time to queue completion.
   */
  async timeRegion(encode: () => void): Promise<{ milliseconds: number; method: 'gpu-timestamps' | 'queue-completion' }> {
    await this.sync();
    if (!this.device.features.has('timestamp-query') || this.profile) {
      const start = performance.now();
      encode();
      await this.sync();
      return { milliseconds: performance.now() - start, method: 'queue-completion' };
    }
    const queries = (this.regionQueries ??= this.device.createQuerySet({ type: 'timestamp', count: 2 }));
    this.region = { queries, started: false };
    let dispatched: boolean;
    try {
      encode();
    } finally {
      dispatched = this.region.started;
      this.endPass();
      this.region = null;
    }
    if (!dispatched) return { milliseconds: 0, method: 'gpu-timestamps' };
    const resolved = this.device.createBuffer({ size: 16, usage: 0x200 /* QUERY_RESOLVE */ | 0x4 /* COPY_SRC */ });
    const readable = this.device.createBuffer({ size: 16, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    const encoder = this.commandEncoder();
    encoder.resolveQuerySet(queries, 0, 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readable, 0, 16);
    this.destroyAfterSubmit.push(resolved);
    await this.sync();
    await readable.mapAsync(1);
    const stamps = new BigUint64Array(readable.getMappedRange());
    const milliseconds = Number(stamps[1] - stamps[0]) / 1e6;
    readable.unmap();
    readable.destroy();
    return { milliseconds, method: 'gpu-timestamps' };
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
    this.checkMemory(memory, `running kernels (${summarise(labels)})`);
    this.stats.submits++;
    this.encoder = null;
    this.batchLabels = [];
    this.batchDispatches = 0;
    this.touched.clear();
    this.uniformUsed = 0;
    for (const buffer of this.destroyAfterSubmit) buffer.destroy();
    this.destroyAfterSubmit = [];
    this.pool.afterSubmit();
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

  /** An out-of-memory error names what Hiero held, so the user knows whether to shrink the batch or the pool. */
  private checkMemory(scope: Promise<GPUError | null>, what: string): void {
    this.pendingChecks.push(
      scope.then((error) => {
        if (!error) return;
        const m = this.pool.stats();
        const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
        this.pool.empty();
        this.failure ??= new GPUExecutionError(
          `GPU out of memory while ${what}: ${error.message}. Hiero held ${mib(m.totalBytes)} for tensors ` +
            `(${mib(m.inUseBytes)} in live tensors, ${mib(m.pooledBytes)} pooled, peak ${mib(m.peakBytes)}); ` +
            'the pool has been emptied. Use a smaller batch, or setMemoryBudget() to make the pool give memory back sooner.',
        );
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
    if (this.report.nullBackend) {
      this.assertions.clear(); // nothing ran, so no flag was ever set
      return;
    }
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

  /**
   * Submits what is encoded and waits (at most `timeoutMs`) for the error scopes still open on the device, without
   * throwing: Dawn's Node binding aborts the process if a thread ends while one of its promises is pending.
   */
  async quiesce(timeoutMs = 2000): Promise<void> {
    try {
      this.flush();
    } catch {
      // A lost device cannot submit; its scopes resolve on their own.
    }
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled(checks), timeout]);
    clearTimeout(timer);
  }

  private async settle(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    await Promise.all(checks);
    this.assertUsable();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Memory

  /** Largest buffer a tensor may have: the smaller of the binding and buffer limits. */
  get maxTensorBytes(): number {
    return Math.min(this.limits.maxStorageBufferBindingSize ?? 134217728, this.limits.maxBufferSize ?? 268435456);
  }

  /** A storage buffer of at least `bytes` for op `label` (the shape, when given, is named in errors only). */
  alloc(bytes: number, label: string, shape?: readonly number[]): GPUBuffer {
    this.assertUsable();
    const limit = this.maxTensorBytes;
    if (bytes > limit) {
      throw new LimitError(
        `${label}${shape ? ` [${shape.join(', ')}]` : ''}: a tensor of ${bytes} bytes exceeds this adapter's buffer limit of ` +
          `${limit} bytes (maxStorageBufferBindingSize ${this.limits.maxStorageBufferBindingSize}, maxBufferSize ${this.limits.maxBufferSize})`,
      );
    }
    if (this.debug) {
      this.device.pushErrorScope('out-of-memory');
      const buffer = this.pool.alloc(bytes, limit, label);
      this.checkMemory(this.device.popErrorScope(), `allocating ${bytes} bytes for ${label}`);
      return buffer;
    }
    return this.pool.alloc(bytes, limit, label);
  }

  release(buffer: GPUBuffer): void {
    this.pool.release(buffer);
  }

  /** Destroys every pooled buffer (memory held by live tensors is untouched). */
  emptyPool(): void {
    this.pool.empty();
  }

  memory(): MemoryStats {
    return this.pool.stats();
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
    const stagingSize = sizeClass(padded);
    const staging = this.readStaging.get(stagingSize)?.pop() ??
      this.device.createBuffer({ size: stagingSize, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(buffer, byteOffset, staging, 0, padded);
    this.touched.add(buffer);
    this.flush();
    this.stats.readbacks++;
    try {
      await staging.mapAsync(1 /* READ */, 0, padded);
    } catch (error) {
      staging.destroy();
      await this.settle();
      throw new GPUExecutionError(`reading a tensor back failed: ${(error as Error).message}`);
    }
    const result = staging.getMappedRange(0, padded).slice(0, bytes);
    staging.unmap();
    // Small staging buffers are kept for the next read (a training loop reads a few scalars every few steps).
    if (stagingSize <= MAX_POOLED_STAGING_BYTES && !this.lost) {
      let list = this.readStaging.get(stagingSize);
      if (!list) this.readStaging.set(stagingSize, (list = []));
      if (list.length < 8) list.push(staging);
      else staging.destroy();
    } else staging.destroy();
    await this.settle();
    await this.checkAssertions();
    return result;
  }

  destroy(): void {
    this.flush();
    this.emptyPool();
    for (const list of this.readStaging.values()) for (const staging of list) staging.destroy();
    this.readStaging.clear();
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
// Uniform structs are written straight into typed views of one shared scratch buffer (no per-word objects, no
// per-launch typed arrays): kernels are launched thousands of times per second, and this runs for every launch.
// One Uniforms is built at a time; build() copies the words out.
let scratch = new ArrayBuffer(1024);
let scratchU32 = new Uint32Array(scratch);
let scratchI32 = new Int32Array(scratch);
let scratchF32 = new Float32Array(scratch);
let building: Uniforms | null = null;

export class Uniforms {
  private length = 0;

  constructor() {
    building = this;
  }

  private slot(): number {
    if (building !== this) throw new HieroError('internal: two uniform structs were built at once');
    if (this.length === scratchU32.length) {
      const grown = new ArrayBuffer(scratch.byteLength * 2);
      new Uint8Array(grown).set(new Uint8Array(scratch));
      scratch = grown;
      scratchU32 = new Uint32Array(grown);
      scratchI32 = new Int32Array(grown);
      scratchF32 = new Float32Array(grown);
    }
    return this.length++;
  }

  u32(value: number): this {
    scratchU32[this.slot()] = value >>> 0;
    return this;
  }
  i32(value: number): this {
    scratchI32[this.slot()] = value | 0;
    return this;
  }
  f32(value: number): this {
    scratchF32[this.slot()] = value;
    return this;
  }
  align16(): this {
    while (this.length % 4) this.u32(0);
    return this;
  }
  vec(values: readonly number[], length: number): this {
    this.align16();
    for (let k = 0; k < length; k++) this.u32(values[k] ?? 0);
    return this;
  }
  build(): ArrayBuffer {
    this.align16();
    building = null;
    return scratch.slice(0, this.length * 4);
  }
}
