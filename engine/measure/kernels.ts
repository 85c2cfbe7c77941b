// Every hot kernel, as GFLOP/s (compute-bound ops, against the FMA peak) or GB/s (memory-bound ops, against the
// copy bandwidth). Bytes count each tensor read or written once: the minimum traffic the op needs.

import {
  AdamW, attention, chunkBoundaries, compact, crossEntropy, expandChunks, gatedLinearAttention, gatedLinearAttentionStep, MATMUL_KERNELS, matmul, memory as memoryStats, subgroupMatmulRuns,
  noGrad, rand, randn, resetPeakMemory, rmsNorm, scanRaw, scope, sync,
  setAttentionKernel, setMatmulKernel, softmax, tensor, zeros, type AttentionKernel, type ScanKernel,
  type Tensor,
} from '../index.ts';
import type { Limits } from './limits.ts';
import { measure } from './timing.ts';
import type { BenchRow, Sizes } from './types.ts';

export async function kernelRows(sizes: Sizes, limits: Limits, reps: number, want: (name: string) => boolean): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const compute = (name: string, shape: string, flops: number, ms: number, dispatches: number): BenchRow => {
    const gflops = ms > 0 ? flops / (ms * 1e6) : null;
    return { section: 'kernels', name, shape, ms, value: gflops, unit: 'GFLOP/s', ofLimit: gflops === null ? null : gflops / limits.fmaGflops, dispatches };
  };
  const memory = (name: string, shape: string, bytes: number, ms: number, dispatches: number): BenchRow => {
    const gbs = ms > 0 ? bytes / (ms * 1e6) : null;
    return { section: 'kernels', name, shape, ms, value: gbs, unit: 'GB/s', ofLimit: gbs === null ? null : gbs / limits.copyGBs, dispatches };
  };
  const keepTensors: Tensor[] = [];
  const input = (t: Tensor) => (keepTensors.push(t), t);

  if (want('matmul')) {
    for (const [m, k, n, batch] of sizes.matmul) {
      const a = input(randn(batch > 1 ? [batch, m, k] : [m, k], { seed: 1 }));
      const b = input(randn(batch > 1 ? [batch, k, n] : [k, n], { seed: 2 }));
      const r = await measure(() => matmul(a, b), { reps });
      rows.push(compute('matmul', `${batch > 1 ? `${batch}×` : ''}${m}×${k} @ ${k}×${n}`, 2 * batch * m * n * k, r.medianMs, r.dispatches));
    }
  }
  if (want('scan')) {
    for (const [steps, channels] of sizes.scan) {
      const a = input(rand([1, steps, channels], { low: 0.9, high: 1, seed: 3 }));
      const b = input(randn([1, steps, channels], { seed: 4 }));
      const r = await measure(() => scanRaw({ batch: 1, steps, channels, gate: a, input: b, h0: null, label: 'scan' }), { reps });
      rows.push(memory('scan', `T ${steps} × C ${channels}`, 12 * steps * channels, r.medianMs, r.dispatches));
    }
  }
  const [rowsN, width] = sizes.rows;
  if (want('rmsnorm')) {
    const x = input(randn([rowsN, width], { seed: 5 }));
    const w = input(randn([width], { seed: 6 }));
    const r = await measure(() => rmsNorm(x, w), { reps });
    rows.push(memory('rmsNorm', `${rowsN}×${width}`, 8 * rowsN * width, r.medianMs, r.dispatches));
  }
  if (want('softmax')) {
    const x = input(randn([rowsN, width], { seed: 7 }));
    const r = await measure(() => softmax(x), { reps });
    rows.push(memory('softmax', `${rowsN}×${width}`, 8 * rowsN * width, r.medianMs, r.dispatches));
  }
  if (want('cross-entropy')) {
    const logits = input(randn([rowsN, width], { seed: 8 }));
    const targets = input(tensor(Int32Array.from({ length: rowsN }, (_, i) => (i * 7) % width), [rowsN], { dtype: 'i32' }));
    const r = await measure(() => crossEntropy(logits, targets, { reduction: 'none' }), { reps });
    rows.push(memory('crossEntropy', `${rowsN}×${width}`, 4 * rowsN * width, r.medianMs, r.dispatches));
  }
  if (want('attention')) {
    const [b, h, t, d] = sizes.attention;
    const q = input(randn([b, h, t, d], { seed: 9 }));
    const k = input(randn([b, h, t, d], { seed: 10 }));
    const v = input(randn([b, h, t, d], { seed: 11 }));
    const r = await measure(() => attention(q, k, v, { causal: true }), { reps });
    // q·k and p·v over the causal half of the T × T scores.
    rows.push(compute('attention (causal)', `${b}×${h}×${t}×${d}`, 2 * b * h * t * t * d, r.medianMs, r.dispatches));
  }
  if (want('adamw')) {
    const p = input(zeros([sizes.adamw], { requiresGrad: true }));
    const opt = new AdamW([p]);
    p.grad = randn([sizes.adamw], { seed: 12 });
    const r = await measure(() => opt.step(), { reps });
    // Reads p, m, v, g and writes p, m, v: 28 bytes per parameter.
    rows.push(memory('AdamW update', `${sizes.adamw} params`, 28 * sizes.adamw, r.medianMs, r.dispatches));
    opt.dispose();
  }
  if (want('chunk')) {
    // A quarter of the positions open a chunk (N = 4), as H-Net's routing settles at.
    const [b, t, c] = sizes.chunk;
    const p = input(tensor(Float32Array.from({ length: b * t }, (_, i) => (i % 4 === 0 ? 0.9 : 0.1)), [b, t]));
    const x = input(randn([b, t, c], { seed: 13 }));
    const chunks = await chunkBoundaries(p);
    const m = chunks.size;
    const z = input(randn([b, m, c], { seed: 14 }));
    const packed = await measure(() => compact(x, chunks), { reps });
    rows.push(memory('compact (chunk)', `${b}×${t}×${c} -> ${m} chunks`, 8 * b * m * c, packed.medianMs, packed.dispatches));
    const spread = await measure(() => expandChunks(z, chunks), { reps });
    rows.push(memory('expandChunks (dechunk)', `${b}×${m}×${c} -> ${t}`, 4 * b * (m + t) * c, spread.medianMs, spread.dispatches));
    chunks.dispose();
  }
  if (want('gla')) rows.push(...(await glaRows(sizes, reps, memory)));
  if (want('variants')) rows.push(...(await variantRows(sizes, limits, reps, compute, memory)));
  keepTensors.forEach((t) => t.dispose());
  return rows;
}

