// GPU memory for tensors: a size-classed pool of storage buffers, and an account of every byte Hiero holds for
// them (tests: test/memory.test.ts).
//
// Why a pool: creating and destroying GPU buffers costs far more than reusing them, and a training step asks for the
// same sizes every time. Why the accounting is careful: a buffer may not be destroyed while a command buffer that
// uses it is still being encoded, so "released" memory can stay allocated until the next submit. Counting it as
// `retiring` (and in the peak) keeps memory() honest about what the GPU really holds.
//
// Memory is given back at three points:
// - after each submit, the pool is trimmed to `capBytes` (least recently released size classes first), and a new
//   buffer created while more than that is pooled first submits the batch so the trim can happen;
// - when an allocation would take the total past `budgetBytes`, the batch is submitted and pooled buffers are
//   destroyed until it fits (pressure);
// - on emptyPool(), everything pooled goes.
//
// A recorded step (engine/replay.ts) pins the buffers it replays over: a pinned buffer its owner releases is parked
// (held, never handed out) until the recording lets it go, and while a step is being recorded nothing is trimmed, so
// no buffer a recorded dispatch binds is destroyed under it.

export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

export interface MemoryStats {
  /** Bytes of GPU buffers held by live tensors. */
  inUseBytes: number;
  /** Bytes of released buffers kept for reuse. */
  pooledBytes: number;
  /** Bytes of buffers already released for good, destroyed once the commands encoded so far are submitted. */
  retiringBytes: number;
  /** inUseBytes + pooledBytes + retiringBytes: all GPU memory Hiero holds for tensors right now. */
  totalBytes: number;
  /** The most totalBytes has been since the runtime started or since resetPeak(). */
  peakBytes: number;
  /** The most inUseBytes has been over the same period. */
  peakInUseBytes: number;
  liveBuffers: number;
  pooledBuffers: number;
  /** Total held bytes the pool tries to stay under by giving pooled memory back (Infinity: no budget). */
  budgetBytes: number;
}

/**
 * Pool size classes: multiples of 256 B up to 4 KiB, then 8 steps per power of two (waste under 12.5 %) up to
 * 16 MiB, then 32 (under 3.2 %): coarse classes let small tensors of varying shapes share buffers, while the large
 * ones (activations, whose shapes repeat exactly from step to step) should not waste an eighth of the GPU.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const power = Math.floor(Math.log2(b));
  const step = 2 ** (power - (b > 1 << 24 ? 5 : 3));
  return Math.ceil(b / step) * step;
}

interface PoolHooks {
  /** True while commands that may use pooled buffers are encoded but not submitted. */
  batchOpen(): boolean;
  /** Submits the open batch. */
  flush(): void;
  /** Called when a buffer is destroyed for good (caches keyed by it must forget it). */
  forget(buffer: GPUBuffer): void;
}

export class BufferPool {
  /** Upper bound on pooled bytes kept across submits. */
  capBytes = 1 << 30;
  /** Upper bound on all held bytes, enforced by giving pooled memory back; Infinity by default. */
  budgetBytes = Infinity;
  /**
   * When on, every live buffer remembers the op that allocated it, and each new in-use peak keeps a breakdown of the
   * live bytes by op (breakdown()): where the memory goes. Off by default (it costs a map update per alloc).
   */
  tracking = false;
  private readonly owners = new Map<GPUBuffer, string>();
  private peakOwners: Map<string, number> = new Map();

  private readonly free = new Map<number, GPUBuffer[]>();
  /** Creation order of each buffer (the free lists are sorted by it). */
  private readonly order = new WeakMap<GPUBuffer, number>();
  private created = 0;
  /** Release order of the size classes (most recent last): the pool trims the oldest first. */
  private readonly recency = new Map<number, number>();
  private clock = 0;
  /** Submits after which a size class that nothing took from or gave back to is emptied. */
  maxIdleSubmits = 8;
  private submits = 0;
  private readonly lastActive = new Map<number, number>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  private retiring: GPUBuffer[] = [];
  private inUse = 0;
  private pooled = 0;
  private retiringBytes = 0;
  private peak = 0;
  private peakInUse = 0;
  private live = 0;
  private pooledCount = 0;
  /** Pins per buffer (recordings that replay over it). */
  private readonly pins = new Map<GPUBuffer, number>();
  /** Pinned buffers their owner has released: held until unpinned. */
  private readonly parked = new Set<GPUBuffer>();
  /** While set (a step is being recorded), nothing pooled is destroyed. */
  holding = false;

