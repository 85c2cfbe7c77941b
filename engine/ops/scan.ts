// The parallel scan of gated linear recurrences (kernels: shaders/scan.wgsl; tests: test/scan.test.ts;
// benchmark: bench/scan.ts; the math: ../shared/design/glr.md).
//
//   scan(a, b, h0?)   h_t = a_t * h_{t-1} + b_t over [B, T, C] (a may be [B, T]: one gate per step, shared by
//                     every channel), differentiable in a, b and h0; the backward is the reverse scan
//                     g_t = dy_t + a_{t+1} g_{t+1}, db = g, da = g * h_{t-1}, dh0 = a_1 g_1.
//   scanStep(a, b, h) one token: a * h + b, for O(1)-state decoding.
//   cumsum(x, axis)   inclusive or exclusive prefix sums of f32 or i32 (exact for integers), same machinery.

import { isGradEnabled, record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms, type Overrides } from '../runtime.ts';
import { numel, type Tensor } from '../tensor.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch, normaliseAxis } from './launch.ts';
import { sumAxes } from './reduce.ts';
import { reshape } from './views.ts';

/** Tile shapes of the two scan kernels. */
export interface ScanTiling {
  /** Invocations per workgroup of the tree kernel (a power of two). */
  treeWorkgroup: number;
  /** Steps each tree invocation scans in registers (at most 16). */
  treeItems: number;
  /** Steps per invocation of the channel-parallel kernel. */
  chunk: number;
  /** Use the channel-parallel kernel when there are at least this many channels (its loads coalesce). */
  chunkMinChannels: number;
  /**
   * Sequences (B·C) that keep the adapter busy on their own: from this many up, each sequence is scanned by one
   * invocation in a single pass (3 words of traffic per step instead of reduce-then-scan's 5).
   */
  saturatingSequences: number;
}

let tiling: ScanTiling | null = null;

/**
 * The tile kernels: 'tree' (a workgroup per tile of one sequence) or 'chunks' (an invocation per chunk of one
 * channel), each either reduce-then-scan (two passes) or single-pass with decoupled look-back and fallback
 * ('*-lookback': a and b read once, h written once). 'chunks-lookback' needs at least 64 channels (a chunk's
 * predecessor must belong to an earlier workgroup) and at most 16 steps per chunk.
 */
export type ScanKernel = 'tree' | 'chunks' | 'tree-lookback' | 'chunks-lookback';

/** Picks a kernel for a scan of `sequences` (B·C) sequences of `steps` steps with `channels` channels. */
export type ScanChooser = (steps: number, channels: number, sequences: number) => ScanKernel | null;
let scanChooser: ScanChooser | null = null;

/** Installs a per-shape chooser (the autotuner's); null restores the built-in rule. */
export function setScanChooser(next: ScanChooser | null): void {
  scanChooser = next;
}

const LOOKBACK_CHUNK = 16;
const LOOKBACK_CHANNELS = 64;

function currentTiling(): ScanTiling {
  // CPU drivers pay heavily for workgroup barriers: there the barrier-free chunked kernel wins at every shape
  // (measured on SwiftShader: 4-7x faster than the tree at C = 1, T = 4096..10^6; bench/scan.ts).
  tiling ??= runtime().report.software
    ? { treeWorkgroup: 16, treeItems: 16, chunk: 64, chunkMinChannels: 1, saturatingSequences: 64 }
    : { treeWorkgroup: 128, treeItems: 8, chunk: 32, chunkMinChannels: 32, saturatingSequences: 1 << 16 };
  return tiling;
}

export function setScanTiling(next: Partial<ScanTiling>): ScanTiling {
  const t = { ...currentTiling(), ...next };
  const pow2 = (n: number) => Number.isInteger(Math.log2(n));
  if (!pow2(t.treeWorkgroup) || t.treeWorkgroup > (runtime().limits.maxComputeInvocationsPerWorkgroup ?? 256) || t.treeItems < 1 || t.treeItems > 16 || t.chunk < 1) {
    throw new ShapeError(`setScanTiling: ${JSON.stringify(t)} is not valid (treeWorkgroup a power of two within the adapter limit, 1 <= treeItems <= 16, chunk >= 1)`);
  }
  tiling = t;
  return { ...t };
}

export function getScanTiling(): ScanTiling {
  return { ...currentTiling() };
}

interface ScanJob {
  batch: number;
  steps: number;
  channels: number;
  gate: Tensor | null; // null: SUM_ONLY
  input: Tensor;
  h0: Tensor | null;
  reverse?: boolean;
  shiftGates?: boolean;
  broadcastGate?: boolean;
  int?: boolean;
  exclusive?: boolean;
  /** Forces a kernel (tests, benchmarks); by default chosen from the shape. */
  kernel?: ScanKernel;
  /** Look-back kernels: post nothing, so every look-back takes the fallback path (tests). */
  silent?: boolean;
  label: string;
}

