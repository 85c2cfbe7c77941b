// Gated linear attention (kernels: shaders/gla.wgsl; tests: test/gla.test.ts; the math: ../shared/design/gla.md):
// the recurrence with a matrix state per head that HGRN2, GLA, RetNet, Mamba-2 and GateLoop share,
//   S_t = diag(exp g_t) · S_{t−1} + k_tᵀ v_t,    o_t = scale · q_t S_t,
// computed in chunks of `chunk` steps: a pass over chunk boundaries for the states, an intra-chunk block for the
// outputs; the backward recomputes the chunk states instead of keeping one per step (memory O(T/C · K · V)).

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, LimitError, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { scope, type Tensor } from '../tensor.ts';
import { add, copyStrided, exp, mul } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';
import { sum, sumAxes } from './reduce.ts';
import { expand, reshape, slice } from './views.ts';

/**
 * The default chunk: 8 on CPU drivers, where each output's intra-chunk loop is the cost (measured on SwiftShader,
 * B 16, T 64, H 4, K = V = 16, forward and backward with the element kernels: 8 → 479 ms, 16 → 597 ms, 32 → 1016 ms,
 * 64 → 1804 ms; with the row kernels, B 8, T 128, chunks of 4 to 16 were within the run's noise of each other and 32
 * slower); 16 on GPUs, where longer chunks shorten the sequential pass over chunk states (not yet measured on a GPU).
 */
export function glaChunk(): number {
  return runtime().report.software ? 8 : 16;
}

/** 'element': one invocation per output element (GPUs); 'row': one per (b, t, h) row (CPU drivers). */
export type GlaKernel = 'element' | 'row';
let chosenKernel: GlaKernel | null = null;

/** Forces one variant of the output and dq kernels (null: per adapter). */
export function setGlaKernel(kernel: GlaKernel | null): void {
  chosenKernel = kernel;
}

/**
 * The variant used: forced, else 'row' on CPU drivers (measured on SwiftShader, B 8, T 128, H 4, K = V = 16: forward
 * 86 against 318 ms, forward and backward 339 against 815 ms; B 1, T 1024, H 4, K = V = 32: 340 against 1057 ms and
 * 1232 against 2538 ms) and
 * 'element' on GPUs, where a row's serial loop over its V (or K) outputs would leave most lanes idle (not yet
 * measured on a GPU).
 */
export function getGlaKernel(): GlaKernel {
  return chosenKernel ?? (runtime().report.software ? 'row' : 'element');
}

/** The widest key or value dimension the kernels hold in private arrays (shaders/gla.wgsl, MAX_DIM). */
export const GLA_MAX_DIM = 128;
const WG = 64;

export interface GatedLinearAttentionOptions {
  /** Multiplies the output (default 1; attention-style models use K^-1/2). */
  scale?: number;
  /** The state before the first step, [B, H, K, V] (default zeros); its gradient is computed when it requires one. */
  initialState?: Tensor | null;
  /** Steps per chunk (default: per adapter, glaChunk()). */
  chunk?: number;
  /** Also return the state after the last step (then the result is { output, finalState }). */
  returnFinalState?: boolean;
}

export interface GatedLinearAttentionResult {
  /** [B, T, H, V] */
  output: Tensor;
  /** The state after the last step, [B, H, K, V], without gradient (for decoding on, or the next window). */
  finalState: Tensor;
}

/**
 * q, k [B, T, H, K], v [B, T, H, V] and log forget gates g ≤ 0, per key channel [B, T, H, K] (GLA, HGRN2) or per
 * head [B, T, H] (Mamba-2, simple GLA; RetNet's fixed decay is a constant g) -> the output [B, T, H, V], or with
 * `returnFinalState` { output, finalState }. Gradients reach q, k, v, g and the initial state.
 */
