// Gated linear attention in the chunked form (../shared/design/gla.md; engine/ops/gla.ts; tests: test/gla.test.ts).
// Per batch row and head, a matrix state S ∈ R^{K×V}:
//   S_t = diag(exp g_t) · S_{t−1} + k_tᵀ v_t,        o_t = scale · q_t S_t
// q, k, g are [B, T, H, K] and v, o [B, T, H, V], contiguous; g ≤ 0 (log forget gates; a per-head gate arrives
// broadcast over K). T is cut into chunks of C; inside chunk n, b_t = Σ_{chunk start ≤ r ≤ t} g_r and S_[n] is the
// state after chunk n (S_[0] the initial state):
//   gla_states    S_[n] = diag(exp b_C) S_[n−1] + Σ_s (k_s ⊙ exp(b_C − b_s))ᵀ v_s        sequential over chunks,
//                 one invocation per (b, h, i, j) state entry                              -> states [B, H, N+1, K, V]
//   gla_output    o_t = scale (q_t ⊙ exp b_t) S_[n−1] + scale Σ_{s ≤ t} A_ts v_s,  A_ts = Σ_i q_ti k_si e^{b_ti − b_si}
//                 the intra-chunk block, one invocation per (b, t, h, j); b_t − b_s ≤ 0, so nothing overflows
// Backward (the chunk states are recomputed by gla_states, not kept from the forward):
//   gla_dstates   dS_[n−1] = diag(exp b_C) dS_[n] + scale Σ_t (q_t ⊙ exp b_t)ᵀ do_t     reverse over chunks
//   gla_dq        dq_t = scale [e^{b_t} ⊙ (S_[n−1] do_tᵀ) + Σ_{s ≤ t} e^{b_t − b_s} ⊙ k_s (do_t · v_s)]
//   gla_dkv       dk_t = scale Σ_{r ≥ t} e^{b_r − b_t} ⊙ q_r (do_r · v_t) + e^{b_C − b_t} ⊙ (dS_[n] v_t)
//                 dv_t = scale Σ_{r ≥ t} (Σ_i k_ti q_ri e^{b_ri − b_ti}) do_r + (k_t ⊙ e^{b_C − b_t}) dS_[n]
//   gla_dg        db_t = q_t ⊙ dq_t − k_t ⊙ dk_t (+ Σ_j S_[n] ⊙ dS_[n] at the chunk's last step), dg_t = Σ_{r ≥ t} db_r
//                 within the chunk (b_r depends on every g before it in its chunk)
// dS_[0] is the initial state's gradient. Private arrays hold one row of K (or V) values: K, V ≤ MAX_DIM.
//
// gla_output and gla_dq come in two variants, chosen per adapter (engine/ops/gla.ts): one invocation per output
// element (the most parallelism: GPUs), or one per (b, t, h) row, which computes each intra-chunk score A_ts and each
// do_t · v_s once for the whole row instead of once per output channel (CPU drivers, where invocations run a few at
// a time and the repeated exps are the cost).

override WG: u32 = 64u;
override HAS_INITIAL: bool = false;
const MAX_DIM: u32 = 128u;

