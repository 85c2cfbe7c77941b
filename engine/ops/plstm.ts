// pLSTM on 2D grids (Pöppel et al. 2025; kernels: shaders/plstm.wgsl; tests: test/plstm.test.ts; the math:
// ../shared/design/plstm-hiss.md).
//
//   plstm2d(q, k, v, gates, { block })   q, k [B, X, Y, H, K], v [B, X, Y, H, V], each gate [B, X, Y, H] -> [B, X, Y, H, V]
//
// with the rightward state C_r and the downward state C_d of each cell (K x V per head)
//   C_r[x,y] = T_rl·C_r[x−1,y] + T_ru·C_d[x,y−1] + S_r·kᵀv        C_d[x,y] = T_du·C_d[x,y−1] + T_dl·C_r[x−1,y] + S_d·kᵀv
//   out[x,y] = q·(M_l·C_r[x−1,y] + M_u·C_d[x,y−1]) / √K + D·(q·k)·v / √K
// (the official code's scale on q). The gates are scalars per cell and head, so the states are weighted sums of the
// sources' kᵀv and a block of the grid is one product: out = (A ⊙ QKᵀ/√K)·V, A[c, s] the sum over the DAG's paths
// from source s to cell c of the products of their gates. One kernel computes A (one invocation per source, walking
// its quadrant) with its own backward (the adjoint walk, then a sum over sources per cell); the rest is matmul and
// mul with theirs. A grid with a side longer than the block (PLSTM_WHOLE and PLSTM_BLOCK: the defaults) is cut into
// blocks whose edges are sources and targets too (plstmBlockTransfer), and the states leaving a block enter the next
// along anti-diagonals, one batched product per diagonal: O(N·block²) memory per head for N = X·Y cells where the whole
// grid as one block is O(N²). Inside a block the weights are walked, not composed by doubling as in ml-jku/plstm: at
// a block's size the walk is one dispatch and exact.
//
// The modes are choices of gates (pModeGates, dModeGates: the official layer's parametrisations); any gates are
// accepted here.

