// pLSTM's 2D recurrence as path weights (engine/ops/plstm.ts; tests: test/plstm.test.ts; the math:
// ../shared/design/plstm-hiss.md). Every gate is a scalar per head and cell, so the rightward and downward states are
// sums over sources s of w_r[c, s]·k_sᵀv_s and w_d[c, s]·k_sᵀv_s, with scalar weights that obey, per source,
//   w_r[c] = T_rl[c]·w_r[left(c)] + T_ru[c]·w_d[up(c)] + [c = s]·S_r[c]
//   w_d[c] = T_du[c]·w_d[up(c)] + T_dl[c]·w_r[left(c)] + [c = s]·S_d[c]
// and the output at c is Σ_s A[c, s]·(q_c·k_s)·v_s with
//   A[c, s] = M_l[c]·w_r[left(c)] + M_u[c]·w_d[up(c)] + [c = s]·D[c].
// left(c) = (x − 1, y) and up(c) = (x, y − 1) on an X × Y grid, cells in raster order c = x·Y + y; a weight is zero
// unless the source lies above and left of the cell (xs ≤ x, ys ≤ y). Any X and Y (no padding to powers of two).
//
// With params.edges = 1 the grid is one block of a larger one (the blocked form), and its edges are sources and
// targets too: sources N + y (the rightward state entering row y from the left: w_r[left((0, y))] = 1) and
// N + Y + x (the downward state entering column x from above: w_d[up((x, 0))] = 1); targets N + y (the rightward
// state leaving row y, w_r at (X − 1, y)) and N + Y + x (the downward state leaving column x, w_d at (x, Y − 1)).
// The output is then the block's transfer M [B, H, T, S] (T = S = N + X + Y); with edges = 0 it is A (T = S = N).
//
// plstm_weights:    one invocation per (b, h, source): walks the cells below and right of its source in raster
//                   order; writes A or M (target-major, [B, H, T, S], the rows the product with v reads) and w_r, w_d
//                   (source-major, [2, B, H, S, N], kept for the backward).
// plstm_adjoint:    the same walk reversed, from ∂L/∂A: the adjoints ḡ_r[c, s], ḡ_d[c, s] of w_r and w_d
//   ḡ_r[c] = T_rl[right]·ḡ_r[right] + T_dl[right]·ḡ_d[right] + M_l[right]·∂A[right, s]   (+ ∂M[N + y, s] at x = X − 1)
//   ḡ_d[c] = T_ru[down]·ḡ_r[down] + T_du[down]·ḡ_d[down] + M_u[down]·∂A[down, s]         (+ ∂M[N + Y + x, s] at y = Y − 1)
// plstm_gate_grads: one invocation per (b, h, cell): the sums over sources that are each gate's gradient.
//
// gates: packed [9, B, N, H] in the order S_r, S_d, T_rl, T_ru, T_du, T_dl, M_l, M_u, D.

override WG: u32 = 64u;

struct PlstmParams {
  batch: u32,
  heads: u32,
  width: u32,  // X
  height: u32, // Y
  edges: u32,  // 1: the block's edges are sources and targets (the transfer M); 0: cells only (A)
}

@group(0) @binding(0) var<uniform> params: PlstmParams;
// w_r and w_d are packed [2, B, H, S, N] (a plane each), and so are their adjoints ḡ_r and ḡ_d.
@group(0) @binding(1) var<storage, read_write> out0: array<f32>; // A or M (weights) | ḡ (adjoint) | ∂gates (gate grads)
@group(0) @binding(2) var<storage, read_write> out1: array<f32>; // w (weights)
@group(0) @binding(3) var<storage, read> gates: array<f32>;
@group(0) @binding(4) var<storage, read> dA: array<f32>; // adjoint, gate grads
@group(0) @binding(5) var<storage, read> w: array<f32>;  // gate grads
@group(0) @binding(6) var<storage, read> g: array<f32>;  // gate grads

const S_R: u32 = 0u;
const S_D: u32 = 1u;
const T_RL: u32 = 2u;
const T_RU: u32 = 3u;
const T_DU: u32 = 4u;
const T_DL: u32 = 5u;
const M_L: u32 = 6u;
const M_U: u32 = 7u;
const DIRECT: u32 = 8u;

