// Dynamic chunking (H-Net; ../shared/design/hnet.md; ops: engine/ops/chunk.ts; tests: test/chunk.test.ts).
//
// boundary_forward:  p[b, t] = clamp((1 - cos(q[b, t-1], k[b, t])) / 2, 0, 1), p[b, 0] = 1, with
//                    cos(u, v) = u.v / (max(|u|, EPS) max(|v|, EPS)) (F.normalize's convention).
// boundary_backward: dp/du = -(1/2) (v / (|u||v|) - cos u / |u|^2), dp/dv likewise with u and v swapped, for the
//                    pair (u = q[t-1], v = k[t]); zero where the clamp is active. Invocation (b, t) writes dk[b, t]
//                    and dq[b, t-1] (t = 0 writes dk[b, 0] = 0 and dq[b, T-1] = 0: the last q and first k feed
//                    nothing), so every gradient row is written exactly once: no atomics.
// chunk_starts:      starts[b, m] = the position of the m-th chunk's first byte (T for m past the row's count), from
//                    index[b, t] = (inclusive cumsum of mask) - 1, the chunk of each byte.
// compact_forward:   out[b, m, :] = x[b, starts[b, m], :] (zeros past the row's count): the chunks' first rows.
// compact_backward:  dx[b, t, :] = mask[b, t] ? g[b, index[b, t], :] : 0.
// expand_forward:    out[b, t, :] = z[b, index[b, t], :]: every byte takes its chunk's row.
// expand_backward:   dz[b, m, :] = sum of g[b, t, :] over chunk m's bytes t in [starts[m], starts[m+1]), summed in
//                    order by one invocation: a segment sum without float atomics.
// Index tensors are i32; the mask is u32 0/1. Rows are [B, T, C] contiguous (C = channels per row).

override WG: u32 = 64u;
const EPS: f32 = 1e-12;

struct ChunkParams {
  batch: u32,
  steps: u32,     // T: bytes (or chunks of the previous stage) per row
  chunks: u32,    // M: chunks per row of the compacted tensor
  channels: u32,  // C
}

@group(0) @binding(0) var<uniform> params: ChunkParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read> index: array<i32>;
@group(0) @binding(7) var<storage, read> starts: array<i32>;
// chunk_starts writes integers, and reads the byte mask, through the same bindings as integer arrays.
@group(0) @binding(1) var<storage, read_write> starts_out: array<i32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

struct Cosine {
  cos: f32,
  inv_u: f32,  // 1 / max(|u|, EPS)
  inv_v: f32,
}

fn cosine(u0: u32, v0: u32) -> Cosine {
  var uv = 0.0;
  var uu = 0.0;
  var vv = 0.0;
  for (var d = 0u; d < params.channels; d++) {
    let a = x[u0 + d];
    let b = y[v0 + d];
    uv += a * b;
    uu += a * a;
    vv += b * b;
  }
  let inv_u = 1.0 / max(sqrt(uu), EPS);
  let inv_v = 1.0 / max(sqrt(vv), EPS);
  return Cosine(uv * inv_u * inv_v, inv_u, inv_v);
}

// x = q [B, T, C], y = k [B, T, C]; out = p [B, T].
@compute @workgroup_size(WG)
fn boundary_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat(gid, nwg);
  if (row >= params.batch * params.steps) { return; }
  let t = row % params.steps;
  if (t == 0u) { out[row] = 1.0; return; }
  let c = cosine((row - 1u) * params.channels, row * params.channels);
  out[row] = clamp((1.0 - c.cos) * 0.5, 0.0, 1.0);
}

// x = q, y = k, g = dp [B, T]; out = dq, out2 = dk [B, T, C].
@compute @workgroup_size(WG)
fn boundary_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat(gid, nwg);
  if (row >= params.batch * params.steps) { return; }
  let t = row % params.steps;
  let n = params.channels;
  if (t == 0u) {
    let last_q = (row + params.steps - 1u) * n;
    for (var d = 0u; d < n; d++) {
      out2[row * n + d] = 0.0;
      out[last_q + d] = 0.0;
    }
    return;
  }
  let u0 = (row - 1u) * n;
  let v0 = row * n;
  let c = cosine(u0, v0);
  let p = (1.0 - c.cos) * 0.5;
  var scale = -0.5 * g[row];
  if (p < 0.0 || p > 1.0) { scale = 0.0; }
  for (var d = 0u; d < n; d++) {
    let u = x[u0 + d];
    let v = y[v0 + d];
    out[u0 + d] = scale * (v * c.inv_u * c.inv_v - c.cos * u * c.inv_u * c.inv_u);
    out2[v0 + d] = scale * (u * c.inv_u * c.inv_v - c.cos * v * c.inv_v * c.inv_v);
  }
}

// mask [B, T] (u32), index [B, T]; starts_out [B, M]. One invocation per (b, m).
@compute @workgroup_size(WG)
fn chunk_starts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= params.batch * params.chunks) { return; }
  let b = i / params.chunks;
  let m = i32(i % params.chunks);
  // index is non-decreasing along the row: binary search for the first byte of chunk m.
  var lo = 0u;
  var hi = params.steps;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (index[b * params.steps + mid] < m) { lo = mid + 1u; } else { hi = mid; }
  }
  if (lo < params.steps && index[b * params.steps + lo] == m && mask[b * params.steps + lo] != 0u) {
    starts_out[i] = i32(lo);
  } else {
    starts_out[i] = i32(params.steps);
  }
}

// x [B, T, C], starts [B, M]; out [B, M, C]. One invocation per output element.
@compute @workgroup_size(WG)
fn compact_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  let n = params.channels;
  if (i >= params.batch * params.chunks * n) { return; }
  let d = i % n;
  let bm = i / n;
  let b = bm / params.chunks;
  let start = u32(starts[bm]);
  if (start >= params.steps) { out[i] = 0.0; return; }
  out[i] = x[(b * params.steps + start) * n + d];
}

// g [B, M, C], index [B, T], mask (through y as 0/1 floats) [B, T]; out = dx [B, T, C].
@compute @workgroup_size(WG)
fn compact_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  let n = params.channels;
  if (i >= params.batch * params.steps * n) { return; }
  let d = i % n;
  let bt = i / n;
  let b = bt / params.steps;
  if (y[bt] == 0.0) { out[i] = 0.0; return; }
  out[i] = g[(b * params.chunks + u32(index[bt])) * n + d];
}

// z (through x) [B, M, C], index [B, T]; out [B, T, C].
@compute @workgroup_size(WG)
fn expand_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  let n = params.channels;
  if (i >= params.batch * params.steps * n) { return; }
  let d = i % n;
  let bt = i / n;
  let b = bt / params.steps;
  let m = u32(max(index[bt], 0));
  out[i] = x[(b * params.chunks + m) * n + d];
}

// g [B, T, C], starts [B, M]; out = dz [B, M, C].
@compute @workgroup_size(WG)
fn expand_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  let n = params.channels;
  if (i >= params.batch * params.chunks * n) { return; }
  let d = i % n;
  let bm = i / n;
  let b = bm / params.chunks;
  let m = bm % params.chunks;
  let first = u32(starts[bm]);
  var end = params.steps;
  if (m + 1u < params.chunks) { end = min(u32(starts[bm + 1u]), params.steps); }
  var sum = 0.0;
  for (var t = first; t < end; t++) { sum += g[(b * params.steps + t) * n + d]; }
  out[i] = sum;
}
