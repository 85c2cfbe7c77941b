// Nonlinear diagonal RNNs solved three ways (kernels: shaders/rnn.wgsl, shaders/scan2.wgsl; tests: test/rnn.test.ts;
// bench: bench/rnn.ts; the math: ../shared/design/nonlinear-rnn.md).
//
//   diagGRU(xz, xr, xh, { uz, ur, uh, bz, br, bh }, { method })   ParaRNN's diagonal GRU over [B, T, C] -> h;
//   diagLSTM(xf, xo, xc, { uf, uo, uc, bf, bo, bc }, { method })  its diagonal LSTM-CIFG -> { h, c };
//   each solved by method
//     'fused'      FlashRNN's fused sequential kernel: one dispatch, one invocation per (b, c) walking t;
//     'newton'     ParaRNN / DEER: from a guess (zeros), each iteration linearizes the cell at the guess for every t
//                  in one kernel and solves the linear recurrence with a scan (the gated scan for the GRU's scalar
//                  Jacobian, the 2 x 2 affine scan for the LSTM's (h, c) block); `iterations` of them (3 by default,
//                  as ParaRNN), and with `tolerance` a check on the GPU that the residual after them is within it
//                  (the next read-back throws ConvergenceError otherwise);
//     'sequential' the reference: one dispatch per time step.
//   The backward is the same for all three: the adjoint recurrence λ_t = ∂L/∂s_t + J_{t+1}ᵀ λ_{t+1} as one reverse
//   scan over the Jacobians at the solution, then every gradient per element in one kernel, not backpropagation
//   through the solver.
//   solveDiagGRU / solveDiagLSTM   Newton until a tolerance, reading the residual back after each iteration.
//   diagGRUResidual / diagLSTMResidual   max |s_t − f(s_{t−1}, x_t)| of a candidate (how far from the solution).
//   diagGRUStep / diagLSTMStep     one step for decoding, [B, C].

