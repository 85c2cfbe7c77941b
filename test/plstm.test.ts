// pLSTM's 2D recurrence (engine/ops/plstm.ts, shaders/plstm.wgsl) against the plain sequential recurrence in raster
// order, in float64, with K x V matrix states per cell; gradients of q, k, v and all nine gates against central
// differences of that reference; the P- and D-mode parametrisations through autograd; grids that are not powers of
// two, one-row and one-column grids; the blocked form (block transfers carried along anti-diagonals) against the same
// whole-grid reference, and the block transfer against its own float64 walk; errors named before any work.
// Tolerances: a cell's output sums over at most N = X·Y sources products of a few f32 gates along paths (the path
// weights' walk adds about X + Y terms per cell), each a few ulp: atol 1e-5 + rtol 1e-4 forward for O(1) values.
// Gradients: f32 sums over the N sources of each cell and over K·V channels: 2e-4 + 2e-3.

import { describe, expect, it } from 'vitest';
import { dModeGates, manualSeed, plstm2d, plstmBlockTransfer, plstmPathWeights, pModeGates, PLSTM_GATE_NAMES, memory, randn, scope, ShapeError, sync, tensor, type PlstmGates, type Tensor } from '../engine/index.ts';
import { GRID_MIXERS, PlstmGridLayer } from '../model/grid-mixers.ts';
import { ARROW_MIXERS, arrowAccuracy, ArrowClassifier } from '../model/arrows.ts';
import { arrowImages } from '../model/data/arrows.ts';
import { specOf } from '../model/kinds/index.ts';
import { validateHRMConfig } from '../model/kinds/puzzle.ts';
import { loadTask, resizePuzzleModel, type TrainingSession } from '../model/hrm-session.ts';
import { evaluatePuzzles } from '../model/hrm-train.ts';
import { toBatch } from '../model/tasks/datasets.ts';
import { runTraining } from '../model/training.ts';
import { loadPuzzleModel } from '../model/registry.ts';
import type { HRM } from '../model/hrm.ts';
import { join } from 'node:path';
import { checkOp, expectClose, temporaryDirectory, useDevice } from './helpers.ts';
import { randomRef, Ref } from './reference.ts';

useDevice();

const TOL = { atol: 1e-5, rtol: 1e-4 };
const GRAD_TOL = { atol: 2e-4, rtol: 2e-3 };

/** The plain recurrence, cell by cell in raster order: [B, X, Y, H, V]. Gates in PLSTM_GATE_NAMES order. */
function referencePlstm(q: Ref, k: Ref, v: Ref, ...gates: Ref[]): Ref {
  const [B, X, Y, H, K] = q.shape;
  const V = v.shape[4];
  const out = new Float64Array(B * X * Y * H * V);
  const [sR, sD, tRL, tRU, tDU, tDL, mL, mU, dir] = gates;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const right: Float64Array[] = [];
      const down: Float64Array[] = [];
      for (let x = 0; x < X; x++) {
        for (let y = 0; y < Y; y++) {
          const c = x * Y + y;
          const g = (t: Ref) => t.data[((b * X + x) * Y + y) * H + h];
          const vec = (t: Ref, width: number, i: number) => t.data[(((b * X + x) * Y + y) * H + h) * width + i];
          const left = x > 0 ? right[c - Y] : new Float64Array(K * V);
          const up = y > 0 ? down[c - 1] : new Float64Array(K * V);
          const cr = new Float64Array(K * V);
          const cd = new Float64Array(K * V);
          let qk = 0;
          for (let i = 0; i < K; i++) qk += vec(q, K, i) * vec(k, K, i);
          for (let j = 0; j < V; j++) {
            let read = 0;
            for (let i = 0; i < K; i++) {
              const kv = vec(k, K, i) * vec(v, V, j);
              const e = i * V + j;
              cr[e] = g(tRL) * left[e] + g(tRU) * up[e] + g(sR) * kv;
              cd[e] = g(tDU) * up[e] + g(tDL) * left[e] + g(sD) * kv;
              read += vec(q, K, i) * (g(mL) * left[e] + g(mU) * up[e]);
            }
            out[(((b * X + x) * Y + y) * H + h) * V + j] = (read + g(dir) * qk * vec(v, V, j)) / Math.sqrt(K);
          }
          right[c] = cr;
          down[c] = cd;
        }
      }
    }
  }
  return new Ref(out, [B, X, Y, H, V]);
}