fn cells() -> u32 {
  return params.width * params.height;
}

/** Sources and targets alike: the cells, then (in the blocked form) the Y row edges and the X column edges. */
fn sites() -> u32 {
  return cells() + select(0u, params.width + params.height, params.edges != 0u);
}

fn plane() -> u32 {
  return params.batch * params.heads * sites() * cells();
}

/** Where gate k of (b, cell c, head h) sits in the packed [9, B, N, H] gates, and in their gradients alike. */
fn gate_index(k: u32, b: u32, c: u32, h: u32) -> u32 {
  return ((k * params.batch + b) * cells() + c) * params.heads + h;
}

fn gate(k: u32, b: u32, c: u32, h: u32) -> f32 {
  return gates[gate_index(k, b, c, h)];
}

/** Where A[t, s] or M[t, s] of (b, h) = bh sits: target-major, [B, H, T, S]. */
fn transfer_index(bh: u32, t: u32, s: u32) -> u32 {
  return (bh * sites() + t) * sites() + s;
}

const FROM_CELL: u32 = 0u;
const FROM_LEFT: u32 = 1u;
const FROM_ABOVE: u32 = 2u;

/**
 * What an invocation over (b, h, index) works on, i = bh·count + index, count the sources or the cells: the grid
 * position (x, y) its walk starts from (a source's cell, or the first cell its edge enters), what kind of source it
 * is, and, for a source, where its row of path weights over cells starts.
 */
struct Site {
  valid: bool,
  index: u32,
  bh: u32,
  b: u32,
  h: u32,
  x: u32,
  y: u32,
  kind: u32,
  row: u32,
}

fn site(gid: vec3<u32>, nwg: vec3<u32>, count: u32) -> Site {
  let n = cells();
  let Y = params.height;
  let i = gid.x + gid.y * nwg.x * WG;
  let bh = i / count;
  let index = i % count;
  var x = index / Y;
  var y = index % Y;
  var kind = FROM_CELL;
  if (index >= n + Y) {
    kind = FROM_ABOVE;
    x = index - n - Y;
    y = 0u;
  } else if (index >= n) {
    kind = FROM_LEFT;
    x = 0u;
    y = index - n;
  }
  return Site(i < params.batch * params.heads * count, index, bh, bh / params.heads, bh % params.heads, x, y, kind, (bh * sites() + index) * n);
}

/** Whether cell c lies below and right of where the source enters: the only cells its weights reach. */
fn in_quadrant(c: u32, source: Site) -> bool {
  return c / params.height >= source.x && c % params.height >= source.y;
}

@compute @workgroup_size(WG)
fn plstm_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let at = site(gid, nwg, sites());
  if (!at.valid) { return; }
  let n = cells();
  let X = params.width;
  let Y = params.height;
  let p = plane();
  // Cells outside the source's quadrant hold zeros (the backward reads them as such).
  for (var c = 0u; c < n; c++) {
    if (!in_quadrant(c, at)) {
      out0[transfer_index(at.bh, c, at.index)] = 0.0;
      out1[at.row + c] = 0.0;
      out1[p + at.row + c] = 0.0;
    }
  }
  for (var x = at.x; x < X; x++) {
    for (var y = at.y; y < Y; y++) {
      let c = x * Y + y;
      var left = select(0.0, 1.0, at.kind == FROM_LEFT && y == at.y);
      var up = select(0.0, 1.0, at.kind == FROM_ABOVE && x == at.x);
      if (x > at.x) { left = out1[at.row + c - Y]; }
      if (y > at.y) { up = out1[p + at.row + c - 1u]; }
      let here = select(0.0, 1.0, at.kind == FROM_CELL && c == at.index);
      out1[at.row + c] = gate(T_RL, at.b, c, at.h) * left + gate(T_RU, at.b, c, at.h) * up + here * gate(S_R, at.b, c, at.h);
      out1[p + at.row + c] = gate(T_DU, at.b, c, at.h) * up + gate(T_DL, at.b, c, at.h) * left + here * gate(S_D, at.b, c, at.h);
      out0[transfer_index(at.bh, c, at.index)] = gate(M_L, at.b, c, at.h) * left + gate(M_U, at.b, c, at.h) * up + here * gate(DIRECT, at.b, c, at.h);
    }
  }
  if (params.edges != 0u) {
    for (var y = 0u; y < Y; y++) { out0[transfer_index(at.bh, n + y, at.index)] = out1[at.row + (X - 1u) * Y + y]; }
    for (var x = 0u; x < X; x++) { out0[transfer_index(at.bh, n + Y + x, at.index)] = out1[p + at.row + x * Y + Y - 1u]; }
  }
}