export function gatedLinearAttention(q: Tensor, k: Tensor, v: Tensor, g: Tensor, options?: GatedLinearAttentionOptions & { returnFinalState?: false }): Tensor;
export function gatedLinearAttention(q: Tensor, k: Tensor, v: Tensor, g: Tensor, options: GatedLinearAttentionOptions & { returnFinalState: true }): GatedLinearAttentionResult;
export function gatedLinearAttention(q: Tensor, k: Tensor, v: Tensor, g: Tensor, options: GatedLinearAttentionOptions = {}): Tensor | GatedLinearAttentionResult {
  for (const [name, t] of [['q', q], ['k', k], ['v', v], ['g', g]] as const) t.assertDType(`gatedLinearAttention ${name}`, 'f32');
  if (q.rank !== 4) throw new ShapeError(`gatedLinearAttention: q must be [batch, steps, heads, keyDim], got ${formatShape(q.shape)}`);
  const [batch, steps, heads, keyDim] = q.shape;
  if (k.shape.join() !== q.shape.join()) throw new ShapeError(`gatedLinearAttention: k must have q's shape ${formatShape(q.shape)}, got ${formatShape(k.shape)}`);
  if (v.rank !== 4 || v.shape[0] !== batch || v.shape[1] !== steps || v.shape[2] !== heads) {
    throw new ShapeError(`gatedLinearAttention: v must be [${batch}, ${steps}, ${heads}, valueDim], got ${formatShape(v.shape)}`);
  }
  const valueDim = v.shape[3];
  const perHead = g.rank === 3;
  if (!(perHead ? g.shape.join() === [batch, steps, heads].join() : g.shape.join() === q.shape.join())) {
    throw new ShapeError(`gatedLinearAttention: g must be [${batch}, ${steps}, ${heads}, ${keyDim}] (per key channel) or [${batch}, ${steps}, ${heads}] (per head), got ${formatShape(g.shape)}`);
  }
  if (keyDim > GLA_MAX_DIM || valueDim > GLA_MAX_DIM) {
    throw new LimitError(`gatedLinearAttention: key and value dimensions are at most ${GLA_MAX_DIM} per head, got K = ${keyDim}, V = ${valueDim} (use more heads)`);
  }
  const h0 = options.initialState ?? null;
  if (h0) {
    h0.assertDType('gatedLinearAttention initialState', 'f32');
    if (h0.shape.join() !== [batch, heads, keyDim, valueDim].join()) throw new ShapeError(`gatedLinearAttention: initialState must be [${batch}, ${heads}, ${keyDim}, ${valueDim}], got ${formatShape(h0.shape)}`);
  }
  const chunk = options.chunk ?? glaChunk();
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > 1024) throw new ShapeError(`gatedLinearAttention: chunk must be a whole number from 1 to 1024, got ${chunk}`);
  const scale = options.scale ?? 1;
  const rt = runtime();
  const chunks = Math.max(1, Math.ceil(steps / chunk));
  const uniforms = new Uniforms().u32(batch).u32(steps).u32(heads).u32(keyDim).u32(valueDim).u32(chunk).u32(chunks).f32(scale).build();
  // A per-head gate is the per-channel gate broadcast over K (its gradient sums over K).
  const gFull = perHead ? expand(reshape(g, [batch, steps, heads, 1]), [batch, steps, heads, keyDim]) : g;
  const [qd, kd, vd, gd] = [q, k, v, gFull].map((t) => dense(t, copyStrided));
  const h0d = h0 ? dense(h0, copyStrided) : null;
  const stateShape = [batch, heads, chunks + 1, keyDim, valueDim];
  const entries = batch * heads * keyDim * valueDim;
  const chunkStates = (ks: Tensor, vs: Tensor, gs: Tensor, initial: Tensor | null): Tensor => {
    const states = empty(stateShape, 'f32', 'gatedLinearAttention states');
    launch({
      family: 'gla', entry: 'gla_states', label: 'gatedLinearAttention states', uniforms, overrides: { WG, HAS_INITIAL: initial !== null },
      outputs: [states, null], inputs: [ks, vs, gs, initial, null, null], workgroups: rt.grid(entries, WG, 'gatedLinearAttention states'),
    });
    return states;
  };
  const states = chunkStates(kd, vd, gd, h0d);
  const output = empty([batch, steps, heads, valueDim], 'f32', 'gatedLinearAttention');
  const byRow = getGlaKernel() === 'row';
  launch({
    family: 'gla', entry: byRow ? 'gla_output_row' : 'gla_output', label: 'gatedLinearAttention', uniforms, overrides: { WG },
    outputs: [output, null], inputs: [qd, kd, vd, gd, states, null], workgroups: rt.grid(batch * steps * heads * (byRow ? 1 : valueDim), WG, 'gatedLinearAttention'),
  });
  let final: Tensor | null = null;
  if (options.returnFinalState) {
    const last = slice(states, [null, null, chunks]).contiguous();
    final = reshape(last, [batch, heads, keyDim, valueDim]);
    last.dispose();
  }
  states.dispose();

  const result = record('gatedLinearAttention', [q, k, v, g, h0], output, (grad, [qs, ks, vs, gs, h0s]) => {
    const dO = dense(grad, copyStrided);
    const recomputed = chunkStates(ks, vs, gs, h0s ?? null);
    const dstates = empty(stateShape, 'f32', 'gatedLinearAttention backward');
    launch({
      family: 'gla', entry: 'gla_dstates', label: 'gatedLinearAttention backward', uniforms, overrides: { WG },
      outputs: [dstates, null], inputs: [qs, gs, dO, null, null, null], workgroups: rt.grid(entries, WG, 'gatedLinearAttention backward'),
    });
    const rows = batch * steps * heads;
    const dq = empty(q.shape, 'f32', 'gatedLinearAttention dq');
    launch({
      family: 'gla', entry: byRow ? 'gla_dq_row' : 'gla_dq', label: 'gatedLinearAttention dq', uniforms, overrides: { WG },
      outputs: [dq, null], inputs: [ks, vs, gs, dO, recomputed, null], workgroups: rt.grid(rows * (byRow ? 1 : keyDim), WG, 'gatedLinearAttention dq'),
    });
    const dk = empty(q.shape, 'f32', 'gatedLinearAttention dk');
    const dv = empty(v.shape, 'f32', 'gatedLinearAttention dv');
    launch({
      family: 'gla', entry: 'gla_dkv', label: 'gatedLinearAttention dk dv', uniforms, overrides: { WG },
      outputs: [dk, dv], inputs: [qs, ks, vs, gs, dO, dstates], workgroups: rt.grid(rows, WG, 'gatedLinearAttention dk dv'),
    });
    let dg: Tensor | null = null;
    if (g.requiresGrad) {
      const dgFull = empty(q.shape, 'f32', 'gatedLinearAttention dg');
      launch({
        family: 'gla', entry: 'gla_dg', label: 'gatedLinearAttention dg', uniforms, overrides: { WG },
        outputs: [dgFull, null], inputs: [qs, dq, ks, dk, recomputed, dstates], workgroups: rt.grid(batch * chunks * heads * keyDim, WG, 'gatedLinearAttention dg'),
      });
      dg = perHead ? sumAxes(dgFull, [3], false) : dgFull;
      if (dg !== dgFull) dgFull.dispose();
    }
    let dh0: Tensor | null = null;
    if (h0?.requiresGrad) {
      const first = slice(dstates, [null, null, 0]).contiguous();
      dh0 = reshape(first, [batch, heads, keyDim, valueDim]);
      first.dispose();
    }
    recomputed.dispose();
    dstates.dispose();
    if (dO !== grad) dO.dispose();
    return [q.requiresGrad ? dq : (dq.dispose(), null), k.requiresGrad ? dk : (dk.dispose(), null), v.requiresGrad ? dv : (dv.dispose(), null), dg, dh0];
  }, h0d ? [qd, kd, vd, gd, h0d] : [qd, kd, vd, gd]);
  [qd, kd, vd, gd, h0d].forEach((t, i) => t && t !== [q, k, v, gFull, h0][i] && t.dispose());
  if (gFull !== g) gFull.dispose();
  return final ? { output: result, finalState: final } : result;
}