const gatesOf = (list: readonly Tensor[]): PlstmGates => Object.fromEntries(PLSTM_GATE_NAMES.map((name, i) => [name, list[i]])) as unknown as PlstmGates;

/**
 * The block transfer M [B, H, T, S] walked in float64: per source (a cell, or a row's or column's entering state),
 * the two path weights over the block's cells, read out at the cells (as A) and at the leaving edges.
 */
function referenceTransfer(...gates: Ref[]): Ref {
  const [B, X, Y, H] = gates[0].shape;
  const [sR, sD, tRL, tRU, tDU, tDL, mL, mU, dir] = gates;
  const n = X * Y;
  const T = n + X + Y;
  const out = new Float64Array(B * H * T * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = (t: Ref, c: number) => t.data[(b * n + c) * H + h];
      for (let s = 0; s < T; s++) {
        const wr = new Float64Array(n);
        const wd = new Float64Array(n);
        const at = (t: number, value: number) => (out[((b * H + h) * T + t) * T + s] = value);
        for (let x = 0; x < X; x++) {
          for (let y = 0; y < Y; y++) {
            const c = x * Y + y;
            const left = x > 0 ? wr[c - Y] : s === n + y ? 1 : 0;
            const up = y > 0 ? wd[c - 1] : s === n + Y + x ? 1 : 0;
            const here = s === c ? 1 : 0;
            wr[c] = g(tRL, c) * left + g(tRU, c) * up + here * g(sR, c);
            wd[c] = g(tDU, c) * up + g(tDL, c) * left + here * g(sD, c);
            at(c, g(mL, c) * left + g(mU, c) * up + here * g(dir, c));
          }
        }
        for (let y = 0; y < Y; y++) at(n + y, wr[(X - 1) * Y + y]);
        for (let x = 0; x < X; x++) at(n + Y + x, wd[x * Y + Y - 1]);
      }
    }
  }
  return new Ref(out, [B, H, T, T]);
}

function problem(B: number, X: number, Y: number, H: number, K: number, V: number, seed: number, gateRange: [number, number] = [-1, 1]): Ref[] {
  return [
    randomRef([B, X, Y, H, K], seed), randomRef([B, X, Y, H, K], seed + 1), randomRef([B, X, Y, H, V], seed + 2),
    ...PLSTM_GATE_NAMES.map((_, i) => randomRef([B, X, Y, H], seed + 3 + i, ...gateRange)),
  ];
}