struct GlaParams {
  batch: u32,
  steps: u32,
  heads: u32,
  key_dim: u32,
  value_dim: u32,
  chunk: u32,
  chunks: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: GlaParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(3) var<storage, read> in0: array<f32>;
@group(0) @binding(4) var<storage, read> in1: array<f32>;
@group(0) @binding(5) var<storage, read> in2: array<f32>;
@group(0) @binding(6) var<storage, read> in3: array<f32>;
@group(0) @binding(7) var<storage, read> in4: array<f32>;
@group(0) @binding(8) var<storage, read> in5: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// Offsets of element (b, t, h, c) of a [B, T, H, D] tensor and of entry (i, j) of state n of (b, h).
fn at(b: u32, t: u32, h: u32, c: u32, d: u32) -> u32 {
  return ((b * params.steps + t) * params.heads + h) * d + c;
}
fn state_at(b: u32, h: u32, n: u32, i: u32, j: u32) -> u32 {
  return (((b * params.heads + h) * (params.chunks + 1u) + n) * params.key_dim + i) * params.value_dim + j;
}
fn chunk_end(n: u32) -> u32 {
  return min((n + 1u) * params.chunk, params.steps);
}

// Invocation e as a state entry (b, h, i, j), or as element (b, t, h, c) of a [B, T, H, D] tensor.
fn state_entry(e: u32) -> vec4<u32> {
  let K = params.key_dim;
  let V = params.value_dim;
  return vec4<u32>(e / (K * V * params.heads), (e / (K * V)) % params.heads, (e / V) % K, e % V);
}
// Invocation e as a (b, t, h) row of the row kernels.
fn row_of(e: u32) -> vec3<u32> {
  return vec3<u32>(e / (params.heads * params.steps), (e / params.heads) % params.steps, e % params.heads);
}
fn element(e: u32, d: u32) -> vec4<u32> {
  return vec4<u32>(e / (d * params.heads * params.steps), (e / (d * params.heads)) % params.steps, (e / d) % params.heads, e % d);
}

// states: out = states [B, H, N+1, K, V]; in0 = k, in1 = v, in2 = g, in3 = initial state [B, H, K, V].
@compute @workgroup_size(WG)
fn gla_states(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  let K = params.key_dim;
  let V = params.value_dim;
  if (e >= params.batch * params.heads * K * V) { return; }
  let entry = state_entry(e);
  let b = entry.x;
  let h = entry.y;
  let i = entry.z;
  let j = entry.w;
  var s = 0.0;
  if (HAS_INITIAL) { s = in3[((b * params.heads + h) * K + i) * V + j]; }
  out[state_at(b, h, 0u, i, j)] = s;
  for (var n = 0u; n < params.chunks; n++) {
    // Stepping through the chunk is the same sum as its closed form, in the order the recurrence has it.
    for (var t = n * params.chunk; t < chunk_end(n); t++) {
      s = exp(in2[at(b, t, h, i, K)]) * s + in0[at(b, t, h, i, K)] * in1[at(b, t, h, j, V)];
    }
    out[state_at(b, h, n + 1u, i, j)] = s;
  }
}

// output: out = o [B, T, H, V]; in0 = q, in1 = k, in2 = v, in3 = g, in4 = states.
@compute @workgroup_size(WG)
fn gla_output(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  let K = params.key_dim;
  let V = params.value_dim;
  if (e >= params.batch * params.steps * params.heads * V) { return; }
  let el = element(e, V);
  let b = el.x;
  let t = el.y;
  let h = el.z;
  let j = el.w;
  let n = t / params.chunk;
  let start = n * params.chunk;
  var decay: array<f32, MAX_DIM>; // Σ_{s < r ≤ t} g_r per key channel, for s walking back from t
  for (var i = 0u; i < K; i++) { decay[i] = 0.0; }
  var intra = 0.0;
  var s = t + 1u;
  loop {
    s--;
    var a = 0.0;
    for (var i = 0u; i < K; i++) { a += in0[at(b, t, h, i, K)] * in1[at(b, s, h, i, K)] * exp(decay[i]); }
    intra += a * in2[at(b, s, h, j, V)];
    for (var i = 0u; i < K; i++) { decay[i] += in3[at(b, s, h, i, K)]; }
    if (s == start) { break; }
  }
  // decay now holds b_t: the chunk's start state decays by it before q reads it.
  var inter = 0.0;
  for (var i = 0u; i < K; i++) { inter += in0[at(b, t, h, i, K)] * exp(decay[i]) * in4[state_at(b, h, n, i, j)]; }
  out[e] = params.scale * (inter + intra);
}

// output, one invocation per (b, t, h) row: the same sums as gla_output, each A_ts formed once for all V outputs.
@compute @workgroup_size(WG)
fn gla_output_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  let K = params.key_dim;
  let V = params.value_dim;
  if (e >= params.batch * params.steps * params.heads) { return; }
  let row = row_of(e);
  let b = row.x;
  let t = row.y;
  let h = row.z;
  let n = t / params.chunk;
  let start = n * params.chunk;
  var decay: array<f32, MAX_DIM>;
  var qt: array<f32, MAX_DIM>;
  var acc: array<f32, MAX_DIM>;
  for (var i = 0u; i < K; i++) { decay[i] = 0.0; qt[i] = in0[at(b, t, h, i, K)]; }
  for (var j = 0u; j < V; j++) { acc[j] = 0.0; }
  var s = t + 1u;
  loop {
    s--;
    var a = 0.0;
    for (var i = 0u; i < K; i++) { a += qt[i] * in1[at(b, s, h, i, K)] * exp(decay[i]); }
    for (var j = 0u; j < V; j++) { acc[j] += a * in2[at(b, s, h, j, V)]; }
    for (var i = 0u; i < K; i++) { decay[i] += in3[at(b, s, h, i, K)]; }
    if (s == start) { break; }
  }
  for (var i = 0u; i < K; i++) { qt[i] *= exp(decay[i]); }
  for (var j = 0u; j < V; j++) {
    var inter = 0.0;
    for (var i = 0u; i < K; i++) { inter += qt[i] * in4[state_at(b, h, n, i, j)]; }
    out[at(b, t, h, j, V)] = params.scale * (inter + acc[j]);
  }
}