@compute @workgroup_size(WG)
fn plstm_adjoint(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let at = site(gid, nwg, sites());
  if (!at.valid) { return; }
  let n = cells();
  let X = params.width;
  let Y = params.height;
  let p = plane();
  let edges = params.edges != 0u;
  for (var c = 0u; c < n; c++) {
    if (!in_quadrant(c, at)) {
      out0[at.row + c] = 0.0;
      out0[p + at.row + c] = 0.0;
    }
  }
  for (var x = X; x > at.x; x--) {
    for (var y = Y; y > at.y; y--) {
      let c = (x - 1u) * Y + (y - 1u);
      var gr = 0.0;
      var gd = 0.0;
      if (x < X) {
        let r = c + Y;
        gr = gate(T_RL, at.b, r, at.h) * out0[at.row + r] + gate(T_DL, at.b, r, at.h) * out0[p + at.row + r] + gate(M_L, at.b, r, at.h) * dA[transfer_index(at.bh, r, at.index)];
      } else if (edges) {
        gr = dA[transfer_index(at.bh, n + y - 1u, at.index)];
      }
      if (y < Y) {
        let d = c + 1u;
        gd = gate(T_RU, at.b, d, at.h) * out0[at.row + d] + gate(T_DU, at.b, d, at.h) * out0[p + at.row + d] + gate(M_U, at.b, d, at.h) * dA[transfer_index(at.bh, d, at.index)];
      } else if (edges) {
        gd = dA[transfer_index(at.bh, n + Y + x - 1u, at.index)];
      }
      out0[at.row + c] = gr;
      out0[p + at.row + c] = gd;
    }
  }
}

@compute @workgroup_size(WG)
fn plstm_gate_grads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let at = site(gid, nwg, cells());
  if (!at.valid) { return; }
  let n = cells();
  let c = at.index;
  let Y = params.height;
  let count = sites();
  let edges = params.edges != 0u;
  var tRL = 0.0;
  var tRU = 0.0;
  var tDU = 0.0;
  var tDL = 0.0;
  var mL = 0.0;
  var mU = 0.0;
  let p = plane();
  for (var s = 0u; s < count; s++) {
    let row = (at.bh * count + s) * n;
    // At the block's edge what arrives is the edge's own source (weight 1); inside, the neighbour's weight.
    var left = select(0.0, 1.0, edges && s == n + at.y);
    var up = select(0.0, 1.0, edges && s == n + Y + at.x);
    if (at.x > 0u) { left = w[row + c - Y]; }
    if (at.y > 0u) { up = w[p + row + c - 1u]; }
    let gr = g[row + c];
    let gd = g[p + row + c];
    let da = dA[transfer_index(at.bh, c, s)];
    tRL += gr * left;
    tRU += gr * up;
    tDU += gd * up;
    tDL += gd * left;
    mL += da * left;
    mU += da * up;
  }
  // The cell as its own source (where S_r, S_d and D enter): ḡ's row of source c at cell c, and A's or M's [c, c].
  let own = (at.bh * count + c) * n + c;
  let b = at.b;
  let h = at.h;
  out0[gate_index(S_R, b, c, h)] = g[own];
  out0[gate_index(S_D, b, c, h)] = g[p + own];
  out0[gate_index(T_RL, b, c, h)] = tRL;
  out0[gate_index(T_RU, b, c, h)] = tRU;
  out0[gate_index(T_DU, b, c, h)] = tDU;
  out0[gate_index(T_DL, b, c, h)] = tDL;
  out0[gate_index(M_L, b, c, h)] = mL;
  out0[gate_index(M_U, b, c, h)] = mU;
  out0[gate_index(DIRECT, b, c, h)] = dA[transfer_index(at.bh, c, c)];
}
