// pLSTM on 2D grids (Pöppel et al. 2025; kernels: shaders/plstm.wgsl; tests: test/plstm.test.ts; the math:
// ../shared/design/plstm-hiss.md).
//
//   plstm2d(q, k, v, gates)   q, k [B, X, Y, H, K], v [B, X, Y, H, V], each gate [B, X, Y, H] -> [B, X, Y, H, V]
//
// with the rightward state C_r and the downward state C_d of each cell (K x V per head)
//   C_r[x,y] = T_rl·C_r[x−1,y] + T_ru·C_d[x,y−1] + S_r·kᵀv        C_d[x,y] = T_du·C_d[x,y−1] + T_dl·C_r[x−1,y] + S_d·kᵀv
//   out[x,y] = q·(M_l·C_r[x−1,y] + M_u·C_d[x,y−1]) / √K + D·(q·k)·v / √K
// (the official code's scale on q). The gates are scalars per cell and head, so the states are weighted sums of the
// sources' kᵀv and the whole grid is one product: out = (A ⊙ QKᵀ/√K)·V, A[c, s] the sum over the DAG's paths from
// source s to cell c of the products of their gates. pathWeights computes A (one invocation per source, walking
// its quadrant) with its own backward (the adjoint walk, then a sum over sources per cell); the rest is matmul and
// mul with theirs. This is the fully parallel form — the whole grid as one block, O(N²) memory per head for
// N = X·Y cells — not the official code's blocks of 2^L cells composed by doubling with states carried between
// blocks: at Hiero's grid sizes (puzzles up to 31 x 31, patch grids up to 32 x 32) one block fits and is one
// dispatch, and the buffer limit names the grid when it does not.
//
// The modes are choices of gates (pModeGates, dModeGates: the official layer's parametrisations); any gates are
// accepted here.

import { noGrad, record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { scope, type Tensor } from '../tensor.ts';
import { zeros } from './creation.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';
import { matmul } from './matmul.ts';
import { concat } from './views.ts';

/** The gates of pLSTM's 2D recurrence, each [B, X, Y, H]: source, transition and mark gates and the direct term. */
export interface PlstmGates {
  sourceRight: Tensor;
  sourceDown: Tensor;
  /** T_rl: into the rightward state from the left one; T_ru: from the one above. */
  rightFromLeft: Tensor;
  rightFromUp: Tensor;
  /** T_du: into the downward state from the one above; T_dl: from the left one. */
  downFromUp: Tensor;
  downFromLeft: Tensor;
  markLeft: Tensor;
  markUp: Tensor;
  direct: Tensor;
}

/** The kernels' packing order (shaders/plstm.wgsl's S_R ... DIRECT). */
export const PLSTM_GATE_NAMES = ['sourceRight', 'sourceDown', 'rightFromLeft', 'rightFromUp', 'downFromUp', 'downFromLeft', 'markLeft', 'markUp', 'direct'] as const satisfies readonly (keyof PlstmGates)[];

interface Grid {
  batch: number;
  width: number;
  height: number;
  heads: number;
}

function checkGates(op: string, gates: PlstmGates, grid: Grid): void {
  if (!gates || typeof gates !== 'object') throw new ShapeError(`${op}: gates must be { ${PLSTM_GATE_NAMES.join(', ')} }`);
  const shape = [grid.batch, grid.width, grid.height, grid.heads];
  for (const name of PLSTM_GATE_NAMES) {
    const t = gates[name];
    if (!t) throw new ShapeError(`${op}: gates.${name} is missing (gates must be { ${PLSTM_GATE_NAMES.join(', ')} }, each ${formatShape(shape)})`);
    t.assertDType(`${op} gates.${name}`, 'f32');
    if (t.shape.join() !== shape.join()) throw new ShapeError(`${op}: gates.${name} must be ${formatShape(shape)} (batch, X, Y, heads), got ${formatShape(t.shape)}`);
  }
}

/**
 * A[b, h, c, s] [B, H, N, N] for N = X·Y cells in raster order (c = x·Y + y): how much of source s's kᵀv the output
 * at cell c reads, through the states (marks) or directly (the diagonal). Differentiable in every gate.
 */
export function plstmPathWeights(gates: PlstmGates, grid: Grid): Tensor {
  const op = 'plstmPathWeights';
  checkGates(op, gates, grid);
  const { batch, width, height, heads } = grid;
  const n = width * height;
  const inputs = PLSTM_GATE_NAMES.map((name) => gates[name]);
  const packed = noGrad(() => concat(inputs.map((t) => t.reshape([1, batch, n, heads])), 0));
  const uniforms = new Uniforms().u32(batch).u32(heads).u32(width).u32(height).build();
  const sources = batch * heads * n;
  const weights = empty([batch, heads, n, n], 'f32', op);
  const paths = empty([2, batch, heads, n, n], 'f32', `${op} paths`);
  launch({
    family: 'plstm', entry: 'plstm_weights', label: op, uniforms, overrides: { WG: 64 },
    outputs: [weights, paths], inputs: [packed, null, null, null], workgroups: runtime().grid(sources, 64, op),
  });
  const result = record(op, inputs, weights, (dA, saved) => {
    const [sg, sw] = saved;
    const upstream = dense(dA, copyStrided);
    const adjoint = empty([2, batch, heads, n, n], 'f32', `${op} adjoint`);
    launch({
      family: 'plstm', entry: 'plstm_adjoint', label: `${op} adjoint`, uniforms, overrides: { WG: 64 },
      outputs: [adjoint, null], inputs: [sg, upstream, null, null], workgroups: runtime().grid(sources, 64, `${op} adjoint`),
    });
    const grads = empty([9, batch, n, heads], 'f32', `${op} backward`);
    launch({
      family: 'plstm', entry: 'plstm_gate_grads', label: `${op} backward`, uniforms, overrides: { WG: 64 },
      outputs: [grads, null], inputs: [sg, upstream, sw, adjoint], workgroups: runtime().grid(sources, 64, `${op} backward`),
    });
    if (upstream !== dA) upstream.dispose();
    adjoint.dispose();
    const out = inputs.map((t, k) => (t.requiresGrad ? grads.slice([[k, k + 1]]).reshape([batch, width, height, heads]) : null));
    grads.dispose();
    return out;
  }, [packed, paths]);
  packed.dispose();
  paths.dispose();
  return result;
}

/** pLSTM's 2D recurrence over a grid, read out at every cell: [B, X, Y, H, V]. */
export function plstm2d(q: Tensor, k: Tensor, v: Tensor, gates: PlstmGates): Tensor {
  const op = 'plstm2d';
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    t.assertDType(`${op} ${name}`, 'f32');
    if (t.rank !== 5) throw new ShapeError(`${op}: ${name} must be [batch, X, Y, heads, channels], got ${formatShape(t.shape)}`);
  }
  const [batch, width, height, heads, keys] = q.shape;
  if (k.shape.join() !== q.shape.join()) throw new ShapeError(`${op}: k is ${formatShape(k.shape)}, q is ${formatShape(q.shape)}; they must match`);
  if (v.shape.slice(0, 4).join() !== q.shape.slice(0, 4).join()) throw new ShapeError(`${op}: v must be [${q.shape.slice(0, 4).join(', ')}, V] as q's grid and heads, got ${formatShape(v.shape)}`);
  const values = v.shape[4];
  if ([...q.shape, values].some((d) => d < 1)) throw new ShapeError(`${op}: every size must be at least 1, got q ${formatShape(q.shape)} and v ${formatShape(v.shape)}`);
  const grid = { batch, width, height, heads };
  checkGates(op, gates, grid);
  const n = width * height;
  return scope(() => {
    const heads4 = (t: Tensor, c: number) => t.reshape([batch, n, heads, c]).permute([0, 2, 1, 3]); // [B, H, N, c]
    const weights = plstmPathWeights(gates, grid);
    const scores = matmul(heads4(q, keys), heads4(k, keys).transpose(-2, -1)).mul(1 / Math.sqrt(keys));
    const out = matmul(scores.mul(weights), heads4(v, values)); // [B, H, N, V]
    return out.permute([0, 2, 1, 3]).reshape([batch, width, height, heads, values]);
  });
}

