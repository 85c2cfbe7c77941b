// The runtime between tensors and the GPU: it encodes dispatches into one command encoder and submits them only
// when a value is read, at an explicit step boundary (`flush`), or when the batch grows past a bound; it uploads,
// reads back, waits, and turns GPU errors into named ones. Its parts, one job each, live in engine/runtime/:
// pipelines.ts (WGSL family + entry + overrides -> cached pipeline), bindings.ts (cached bind groups), uniforms.ts
// (the uniform arena and how uniforms are packed), profiling.ts (timestamp queries); the buffer pool is memory.ts.
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
import { BindGroupCache } from './runtime/bindings.ts';
import { PipelineCache, type KernelSpec } from './runtime/pipelines.ts';
import { MAX_PROFILED_DISPATCHES, Profiler, type KernelProfile } from './runtime/profiling.ts';
import { UniformArena } from './runtime/uniforms.ts';
import { WaitPacer, type WaitPolicy, type WaitStats } from './runtime/waits.ts';
import { CompiledStep, ReplayError, StepRecording, type ArgumentCopy, type BindingOrigin } from './runtime/replay.ts';

export { sizeClass, type MemoryStats } from './memory.ts';
export { Uniforms } from './runtime/uniforms.ts';
export type { KernelSpec, Overrides } from './runtime/pipelines.ts';
export type { KernelProfile } from './runtime/profiling.ts';
export type { WaitPolicy, WaitStats } from './runtime/waits.ts';
export { ReplayError, type ArgumentCopy } from './runtime/replay.ts';

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
  /**
   * For uniforms that change from step to step (a learning rate, a random stream): recomputes them, advancing any
   * host state as the eager op would, when a recorded step is replayed (engine/runtime/replay.ts).
   */
  refresh?: () => ArrayBuffer;
}

interface AssertionFlag {
  key: string;
  flag: GPUBuffer;
  initial: number;
  describe: (value: number) => string;
  /** The error class thrown when a dispatch set the flag. */
  error: new (message: string) => HieroError;
}

export interface RuntimeStats {
  dispatches: number;
  submits: number;
  readbacks: number;
  pipelines: number;
}