  constructor(
    private readonly device: GPUDevice,
    private readonly hooks: PoolHooks,
  ) {}

  private get held(): number {
    return this.inUse + this.pooled + this.retiringBytes;
  }

  private notePeak(): void {
    const held = this.held;
    if (held > this.peak) this.peak = held;
    if (this.inUse > this.peakInUse) this.peakInUse = this.inUse;
  }

  private liveByOwner(): Map<string, number> {
    const byOwner = new Map<string, number>();
    for (const [buffer, owner] of this.owners) byOwner.set(owner, (byOwner.get(owner) ?? 0) + (this.sizes.get(buffer) ?? 0));
    return byOwner;
  }

  /** Live bytes by allocating op now, and at the in-use peak (tracking mode only; empty otherwise). */
  breakdown(): { now: Map<string, number>; atPeak: Map<string, number> } {
    return { now: this.liveByOwner(), atPeak: new Map(this.peakOwners) };
  }

  /** A buffer of at least `bytes` (the caller checked them against `limit`, the adapter's largest buffer). */
  alloc(bytes: number, limit: number, owner = ''): GPUBuffer {
    const buffer = this.take(bytes, limit);
    if (this.tracking) {
      this.owners.set(buffer, owner);
      if (this.inUse === this.peakInUse) this.peakOwners = this.liveByOwner();
    }
    return buffer;
  }

