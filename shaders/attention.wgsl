// Scaled dot-product attention over q [B, H, Tq, Dh], k and v [B, H, Tk, Dh], with an optional causal mask aligned to the end (query i sees keys j <= i + Tk - Tq, so a decoding step with a
// cache of Tk keys and Tq = 1 sees them all).
//
// forward:  one invocation per query row; an online softmax over the keys (running max m, running sum l, running
//           weighted sum of v) so no Tq x Tk matrix exists anywhere. Saves L = m + log(l) per row.
// backward: recomputes P_ij = exp(s_ij - L_i) instead of storing it, in two dispatches:
//           dq:  one invocation per query row: D_i = dO_i . O_i,  dq_i = scale sum_j P_ij (dO_i . v_j - D_i) k_j
//           dkv: one invocation per key row:   dv_j = sum_i P_ij dO_i,  dk_j = scale sum_i P_ij (dO_i . v_j - D_i) q_i
//           Each output element is summed by one invocation in a fixed order: deterministic, no atomics.
// q, k, v, O and dO are read through (batch, head, time) strides with unit stride along Dh, so the views a model
// makes (a slice of a fused qkv projection, a permute) need no copies; O is written through its strides too.
// dq, dk and dv are written contiguous [B, H, T, Dh].

const MAX_HEAD_DIM: u32 = 128u;

override WG: u32 = 64u;
override CAUSAL: bool = false;

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
  bh: u32,
  tq: u32,
  tk: u32,
  head_dim: u32,
  scale: f32,
  heads: u32,
  _pad0: u32,
  _pad1: u32,
}

fn row_start(operand: Layout, bh: u32, t: u32) -> u32 {
  return operand.offset + (bh / params.heads) * operand.batch + (bh % params.heads) * operand.head + t * operand.time;
}

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // O | dq | dk
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;  // L | D  | dv
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> k: array<f32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;
@group(0) @binding(6) var<storage, read> d_out: array<f32>;
@group(0) @binding(7) var<storage, read> lse: array<f32>;
@group(0) @binding(8) var<storage, read> aux: array<f32>;         // dq: O (through params.o);  dkv: D

fn last_key(i: u32) -> u32 {
  // Exclusive bound of the keys query i may attend to.
  if (!CAUSAL) { return params.tk; }
  return min(params.tk, i + 1u + params.tk - min(params.tk, params.tq));
}

fn first_query(j: u32) -> u32 {
  // The first query that may attend to key j (causal), so the dkv loop can skip the rest.
  if (!CAUSAL) { return 0u; }
  let shift = params.tk - min(params.tk, params.tq);
  if (j <= shift) { return 0u; }
  return j - shift;
}

fn dot_q_k(qs: u32, ks: u32) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < params.head_dim; d++) { s += q[qs + d] * k[ks + d]; }
  return s;
}

fn dot_do_v(dos: u32, vs: u32) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < params.head_dim; d++) { s += d_out[dos + d] * v[vs + d]; }
  return s;
}

@compute @workgroup_size(WG)
fn attention_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= params.bh * params.tq) { return; }
  let bh = row / params.tq;
  let i = row % params.tq;
  let dh = params.head_dim;
  let qs = row_start(params.q, bh, i);
  var acc: array<f32, MAX_HEAD_DIM>;
  var m = -3.4028234663852886e38;
  var l = 0.0;
  let end = last_key(i);
  for (var j = 0u; j < end; j++) {
    let s = dot_q_k(qs, row_start(params.k, bh, j)) * params.scale;
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

@compute @workgroup_size(WG)
fn attention_backward_dq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= params.bh * params.tq) { return; }
  let bh = row / params.tq;
  let i = row % params.tq;
  let dh = params.head_dim;
  let qs = row_start(params.q, bh, i);
  let dos = row_start(params.d_o, bh, i);
  let os = row_start(params.o, bh, i);
  var big_d = 0.0;
  for (var d = 0u; d < dh; d++) { big_d += d_out[dos + d] * aux[os + d]; }
  out2[row] = big_d;
  let l_i = lse[row];
  var dq: array<f32, MAX_HEAD_DIM>;
  let end = last_key(i);
  for (var j = 0u; j < end; j++) {
    let ks = row_start(params.k, bh, j);
    let p = exp(dot_q_k(qs, ks) * params.scale - l_i);
    let ds = p * (dot_do_v(dos, row_start(params.v, bh, j)) - big_d);
    for (var d = 0u; d < dh; d++) { dq[d] += ds * k[ks + d]; }
  }
  for (var d = 0u; d < dh; d++) { out[row * dh + d] = dq[d] * params.scale; }
}

@compute @workgroup_size(WG)
fn attention_backward_dkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let key_row = gid.x + gid.y * nwg.x * WG;
  if (key_row >= params.bh * params.tk) { return; }
  let bh = key_row / params.tk;
  let j = key_row % params.tk;
  let dh = params.head_dim;
  let ks = row_start(params.k, bh, j);
  let vs = row_start(params.v, bh, j);
  var dk: array<f32, MAX_HEAD_DIM>;
  var dv: array<f32, MAX_HEAD_DIM>;
  for (var i = first_query(j); i < params.tq; i++) {
    let row = bh * params.tq + i;
    let qs = row_start(params.q, bh, i);
    let dos = row_start(params.d_o, bh, i);
    let p = exp(dot_q_k(qs, ks) * params.scale - lse[row]);
    let ds = p * (dot_do_v(dos, vs) - aux[row]);
    for (var d = 0u; d < dh; d++) {
      dv[d] += p * d_out[dos + d];
      dk[d] += ds * q[qs + d];
    }
  }
  for (var d = 0u; d < dh; d++) {
    out[key_row * dh + d] = dk[d] * params.scale;
    out2[key_row * dh + d] = dv[d];
  }
}