type RowMaker = (name: string, shape: string, amount: number, ms: number, dispatches: number) => BenchRow;

/** The most memory above what was live before that one call of `run` held (MiB). */
async function peakMiB(run: () => void): Promise<number> {
  await sync();
  const before = memoryStats().inUseBytes;
  resetPeakMemory();
  scope(run);
  await sync();
  return (memoryStats().peakInUseBytes - before) / 2 ** 20;
}

/**
 * gatedLinearAttention in its chunked form against the same recurrence stepped one position at a time (what a
 * framework without the op runs), forward and forward + backward, as GB/s of the minimum traffic (q, k, v, g read,
 * o written; twice that and the gradients for the backward) against the copy bandwidth, with the memory each holds.
 */
async function glaRows(sizes: Sizes, reps: number, memory: RowMaker): Promise<BenchRow[]> {
  const [b, t, h, k, v] = sizes.gla;
  const shape = `B ${b} T ${t} H ${h} K ${k} V ${v}`;
  const tensors = [randn([b, t, h, k], { seed: 31 }), randn([b, t, h, k], { seed: 32 }), randn([b, t, h, v], { seed: 33 }), rand([b, t, h, k], { low: -0.2, high: 0, seed: 34 })];
  const [q, kk, vv, g] = tensors;
  const scale = k ** -0.5;
  const bytes = 4 * b * t * h * (3 * k + 2 * v);
  const rows: BenchRow[] = [];
  const row = async (name: string, traffic: number, run: () => void, note: string) => {
    const r = await measure(run, { reps });
    const mib = await peakMiB(run);
    rows.push({ ...memory(name, shape, traffic, r.medianMs, r.dispatches), note: `${note}; ${mib.toFixed(1)} MiB held beyond the inputs` });
  };
  const chunked = () => void gatedLinearAttention(q, kk, vv, g, { scale });
  const withGrad = (f: (q: Tensor, k: Tensor, v: Tensor, g: Tensor) => Tensor) => () => {
    const leaves = tensors.map((x) => x.detach());
    for (const x of leaves) x.requiresGrad = true;
    f(leaves[0], leaves[1], leaves[2], leaves[3]).sum().backward();
  };
  // Step by step: T launches of the step form, each reading the [K x V] state and writing the next.
  const stepped = (qs: Tensor, ks: Tensor, vs: Tensor, gs: Tensor): Tensor => {
    let state = zeros([b, h, k, v]);
    const outputs: Tensor[] = [];
    for (let i = 0; i < t; i++) {
      const at = (x: Tensor) => x.slice([null, i]).reshape([b, h, x.shape[3]]);
      const next = gatedLinearAttentionStep(at(qs), at(ks), at(vs), at(gs), state, { scale });
      outputs.push(next.output);
      state = next.state;
    }
    return outputs.reduce((sum, o) => sum.add(o));
  };
  await row('gatedLinearAttention (chunked) forward', bytes, () => void noGrad(chunked), 'O(T/C · K · V) chunk states');
  await row('gatedLinearAttention (chunked) fwd+bwd', 2 * bytes + 4 * b * t * h * (3 * k + v), withGrad((a, c, d, e) => gatedLinearAttention(a, c, d, e, { scale })), 'states recomputed in the backward');
  if (t <= 1024) {
    await row('recurrence step by step, forward', bytes, () => void noGrad(() => stepped(q, kk, vv, g)), `${t} steps`);
    await row('recurrence step by step, fwd+bwd', 2 * bytes + 4 * b * t * h * (3 * k + v), withGrad(stepped), 'O(T · K · V): every step\'s state kept for the backward');
  }
  tensors.forEach((x) => x.dispose());
  return rows;
}

