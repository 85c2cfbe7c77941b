// The diagonal GRU (engine/ops/rnn.ts, shaders/rnn.wgsl): the fused, Newton and sequential methods against a
// float64 sequential reference, the adjoint backward against central finite differences of that reference, Newton's
// convergence (quadratic near the solution; how many iterations reach 1e-5), and errors named before any work.
// Tolerances: each step's cell is a few f32 ops (sigmoid, tanh: a few ulp each); over T steps the error of a
// contracting recurrence stays near one step's (|∂h_t/∂h_{t−1}| < 1 here), so atol 2e-6 + rtol 1e-5 forward. Newton's
// scan sums in another order than the sequential walk: the same bound. Gradients: f32 sums over B·T terms, 1e-4.

import { describe, expect, it } from 'vitest';
import {
  concat, ConvergenceError, diagGRU, diagGRUResidual, diagGRUStep, diagLSTM, diagLSTMResidual, diagLSTMStep, scope, solveDiagGRU, solveDiagLSTM, sync, tensor,
  type DiagGRUWeights, type DiagLSTMWeights, type RnnMethod, type Tensor,
} from '../engine/index.ts';
import { checkOp, expectClose, toGpu, useDevice } from './helpers.ts';
import { specOf } from '../model/kinds/index.ts';
import { randomRef, Ref } from './reference.ts';

useDevice();

const TOL = { atol: 2e-6, rtol: 1e-5 };
const GRAD_TOL = { atol: 1e-4, rtol: 1e-3 };
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The float64 sequential reference: all states [B, T, C]. */
function referenceGRU(xz: Ref, xr: Ref, xh: Ref, uz: Ref, ur: Ref, uh: Ref, bz: Ref, br: Ref, bh: Ref, h0?: Ref): Ref {
  const [B, T, C] = xz.shape;
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      let h = h0 ? h0.data[b * C + c] : 0;
      for (let t = 0; t < T; t++) {
        const i = (b * T + t) * C + c;
        const z = sigmoid(xz.data[i] + uz.data[c] * h + bz.data[c]);
        const r = sigmoid(xr.data[i] + ur.data[c] * h + br.data[c]);
        const cand = Math.tanh(xh.data[i] + r * (uh.data[c] * h) + bh.data[c]);
        h = (1 - z) * h + z * cand;
        out[i] = h;
      }
    }
  }
  return new Ref(out, [B, T, C]);
}

function problem(B: number, T: number, C: number, seed: number, withH0: boolean, scale = 1): Ref[] {
  const refs = [
    randomRef([B, T, C], seed, -2, 2), randomRef([B, T, C], seed + 1, -2, 2), randomRef([B, T, C], seed + 2, -2, 2),
    ...[3, 4, 5].map((k) => randomRef([C], seed + k, -scale, scale)), ...[6, 7, 8].map((k) => randomRef([C], seed + k, -0.5, 0.5)),
  ];
  if (withH0) refs.push(randomRef([B, C], seed + 9, -1, 1));
  return refs;
}

const weightsOf = (uz: Tensor, ur: Tensor, uh: Tensor, bz: Tensor, br: Tensor, bh: Tensor): DiagGRUWeights => ({ uz, ur, uh, bz, br, bh });

function run(method: RnnMethod, extra: { iterations?: number } = {}) {
  return (xz: Tensor, xr: Tensor, xh: Tensor, uz: Tensor, ur: Tensor, uh: Tensor, bz: Tensor, br: Tensor, bh: Tensor, h0?: Tensor) =>
    diagGRU(xz, xr, xh, weightsOf(uz, ur, uh, bz, br, bh), { method, h0: h0 ?? null, ...extra });
}

