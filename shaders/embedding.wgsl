// Embedding lookup: out[n, :] = table[ids[n], :], and its gradient.
//
// The gradient accumulates the rows of dy whose ids repeat. Float atomics do not exist in WGSL, and summation in
// a scheduling-dependent order would not be deterministic, so each invocation owns one (vocabulary row, column)
// and adds the matching rows of dy in position order: the same result on every run and every adapter.
// An id outside [0, vocab) yields a zero row and flags the position for the runtime to report.

override WG: u32 = 64u;

struct EmbeddingParams {
  count: u32,   // number of ids
  vocab: u32,
  dim: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: EmbeddingParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> bad_position: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;
@group(0) @binding(4) var<storage, read> source: array<f32>; // forward: table [vocab, dim]; backward: dy [count, dim]

@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.count * params.dim) { return; }
  let n = i / params.dim;
  let d = i % params.dim;
  let id = ids[n];
  if (id < 0 || u32(id) >= params.vocab) {
    if (d == 0u) { atomicMin(&bad_position[0], n); }
    out[i] = 0.0;
    return;
  }
  out[i] = source[u32(id) * params.dim + d];
}

// Grid: x over columns d (coalesced reads of dy), y over vocabulary rows v.
@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d = gid.x;
  let v = gid.y;
  if (d >= params.dim || v >= params.vocab) { return; }
  var acc = 0.0;
  for (var n = 0u; n < params.count; n++) {
    if (ids[n] == i32(v)) { acc += source[n * params.dim + d]; }
  }
  out[v * params.dim + d] = acc;
}