const MAX_DISPATCHES_PER_BATCH = 4096;
const MAX_POOLED_STAGING_BYTES = 1 << 20;

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
  private readonly pipelines: PipelineCache;
  private readonly bindGroups: BindGroupCache;
  private readonly uniforms: UniformArena;
  private readonly profiler: Profiler;
  private readonly pacer: WaitPacer;
  private readonly dynamicOffset = [0];
  /** MAP_READ buffers for read-backs, reused by size class. */
  private readonly readStaging = new Map<number, GPUBuffer[]>();

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batchLabels: string[] = [];
  private batchDispatches = 0;
  private toDestroy: GPUBuffer[] = [];
  /** Buffers bound or copied by the batch being encoded: the ones queue.writeBuffer must not overtake. */
  private touched = new Set<GPUBuffer>();
  private afterSubmitTasks: (() => Promise<void>)[] = [];
  private pendingChecks: Promise<void>[] = [];
  private failure: HieroError | null = null;
  private lost = false;
  /** Why the device was lost (its reason and message), once it has been. */
  lostReason: string | null = null;
  private readonly placeholder: GPUBuffer;
  private assertions = new Map<string, AssertionFlag>();
  /** Every assertion flag by its buffer (a recording tells them from tensors by it). */
  private readonly flagOf = new Map<GPUBuffer, AssertionFlag>();
  /** Flags that recorded steps bind: reset after each check instead of destroyed. */
  private readonly persistentFlags = new Set<GPUBuffer>();
  /** Flags of steps replayed since the last check. */
  private armedFlags = new Set<AssertionFlag>();
  /** The step being recorded, while one is. */
  private recording: StepRecording | null = null;
  private readonly writablePlaceholders: GPUBuffer[] = [];

  constructor(acquired: AcquiredDevice) {
    this.acquired = acquired;
    this.device = acquired.device;
    this.report = acquired.report;
    this.limits = acquired.report.limits;
    this.uniforms = new UniformArena(this.device);
    this.bindGroups = new BindGroupCache(this.device, this.uniforms.buffer);
    this.pipelines = new PipelineCache(this.device, {
      check: (scope, what) => this.check(scope, what),
      watch: (done) => void this.pendingChecks.push(done),
      fail: (message) => void (this.failure ??= new GPUExecutionError(message)),
      created: () => void this.stats.pipelines++,
    });
    this.profiler = new Profiler(this);
    // Dawn in Node polls while a promise is pending; a browser's WebGPU does not, so there a timer only adds latency.
    this.pacer = new WaitPacer(this.report.runtime === 'node' && !this.report.nullBackend ? 'sleep' : 'await');
    this.placeholder = this.device.createBuffer({ size: 16, usage: STORAGE_USAGE });
    this.pool = new BufferPool(this.device, {
      batchOpen: () => this.encoder !== null,
      flush: () => this.flush(),
      forget: (buffer) => this.bindGroups.forget(buffer),
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
  // Encoding and submission

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

  /**
   * Compiles a kernel off the main thread before its first dispatch (engine/runtime/pipelines.ts): `outputs` and
   * `inputs` are the numbers of storage bindings its dispatches will have.
   */
  prepare(spec: KernelSpec, outputs: number, inputs: number): Promise<void> {
    this.assertUsable();
    return this.pipelines.prepare(spec, outputs, inputs);
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
    const variant = this.pipelines.variant(spec, spec.outputs.length, spec.inputs.length);
    if (this.batchDispatches >= (this.profiler.active ? MAX_PROFILED_DISPATCHES : MAX_DISPATCHES_PER_BATCH) || this.uniforms.full) this.flush();
    const uniformOffset = this.uniforms.place(spec.uniforms, spec.label);
    const bindGroup = this.bindGroups.get(variant.group, spec.outputs, spec.inputs);
    for (const buffer of spec.outputs) this.touched.add(buffer);
    for (const buffer of spec.inputs) this.touched.add(buffer);
    const pass = this.profiler.active ? this.timedPass(spec.label) : this.computePass();
    pass.setPipeline(variant.pipeline);
    this.dynamicOffset[0] = uniformOffset;
    pass.setBindGroup(0, bindGroup, this.dynamicOffset);
    pass.dispatchWorkgroups(x, y, z);
    if (this.recording) this.recordDispatch(this.recording, variant.pipeline, variant.group, spec, [x, y, z]);
    this.batchLabels.push(spec.label);
    this.batchDispatches++;
    this.stats.dispatches++;
    if (this.debug) this.flush();
  }

  private originOf(recording: StepRecording, buffer: GPUBuffer): BindingOrigin {
    return this.flagOf.has(buffer) ? 'flag' : recording.inside.has(buffer) ? 'inside' : 'outside';
  }

  private recordDispatch(recording: StepRecording, pipeline: GPUComputePipeline, layout: GPUBindGroupLayout, spec: DispatchSpec, workgroups: [number, number, number]): void {
    const buffers = [...spec.outputs, ...spec.inputs];
    const origins = buffers.map((b) => this.originOf(recording, b));
    recording.commands.push({
      kind: 'dispatch', pipeline, layout, buffers, origins,
      flagKeys: buffers.map((b) => this.flagOf.get(b)?.key ?? null),
      uniforms: spec.uniforms ? new Uint8Array(spec.uniforms.slice(0)) : null,
      refresh: spec.refresh ?? null, workgroups, label: spec.label,
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Recorded steps (engine/runtime/replay.ts; the tensor-level API is engine/replay.ts)

  /** Starts noting every command encoded, at a batch boundary; pooled buffers are kept until endRecording(). */
  beginRecording(name: string): void {
    this.assertUsable();
    if (this.recording) throw new ReplayError(`${name}: another step (${this.recording.name}) is being recorded; recordings do not nest`);
    if (this.debug) throw new ReplayError(`${name}: a step cannot be recorded in debug mode (it submits after every dispatch)`);
    if (this.profiler.active) throw new ReplayError(`${name}: a step cannot be recorded while profiling`);
    this.flush();
    this.recording = new StepRecording(name);
    this.pool.holding = true;
  }

  /** Ends the recording (null: none was open, or it was aborted). */
  endRecording(): StepRecording | null {
    const recording = this.recording;
    this.recording = null;
    this.pool.holding = false;
    return recording;
  }

  get isRecording(): boolean {
    return this.recording !== null;
  }

  /** Host work a replay must repeat at this point of the step (an optimiser's step counter). No-op unless recording. */
  hostStep(run: () => void): void {
    this.recording?.commands.push({ kind: 'host', run });
  }

  /** A recording made ready to replay: its own bind groups and uniforms; its assertion flags kept across checks. */
  compileRecording(recording: StepRecording): { step: CompiledStep; flags: AssertionFlag[] } {
    const flags = new Set<AssertionFlag>();
    for (const c of recording.commands) {
      if (c.kind !== 'dispatch') continue;
      c.buffers.forEach((b, k) => {
        if (c.origins[k] === 'flag') flags.add(this.flagOf.get(b)!);
      });
    }
    for (const f of flags) this.persistentFlags.add(f.flag);
    return { step: new CompiledStep(this.device, recording), flags: [...flags] };
  }

  /** Lets a compiled step's flags be destroyed again. */
  releaseFlags(flags: readonly AssertionFlag[]): void {
    for (const f of flags) {
      this.persistentFlags.delete(f.flag);
      this.armedFlags.delete(f);
      if (this.assertions.get(f.key) !== f) {
        this.flagOf.delete(f.flag);
        f.flag.destroy();
      }
    }
  }

  /** Submits what is encoded, then replays a compiled step (argument copies first) in one submit. */
  replay(step: CompiledStep, copies: readonly ArgumentCopy[], flags: readonly AssertionFlag[], name: string): void {
    this.assertUsable();
    if (this.recording) throw new ReplayError(`${name}: a recorded step cannot be replayed while another step is recorded`);
    this.flush();
    for (const f of flags) this.armedFlags.add(f);
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    step.replay(copies);
    const validation = this.device.popErrorScope();
    const memory = this.device.popErrorScope();
    this.check(validation, `replaying ${name} (${summarise(step.labels)})`);
    this.checkMemory(memory, `replaying ${name}`);
    this.stats.submits++;
    this.stats.dispatches += step.dispatches;
    this.pacer.submitted(step.dispatches);
  }

  /** Encodes a buffer-to-buffer copy into the batch. */
  copyBuffer(source: GPUBuffer, sourceOffset: number, target: GPUBuffer, targetOffset: number, bytes: number): void {
    this.assertUsable();
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(source, sourceOffset, target, targetOffset, bytes);
    this.touched.add(source);
    this.touched.add(target);
  }

  private refuseInsideRecording(what: string): void {
    const recording = this.recording;
    if (!recording) return;
    this.endRecording();
    throw new ReplayError(
      `${recording.name}: ${what} inside a recorded step (after ${recording.dispatches} dispatches): a replay runs no host code ` +
        'between its kernels, so a step that reads the GPU (a data-dependent shape, a value it decides on) cannot be replayed',
    );
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
    this.pass = this.commandEncoder().beginComputePass(this.profiler.timedPass(label));
    return this.pass;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass(this.profiler.regionPass());
    return this.pass;
  }

  /**
   * Starts attributing GPU time to op labels with timestamp queries: each dispatch gets its own pass, so expect
   * somewhat more overhead than normal runs. Needs the adapter's 'timestamp-query' feature.
   */
  startProfile(): void {
    this.profiler.start();
  }

  /** Stops profiling and returns GPU milliseconds per op label since startProfile(). */
  stopProfile(): Promise<KernelProfile> {
    return this.profiler.stop();
  }

  /**
   * GPU milliseconds of everything `encode` dispatches, from one pair of timestamps around it: a region of many
   * dispatches (a kernel repeated, a whole training step) is timed as a whole, so the timer's resolution (~0.1 ms in
   * browsers) divides by the repetitions. Without the 'timestamp-query' feature: wall time to queue completion.
   */
  timeRegion(encode: () => void): Promise<{ milliseconds: number; method: 'gpu-timestamps' | 'queue-completion' }> {
    return this.profiler.timeRegion(encode);
  }

  /** For the profiler: a buffer to destroy once the batch is submitted, and work to run after the submit. */
  destroyAfterSubmit(buffer: GPUBuffer): void {
    this.toDestroy.push(buffer);
  }

  afterSubmit(task: () => Promise<void>): void {
    this.afterSubmitTasks.push(task);
  }

  commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submits everything encoded so far. Cheap when nothing is pending. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    this.profiler.resolve(this.encoder);
    this.uniforms.upload();
    const labels = this.batchLabels;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([this.encoder.finish()]);
    const validation = this.device.popErrorScope();
    const memory = this.device.popErrorScope();
    this.check(validation, `running kernels (${summarise(labels)})`);
    this.checkMemory(memory, `running kernels (${summarise(labels)})`);
    this.stats.submits++;
    this.pacer.submitted(this.batchDispatches);
    this.encoder = null;
    this.batchLabels = [];
    this.batchDispatches = 0;
    this.touched.clear();
    for (const buffer of this.toDestroy) buffer.destroy();
    this.toDestroy = [];
    this.pool.afterSubmit();
    for (const task of this.afterSubmitTasks) this.pendingChecks.push(task());
    this.afterSubmitTasks = [];
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
  gpuAssertion(key: string, describe: (value: number) => string, initial = 0, error: new (message: string) => HieroError = HieroError): GPUBuffer {
    const existing = this.assertions.get(key);
    if (existing) return existing.flag;
    const flag = this.device.createBuffer({ size: 4, usage: STORAGE_USAGE, mappedAtCreation: true });
    new Uint32Array(flag.getMappedRange())[0] = initial;
    flag.unmap();
    const entry = { key, flag, initial, describe, error };
    this.assertions.set(key, entry);
    this.flagOf.set(flag, entry);
    return flag;
  }

  private async checkAssertions(): Promise<void> {
    if (this.assertions.size === 0 && this.armedFlags.size === 0) return;
    const pending = [...new Set([...this.assertions.values(), ...this.armedFlags])];
    this.assertions.clear();
    this.armedFlags.clear();
    if (this.report.nullBackend) {
      // Nothing ran, so no flag was ever set.
      for (const a of pending) if (!this.persistentFlags.has(a.flag)) this.dropFlag(a);
      return;
    }
    const staging = this.device.createBuffer({ size: pending.length * 4, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
    const encoder = this.device.createCommandEncoder();
    pending.forEach((a, i) => encoder.copyBufferToBuffer(a.flag, 0, staging, i * 4, 4));
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(1 /* READ */);
    const values = new Uint32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    for (const a of pending) {
      if (!this.persistentFlags.has(a.flag)) this.dropFlag(a);
      else this.device.queue.writeBuffer(a.flag, 0, new Uint32Array([a.initial]));
    }
    pending.forEach((a, i) => {
      if (values[i] !== a.initial) throw new a.error(a.describe(values[i]));
    });
  }

  private dropFlag(a: AssertionFlag): void {
    this.flagOf.delete(a.flag);
    a.flag.destroy();
  }

  /** Waits for all submitted work and surfaces any GPU error it raised, naming the kernels involved. */
  async sync(): Promise<void> {
    this.refuseInsideRecording('a wait for the GPU (sync)');
    this.flush();
    await this.pacer.pace(() => this.device.queue.onSubmittedWorkDone());
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

  /** How waits for the GPU (read-backs, sync) wait: see engine/runtime/waits.ts. */
  get waitPolicy(): WaitPolicy {
    return this.pacer.policy;
  }

  set waitPolicy(policy: WaitPolicy) {
    if (policy !== 'sleep' && policy !== 'await') throw new HieroError(`waitPolicy: expected 'sleep' or 'await', got ${JSON.stringify(policy)}`);
    this.pacer.policy = policy;
  }

  /** Sleeps before waits and the time spent polling after them (bench/waits.ts reports them). */
  get waitStats(): WaitStats {
    return { ...this.pacer.stats };
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
    const buffer = this.pool.alloc(bytes, limit, label);
    this.recording?.inside.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    this.pool.release(buffer);
  }

  /**
   * Destroys every pooled buffer (memory held by live tensors is untouched). What is encoded is submitted first: a
   * buffer the open batch still uses could only retire, and would stay held until the next submit.
   */
  emptyPool(): void {
    this.flush();
    this.pool.empty();
  }

  memory(): MemoryStats {
    return this.pool.stats();
  }

  upload(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.assertUsable();
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const padded = Math.ceil(bytes.byteLength / 4) * 4;
    if (this.recording) {
      const copy = new Uint8Array(padded);
      copy.set(bytes);
      this.recording.commands.push({ kind: 'upload', buffer, origin: this.originOf(this.recording, buffer), offset: byteOffset, bytes: copy });
    }
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
    this.toDestroy.push(staging);
  }

  /** Copies `bytes` from `buffer` to the CPU: flushes the batch, waits for the GPU, reports any GPU error. */
  async read(buffer: GPUBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    this.assertUsable();
    this.refuseInsideRecording('a read-back');
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
      await this.pacer.pace(() => staging.mapAsync(1 /* READ */, 0, padded));
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
