// Matrix multiply (kernel: shaders/matmul.wgsl; tests: test/matmul.test.ts; benchmark: bench/).
//
// a [..., m, k] @ b [..., k, n] -> [..., m, n] with NumPy broadcasting of the batch dims; 1-D operands are treated
// as a row (a) or column (b) vector and that axis is dropped from the result, as in NumPy. Operands are read
// through their strides: transposed views (x.T, the weight of a Linear layer) cost no copy.

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { contiguousStrides, numel, type Tensor } from '../tensor.ts';
import { zeros } from './creation.ts';
import { sumToShape } from './elementwise.ts';
import { broadcastShapes, empty } from './launch.ts';
import { reshape } from './views.ts';

/**
 * Workgroup shape of the matmul kernels; in the 'tiled' kernels each invocation computes a 4 x 4 block, so a tile
 * is 4·wgY x 4·wgX ('wide': 8 x 8 blocks, 8·wgY x 8·wgX tiles). `staged`: stage tiles in workgroup memory (GPUs)
 * or read operands directly (CPU drivers, where barriers cost more than they save). Chosen per adapter at first
 * use; bench/ measures the alternatives.
 */
export interface MatmulTiles {
  wgX: number;
  wgY: number;
  tileK: number;
  staged: boolean;
}

const GPU_TILES: MatmulTiles = { wgX: 16, wgY: 16, tileK: 16, staged: true };
const CPU_TILES: MatmulTiles = { wgX: 16, wgY: 16, tileK: 16, staged: false };
let chosen: MatmulTiles | null = null;

/**
 * The kernel for a product: 'subgroup' (no workgroup memory, 32 x 8 per invocation, A shared between the lanes of a
 * subgroup of 4: CPU drivers with subgroups, shaders/matmul_subgroup.wgsl), 'lanes' (no workgroup memory, 8 x 8 per
 * invocation unrolled: CPU drivers without them), 'direct' (no workgroup memory, 4 x 4), 'tiled' (4 x 4 per
 * invocation, staged) or 'wide' (8 x 8 per invocation, 128 x 128 tiles: large products on GPUs). 'wide' needs
 * vec4-aligned operands and falls back to 'tiled' otherwise; 'subgroup' needs subgroups of at least 4 lanes and
 * falls back to 'lanes' otherwise.
 */
export type MatmulKernel = 'direct' | 'tiled' | 'wide' | 'lanes' | 'subgroup';

/** Every matmul kernel, for tests and tuners that try them all. */
export const MATMUL_KERNELS: readonly MatmulKernel[] = ['subgroup', 'lanes', 'direct', 'tiled', 'wide'];

/** Chooses the kernel for an m x k x n product (a tuned choice, when one was measured for this adapter, wins). */
export type MatmulChooser = (m: number, k: number, n: number) => MatmulKernel | null;
let forcedKernel: MatmulKernel | null = null;
let chooser: MatmulChooser | null = null;

/** Forces one matmul kernel for every product (null: choose per adapter and shape). */
export function setMatmulKernel(kernel: MatmulKernel | null): void {
  forcedKernel = kernel;
}

/** Installs a per-shape chooser (the autotuner's); null removes it. */
export function setMatmulChooser(next: MatmulChooser | null): void {
  chooser = next;
}

function kernelFor(m: number, k: number, n: number, tiles: MatmulTiles): MatmulKernel {
  if (forcedKernel) return forcedKernel;
  const tuned = chooser?.(m, k, n);
  if (tuned) return tuned;
  if (!tiles.staged) return subgroupMatmulRuns() && m >= SUBGROUP_MIN_ROWS ? 'subgroup' : 'lanes';
  // A wide tile pays where the product fills most of its 128 x 128 tiles and there are enough of them.
  return m >= 256 && n >= 256 && k >= 64 ? 'wide' : 'tiled';
}

function currentTiles(): MatmulTiles {
  chosen ??= { ...(runtime().report.software ? CPU_TILES : GPU_TILES) };
  return chosen;
}

/** Selects the matmul tile parameters (per adapter tuning; bench/ measures candidates). */
export function setMatmulTiles(next: Partial<MatmulTiles>): MatmulTiles {
  const candidate = { ...currentTiles(), ...next };
  const threads = candidate.wgX * candidate.wgY;
  const limit = runtime().limits.maxComputeInvocationsPerWorkgroup ?? 256;
  if (threads > limit || candidate.tileK % 4 !== 0 || candidate.tileK <= 0) {
    throw new ShapeError(
      `setMatmulTiles: ${candidate.wgX} x ${candidate.wgY} invocations (limit ${limit}) with tileK ${candidate.tileK} ` +
        '(must be a positive multiple of 4) is not a valid tiling',
    );
  }
  chosen = candidate;
  return { ...chosen };
}

