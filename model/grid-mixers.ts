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
  private readonly orders = new Map<string, Tensor>();

  constructor(readonly width: number, readonly options: GridMixerOptions) {
    super();
    this.mode = options.plstmMode ?? 'P';
    const heads = options.heads;
    this.qkv = this.child('qkv', new Linear(width, 3 * width, { bias: false }));
    this.gates = this.child('gates', new Linear(width, ORIENTATIONS.length * heads * GATES_PER_ORIENTATION[this.mode]));
    this.direct = this.child('direct', new Linear(width, heads));
    this.out = this.child('out', new Linear(width, width, { bias: false }));
  }

  /** The raster order of the grid flipped along x and/or y (a gather: its own inverse). */
  private order(grid: Grid, flipX: boolean, flipY: boolean): Tensor {
    const key = `${grid.width}x${grid.height}/${flipX}/${flipY}`;
    let order = this.orders.get(key);
    if (!order) {
      const ids = new Int32Array(grid.width * grid.height);
      for (let x = 0; x < grid.width; x++) for (let y = 0; y < grid.height; y++) ids[x * grid.height + y] = (flipX ? grid.width - 1 - x : x) * grid.height + (flipY ? grid.height - 1 - y : y);
      this.orders.set(key, (order = keep(tensor(ids, [ids.length], { dtype: 'i32' })))); // kept: it outlives the forward's scope
    }
    return order;
  }

  forward(x: Tensor, grid: Grid): Tensor {
    const [batch, cells, width] = x.shape;
    const heads = this.options.heads;
    const dh = width / heads;
    const { width: gx, height: gy } = grid;
    const g = GATES_PER_ORIENTATION[this.mode];
    return scope(() => {
      const features = this.qkv.forward(x); // [B, N, 3D]
      const gates = this.gates.forward(x).sigmoid().reshape([batch, cells, ORIENTATIONS.length, heads, g]);
      const direct = this.direct.forward(x); // [B, N, H]
      const outputs = ORIENTATIONS.map(([flipX, flipY], o) => {
        const order = flipX || flipY ? this.order(grid, flipX, flipY) : null;
        // Cells reordered by a gather over the cell axis (its backward scatters the gradient back).
        const flip = (t: Tensor) => {
          if (!order) return t;
          const rest = t.shape.slice(2);
          const columns = rest.reduce((a, b) => a * b, batch);
          return embedding(t.permute([1, 0, ...rest.map((_, i) => i + 2)]).reshape([cells, columns]), order).reshape([cells, batch, ...rest]).permute([1, 0, ...rest.map((_, i) => i + 2)]);
        };
        const f = flip(features).reshape([batch, gx, gy, 3, heads, dh]);
        const part = (i: number) => f.slice([null, null, null, i]).reshape([batch, gx, gy, heads, dh]);
        const gate = flip(gates.slice([null, null, o]).reshape([batch, cells, heads, g])).reshape([batch, gx, gy, heads, g]);
        const at = (i: number) => gate.slice([null, null, null, null, i]).reshape([batch, gx, gy, heads]);
        const d = flip(direct).reshape([batch, gx, gy, heads]);
        const chosen: PlstmGates = this.mode === 'P'
          ? pModeGates({ orientation: at(0), source: at(1), transition: at(2), mark: at(3), direct: d })
          : dModeGates({ sourceRight: at(0), sourceDown: at(1), right: at(2), down: at(3), cross: at(4), markLeft: at(5), markUp: at(6), direct: d });
        const y = rmsNorm(plstm2d(part(0), part(1), part(2), chosen), null, this.options.normEps); // [B, X, Y, H, dh]
        return flip(y.reshape([batch, cells, heads, dh]));
      });
      const mean = outputs.reduce((a, b) => a.add(b)).mul(1 / ORIENTATIONS.length).reshape([batch, cells, width]);
      return this.out.forward(mean);
    });
  }

  override dispose(): void {
    for (const t of this.orders.values()) t.dispose();
    this.orders.clear();
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