describe('plstm2d', () => {
  for (const [B, X, Y, H, K, V] of [[2, 3, 5, 2, 3, 2], [1, 4, 4, 1, 2, 3], [1, 1, 6, 2, 2, 2], [2, 5, 1, 1, 1, 1], [1, 7, 3, 1, 4, 2]] as const) {
    it(`${X} x ${Y} grid, ${H} heads, K ${K}, V ${V}: the sequential float64 recurrence, and its gradients`, async () => {
      await checkOp({
        label: `${X}x${Y}`, inputs: problem(B, X, Y, H, K, V, 10 * X + Y),
        gpu: (q, k, v, ...gates) => plstm2d(q, k, v, gatesOf(gates)), reference: referencePlstm, tol: TOL, gradTol: GRAD_TOL,
      });
    });
  }

  it('a 12 x 9 grid whole, with contracting gates (the forward alone: 108 cells, paths of up to 19 transitions)', async () => {
    await checkOp({
      label: '12x9', inputs: problem(1, 12, 9, 2, 4, 4, 77, [0, 0.6]),
      gpu: (q, k, v, ...gates) => plstm2d(q, k, v, gatesOf(gates), { block: 12 }), reference: referencePlstm, tol: TOL,
    });
  });

  it('P-mode: what arrives splits between the two states (weights summing to one); through autograd into its inputs', async () => {
    const pReference = (q: Ref, k: Ref, v: Ref, o: Ref, s: Ref, t: Ref, m: Ref, d: Ref) => {
      const op = (a: Ref, f: (x: number, i: number) => number) => new Ref(Float64Array.from(a.data, f), a.shape);
      const sr = op(o, (x, i) => x * s.data[i]);
      const right = op(o, (x, i) => x * t.data[i]);
      const down = op(right, (x) => 1 - x);
      return referencePlstm(q, k, v, sr, op(sr, (x) => 1 - x), right, right, down, down, m, m, d);
    };
    const inputs = [...problem(1, 4, 3, 2, 2, 2, 5).slice(0, 3), ...[0, 1, 2, 3, 4].map((i) => randomRef([1, 4, 3, 2], 40 + i, 0.05, 0.95))];
    await checkOp({
      label: 'P-mode', inputs, reference: pReference, tol: TOL, gradTol: GRAD_TOL,
      gpu: (q, k, v, orientation, source, transition, mark, direct) => plstm2d(q, k, v, pModeGates({ orientation, source, transition, mark, direct })),
    });
  });

  for (const chirality of ['L', 'R'] as const) {
    it(`D-mode (chirality ${chirality}): one transition of the pair held at zero, the path from a source unique`, async () => {
      const dReference = (q: Ref, k: Ref, v: Ref, sr: Ref, sd: Ref, right: Ref, down: Ref, cross: Ref, ml: Ref, mu: Ref, d: Ref) => {
        const none = new Ref(new Float64Array(cross.data.length), cross.shape);
        return referencePlstm(q, k, v, sr, sd, right, chirality === 'L' ? cross : none, down, chirality === 'R' ? cross : none, ml, mu, d);
      };
      const inputs = [...problem(1, 3, 4, 1, 2, 2, 9).slice(0, 3), ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => randomRef([1, 3, 4, 1], 60 + i, 0.05, 0.95))];
      await checkOp({
        label: `D-mode ${chirality}`, inputs, reference: dReference, tol: TOL, gradTol: GRAD_TOL,
        gpu: (q, k, v, sourceRight, sourceDown, right, down, cross, markLeft, markUp, direct) =>
          plstm2d(q, k, v, dModeGates({ sourceRight, sourceDown, right, down, cross, markLeft, markUp, direct }, chirality)),
      });
      // The multitree: with every gate 1/2, the weight from the corner to a cell is one path's product, a power of 1/2.
      const half = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape);
      const shape = [1, 3, 4, 1];
      const weights = scope(() => plstmPathWeights(dModeGates({
        sourceRight: half(shape), sourceDown: half(shape), right: half(shape), down: half(shape), cross: half(shape), markLeft: half(shape), markUp: half(shape), direct: half(shape),
      }, chirality), { batch: 1, width: 3, height: 4, heads: 1 }));
      const a = await weights.toArray();
      weights.dispose();
      const fromCorner = Array.from({ length: 12 }, (_, c) => a[c * 12]);
      for (const w of fromCorner.slice(1)) expect(Number.isInteger(Math.log2(w)), `${w} is a single path's product`).toBe(true);
    });
  }

  // The blocked form: grids cut into blocks whose states are carried along anti-diagonals, against the same float64
  // recurrence over the whole grid; uneven sides (padded blocks), one-row and one-column block grids, many diagonals.
  for (const [B, X, Y, H, K, V, block] of [[1, 7, 5, 2, 3, 2, 4], [2, 9, 6, 1, 2, 3, 2], [1, 1, 7, 1, 2, 2, 3], [1, 8, 2, 2, 2, 1, 3], [1, 5, 4, 1, 2, 2, 2]] as const) {
    it(`blocked: ${X} x ${Y} grid in blocks of at most ${block}: the float64 recurrence${X * Y <= 20 ? ', and its gradients' : ''}`, async () => {
      await checkOp({
        label: `${X}x${Y} block ${block}`, inputs: problem(B, X, Y, H, K, V, 7 * X + Y + block),
        gpu: (q, k, v, ...gates) => plstm2d(q, k, v, gatesOf(gates), { block }), reference: referencePlstm, tol: TOL,
        ...(X * Y <= 20 ? { gradTol: GRAD_TOL } : {}),
      });
    });
  }

  it('blocked: the 12 x 9 contracting grid in blocks of 4 equals it whole', async () => {
    await checkOp({
      label: '12x9 block 4', inputs: problem(1, 12, 9, 2, 4, 4, 77, [0, 0.6]),
      gpu: (q, k, v, ...gates) => plstm2d(q, k, v, gatesOf(gates), { block: 4 }), reference: referencePlstm, tol: TOL,
    });
  });

  it('the block transfer M: edges as sources and targets, against the float64 walk, and its gradients', async () => {
    await checkOp({
      label: 'transfer 3x2', inputs: PLSTM_GATE_NAMES.map((_, i) => randomRef([2, 3, 2, 2], 90 + i)), reference: referenceTransfer, tol: TOL, gradTol: GRAD_TOL,
      gpu: (...gates) => plstmBlockTransfer(gatesOf(gates), { batch: 2, width: 3, height: 2, heads: 2 }),
    });
  });

  it('blocked: forward and backward in a loop do not grow GPU memory (every block, state and slice freed)', async () => {
    manualSeed(3);
    const q = randn([1, 6, 5, 1, 2], { requiresGrad: true });
    const v = randn([1, 6, 5, 1, 2]);
    const gates = gatesOf(PLSTM_GATE_NAMES.map(() => randn([1, 6, 5, 1]).mul(0.5)));
    const step = () => {
      scope(() => plstm2d(q, q, v, gates, { block: 2 }).square().sum().backward());
      q.grad?.dispose();
      q.grad = null;
    };
    for (let i = 0; i < 2; i++) step();
    await sync();
    const settled = memory().totalBytes;
    for (let i = 0; i < 5; i++) step();
    await sync();
    expect(memory().totalBytes).toBe(settled);
    for (const t of [q, v, ...Object.values(gates)]) t.dispose();
  });

  it('names what is wrong before any work', () => {
    const t = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    const gates = gatesOf(PLSTM_GATE_NAMES.map(() => t([1, 2, 3, 1])));
    expect(() => plstm2d(t([1, 2, 3, 4]), t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 2]), gates)).toThrow(/plstm2d: q must be \[batch, X, Y, heads, channels\], got \[1, 2, 3, 4\]/);
    expect(() => plstm2d(t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 2]), t([1, 2, 3, 1, 2]), gates)).toThrow(/plstm2d: k is \[1, 2, 3, 1, 2\], q is \[1, 2, 3, 1, 4\]/);
    expect(() => plstm2d(t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 4]), t([1, 3, 2, 1, 2]), gates)).toThrow(/v must be \[1, 2, 3, 1, V\]/);
    expect(() => plstm2d(t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 2]), { ...gates, markUp: t([1, 3, 2, 1]) })).toThrow(/gates\.markUp must be \[1, 2, 3, 1\] \(batch, X, Y, heads\), got \[1, 3, 2, 1\]/);
    expect(() => plstm2d(t([1, 0, 3, 1, 4]), t([1, 0, 3, 1, 4]), t([1, 0, 3, 1, 2]), gates)).toThrow(/plstm2d: every size must be at least 1, got q \[1, 0, 3, 1, 4\]/);
    for (const block of [0, 2.5, -1, Number.NaN]) {
      expect(() => plstm2d(t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 2]), gates, { block })).toThrow(/plstm2d: block must be a positive integer \(the most cells a block has along a side\), got/);
    }
    const { direct: _, ...missing } = gates;
    expect(() => plstm2d(t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 4]), t([1, 2, 3, 1, 2]), missing as PlstmGates)).toThrow(ShapeError);
  });
});

