// The scan of 2 x 2 affine recurrences  s_t = A_t s_{t−1} + v_t  with s = (h, c) per (b, channel): the linear solves of
// a two-state diagonal cell (the LSTM-CIFG of engine/ops/rnn.ts: its Jacobian is a 2 x 2 block per channel). Three
// passes over chunks of CHUNK steps, each of one channel: the composed map of every chunk, then per channel a walk
// over the chunks' maps giving each chunk's incoming state, then every chunk walked again from its incoming state.
// Every pass is barrier-free (CPU drivers pay for barriers) and the work per invocation is CHUNK steps.
//
// REVERSE: logical step k is physical step T − 1 − k, and its map is A at the physical step after it, transposed
// (TRANSPOSE) — the adjoint recurrence λ_t = g_t + A_{t+1}ᵀ λ_{t+1}; the first logical step's map is not used.
// A is packed [4, B, T, C] (a11, a12, a21, a22: h′ = a11 h + a12 c, c′ = a21 h + a22 c), v and s [2, B, T, C],
// s0 [2, B, C] (HAS_S0), aggregates [6, B, C, chunks], carries [2, B, C, chunks].

override WG: u32 = 64u;
override CHUNK: u32 = 64u;
override REVERSE: bool = false;
override HAS_S0: bool = false;

struct Scan2Params {
  batch: u32,
  steps: u32,
  channels: u32,
  chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Scan2Params;
@group(0) @binding(1) var<storage, read_write> states: array<f32>;
@group(0) @binding(2) var<storage, read_write> aggregates: array<f32>;
@group(0) @binding(3) var<storage, read_write> carries: array<f32>;
@group(0) @binding(4) var<storage, read> gates: array<f32>;
@group(0) @binding(5) var<storage, read> inputs: array<f32>;
@group(0) @binding(6) var<storage, read> start: array<f32>;

struct Affine {
  m: vec4<f32>, // (a11, a12, a21, a22)
  v: vec2<f32>,
}

fn apply(a: Affine, s: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(a.m.x * s.x + a.m.y * s.y, a.m.z * s.x + a.m.w * s.y) + a.v;
}

/** second ∘ first: s ↦ second(first(s)). */
fn compose(first: Affine, second: Affine) -> Affine {
  let m = vec4<f32>(
    second.m.x * first.m.x + second.m.y * first.m.z, second.m.x * first.m.y + second.m.y * first.m.w,
    second.m.z * first.m.x + second.m.w * first.m.z, second.m.z * first.m.y + second.m.w * first.m.w,
  );
  return Affine(m, apply(Affine(second.m, vec2<f32>(0.0)), first.v) + second.v);
}

fn physical(k: u32) -> u32 {
  if (REVERSE) { return params.steps - 1u - k; }
  return k;
}

/** The map of logical step k of sequence (b, c). */
fn map_at(b: u32, c: u32, k: u32) -> Affine {
  let n = params.batch * params.steps * params.channels;
  let t = physical(k);
  let i = (b * params.steps + t) * params.channels + c;
  let v = vec2<f32>(inputs[i], inputs[n + i]);
  if (REVERSE) {
    if (k == 0u) { return Affine(vec4<f32>(0.0), v); }
    let j = i + params.channels; // the physical step after t
    // Transposed: (a11, a21, a12, a22).
    return Affine(vec4<f32>(gates[j], gates[2u * n + j], gates[n + j], gates[3u * n + j]), v);
  }
  return Affine(vec4<f32>(gates[i], gates[n + i], gates[2u * n + i], gates[3u * n + i]), v);
}

fn store(b: u32, c: u32, k: u32, s: vec2<f32>) {
  let n = params.batch * params.steps * params.channels;
  let i = (b * params.steps + physical(k)) * params.channels + c;
  states[i] = s.x;
  states[n + i] = s.y;
}

fn initial(b: u32, c: u32) -> vec2<f32> {
  if (HAS_S0) {
    let m = params.batch * params.channels;
    return vec2<f32>(start[b * params.channels + c], start[m + b * params.channels + c]);
  }
  return vec2<f32>(0.0);
}

/** Pass 1: one invocation per (b, c, chunk): the chunk's composed map. */
@compute @workgroup_size(WG)
fn scan2_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  let total = params.batch * C * params.chunks;
  if (id >= total) { return; }
  let c = id % C;
  let j = (id / C) % params.chunks;
  let b = id / (C * params.chunks);
  var acc = Affine(vec4<f32>(1.0, 0.0, 0.0, 1.0), vec2<f32>(0.0));
  let end = min((j + 1u) * CHUNK, params.steps);
  for (var k = j * CHUNK; k < end; k++) { acc = compose(acc, map_at(b, c, k)); }
  let slot = (b * C + c) * params.chunks + j;
  aggregates[slot] = acc.m.x;
  aggregates[total + slot] = acc.m.y;
  aggregates[2u * total + slot] = acc.m.z;
  aggregates[3u * total + slot] = acc.m.w;
  aggregates[4u * total + slot] = acc.v.x;
  aggregates[5u * total + slot] = acc.v.y;
}

/** Pass 2: one invocation per (b, c): the state entering each chunk. */
@compute @workgroup_size(WG)
fn scan2_carry(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  if (id >= params.batch * C) { return; }
  let c = id % C;
  let b = id / C;
  let total = params.batch * C * params.chunks;
  var s = initial(b, c);
  for (var j = 0u; j < params.chunks; j++) {
    let slot = (b * C + c) * params.chunks + j;
    carries[slot] = s.x;
    carries[total + slot] = s.y;
    let m = vec4<f32>(aggregates[slot], aggregates[total + slot], aggregates[2u * total + slot], aggregates[3u * total + slot]);
    s = apply(Affine(m, vec2<f32>(aggregates[4u * total + slot], aggregates[5u * total + slot])), s);
  }
}

/** Pass 3: one invocation per (b, c, chunk): the chunk walked from its incoming state, every state stored. */
@compute @workgroup_size(WG)
fn scan2_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  let total = params.batch * C * params.chunks;
  if (id >= total) { return; }
  let c = id % C;
  let j = (id / C) % params.chunks;
  let b = id / (C * params.chunks);
  let slot = (b * C + c) * params.chunks + j;
  var s = vec2<f32>(carries[slot], carries[total + slot]);
  let end = min((j + 1u) * CHUNK, params.steps);
  for (var k = j * CHUNK; k < end; k++) {
    s = apply(map_at(b, c, k), s);
    store(b, c, k, s);
  }
}