/**
 * One step of the recurrence for every row and head (decoding with O(1) state): q, k [B, H, K], v [B, H, V], g
 * [B, H, K] or [B, H], state [B, H, K, V] -> the output [B, H, V] and the next state. The chunked form's step-by-step
 * twin (tested equal); composed of differentiable ops.
 */
export function gatedLinearAttentionStep(q: Tensor, k: Tensor, v: Tensor, g: Tensor, state: Tensor, options: { scale?: number } = {}): { output: Tensor; state: Tensor } {
  if (q.rank !== 3 || k.shape.join() !== q.shape.join()) throw new ShapeError(`gatedLinearAttentionStep: q and k must be [batch, heads, keyDim], got ${formatShape(q.shape)} and ${formatShape(k.shape)}`);
  const [batch, heads, keyDim] = q.shape;
  const valueDim = v.shape[2];
  if (v.rank !== 3 || v.shape[0] !== batch || v.shape[1] !== heads) throw new ShapeError(`gatedLinearAttentionStep: v must be [${batch}, ${heads}, valueDim], got ${formatShape(v.shape)}`);
  if (state.shape.join() !== [batch, heads, keyDim, valueDim].join()) throw new ShapeError(`gatedLinearAttentionStep: state must be [${batch}, ${heads}, ${keyDim}, ${valueDim}], got ${formatShape(state.shape)}`);
  const perHead = g.rank === 2;
  if (!(perHead ? g.shape.join() === [batch, heads].join() : g.shape.join() === q.shape.join())) throw new ShapeError(`gatedLinearAttentionStep: g must be [${batch}, ${heads}, ${keyDim}] or [${batch}, ${heads}], got ${formatShape(g.shape)}`);
  return scope(() => {
    const column = (x: Tensor) => reshape(x, [batch, heads, x.shape[2], 1]);
    const decay = exp(perHead ? reshape(g, [batch, heads, 1, 1]) : column(g));
    const next = add(mul(state, decay), mul(column(k), reshape(v, [batch, heads, 1, valueDim])));
    return { output: mul(sum(mul(column(q), next), 2), options.scale ?? 1), state: next };
  });
}