/** Every kernel variant at a few shapes, so the choice each adapter makes (or its autotuner) can be checked. */
async function variantRows(sizes: Sizes, limits: Limits, reps: number, compute: RowMaker, memory: RowMaker): Promise<BenchRow[]> {
  void limits;
  const rows: BenchRow[] = [];
  const forced = async <T>(set: (v: T | null) => void, variant: T, run: () => void) => {
    set(variant);
    try {
      return await measure(run, { reps });
    } finally {
      set(null);
    }
  };
  for (const [m, k, n] of sizes.variants.matmul) {
    const a = randn([m, k], { seed: 1 });
    const b = randn([k, n], { seed: 2 });
    // 'subgroup' only where it runs as itself (elsewhere it would be 'lanes' under another name).
    for (const variant of MATMUL_KERNELS.filter((v) => v !== 'lanes' && (v !== 'subgroup' || subgroupMatmulRuns()))) {
      const r = await forced(setMatmulKernel, variant, () => void matmul(a, b));
      rows.push({ ...compute(`matmul [${variant}]`, `${m}×${k} @ ${k}×${n}`, 2 * m * n * k, r.medianMs, r.dispatches), section: 'variants' });
    }
    a.dispose();
    b.dispose();
  }
  for (const [steps, channels] of sizes.variants.scan) {
    const a = rand([1, steps, channels], { low: 0.9, high: 1, seed: 3 });
    const b = randn([1, steps, channels], { seed: 4 });
    const kernels: ScanKernel[] = ['tree', 'chunks', 'tree-lookback', ...(channels >= 64 ? ['chunks-lookback' as const] : [])];
    for (const kernel of kernels) {
      const r = await measure(() => void scanRaw({ batch: 1, steps, channels, gate: a, input: b, h0: null, kernel, label: 'scan' }), { reps });
      rows.push({ ...memory(`scan [${kernel}]`, `T ${steps} × C ${channels}`, 12 * steps * channels, r.medianMs, r.dispatches), section: 'variants' });
    }
    a.dispose();
    b.dispose();
  }
  for (const [bb, h, t, d] of sizes.variants.attention) {
    const q = randn([bb, h, t, d], { seed: 9 });
    const k = randn([bb, h, t, d], { seed: 10 });
    const v = randn([bb, h, t, d], { seed: 11 });
    for (const variant of ['row', 'flash'] as AttentionKernel[]) {
      const r = await forced(setAttentionKernel, variant, () => void attention(q, k, v, { causal: true }));
      rows.push({ ...compute(`attention [${variant}]`, `${bb}×${h}×${t}×${d}`, 2 * bb * h * t * t * d, r.medianMs, r.dispatches), section: 'variants' });
    }
    [q, k, v].forEach((x) => x.dispose());
  }
  return rows;
}