describe('the pLSTM grid mixer (model/grid-mixers.ts)', () => {
  it('every cell reads every other through the four orientations, in both modes, with gradients to every weight', async () => {
    for (const mode of ['P', 'D'] as const) {
      manualSeed(11);
      const layer = GRID_MIXERS.plstm.build(8, { heads: 2, ropeBase: null, plstmMode: mode, normEps: 1e-6 });
      const grid = { width: 3, height: 4 };
      const base = randn([1, 12, 8]);
      const values = await base.toArray();
      const changed = (cell: number) => tensor(Float32Array.from(values, (v, i) => (Math.floor(i / 8) === cell ? v + 1 : v)), [1, 12, 8]);
      const y0 = await layer.forward(base, grid).toArray();
      for (const cell of [0, 5, 11]) {
        const y1 = await layer.forward(changed(cell), grid).toArray();
        for (let c = 0; c < 12; c++) {
          const moved = Math.max(...Array.from({ length: 8 }, (_, j) => Math.abs(y1[c * 8 + j] - y0[c * 8 + j])));
          expect(moved, `${mode}-mode: cell ${c} after a change at cell ${cell}`).toBeGreaterThan(1e-6);
        }
      }
      const x = randn([2, 12, 8], { requiresGrad: true });
      layer.forward(x, grid).square().sum().backward();
      for (const [name, p] of layer.namedParameters()) {
        const g = await p.grad!.toArray();
        expect(g.some((v) => v !== 0 && Number.isFinite(v)), `${mode}-mode: the gradient of ${name}`).toBe(true);
      }
      expect(await x.grad!.toArray().then((g) => g.every(Number.isFinite))).toBe(true);
      layer.dispose();
    }
  });
});

