// Bind groups, cached by the storage buffers they bind (creating one costs ~20-30 µs in Dawn, and a pooled training
// loop binds the same few thousand sets every step): found by a numeric hash of the buffers' ids, checked exactly,
// and dropped when one of their buffers is destroyed.

import { UNIFORM_WINDOW } from './uniforms.ts';

/** Cached bind groups kept at most; past it the cache starts over (a pooled training loop needs a few thousand). */
const MAX_CACHED_BIND_GROUPS = 16384;

interface CachedBindGroup {
  ids: number[];
  group: GPUBindGroup;
}

export class BindGroupCache {
  private readonly groups = new Map<number, CachedBindGroup[]>();
  /** Per buffer id, the cached groups that bind it (entries of groups dropped through another buffer linger). */
  private readonly groupsOf = new Map<number, [number, CachedBindGroup][]>();
  private count = 0;
  private keys = 0;
  private readonly ids: number[] = [];
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;

  constructor(private readonly device: GPUDevice, private readonly uniforms: GPUBuffer) {}

  private idOf(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) this.bufferIds.set(buffer, (id = this.nextBufferId++));
    return id;
  }

  /**
   * The bind group of these storage buffers (the uniform window at binding 0). Layouts are shared by every kernel
   * with the same binding counts, so the counts are part of the ids.
   */
  get(layout: GPUBindGroupLayout, outs: GPUBuffer[], ins: GPUBuffer[]): GPUBindGroup {
    const ids = this.ids;
    ids.length = 0;
    ids.push(outs.length, ins.length);
    let hash = outs.length * 17 + ins.length;
    for (const buffer of outs) {
      const id = this.idOf(buffer);
      ids.push(id);
      hash = (Math.imul(hash, 0x01000193) + id) | 0;
    }
    for (const buffer of ins) {
      const id = this.idOf(buffer);
      ids.push(id);
      hash = (Math.imul(hash, 0x01000193) + id) | 0;
    }
    let bucket = this.groups.get(hash);
    if (bucket) {
      for (const cached of bucket) {
        const c = cached.ids;
        if (c.length !== ids.length) continue;
        let same = true;
        for (let k = 0; k < c.length; k++) if (c[k] !== ids[k]) { same = false; break; }
        if (same) return cached.group;
      }
    }
    if (this.count >= MAX_CACHED_BIND_GROUPS || this.keys >= 4 * MAX_CACHED_BIND_GROUPS) {
      this.groups.clear();
      this.groupsOf.clear();
      this.count = 0;
      this.keys = 0;
      bucket = undefined;
    }
    if (!bucket) this.groups.set(hash, (bucket = []));
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniforms, offset: 0, size: UNIFORM_WINDOW } }];
    let binding = 1;
    for (const buffer of outs) entries.push({ binding: binding++, resource: { buffer } });
    for (const buffer of ins) entries.push({ binding: binding++, resource: { buffer } });
    const created: CachedBindGroup = { ids: ids.slice(), group: this.device.createBindGroup({ layout, entries }) };
    bucket.push(created);
    this.count++;
    for (let k = 2; k < ids.length; k++) {
      let list = this.groupsOf.get(ids[k]);
      if (!list) this.groupsOf.set(ids[k], (list = []));
      list.push([hash, created]);
      this.keys++;
    }
    return created.group;
  }

  /** Drops the cached bind groups that use a buffer about to be destroyed. */
  forget(buffer: GPUBuffer): void {
    const id = this.bufferIds.get(buffer);
    if (id === undefined) return;
    for (const [hash, entry] of this.groupsOf.get(id) ?? []) {
      const bucket = this.groups.get(hash);
      const at = bucket?.indexOf(entry) ?? -1;
      if (at >= 0) {
        bucket!.splice(at, 1);
        this.count--;
        if (bucket!.length === 0) this.groups.delete(hash);
      }
    }
    this.groupsOf.delete(id);
  }
}
