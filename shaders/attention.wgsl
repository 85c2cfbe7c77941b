// Scaled dot-product attention over q [B, H, Tq, Dh], k and v [B, H, Tk, Dh], with an optional causal mask aligned
// to the end (query i sees keys j <= i + Tk - Tq, so a decoding step with a cache of Tk keys and Tq = 1 sees them
// all), and optional rotary position embedding applied to q and k as they are read (ROPE), so no rotated copy of
// q or k is ever stored.
//
// Math (both variants): s_ij = scale q'_i . k'_j (q', k' rotated); O_i = sum_j softmax_j(s_i.) v_j; the forward saves
// L_i = max_j s_ij + log sum_j exp(s_ij - max). The backward recomputes P_ij = exp(s_ij - L_i) instead of storing it:
//   D_i = dO_i . O_i,  dS_ij = P_ij (dO_i . v_j - D_i),  dq'_i = scale sum_j dS_ij k'_j,
//   dk'_j = scale sum_i dS_ij q'_i,  dv_j = sum_i P_ij dO_i;  dq = R(-theta) dq',  dk = R(-theta) dk'.
// Every output element is summed by one invocation in a fixed order: deterministic, no atomics.
//
// Two variants of each kernel, chosen per adapter (engine/ops/attention.ts):
//   row_*   one invocation per query (or key) row, operands read straight from global memory, no barriers: the fast
//           choice on CPU drivers, where a barrier costs more than the memory it saves.
//   flash_* FlashAttention-2 tiling for GPUs: a workgroup owns BR query rows (or BC keys for dk/dv), stages tiles of
//           the other operand in workgroup memory, computes the BR x BC score tile cooperatively, and keeps its
//           output block in registers across the loop; the online softmax rescales it per tile.
//
// Bindings (every entry binds all eight, unused ones to placeholders):
//   out   O | dq | dk          out2  stats | stats | dv       (stats = [L (rows) | D (rows)])
//   q, k, v, d_out             read through (batch, head, time) strides with unit stride along Dh
//   aux   - | O | stats        table  RoPE cos/sin pairs [position][pair][2]
// dq, dk and dv are written contiguous [B, H, T, Dh]; O through its strides (params.o).

const MAX_HEAD_DIM: u32 = 128u;
// Masked scores; compared against MASK_CUT rather than used in exp, so a fully masked tile contributes nothing.
const MASKED: f32 = -3.0e38;
const MASK_CUT: f32 = -1.0e38;

override WG: u32 = 64u;
override CAUSAL: bool = false;
override ROPE: bool = false;
// Decoding a batch whose rows hold different numbers of cached keys: row b sees keys [0, key_lengths[b]), read as
// floats from the table binding (which RoPE would use: the two are never on together). Row kernels, forward only.
override KEY_LENGTHS: bool = false;
// Backward dk/dv kernels: dk and dv are parts of one packed gradient, bound as out; dv goes there (layout g2) too.
override PACKED_GRADS: bool = false;
// PrefixLM (with CAUSAL): row b's first prefix[b] keys are seen by every query (the instruction attends both ways,
// the rest causally): query i sees key j when j ≤ i or j < prefix[b]. The lengths are floats in the table binding
// from params.prefix_at (after RoPE's table when both are on).
override PREFIX: bool = false;

// Flash tiling: BR query rows x BC keys per tile, DH = the head dim rounded up to a multiple of 4, FWG invocations.
override BR: u32 = 16u;
override BC: u32 = 16u;
override DH: u32 = 64u;
override FWG: u32 = 64u;

// A strided operand: element (b, h, t, d) is at offset + b * batch + h * head + t * time + d.
struct Layout {
  offset: u32,
  batch: u32,
  head: u32,
  time: u32,
}