export function getMatmulTiles(): MatmulTiles {
  return { ...currentTiles() };
}

const MAX_BATCH_DIMS = 4;
/** matmul_subgroup: rows and columns of one invocation's block. */
const SUBGROUP_ROWS = 32;
const SUBGROUP_COLS = 8;
const SUBGROUP_LANES = 4;
/**
 * Products of fewer rows keep matmul_lanes: a 32-row block would compute mostly clamped copies of the last row.
 * Measured on SwiftShader (m × 64 @ 64 × 96, one process, median of 7): lanes is faster at 8 rows (the subgroup form
 * takes 1.6× its time), the subgroup form from 16 rows (1.13× faster) through 24, 32, 48 and 64 (1.4–1.9×).
 */
const SUBGROUP_MIN_ROWS = 16;

/** matmul_subgroup's one pipeline: one output, two inputs, WG_X = SUBGROUP_LANES. */
const SUBGROUP_KERNEL = { family: 'matmul_subgroup', entry: 'matmul_subgroup', overrides: { WG_X: SUBGROUP_LANES } } as const;

/**
 * Compiles, off the main thread, the matmul kernel the adapter will use that is slow to compile: matmul_subgroup on a
 * CPU driver (written out for registers, it takes SwiftShader about a second, matmul_lanes a tenth of that).
 * Awaited where a first request should not wait for it (the worker's load); elsewhere the first product compiles it.
 */
export async function prepareMatmul(): Promise<void> {
  if (!currentTiles().staged && subgroupMatmulRuns() && !forcedKernel) await runtime().prepare(SUBGROUP_KERNEL, 1, 2);
}

/** True where matmul_subgroup can run: the subgroups feature with subgroups of at least 4 lanes (elsewhere it runs as 'lanes'). */
export function subgroupMatmulRuns(): boolean {
  const report = runtime().report;
  return report.features.includes('subgroups') && (report.subgroupMinSize ?? 0) >= 4;
}
/** matmul_lanes: the 8 x 8 block of one invocation (matmul_lanes_tall: 16 x 8). */
const LANE_BLOCK = 8;
/** Rows from which a 'lanes' product takes matmul_lanes_tall. */
const TALL_MIN_ROWS = 64;

/** Invocations per matmul_lanes workgroup: the most (16, 8 or 4) whose 8·WG_X-column tiles waste fewest columns of n. */
function lanesFor(n: number): number {
  let best = 16;
  let bestWaste = Infinity;
  for (const lanes of [16, 8, 4]) {
    const span = LANE_BLOCK * lanes;
    const waste = Math.ceil(n / span) * span - n;
    if (waste < bestWaste) [best, bestWaste] = [lanes, waste];
  }
  return best;
}

interface Layout {
  offset: number;
  strideRow: number;
  strideCol: number;
  batch: number[];
}

function layoutOf(t: Tensor, batchShape: number[]): Layout {
  const batchRank = t.rank - 2;
  const lead = batchShape.length - batchRank;
  const batch = batchShape.map((d, i) => {
    if (i < lead) return 0;
    const own = t.shape[i - lead];
    return own === 1 && d !== 1 ? 0 : t.strides[i - lead];
  });
  return { offset: t.offset, strideRow: t.strides[t.rank - 2], strideCol: t.strides[t.rank - 1], batch };
}