describe('diagGRU', () => {
  for (const method of ['fused', 'sequential', 'newton'] as const) {
    it(`${method}: equals the float64 sequential reference, with and without h0, with gradients for every input`, async () => {
      // Newton with T iterations is exact by construction (iteration i is exact up to step i): the comparison
      // checks the linearization and the scan; convergence is tested below.
      const T = 13;
      for (const withH0 of [false, true]) {
        const inputs = problem(2, T, 5, withH0 ? 20 : 10, withH0);
        await checkOp({
          label: `${method}${withH0 ? ' h0' : ''}`, inputs, gpu: run(method, method === 'newton' ? { iterations: T } : {}),
          reference: referenceGRU, tol: TOL, gradTol: GRAD_TOL,
        });
      }
    });
  }

  it("gradients equal autograd through the cell composed of the engine's ops, one step at a time", async () => {
    const inputs = problem(2, 6, 3, 61, true);
    const grads = async (run: (...t: Tensor[]) => Tensor) => {
      const leaves = inputs.map((r) => toGpu(r, true));
      scope(() => run(...leaves).square().sum().backward());
      const out = await Promise.all(leaves.map((l) => l.grad!.toArray()));
      leaves.forEach((l) => l.dispose());
      return out;
    };
    const composed = (xz: Tensor, xr: Tensor, xh: Tensor, uz: Tensor, ur: Tensor, uh: Tensor, bz: Tensor, br: Tensor, bh: Tensor, h0: Tensor) => {
      let h = h0;
      const states: Tensor[] = [];
      for (let t = 0; t < 6; t++) {
        const at = (x: Tensor) => x.slice([null, [t, t + 1], null]).reshape([2, 3]);
        const z = at(xz).add(uz.mul(h)).add(bz).sigmoid();
        const r = at(xr).add(ur.mul(h)).add(br).sigmoid();
        const cand = at(xh).add(r.mul(uh.mul(h))).add(bh).tanh();
        h = h.add(z.mul(cand.sub(h)));
        states.push(h.reshape([2, 1, 3]));
      }
      return concat(states, 1);
    };
    const viaAutograd = await grads(composed);
    const viaAdjoint = await grads(run('fused'));
    viaAdjoint.forEach((g, k) => expectClose(g, viaAutograd[k], { atol: 1e-5, rtol: 1e-4 }, `input ${k}`));
  });

  it('awkward shapes: T = 1, one channel, a batch of 7 and 67 channels (a partial workgroup)', async () => {
    for (const [B, T, C] of [[1, 1, 1], [3, 1, 4], [7, 9, 67]]) {
      const inputs = problem(B, T, C, B + T + C, true);
      for (const method of ['fused', 'newton'] as const) {
        await checkOp({ label: `${method} ${B}x${T}x${C}`, inputs, gpu: run(method, { iterations: Math.max(T, 1) }), reference: referenceGRU, tol: TOL });
      }
    }
  });

  it('T = 100,000: fused and Newton (to 1e-5) agree with the reference', async () => {
    const inputs = problem(1, 100_000, 4, 77, false, 0.5);
    const expected = referenceGRU(...(inputs as [Ref, Ref, Ref, Ref, Ref, Ref, Ref, Ref, Ref]));
    const [xz, xr, xh, uz, ur, uh, bz, br, bh] = inputs.map((r) => toGpu(r));
    const weights = weightsOf(uz, ur, uh, bz, br, bh);
    const fused = diagGRU(xz, xr, xh, weights, { method: 'fused' });
    expectClose(await fused.toArray(), expected.data, TOL, 'fused T=1e5');
    const solved = await solveDiagGRU(xz, xr, xh, weights, { tolerance: 1e-5 });
    expect(solved.iterations, `iterations to 1e-5: ${solved.iterations} (residuals ${solved.history.map((r) => r.toExponential(1)).join(', ')})`).toBeLessThanOrEqual(8);
    expectClose(await solved.states.toArray(), expected.data, { atol: 2e-5, rtol: 1e-4 }, 'newton T=1e5');
    for (const t of [xz, xr, xh, uz, ur, uh, bz, br, bh, fused, solved.states]) t.dispose();
  });

  it("Newton's residual falls quadratically near the solution, and the gradient at the solution is the fused one's", async () => {
    const inputs = problem(2, 400, 8, 31, true, 1.5);
    const [xz, xr, xh, uz, ur, uh, bz, br, bh, h0] = inputs.map((r) => toGpu(r, true));
    const weights = weightsOf(uz, ur, uh, bz, br, bh);
    const solved = await solveDiagGRU(xz, xr, xh, weights, { h0, tolerance: 1e-6 });
    const r = solved.history.filter((x) => Number.isFinite(x));
    for (let i = 1; i < r.length; i++) expect(r[i], `residuals ${r.map((x) => x.toExponential(1)).join(', ')}`).toBeLessThan(r[i - 1]);
    // Quadratic: once below 0.1, each residual is within a constant of the square of the one before (until f32's floor).
    for (let i = 1; i < r.length; i++) if (r[i - 1] < 0.1 && r[i] > 1e-6) expect(r[i]).toBeLessThan(20 * r[i - 1] ** 2);
    const grads = async (h: Tensor) => {
      for (const t of [xz, uz, uh, h0]) t.grad = null;
      scope(() => h.mul(h).sum().backward());
      return Promise.all([xz, uz, uh, h0].map((t) => t.grad!.toArray()));
    };
    const viaNewton = await grads(solved.states);
    const fused = diagGRU(xz, xr, xh, weights, { method: 'fused', h0 });
    const viaFused = await grads(fused);
    viaNewton.forEach((g, k) => expectClose(g, viaFused[k], { atol: 1e-4, rtol: 1e-3 }, `gradient ${k}`));
    for (const t of [xz, xr, xh, uz, ur, uh, bz, br, bh, h0, solved.states, fused]) t.dispose();
  });

  it('a Newton call with a tolerance it misses is reported by name at the next read-back, never silently', async () => {
    const inputs = problem(1, 64, 3, 41, false, 1.5);
    const [xz, xr, xh, uz, ur, uh, bz, br, bh] = inputs.map((r) => toGpu(r));
    const weights = weightsOf(uz, ur, uh, bz, br, bh);
    const rough = diagGRU(xz, xr, xh, weights, { method: 'newton', iterations: 1, tolerance: 1e-6 });
    await expect(rough.toArray()).rejects.toThrow(ConvergenceError);
    const exact = diagGRU(xz, xr, xh, weights, { method: 'newton', iterations: 64, tolerance: 1e-5 });
    await sync();
    expect(await diagGRUResidual(xz, xr, xh, weights, exact).item()).toBeLessThan(1e-5);
    await expect(solveDiagGRU(xz, xr, xh, weights, { tolerance: 1e-30, maxIterations: 2 })).rejects.toThrow(/solveDiagGRU: Newton's residual .* after 2 iterations exceeds the tolerance 1e-30/);
    // An expanding cell (recurrent weights up to ±4 over 4,096 steps): Newton's linear solves overflow; named, at once.
    const wild = problem(1, 4096, 64, 43, false, 4).map((r) => toGpu(r));
    const wildWeights = weightsOf(wild[3], wild[4], wild[5], wild[6], wild[7], wild[8]);
    await expect(solveDiagGRU(wild[0], wild[1], wild[2], wildWeights, { maxIterations: 50 })).rejects.toThrow(/Newton diverged: the residual is (NaN|Infinity) after \d+ iterations?/);
    wild.forEach((t) => t.dispose());
    for (const t of [xz, xr, xh, uz, ur, uh, bz, br, bh, rough, exact]) t.dispose();
  });

  it('diagGRUStep is one step of the sequence (decoding)', async () => {
    const inputs = problem(2, 3, 6, 51, true);
    const [xz, xr, xh, uz, ur, uh, bz, br, bh, h0] = inputs.map((r) => toGpu(r));
    const weights = weightsOf(uz, ur, uh, bz, br, bh);
    const whole = await diagGRU(xz, xr, xh, weights, { h0 }).toArray();
    let h = h0;
    const stepped: number[][] = [];
    for (let t = 0; t < 3; t++) {
      const at = (x: Tensor) => x.slice([null, [t, t + 1], null]).reshape([2, 6]);
      const next = diagGRUStep(at(xz), at(xr), at(xh), weights, h);
      stepped.push(Array.from(await next.toArray()));
      h = next;
    }
    for (let t = 0; t < 3; t++) for (let b = 0; b < 2; b++) for (let c = 0; c < 6; c++) expect(stepped[t][b * 6 + c]).toBeCloseTo(whole[(b * 3 + t) * 6 + c], 6);
  });

  it('bad input is named before any work', () => {
    const x = tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]);
    const w = tensor(new Float32Array(4), [4]);
    const weights = weightsOf(w, w, w, w, w, w);
    expect(() => diagGRU(x, x, tensor(new Float32Array(24), [2, 4, 3]), weights)).toThrow(/diagGRU: xh is \[2, 4, 3\], xz is \[2, 3, 4\]/);
    expect(() => diagGRU(x, x, x, { ...weights, bh: tensor([1, 2]) })).toThrow(/diagGRU: weights.bh must be \[4\], got \[2\]/);
    expect(() => diagGRU(x, x, x, { ...weights, ur: undefined } as never)).toThrow(/weights.ur is missing/);
    expect(() => diagGRU(x, x, x, weights, { method: 'jacobi' as never })).toThrow(/method must be one of newton, fused, sequential/);
    expect(() => diagGRU(x, x, x, weights, { method: 'newton', iterations: 0 })).toThrow(/iterations must be an integer from 1 to 1000/);
    expect(() => diagGRU(x, x, x, weights, { method: 'newton', tolerance: -1 })).toThrow(/tolerance must be a positive number/);
    expect(() => diagGRU(x, x, x, weights, { h0: tensor(new Float32Array(4), [4]) })).toThrow(/h0 must be \[2, 4\], got \[4\]/);
  });
});