struct AttentionParams {
  q: Layout,
  k: Layout,
  v: Layout,
  o: Layout,
  d_o: Layout,
  g1: Layout,   // backward: where out's gradient rows go (dq, or dk), e.g. a third of a packed dqkv
  g2: Layout,   // backward: where out2's go (dv)
  bh: u32,
  tq: u32,
  tk: u32,
  head_dim: u32,
  scale: f32,
  heads: u32,
  rotary: u32,        // ROPE: channels that rotate (even; the rest pass through)
  q_position: u32,    // ROPE: position of query 0
  k_position: u32,    // ROPE: position of key 0
  window: u32,        // sliding window (with CAUSAL): query i sees only its last `window` keys; 0: all
  prefix_at: u32,     // PREFIX: where the prefix lengths start in the table binding
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> k: array<f32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;
@group(0) @binding(6) var<storage, read> d_out: array<f32>;
@group(0) @binding(7) var<storage, read> aux: array<f32>;
@group(0) @binding(8) var<storage, read> table: array<f32>;

fn row_start(operand: Layout, bh: u32, t: u32) -> u32 {
  return operand.offset + (bh / params.heads) * operand.batch + (bh % params.heads) * operand.head + t * operand.time;
}

// Stores a dv element: into out2, or into out when the gradients are packed.
fn store_dv(index: u32, value: f32) {
  if (PACKED_GRADS) { out[index] = value; } else { out2[index] = value; }
}

// Index of channel d of gradient row flat_row (= bh * per_bh + t) in layout g.
fn grad_index(g: Layout, flat_row: u32, per_bh: u32, d: u32) -> u32 {
  return row_start(g, flat_row / per_bh, flat_row % per_bh) + d;
}

// PREFIX: the prefix length of (batch, head) bh (0 without PREFIX). A load from a read-only binding at a uniform
// index, so loop bounds built from it stay uniform for the flash kernels' barriers.
fn prefix_of(bh: u32) -> u32 {
  if (PREFIX) { return min(params.tk, u32(max(table[params.prefix_at + bh / params.heads], 0.0))); }
  return 0u;
}

fn last_key(prefix: u32, i: u32) -> u32 {
  // Exclusive bound of the keys query i may attend to (a prefix seen by all: the larger of the two bounds).
  if (!CAUSAL) { return params.tk; }
  let causal = min(params.tk, i + 1u + params.tk - min(params.tk, params.tq));
  return max(causal, prefix);
}

fn first_query(prefix: u32, j: u32) -> u32 {
  // The first query that may attend to key j (causal), so a loop over queries can skip the rest.
  if (!CAUSAL) { return 0u; }
  if (j < prefix) { return 0u; }
  let shift = params.tk - min(params.tk, params.tq);
  if (j <= shift) { return 0u; }
  return j - shift;
}

fn first_key(end: u32) -> u32 {
  // The first key a query whose keys end (exclusive) at `end` sees: the window's start.
  if (params.window == 0u || end <= params.window) { return 0u; }
  return end - params.window;
}

fn last_query(j: u32) -> u32 {
  // Exclusive bound of the queries that see key j: with a window, query i sees j while j >= last_key(i) - window.
  if (params.window == 0u) { return params.tq; }
  let shift = params.tk - min(params.tk, params.tq);
  if (j + params.window <= shift) { return 0u; }
  return min(params.tq, j + params.window - shift);
}

// ---------------------------------------------------------------------------------------------------------------
// Rotary embedding, rotate-half pairing (d, d + rotary/2) as shaders/rope.wgsl: sign 1 rotates, sign -1 undoes it.

fn partner(d: u32) -> u32 {
  let half = params.rotary / 2u;
  return select(d - half, d + half, d < half);
}

fn rotate(x_d: f32, x_partner: f32, d: u32, position: u32, sign: f32) -> f32 {
  let half = params.rotary / 2u;
  let at = (position * half + d % half) * 2u;
  let cs = table[at];
  return rotate_half(x_d, x_partner, d < half, cs, sign * table[at + 1u]);
}

// Element d of q row (bh, i), rotated when ROPE.
fn q_at(start: u32, d: u32, i: u32) -> f32 {
  if (!ROPE || d >= params.rotary) { return q[start + d]; }
  return rotate(q[start + d], q[start + partner(d)], d, params.q_position + i, 1.0);
}

fn k_at(start: u32, d: u32, j: u32) -> f32 {
  if (!ROPE || d >= params.rotary) { return k[start + d]; }
  return rotate(k[start + d], k[start + partner(d)], d, params.k_position + j, 1.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Row kernels (CPU drivers).

fn dot_do_v(dos: u32, vs: u32) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < params.head_dim; d++) { s += d_out[dos + d] * v[vs + d]; }
  return s;
}

@compute @workgroup_size(WG)
fn row_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= params.bh * params.tq) { return; }
  let bh = row / params.tq;
  let prefix = prefix_of(bh);
  let i = row % params.tq;
  let dh = params.head_dim;
  let qs = row_start(params.q, bh, i);
  var qr: array<f32, MAX_HEAD_DIM>;
  for (var d = 0u; d < dh; d++) { qr[d] = q_at(qs, d, i) * params.scale; }
  var acc: array<f32, MAX_HEAD_DIM>;
  var m = MASKED;
  var l = 0.0;
  var end = last_key(prefix, i);
  if (KEY_LENGTHS) { end = min(end, u32(max(table[bh / params.heads], 0.0))); }
  for (var j = first_key(end); j < end; j++) {
    let ks = row_start(params.k, bh, j);
    var s = 0.0;
    for (var d = 0u; d < dh; d++) { s += qr[d] * k_at(ks, d, j); }
    let vs = row_start(params.v, bh, j);
    let m_new = max(m, s);
    let correction = exp(m - m_new);
    let p = exp(s - m_new);
    l = l * correction + p;
    for (var d = 0u; d < dh; d++) { acc[d] = acc[d] * correction + p * v[vs + d]; }
    m = m_new;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let os = row_start(params.o, bh, i);
  for (var d = 0u; d < dh; d++) { out[os + d] = acc[d] * inv; }
  out2[row] = select(m, m + log(l), l > 0.0);
}

