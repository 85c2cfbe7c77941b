// Nonlinear diagonal RNNs solved three ways (kernels: shaders/rnn.wgsl; tests: test/rnn.test.ts; bench: bench/rnn.ts;
// the math: ../shared/design/nonlinear-rnn.md).
//
//   diagGRU(xz, xr, xh, weights, { method })   ParaRNN's diagonal GRU over [B, T, C]:
//     'fused'      FlashRNN's fused sequential kernel: one dispatch, one invocation per (b, c) walking t;
//     'newton'     ParaRNN / DEER: from a guess (zeros), each iteration linearizes the cell at the guess for every t
//                  in one kernel and solves the linear recurrence with the gated scan; `iterations` of them (3 by
//                  default, as ParaRNN), and with `tolerance` a check on the GPU that the residual after them is
//                  within it (the next read-back throws ConvergenceError otherwise);
//     'sequential' the reference: one dispatch per time step.
//   The backward is the same for all three: the adjoint recurrence λ_t = ∂L/∂h_t + J_{t+1} λ_{t+1} as one reverse
//   scan over the Jacobians at the solution, then every gradient per element in one kernel, not backpropagation
//   through the solver.
//   solveDiagGRU        Newton until a tolerance, reading the residual back after each iteration.
//   diagGRUResidual     max |h_t − f(h_{t−1}, x_t)| of a candidate sequence (how far it is from the solution).
//   diagGRUStep         one step for decoding, [B, C].