// dstates: out = dstates [B, H, N+1, K, V]; in0 = q, in1 = g, in2 = do. dS_[N] = 0 (the final state has no gradient).
@compute @workgroup_size(WG)
fn gla_dstates(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  let K = params.key_dim;
  let V = params.value_dim;
  if (e >= params.batch * params.heads * K * V) { return; }
  let entry = state_entry(e);
  let b = entry.x;
  let h = entry.y;
  let i = entry.z;
  let j = entry.w;
  var ds = 0.0;
  out[state_at(b, h, params.chunks, i, j)] = 0.0;
  for (var m = params.chunks; m > 0u; m--) {
    let n = m - 1u;
    // Reverse through the chunk: dS_{t−1} = exp(g_t) dS_t + scale q_t do_t at each step.
    var t = chunk_end(n);
    loop {
      t--;
      ds = ds + params.scale * in0[at(b, t, h, i, K)] * in2[at(b, t, h, j, V)];
      ds = exp(in1[at(b, t, h, i, K)]) * ds;
      if (t == n * params.chunk) { break; }
    }
    out[state_at(b, h, n, i, j)] = ds;
  }
}

// dq: out = dq [B, T, H, K]; in0 = k, in1 = v, in2 = g, in3 = do, in4 = states.
@compute @workgroup_size(WG)
fn gla_dq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  let K = params.key_dim;
  let V = params.value_dim;
  if (e >= params.batch * params.steps * params.heads * K) { return; }
  let el = element(e, K);
  let b = el.x;
  let t = el.y;
  let h = el.z;
  let i = el.w;
  let n = t / params.chunk;
  let start = n * params.chunk;
  var decay = 0.0;
  var intra = 0.0;
  var s = t + 1u;
  loop {
    s--;
    var dov = 0.0;
    for (var j = 0u; j < V; j++) { dov += in3[at(b, t, h, j, V)] * in1[at(b, s, h, j, V)]; }
    intra += exp(decay) * in0[at(b, s, h, i, K)] * dov;
    decay += in2[at(b, s, h, i, K)];
    if (s == start) { break; }
  }
  var inter = 0.0;
  for (var j = 0u; j < V; j++) { inter += in4[state_at(b, h, n, i, j)] * in3[at(b, t, h, j, V)]; }
  out[e] = params.scale * (exp(decay) * inter + intra);
}

// dq, one invocation per (b, t, h) row: each do_t · v_s formed once for all K outputs.
@compute @workgroup_size(WG)
fn gla_dq_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  let K = params.key_dim;
  let V = params.value_dim;
  if (e >= params.batch * params.steps * params.heads) { return; }
  let row = row_of(e);
  let b = row.x;
  let t = row.y;
  let h = row.z;
  let n = t / params.chunk;
  let start = n * params.chunk;
  var decay: array<f32, MAX_DIM>;
  var dq: array<f32, MAX_DIM>;
  var dot: array<f32, MAX_DIM>; // do_t
  for (var i = 0u; i < K; i++) { decay[i] = 0.0; dq[i] = 0.0; }
  for (var j = 0u; j < V; j++) { dot[j] = in3[at(b, t, h, j, V)]; }
  var s = t + 1u;
  loop {
    s--;
    var dov = 0.0;
    for (var j = 0u; j < V; j++) { dov += dot[j] * in1[at(b, s, h, j, V)]; }
    for (var i = 0u; i < K; i++) {
      dq[i] += exp(decay[i]) * in0[at(b, s, h, i, K)] * dov;
      decay[i] += in2[at(b, s, h, i, K)];
    }
    if (s == start) { break; }
  }
  for (var i = 0u; i < K; i++) {
    var inter = 0.0;
    for (var j = 0u; j < V; j++) { inter += in4[state_at(b, h, n, i, j)] * dot[j]; }
    out[at(b, t, h, i, K)] = params.scale * (exp(decay[i]) * inter + dq[i]);
  }
}

