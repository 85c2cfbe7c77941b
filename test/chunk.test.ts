// Dynamic chunking ops (engine/ops/chunk.ts, shaders/chunk.wgsl) against float64 references, each differentiable
// op with a finite-difference gradient check, and the four gradient paths of hnet.md checked end to end through a
// whole chunk -> smooth -> dechunk layer.
//
// Tolerances: the ops are gathers and sums of a few terms (forward atol 1e-6, rtol 1e-5); the boundary probability
// is a ratio of dot products over D <= 8 (same); gradients go through a division by norms (atol 1e-5, rtol 1e-4).
// Inputs keep every p at least 0.02 away from 0.5, so the finite differences (h = 1e-6) never flip a boundary:
// boundaries are piecewise constant and carry no gradient, as in the paper.

import { describe, expect, it } from 'vitest';
import {
  boundaryProbability, chunkBoundaries, compact, expandChunks, ratioLoss, scan, straightThrough, tensor, type Chunking, type Tensor,
} from '../engine/index.ts';
import { checkOp, expectClose, toGpu, useDevice } from './helpers.ts';
import * as ref from './reference.ts';

useDevice();

const TOL = { atol: 1e-6, rtol: 1e-5 };
const GRAD = { atol: 1e-5, rtol: 1e-4 };

function boundaryRef(q: ref.Ref, k: ref.Ref): ref.Ref {
  const [B, T, D] = q.shape;
  const out = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    out[b * T] = 1;
    for (let t = 1; t < T; t++) {
      let uv = 0, uu = 0, vv = 0;
      for (let d = 0; d < D; d++) {
        const u = q.data[(b * T + t - 1) * D + d];
        const v = k.data[(b * T + t) * D + d];
        uv += u * v; uu += u * u; vv += v * v;
      }
      const cos = uv / (Math.max(Math.sqrt(uu), 1e-12) * Math.max(Math.sqrt(vv), 1e-12));
      out[b * T + t] = Math.min(1, Math.max(0, (1 - cos) / 2));
    }
  }
  return new ref.Ref(out, [B, T]);
}

/** Chunk structure from boundary probabilities (float64), as chunkBoundaries computes it. */
function chunksRef(p: ref.Ref, valid?: number[]): { mask: number[]; index: number[]; starts: number[][]; counts: number[]; size: number } {
  const [B, T] = p.shape;
  const mask: number[] = Array.from(p.data, (v, i) => (v > 0.5 && (!valid || valid[i]) ? 1 : 0));
  const index: number[] = [];
  const starts: number[][] = [];
  for (let b = 0; b < B; b++) {
    let c = 0;
    starts.push([]);
    for (let t = 0; t < T; t++) {
      if (mask[b * T + t]) {
        starts[b].push(t);
        c++;
      }
      index.push(c - 1);
    }
  }
  const counts = starts.map((s) => s.length);
  return { mask, index, starts, counts, size: Math.max(1, ...counts) };
}

function compactRef(x: ref.Ref, c: ReturnType<typeof chunksRef>): ref.Ref {
  const [B, T] = x.shape;
  const C = x.size / (B * T);
  const out = new Float64Array(B * c.size * C);
  for (let b = 0; b < B; b++) c.starts[b].forEach((t, m) => {
    for (let d = 0; d < C; d++) out[(b * c.size + m) * C + d] = x.data[(b * T + t) * C + d];
  });
  return new ref.Ref(out, [B, c.size, ...x.shape.slice(2)]);
}

function expandRef(z: ref.Ref, c: ReturnType<typeof chunksRef>, T: number): ref.Ref {
  const [B, M] = z.shape;
  const C = z.size / (B * M);
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const m = Math.max(0, c.index[b * T + t]);
    for (let d = 0; d < C; d++) out[(b * T + t) * C + d] = z.data[(b * M + m) * C + d];
  }
  return new ref.Ref(out, [B, T, ...z.shape.slice(2)]);
}

/** Probabilities in [0, 1] at least 0.02 from 0.5, with p[:, 0] = 1 as the router makes them. */
function probabilities(B: number, T: number, seed: number): ref.Ref {
  const r = ref.randomRef([B, T], seed, 0, 1);
  const data = Array.from(r.data, (v, i) => (i % T === 0 ? 1 : v < 0.5 ? Math.min(v, 0.48) : Math.max(v, 0.52)));
  return ref.Ref.of(data, [B, T]);
}

async function gpuChunks(p: ref.Ref, valid?: number[]): Promise<Chunking> {
  return chunkBoundaries(toGpu(p), valid ? tensor(Uint32Array.from(valid), [...p.shape], { dtype: 'u32' }) : null);
}