/** The float64 LSTM-CIFG reference: h (and c) [B, T, C]. */
function referenceLSTM(xf: Ref, xo: Ref, xc: Ref, uf: Ref, uo: Ref, uc: Ref, bf: Ref, bo: Ref, bc: Ref, h0?: Ref, c0?: Ref): { h: Ref; c: Ref } {
  const [B, T, C] = xf.shape;
  const hs = new Float64Array(B * T * C);
  const cs = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let ch = 0; ch < C; ch++) {
      let h = h0 ? h0.data[b * C + ch] : 0;
      let c = c0 ? c0.data[b * C + ch] : 0;
      for (let t = 0; t < T; t++) {
        const i = (b * T + t) * C + ch;
        const f = sigmoid(xf.data[i] + uf.data[ch] * h + bf.data[ch]);
        const o = sigmoid(xo.data[i] + uo.data[ch] * h + bo.data[ch]);
        const cand = Math.tanh(xc.data[i] + uc.data[ch] * h + bc.data[ch]);
        c = f * c + (1 - f) * cand;
        h = o * Math.tanh(c);
        hs[i] = h;
        cs[i] = c;
      }
    }
  }
  return { h: new Ref(hs, [B, T, C]), c: new Ref(cs, [B, T, C]) };
}

const lstmWeightsOf = (uf: Tensor, uo: Tensor, uc: Tensor, bf: Tensor, bo: Tensor, bc: Tensor): DiagLSTMWeights => ({ uf, uo, uc, bf, bo, bc });