/**
 * The multi-level driver (no autograd): scans `input` with `gate` along T and returns h [B, T, C]. Tiles whose
 * count exceeds one are reduced to aggregates, which are scanned recursively (a few levels even at T = 10⁶), and
 * then applied.
 */
export function scanRaw(job: ScanJob): Tensor {
  const rt = runtime();
  const t = currentTiling();
  const { batch, steps, channels } = job;
  const saturated = batch * channels >= t.saturatingSequences;
  let kernel = job.kernel ?? scanChooser?.(steps, channels, batch * channels) ?? (channels >= t.chunkMinChannels || saturated ? 'chunks' : 'tree');
  if (kernel === 'chunks-lookback' && channels < LOOKBACK_CHANNELS) kernel = 'tree-lookback';
  if (kernel === 'tree-lookback' || kernel === 'chunks-lookback') return scanLookback(job, kernel);
  const chunk = saturated && !job.kernel ? Math.max(steps, 1) : t.chunk;
  const tileLength = kernel === 'tree' ? t.treeWorkgroup * t.treeItems : chunk;
  const tiles = Math.max(1, Math.ceil(steps / tileLength));
  const dtype = job.int ? 'i32' : 'f32';
  const uniforms = new Uniforms().u32(batch).u32(steps).u32(channels).u32(tiles).build();
  const base: Overrides = {
    REVERSE: job.reverse ?? false,
    SHIFT_GATES: job.shiftGates ?? false,
    A_BROADCAST: job.broadcastGate ?? false,
    SUM_ONLY: job.gate === null,
    INT: job.int ?? false,
    HAS_H0: job.h0 !== null,
    ...(kernel === 'tree' ? { WG: t.treeWorkgroup, ITEMS: t.treeItems } : { WG: 64, CHUNK: chunk }),
  };
  const sequences = batch * channels;
  const workgroups = kernel === 'tree' ? rt.grid(tiles * sequences, 1, job.label) : rt.grid(batch * tiles * channels, 64, job.label);
  const entry = kernel === 'tree' ? 'scan_tree' : 'scan_chunks';

  let carries: Tensor | null = null;
  if (tiles > 1) {
    const aggA = empty([batch, tiles, channels], 'f32', job.label);
    const aggB = empty([batch, tiles, channels], dtype, job.label);
    launch({
      family: 'scan', entry, label: `${job.label} reduce`, uniforms, overrides: { ...base, REDUCE: true, HAS_H0: false },
      outputs: [null, aggA, aggB], inputs: [job.gate, job.input, null, null], workgroups,
    });
    // The aggregates are in logical (already reversed, already shifted) order: scan them forward.
    carries = scanRaw({
      batch, steps: tiles, channels, gate: job.gate ? aggA : null, input: aggB, h0: job.h0,
      int: job.int, label: `${job.label} carries`,
    });
    aggA.dispose();
    aggB.dispose();
  }
  const h = empty([batch, steps, channels], dtype, job.label);
  launch({
    family: 'scan', entry, label: job.label, uniforms,
    overrides: { ...base, HAS_CARRIES: carries !== null, EXCLUSIVE: job.exclusive ?? false },
    outputs: [h, null, null], inputs: [job.gate, job.input, job.h0, carries], workgroups,
  });
  carries?.dispose();
  return h;
}

/** The single-pass scan (see ScanKernel): a status reset, then one dispatch. */
function scanLookback(job: ScanJob, kernel: 'tree-lookback' | 'chunks-lookback'): Tensor {
  const rt = runtime();
  const t = currentTiling();
  const { batch, steps, channels } = job;
  const tree = kernel === 'tree-lookback';
  const tileLength = tree ? t.treeWorkgroup * t.treeItems : LOOKBACK_CHUNK;
  const tiles = Math.max(1, Math.ceil(steps / tileLength));
  const uniforms = new Uniforms().u32(batch).u32(steps).u32(channels).u32(tiles).build();
  const slots = batch * tiles * channels;
  const status = empty([4 * slots + 1], 'u32', `${job.label} status`);
  launch({
    family: 'scan', entry: 'scan_status_reset', label: `${job.label} status`, uniforms, overrides: { WG: 256 },
    outputs: [null, status, null], inputs: [null, null, null, null], workgroups: rt.grid(4 * slots + 1, 256, job.label),
  });
  const h = empty([batch, steps, channels], job.int ? 'i32' : 'f32', job.label);
  const wg = tree ? t.treeWorkgroup : 64;
  launch({
    family: 'scan', entry: tree ? 'scan_tree_lookback' : 'scan_chunks_lookback', label: job.label, uniforms,
    overrides: {
      REVERSE: job.reverse ?? false, SHIFT_GATES: job.shiftGates ?? false, A_BROADCAST: job.broadcastGate ?? false,
      SUM_ONLY: job.gate === null, INT: job.int ?? false, HAS_H0: job.h0 !== null, EXCLUSIVE: job.exclusive ?? false,
      ...(tree ? { WG: wg, ITEMS: t.treeItems } : { WG: wg, CHUNK: LOOKBACK_CHUNK }),
      SILENT: job.silent ?? false,
    },
    outputs: [h, status, null], inputs: [job.gate, job.input, job.h0, null],
    // Tickets, not workgroup ids, say which tile a workgroup scans: only the count matters.
    workgroups: rt.grid(tree ? slots : Math.ceil(slots / wg), 1, job.label),
  });
  status.dispose();
  return h;
}

