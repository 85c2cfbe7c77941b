// Every hot kernel, as GFLOP/s (compute-bound ops, against the FMA peak) or GB/s (memory-bound ops, against the
// copy bandwidth). Bytes count each tensor read or written once: the minimum traffic the op needs.

import {
  AdamW, attention, crossEntropy, matmul, rand, randn, rmsNorm, scanRaw, softmax, tensor, zeros, type Tensor,
} from '../engine/index.ts';
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
  keepTensors.forEach((t) => t.dispose());
  return rows;
}