/**
 * P-mode (propagation; the official layer's parametrisation): an orientation o per cell splits what arrives (from the
 * left and from above alike) between the rightward state (o·t) and the downward one (1 − o·t), so a node's outgoing
 * weights sum to one and signals neither explode nor vanish along directed paths; the source splits the same way
 * (o·s rightward, 1 − o·s downward) and one mark reads both states. Inputs in (0, 1) (sigmoids), each [B, X, Y, H].
 */
export function pModeGates(g: { orientation: Tensor; source: Tensor; transition: Tensor; mark: Tensor; direct: Tensor }): PlstmGates {
  const sourceRight = g.orientation.mul(g.source);
  const right = g.orientation.mul(g.transition);
  const down = right.neg().add(1);
  return {
    sourceRight, sourceDown: sourceRight.neg().add(1), rightFromLeft: right, rightFromUp: right, downFromUp: down, downFromLeft: down,
    markLeft: g.mark, markUp: g.mark, direct: g.direct,
  };
}

/**
 * D-mode (diffusion): the line graph's transitions kept on a multitree, so one path joins a source to a cell.
 * Chirality 'L' (the default): the downward state never takes from the left (T_dl = 0) and the rightward one takes
 * from above through `cross`, so paths go down, then right; 'R': the mirror (T_ru = 0, T_dl = cross).
 */
export function dModeGates(
  g: { sourceRight: Tensor; sourceDown: Tensor; right: Tensor; down: Tensor; cross: Tensor; markLeft: Tensor; markUp: Tensor; direct: Tensor },
  chirality: 'L' | 'R' = 'L',
): PlstmGates {
  if (chirality !== 'L' && chirality !== 'R') throw new ShapeError(`dModeGates: chirality must be 'L' or 'R', got ${JSON.stringify(chirality)}`);
  const none = zeros(g.cross.shape);
  return {
    sourceRight: g.sourceRight, sourceDown: g.sourceDown, rightFromLeft: g.right, downFromUp: g.down,
    rightFromUp: chirality === 'L' ? g.cross : none, downFromLeft: chirality === 'R' ? g.cross : none,
    markLeft: g.markLeft, markUp: g.markUp, direct: g.direct,
  };
}
