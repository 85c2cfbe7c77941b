// Recorded steps, below the tensor layer (the tensor-level API is engine/replay.ts; tests: test/replay.test.ts).
//
// While a step is recorded, the runtime notes every command it encodes: dispatches (pipeline, the buffers bound,
// uniform bytes, workgroups), uploads inside the step, and host steps (a counter an optimiser advances). A replay
// encodes the same commands again over the same buffers in one command encoder and one submit, without running the
// op, autograd or allocation layers. Values that change per step are not in the recorded bytes: a dispatch that
// carries `refresh` has its uniforms recomputed at every replay (the learning rate, Adam's bias corrections, a random
// stream), and host steps run again in their recorded order, so host state advances exactly as in an eager step.
//
// What makes a replay wrong is found by recording the step twice and comparing: the same kernels, workgroups and
// uniforms, the same upload bytes, and every buffer from outside the step the same one both times. A tensor the step
// reads but that was replaced between calls (state carried by reassignment) would be frozen in a replay; it is
// refused by name, as is a read-back or a wait inside the step.

import { HieroError } from '../errors.ts';
import { UNIFORM_WINDOW } from './uniforms.ts';

export class ReplayError extends HieroError {}

const UNIFORM_ALIGN = 256;

/** How a dispatch's binding relates to the step: made inside it, from outside it, or a kernel-assertion flag. */
export type BindingOrigin = 'inside' | 'outside' | 'flag';

export interface RecordedDispatch {
  kind: 'dispatch';
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Storage buffers in binding order (outputs, then inputs). */
  buffers: GPUBuffer[];
  origins: BindingOrigin[];
  /** Flag keys, for bindings whose origin is 'flag'. */
  flagKeys: (string | null)[];
  uniforms: Uint8Array | null;
  refresh: (() => ArrayBuffer) | null;
  workgroups: [number, number, number];
  label: string;
}

export interface RecordedUpload {
  kind: 'upload';
  buffer: GPUBuffer;
  origin: BindingOrigin;
  offset: number;
  bytes: Uint8Array;
}

export interface RecordedHostStep {
  kind: 'host';
  run: () => void;
}

export type RecordedCommand = RecordedDispatch | RecordedUpload | RecordedHostStep;

/** What one recording of a step saw. */
export class StepRecording {
  readonly commands: RecordedCommand[] = [];
  /** Buffers handed out by the pool while recording: made inside the step. */
  readonly inside = new Set<GPUBuffer>();
  constructor(readonly name: string) {}