// D = dO · O of query row `row` (rows of them in all), kept after L in out2 for the dk/dv kernel; the row kernels'
// dq entries share it.
fn row_delta(rows: u32, row: u32, dos: u32, os: u32) -> f32 {
  var big_d = 0.0;
  for (var d = 0u; d < params.head_dim; d++) { big_d += d_out[dos + d] * aux[os + d]; }
  out2[rows + row] = big_d;
  return big_d;
}

@compute @workgroup_size(WG)
fn row_backward_dq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let rows = params.bh * params.tq;
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= rows) { return; }
  let bh = row / params.tq;
  let prefix = prefix_of(bh);
  let i = row % params.tq;
  let dh = params.head_dim;
  let qs = row_start(params.q, bh, i);
  let dos = row_start(params.d_o, bh, i);
  let os = row_start(params.o, bh, i);
  let big_d = row_delta(rows, row, dos, os);
  let l_i = out2[row];
  var qr: array<f32, MAX_HEAD_DIM>;
  for (var d = 0u; d < dh; d++) { qr[d] = q_at(qs, d, i) * params.scale; }
  var dq: array<f32, MAX_HEAD_DIM>;
  let end = last_key(prefix, i);
  for (var j = first_key(end); j < end; j++) {
    let ks = row_start(params.k, bh, j);
    var s = 0.0;
    for (var d = 0u; d < dh; d++) { s += qr[d] * k_at(ks, d, j); }
    let p = exp(s - l_i);
    let ds = p * (dot_do_v(dos, row_start(params.v, bh, j)) - big_d);
    for (var d = 0u; d < dh; d++) { dq[d] += ds * k_at(ks, d, j); }
  }
  for (var d = 0u; d < dh; d++) {
    var g = dq[d];
    if (ROPE && d < params.rotary) { g = rotate(dq[d], dq[partner(d)], d, params.q_position + i, -1.0); }
    out[grad_index(params.g1, row, params.tq, d)] = g * params.scale;
  }
}