/** The raw kernel launch on 2-D-or-more operands with compatible shapes (no autograd). */
function matmulRaw(a: Tensor, b: Tensor): Tensor {
  const rt = runtime();
  const m = a.shape[a.rank - 2];
  const k = a.shape[a.rank - 1];
  const n = b.shape[b.rank - 1];
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (batchShape.length > MAX_BATCH_DIMS) {
    throw new ShapeError(`matmul: at most ${MAX_BATCH_DIMS} batch dimensions are supported, got ${batchShape.length}`);
  }
  const out = empty([...batchShape, m, n], 'f32', 'matmul');
  const batches = numel(batchShape);
  if (out.size === 0) return out;
  if (k === 0) {
    out.dispose();
    return zeros([...batchShape, m, n]);
  }
  const la = layoutOf(a, batchShape);
  const lb = layoutOf(b, batchShape);
  const pad = (v: number[], fill: number) => [...Array(MAX_BATCH_DIMS - v.length).fill(fill), ...v];

  // vec4 loads need each operand to be unit-stride along the dimension loaded, that dimension a multiple of 4,
  // and every other offset and stride a multiple of 4 (so each vector is aligned to 16 bytes).
  const aligned = (...v: number[]) => v.every((x) => x % 4 === 0);
  const aAlongK = la.strideCol === 1 && aligned(k, la.strideRow, la.offset, ...la.batch);
  const aAlongM = !aAlongK && la.strideRow === 1 && aligned(m, la.strideCol, la.offset, ...la.batch);
  const bAlongN = lb.strideCol === 1 && aligned(n, lb.strideRow, lb.offset, ...lb.batch);
  const bAlongK = !bAlongN && lb.strideRow === 1 && aligned(k, lb.strideCol, lb.offset, ...lb.batch);
  const tiles = currentTiles();
  let kernel = kernelFor(m, k, n, tiles);
  if (kernel === 'subgroup' && !subgroupMatmulRuns()) kernel = 'lanes';
  const vec4 = kernel !== 'direct' && kernel !== 'lanes' && (aAlongK || aAlongM) && (bAlongN || bAlongK);
  const wide = kernel === 'wide' && vec4 && tiles.tileK % 4 === 0;

  const uniforms = new Uniforms()
    .vec(pad(batchShape, 1), 4)
    .vec(pad(la.batch, 0), 4)
    .vec(pad(lb.batch, 0), 4)
    .u32(m).u32(n).u32(k)
    .u32(la.offset).u32(la.strideRow).u32(la.strideCol)
    .u32(lb.offset).u32(lb.strideRow).u32(lb.strideCol)
    .build();
  if (kernel === 'subgroup') {
    // One subgroup a workgroup: more columns a workgroup measured level on SwiftShader, and fewer workgroups share
    // the cores less evenly on narrow products.
    rt.dispatch({
      ...SUBGROUP_KERNEL,
      uniforms, outputs: [out.buffer('matmul')], inputs: [a.buffer('matmul'), b.buffer('matmul')],
      workgroups: [Math.ceil(n / (SUBGROUP_COLS * SUBGROUP_LANES)), Math.ceil(m / SUBGROUP_ROWS), batches],
      label: `matmul ${formatShape(a.shape)}@${formatShape(b.shape)}`,
    });
    return out;
  }
  if (kernel === 'lanes') {
    // Products of many rows take the 16-row form, 4 invocations a workgroup (shaders/matmul.wgsl, measured there).
    const tall = m >= TALL_MIN_ROWS;
    const lanes = tall ? 4 : lanesFor(n);
    rt.dispatch({
      family: 'matmul', entry: tall ? 'matmul_lanes_tall' : 'matmul_lanes', overrides: { WG_X: lanes },
      uniforms, outputs: [out.buffer('matmul')], inputs: [a.buffer('matmul'), b.buffer('matmul')],
      workgroups: [Math.ceil(n / (LANE_BLOCK * lanes)), Math.ceil(m / (tall ? 2 * LANE_BLOCK : LANE_BLOCK)), batches],
      label: `matmul ${formatShape(a.shape)}@${formatShape(b.shape)}`,
    });
    return out;
  }
  const block = wide ? 8 : 4;
  const tileM = block * tiles.wgY;
  const tileN = block * tiles.wgX;
  rt.dispatch({
    family: 'matmul',
    entry: kernel === 'direct' ? 'matmul_direct' : wide ? 'matmul_wide' : vec4 ? 'matmul_vec4' : 'matmul_strided',
    overrides: {
      WG_X: tiles.wgX,
      WG_Y: tiles.wgY,
      ...(kernel !== 'direct' ? { TILE_K: wide ? Math.min(tiles.tileK, 8) : tiles.tileK } : {}),
      ...(vec4 ? { A_ALONG_M: aAlongM, B_ALONG_K: bAlongK } : {}),
    },
    uniforms,
    outputs: [out.buffer('matmul')],
    inputs: [a.buffer('matmul'), b.buffer('matmul')],
    workgroups: [Math.ceil(n / tileN), Math.ceil(m / tileM), batches],
    label: `matmul ${formatShape(a.shape)}@${formatShape(b.shape)}`,
  });
  return out;
}


/**
 * t [..., rows, cols] viewed as [prod(...)·rows, cols] without copying, when its leading dims and rows are laid
 * out as one run (true of contiguous tensors and of their transposes' inner pair); null otherwise.
 */
function flattenRows(t: Tensor): Tensor | null {
  if (t.rank <= 2) return null;
  for (let i = 0; i < t.rank - 2; i++) {
    if (t.shape[i] !== 1 && t.strides[i] !== t.strides[i + 1] * t.shape[i + 1]) return null;
  }
  const rows = t.shape.slice(0, -1).reduce((x, y) => x * y, 1);
  return t.viewAs([rows, t.shape[t.rank - 1]], [t.strides[t.rank - 2], t.strides[t.rank - 1]], t.offset, false);
}