describe('where pLSTM is used', () => {
  it('arrow images: deterministic, balanced, the arrow kept at its size as images grow; classifiers read any size', async () => {
    const images = arrowImages(16, 'train', 200);
    expect(Array.from(arrowImages(16, 'train', 1)[0].pixels)).toEqual(Array.from(images[0].pixels));
    const positives = images.filter((i) => i.label === 1).length;
    expect(positives).toBeGreaterThan(70);
    expect(positives).toBeLessThan(130);
    const ink = (size: number) => arrowImages(size, 'held-out', 20).reduce((s, i) => s + i.pixels.reduce((a, b) => a + b, 0), 0) / 20;
    expect(Math.abs(ink(64) - ink(16))).toBeLessThan(3);
    for (const mixer of ARROW_MIXERS) {
      manualSeed(5);
      const model = new ArrowClassifier({ mixer, patch: 2, dim: 8, layers: 1, heads: 2, mlpHidden: 16, normEps: 1e-5 });
      for (const size of [16, 32]) {
        const accuracy = await arrowAccuracy(model, arrowImages(size, 'held-out', 4));
        expect(accuracy).toBeGreaterThanOrEqual(0);
      }
      model.dispose();
    }
  });

  it('HRM --mixer plstm trains on mazes, saves and loads through the registry, and evaluates on a larger maze than it trained on', async () => {
    const values = { task: 'maze-7', train: 4, test: 2, batch: 2, hidden: 8, cycles: 1, 'max-segments': 1, mixer: 'plstm', positions: 'rope', steps: 1 };
    const run = (await specOf('hrm').createRun({ values, given: new Set(Object.keys(values)) })) as TrainingSession;
    expect(run.model.config.mixer).toBe('plstm');
    expect(run.model.embed_pos).toBeNull();
    const dir = join(temporaryDirectory('hiero-hrm-plstm'), 'run');
    await runTraining(run, { steps: 1, evalEvery: 1, save: async () => void (await run.save(dir)) });
    // Saved and loaded through the registry (the one way to load weights): the same logits from the same weights.
    const { model: loaded } = await loadPuzzleModel(dir);
    const inputs = tensor(Int32Array.from({ length: 49 }, (_, i) => i % 6), [1, 49], { dtype: 'i32' });
    const logitsOf = async (m: HRM) => run.withAveragedWeights(async () => Array.from(await m.evaluate(inputs, null, 1).logits[0].toArray()));
    expect(await logitsOf(loaded)).toEqual(await logitsOf(run.model));
    loaded.dispose();
    inputs.dispose();
    const larger = resizePuzzleModel(run.model, { vocab: 6, seqLen: 81, puzzleIds: 1 }, 'maze-9');
    const task = await loadTask('maze-9', { train: 1, test: 2, seed: 3 });
    const r = await evaluatePuzzles(larger, toBatch(task.heldOut), { segments: 1 });
    expect(r.predictions).toHaveLength(2);
    larger.dispose();
    run.dispose();
    expect(() => validateHRMConfig({ ...run.model.config, seqLen: 50 }, 'hrm')).toThrow(/mixer plstm mixes a square grid; 50 cells are not one/);
  }, 120_000);
});