function runLSTM(method: RnnMethod, part: 'h' | 'c', extra: { iterations?: number } = {}) {
  return (xf: Tensor, xo: Tensor, xc: Tensor, uf: Tensor, uo: Tensor, uc: Tensor, bf: Tensor, bo: Tensor, bc: Tensor, h0?: Tensor, c0?: Tensor) =>
    diagLSTM(xf, xo, xc, lstmWeightsOf(uf, uo, uc, bf, bo, bc), { method, h0: h0 ?? null, c0: c0 ?? null, ...extra })[part];
}

describe('diagLSTM (LSTM-CIFG)', () => {
  for (const method of ['fused', 'sequential', 'newton'] as const) {
    it(`${method}: h and c equal the float64 reference, with and without (h0, c0), with gradients through h for every input`, async () => {
      const T = 11;
      for (const withStart of [false, true]) {
        const inputs = problem(2, T, 5, withStart ? 60 : 70, withStart);
        if (withStart) inputs.push(randomRef([2, 5], 99, -1, 1));
        const extra = method === 'newton' ? { iterations: T } : {};
        for (const part of ['h', 'c'] as const) {
          await checkOp({
            label: `lstm ${method} ${part}${withStart ? ' h0 c0' : ''}`, inputs, gpu: runLSTM(method, part, extra),
            reference: (...r: Ref[]) => referenceLSTM(...(r as Parameters<typeof referenceLSTM>))[part], tol: TOL,
            ...(part === 'h' ? { gradTol: GRAD_TOL } : {}),
          });
        }
      }
    });
  }

  it('the 2 x 2 scan over long sequences: Newton to 1e-5 at T = 20,000 agrees with fused and the reference; quadratic near the solution', async () => {
    const inputs = problem(2, 20_000, 3, 81, false, 0.8);
    const expected = referenceLSTM(...(inputs as [Ref, Ref, Ref, Ref, Ref, Ref, Ref, Ref, Ref]));
    const [xf, xo, xc, uf, uo, uc, bf, bo, bc] = inputs.map((r) => toGpu(r));
    const weights = lstmWeightsOf(uf, uo, uc, bf, bo, bc);
    const fused = diagLSTM(xf, xo, xc, weights);
    expectClose(await fused.h.toArray(), expected.h.data, TOL, 'fused h');
    expectClose(await fused.c.toArray(), expected.c.data, TOL, 'fused c');
    const solved = await solveDiagLSTM(xf, xo, xc, weights, { tolerance: 1e-6 });
    const r = solved.history;
    expect(solved.iterations, `residuals ${r.map((x) => x.toExponential(1)).join(', ')}`).toBeLessThanOrEqual(10);
    for (let i = 1; i < r.length; i++) if (r[i - 1] < 0.1 && r[i] > 1e-6) expect(r[i]).toBeLessThan(20 * r[i - 1] ** 2);
    expectClose(await solved.states.h.toArray(), expected.h.data, { atol: 2e-5, rtol: 1e-4 }, 'newton h');
    expect(await diagLSTMResidual(xf, xo, xc, weights, fused).item()).toBeLessThan(1e-5);
    for (const t of [xf, xo, xc, uf, uo, uc, bf, bo, bc, fused.h, fused.c, solved.states.h, solved.states.c]) t.dispose();
  });

  it('diagLSTMStep is one step of the sequence, and bad input is named', async () => {
    const inputs = problem(2, 3, 4, 91, true);
    inputs.push(randomRef([2, 4], 92, -1, 1));
    const [xf, xo, xc, uf, uo, uc, bf, bo, bc, h0, c0] = inputs.map((r) => toGpu(r));
    const weights = lstmWeightsOf(uf, uo, uc, bf, bo, bc);
    const whole = diagLSTM(xf, xo, xc, weights, { h0, c0 });
    const [wh, wc] = [await whole.h.toArray(), await whole.c.toArray()];
    let state = { h: h0, c: c0 };
    for (let t = 0; t < 3; t++) {
      const at = (x: Tensor) => x.slice([null, [t, t + 1], null]).reshape([2, 4]);
      state = diagLSTMStep(at(xf), at(xo), at(xc), weights, state);
      const [sh, sc] = [await state.h.toArray(), await state.c.toArray()];
      for (let b = 0; b < 2; b++) for (let ch = 0; ch < 4; ch++) {
        expect(sh[b * 4 + ch]).toBeCloseTo(wh[(b * 3 + t) * 4 + ch], 6);
        expect(sc[b * 4 + ch]).toBeCloseTo(wc[(b * 3 + t) * 4 + ch], 6);
      }
    }
    expect(() => diagLSTM(xf, xo, xc, { ...weights, uc: undefined } as never)).toThrow(/diagLSTM: weights.uc is missing \(weights must be \{ uf, uo, uc, bf, bo, bc \}/);
    expect(() => diagLSTM(xf, xo, xc, weights, { c0: tensor([1, 2]) })).toThrow(/diagLSTM: c0 must be \[2, 4\], got \[2\]/);
  });
});

describe('ParaGRU and ParaLSTM language models', () => {
  for (const kind of ['paragru', 'paralstm'] as const) {
    it(`${kind}: training with --rnn-method newton follows the fused run (Newton's 3 iterations at init are within f32 of the solution)`, async () => {
      const losses: Record<string, number[]> = {};
      for (const method of ['fused', 'newton']) {
        const values = { batch: 2, seq: 32, seed: 3, steps: 3, 'rnn-method': method };
        const run = await specOf(kind).createRun({ values, given: new Set(Object.keys(values)) });
        losses[method] = [];
        for (let s = 0; s < 3; s++) {
          const metrics = await run.trainStep();
          losses[method].push((await run.read(metrics)).loss);
          run.release(metrics);
        }
        run.dispose();
      }
      losses.newton.forEach((l, s) => expect(l, `step ${s + 1}: ${losses.newton} vs ${losses.fused}`).toBeCloseTo(losses.fused[s], 3));
    });
  }
});
