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
// plstm_weights:    one invocation per (b, h, source): walks the cells below and right of its source in raster
//                   order; writes A (cell-major, [B, H, N, N], the rows the product with v reads) and w_r, w_d
//                   (source-major, [2, B, H, N, N], kept for the backward).
// plstm_adjoint:    the same walk reversed, from ∂L/∂A: the adjoints ḡ_r[c, s], ḡ_d[c, s] of w_r and w_d
//   ḡ_r[c] = T_rl[right]·ḡ_r[right] + T_dl[right]·ḡ_d[right] + M_l[right]·∂A[right, s]
//   ḡ_d[c] = T_ru[down]·ḡ_r[down] + T_du[down]·ḡ_d[down] + M_u[down]·∂A[down, s]
// plstm_gate_grads: one invocation per (b, h, cell): the sums over sources that are each gate's gradient.
//
// gates: packed [9, B, N, H] in the order S_r, S_d, T_rl, T_ru, T_du, T_dl, M_l, M_u, D.

override WG: u32 = 64u;

struct PlstmParams {
  batch: u32,
  heads: u32,
  width: u32,  // X
  height: u32, // Y
}

@group(0) @binding(0) var<uniform> params: PlstmParams;
// w_r and w_d are packed [2, B, H, N, N] (a plane each), and so are their adjoints ḡ_r and ḡ_d.
@group(0) @binding(1) var<storage, read_write> out0: array<f32>; // A (weights) | ḡ (adjoint) | ∂gates (gate grads)
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

fn plane() -> u32 {
  return params.batch * params.heads * cells() * cells();
}

/** Where gate k of (b, cell c, head h) sits in the packed [9, B, N, H] gates, and in their gradients alike. */
fn gate_index(k: u32, b: u32, c: u32, h: u32) -> u32 {
  return ((k * params.batch + b) * cells() + c) * params.heads + h;
}

fn gate(k: u32, b: u32, c: u32, h: u32) -> f32 {
  return gates[gate_index(k, b, c, h)];
}

/**
 * What an invocation over (b, h, cell or source) works on, i = bh·N + index: the index's grid position (x, y) and,
 * for a source, where its row of path weights over cells starts.
 */
struct Site {
  valid: bool,
  index: u32,
  bh: u32,
  b: u32,
  h: u32,
  x: u32,
  y: u32,
  row: u32,
}

fn site(gid: vec3<u32>, nwg: vec3<u32>) -> Site {
  let n = cells();
  let i = gid.x + gid.y * nwg.x * WG;
  let bh = i / n;
  let index = i % n;
  return Site(i < params.batch * params.heads * n, index, bh, bh / params.heads, bh % params.heads, index / params.height, index % params.height, (bh * n + index) * n);
}

/** Whether cell c lies below and right of the source: the only cells its weights reach. */
fn in_quadrant(c: u32, source: Site) -> bool {
  return c / params.height >= source.x && c % params.height >= source.y;
}

@compute @workgroup_size(WG)
fn plstm_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let at = site(gid, nwg);
  if (!at.valid) { return; }
  let n = cells();
  let Y = params.height;
  let p = plane();
  // Cells outside the source's quadrant hold zeros (the backward reads them as such).
  for (var c = 0u; c < n; c++) {
    if (!in_quadrant(c, at)) {
      out0[(at.bh * n + c) * n + at.index] = 0.0;
      out1[at.row + c] = 0.0;
      out1[p + at.row + c] = 0.0;
    }
  }
  for (var x = at.x; x < params.width; x++) {
    for (var y = at.y; y < Y; y++) {
      let c = x * Y + y;
      var left = 0.0;
      var up = 0.0;
      if (x > at.x) { left = out1[at.row + c - Y]; }
      if (y > at.y) { up = out1[p + at.row + c - 1u]; }
      let here = select(0.0, 1.0, c == at.index);
      out1[at.row + c] = gate(T_RL, at.b, c, at.h) * left + gate(T_RU, at.b, c, at.h) * up + here * gate(S_R, at.b, c, at.h);
      out1[p + at.row + c] = gate(T_DU, at.b, c, at.h) * up + gate(T_DL, at.b, c, at.h) * left + here * gate(S_D, at.b, c, at.h);
      out0[(at.bh * n + c) * n + at.index] = gate(M_L, at.b, c, at.h) * left + gate(M_U, at.b, c, at.h) * up + here * gate(DIRECT, at.b, c, at.h);
    }
  }
}

@compute @workgroup_size(WG)
fn plstm_adjoint(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let at = site(gid, nwg);
  if (!at.valid) { return; }
  let n = cells();
  let X = params.width;
  let Y = params.height;
  let p = plane();
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
        gr = gate(T_RL, at.b, r, at.h) * out0[at.row + r] + gate(T_DL, at.b, r, at.h) * out0[p + at.row + r] + gate(M_L, at.b, r, at.h) * dA[(at.bh * n + r) * n + at.index];
      }
      if (y < Y) {
        let d = c + 1u;
        gd = gate(T_RU, at.b, d, at.h) * out0[at.row + d] + gate(T_DU, at.b, d, at.h) * out0[p + at.row + d] + gate(M_U, at.b, d, at.h) * dA[(at.bh * n + d) * n + at.index];
      }
      out0[at.row + c] = gr;
      out0[p + at.row + c] = gd;
    }
  }
}

@compute @workgroup_size(WG)
fn plstm_gate_grads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let at = site(gid, nwg);
  if (!at.valid) { return; }
  let n = cells();
  let c = at.index;
  let Y = params.height;
  var tRL = 0.0;
  var tRU = 0.0;
  var tDU = 0.0;
  var tDL = 0.0;
  var mL = 0.0;
  var mU = 0.0;
  let p = plane();
  for (var s = 0u; s < n; s++) {
    let row = (at.bh * n + s) * n;
    var left = 0.0;
    var up = 0.0;
    if (at.x > 0u) { left = w[row + c - Y]; }
    if (at.y > 0u) { up = w[p + row + c - 1u]; }
    let gr = g[row + c];
    let gd = g[p + row + c];
    let da = dA[(at.bh * n + c) * n + s];
    tRL += gr * left;
    tRU += gr * up;
    tDU += gd * up;
    tDL += gd * left;
    mL += da * left;
    mU += da * up;
  }
  // The cell as its own source (where S_r, S_d and D enter): [c, c] in A's layout and in ḡ's alike (at.row + c).
  let own = at.row + c;
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
  out0[gate_index(DIRECT, b, c, h)] = dA[own];
}
