// Grid mixers: layers that mix the cells of a 2D grid, every cell seeing the whole grid (no raster order, no
// decoding one position at a time, unlike the sequence mixers of model/mixers.ts). Used by the HRM's modules on
// puzzles (--mixer) and by the arrow-pointing classifiers (model/arrows.ts). One row per kind; a kind without its
// row is a compile error. Tests: test/plstm.test.ts (the pLSTM layer), test/hrm.test.ts (HRM --mixer plstm).

import { dModeGates, embedding, keep, Linear, Module, plstm2d, pModeGates, rmsNorm, scope, tensor, type PlstmGates, type Tensor } from '../engine/index.ts';
import { SelfAttention } from './attention.ts';

import type { GridMixerKind } from './grid-mixer-kinds.ts';

export { GRID_MIXER_KINDS, type GridMixerKind } from './grid-mixer-kinds.ts';

export interface Grid {
  /** Cells along x (rows of the raster, the slow index) and y (the fast index): cell c = x·height + y. */
  width: number;
  height: number;
}

export interface GridMixer extends Module {
  /** x [B, X·Y, D] in raster order → [B, X·Y, D]. */
  forward(x: Tensor, grid: Grid): Tensor;
}

export interface GridMixerOptions {
  heads: number;
  /** attention: RoPE base over the raster positions (null: none, positions come from elsewhere). */
  ropeBase: number | null;
  /** attention: state-dict names of its projections (the HRM's official qkv_proj/o_proj). */
  attentionNames?: { qkv: string; out: string };
  /** plstm: P-mode (propagation, the default) or D-mode (diffusion on a multitree). */
  plstmMode?: 'P' | 'D';
  normEps: number;
}

export interface GridMixerSpec {
  summary: string;
  /** The state-dict name of the layer inside a block (the HRM keeps the official self_attn). */
  name: string;
  build(width: number, o: GridMixerOptions): GridMixer;
  check(width: number, o: GridMixerOptions): string | null;
  /** Weights its projections multiply per cell (training FLOPs ≈ 6 × these, plus the mixing itself). */
  weights(width: number, o: GridMixerOptions): number;
}

/** Bidirectional self-attention over the cells (what the HRM's modules use; its parameters keep SelfAttention's names). */
class GridAttention extends SelfAttention implements GridMixer {
  constructor(width: number, o: GridMixerOptions) {
    super({ dim: width, heads: o.heads, causal: false, ropeBase: o.ropeBase, names: o.attentionNames });
  }
  override forward(x: Tensor): Tensor {
    return super.forward(x);
  }
}

/** The four orientations the paper combines: the grid as is, flipped along x, along y, and both. */
const ORIENTATIONS = [[false, false], [true, false], [false, true], [true, true]] as const;

/** Gates per orientation and head: P-mode orientation, source, transition, mark; D-mode two sources, three transitions, two marks. */
const GATES_PER_ORIENTATION = { P: 4, D: 7 } as const;

/**
 * pLSTM over a 2D grid (Pöppel et al. 2025; engine/ops/plstm.ts): q, k, v per cell and head, gates per orientation
 * and head (sigmoids), a direct term per head; the recurrence run in each of the four orientations (the grid
 * flipped so that its sources lie in another corner), each head's output RMS-normalised, the four averaged, then
 * an output projection. So every cell reads every other, through paths that carry the gates' products.
 */
export class PlstmGridLayer extends Module implements GridMixer {
  readonly qkv: Linear;
  readonly gates: Linear;
  readonly direct: Linear;
  readonly out: Linear;
  readonly mode: 'P' | 'D';
  private readonly cache = new Map<string, { input: Tensor; output: Tensor; mask: Tensor }>();

  constructor(readonly width: number, readonly options: GridMixerOptions) {
    super();
    this.mode = options.plstmMode ?? 'P';
    const heads = options.heads;
    this.qkv = this.child('qkv', new Linear(width, 3 * width, { bias: false }));
    this.gates = this.child('gates', new Linear(width, ORIENTATIONS.length * heads * GATES_PER_ORIENTATION[this.mode]));
    this.direct = this.child('direct', new Linear(width, heads));
    this.out = this.child('out', new Linear(width, width, { bias: false }));
  }