  private take(bytes: number, limit: number): GPUBuffer {
    const size = Math.min(sizeClass(bytes), limit);
    const reused = this.free.get(size)?.pop();
    this.lastActive.set(size, this.submits);
    if (reused) {
      this.pooled -= size;
      this.pooledCount--;
      this.inUse += size;
      this.notePeak();
      return reused;
    }
    if (this.held + size > this.budgetBytes) this.relieve(size);
    else if (this.pooled > this.capBytes) {
      // Creating while more than the cap lies idle in other size classes (a step whose sizes shifted: the pool
      // keeps buffers for shapes it will not see again this batch): submit, so afterSubmit() trims to the cap.
      if (this.hooks.batchOpen()) this.hooks.flush();
      else this.trimTo(this.capBytes);
    }
    const buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE });
    this.sizes.set(buffer, size);
    this.order.set(buffer, this.created++);
    this.live++;
    this.inUse += size;
    this.notePeak();
    return buffer;
  }

  /** Memory pressure: submit what is encoded (so pooled and retiring buffers may be destroyed), then shed the pool. */
  private relieve(needed: number): void {
    if (this.pooled === 0 && this.retiringBytes === 0) return;
    if (this.hooks.batchOpen()) this.hooks.flush(); // flush() calls afterSubmit(), which destroys the retiring ones
    this.trimTo(Math.max(0, this.budgetBytes - needed - this.inUse));
  }

  release(buffer: GPUBuffer): void {
    if (this.pins.has(buffer)) {
      this.parked.add(buffer);
      return;
    }
    this.returnToPool(buffer);
  }

  private returnToPool(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer) ?? buffer.size;
    if (this.tracking) this.owners.delete(buffer);
    this.inUse -= size;
    // Kept even past the cap until the next submit: within a batch a released buffer is the cheapest next allocation,
    // and it could not be destroyed before the submit anyway.
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    // Kept in descending creation order, so take() hands out the oldest free buffer of the class: a step that
    // allocates the same sequence gets the same buffers, and the bind groups cached for them are found again
    // (a LIFO list drifts from step to step, and each miss creates a bind group: ~20-30 µs in Dawn).
    const rank = this.order.get(buffer) ?? 0;
    let at = list.length;
    while (at > 0 && (this.order.get(list[at - 1]) ?? 0) < rank) at--;
    list.splice(at, 0, buffer);
    this.recency.set(size, ++this.clock);
    this.lastActive.set(size, this.submits);
    this.pooled += size;
    this.pooledCount++;
  }

  /**
   * After a submit: destroy what was retired; empty the size classes idle for maxIdleSubmits submits (the sizes of a
   * finished phase: another batch size, an evaluation, a disposed model), then trim the pool to its cap.
   */
  afterSubmit(): void {
    for (const buffer of this.retiring) this.destroy(buffer);
    this.retiring = [];
    this.retiringBytes = 0;
    this.submits++;
    if (this.holding) return;
    for (const [size, list] of this.free) {
      if (this.submits - (this.lastActive.get(size) ?? 0) <= this.maxIdleSubmits) continue;
      while (list.length) this.discard(list.pop()!, size);
      this.free.delete(size);
      this.recency.delete(size);
      this.lastActive.delete(size);
    }
    if (this.pooled > this.capBytes) this.trimTo(this.capBytes);
  }

  /** Gives pooled buffers back, least recently released size classes first, until at most `target` bytes are pooled. */
  trimTo(target: number): void {
    if (this.pooled <= target || this.holding) return;
    const classes = [...this.recency.entries()].sort((a, b) => a[1] - b[1]).map(([size]) => size);
    for (const size of classes) {
      const list = this.free.get(size);
      while (list && list.length && this.pooled > target) {
        this.discard(list.pop()!, size);
      }
      if (!list || list.length === 0) {
        this.free.delete(size);
        this.recency.delete(size);
      }
      if (this.pooled <= target) break;
    }
  }

  /**
   * Takes a pooled buffer out of the pool for a recording (it is then in use, released by its new owner); false when
   * the buffer is not pooled.
   */
  claim(buffer: GPUBuffer): boolean {
    const size = this.sizes.get(buffer);
    const list = size === undefined ? undefined : this.free.get(size);
    const at = list?.indexOf(buffer) ?? -1;
    if (at < 0) return false;
    list!.splice(at, 1);
    this.pooled -= size!;
    this.pooledCount--;
    this.inUse += size!;
    this.notePeak();
    return true;
  }

  /** Whether the buffer sits in the pool (released, free to be handed out). */
  isPooled(buffer: GPUBuffer): boolean {
    const size = this.sizes.get(buffer);
    return size !== undefined && (this.free.get(size)?.includes(buffer) ?? false);
  }

  pin(buffer: GPUBuffer): void {
    this.pins.set(buffer, (this.pins.get(buffer) ?? 0) + 1);
  }

  /** Drops a pin; a buffer released while pinned goes back to the pool with its last pin. */
  unpin(buffer: GPUBuffer): void {
    const count = this.pins.get(buffer);
    if (count === undefined) return;
    if (count > 1) {
      this.pins.set(buffer, count - 1);
      return;
    }
    this.pins.delete(buffer);
    if (this.parked.delete(buffer)) this.returnToPool(buffer);
  }

  /** Whether a pinned buffer's owner has released it (a recording over it has lost what it read or wrote). */
  isParked(buffer: GPUBuffer): boolean {
    return this.parked.has(buffer);
  }

  /** Destroys every pooled buffer (memory held by live tensors is untouched). */
  empty(): void {
    this.trimTo(0);
  }

  private discard(buffer: GPUBuffer, size: number): void {
    this.pooled -= size;
    this.pooledCount--;
    if (this.hooks.batchOpen()) {
      this.retiring.push(buffer);
      this.retiringBytes += size;
    } else this.destroy(buffer);
  }

  private destroy(buffer: GPUBuffer): void {
    this.hooks.forget(buffer);
    buffer.destroy();
    this.live--;
  }

  resetPeak(): void {
    this.peak = this.held;
    this.peakInUse = this.inUse;
    if (this.tracking) this.peakOwners = this.liveByOwner();
  }

  stats(): MemoryStats {
    return {
      inUseBytes: this.inUse,
      pooledBytes: this.pooled,
      retiringBytes: this.retiringBytes,
      totalBytes: this.held,
      peakBytes: this.peak,
      peakInUseBytes: this.peakInUse,
      liveBuffers: this.live - this.pooledCount - this.retiring.length,
      pooledBuffers: this.pooledCount,
      budgetBytes: this.budgetBytes,
    };
  }
}