// dk and dv: out = dk [B, T, H, K], out2 = dv [B, T, H, V]; in0 = q, in1 = k, in2 = v, in3 = g, in4 = do,
// in5 = dstates. One invocation per (b, t, h): it owns row t's K and V values.
@compute @workgroup_size(WG)
fn gla_dkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  let K = params.key_dim;
  let V = params.value_dim;
  if (e >= params.batch * params.steps * params.heads) { return; }
  let row = row_of(e);
  let b = row.x;
  let t = row.y;
  let h = row.z;
  let n = t / params.chunk;
  let end = chunk_end(n);
  var decay: array<f32, MAX_DIM>; // Σ_{t < u ≤ r} g_u per key channel, for r walking forward from t
  var dk: array<f32, MAX_DIM>;
  var dv: array<f32, MAX_DIM>;
  for (var i = 0u; i < K; i++) { decay[i] = 0.0; dk[i] = 0.0; }
  for (var j = 0u; j < V; j++) { dv[j] = 0.0; }
  for (var r = t; r < end; r++) {
    if (r > t) { for (var i = 0u; i < K; i++) { decay[i] += in3[at(b, r, h, i, K)]; } }
    var dov = 0.0; // do_r · v_t
    for (var j = 0u; j < V; j++) { dov += in4[at(b, r, h, j, V)] * in2[at(b, t, h, j, V)]; }
    var c = 0.0;   // Σ_i k_ti q_ri e^{b_ri − b_ti}
    for (var i = 0u; i < K; i++) {
      let w = exp(decay[i]) * in0[at(b, r, h, i, K)];
      dk[i] += w * dov;
      c += in1[at(b, t, h, i, K)] * w;
    }
    for (var j = 0u; j < V; j++) { dv[j] += c * in4[at(b, r, h, j, V)]; }
  }
  // decay now holds b_C − b_t: what the chunk's last state keeps of step t; dS_[n] is the gradient that state gets.
  for (var i = 0u; i < K; i++) {
    var dsv = 0.0;
    for (var j = 0u; j < V; j++) { dsv += in5[state_at(b, h, n + 1u, i, j)] * in2[at(b, t, h, j, V)]; }
    out[at(b, t, h, i, K)] = params.scale * dk[i] + exp(decay[i]) * dsv;
  }
  for (var j = 0u; j < V; j++) {
    var kds = 0.0;
    for (var i = 0u; i < K; i++) { kds += in1[at(b, t, h, i, K)] * exp(decay[i]) * in5[state_at(b, h, n + 1u, i, j)]; }
    out2[at(b, t, h, j, V)] = params.scale * dv[j] + kds;
  }
}

// dg: out = dg [B, T, H, K]; in0 = q, in1 = dq, in2 = k, in3 = dk, in4 = states, in5 = dstates. One invocation per
// (b, n, h, i): the reverse cumulative sum of db over its chunk.
@compute @workgroup_size(WG)
fn gla_dg(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  let K = params.key_dim;
  let V = params.value_dim;
  if (e >= params.batch * params.chunks * params.heads * K) { return; }
  let i = e % K;
  let h = (e / K) % params.heads;
  let n = (e / (K * params.heads)) % params.chunks;
  let b = e / (K * params.heads * params.chunks);
  var total = 0.0;
  for (var j = 0u; j < V; j++) { total += in4[state_at(b, h, n + 1u, i, j)] * in5[state_at(b, h, n + 1u, i, j)]; }
  var t = chunk_end(n);
  loop {
    t--;
    let o = at(b, t, h, i, K);
    total += in0[o] * in1[o] - in2[o] * in3[o];
    out[o] = total;
    if (t == n * params.chunk) { break; }
  }
}