  /**
   * The four orientations' raster orders one after another, [4·N]: entry o·N + c is the cell that orientation o's
   * grid holds at c (each flip is its own inverse), and `mask` [4B, 1, 4, 1, 1] picks orientation o's gates for the
   * rows o·B … o·B + B − 1. Both kept: they outlive the forward's scope.
   */
  private orders(grid: Grid, batch: number): { input: Tensor; output: Tensor; mask: Tensor } {
    const key = `${grid.width}x${grid.height}/${batch}`;
    let found = this.cache.get(key);
    if (!found) {
      const n = grid.width * grid.height;
      const input = new Int32Array(ORIENTATIONS.length * n);
      ORIENTATIONS.forEach(([flipX, flipY], o) => {
        for (let x = 0; x < grid.width; x++) for (let y = 0; y < grid.height; y++) {
          input[o * n + x * grid.height + y] = (flipX ? grid.width - 1 - x : x) * grid.height + (flipY ? grid.height - 1 - y : y);
        }
      });
      // Back: orientation o's output at its cell c belongs to the original cell input[o·N + c], and a flip is its own
      // inverse, so the same order read into o's block of rows.
      const output = input.map((cell, i) => Math.floor(i / n) * n + cell);
      const mask = new Float32Array(ORIENTATIONS.length * batch * ORIENTATIONS.length);
      for (let o = 0; o < ORIENTATIONS.length; o++) for (let b = 0; b < batch; b++) mask[(o * batch + b) * ORIENTATIONS.length + o] = 1;
      found = {
        input: keep(tensor(input, [input.length], { dtype: 'i32' })),
        output: keep(tensor(output, [output.length], { dtype: 'i32' })),
        mask: keep(tensor(mask, [ORIENTATIONS.length * batch, 1, ORIENTATIONS.length, 1, 1])),
      };
      this.cache.set(key, found);
    }
    return found;
  }

  /**
   * The four orientations run as one batch of 4B grids: x gathered into each orientation's cell order once, the
   * per-cell projections applied to all four (they commute with reordering), each row block taking its own
   * orientation's gates, one plstm2d over the 4B grids, and the outputs gathered back to the original cells and
   * averaged.
   */
  forward(x: Tensor, grid: Grid): Tensor {
    const [batch, cells, width] = x.shape;
    const heads = this.options.heads;
    const dh = width / heads;
    const { width: gx, height: gy } = grid;
    const g = GATES_PER_ORIENTATION[this.mode];
    const count = ORIENTATIONS.length;
    const stacked = count * batch;
    const { input, output, mask } = this.orders(grid, batch);
    return scope(() => {
      // [B, N, D] → [N, B·D] → rows gathered in the four orders [4N, B·D] → [4B, N, D].
      const flipped = embedding(x.permute([1, 0, 2]).reshape([cells, batch * width]), input)
        .reshape([count, cells, batch, width]).permute([0, 2, 1, 3]).reshape([stacked, cells, width]);
      const f = this.qkv.forward(flipped).reshape([stacked, gx, gy, 3, heads, dh]);
      const part = (i: number) => f.slice([null, null, null, i]).reshape([stacked, gx, gy, heads, dh]);
      const gates = this.gates.forward(flipped).sigmoid().reshape([stacked, cells, count, heads, g]).mul(mask).sum(2).reshape([stacked, gx, gy, heads, g]);
      const at = (i: number) => gates.slice([null, null, null, null, i]).reshape([stacked, gx, gy, heads]);
      const d = this.direct.forward(flipped).reshape([stacked, gx, gy, heads]);
      const chosen: PlstmGates = this.mode === 'P'
        ? pModeGates({ orientation: at(0), source: at(1), transition: at(2), mark: at(3), direct: d })
        : dModeGates({ sourceRight: at(0), sourceDown: at(1), right: at(2), down: at(3), cross: at(4), markLeft: at(5), markUp: at(6), direct: d });
      const y = rmsNorm(plstm2d(part(0), part(1), part(2), chosen), null, this.options.normEps); // [4B, X, Y, H, dh]
      // [4B, N, D] → [4N, B·D] (orientation-major rows) → gathered back to original cells → mean over orientations.
      const rows = y.reshape([count, batch, cells, width]).permute([0, 2, 1, 3]).reshape([count * cells, batch * width]);
      const back = embedding(rows, output).reshape([count, cells, batch, width]).mean(0);
      return this.out.forward(back.permute([1, 0, 2]));
    });
  }

  override dispose(): void {
    for (const t of this.cache.values()) for (const k of Object.values(t)) k.dispose();
    this.cache.clear();
    super.dispose();
  }
}

const headsCheck = (width: number, o: GridMixerOptions) =>
  Number.isInteger(o.heads) && o.heads >= 1 && width % o.heads === 0 && width / o.heads <= 128 ? null : `${o.heads} heads must divide the width ${width} into heads of at most 128`;

export const GRID_MIXERS: { readonly [K in GridMixerKind]: GridMixerSpec } = {
  attention: {
    summary: 'bidirectional multi-head self-attention over the cells, RoPE over the raster positions',
    name: 'self_attn',
    build: (width, o) => new GridAttention(width, o),
    check: headsCheck,
    weights: (w) => 4 * w * w,
  },
  plstm: {
    summary: 'pLSTM: the 2D linear recurrence in all four orientations, averaged (Pöppel et al. 2025); P-mode by default',
    name: 'plstm',
    build: (width, o) => new PlstmGridLayer(width, o),
    check: (width, o) => headsCheck(width, o) ?? (o.plstmMode === undefined || o.plstmMode === 'P' || o.plstmMode === 'D' ? null : `plstmMode must be 'P' or 'D', got ${JSON.stringify(o.plstmMode)}`),
    weights: (w, o) => 4 * w * w + w * o.heads * (1 + ORIENTATIONS.length * GATES_PER_ORIENTATION[o.plstmMode ?? 'P']),
  },
};
