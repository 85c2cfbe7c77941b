// Dynamic chunking, the ops of H-Net's routing, chunk and dechunk layers (kernels: shaders/chunk.wgsl; tests:
// test/chunk.test.ts; math: ../shared/design/hnet.md).
//
//   boundaryProbability(q, k)   p_t = clamp((1 - cos(q_{t-1}, k_t)) / 2, 0, 1), p_0 = 1        (differentiable)
//   chunkBoundaries(p, valid?)  b_t = p_t > 0.5 (and valid): the chunks, their first bytes, their counts (async:
//                               the compacted length is the longest row's count, read back once)
//   compact(x, chunks)          the rows where chunks start, in order: [B, T, C] -> [B, M, C]   (differentiable)
//   expandChunks(z, chunks)     every byte takes its chunk's row: [B, M, C] -> [B, T, C]      (differentiable)
//   straightThrough(c)          ones, with the gradient passed to c unchanged (the STE of the dechunk layer)
//   ratioLoss(p, chunks, N)     N/(N-1) ((N-1) F G + (1-F)(1-G)), F = mean b (no gradient), G = mean p

import { noGrad, record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, HieroError, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { keep, type Tensor } from '../tensor.ts';
import { full, onesLike } from './creation.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';
import { scanRaw } from './scan.ts';

const WG = 64;

function params(batch: number, steps: number, chunks: number, channels: number): ArrayBuffer {
  return new Uniforms().u32(batch).u32(steps).u32(chunks).u32(channels).build();
}

function grid(count: number, label: string): [number, number] {
  return runtime().grid(count, WG, label);
}

/**
 * Boundary probabilities from adjacent cosine similarity: for q, k [B, T, D] (the routing module's projections of
 * the same hidden states), p [B, T] with p[:, 0] = 1.
 */
export function boundaryProbability(q: Tensor, k: Tensor): Tensor {
  q.assertDType('boundaryProbability q', 'f32');
  k.assertDType('boundaryProbability k', 'f32');
  if (q.rank !== 3 || q.shape.join() !== k.shape.join()) {
    throw new ShapeError(`boundaryProbability: q ${formatShape(q.shape)} and k ${formatShape(k.shape)} must be the same [batch, steps, dim]`);
  }
  const [batch, steps, dim] = q.shape;
  const qd = dense(q, copyStrided);
  const kd = dense(k, copyStrided);
  const p = empty([batch, steps], 'f32', 'boundaryProbability');
  const uniforms = params(batch, steps, 0, dim);
  launch({
    family: 'chunk', entry: 'boundary_forward', label: 'boundaryProbability', overrides: { WG }, uniforms,
    outputs: [p, null], inputs: [qd, kd, null, null, null], workgroups: grid(batch * steps, 'boundaryProbability'),
  });
  const result = record('boundaryProbability', [q, k], p, (g, [qs, ks]) => {
    const gd = dense(g, copyStrided);
    const dq = empty(q.shape, 'f32', 'boundaryProbability backward');
    const dk = empty(k.shape, 'f32', 'boundaryProbability backward');
    launch({
      family: 'chunk', entry: 'boundary_backward', label: 'boundaryProbability backward', overrides: { WG }, uniforms,
      outputs: [dq, dk], inputs: [qs, ks, gd, null, null], workgroups: grid(batch * steps, 'boundaryProbability backward'),
    });
    if (gd !== g) gd.dispose();
    return [q.requiresGrad ? dq : (dq.dispose(), null), k.requiresGrad ? dk : (dk.dispose(), null)];
  }, [qd, kd]);
  if (qd !== q) qd.dispose();
  if (kd !== k) kd.dispose();
  return result;
}

/** The chunks of a batch of rows: which positions open a chunk, each position's chunk, and where chunks start. */
export class Chunking {
  constructor(
    /** u32 [B, T]: 1 where a chunk starts (b_t). */
    readonly mask: Tensor,
    /** i32 [B, T]: the chunk each position belongs to (inclusive cumsum of the mask, minus one). */
    readonly index: Tensor,
    /** i32 [B, M]: the position each chunk starts at (T past a row's count). */
    readonly starts: Tensor,
    /** Chunks per row, as read back (their maximum is M). */
    readonly counts: number[],
    /** u32 [B, M]: 1 for the chunks a row really has (the compacted rows' validity). */
    readonly valid: Tensor,
  ) {}

  get batch(): number {
    return this.mask.shape[0];
  }

  get steps(): number {
    return this.mask.shape[1];
  }

  /** M: the compacted length, the longest row's number of chunks. */
  get size(): number {
    return this.starts.shape[1];
  }

  dispose(): void {
    for (const t of [this.mask, this.index, this.starts, this.valid]) t.dispose();
  }
}

/**
 * The chunks that boundary probabilities p [B, T] open: b_t = p_t > 0.5, restricted to `valid` positions (u32
 * [B, T], for rows whose tail is padding). Reads the per-row counts back (the compacted tensors' length depends on
 * them: the one read-back dynamic chunking needs per stage).
 */
export async function chunkBoundaries(p: Tensor, valid: Tensor | null = null): Promise<Chunking> {
  p.assertDType('chunkBoundaries', 'f32');
  if (p.rank !== 2) throw new ShapeError(`chunkBoundaries: p must be [batch, steps], got ${formatShape(p.shape)}`);
  if (valid && valid.shape.join() !== p.shape.join()) throw new ShapeError(`chunkBoundaries: valid ${formatShape(valid.shape)} must match p ${formatShape(p.shape)}`);
  const [batch, steps] = p.shape;
  const { mask, index } = noGrad(() => {
    const above = p.gt(0.5);
    const mask = valid ? above.mul(valid.astype('u32')) : above;
    if (mask !== above) above.dispose();
    const asInt = mask.astype('i32');
    const flat = scanRaw({ batch, steps, channels: 1, gate: null, input: asInt.reshape([batch, steps, 1]), h0: null, int: true, label: 'chunk index' });
    asInt.dispose();
    const index = flat.reshape([batch, steps]).sub(1);
    flat.dispose();
    return { mask: keep(mask), index: keep(index) };
  });
  const last = noGrad(() => index.slice([null, [steps - 1, steps]]).reshape([batch]));
  const counts = Array.from(await last.toArray(), (c) => c + 1);
  last.dispose();
  const size = Math.max(1, ...counts);
  const starts = empty([batch, size], 'i32', 'chunk starts');
  launch({
    family: 'chunk', entry: 'chunk_starts', label: 'chunk starts', overrides: { WG }, uniforms: params(batch, steps, size, 1),
    outputs: [starts, null], inputs: [mask, null, null, index, null], workgroups: grid(batch * size, 'chunk starts'),
  });
  const validChunks = noGrad(() => starts.lt(steps));
  return new Chunking(mask, index, starts, counts, keep(validChunks));
}

function rows(x: Tensor, batch: number, length: number, op: string): { channels: number; trailing: number[] } {
  if (x.rank < 2 || x.shape[0] !== batch || x.shape[1] !== length) {
    throw new ShapeError(`${op}: expected [${batch}, ${length}, ...], got ${formatShape(x.shape)}`);
  }
  const trailing = x.shape.slice(2);
  return { channels: trailing.reduce((a, b) => a * b, 1), trailing };
}

/** The rows of x [B, T, ...] where chunks start, in order: [B, M, ...] (zeros past a row's count). */
export function compact(x: Tensor, chunks: Chunking): Tensor {
  x.assertDType('compact', 'f32');
  const { batch, steps, size } = chunks;
  const { channels, trailing } = rows(x, batch, steps, 'compact');
  const xd = dense(x, copyStrided);
  const out = empty([batch, size, ...trailing], 'f32', 'compact');
  const uniforms = params(batch, steps, size, channels);
  launch({
    family: 'chunk', entry: 'compact_forward', label: 'compact', overrides: { WG }, uniforms,
    outputs: [out, null], inputs: [xd, null, null, null, chunks.starts], workgroups: grid(out.size, 'compact'),
  });
  if (xd !== x) xd.dispose();
  // The backward reads the mask as floats; saved for it (and freed here: the graph holds its own reference).
  const maskF = x.requiresGrad ? noGrad(() => chunks.mask.astype('f32')) : null;
  const result = record('compact', [x], out, (g, [maskSaved, indexSaved]) => {
    const gd = dense(g, copyStrided);
    const dx = empty(x.shape, 'f32', 'compact backward');
    launch({
      family: 'chunk', entry: 'compact_backward', label: 'compact backward', overrides: { WG }, uniforms,
      outputs: [dx, null], inputs: [null, maskSaved, gd, indexSaved, null], workgroups: grid(dx.size, 'compact backward'),
    });
    if (gd !== g) gd.dispose();
    return [dx];
  }, maskF ? [maskF, chunks.index] : []);
  maskF?.dispose();
  return result;
}

/** Every position takes its chunk's row: z [B, M, ...] -> [B, T, ...]. */
export function expandChunks(z: Tensor, chunks: Chunking): Tensor {
  z.assertDType('expandChunks', 'f32');
  const { batch, steps, size } = chunks;
  const { channels, trailing } = rows(z, batch, size, 'expandChunks');
  const zd = dense(z, copyStrided);
  const out = empty([batch, steps, ...trailing], 'f32', 'expandChunks');
  const uniforms = params(batch, steps, size, channels);
  launch({
    family: 'chunk', entry: 'expand_forward', label: 'expandChunks', overrides: { WG }, uniforms,
    outputs: [out, null], inputs: [zd, null, null, chunks.index, null], workgroups: grid(out.size, 'expandChunks'),
  });
  if (zd !== z) zd.dispose();
  return record('expandChunks', [z], out, (g, [startsSaved]) => {
    const gd = dense(g, copyStrided);
    const dz = empty(z.shape, 'f32', 'expandChunks backward');
    launch({
      family: 'chunk', entry: 'expand_backward', label: 'expandChunks backward', overrides: { WG }, uniforms,
      outputs: [dz, null], inputs: [null, null, gd, null, startsSaved], workgroups: grid(dz.size, 'expandChunks backward'),
    });
    if (gd !== g) gd.dispose();
    return [dz];
  }, [chunks.starts]);
}

/** Ones shaped like c whose gradient flows to c unchanged: the straight-through estimator of the dechunk layer. */
export function straightThrough(c: Tensor): Tensor {
  c.assertDType('straightThrough', 'f32');
  const ones = onesLike(c);
  return record('straightThrough', [c], ones, (g) => [g.detach()]);
}

/**
 * The ratio loss of one stage (hnet.md): N/(N-1) · ((N-1)·F·G + (1-F)·(1-G)), F the share of valid positions that
 * open a chunk (no gradient), G their mean boundary probability. Its minimum pushes F towards 1/N.
 */
export function ratioLoss(p: Tensor, chunks: Chunking, target: number, valid: Tensor | null = null): Tensor {
  if (!(target > 1)) throw new HieroError(`ratioLoss: the target ratio N must be greater than 1, got ${target}`);
  const weights = valid ? noGrad(() => valid.astype('f32')) : full(p.shape, 1);
  const count = noGrad(() => weights.sum());
  const f = noGrad(() => chunks.mask.astype('f32').mul(weights).sum().div(count));
  const weighted = p.mul(weights);
  const g = weighted.sum().div(count);
  const n = target;
  const fg = f.mul(g).mul(n - 1);
  const rest = f.neg().add(1).mul(g.neg().add(1));
  const loss = fg.add(rest).mul(n / (n - 1));
  for (const t of [weights, count, f, weighted, g, fg, rest]) t.dispose();
  return loss;
}