import { isGradEnabled, noGrad, record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { ConvergenceError, formatShape, HieroError, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { copyStrided } from './elementwise.ts';
import { zeros } from './creation.ts';
import { dense, empty, launch } from './launch.ts';
import { max } from './reduce.ts';
import { scanRaw } from './scan.ts';

/** The diagonal recurrent weights and biases of a diagGRU, each [C]. */
export interface DiagGRUWeights {
  uz: Tensor;
  ur: Tensor;
  uh: Tensor;
  bz: Tensor;
  br: Tensor;
  bh: Tensor;
}

const WEIGHT_NAMES = ['uz', 'ur', 'uh', 'bz', 'br', 'bh'] as const;

export type RnnMethod = 'newton' | 'fused' | 'sequential';
export const RNN_METHODS: readonly RnnMethod[] = ['newton', 'fused', 'sequential'];

export interface DiagGRUOptions {
  /** 'fused' (default), 'newton' or 'sequential': the same sequence, solved three ways. */
  method?: RnnMethod;
  /** The state before the first step, [B, C] (zeros when omitted). */
  h0?: Tensor | null;
  /** Newton: how many iterations (default 3, ParaRNN's). */
  iterations?: number;
  /** Newton: the first guess of every state, [B, T, C] (zeros when omitted; a previous call's solution is a good one). */
  guess?: Tensor | null;
  /**
   * Newton: the largest residual |h_t − f(h_{t−1})| accepted after the iterations, checked on the GPU without a
   * read-back: if it is exceeded, the next read-back or sync() throws ConvergenceError.
   */
  tolerance?: number;
}

/** Newton iterations allowed at most in one call. */
export const MAX_NEWTON_ITERATIONS = 1000;

interface Checked {
  batch: number;
  steps: number;
  channels: number;
}

function checkInputs(op: string, xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, h0: Tensor | null | undefined): Checked {
  for (const [name, t] of [['xz', xz], ['xr', xr], ['xh', xh]] as const) {
    t.assertDType(`${op} ${name}`, 'f32');
    if (t.rank !== 3) throw new ShapeError(`${op}: ${name} must be [batch, steps, channels], got ${formatShape(t.shape)}`);
  }
  const [batch, steps, channels] = xz.shape;
  for (const [name, t] of [['xr', xr], ['xh', xh]] as const) {
    if (t.shape.join() !== xz.shape.join()) throw new ShapeError(`${op}: ${name} is ${formatShape(t.shape)}, xz is ${formatShape(xz.shape)}; the three projections must match`);
  }
  if (!weights || typeof weights !== 'object') throw new ShapeError(`${op}: weights must be { ${WEIGHT_NAMES.join(', ')} }`);
  for (const name of WEIGHT_NAMES) {
    const w = weights[name];
    if (!w) throw new ShapeError(`${op}: weights.${name} is missing (weights must be { ${WEIGHT_NAMES.join(', ')} }, each [${channels}])`);
    w.assertDType(`${op} weights.${name}`, 'f32');
    if (w.rank !== 1 || w.shape[0] !== channels) throw new ShapeError(`${op}: weights.${name} must be [${channels}], got ${formatShape(w.shape)}`);
  }
  if (h0) {
    h0.assertDType(`${op} h0`, 'f32');
    if (h0.shape.join() !== [batch, channels].join()) throw new ShapeError(`${op}: h0 must be ${formatShape([batch, channels])}, got ${formatShape(h0.shape)}`);
  }
  return { batch, steps, channels };
}

/** The weights (then h0) packed into one buffer, as the kernels read them. */
function packAux(weights: DiagGRUWeights, h0: Tensor | null, s: Checked): Tensor {
  const C = s.channels;
  const aux = empty([6 * C + (h0 ? s.batch * C : 0)], 'f32', 'diagGRU weights');
  WEIGHT_NAMES.forEach((name, k) => copyStrided(weights[name], { target: aux, strides: [1], offset: k * C }));
  if (h0) copyStrided(h0, { target: aux, strides: [C, 1], offset: 6 * C });
  return aux;
}

function uniformsOf(s: Checked, step = 0): ArrayBuffer {
  return new Uniforms().u32(s.batch).u32(s.steps).u32(s.channels).u32(step).build();
}

interface Raw {
  s: Checked;
  xs: [Tensor, Tensor, Tensor];
  aux: Tensor;
  /** h0, dense (the scan reads it as its own binding; the cell kernels read it from aux). */
  h0: Tensor | null;
  hasH0: boolean;
}

/** J and f − J·h′ at a guess (and the residual |guess − f| where asked): one Newton linearization. */
function linearize(raw: Raw, states: Tensor, residual: boolean): { gate: Tensor; input: Tensor; residual: Tensor | null } {
  const { s } = raw;
  const shape = [s.batch, s.steps, s.channels];
  const gate = empty(shape, 'f32', 'diagGRU jacobian');
  const input = empty(shape, 'f32', 'diagGRU linearized');
  const res = residual ? empty(shape, 'f32', 'diagGRU residual') : null;
  launch({
    family: 'rnn', entry: 'gru_linearize', label: 'diagGRU linearize', uniforms: uniformsOf(s),
    overrides: { WG: 64, HAS_H0: raw.hasH0, RESIDUAL: residual },
    outputs: [gate, input, res], inputs: [...raw.xs, states, raw.aux],
    workgroups: runtime().grid(s.batch * s.steps * s.channels, 64, 'diagGRU linearize'),
  });
  return { gate, input, residual: res };
}

function newtonStep(raw: Raw, guess: Tensor): Tensor {
  const { gate, input } = linearize(raw, guess, false);
  const { s } = raw;
  const next = scanRaw({ batch: s.batch, steps: s.steps, channels: s.channels, gate, input, h0: raw.h0, label: 'diagGRU newton' });
  gate.dispose();
  input.dispose();
  return next;
}

function solveFused(raw: Raw): Tensor {
  const { s } = raw;
  const h = empty([s.batch, s.steps, s.channels], 'f32', 'diagGRU');
  launch({
    family: 'rnn', entry: 'gru_fused', label: 'diagGRU fused', uniforms: uniformsOf(s), overrides: { WG: 64, HAS_H0: raw.hasH0 },
    outputs: [h, null, null], inputs: [...raw.xs, null, raw.aux], workgroups: runtime().grid(s.batch * s.channels, 64, 'diagGRU fused'),
  });
  return h;
}

function solveSequential(raw: Raw): Tensor {
  const { s } = raw;
  const h = empty([s.batch, s.steps, s.channels], 'f32', 'diagGRU');
  for (let t = 0; t < s.steps; t++) {
    launch({
      family: 'rnn', entry: 'gru_step', label: 'diagGRU step', uniforms: uniformsOf(s, t), overrides: { WG: 64, HAS_H0: raw.hasH0 },
      outputs: [h, null, null], inputs: [...raw.xs, null, raw.aux], workgroups: runtime().grid(s.batch * s.channels, 64, 'diagGRU step'),
    });
  }
  return h;
}

/** A flag the runtime reports as ConvergenceError when a residual above `tolerance` was met. */
function checkResidual(raw: Raw, residual: Tensor, tolerance: number, iterations: number): void {
  const rt = runtime();
  const flag = rt.gpuAssertion(
    `diagGRU newton ${tolerance} ${iterations}`,
    (bits) => `diagGRU: Newton's residual ${new Float32Array(new Uint32Array([bits]).buffer)[0].toExponential(2)} after ${iterations} iteration${iterations === 1 ? '' : 's'} exceeds the tolerance ${tolerance} (more iterations, a better guess, or method 'fused')`,
    0, ConvergenceError,
  );
  launch({
    family: 'rnn', entry: 'rnn_residual_check', label: 'diagGRU residual check', uniforms: uniformsOf(raw.s),
    overrides: { WG: 64, TOLERANCE: tolerance }, outputs: [flag, null, null], inputs: [residual, null, null, null, null],
    workgroups: rt.grid(residual.size, 64, 'diagGRU residual check'),
  });
}

function checkNewtonOptions(op: string, iterations: number, tolerance: number | undefined, guess: Tensor | null | undefined, s: Checked): void {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_NEWTON_ITERATIONS) {
    throw new ShapeError(`${op}: iterations must be an integer from 1 to ${MAX_NEWTON_ITERATIONS}, got ${iterations}`);
  }
  if (tolerance !== undefined && !(tolerance > 0 && Number.isFinite(tolerance))) throw new ShapeError(`${op}: tolerance must be a positive number, got ${tolerance}`);
  if (guess) {
    guess.assertDType(`${op} guess`, 'f32');
    if (guess.shape.join() !== [s.batch, s.steps, s.channels].join()) throw new ShapeError(`${op}: guess must be ${formatShape([s.batch, s.steps, s.channels])}, got ${formatShape(guess.shape)}`);
  }
}

/**
 * ParaRNN's diagonal GRU over xz, xr, xh [B, T, C] with the diagonal weights { uz, ur, uh, bz, br, bh } ([C] each):
 * all the states h [B, T, C]. Differentiable in every input (the adjoint recurrence at the solution).
 */
export function diagGRU(xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, options: DiagGRUOptions = {}): Tensor {
  const method = options.method ?? 'fused';
  if (!RNN_METHODS.includes(method)) throw new ShapeError(`diagGRU: method must be one of ${RNN_METHODS.join(', ')}, got '${String(method)}'`);
  const h0 = options.h0 ?? null;
  const s = checkInputs('diagGRU', xz, xr, xh, weights, h0);
  const iterations = options.iterations ?? 3;
  if (method === 'newton') checkNewtonOptions('diagGRU', iterations, options.tolerance, options.guess, s);
  if (s.steps === 0 || s.batch === 0 || s.channels === 0) return empty([s.batch, s.steps, s.channels], 'f32', 'diagGRU');
  const raw = rawOf(xz, xr, xh, weights, h0, s);
  let h: Tensor;
  if (method === 'fused') h = solveFused(raw);
  else if (method === 'sequential') h = solveSequential(raw);
  else {
    let guess = options.guess ? dense(options.guess, copyStrided) : zeros([s.batch, s.steps, s.channels]);
    for (let i = 0; i < iterations; i++) {
      const next = newtonStep(raw, guess);
      if (guess !== options.guess) guess.dispose();
      guess = next;
    }
    h = guess;
    if (options.tolerance !== undefined) {
      const { gate, input, residual } = linearize(raw, h, true);
      checkResidual(raw, residual!, options.tolerance, iterations);
      for (const t of [gate, input, residual!]) t.dispose();
    }
  }
  return recordBackward(raw, xz, xr, xh, weights, h0, h);
}

function rawOf(xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, h0: Tensor | null, s: Checked): Raw {
  const xs = [xz, xr, xh].map((t) => dense(t, copyStrided)) as [Tensor, Tensor, Tensor];
  return { s, xs, aux: packAux(weights, h0, s), h0: h0 ? dense(h0, copyStrided) : null, hasH0: h0 !== null };
}

function releaseRaw(raw: Raw, originals: (Tensor | null)[]): void {
  raw.xs.forEach((t, k) => { if (t !== originals[k]) t.dispose(); });
  raw.aux.dispose();
  if (raw.h0 && raw.h0 !== originals[3]) raw.h0.dispose();
}

function recordBackward(raw: Raw, xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, h0: Tensor | null, h: Tensor): Tensor {
  const { s } = raw;
  const inputs = [xz, xr, xh, ...WEIGHT_NAMES.map((n) => weights[n]), h0];
  const result = record('diagGRU', inputs, h, (dh, saved) => {
    const [sz, sr, sx, aux, hs] = saved;
    const saw: Raw = { s, xs: [sz, sr, sx], aux, h0: null, hasH0: raw.hasH0 };
    const { gate, input } = linearize(saw, hs, false);
    input.dispose();
    const dhd = dense(dh, copyStrided);
    // λ_t = dh_t + J_{t+1} λ_{t+1}: the scan reversed, its gates shifted by one step (as scan's own backward).
    const lambda = scanRaw({ batch: s.batch, steps: s.steps, channels: s.channels, gate, input: dhd, h0: null, reverse: true, shiftGates: true, label: 'diagGRU adjoint' });
    if (dhd !== dh) dhd.dispose();
    const n = s.batch * s.steps * s.channels;
    const dx = empty([3, s.batch, s.steps, s.channels], 'f32', 'diagGRU backward');
    const products = empty([3, s.batch * s.steps, s.channels], 'f32', 'diagGRU backward');
    launch({
      family: 'rnn', entry: 'gru_backward', label: 'diagGRU backward', uniforms: uniformsOf(s), overrides: { WG: 64, HAS_H0: raw.hasH0 },
      outputs: [dx, products, lambda], inputs: [sz, sr, sx, hs, aux], workgroups: runtime().grid(n, 64, 'diagGRU backward'),
    });
    const grads: (Tensor | null)[] = [0, 1, 2].map((k) => (inputs[k]!.requiresGrad ? dx.slice([[k, k + 1]]).reshape([s.batch, s.steps, s.channels]) : null));
    const wantsWeights = WEIGHT_NAMES.some((name) => weights[name].requiresGrad);
    if (wantsWeights) {
      // Σ over b and t: products give uz, ur, uh; the projections' gradients give the biases.
      const weightSums = products.sum(1); // [3, C]
      const biasSums = dx.reshape([3, s.batch * s.steps, s.channels]).sum(1);
      WEIGHT_NAMES.forEach((name, k) => {
        const source = k < 3 ? weightSums : biasSums;
        grads.push(weights[name].requiresGrad ? source.slice([[k % 3, (k % 3) + 1]]).reshape([s.channels]) : null);
      });
      weightSums.dispose();
      biasSums.dispose();
    } else grads.push(...WEIGHT_NAMES.map(() => null));
    // ∂L/∂h0 = J_1 λ_1.
    grads.push(h0?.requiresGrad ? gate.slice([null, [0, 1], null]).mul(lambda.slice([null, [0, 1], null])).reshape([s.batch, s.channels]) : null);
    for (const t of [gate, lambda, dx, products]) t.dispose();
    return grads;
  }, [...raw.xs, raw.aux, h]);
  releaseRaw(raw, [xz, xr, xh, h0]);
  return result;
}

/** max over every state of |h_t − f(h_{t−1}, x_t)|: 0 for the exact solution (a scalar tensor). */
export function diagGRUResidual(xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, h: Tensor, h0: Tensor | null = null): Tensor {
  const s = checkInputs('diagGRUResidual', xz, xr, xh, weights, h0);
  h.assertDType('diagGRUResidual h', 'f32');
  if (h.shape.join() !== xz.shape.join()) throw new ShapeError(`diagGRUResidual: h must be ${formatShape(xz.shape)}, got ${formatShape(h.shape)}`);
  return noGrad(() => {
    const raw = rawOf(xz, xr, xh, weights, h0, s);
    const hd = dense(h, copyStrided);
    const { gate, input, residual } = linearize(raw, hd, true);
    const worst = max(residual!);
    for (const t of [gate, input, residual!]) t.dispose();
    if (hd !== h) hd.dispose();
    releaseRaw(raw, [xz, xr, xh, h0]);
    return worst;
  });
}

export interface NewtonSolution {
  h: Tensor;
  /** max |h_t − f(h_{t−1})| of the returned h. */
  residual: number;
  /** Newton iterations taken. */
  iterations: number;
  /** The residual before each iteration and after the last (from the guess on): how fast it fell. */
  history: number[];
}

/**
 * Newton until the residual is at most `tolerance` (default 1e-5), reading it back after each iteration; throws
 * ConvergenceError after `maxIterations` (default 50) without reaching it. Differentiable as diagGRU.
 */
export async function solveDiagGRU(
  xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights,
  options: { h0?: Tensor | null; tolerance?: number; maxIterations?: number; guess?: Tensor | null } = {},
): Promise<NewtonSolution> {
  const h0 = options.h0 ?? null;
  const s = checkInputs('solveDiagGRU', xz, xr, xh, weights, h0);
  const tolerance = options.tolerance ?? 1e-5;
  const maxIterations = options.maxIterations ?? 50;
  checkNewtonOptions('solveDiagGRU', maxIterations, tolerance, options.guess, s);
  let h = noGrad(() => (options.guess ? dense(options.guess, copyStrided).mul(1) : diagGRU(xz, xr, xh, weights, { method: 'newton', h0, iterations: 1, guess: null })));
  const history: number[] = [];
  if (!options.guess) history.push(Number.NaN); // the zero guess's residual is not measured: iteration 1 starts there
  let iterations = options.guess ? 0 : 1;
  for (;;) {
    const residual = (await noGrad(() => diagGRUResidual(xz, xr, xh, weights, h, h0)).item());
    history.push(residual);
    if (residual <= tolerance) break;
    if (!Number.isFinite(residual)) {
      h.dispose();
      throw new ConvergenceError(
        `solveDiagGRU: Newton diverged: the residual is ${residual} after ${iterations} iteration${iterations === 1 ? '' : 's'} ` +
          "(Jacobians above 1 compound over the sequence where the cell expands; method 'fused' solves it exactly)",
      );
    }
    if (iterations >= maxIterations) {
      h.dispose();
      throw new ConvergenceError(`solveDiagGRU: Newton's residual ${residual.toExponential(2)} after ${iterations} iterations exceeds the tolerance ${tolerance}`);
    }
    const guess = h;
    h = noGrad(() => diagGRU(xz, xr, xh, weights, { method: 'newton', h0, iterations: 1, guess }));
    guess.dispose();
    iterations++;
  }
  // The solution as a differentiable result: the backward at the solution does not depend on how it was found.
  const solution = isGradEnabled() ? attachBackward(xz, xr, xh, weights, h0, h, s) : h;
  return { h: solution, residual: history[history.length - 1], iterations, history };
}

function attachBackward(xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, h0: Tensor | null, h: Tensor, s: Checked): Tensor {
  const raw = rawOf(xz, xr, xh, weights, h0, s);
  return recordBackward(raw, xz, xr, xh, weights, h0, h);
}

/**
 * One step for decoding: h′ [B, C] and this step's projections [B, C] give the next state [B, C]. One dispatch when
 * no gradient is needed (the fused kernel over one step).
 */
export function diagGRUStep(xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, h: Tensor): Tensor {
  for (const [name, t] of [['xz', xz], ['xr', xr], ['xh', xh], ['h', h]] as const) {
    if (t.rank !== 2) throw new ShapeError(`diagGRUStep: ${name} must be [batch, channels], got ${formatShape(t.shape)}`);
  }
  const [batch, channels] = h.shape;
  const as3 = (t: Tensor) => t.reshape([t.shape[0], 1, t.shape[1]]);
  const out = diagGRU(as3(xz), as3(xr), as3(xh), weights, { method: 'fused', h0: h });
  if (out.shape[0] !== batch || out.shape[2] !== channels) throw new HieroError('internal: diagGRUStep shape');
  return out.reshape([batch, channels]);
}