  get dispatches(): number {
    let n = 0;
    for (const c of this.commands) if (c.kind === 'dispatch') n++;
    return n;
  }
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

const describeCommand = (c: RecordedCommand | undefined, index: number) =>
  c === undefined ? `nothing at command ${index}` : c.kind === 'dispatch' ? `dispatch ${index} (${c.label})` : c.kind === 'upload' ? `upload ${index}` : `host step ${index}`;

/**
 * Throws a ReplayError naming the first difference between two recordings of the same step that would make a
 * replay of `second` differ from running the step eagerly.
 */
export function assertSameStep(first: StepRecording, second: StepRecording): void {
  const name = second.name;
  const n = Math.max(first.commands.length, second.commands.length);
  for (let i = 0; i < n; i++) {
    const a = first.commands[i];
    const b = second.commands[i];
    if (!a || !b || a.kind !== b.kind) {
      throw new ReplayError(
        `${name}: the step encoded different work on two calls (${describeCommand(a, i)} vs ${describeCommand(b, i)}; ` +
          `${first.commands.length} vs ${second.commands.length} commands): its control flow depends on something that changes, so it cannot be replayed`,
      );
    }
    if (a.kind === 'dispatch' && b.kind === 'dispatch') {
      const where = describeCommand(b, i);
      if (a.pipeline !== b.pipeline || a.buffers.length !== b.buffers.length) {
        throw new ReplayError(`${name}: ${where} ran another kernel than on the previous call (${a.label}); the step's work changes between calls`);
      }
      if (a.workgroups.some((w, k) => w !== b.workgroups[k])) {
        throw new ReplayError(`${name}: ${where} launched ${b.workgroups.join('×')} workgroups, ${a.workgroups.join('×')} on the previous call: a shape inside the step changed`);
      }
      if ((a.refresh === null) !== (b.refresh === null)) throw new ReplayError(`${name}: ${where} refreshes its uniforms on one call only`);
      if (b.refresh === null && !sameBytes(a.uniforms, b.uniforms)) {
        throw new ReplayError(
          `${name}: ${where} was given other uniform values than on the previous call (a host number that changes per step, ` +
            'such as a learning rate or a seed, baked into the kernel): a replay would repeat the recorded value',
        );
      }
      for (let k = 0; k < b.buffers.length; k++) {
        if (a.origins[k] !== b.origins[k]) {
          throw new ReplayError(`${name}: ${where}, binding ${k + 1}: a buffer made ${a.origins[k]} the step on one call and ${b.origins[k]} on the next`);
        }
        if (b.origins[k] === 'flag' ? a.flagKeys[k] !== b.flagKeys[k] : b.origins[k] === 'outside' && a.buffers[k] !== b.buffers[k]) {
          throw new ReplayError(
            `${name}: ${where}, binding ${k + 1}, reads a tensor from outside the step that was replaced since the previous call ` +
              '(state carried by reassigning a variable): a replay would keep reading the recorded one. Pass it as an argument and take its next value from the outputs',
          );
        }
      }
    } else if (a.kind === 'upload' && b.kind === 'upload') {
      if (!sameBytes(a.bytes, b.bytes) || a.offset !== b.offset) {
        throw new ReplayError(
          `${name}: upload ${i} inside the step sent other data than on the previous call (a new batch made inside the step): ` +
            'upload it before the step and pass it as an argument',
        );
      }
      if (a.origin !== b.origin || (b.origin === 'outside' && a.buffer !== b.buffer)) {
        throw new ReplayError(`${name}: upload ${i} wrote into another tensor from outside the step than on the previous call`);
      }
    }
  }
}

/** A copy into a step's argument buffer, at the start of a replay. */
export interface ArgumentCopy {
  source: GPUBuffer;
  sourceOffset: number;
  target: GPUBuffer;
  bytes: number;
}

interface CompiledDispatch {
  pipeline: GPUComputePipeline;
  group: GPUBindGroup;
  offset: number;
  refresh: (() => ArrayBuffer) | null;
  workgroups: [number, number, number];
}

type CompiledCommand =
  | ({ kind: 'dispatch' } & CompiledDispatch)
  | { kind: 'upload'; staging: GPUBuffer; stagingOffset: number; buffer: GPUBuffer; offset: number; bytes: number }
  | { kind: 'host'; run: () => void };

/**
 * A recording turned into what a replay encodes: bind groups over a uniform buffer of its own (the shared arena is
 * rewritten by every batch), the recorded uniform bytes in it, and the uploads' bytes in a staging buffer.
 */
export class CompiledStep {
  readonly dispatches: number;
  readonly labels: string[];
  private readonly commands: CompiledCommand[] = [];
  private readonly uniformBuffer: GPUBuffer;
  private readonly shadow: Uint8Array<ArrayBuffer>;
  private readonly staging: GPUBuffer | null;
  private readonly offset = [0];