function checkScanShapes(a: Tensor, b: Tensor, h0: Tensor | null): { batch: number; steps: number; channels: number; broadcast: boolean } {
  a.assertDType('scan gates', 'f32');
  b.assertDType('scan inputs', 'f32');
  if (b.rank !== 3) throw new ShapeError(`scan: b must be [batch, steps, channels], got ${formatShape(b.shape)}`);
  const [batch, steps, channels] = b.shape;
  const broadcast = a.rank === 2 || (a.rank === 3 && a.shape[2] === 1 && channels !== 1);
  const aOk = broadcast ? a.shape[0] === batch && a.shape[1] === steps : a.shape.join() === b.shape.join();
  if (!aOk) {
    throw new ShapeError(
      `scan: gates a ${formatShape(a.shape)} must be ${formatShape(b.shape)} or ${formatShape([batch, steps])} (one gate per step) for b ${formatShape(b.shape)}`,
    );
  }
  if (h0) {
    h0.assertDType('scan h0', 'f32');
    if (h0.shape.join() !== [batch, channels].join()) throw new ShapeError(`scan: h0 must be ${formatShape([batch, channels])}, got ${formatShape(h0.shape)}`);
  }
  const limit = runtime().limits.maxComputeWorkgroupsPerDimension ?? 65535;
  if (batch * channels > limit * limit) throw new ShapeError(`scan: ${batch * channels} sequences exceed this adapter's dispatch limits`);
  return { batch, steps, channels, broadcast };
}

/**
 * All states of h_t = a_t * h_{t-1} + b_t for b [B, T, C] and a [B, T, C] (or [B, T]: one gate per step for
 * every channel), from h0 [B, C] (zero when omitted). Returns h [B, T, C]; h[:, -1] is the final state.
 */
export function scan(a: Tensor, b: Tensor, h0: Tensor | null = null, options: { kernel?: ScanKernel } = {}): Tensor {
  const { batch, steps, channels, broadcast } = checkScanShapes(a, b, h0);
  if (steps === 0) return empty([batch, 0, channels], 'f32', 'scan');
  const ad = dense(a, copyStrided);
  const bd = dense(b, copyStrided);
  const hd = h0 ? dense(h0, copyStrided) : null;
  const h = scanRaw({ batch, steps, channels, gate: ad, input: bd, h0: hd, broadcastGate: broadcast, kernel: options.kernel, label: 'scan' });
  const result = record('scan', [a, b, h0], h, (dy, saved) => {
    const [as, hs, h0s = null] = saved;
    const dyd = dense(dy, copyStrided);
    // g_t = dy_t + a_{t+1} g_{t+1}: the same scan, reversed, with the gates shifted by one step.
    const g = scanRaw({ batch, steps, channels, gate: as, input: dyd, h0: null, reverse: true, shiftGates: true, broadcastGate: broadcast, kernel: options.kernel, label: 'scan backward' });
    if (dyd !== dy) dyd.dispose();
    let da: Tensor | null = null;
    if (a.requiresGrad) {
      const full = empty([batch, steps, channels], 'f32', 'scan gate grad');
      launch({
        family: 'scan', entry: 'scan_gate_grad', label: 'scan gate grad',
        uniforms: new Uniforms().u32(batch).u32(steps).u32(channels).u32(1).build(),
        overrides: { WG: 256, HAS_H0: h0s !== null },
        outputs: [null, full, null], inputs: [null, g, h0s, hs],
        workgroups: runtime().grid(batch * steps * channels, 256, 'scan gate grad'),
      });
      if (broadcast) {
        const summed = sumAxes(full, [2], false);
        full.dispose();
        da = reshape(summed, a.shape);
        summed.dispose();
      } else da = full;
    }
    let dh0: Tensor | null = null;
    if (h0?.requiresGrad) {
      // dh0 = a_1 * g_1: a one-step "scan" with zero input and state g_1.
      const g1 = g.slice([null, [0, 1], null]);
      const a1 = broadcast ? as.reshape([batch, steps]).slice([null, [0, 1]]) : as.slice([null, [0, 1], null]);
      dh0 = scanStepRaw(dense(a1, copyStrided), null, dense(g1, copyStrided), broadcast, batch, channels);
      g1.dispose();
      a1.dispose();
    }
    return [da, b.requiresGrad ? g : (g.dispose(), null), dh0];
  }, hd ? [ad, h, hd] : [ad, h]);
  if (ad !== a) ad.dispose();
  if (bd !== b) bd.dispose();
  if (hd && hd !== h0) hd.dispose();
  return result;
}

