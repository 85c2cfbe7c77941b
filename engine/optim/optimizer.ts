// Optimisers (kernels: shaders/optim.wgsl; tests: test/optim.test.ts). One fused dispatch per parameter per
// step, no read-backs: the step count and bias corrections live on the host, gradient clipping on the GPU.

import { noGrad } from '../autograd.ts';
import { runtime } from '../context.ts';
import { HieroError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { keep, type Tensor } from '../tensor.ts';
import { full, zerosLike } from '../ops/creation.ts';
import { assign, mul } from '../ops/elementwise.ts';
import { empty, launch } from '../ops/launch.ts';
import type { Schedule } from './schedule.ts';

export interface ParamGroup {
  params: Tensor[];
  /** Multiplies the optimiser's learning rate for this group. */
  lrMultiplier?: number;
  /** Overrides the optimiser's weight decay for this group (0 excludes it from decay). */
  weightDecay?: number;
}

/** Splits named parameters into a decayed group and a group without weight decay (by default: 1-D tensors, i.e. biases and norm weights). */
export function decayGroups(
  named: [string, Tensor][],
  exclude: (name: string, p: Tensor) => boolean = (_, p) => p.rank < 2,
): ParamGroup[] {
  const decay = named.filter(([n, p]) => !exclude(n, p)).map(([, p]) => p);
  const noDecay = named.filter(([n, p]) => exclude(n, p)).map(([, p]) => p);
  return [{ params: decay }, { params: noDecay, weightDecay: 0 }];
}

function toGroups(params: ParamGroup[] | Tensor[]): ParamGroup[] {
  if (params.length === 0) return [];
  return 'params' in params[0] ? (params as ParamGroup[]) : [{ params: params as Tensor[] }];
}

/** Gradients one grad_sq_multi dispatch reads (shaders/optim.wgsl). */
const SQ_GRADS_PER_DISPATCH = 8;

/** Whether this adapter binds `count` storage buffers to one kernel (WebGPU guarantees 8; SwiftShader has 12). */
function bindsStorageBuffers(count: number): boolean {
  return (runtime().limits.maxStorageBuffersPerShaderStage ?? 8) >= count;
}

/** Elements one workgroup of grad_sq_partial sums (shaders/optim.wgsl: WG · SQ_PER_THREAD). */
const SQ_WG = 256;
const SQ_PER_THREAD = 16;

/**
 * Global gradient-norm clipping: returns (on the GPU) the scale min(1, maxNorm / ||g||) over all gradients and the
 * norm itself, as one-element tensors. One dispatch per gradient writes partial sums of squares, one more adds them
 * up; nothing is read back.
 */
export function gradientClipScale(params: Tensor[], maxNorm: number): { scale: Tensor; norm: Tensor } {
  return noGrad(() => {
    const rt = runtime();
    const chunk = SQ_WG * SQ_PER_THREAD;
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    const slots = grads.map((g) => Math.ceil(g.size / chunk));
    const total = slots.reduce((a, b) => a + b, 0);
    const partials = empty([Math.max(total, 1)], 'f32', 'gradient norm');
    for (const g of grads) {
      if (!g.isContiguous || g.offset !== 0) throw new HieroError('gradient clipping: gradients must be contiguous tensors');
    }
    let offset = 0;
    if (bindsStorageBuffers(1 + SQ_GRADS_PER_DISPATCH)) {
      // Up to eight gradients a dispatch (shaders/optim.wgsl, grad_sq_multi).
      for (let first = 0; first < grads.length; first += SQ_GRADS_PER_DISPATCH) {
        const batch = grads.slice(first, first + SQ_GRADS_PER_DISPATCH);
        const sizes = Array.from({ length: SQ_GRADS_PER_DISPATCH }, (_, j) => batch[j]?.size ?? 0);
        const groups = slots.slice(first, first + SQ_GRADS_PER_DISPATCH).reduce((a, b) => a + b, 0);
        launch({
          family: 'optim', entry: 'grad_sq_multi', label: 'gradient norm',
          uniforms: new Uniforms().vec(sizes.slice(0, 4), 4).vec(sizes.slice(4), 4).u32(offset).u32(0).u32(0).u32(0).build(),
          overrides: { WG: SQ_WG, SQ_PER_THREAD }, outputs: [partials], inputs: sizes.map((_, j) => batch[j] ?? null),
          workgroups: rt.grid(groups, 1, 'gradient norm'),
        });
        offset += groups;
      }
    } else {
      grads.forEach((g, i) => {
        launch({
          family: 'optim', entry: 'grad_sq_partial', label: 'gradient norm',
          uniforms: new Uniforms().u32(g.size).u32(offset).build(),
          overrides: { WG: SQ_WG, SQ_PER_THREAD }, outputs: [partials, null, null], inputs: [g, null],
          workgroups: rt.grid(slots[i], 1, 'gradient norm'),
        });
        offset += slots[i];
      });
    }
    const scale = empty([1], 'f32', 'clip');
    const norm = empty([1], 'f32', 'clip');
    launch({
      family: 'optim', entry: 'clip_coefficient', label: 'gradient clipping',
      uniforms: new Uniforms().f32(maxNorm).u32(total).build(), overrides: { WG: SQ_WG },
      outputs: [scale, norm, null], inputs: [partials, null], workgroups: [1],
    });
    partials.dispose();
    return { scale, norm };
  });
}

/** Scales all gradients in place so their global norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: Tensor[], maxNorm: number): Tensor {
  const { scale, norm } = gradientClipScale(params, maxNorm);
  noGrad(() => {
    for (const p of params) {
      if (!p.grad) continue;
      const scaled = keep(mul(p.grad, scale));
      p.grad.dispose();
      p.grad = scaled;
    }
  });
  scale.dispose();
  return norm;
}

export abstract class Optimizer {
  readonly groups: ParamGroup[];
  /** Steps taken (drives bias correction and schedules). */
  stepCount = 0;
  /** Base learning rate; schedules set it before each step. */
  lr: number;
  /** Global gradient-norm bound applied inside step() (no read-back); undefined: no clipping. */
  maxGradNorm: number | undefined;
  /** The gradient norm of the last step (a GPU tensor; read it only when you want the value). */
  lastGradNorm: Tensor | null = null;
  /** The learning rate of each step (1-based), evaluated as the step begins; without one, lr stays as set. */
  schedule: Schedule | null = null;
  /** Compute lastGradNorm at every step even without clipping (one dispatch per parameter plus one). */
  trackGradNorm = false;
  private ones: Tensor | null = null;

  constructor(params: ParamGroup[] | Tensor[], lr: number, maxGradNorm?: number) {
    this.groups = toGroups(params);
    this.lr = lr;
    this.maxGradNorm = maxGradNorm;
    for (const g of this.groups) for (const p of g.params) {
      if (!p.requiresGrad) throw new HieroError(`optimizer: parameter ${p.name ?? `#${p.id}`} does not require grad`);
    }
  }

  get parameters(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** Applies one update to every parameter that has a gradient (at the schedule's learning rate, when it has one). */
  step(): void {
    const advance = () => {
      this.stepCount++;
      if (this.schedule) this.lr = this.schedule(this.stepCount);
    };
    advance();
    // A replayed step counts its steps and follows the schedule as this one does (its kernels' uniforms refresh).
    runtime().hostStep(advance);
    let scale: Tensor;
    if (this.maxGradNorm !== undefined || this.trackGradNorm) {
      const clip = gradientClipScale(this.parameters, this.maxGradNorm ?? Infinity);
      this.lastGradNorm?.dispose();
      this.lastGradNorm = keep(clip.norm);
      scale = keep(clip.scale);
    } else {
      this.ones ??= keep(full([1], 1));
      scale = this.ones;
    }
    for (const group of this.groups) this.updateGroup(group.params.filter((p) => p.grad), scale, group);
    if (scale !== this.ones) scale.dispose();
  }

  zeroGrad(): void {
    for (const p of this.parameters) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  protected abstract update(p: Tensor, grad: Tensor, scale: Tensor, group: ParamGroup): void;

  /** Updates the parameters of a group that have gradients: one by one, unless an optimiser fuses them. */
  protected updateGroup(params: Tensor[], scale: Tensor, group: ParamGroup): void {
    for (const p of params) this.update(p, p.grad!, scale, group);
  }

  protected stateFor(states: Map<Tensor, Tensor>, p: Tensor): Tensor {
    let s = states.get(p);
    if (!s) states.set(p, (s = keep(zerosLike(p))));
    return s;
  }

  protected dispatch(entry: string, p: Tensor, s1: Tensor, s2: Tensor | null, grad: Tensor, scale: Tensor, uniforms: () => ArrayBuffer, overrides = {}): void {
    if (!grad.isContiguous || grad.offset !== 0 || !p.isContiguous || p.offset !== 0) {
      throw new HieroError('optimizer: parameters and gradients must be contiguous tensors');
    }
    launch({
      family: 'optim', entry, label: entry, uniforms: uniforms(), refresh: uniforms, overrides: { WG: 256, ...overrides },
      outputs: [p, s1, s2], inputs: [grad, scale], workgroups: runtime().grid(p.size, 256, entry),
    });
  }

  dispose(): void {
    this.ones?.dispose();
    this.lastGradNorm?.dispose();
  }
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
}

export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly m = new Map<Tensor, Tensor>();
  private readonly v = new Map<Tensor, Tensor>();

  constructor(params: ParamGroup[] | Tensor[], options: AdamWOptions = {}) {
    super(params, options.lr ?? 1e-3, options.maxGradNorm);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
  }

  private uniforms(group: ParamGroup, n: number, n2: number): ArrayBuffer {
    const [b1, b2] = this.betas;
    const lr = this.lr * (group.lrMultiplier ?? 1);
    return new Uniforms()
      .u32(n).u32(0)
      .f32(lr).f32(group.weightDecay ?? this.weightDecay).f32(b1).f32(b2).f32(this.eps)
      .f32(1 - b1 ** this.stepCount).f32(1 - b2 ** this.stepCount).f32(0).u32(n2)
      .build();
  }

  protected update(p: Tensor, grad: Tensor, scale: Tensor, group: ParamGroup): void {
    this.dispatch('adamw_update', p, this.stateFor(this.m, p), this.stateFor(this.v, p), grad, scale, () => this.uniforms(group, p.size, 0), { ATAN2: this.atan2 });
  }

  /** Two parameters a dispatch where the adapter binds the nine buffers (shaders/optim.wgsl, adamw_pair). */
  protected override updateGroup(params: Tensor[], scale: Tensor, group: ParamGroup): void {
    if (!bindsStorageBuffers(9)) return super.updateGroup(params, scale, group);
    for (let i = 0; i < params.length; i += 2) {
      const [a, b] = [params[i], params[i + 1]];
      if (!b) {
        this.update(a, a.grad!, scale, group);
        continue;
      }
      for (const t of [a, b, a.grad!, b.grad!]) {
        if (!t.isContiguous || t.offset !== 0) throw new HieroError('optimizer: parameters and gradients must be contiguous tensors');
      }
      launch({
        family: 'optim', entry: 'adamw_pair', label: 'adamw_update', uniforms: this.uniforms(group, a.size, b.size),
        refresh: () => this.uniforms(group, a.size, b.size),
        overrides: { WG: 256, ATAN2: this.atan2 },
        outputs: [a, this.stateFor(this.m, a), this.stateFor(this.v, a), b, this.stateFor(this.m, b), this.stateFor(this.v, b)],
        inputs: [a.grad!, scale, b.grad!], workgroups: runtime().grid(a.size + b.size, 256, 'adamw_update'),
      });
    }
  }

  /** Adam-atan2 instead of Adam's ratio (see AdamAtan2). */
  protected get atan2(): boolean {
    return false;
  }

  /** The moment estimates, for checkpoints (names: `<param>.exp_avg`, `.exp_avg_sq`, as PyTorch calls them). */
  stateTensors(named: [string, Tensor][]): [string, Tensor][] {
    const own = new Set(this.parameters);
    return named.filter(([, p]) => own.has(p)).flatMap(([name, p]) => [
      [`${name}.exp_avg`, this.stateFor(this.m, p)],
      [`${name}.exp_avg_sq`, this.stateFor(this.v, p)],
    ] as [string, Tensor][]);
  }

  /** Restores moments saved by stateTensors (names as there); missing entries stay zero. */
  loadStateTensors(named: [string, Tensor][], saved: Map<string, Tensor>): void {
    for (const [name, p] of named) {
      for (const [suffix, store] of [['exp_avg', this.m], ['exp_avg_sq', this.v]] as const) {
        const src = saved.get(`${name}.${suffix}`);
        if (src) noGrad(() => assign(this.stateFor(store, p), src));
      }
    }
  }

  override dispose(): void {
    super.dispose();
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * Adam-atan2 (the HRM reference code's optimiser): AdamW with the update m̂ / (sqrt(v̂) + ε) replaced by
 * atan2(m, sqrt(v / bc2)) / bc1, which is bounded and needs no ε. Decoupled weight decay as AdamW.
 */
export class AdamAtan2 extends AdamW {
  protected override get atan2(): boolean {
    return true;
  }
}

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  maxGradNorm?: number;
}

export class SGD extends Optimizer {
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(params: ParamGroup[] | Tensor[], readonly options: SGDOptions = {}) {
    super(params, options.lr ?? 0.01, options.maxGradNorm);
  }

  protected update(p: Tensor, grad: Tensor, scale: Tensor, group: ParamGroup): void {
    const uniforms = () => new Uniforms()
      .u32(p.size).u32(0)
      .f32(this.lr * (group.lrMultiplier ?? 1)).f32(group.weightDecay ?? this.options.weightDecay ?? 0)
      .f32(0).f32(0).f32(0).f32(1).f32(1).f32(this.options.momentum ?? 0)
      .build();
    this.dispatch('sgd_update', p, this.stateFor(this.buffers, p), null, grad, scale, uniforms, { NESTEROV: this.options.nesterov ?? false });
  }

  override dispose(): void {
    super.dispose();
    for (const t of this.buffers.values()) t.dispose();
  }
}

/**
 * Sign-SGD on the rows of an embedding table that received a gradient, as the HRM reference code trains its
 * puzzle embeddings: for each used row, w ← w · (1 − lr · wd) − lr · sign(g); unused rows are left untouched
 * (no decay either). Composed of elementwise ops: no read-back.
 */
export class SignSGDRows extends Optimizer {
  constructor(params: Tensor[], readonly options: { lr: number; weightDecay?: number }) {
    super(params, options.lr);
  }

  protected update(p: Tensor, grad: Tensor, scale: Tensor, group: ParamGroup): void {
    void scale;
    noGrad(() => {
      const lr = this.lr * (group.lrMultiplier ?? 1);
      const wd = group.weightDecay ?? this.options.weightDecay ?? 0;
      const positive = grad.gt(0).astype('f32');
      const negative = grad.lt(0).astype('f32');
      const sign = positive.sub(negative);
      const magnitude = grad.abs();
      const rowTotal = magnitude.sum(-1, true);
      const used = rowTotal.gt(0).astype('f32');
      const decayed = p.mul(lr * wd);
      const step = decayed.add(sign.mul(lr));
      const masked = step.mul(used);
      assign(p, p.sub(masked));
      for (const t of [positive, negative, sign, magnitude, rowTotal, used, decayed, step, masked]) t.dispose();
    });
  }
}