@compute @workgroup_size(WG)
fn row_backward_dkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let rows = params.bh * params.tq;
  let key_row = gid.x + gid.y * nwg.x * WG;
  if (key_row >= params.bh * params.tk) { return; }
  let bh = key_row / params.tk;
  let prefix = prefix_of(bh);
  let j = key_row % params.tk;
  let dh = params.head_dim;
  let ks = row_start(params.k, bh, j);
  let vs = row_start(params.v, bh, j);
  var kr: array<f32, MAX_HEAD_DIM>;
  for (var d = 0u; d < dh; d++) { kr[d] = k_at(ks, d, j) * params.scale; }
  var dk: array<f32, MAX_HEAD_DIM>;
  var dv: array<f32, MAX_HEAD_DIM>;
  for (var i = first_query(prefix, j); i < last_query(j); i++) {
    let row = bh * params.tq + i;
    let qs = row_start(params.q, bh, i);
    let dos = row_start(params.d_o, bh, i);
    var s = 0.0;
    for (var d = 0u; d < dh; d++) { s += q_at(qs, d, i) * kr[d]; }
    let p = exp(s - aux[row]);
    let ds = p * (dot_do_v(dos, vs) - aux[rows + row]);
    for (var d = 0u; d < dh; d++) {
      dv[d] += p * d_out[dos + d];
      dk[d] += ds * q_at(qs, d, i);
    }
  }
  for (var d = 0u; d < dh; d++) {
    var g = dk[d];
    if (ROPE && d < params.rotary) { g = rotate(dk[d], dk[partner(d)], d, params.k_position + j, -1.0); }
    out[grad_index(params.g1, key_row, params.tk, d)] = g * params.scale;
    store_dv(grad_index(params.g2, key_row, params.tk, d), dv[d]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Row kernels for heads of at most 16 channels (CPU drivers): the same arithmetic as the row kernels above, with a
// row held in four vec4 registers (H16) instead of an array indexed by a loop variable, which SwiftShader keeps in
// memory (every FMA a load and a store). Channels past head_dim are zero.

struct H16 {
  x0: vec4<f32>,
  x1: vec4<f32>,
  x2: vec4<f32>,
  x3: vec4<f32>,
}

fn h_dot(a: H16, b: H16) -> f32 {
  return dot(a.x0, b.x0) + dot(a.x1, b.x1) + dot(a.x2, b.x2) + dot(a.x3, b.x3);
}

// a * s + b * t
fn h_mix(a: H16, s: f32, b: H16, t: f32) -> H16 {
  return H16(a.x0 * s + b.x0 * t, a.x1 * s + b.x1 * t, a.x2 * s + b.x2 * t, a.x3 * s + b.x3 * t);
}

fn h_scale(a: H16, s: f32) -> H16 {
  return H16(a.x0 * s, a.x1 * s, a.x2 * s, a.x3 * s);
}

// The row16 kernels' head dimension, a constant so the per-channel bounds below fold away.
override SHORT_HEAD_DIM: u32 = 16u;

// Channel d of a rotated q (which 0) or k (which 1) row, or 0 past the head.
fn qk_at(which: u32, start: u32, d: u32, t: u32) -> f32 {
  if (d >= SHORT_HEAD_DIM) { return 0.0; }
  if (which == 0u) { return q_at(start, d, t); }
  return k_at(start, d, t);
}

fn qk4(which: u32, start: u32, d0: u32, t: u32) -> vec4<f32> {
  return vec4<f32>(qk_at(which, start, d0, t), qk_at(which, start, d0 + 1u, t), qk_at(which, start, d0 + 2u, t), qk_at(which, start, d0 + 3u, t));
}

fn q16(start: u32, t: u32) -> H16 {
  return H16(qk4(0u, start, 0u, t), qk4(0u, start, 4u, t), qk4(0u, start, 8u, t), qk4(0u, start, 12u, t));
}

fn k16(start: u32, t: u32) -> H16 {
  return H16(qk4(1u, start, 0u, t), qk4(1u, start, 4u, t), qk4(1u, start, 8u, t), qk4(1u, start, 12u, t));
}

// Channels d0 .. d0 + 3 of a plain (unrotated) row of v or dO.
fn plain_at(from_v: bool, start: u32, d: u32) -> f32 {
  if (d >= SHORT_HEAD_DIM) { return 0.0; }
  if (from_v) { return v[start + d]; }
  return d_out[start + d];
}

fn plain4(from_v: bool, start: u32, d0: u32) -> vec4<f32> {
  return vec4<f32>(plain_at(from_v, start, d0), plain_at(from_v, start, d0 + 1u), plain_at(from_v, start, d0 + 2u), plain_at(from_v, start, d0 + 3u));
}

fn v16(start: u32) -> H16 {
  return H16(plain4(true, start, 0u), plain4(true, start, 4u), plain4(true, start, 8u), plain4(true, start, 12u));
}

fn do16(start: u32) -> H16 {
  return H16(plain4(false, start, 0u), plain4(false, start, 4u), plain4(false, start, 8u), plain4(false, start, 12u));
}

fn h_at(a: H16, d: u32) -> f32 {
  let lane = d % 4u;
  switch (d / 4u) {
    case 0u: { return a.x0[lane]; }
    case 1u: { return a.x1[lane]; }
    case 2u: { return a.x2[lane]; }
    default: { return a.x3[lane]; }
  }
}

// Writes g (times `scale`) as gradient row flat_row (per_bh rows per head) of out or out2, un-rotating it first
// where the operand was rotated (position p).
fn store16(second: bool, flat_row: u32, per_bh: u32, g: H16, scale: f32, rotated: bool, position: u32) {
  for (var d = 0u; d < params.head_dim; d++) {
    var value = h_at(g, d);
    if (ROPE && rotated && d < params.rotary) { value = rotate(value, h_at(g, partner(d)), d, position, -1.0); }
    if (second) { store_dv(grad_index(params.g2, flat_row, per_bh, d), value * scale); } else { out[grad_index(params.g1, flat_row, per_bh, d)] = value * scale; }
  }
}

@compute @workgroup_size(WG)
fn row16_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= params.bh * params.tq) { return; }
  let bh = row / params.tq;
  let prefix = prefix_of(bh);
  let i = row % params.tq;
  let qr = h_scale(q16(row_start(params.q, bh, i), i), params.scale);
  var acc = H16(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  var m = MASKED;
  var l = 0.0;
  var end = last_key(prefix, i);
  if (KEY_LENGTHS) { end = min(end, u32(max(table[bh / params.heads], 0.0))); }
  for (var j = first_key(end); j < end; j++) {
    let s = h_dot(qr, k16(row_start(params.k, bh, j), j));
    let m_new = max(m, s);
    let correction = exp(m - m_new);
    let p = exp(s - m_new);
    l = l * correction + p;
    acc = h_mix(acc, correction, v16(row_start(params.v, bh, j)), p);
    m = m_new;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let os = row_start(params.o, bh, i);
  for (var d = 0u; d < params.head_dim; d++) { out[os + d] = h_at(acc, d) * inv; }
  out2[row] = select(m, m + log(l), l > 0.0);
}

@compute @workgroup_size(WG)
fn row16_backward_dq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let rows = params.bh * params.tq;
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= rows) { return; }
  let bh = row / params.tq;
  let prefix = prefix_of(bh);
  let i = row % params.tq;
  let d_o = do16(row_start(params.d_o, bh, i));
  let big_d = row_delta(rows, row, row_start(params.d_o, bh, i), row_start(params.o, bh, i));
  let l_i = out2[row];
  let qr = h_scale(q16(row_start(params.q, bh, i), i), params.scale);
  var dq = H16(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  let end = last_key(prefix, i);
  for (var j = first_key(end); j < end; j++) {
    let kr = k16(row_start(params.k, bh, j), j);
    let p = exp(h_dot(qr, kr) - l_i);
    let ds = p * (h_dot(d_o, v16(row_start(params.v, bh, j))) - big_d);
    dq = h_mix(dq, 1.0, kr, ds);
  }
  store16(false, row, params.tq, dq, params.scale, true, params.q_position + i);
}

@compute @workgroup_size(WG)
fn row16_backward_dkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let rows = params.bh * params.tq;
  let key_row = gid.x + gid.y * nwg.x * WG;
  if (key_row >= params.bh * params.tk) { return; }
  let bh = key_row / params.tk;
  let prefix = prefix_of(bh);
  let j = key_row % params.tk;
  let kr = h_scale(k16(row_start(params.k, bh, j), j), params.scale);
  let vr = v16(row_start(params.v, bh, j));
  var dk = H16(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  var dv = dk;
  for (var i = first_query(prefix, j); i < last_query(j); i++) {
    let row = bh * params.tq + i;
    let qr = q16(row_start(params.q, bh, i), i);
    let d_o = do16(row_start(params.d_o, bh, i));
    let p = exp(h_dot(qr, kr) - aux[row]);
    let ds = p * (h_dot(d_o, vr) - aux[rows + row]);
    dv = h_mix(dv, 1.0, d_o, p);
    dk = h_mix(dk, 1.0, qr, ds);
  }
  store16(false, key_row, params.tk, dk, params.scale, true, params.k_position + j);
  store16(true, key_row, params.tk, dv, 1.0, false, 0u);
}

// ---------------------------------------------------------------------------------------------------------------
// Flash kernels (GPUs). Tiles in workgroup memory are [row][DH]; channels past head_dim are zero. Each invocation
// owns the output elements e = lane + n * FWG (n < BR * DH / FWG, at most MAX_OWNED): row e / DH, channel e % DH.

const MAX_OWNED: u32 = 32u;

var<workgroup> tile_q: array<f32, BR * DH>;   // queries (pre-scaled), rotated
var<workgroup> tile_o: array<f32, BR * DH>;   // dO tile (backward); the dq / dk block for un-rotating at the end
var<workgroup> tile_k: array<f32, BC * DH>;   // keys, rotated
var<workgroup> tile_v: array<f32, BC * DH>;
var<workgroup> tile_s: array<f32, BR * BC>;   // scores, then probabilities
var<workgroup> tile_ds: array<f32, BR * BC>;  // backward: dS
var<workgroup> row_m: array<f32, BR>;         // forward: running max; backward: L
var<workgroup> row_l: array<f32, BR>;         // forward: running sum; backward: D
var<workgroup> row_alpha: array<f32, BR>;

fn owned() -> u32 {
  return BR * DH / FWG;
}

// Rows [i0, i0 + BR) of q (rotated, times scale) into tile_q; rows past tq are zero.
fn stage_queries(bh: u32, i0: u32, lane: u32) {
  for (var e = lane; e < BR * DH; e += FWG) {
    let r = e / DH;
    let d = e % DH;
    let i = i0 + r;
    var value = 0.0;
    if (i < params.tq && d < params.head_dim) { value = q_at(row_start(params.q, bh, i), d, i) * params.scale; }
    tile_q[e] = value;
  }
}

// Keys (rotated) and values [j0, j0 + BC) into tile_k, tile_v.
fn stage_keys(bh: u32, j0: u32, lane: u32) {
  for (var e = lane; e < BC * DH; e += FWG) {
    let c = e / DH;
    let d = e % DH;
    let j = j0 + c;
    var kv = 0.0;
    var vv = 0.0;
    if (j < params.tk && d < params.head_dim) {
      kv = k_at(row_start(params.k, bh, j), d, j);
      vv = v[row_start(params.v, bh, j) + d];
    }
    tile_k[e] = kv;
    tile_v[e] = vv;
  }
}

// dO rows [i0, i0 + BR) into tile_o.
fn stage_grad_out(bh: u32, i0: u32, lane: u32) {
  for (var e = lane; e < BR * DH; e += FWG) {
    let r = e / DH;
    let d = e % DH;
    let i = i0 + r;
    var value = 0.0;
    if (i < params.tq && d < params.head_dim) { value = d_out[row_start(params.d_o, bh, i) + d]; }
    tile_o[e] = value;
  }
}

// tile_s = tile_q . tile_k^T, masked (beyond tk, beyond a row's causal bound, or rows beyond tq).
fn score_tile(prefix: u32, i0: u32, j0: u32, lane: u32) {
  for (var e = lane; e < BR * BC; e += FWG) {
    let r = e / BC;
    let c = e % BC;
    let i = i0 + r;
    let j = j0 + c;
    var s = MASKED;
    if (i < params.tq && j < last_key(prefix, i) && j >= first_key(last_key(prefix, i))) {
      s = 0.0;
      for (var d = 0u; d < DH; d++) { s += tile_q[r * DH + d] * tile_k[c * DH + d]; }
    }
    tile_s[e] = s;
  }
}

fn probability(s: f32, reference: f32) -> f32 {
  return select(exp(s - reference), 0.0, s < MASK_CUT);
}

@compute @workgroup_size(FWG)
fn flash_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let lane = lid.x;
  // Workgroups are (query tile, bh) pairs, folded into 2-D past the dispatch limit. Uniform values: every barrier
  // below is reached by the whole workgroup.
  let tiles_q = (params.tq + BR - 1u) / BR;
  let flat = wid.x + wid.y * nwg.x;
  let bh = flat / tiles_q;
  let prefix = prefix_of(bh);
  let i0 = (flat % tiles_q) * BR;
  let live = bh < params.bh;
  if (live) { stage_queries(bh, i0, lane); }
  for (var r = lane; r < BR; r += FWG) { row_m[r] = MASKED; row_l[r] = 0.0; }
  var acc: array<f32, MAX_OWNED>;
  // Causal: keys past the last row's bound are never needed.
  var end = params.tk;
  if (CAUSAL) { end = last_key(prefix, min(i0 + BR, params.tq) - 1u); }
  if (!live) { end = 0u; }
  // Window: keys before the first row's window start are never needed.
  for (var j0 = first_key(last_key(prefix, min(i0, params.tq - 1u))) / BC * BC; j0 < end; j0 += BC) {
    workgroupBarrier();
    stage_keys(bh, j0, lane);
    workgroupBarrier();
    score_tile(prefix, i0, j0, lane);
    workgroupBarrier();
    for (var r = lane; r < BR; r += FWG) {
      var m_tile = MASKED;
      for (var c = 0u; c < BC; c++) { m_tile = max(m_tile, tile_s[r * BC + c]); }
      let m_old = row_m[r];
      let m_new = max(m_old, m_tile);
      var sum = 0.0;
      for (var c = 0u; c < BC; c++) {
        let p = probability(tile_s[r * BC + c], m_new);
        tile_s[r * BC + c] = p;
        sum += p;
      }
      let alpha = select(exp(m_old - m_new), 1.0, m_old < MASK_CUT);
      row_alpha[r] = alpha;
      row_l[r] = row_l[r] * alpha + sum;
      row_m[r] = m_new;
    }
    workgroupBarrier();
    for (var n = 0u; n < owned(); n++) {
      let e = lane + n * FWG;
      let r = e / DH;
      let d = e % DH;
      var sum = acc[n] * row_alpha[r];
      for (var c = 0u; c < BC; c++) { sum += tile_s[r * BC + c] * tile_v[c * DH + d]; }
      acc[n] = sum;
    }
  }
  workgroupBarrier();
  if (!live) { return; }
  for (var n = 0u; n < owned(); n++) {
    let e = lane + n * FWG;
    let r = e / DH;
    let d = e % DH;
    let i = i0 + r;
    if (i < params.tq && d < params.head_dim) {
      let l = row_l[r];
      out[row_start(params.o, bh, i) + d] = select(0.0, acc[n] / l, l > 0.0);
    }
  }
  for (var r = lane; r < BR; r += FWG) {
    let i = i0 + r;
    if (i < params.tq) {
      let l = row_l[r];
      out2[bh * params.tq + i] = select(row_m[r], row_m[r] + log(l), l > 0.0);
    }
  }
}