function scanStepRaw(a: Tensor, b: Tensor | null, h: Tensor, broadcast: boolean, batch: number, channels: number): Tensor {
  const out = empty([batch, channels], 'f32', 'scanStep');
  launch({
    family: 'scan', entry: 'scan_step', label: 'scanStep',
    uniforms: new Uniforms().u32(batch).u32(1).u32(channels).u32(1).build(),
    overrides: { WG: 256, A_BROADCAST: broadcast },
    outputs: [out, null, null], inputs: [a, b, h, null],
    workgroups: runtime().grid(batch * channels, 256, 'scanStep'),
  });
  return out;
}

/**
 * One step of the recurrence for decoding: a * h + b with a, b, h [B, C] (a may be [B] or [B, 1]: one gate for
 * every channel). One fused dispatch when no gradient is needed; composed from differentiable ops otherwise.
 */
export function scanStep(a: Tensor, b: Tensor, h: Tensor): Tensor {
  for (const [n, t] of [['a', a], ['b', b], ['h', h]] as const) t.assertDType(`scanStep ${n}`, 'f32');
  if (h.rank !== 2 || b.shape.join() !== h.shape.join()) {
    throw new ShapeError(`scanStep: b ${formatShape(b.shape)} and h ${formatShape(h.shape)} must both be [batch, channels]`);
  }
  const [batch, channels] = h.shape;
  const broadcast = a.size === batch && channels !== 1;
  if (!broadcast && a.shape.join() !== h.shape.join()) {
    throw new ShapeError(`scanStep: a ${formatShape(a.shape)} must be ${formatShape(h.shape)} or [${batch}]`);
  }
  if (isGradEnabled() && (a.requiresGrad || b.requiresGrad || h.requiresGrad)) {
    const gate = broadcast ? a.reshape([batch, 1]) : a;
    const product = gate.mul(h);
    const next = product.add(b);
    product.dispose();
    if (gate !== a) gate.dispose();
    return next;
  }
  const [ad, bd, hd] = [a, b, h].map((t) => dense(t, copyStrided));
  const out = scanStepRaw(ad, bd, hd, broadcast, batch, channels);
  [ad, bd, hd].forEach((t, i) => t !== [a, b, h][i] && t.dispose());
  return out;
}

/**
 * Prefix sums along `axis`: inclusive (x_0, x_0 + x_1, …) or exclusive (0, x_0, x_0 + x_1, …). f32 (with a
 * gradient: the reverse prefix sum) or i32 (exact integer arithmetic).
 */
export function cumsum(x: Tensor, axis = -1, options: { exclusive?: boolean; reverse?: boolean } = {}): Tensor {
  x.assertDType('cumsum', 'f32', 'i32');
  if (x.rank === 0) throw new ShapeError('cumsum: needs at least one axis');
  const ax = normaliseAxis('cumsum', axis, x.rank);
  const outer = numel(x.shape.slice(0, ax));
  const steps = x.shape[ax];
  const inner = numel(x.shape.slice(ax + 1));
  if (x.size === 0) return empty(x.shape, x.dtype, 'cumsum');
  const int = x.dtype === 'i32';
  const exclusive = options.exclusive ?? false;
  const reverse = options.reverse ?? false;
  const xd = dense(x, copyStrided);
  const run = (input: Tensor, backward: boolean) => {
    const flat = scanRaw({
      batch: outer, steps, channels: inner, gate: null, input, h0: null, int, exclusive,
      reverse: backward ? !reverse : reverse, label: backward ? 'cumsum backward' : 'cumsum',
    });
    const shaped = reshape(flat, x.shape);
    flat.dispose();
    return shaped;
  };
  const out = run(xd, false);
  if (xd !== x) xd.dispose();
  if (int) return out;
  // d/dx_j of sum_t w_t y_t is the sum of w over the outputs that include x_j: the same prefix sum reversed.
  return record('cumsum', [x], out, (g) => {
    const gd = dense(g, copyStrided);
    const r = run(gd, true);
    if (gd !== g) gd.dispose();
    return [r];
  });
}