describe('dynamic chunking ops', () => {
  it('boundaryProbability: p_0 = 1, p_t from the cosine of q_{t-1} and k_t, with gradients', async () => {
    for (const shape of [[1, 1, 3], [2, 5, 4], [1, 7, 8]]) {
      await checkOp({
        label: `boundaryProbability ${shape}`, inputs: [ref.randomRef(shape, 1), ref.randomRef(shape, 2)],
        gpu: boundaryProbability, reference: boundaryRef, tol: TOL, gradTol: GRAD,
      });
    }
    // Identical neighbours: cos 1, p 0; opposite: p 1.
    const x = tensor([[[1, 0], [2, 0], [-1, 0]]]);
    expectClose(await boundaryProbability(x, x).toArray(), [1, 0, 1], TOL, 'extremes');
  });

  it('chunkBoundaries: the mask, each position\'s chunk, where chunks start, per-row counts (valid positions only)', async () => {
    const p = probabilities(3, 9, 3);
    const valid: number[] = Array.from({ length: 27 }, (_, i) => (Math.floor(i / 9) === 2 && i % 9 >= 6 ? 0 : 1));
    const expected = chunksRef(p, valid);
    const chunks = await gpuChunks(p, valid);
    expect(Array.from(await chunks.mask.toArray())).toEqual(expected.mask);
    expect(Array.from(await chunks.index.toArray())).toEqual(expected.index);
    expect(chunks.counts).toEqual(expected.counts);
    expect(chunks.size).toBe(expected.size);
    const starts = Array.from(await chunks.starts.toArray());
    expected.starts.forEach((row, b) => {
      const padded = [...row, ...Array(expected.size - row.length).fill(9)];
      expect(starts.slice(b * expected.size, (b + 1) * expected.size), `row ${b}`).toEqual(padded);
    });
    expect(Array.from(await chunks.valid.toArray())).toEqual(expected.starts.flatMap((row) => [...row.map(() => 1), ...Array(expected.size - row.length).fill(0)]));
  });

  it('compact and expandChunks: gathers by chunk, with gradients (a scatter back, and a segment sum)', async () => {
    const p = probabilities(2, 7, 5);
    const c = chunksRef(p);
    const chunks = await gpuChunks(p);
    await checkOp({
      label: 'compact', inputs: [ref.randomRef([2, 7, 3], 6)],
      gpu: (x) => compact(x, chunks), reference: (x) => compactRef(x, c), tol: TOL, gradTol: GRAD,
    });
    await checkOp({
      label: 'expandChunks', inputs: [ref.randomRef([2, c.size, 3], 7)],
      gpu: (z) => expandChunks(z, chunks), reference: (z) => expandRef(z, c, 7), tol: TOL, gradTol: GRAD,
    });
    // Rank 2 rows (one value per position), as the dechunk layer compacts p.
    await checkOp({
      label: 'compact [B, T]', inputs: [ref.randomRef([2, 7], 8)],
      gpu: (x) => compact(x, chunks), reference: (x) => compactRef(x, c), tol: TOL, gradTol: GRAD,
    });
    await expect(Promise.resolve().then(() => compact(tensor([[1, 2]]), chunks))).rejects.toThrow(/expected \[2, 7, \.\.\.\]/);
  });

  it('straightThrough is ones forward and passes its gradient unchanged', async () => {
    const c = tensor([0.3, 0.9, 0.6], undefined, { requiresGrad: true });
    const ones = straightThrough(c);
    expect(Array.from(await ones.toArray())).toEqual([1, 1, 1]);
    ones.mul(tensor([2, -1, 5])).sum().backward();
    expect(Array.from(await c.grad!.toArray())).toEqual([2, -1, 5]);
  });

  it('ratioLoss: N/(N-1)((N-1)FG + (1-F)(1-G)) over valid positions, gradient to p only', async () => {
    const p = probabilities(2, 8, 9);
    const valid: number[] = Array.from({ length: 16 }, (_, i) => (i >= 14 ? 0 : 1));
    const c = chunksRef(p, valid);
    const chunks = await gpuChunks(p, valid);
    const validT = tensor(Uint32Array.from(valid), [2, 8], { dtype: 'u32' });
    const N = 3;
    const count = valid.reduce((a, b) => a + b, 0);
    const F = c.mask.reduce((a, b) => a + b, 0) / count;
    await checkOp({
      label: 'ratioLoss', inputs: [p],
      gpu: (x) => ratioLoss(x, chunks, N, validT),
      reference: (x) => {
        const G = x.data.reduce((s, v, i) => s + v * valid[i], 0) / count;
        return ref.Ref.of([(N / (N - 1)) * ((N - 1) * F * G + (1 - F) * (1 - G))], []);
      },
      tol: TOL, gradTol: GRAD,
    });
    expect(() => ratioLoss(toGpu(p), chunks, 1)).toThrow(/target ratio N must be greater than 1/);
  });
});