import { noGrad, record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { scope, type Tensor } from '../tensor.ts';
import { tensor, zeros } from './creation.ts';
import { embedding } from './embedding.ts';
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
 * The kernels over one grid: A (edges false) or the block transfer M (edges true), each with its backward into the
 * nine gates. T = S = N cells, plus X + Y edges in the blocked form.
 */
function pathTransfer(op: string, gates: PlstmGates, grid: Grid, edges: boolean): Tensor {
  checkGates(op, gates, grid);
  const { batch, width, height, heads } = grid;
  const n = width * height;
  const sites = n + (edges ? width + height : 0);
  const inputs = PLSTM_GATE_NAMES.map((name) => gates[name]);
  const packed = noGrad(() => concat(inputs.map((t) => t.reshape([1, batch, n, heads])), 0));
  const uniforms = new Uniforms().u32(batch).u32(heads).u32(width).u32(height).u32(edges ? 1 : 0).build();
  const sources = batch * heads * sites;
  const transfer = empty([batch, heads, sites, sites], 'f32', op);
  const paths = empty([2, batch, heads, sites, n], 'f32', `${op} paths`);
  launch({
    family: 'plstm', entry: 'plstm_weights', label: op, uniforms, overrides: { WG: 64 },
    outputs: [transfer, paths], inputs: [packed, null, null, null], workgroups: runtime().grid(sources, 64, op),
  });
  const result = record(op, inputs, transfer, (dM, saved) => {
    const [sg, sw] = saved;
    const upstream = dense(dM, copyStrided);
    const adjoint = empty([2, batch, heads, sites, n], 'f32', `${op} adjoint`);
    launch({
      family: 'plstm', entry: 'plstm_adjoint', label: `${op} adjoint`, uniforms, overrides: { WG: 64 },
      outputs: [adjoint, null], inputs: [sg, upstream, null, null], workgroups: runtime().grid(sources, 64, `${op} adjoint`),
    });
    const grads = empty([9, batch, n, heads], 'f32', `${op} backward`);
    launch({
      family: 'plstm', entry: 'plstm_gate_grads', label: `${op} backward`, uniforms, overrides: { WG: 64 },
      outputs: [grads, null], inputs: [sg, upstream, sw, adjoint], workgroups: runtime().grid(batch * heads * n, 64, `${op} backward`),
    });
    if (upstream !== dM) upstream.dispose();
    adjoint.dispose();
    const out = inputs.map((t, k) => (t.requiresGrad ? grads.slice([[k, k + 1]]).reshape([batch, width, height, heads]) : null));
    grads.dispose();
    return out;
  }, [packed, paths]);
  packed.dispose();
  paths.dispose();
  return result;
}

/**
 * A[b, h, c, s] [B, H, N, N] for N = X·Y cells in raster order (c = x·Y + y): how much of source s's kᵀv the output
 * at cell c reads, through the states (marks) or directly (the diagonal). Differentiable in every gate.
 */
export function plstmPathWeights(gates: PlstmGates, grid: Grid): Tensor {
  return pathTransfer('plstmPathWeights', gates, grid, false);
}

/**
 * The transfer M [B, H, T, S] of an X × Y block, T = S = N + Y + X: sources are the block's cells (c = x·Y + y),
 * then the rightward state entering each row y from the left (N + y), then the downward state entering each column x
 * from above (N + Y + x); targets are the cells (what their outputs read, as in A), then the rightward state leaving
 * each row (N + y) and the downward state leaving each column (N + Y + x). M[:N, :N] is the block's A; M[N:, N:] carries
 * the states across it. Differentiable in every gate.
 */
export function plstmBlockTransfer(gates: PlstmGates, grid: Grid): Tensor {
  return pathTransfer('plstmBlockTransfer', gates, grid, true);
}

/**
 * plstm2d's defaults, measured (bench/plstm.ts, SwiftShader, batch 8, 2 heads, K = V = 8, forward + backward): a
 * grid with both sides up to PLSTM_WHOLE runs as one block (fewest dispatches: at 9 x 9 and 12 x 12 whole is 1.2-3x
 * faster than blocks); a larger one in blocks of at most PLSTM_BLOCK cells a side (from 16 x 16 up, 1.2-16x faster
 * than whole and 2.6-23x less memory). Blocks of 4 come within 0-12 % of 8 on this CPU driver with 1.7-1.9x the
 * dispatches, which a GPU pays for more than its arithmetic; 8 is the default.
 */
export const PLSTM_WHOLE = 12;
export const PLSTM_BLOCK = 8;

export interface Plstm2dOptions {
  /**
   * Cut a grid with a side longer than this into blocks of at most block x block cells (as even as the sides
   * allow), whose states are carried between blocks along anti-diagonals: memory O(N·(block² + K·V)) per head
   * instead of O(N²). Default: PLSTM_BLOCK for grids with a side longer than PLSTM_WHOLE, else whole.
   */
  block?: number;
}

/** pLSTM's 2D recurrence over a grid, read out at every cell: [B, X, Y, H, V]. */
export function plstm2d(q: Tensor, k: Tensor, v: Tensor, gates: PlstmGates, options: Plstm2dOptions = {}): Tensor {
  const op = 'plstm2d';
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    t.assertDType(`${op} ${name}`, 'f32');
    if (t.rank !== 5) throw new ShapeError(`${op}: ${name} must be [batch, X, Y, heads, channels], got ${formatShape(t.shape)}`);
  }
  const [batch, width, height, heads] = q.shape;
  if (k.shape.join() !== q.shape.join()) throw new ShapeError(`${op}: k is ${formatShape(k.shape)}, q is ${formatShape(q.shape)}; they must match`);
  if (v.shape.slice(0, 4).join() !== q.shape.slice(0, 4).join()) throw new ShapeError(`${op}: v must be [${q.shape.slice(0, 4).join(', ')}, V] as q's grid and heads, got ${formatShape(v.shape)}`);
  const values = v.shape[4];
  if ([...q.shape, values].some((d) => d < 1)) throw new ShapeError(`${op}: every size must be at least 1, got q ${formatShape(q.shape)} and v ${formatShape(v.shape)}`);
  const block = options.block ?? (width <= PLSTM_WHOLE && height <= PLSTM_WHOLE ? PLSTM_WHOLE : PLSTM_BLOCK);
  if (!Number.isInteger(block) || block < 1) throw new ShapeError(`${op}: block must be a positive integer (the most cells a block has along a side), got ${block}`);
  const grid = { batch, width, height, heads };
  checkGates(op, gates, grid);
  if (width <= block && height <= block) return wholeGrid(q, k, v, gates, grid);
  return blocked(q, k, v, gates, grid, block);
}