// dS for the staged tiles: tile_s holds P on return, tile_ds holds P (dO . v - D).
fn probabilities_and_ds(i0: u32, j0: u32, lane: u32) {
  for (var e = lane; e < BR * BC; e += FWG) {
    let r = e / BC;
    let c = e % BC;
    let p = probability(tile_s[e], row_m[r]);
    var dp = 0.0;
    for (var d = 0u; d < DH; d++) { dp += tile_o[r * DH + d] * tile_v[c * DH + d]; }
    tile_s[e] = p;
    tile_ds[e] = p * (dp - row_l[r]);
  }
}

// Writes an owned block (dq or dk) times `factor`, un-rotated: staged through tile_o so partners can be read.
fn write_unrotated(acc: ptr<function, array<f32, MAX_OWNED>>, factor: f32, rows_total: u32, first: u32, position0: u32, lane: u32) {
  workgroupBarrier();
  for (var n = 0u; n < owned(); n++) { tile_o[lane + n * FWG] = (*acc)[n]; }
  workgroupBarrier();
  for (var n = 0u; n < owned(); n++) {
    let e = lane + n * FWG;
    let r = e / DH;
    let d = e % DH;
    let t = first % rows_total + r;
    if (t < rows_total && d < params.head_dim) {
      var g = tile_o[e];
      if (ROPE && d < params.rotary) { g = rotate(g, tile_o[r * DH + partner(d)], d, position0 + t, -1.0); }
      out[grad_index(params.g1, first + r, rows_total, d)] = g * factor;
    }
  }
}