describe('the four gradient paths of a dynamic chunking layer (hnet.md)', () => {
  // x̂ -> p (router, q = k = x̂) -> chunks; xs = compact(x̂); ẑ = tanh(xs) (a stand-in main network); P = clamp(compact(p));
  // z̄ = EMA over chunks (the scan); z̃ = expandChunks(z̄); z = z̃ · STE(c) + 0.5 x̂; loss = Σ w·z + 0.3·ratio. The
  // gradient reaching x̂ flows through the ratio loss (into p), the STE (into p through c), the EMA (into P_j through
  // the scan's gates and inputs), and compact/expand; finite differences of the float64 reference check their sum,
  // and each path alone is checked by switching the others off.
  const B = 2, T = 7, D = 3, N = 3;

  function layerRef(x: ref.Ref, weights: ref.Ref, c: ReturnType<typeof chunksRef>, paths: { ratio: boolean; ste: boolean; ema: boolean }): number {
    const p = boundaryRef(x, x);
    const M = c.size;
    const zs = compactRef(x, c).data.map(Math.tanh);
    const P = compactRef(p, c).data.map((v) => Math.min(1 - 1e-4, Math.max(1e-4, v)));
    const zbar = new Float64Array(B * M * D);
    for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) {
      let h = 0;
      for (let m = 0; m < M; m++) {
        const Pm = paths.ema ? P[b * M + m] : 0.5;
        h = (1 - Pm) * h + Pm * zs[(b * M + m) * D + d];
        zbar[(b * M + m) * D + d] = h;
      }
    }
    const ztilde = expandRef(new ref.Ref(zbar, [B, M, D]), c, T).data;
    let loss = 0;
    for (let i = 0; i < B * T; i++) {
      // STE: forward 1; its gradient is what d/dc of (1 + c - c_fixed) gives, so the reference uses c - c_fixed.
      const conf = c.mask[i] ? p.data[i] : 1 - p.data[i];
      const fixed = c.mask[i] ? ref0.data[i] : 1 - ref0.data[i];
      const ste = paths.ste ? 1 + conf - fixed : 1;
      for (let d = 0; d < D; d++) loss += weights.data[i * D + d] * (ztilde[i * D + d] * ste + 0.5 * x.data[i * D + d]);
    }
    if (paths.ratio) {
      const F = c.mask.reduce((a, b) => a + b, 0) / (B * T);
      const G = p.data.reduce((a, b) => a + b, 0) / (B * T);
      loss += 0.3 * (N / (N - 1)) * ((N - 1) * F * G + (1 - F) * (1 - G));
    }
    return loss;
  }

  let ref0: ref.Ref; // p at the unperturbed input (the STE's fixed point)

  for (const paths of [{ ratio: true, ste: true, ema: true }, { ratio: true, ste: false, ema: false }, { ratio: false, ste: true, ema: false }, { ratio: false, ste: false, ema: true }]) {
    it(`gradient through ${Object.entries(paths).filter(([, on]) => on).map(([name]) => name).join(' + ')}`, async () => {
      // An input whose neighbours are clearly alike or unlike (no p within 0.02 of 0.5).
      let x = ref.randomRef([B, T, D], 11);
      for (let seed = 12; ; seed++) {
        const p = boundaryRef(x, x);
        if (p.data.every((v) => Math.abs(v - 0.5) > 0.02)) break;
        x = ref.randomRef([B, T, D], seed);
      }
      ref0 = boundaryRef(x, x);
      const c = chunksRef(ref0);
      const chunks = await gpuChunks(ref0);
      const weights = ref.randomRef([B, T, D], 99);
      const gpuLayer = (xt: Tensor): Tensor => {
        const p = boundaryProbability(xt, xt);
        const zs = compact(xt, chunks).tanh();
        const P = paths.ema ? compact(p, chunks).clamp(1e-4, 1 - 1e-4) : tensor(new Float32Array(B * chunks.size).fill(0.5), [B, chunks.size]);
        const zbar = scan(P.neg().add(1), zs.mul(P.unsqueeze(-1)));
        const ztilde = expandChunks(zbar, chunks);
        const maskF = chunks.mask.astype('f32');
        const conf = maskF.mul(p).add(maskF.neg().add(1).mul(p.neg().add(1)));
        const ste = paths.ste ? straightThrough(conf) : tensor(new Float32Array(B * T).fill(1), [B, T]);
        let z = ztilde.mul(ste.unsqueeze(-1)).add(xt.mul(0.5));
        z = z.mul(toGpu(weights)).sum().reshape([1]);
        if (paths.ratio) z = z.add(ratioLoss(p, chunks, N).mul(0.3).reshape([1]));
        return z;
      };
      const xg = toGpu(x, true);
      gpuLayer(xg).sum().backward();
      const h = 1e-6;
      const numeric = Array.from(x.data, (_, i) => {
        const plus = new ref.Ref(Float64Array.from(x.data), x.shape);
        const minus = new ref.Ref(Float64Array.from(x.data), x.shape);
        plus.data[i] += h;
        minus.data[i] -= h;
        return (layerRef(plus, weights, c, paths) - layerRef(minus, weights, c, paths)) / (2 * h);
      });
      expectClose(await xg.grad!.toArray(), numeric, { atol: 2e-5, rtol: 2e-4 }, `d loss / d x̂ (${JSON.stringify(paths)})`);
    });
  }
});