/** The grid as one block: out = (A ⊙ QKᵀ/√K)·V. */
function wholeGrid(q: Tensor, k: Tensor, v: Tensor, gates: PlstmGates, grid: Grid): Tensor {
  const { batch, width, height, heads } = grid;
  const [keys, values] = [q.shape[4], v.shape[4]];
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
 * Blocks bx × by (nbx × nby of them; the grid padded at its right and bottom with cells whose gates, q, k and v are
 * zero, which no path to a real cell crosses: paths only go right and down). Inside a block the transfer M does
 * what A does for the whole grid; between blocks, the states entering block (i, j) — the rightward ones leaving
 * (i − 1, j) and the downward ones leaving (i, j − 1) — depend only on blocks of earlier anti-diagonals, so one
 * batched product per anti-diagonal carries them: out_(i,j) = M[N:, :N]·kᵀv + M[N:, N:]·in_(i,j). Each cell then
 * reads q·(M[:N, N:]·in) / √K besides its block's own (M[:N, :N] ⊙ QKᵀ/√K)·V.
 */
function blocked(q: Tensor, k: Tensor, v: Tensor, gates: PlstmGates, grid: Grid, block: number): Tensor {
  const { batch, width, height, heads } = grid;
  const [keys, values] = [q.shape[4], v.shape[4]];
  const [nbx, nby] = [Math.ceil(width / block), Math.ceil(height / block)];
  const [bx, by] = [Math.ceil(width / nbx), Math.ceil(height / nby)];
  const [paddedX, paddedY] = [nbx * bx, nby * by];
  const blocks = nbx * nby;
  const n = bx * by;
  const edges = bx + by;
  const kv = keys * values;
  return scope(() => {
    const padded = (t: Tensor) => {
      let r = t;
      if (paddedX > width) r = concat([r, zeros([batch, paddedX - width, ...r.shape.slice(2)])], 1);
      if (paddedY > height) r = concat([r, zeros([batch, paddedX, paddedY - height, ...r.shape.slice(3)])], 2);
      return r;
    };
    // [B, X, Y, H, c] -> [blocks, B, H, n, c], blocks in raster order (i·nby + j), cells of a block in raster order.
    const cut = (t: Tensor, c: number) =>
      padded(t).reshape([batch, nbx, bx, nby, by, heads, c]).permute([1, 3, 0, 5, 2, 4, 6]).reshape([blocks, batch, heads, n, c]);
    const blockGates = Object.fromEntries(PLSTM_GATE_NAMES.map((name) => [name,
      padded(gates[name]).reshape([batch, nbx, bx, nby, by, heads]).permute([1, 3, 0, 2, 4, 5]).reshape([blocks * batch, bx, by, heads])])) as unknown as PlstmGates;
    const transfer = plstmBlockTransfer(blockGates, { batch: blocks * batch, width: bx, height: by, heads }).reshape([blocks, batch, heads, n + edges, n + edges]);
    const part = (targets: [number, number], sources: [number, number]) => transfer.slice([null, null, null, targets, sources]);
    const [qb, kb, vb] = [cut(q, keys), cut(k, keys), cut(v, values)];
    const scores = matmul(qb, kb.transpose(-2, -1)).mul(1 / Math.sqrt(keys));
    const own = matmul(scores.mul(part([0, n], [0, n])), vb); // [blocks, B, H, n, V]
    const states = kb.reshape([blocks, batch, heads, n, keys, 1]).mul(vb.reshape([blocks, batch, heads, n, 1, values])).reshape([blocks, batch, heads, n, kv]);
    const leaving = matmul(part([n, n + edges], [0, n]), states); // what each block's own cells send out: [blocks, B, H, E, K·V]
    const across = part([n, n + edges], [n, n + edges]);
    // Block (i, j) of anti-diagonal d = i + j is block d + i·(nby − 1) in raster order: a strided slice per diagonal.
    const onDiagonal = (t: Tensor, d: number, lo: number, count: number) => {
      const first = lo * nby + d - lo;
      return nby === 1 ? t.slice([[first, first + 1]]) : t.slice([[first, first + (count - 1) * (nby - 1) + 1, nby - 1]]);
    };
    const range = (d: number) => [Math.max(0, d - (nby - 1)), Math.min(d, nbx - 1)];
    const none = (rows: number) => zeros([1, batch, heads, rows, kv]);
    const join = (parts: Tensor[], axis: number) => (parts.length === 1 ? parts[0] : concat(parts, axis));
    const entering: Tensor[] = [];
    const order: number[] = [];
    let previous: Tensor | null = null;
    for (let d = 0; d < nbx + nby - 1; d++) {
      const [lo, hi] = range(d);
      const count = hi - lo + 1;
      for (let i = lo; i <= hi; i++) order.push(i * nby + d - i);
      let incoming: Tensor;
      if (!previous) incoming = none(edges);
      else {
        const [before] = range(d - 1);
        const fromLeft: Tensor[] = lo === 0 ? [none(by)] : [];
        if (hi >= 1) fromLeft.push(previous.slice([[Math.max(lo, 1) - 1 - before, hi - before], null, null, [0, by]]));
        const fromAbove: Tensor[] = [];
        if (Math.min(hi, d - 1) >= lo) fromAbove.push(previous.slice([[lo - before, Math.min(hi, d - 1) - before + 1], null, null, [by, edges]]));
        if (hi === d) fromAbove.push(none(bx));
        incoming = concat([join(fromLeft, 0), join(fromAbove, 0)], 3);
      }
      entering.push(incoming);
      previous = onDiagonal(leaving, d, lo, count).add(matmul(onDiagonal(across, d, lo, count), incoming));
    }
    const position = new Array<number>(blocks);
    order.forEach((b, p) => (position[b] = p));
    const arriving = reorderRows(join(entering, 0), position); // [blocks, B, H, E, K·V], raster order
    const read = matmul(part([0, n], [n, n + edges]), arriving).reshape([blocks, batch, heads, n, keys, values]);
    const fromOutside = matmul(qb.reshape([blocks, batch, heads, n, 1, keys]), read).reshape([blocks, batch, heads, n, values]).mul(1 / Math.sqrt(keys));
    const out = own.add(fromOutside).reshape([nbx, nby, batch, heads, bx, by, values]).permute([2, 0, 4, 1, 5, 3, 6]).reshape([batch, paddedX, paddedY, heads, values]);
    return paddedX === width && paddedY === height ? out : out.slice([null, [0, width], [0, height]]).contiguous();
  });
}

/**
 * x [R, ...] with its rows taken in the given order (out[p] = x[order[p]], order a permutation of 0..R−1). A
 * permutation's gradient is the inverse permutation's gather, so the backward is one more gather rather than
 * embedding's scatter-add (whose dispatch is a workgroup row per table row and 64 columns each: bounded in row width).
 */
function reorderRows(x: Tensor, order: readonly number[]): Tensor {
  const rows = x.shape[0];
  const gather = (t: Tensor, ids: readonly number[]) => scope(() => embedding(t.reshape([rows, t.size / rows]), tensor(Int32Array.from(ids), [rows], { dtype: 'i32' })).reshape(t.shape));
  const inverse = new Array<number>(rows);
  order.forEach((r, p) => (inverse[r] = p));
  const out = noGrad(() => gather(x, order));
  return record('reorderRows', [x], out, (g) => [noGrad(() => gather(g, inverse))]);
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
