// Kernel uniforms: how a launch packs its uniform struct (Uniforms), and where the packed bytes go (UniformArena):
// one arena per batch, uploaded once at submit, each kernel's binding a window of it moved by a dynamic offset, so
// that bind groups depend on the storage buffers alone and can be cached (runtime/bindings.ts).

import { HieroError, LimitError } from '../errors.ts';

const UNIFORM_ALIGN = 256;
const UNIFORM_ARENA_BYTES = 1 << 18;
/** Every kernel's uniform binding is this window of the arena (the most bytes one kernel's uniforms may take). */
export const UNIFORM_WINDOW = 512;

/** The uniforms of one batch of dispatches: written on the host as kernels are encoded, uploaded at submit. */
export class UniformArena {
  readonly buffer: GPUBuffer;
  private readonly bytes = new Uint8Array(UNIFORM_ARENA_BYTES);
  private used = 0;

  constructor(private readonly device: GPUDevice) {
    this.buffer = device.createBuffer({ size: UNIFORM_ARENA_BYTES, usage: 0x40 | 0x8 /* UNIFORM|COPY_DST */ });
  }

  /** Whether another kernel's window still fits in this batch. */
  get full(): boolean {
    return this.used + UNIFORM_WINDOW > UNIFORM_ARENA_BYTES;
  }

  /** Copies a kernel's uniforms in and returns the dynamic offset of its window. */
  place(uniforms: ArrayBuffer | null, label: string): number {
    const size = uniforms?.byteLength ?? 0;
    if (size > UNIFORM_WINDOW) throw new LimitError(`${label}: ${size} bytes of uniforms exceed ${UNIFORM_WINDOW}`);
    const offset = this.used;
    if (uniforms) this.bytes.set(new Uint8Array(uniforms), offset);
    this.used += Math.max(UNIFORM_ALIGN, Math.ceil(size / UNIFORM_ALIGN) * UNIFORM_ALIGN);
    return offset;
  }

  /** Uploads this batch's uniforms (before its submit) and starts the next batch's. */
  upload(): void {
    if (this.used > 0) this.device.queue.writeBuffer(this.buffer, 0, this.bytes.buffer, 0, this.used);
    this.used = 0;
  }
}

// Uniform structs are written straight into typed views of one shared scratch buffer (no per-word objects, no
// per-launch typed arrays): kernels are launched thousands of times per second, and this runs for every launch.
// One Uniforms is built at a time; build() copies the words out.
let scratch = new ArrayBuffer(1024);
let scratchU32 = new Uint32Array(scratch);
let scratchI32 = new Int32Array(scratch);
let scratchF32 = new Float32Array(scratch);
let building: Uniforms | null = null;

/** Packs a uniform struct: scalars are 4 bytes; `vec` writes an array<vec4<u32>, n> on a 16-byte boundary. */
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