@compute @workgroup_size(FWG)
fn flash_backward_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let lane = lid.x;
  let rows = params.bh * params.tq;
  let tiles_q = (params.tq + BR - 1u) / BR;
  let flat = wid.x + wid.y * nwg.x;
  let bh = flat / tiles_q;
  let prefix = prefix_of(bh);
  let i0 = (flat % tiles_q) * BR;
  let live = bh < params.bh;
  if (live) {
    stage_queries(bh, i0, lane);
    stage_grad_out(bh, i0, lane);
  }
  workgroupBarrier();
  // L and D = dO . O per row; D is saved for the dk/dv kernel.
  for (var r = lane; r < BR; r += FWG) {
    let i = i0 + r;
    var big_d = 0.0;
    var l_i = 0.0;
    if (live && i < params.tq) {
      let os = row_start(params.o, bh, i);
      for (var d = 0u; d < params.head_dim; d++) { big_d += tile_o[r * DH + d] * aux[os + d]; }
      l_i = out2[bh * params.tq + i];
      out2[rows + bh * params.tq + i] = big_d;
    }
    row_m[r] = l_i;
    row_l[r] = big_d;
  }
  var acc: array<f32, MAX_OWNED>;
  var end = params.tk;
  if (CAUSAL) { end = last_key(prefix, min(i0 + BR, params.tq) - 1u); }
  if (!live) { end = 0u; }
  // Window: keys before the first row's window start are never needed.
  for (var j0 = first_key(last_key(prefix, min(i0, params.tq - 1u))) / BC * BC; j0 < end; j0 += BC) {
    workgroupBarrier();
    stage_keys(bh, j0, lane);
    workgroupBarrier();
    score_tile(prefix, i0, j0, lane);
    workgroupBarrier();
    probabilities_and_ds(i0, j0, lane);
    workgroupBarrier();
    for (var n = 0u; n < owned(); n++) {
      let e = lane + n * FWG;
      let r = e / DH;
      let d = e % DH;
      var sum = acc[n];
      for (var c = 0u; c < BC; c++) { sum += tile_ds[r * BC + c] * tile_k[c * DH + d]; }
      acc[n] = sum;
    }
  }
  if (!live) { return; }  // uniform: the whole workgroup leaves together
  write_unrotated(&acc, params.scale, params.tq, bh * params.tq + i0, params.q_position, lane);
}