import { isGradEnabled, noGrad, record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { ConvergenceError, formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { zeros } from './creation.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';
import { max } from './reduce.ts';
import { scanRaw } from './scan.ts';
import { concat } from './views.ts';

/** The diagonal recurrent weights and biases of a diagGRU, each [C]. */
export interface DiagGRUWeights {
  uz: Tensor;
  ur: Tensor;
  uh: Tensor;
  bz: Tensor;
  br: Tensor;
  bh: Tensor;
}

/** The diagonal recurrent weights and biases of a diagLSTM (forget, output, candidate), each [C]. */
export interface DiagLSTMWeights {
  uf: Tensor;
  uo: Tensor;
  uc: Tensor;
  bf: Tensor;
  bo: Tensor;
  bc: Tensor;
}

export type RnnMethod = 'newton' | 'fused' | 'sequential';
export const RNN_METHODS: readonly RnnMethod[] = ['newton', 'fused', 'sequential'];

/** Newton iterations allowed at most in one call. */
export const MAX_NEWTON_ITERATIONS = 1000;

interface SolveOptions {
  /** 'fused' (default), 'newton' or 'sequential': the same sequence, solved three ways. */
  method?: RnnMethod;
  /** Newton: how many iterations (default 3, ParaRNN's). */
  iterations?: number;
  /**
   * Newton: the largest residual |s_t − f(s_{t−1})| accepted after the iterations, checked on the GPU without a
   * read-back: if it is exceeded, the next read-back or sync() throws ConvergenceError.
   */
  tolerance?: number;
}

export interface DiagGRUOptions extends SolveOptions {
  /** The state before the first step, [B, C] (zeros when omitted). */
  h0?: Tensor | null;
  /** Newton: the first guess of every state, [B, T, C] (zeros when omitted; a previous solution is a good one). */
  guess?: Tensor | null;
}

export interface DiagLSTMOptions extends SolveOptions {
  /** The states before the first step, [B, C] each (zeros when omitted). */
  h0?: Tensor | null;
  c0?: Tensor | null;
  /** Newton: the first guess (a previous call's result; zeros when omitted). */
  guess?: { h: Tensor; c: Tensor } | null;
}

/** Everything that differs between the two cells. */
interface CellKind {
  op: 'diagGRU' | 'diagLSTM';
  /** The kernels' prefix in shaders/rnn.wgsl. */
  prefix: 'gru' | 'lstm';
  projections: readonly [string, string, string];
  weights: readonly string[];
  /** State values per channel: h, or (h, c). */
  width: 1 | 2;
}

const GRU: CellKind = { op: 'diagGRU', prefix: 'gru', projections: ['xz', 'xr', 'xh'], weights: ['uz', 'ur', 'uh', 'bz', 'br', 'bh'], width: 1 };
const LSTM: CellKind = { op: 'diagLSTM', prefix: 'lstm', projections: ['xf', 'xo', 'xc'], weights: ['uf', 'uo', 'uc', 'bf', 'bo', 'bc'], width: 2 };

interface Checked {
  batch: number;
  steps: number;
  channels: number;
}

type WeightSet = Record<string, Tensor>;

function checkInputs(op: string, kind: CellKind, xs: readonly Tensor[], weights: WeightSet, starts: readonly (Tensor | null | undefined)[]): Checked {
  const names = kind.projections;
  xs.forEach((t, k) => {
    t.assertDType(`${op} ${names[k]}`, 'f32');
    if (t.rank !== 3) throw new ShapeError(`${op}: ${names[k]} must be [batch, steps, channels], got ${formatShape(t.shape)}`);
  });
  const [batch, steps, channels] = xs[0].shape;
  xs.forEach((t, k) => {
    if (t.shape.join() !== xs[0].shape.join()) throw new ShapeError(`${op}: ${names[k]} is ${formatShape(t.shape)}, ${names[0]} is ${formatShape(xs[0].shape)}; the three projections must match`);
  });
  const list = kind.weights.join(', ');
  if (!weights || typeof weights !== 'object') throw new ShapeError(`${op}: weights must be { ${list} }`);
  for (const name of kind.weights) {
    const w = weights[name];
    if (!w) throw new ShapeError(`${op}: weights.${name} is missing (weights must be { ${list} }, each [${channels}])`);
    w.assertDType(`${op} weights.${name}`, 'f32');
    if (w.rank !== 1 || w.shape[0] !== channels) throw new ShapeError(`${op}: weights.${name} must be [${channels}], got ${formatShape(w.shape)}`);
  }
  starts.forEach((t, k) => {
    if (!t) return;
    const name = k === 0 ? 'h0' : 'c0';
    t.assertDType(`${op} ${name}`, 'f32');
    if (t.shape.join() !== [batch, channels].join()) throw new ShapeError(`${op}: ${name} must be ${formatShape([batch, channels])}, got ${formatShape(t.shape)}`);
  });
  return { batch, steps, channels };
}

function checkNewtonOptions(op: string, iterations: number, tolerance: number | undefined): void {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_NEWTON_ITERATIONS) {
    throw new ShapeError(`${op}: iterations must be an integer from 1 to ${MAX_NEWTON_ITERATIONS}, got ${iterations}`);
  }
  if (tolerance !== undefined && !(tolerance > 0 && Number.isFinite(tolerance))) throw new ShapeError(`${op}: tolerance must be a positive number, got ${tolerance}`);
}

function uniformsOf(s: Checked, step = 0): ArrayBuffer {
  return new Uniforms().u32(s.batch).u32(s.steps).u32(s.channels).u32(step).build();
}

/** What the kernels read: dense projections, the weights then the initial state packed in aux, and that state alone. */
interface Raw {
  kind: CellKind;
  s: Checked;
  xs: [Tensor, Tensor, Tensor];
  aux: Tensor;
  /** The initial state, dense: [B, C] (GRU) or [2, B, C] (LSTM); null for zeros. */
  start: Tensor | null;
}

/** The shape of a cell's packed states (and of its Newton input): [B, T, C], or [2, B, T, C] for (h, c). */
const statesShape = (raw: Raw): number[] => (raw.kind.width === 1 ? [raw.s.batch, raw.s.steps, raw.s.channels] : [2, raw.s.batch, raw.s.steps, raw.s.channels]);

function rawOf(kind: CellKind, xs: readonly Tensor[], weights: WeightSet, starts: readonly (Tensor | null)[], s: Checked): Raw {
  const C = s.channels;
  const given = starts.some((t) => t);
  const start = !given ? null : kind.width === 1 ? dense(starts[0]!, copyStrided)
    : noGrad(() => concat(starts.map((t) => (t ?? zeros([s.batch, C])).reshape([1, s.batch, C])), 0));
  const aux = empty([6 * C + (start ? start.size : 0)], 'f32', `${kind.op} weights`);
  kind.weights.forEach((name, k) => copyStrided(weights[name], { target: aux, strides: [1], offset: k * C }));
  if (start) copyStrided(start, { target: aux, strides: start.rank === 2 ? [C, 1] : [s.batch * C, C, 1], offset: 6 * C });
  return { kind, s, xs: xs.map((t) => dense(t, copyStrided)) as [Tensor, Tensor, Tensor], aux, start };
}

function releaseRaw(raw: Raw, originals: readonly (Tensor | null)[]): void {
  raw.xs.forEach((t, k) => { if (t !== originals[k]) t.dispose(); });
  raw.aux.dispose();
  if (raw.start && raw.start !== originals[3]) raw.start.dispose();
}

const elements = (s: Checked) => s.batch * s.steps * s.channels;

/** The Jacobians and f − J·s′ at a guess (and the residual |guess − f| where asked): one Newton linearization. */
function linearize(raw: Raw, states: Tensor, residual: boolean): { gate: Tensor; input: Tensor; residual: Tensor | null } {
  const { s, kind } = raw;
  const shape = [s.batch, s.steps, s.channels];
  const gate = empty(kind.width === 1 ? shape : [4, ...shape], 'f32', `${kind.op} jacobian`);
  const input = empty(statesShape(raw), 'f32', `${kind.op} linearized`);
  const res = residual ? empty(shape, 'f32', `${kind.op} residual`) : null;
  launch({
    family: 'rnn', entry: `${kind.prefix}_linearize`, label: `${kind.op} linearize`, uniforms: uniformsOf(s),
    overrides: { WG: 64, HAS_H0: raw.start !== null, RESIDUAL: residual },
    outputs: [gate, input, res], inputs: [...raw.xs, states, raw.aux],
    workgroups: runtime().grid(elements(s), 64, `${kind.op} linearize`),
  });
  return { gate, input, residual: res };
}

/** Chunk of the 2 x 2 scan: about √T, so its two sequential walks are each about √T steps. */
const scan2Chunk = (steps: number) => Math.max(16, Math.ceil(Math.sqrt(steps)));

/** s_t = A_t s_{t−1} + v_t for the packed 2 x 2 maps (shaders/scan2.wgsl); reversed: the adjoint recurrence. */
function scan2(s: Checked, gate: Tensor, input: Tensor, start: Tensor | null, reverse: boolean, label: string): Tensor {
  const rt = runtime();
  const chunk = scan2Chunk(s.steps);
  const chunks = Math.ceil(s.steps / chunk);
  const uniforms = new Uniforms().u32(s.batch).u32(s.steps).u32(s.channels).u32(chunks).build();
  const out = empty([2, s.batch, s.steps, s.channels], 'f32', label);
  const sequences = s.batch * s.channels;
  const aggregates = empty([6, sequences * chunks], 'f32', label);
  const carries = empty([2, sequences * chunks], 'f32', label);
  const overrides = { WG: 64, CHUNK: chunk, REVERSE: reverse, HAS_S0: start !== null };
  const buffers = { outputs: [out, aggregates, carries], inputs: [gate, input, start] };
  launch({ family: 'scan2', entry: 'scan2_reduce', label: `${label} reduce`, uniforms, overrides, ...buffers, workgroups: rt.grid(sequences * chunks, 64, label) });
  launch({ family: 'scan2', entry: 'scan2_carry', label: `${label} carry`, uniforms, overrides, ...buffers, workgroups: rt.grid(sequences, 64, label) });
  launch({ family: 'scan2', entry: 'scan2_apply', label, uniforms, overrides, ...buffers, workgroups: rt.grid(sequences * chunks, 64, label) });
  aggregates.dispose();
  carries.dispose();
  return out;
}

/** The linear recurrence of one Newton step, solved. */
function solveLinear(raw: Raw, gate: Tensor, input: Tensor): Tensor {
  const { s, kind } = raw;
  if (kind.width === 2) return scan2(s, gate, input, raw.start, false, `${kind.op} newton`);
  return scanRaw({ batch: s.batch, steps: s.steps, channels: s.channels, gate, input, h0: raw.start, label: `${kind.op} newton` });
}

function solveNewton(raw: Raw, guess: Tensor | null, iterations: number, tolerance: number | undefined): Tensor {
  let states = guess ?? zeros(statesShape(raw));
  for (let i = 0; i < iterations; i++) {
    const { gate, input } = linearize(raw, states, false);
    const next = solveLinear(raw, gate, input);
    gate.dispose();
    input.dispose();
    if (states !== guess) states.dispose();
    states = next;
  }
  if (tolerance !== undefined) {
    const { gate, input, residual } = linearize(raw, states, true);
    checkResidual(raw, residual!, tolerance, iterations);
    for (const t of [gate, input, residual!]) t.dispose();
  }
  return states;
}

/** One dispatch for the whole sequence ('fused'), or one per step ('sequential'). */
function solveWalking(raw: Raw, method: 'fused' | 'sequential'): Tensor {
  const { s, kind } = raw;
  const states = empty(statesShape(raw), 'f32', kind.op);
  const launchStep = (entry: string, step: number) => launch({
    family: 'rnn', entry, label: `${kind.op} ${method}`, uniforms: uniformsOf(s, step), overrides: { WG: 64, HAS_H0: raw.start !== null },
    outputs: [states, null, null], inputs: [...raw.xs, null, raw.aux], workgroups: runtime().grid(s.batch * s.channels, 64, `${kind.op} ${method}`),
  });
  if (method === 'fused') launchStep(`${kind.prefix}_fused`, 0);
  else for (let t = 0; t < s.steps; t++) launchStep(`${kind.prefix}_step`, t);
  return states;
}

/** A flag the runtime reports as ConvergenceError when a residual above `tolerance` was met. */
function checkResidual(raw: Raw, residual: Tensor, tolerance: number, iterations: number): void {
  const rt = runtime();
  const op = raw.kind.op;
  const flag = rt.gpuAssertion(
    `${op} newton ${tolerance} ${iterations}`,
    (bits) => `${op}: Newton's residual ${new Float32Array(new Uint32Array([bits]).buffer)[0].toExponential(2)} after ${iterations} iteration${iterations === 1 ? '' : 's'} exceeds the tolerance ${tolerance} (more iterations, a better guess, or method 'fused')`,
    0, ConvergenceError,
  );
  launch({
    family: 'rnn', entry: 'rnn_residual_check', label: `${op} residual check`, uniforms: uniformsOf(raw.s),
    overrides: { WG: 64, TOLERANCE: tolerance }, outputs: [flag, null, null], inputs: [residual, null, null, null, null],
    workgroups: rt.grid(residual.size, 64, `${op} residual check`),
  });
}

/** The states of a solved sequence, differentiable in every projection, weight and initial state. */
function recordBackward(raw: Raw, xs: readonly Tensor[], weights: WeightSet, starts: readonly (Tensor | null)[], states: Tensor): Tensor {
  const { s, kind } = raw;
  const C = s.channels;
  const inputs = [...xs, ...kind.weights.map((n) => weights[n]), ...starts];
  // The LSTM's recorded output is h, the first half of its packed (h, c).
  const output = kind.width === 1 ? states : states.slice([[0, 1]]).reshape([s.batch, s.steps, C]);
  const result = record(kind.op, inputs, output, (dh, saved) => {
    const [sx0, sx1, sx2, aux, ss] = saved;
    const saw: Raw = { kind, s, xs: [sx0, sx1, sx2], aux, start: raw.start };
    const { gate, input } = linearize(saw, ss, false);
    input.dispose();
    const dhd = dense(dh, copyStrided);
    let lambda: Tensor;
    if (kind.width === 1) {
      // λ_t = dh_t + J_{t+1} λ_{t+1}: the scan reversed, its gates shifted by one step (as scan's own backward).
      lambda = scanRaw({ batch: s.batch, steps: s.steps, channels: C, gate, input: dhd, h0: null, reverse: true, shiftGates: true, label: `${kind.op} adjoint` });
    } else {
      // λ_t = (dh_t, 0) + A_{t+1}ᵀ λ_{t+1}: the 2 x 2 scan reversed and transposed.
      const seed = concat([dhd.reshape([1, s.batch, s.steps, C]), zeros([1, s.batch, s.steps, C])], 0);
      lambda = scan2(s, gate, seed, null, true, `${kind.op} adjoint`);
      seed.dispose();
    }
    if (dhd !== dh) dhd.dispose();
    const n = elements(s);
    const dx = empty([3, s.batch, s.steps, C], 'f32', `${kind.op} backward`);
    const products = empty([3, s.batch * s.steps, C], 'f32', `${kind.op} backward`);
    launch({
      family: 'rnn', entry: `${kind.prefix}_backward`, label: `${kind.op} backward`, uniforms: uniformsOf(s), overrides: { WG: 64, HAS_H0: raw.start !== null },
      outputs: [dx, products, lambda], inputs: [sx0, sx1, sx2, ss, aux], workgroups: runtime().grid(n, 64, `${kind.op} backward`),
    });
    const grads: (Tensor | null)[] = [0, 1, 2].map((k) => (inputs[k]!.requiresGrad ? dx.slice([[k, k + 1]]).reshape([s.batch, s.steps, C]) : null));
    if (kind.weights.some((name) => weights[name].requiresGrad)) {
      // Σ over b and t: the products give the recurrent weights, the projections' gradients the biases.
      const weightSums = products.sum(1); // [3, C]
      const biasSums = dx.reshape([3, s.batch * s.steps, C]).sum(1);
      kind.weights.forEach((name, k) => {
        const source = k < 3 ? weightSums : biasSums;
        grads.push(weights[name].requiresGrad ? source.slice([[k % 3, (k % 3) + 1]]).reshape([C]) : null);
      });
      weightSums.dispose();
      biasSums.dispose();
    } else grads.push(...kind.weights.map(() => null));
    // ∂L/∂s0 = J_1ᵀ λ_1.
    const first = (t: Tensor, lead: number) => t.slice([...Array(lead).fill(null), null, [0, 1], null]);
    if (kind.width === 1) {
      grads.push(starts[0]?.requiresGrad ? first(gate, 0).mul(first(lambda, 0)).reshape([s.batch, C]) : null);
    } else {
      const part = (t: Tensor, k: number) => first(t, 1).slice([[k, k + 1]]).reshape([s.batch, C]);
      const [a11, a12, a21, a22] = [0, 1, 2, 3].map((k) => part(gate, k));
      const [lh, lc] = [part(lambda, 0), part(lambda, 1)];
      grads.push(starts[0]?.requiresGrad ? a11.mul(lh).add(a21.mul(lc)) : null);
      grads.push(starts[1]?.requiresGrad ? a12.mul(lh).add(a22.mul(lc)) : null);
      for (const t of [a11, a12, a21, a22, lh, lc]) t.dispose();
    }
    for (const t of [gate, lambda, dx, products]) t.dispose();
    return grads;
  }, [...raw.xs, raw.aux, states]);
  return result;
}

function solve(kind: CellKind, xs: readonly Tensor[], weights: WeightSet, starts: readonly (Tensor | null)[], options: SolveOptions, guess: Tensor | null, s: Checked): Tensor {
  const method = options.method ?? 'fused';
  const raw = rawOf(kind, xs, weights, starts, s);
  const states = method === 'newton' ? solveNewton(raw, guess, options.iterations ?? 3, options.tolerance) : solveWalking(raw, method);
  const out = recordBackward(raw, xs, weights, starts, states);
  if (out !== states) states.dispose();
  releaseRaw(raw, [...xs, kind.width === 1 ? starts[0] : null]);
  return out;
}

function checkOptions(op: string, options: SolveOptions): void {
  const method = options.method ?? 'fused';
  if (!RNN_METHODS.includes(method)) throw new ShapeError(`${op}: method must be one of ${RNN_METHODS.join(', ')}, got '${String(method)}'`);
  if (method === 'newton') checkNewtonOptions(op, options.iterations ?? 3, options.tolerance);
}

function checkGuess(op: string, guess: Tensor, s: Checked, name = 'guess'): void {
  guess.assertDType(`${op} ${name}`, 'f32');
  if (guess.shape.join() !== [s.batch, s.steps, s.channels].join()) throw new ShapeError(`${op}: ${name} must be ${formatShape([s.batch, s.steps, s.channels])}, got ${formatShape(guess.shape)}`);
}

/**
 * ParaRNN's diagonal GRU over xz, xr, xh [B, T, C] with the diagonal weights { uz, ur, uh, bz, br, bh } ([C] each):
 * all the states h [B, T, C]. Differentiable in every input (the adjoint recurrence at the solution).
 */
export function diagGRU(xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, options: DiagGRUOptions = {}): Tensor {
  checkOptions('diagGRU', options);
  const starts = [options.h0 ?? null];
  const s = checkInputs('diagGRU', GRU, [xz, xr, xh], weights as unknown as WeightSet, starts);
  if (options.guess) checkGuess('diagGRU', options.guess, s);
  if (elements(s) === 0) return empty([s.batch, s.steps, s.channels], 'f32', 'diagGRU');
  const guess = options.method === 'newton' && options.guess ? dense(options.guess, copyStrided) : null;
  const h = solve(GRU, [xz, xr, xh], weights as unknown as WeightSet, starts, options, guess, s);
  if (guess && guess !== options.guess) guess.dispose();
  return h;
}

/**
 * ParaRNN's diagonal LSTM-CIFG over xf, xo, xc [B, T, C] (forget, output and candidate projections; the input gate
 * is 1 − f) with the diagonal weights { uf, uo, uc, bf, bo, bc }: the states h and the cell states c, [B, T, C] each.
 * Differentiable through h in every input; c carries no gradient (it is returned for decoding and state passing).
 */
export function diagLSTM(xf: Tensor, xo: Tensor, xc: Tensor, weights: DiagLSTMWeights, options: DiagLSTMOptions = {}): { h: Tensor; c: Tensor } {
  checkOptions('diagLSTM', options);
  const starts = [options.h0 ?? null, options.c0 ?? null];
  const s = checkInputs('diagLSTM', LSTM, [xf, xo, xc], weights as unknown as WeightSet, starts);
  if (options.guess) {
    checkGuess('diagLSTM', options.guess.h, s, 'guess.h');
    checkGuess('diagLSTM', options.guess.c, s, 'guess.c');
  }
  if (elements(s) === 0) return { h: empty([s.batch, s.steps, s.channels], 'f32', 'diagLSTM'), c: empty([s.batch, s.steps, s.channels], 'f32', 'diagLSTM') };
  const guess = options.method === 'newton' && options.guess ? packPair(options.guess.h, options.guess.c, s) : null;
  const states = solveStates(LSTM, [xf, xo, xc], weights as unknown as WeightSet, starts, options, guess, s);
  guess?.dispose();
  return states;
}

const packPair = (h: Tensor, c: Tensor, s: Checked) => noGrad(() => concat([h.reshape([1, s.batch, s.steps, s.channels]), c.reshape([1, s.batch, s.steps, s.channels])], 0));

/** The LSTM's h (recorded) and c (detached) from its packed states. */
function solveStates(kind: CellKind, xs: readonly Tensor[], weights: WeightSet, starts: readonly (Tensor | null)[], options: SolveOptions, guess: Tensor | null, s: Checked): { h: Tensor; c: Tensor } {
  const method = options.method ?? 'fused';
  const raw = rawOf(kind, xs, weights, starts, s);
  const states = method === 'newton' ? solveNewton(raw, guess, options.iterations ?? 3, options.tolerance) : solveWalking(raw, method);
  const h = recordBackward(raw, xs, weights, starts, states);
  const c = states.slice([[1, 2]]).reshape([s.batch, s.steps, s.channels]);
  states.dispose();
  releaseRaw(raw, [...xs, null]);
  return { h, c };
}

/** max over every state of |s_t − f(s_{t−1}, x_t)|: 0 for the exact solution (a scalar tensor). */
function residualOf(kind: CellKind, xs: readonly Tensor[], weights: WeightSet, starts: readonly (Tensor | null)[], states: Tensor, s: Checked): Tensor {
  return noGrad(() => {
    const raw = rawOf(kind, xs, weights, starts, s);
    const { gate, input, residual } = linearize(raw, states, true);
    const worst = max(residual!);
    for (const t of [gate, input, residual!]) t.dispose();
    releaseRaw(raw, [...xs, kind.width === 1 ? starts[0] : null]);
    return worst;
  });
}

/** max over every state of |h_t − f(h_{t−1}, x_t)| for a candidate h [B, T, C]: 0 for the exact solution. */
export function diagGRUResidual(xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, h: Tensor, h0: Tensor | null = null): Tensor {
  const s = checkInputs('diagGRUResidual', GRU, [xz, xr, xh], weights as unknown as WeightSet, [h0]);
  checkGuess('diagGRUResidual', h, s, 'h');
  const hd = dense(h, copyStrided);
  const r = residualOf(GRU, [xz, xr, xh], weights as unknown as WeightSet, [h0], hd, s);
  if (hd !== h) hd.dispose();
  return r;
}

/** The same for a candidate (h, c) of diagLSTM: max of both residuals. */
export function diagLSTMResidual(xf: Tensor, xo: Tensor, xc: Tensor, weights: DiagLSTMWeights, states: { h: Tensor; c: Tensor }, starts: { h0?: Tensor | null; c0?: Tensor | null } = {}): Tensor {
  const pair = [starts.h0 ?? null, starts.c0 ?? null];
  const s = checkInputs('diagLSTMResidual', LSTM, [xf, xo, xc], weights as unknown as WeightSet, pair);
  checkGuess('diagLSTMResidual', states.h, s, 'h');
  checkGuess('diagLSTMResidual', states.c, s, 'c');
  const packed = packPair(states.h, states.c, s);
  const r = residualOf(LSTM, [xf, xo, xc], weights as unknown as WeightSet, pair, packed, s);
  packed.dispose();
  return r;
}

export interface NewtonSolution<S> {
  /** The solution: h (GRU) or { h, c } (LSTM), differentiable as the op's result. */
  states: S;
  /** max |s_t − f(s_{t−1})| of the returned states. */
  residual: number;
  /** Newton iterations taken. */
  iterations: number;
  /** The residual after each iteration (from the first): how fast it fell. */
  history: number[];
}

/** Newton one iteration at a time, the residual read back after each, until `tolerance` or a named failure. */
async function iterate<S>(
  op: string, tolerance: number, maxIterations: number,
  step: (guess: S | null) => S, residual: (states: S) => Tensor, release: (states: S) => void, finish: (states: S) => S,
): Promise<NewtonSolution<S>> {
  checkNewtonOptions(op, maxIterations, tolerance);
  const history: number[] = [];
  let states = noGrad(() => step(null));
  let iterations = 1;
  for (;;) {
    const r = await residual(states).item();
    history.push(r);
    if (r <= tolerance) break;
    if (!Number.isFinite(r)) {
      release(states);
      throw new ConvergenceError(
        `${op}: Newton diverged: the residual is ${r} after ${iterations} iteration${iterations === 1 ? '' : 's'} ` +
          "(Jacobians above 1 compound over the sequence where the cell expands; method 'fused' solves it exactly)",
      );
    }
    if (iterations >= maxIterations) {
      release(states);
      throw new ConvergenceError(`${op}: Newton's residual ${r.toExponential(2)} after ${iterations} iterations exceeds the tolerance ${tolerance}`);
    }
    const previous = states;
    states = noGrad(() => step(previous));
    release(previous);
    iterations++;
  }
  // The solution as a differentiable result: the backward at the solution does not depend on how it was found.
  return { states: isGradEnabled() ? finish(states) : states, residual: history[history.length - 1], iterations, history };
}

/**
 * diagGRU by Newton until the residual is at most `tolerance` (default 1e-5), reading it back after each iteration;
 * throws ConvergenceError after `maxIterations` (default 50) without reaching it, or when the iteration diverges.
 */
export async function solveDiagGRU(
  xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights,
  options: { h0?: Tensor | null; tolerance?: number; maxIterations?: number; guess?: Tensor | null } = {},
): Promise<NewtonSolution<Tensor>> {
  const h0 = options.h0 ?? null;
  const s = checkInputs('solveDiagGRU', GRU, [xz, xr, xh], weights as unknown as WeightSet, [h0]);
  let first = options.guess ?? null;
  return iterate<Tensor>(
    'solveDiagGRU', options.tolerance ?? 1e-5, options.maxIterations ?? 50,
    (guess) => {
      const g = guess ?? first;
      first = null;
      return diagGRU(xz, xr, xh, weights, { method: 'newton', h0, iterations: 1, guess: g });
    },
    (h) => diagGRUResidual(xz, xr, xh, weights, h, h0),
    (h) => h.dispose(),
    (h) => {
      const raw = rawOf(GRU, [xz, xr, xh], weights as unknown as WeightSet, [h0], s);
      const out = recordBackward(raw, [xz, xr, xh], weights as unknown as WeightSet, [h0], h);
      releaseRaw(raw, [xz, xr, xh, h0]);
      return out;
    },
  );
}

/** diagLSTM by Newton to a tolerance, as solveDiagGRU. */
export async function solveDiagLSTM(
  xf: Tensor, xo: Tensor, xc: Tensor, weights: DiagLSTMWeights,
  options: { h0?: Tensor | null; c0?: Tensor | null; tolerance?: number; maxIterations?: number; guess?: { h: Tensor; c: Tensor } | null } = {},
): Promise<NewtonSolution<{ h: Tensor; c: Tensor }>> {
  const starts = [options.h0 ?? null, options.c0 ?? null];
  const s = checkInputs('solveDiagLSTM', LSTM, [xf, xo, xc], weights as unknown as WeightSet, starts);
  let first = options.guess ?? null;
  return iterate<{ h: Tensor; c: Tensor }>(
    'solveDiagLSTM', options.tolerance ?? 1e-5, options.maxIterations ?? 50,
    (guess) => {
      const g = guess ?? first;
      first = null;
      return diagLSTM(xf, xo, xc, weights, { method: 'newton', h0: starts[0], c0: starts[1], iterations: 1, guess: g });
    },
    (st) => diagLSTMResidual(xf, xo, xc, weights, st, { h0: starts[0], c0: starts[1] }),
    (st) => { st.h.dispose(); st.c.dispose(); },
    (st) => {
      const packed = packPair(st.h, st.c, s);
      const raw = rawOf(LSTM, [xf, xo, xc], weights as unknown as WeightSet, starts, s);
      const h = recordBackward(raw, [xf, xo, xc], weights as unknown as WeightSet, starts, packed);
      packed.dispose();
      releaseRaw(raw, [xf, xo, xc, null]);
      st.h.dispose();
      return { h, c: st.c };
    },
  );
}

const asSequence = (op: string, names: readonly string[], ts: readonly Tensor[]): Tensor[] =>
  ts.map((t, k) => {
    if (t.rank !== 2) throw new ShapeError(`${op}: ${names[k]} must be [batch, channels], got ${formatShape(t.shape)}`);
    return t.reshape([t.shape[0], 1, t.shape[1]]);
  });

/** One GRU step for decoding: this step's projections [B, C] and h′ [B, C] give the next h [B, C] (one dispatch). */
export function diagGRUStep(xz: Tensor, xr: Tensor, xh: Tensor, weights: DiagGRUWeights, h: Tensor): Tensor {
  const [z, r, x, prev] = asSequence('diagGRUStep', ['xz', 'xr', 'xh', 'h'], [xz, xr, xh, h]);
  prev.dispose();
  const out = diagGRU(z, r, x, weights, { method: 'fused', h0: h });
  return out.reshape([h.shape[0], h.shape[1]]);
}

/** One LSTM step for decoding: the projections and (h′, c′) [B, C] give the next (h, c) (one dispatch). */
export function diagLSTMStep(xf: Tensor, xo: Tensor, xc: Tensor, weights: DiagLSTMWeights, state: { h: Tensor; c: Tensor }): { h: Tensor; c: Tensor } {
  const [f, o, x, prevH, prevC] = asSequence('diagLSTMStep', ['xf', 'xo', 'xc', 'h', 'c'], [xf, xo, xc, state.h, state.c]);
  prevH.dispose();
  prevC.dispose();
  const out = diagLSTM(f, o, x, weights, { method: 'fused', h0: state.h, c0: state.c });
  const [B, C] = state.h.shape;
  return { h: out.h.reshape([B, C]), c: out.c.reshape([B, C]) };
}