/**
 * a @ b for a 2-D b: a's batch dims and rows fold into one tall matrix when a's layout allows, so the product is
 * one 2-D matmul (full tiles) instead of a batch of short ones.
 */
function matmulFolded(a: Tensor, b: Tensor): Tensor {
  const flat = b.rank === 2 ? flattenRows(a) : null;
  if (!flat) return matmulRaw(a, b);
  const out2d = matmulRaw(flat, b);
  flat.dispose();
  // Tracked like matmulRaw's result: the caller's scope owns it either way.
  const out = out2d.viewAs([...a.shape.slice(0, -1), b.shape[1]], contiguousStrides([...a.shape.slice(0, -1), b.shape[1]]), 0, true);
  out2d.dispose();
  return out;
}

/** True when t is a transposed view of a contiguous matrix (the weight.T of a Linear layer). */
function isTransposedMatrix(t: Tensor): boolean {
  return t.rank === 2 && t.strides[0] === 1 && t.strides[1] === t.shape[0];
}

/** Gradient for a 2-D b in a @ b: sum over a's batch of a_bᵀ g_b, as one matmul over the folded rows. */
function gradientOfMatrix(a: Tensor, g: Tensor, bShape: readonly number[], transposed: boolean): Tensor {
  const fa = a.rank > 2 ? flattenRows(a) : a.viewAs(a.shape, a.strides, a.offset, false);
  const fg = g.rank > 2 ? flattenRows(g) : g.viewAs(g.shape, g.strides, g.offset, false);
  if (!fa || !fg) {
    fa?.dispose();
    fg?.dispose();
    const aT = transposeRaw(a);
    const full = matmulRaw(aT, g);
    aT.dispose();
    return reduceTo(full, bShape);
  }
  let result: Tensor;
  if (transposed) {
    // b is wᵀ for a contiguous w: compute dw = gᵀ a contiguous, and hand back its transpose (a view), which
    // the transpose's own backward turns into a contiguous dw at no cost.
    const gT = transposeRaw(fg);
    const dw = matmulRaw(gT, fa);
    gT.dispose();
    result = transposeRaw(dw, true);
    dw.dispose();
  } else {
    const aT = transposeRaw(fa);
    result = matmulRaw(aT, fg);
    aT.dispose();
  }
  fa.dispose();
  fg.dispose();
  return result;
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  a.assertDType('matmul', 'f32');
  b.assertDType('matmul', 'f32');
  if (a.rank === 0 || b.rank === 0) throw new ShapeError('matmul: operands must have at least one dimension, got a scalar');
  const av = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const bv = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  const k = av.shape[av.rank - 1];
  if (bv.shape[bv.rank - 2] !== k) {
    throw new ShapeError(
      `matmul: inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)} (${k} vs ${bv.shape[bv.rank - 2]})`,
    );
  }
  let out = matmulFolded(av, bv);
  out = record('matmul', [av, bv], out, (g, [as, bs]) => {
    // dA = g @ Bᵀ, dB = Aᵀ @ g, each summed over the batch dims it was broadcast along.
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (av.requiresGrad) {
      const bT = transposeRaw(bs);
      ga = reduceTo(matmulFolded(g, bT), av.shape);
      bT.dispose();
    }
    if (bv.requiresGrad) {
      if (bv.rank === 2) gb = gradientOfMatrix(as, g, bv.shape, isTransposedMatrix(bs));
      else {
        const aT = transposeRaw(as);
        gb = reduceTo(matmulRaw(aT, g), bv.shape);
        aT.dispose();
      }
    }
    return [ga, gb];
  }, [av, bv]);
  if (av === a && bv === b) return out;
  const shape = out.shape.filter((_, i) => !(a.rank === 1 && i === out.rank - 2) && !(b.rank === 1 && i === out.rank - 1));
  const squeezed = reshape(out, shape);
  out.dispose();
  if (av !== a) av.dispose();
  if (bv !== b) bv.dispose();
  return squeezed;
}

function transposeRaw(t: Tensor, tracked = false): Tensor {
  const order = [...Array(t.rank).keys()];
  [order[t.rank - 2], order[t.rank - 1]] = [order[t.rank - 1], order[t.rank - 2]];
  return t.viewAs(order.map((i) => t.shape[i]), order.map((i) => t.strides[i]), t.offset, tracked);
}

function reduceTo(full: Tensor, shape: readonly number[]): Tensor {
  const r = sumToShape(full, shape);
  full.dispose();
  return r;
}