@compute @workgroup_size(FWG)
fn flash_backward_dkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  // Keys take the BR-sized slots here (a key tile is as tall as a query tile: BR == BC on this path).
  let lane = lid.x;
  let rows = params.bh * params.tq;
  let tiles_k = (params.tk + BC - 1u) / BC;
  let flat = wid.x + wid.y * nwg.x;
  let bh = flat / tiles_k;
  let prefix = prefix_of(bh);
  let j0 = (flat % tiles_k) * BC;
  let live = bh < params.bh;
  if (live) { stage_keys(bh, j0, lane); }
  var dk: array<f32, MAX_OWNED>;
  var dv: array<f32, MAX_OWNED>;
  var start = 0u;
  if (CAUSAL) { start = first_query(prefix, j0) / BR * BR; }
  var end = last_query(min(j0 + BC, params.tk) - 1u);
  if (!live) { end = 0u; }
  for (var i0 = start; i0 < end; i0 += BR) {
    workgroupBarrier();
    stage_queries(bh, i0, lane);
    stage_grad_out(bh, i0, lane);
    for (var r = lane; r < BR; r += FWG) {
      let i = i0 + r;
      var l_i = 0.0;
      var big_d = 0.0;
      if (i < params.tq) {
        l_i = aux[bh * params.tq + i];
        big_d = aux[rows + bh * params.tq + i];
      }
      row_m[r] = l_i;
      row_l[r] = big_d;
    }
    workgroupBarrier();
    score_tile(prefix, i0, j0, lane);
    workgroupBarrier();
    probabilities_and_ds(i0, j0, lane);
    workgroupBarrier();
    // Owned elements index keys here: c = e / DH (BC rows of DH).
    for (var n = 0u; n < owned(); n++) {
      let e = lane + n * FWG;
      let c = e / DH;
      let d = e % DH;
      var sum_v = dv[n];
      var sum_k = dk[n];
      for (var r = 0u; r < BR; r++) {
        sum_v += tile_s[r * BC + c] * tile_o[r * DH + d];
        sum_k += tile_ds[r * BC + c] * tile_q[r * DH + d];
      }
      dv[n] = sum_v;
      dk[n] = sum_k;
    }
  }
  if (!live) { return; }
  for (var n = 0u; n < owned(); n++) {
    let e = lane + n * FWG;
    let c = e / DH;
    let d = e % DH;
    let j = j0 + c;
    if (j < params.tk && d < params.head_dim) { store_dv(grad_index(params.g2, bh * params.tk + j, params.tk, d), dv[n]); }
  }
  // tile_q holds q times scale already: dk needs no second factor.
  write_unrotated(&dk, 1.0, params.tk, bh * params.tk + j0, params.k_position, lane);
}

// ---------------------------------------------------------------------------------------------------------------
// cache_write: appends one step's keys or values to a per-row cache. out = cache [B, H, L, Dh] (L = params.tk),
// q = the new rows [B, H, Dh] (contiguous), table = each row's write position as a float (< 0: the row writes nothing).

@compute @workgroup_size(WG)
fn cache_write(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let dh = params.head_dim;
  if (i >= params.bh * dh) { return; }
  let bh = i / dh;
  let d = i % dh;
  let position = table[bh / params.heads];
  if (position < 0.0 || position >= f32(params.tk)) { return; }
  out[(bh * params.tk + u32(position)) * dh + d] = q[i];
}