describe('the pLSTM grid mixer runs its four orientations as one batch', () => {
  it('equals the four orientations run one by one on flipped copies of the grid, in both modes', async () => {
    for (const mode of ['P', 'D'] as const) {
      manualSeed(12);
      const layer = GRID_MIXERS.plstm.build(8, { heads: 2, ropeBase: null, plstmMode: mode, normEps: 1e-6 }) as PlstmGridLayer;
      const [batch, gx, gy, width, heads, g] = [2, 3, 5, 8, 2, mode === 'P' ? 4 : 7];
      const cells = gx * gy;
      const x = randn([batch, cells, width]);
      const values = await x.toArray();
      const flips = [[false, false], [true, false], [false, true], [true, true]];
      const flipCell = (c: number, [fx, fy]: boolean[]) => (fx ? gx - 1 - Math.floor(c / gy) : Math.floor(c / gy)) * gy + (fy ? gy - 1 - (c % gy) : c % gy);
      const total = new Float64Array(batch * cells * width);
      for (let o = 0; o < 4; o++) {
        const moved = new Float32Array(values.length);
        for (let b = 0; b < batch; b++) for (let c = 0; c < cells; c++) moved.set(values.subarray((b * cells + flipCell(c, flips[o])) * width, (b * cells + flipCell(c, flips[o])) * width + width), (b * cells + c) * width);
        const xo = tensor(moved, [batch, cells, width]);
        const f = layer.qkv.forward(xo).reshape([batch, gx, gy, 3, heads, width / heads]);
        const part = (i: number) => f.slice([null, null, null, i]).reshape([batch, gx, gy, heads, width / heads]);
        const gates = layer.gates.forward(xo).sigmoid().reshape([batch, cells, 4, heads, g]).slice([null, null, o]).reshape([batch, gx, gy, heads, g]);
        const at = (i: number) => gates.slice([null, null, null, null, i]).reshape([batch, gx, gy, heads]);
        const d = layer.direct.forward(xo).reshape([batch, gx, gy, heads]);
        const chosen = mode === 'P'
          ? pModeGates({ orientation: at(0), source: at(1), transition: at(2), mark: at(3), direct: d })
          : dModeGates({ sourceRight: at(0), sourceDown: at(1), right: at(2), down: at(3), cross: at(4), markLeft: at(5), markUp: at(6), direct: d });
        const y = await plstm2d(part(0), part(1), part(2), chosen).toArray();
        // Each head's output RMS-normalised, then put back at the original cells.
        for (let b = 0; b < batch; b++) for (let c = 0; c < cells; c++) for (let h = 0; h < heads; h++) {
          const base = ((b * cells + c) * heads + h) * (width / heads);
          const head = Array.from(y.subarray(base, base + width / heads));
          const rms = Math.sqrt(head.reduce((s, v) => s + v * v, 0) / head.length + 1e-6);
          head.forEach((v, j) => (total[(b * cells + flipCell(c, flips[o])) * width + h * (width / heads) + j] += v / rms / 4));
        }
      }
      const expected = await layer.out.forward(tensor(Float32Array.from(total), [batch, cells, width])).toArray();
      // The same f32 kernels on the same numbers, summed in another order (the mean over orientations): rounding only.
      expectClose(await layer.forward(x, { width: gx, height: gy }).toArray(), expected, { atol: 1e-5, rtol: 1e-4 }, `${mode}-mode`);
      layer.dispose();
    }
  });
});