  constructor(private readonly device: GPUDevice, recording: StepRecording) {
    const dispatches = recording.commands.filter((c): c is RecordedDispatch => c.kind === 'dispatch');
    this.dispatches = dispatches.length;
    this.labels = dispatches.map((d) => d.label);
    // Each dispatch's uniforms take whole alignment slots, as in the shared arena: a struct over 256 bytes (a fused
    // map of many inputs) takes two, and the next dispatch's must not overwrite its tail.
    const slotsOf = (d: RecordedDispatch) => Math.max(1, Math.ceil((d.uniforms?.byteLength ?? 0) / UNIFORM_ALIGN));
    const lastOffset = dispatches.slice(0, -1).reduce((sum, d) => sum + slotsOf(d) * UNIFORM_ALIGN, 0);
    const uniformBytes = lastOffset + UNIFORM_WINDOW;
    this.shadow = new Uint8Array(uniformBytes);
    this.uniformBuffer = device.createBuffer({ size: uniformBytes, usage: 0x40 | 0x8 /* UNIFORM|COPY_DST */, label: `${recording.name} uniforms` });
    const uploads = recording.commands.filter((c): c is RecordedUpload => c.kind === 'upload');
    const stagingBytes = uploads.reduce((sum, u) => sum + Math.ceil(u.bytes.byteLength / 4) * 4, 0);
    this.staging = stagingBytes > 0 ? device.createBuffer({ size: stagingBytes, usage: 0x4 /* COPY_SRC */, mappedAtCreation: true }) : null;
    const stagingView = this.staging ? new Uint8Array(this.staging.getMappedRange()) : null;
    const groups = new Map<string, GPUBindGroup>();
    const ids = new Map<GPUBuffer | GPUBindGroupLayout, number>();
    const idOf = (o: GPUBuffer | GPUBindGroupLayout) => {
      let id = ids.get(o);
      if (id === undefined) ids.set(o, (id = ids.size));
      return id;
    };
    let uniformAt = 0;
    let stagingAt = 0;
    for (const c of recording.commands) {
      if (c.kind === 'host') {
        this.commands.push({ kind: 'host', run: c.run });
      } else if (c.kind === 'upload') {
        const padded = Math.ceil(c.bytes.byteLength / 4) * 4;
        stagingView!.set(c.bytes, stagingAt);
        this.commands.push({ kind: 'upload', staging: this.staging!, stagingOffset: stagingAt, buffer: c.buffer, offset: c.offset, bytes: padded });
        stagingAt += padded;
      } else {
        const offset = uniformAt;
        uniformAt += slotsOf(c) * UNIFORM_ALIGN;
        if (c.uniforms) this.shadow.set(c.uniforms, offset);
        const key = `${idOf(c.layout)}:${c.buffers.map(idOf).join(',')}`;
        let group = groups.get(key);
        if (!group) {
          const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniformBuffer, offset: 0, size: UNIFORM_WINDOW } }];
          c.buffers.forEach((buffer, k) => entries.push({ binding: k + 1, resource: { buffer } }));
          groups.set(key, (group = device.createBindGroup({ layout: c.layout, entries })));
        }
        this.commands.push({ kind: 'dispatch', pipeline: c.pipeline, group, offset, refresh: c.refresh, workgroups: c.workgroups });
      }
    }
    this.staging?.unmap();
    device.queue.writeBuffer(this.uniformBuffer, 0, this.shadow);
  }

  /** Encodes the step once (argument copies first) and submits it; host steps and refreshes run as they come. */
  replay(copies: readonly ArgumentCopy[]): void {
    const encoder = this.device.createCommandEncoder();
    for (const c of copies) encoder.copyBufferToBuffer(c.source, c.sourceOffset, c.target, 0, c.bytes);
    let pass: GPUComputePassEncoder | null = null;
    let pipeline: GPUComputePipeline | null = null;
    let dirtyFrom = Infinity;
    let dirtyTo = 0;
    const offset = this.offset;
    for (const c of this.commands) {
      if (c.kind === 'dispatch') {
        if (c.refresh) {
          const bytes = new Uint8Array(c.refresh());
          this.shadow.set(bytes, c.offset);
          if (c.offset < dirtyFrom) dirtyFrom = c.offset;
          if (c.offset + bytes.byteLength > dirtyTo) dirtyTo = c.offset + bytes.byteLength;
        }
        if (!pass) {
          pass = encoder.beginComputePass();
          pipeline = null;
        }
        if (c.pipeline !== pipeline) pass.setPipeline((pipeline = c.pipeline));
        offset[0] = c.offset;
        pass.setBindGroup(0, c.group, offset);
        pass.dispatchWorkgroups(c.workgroups[0], c.workgroups[1], c.workgroups[2]);
      } else if (c.kind === 'upload') {
        pass?.end();
        pass = null;
        encoder.copyBufferToBuffer(c.staging, c.stagingOffset, c.buffer, c.offset, c.bytes);
      } else c.run();
    }
    pass?.end();
    if (dirtyTo > dirtyFrom) {
      const from = dirtyFrom - (dirtyFrom % 4);
      const to = Math.ceil(dirtyTo / 4) * 4;
      this.device.queue.writeBuffer(this.uniformBuffer, from, this.shadow, from, to - from);
    }
    this.device.queue.submit([encoder.finish()]);
  }

  destroy(): void {
    this.uniformBuffer.destroy();
    this.staging?.destroy();
  }
}
