// Rotary position embedding on x [B, T, H, Dh] (read through its batch/time/head strides, unit stride along Dh;
// the output is contiguous), "rotate-half" pairing as in GPT-NeoX, Llama and the
// official HRM code: the first `rotary` channels form pairs (i, i + rotary/2), each rotated by the angle
// position * base^(-2i/rotary); channels past `rotary` pass through. cos and sin come from one table computed in
// float64 on the CPU (shader sin/cos may be off by 2^-11), indexed [position, i, cos|sin] (the same table
// attention.wgsl reads when it rotates q and k itself). The backward is the inverse
// rotation: the same kernel with SIGN = -1.

override WG: u32 = 64u;
override SIGN: f32 = 1.0;
// Each batch row starts at its own position, offsets[b] (i32), as rows of a batch decoding at different lengths do.
override ROW_OFFSETS: bool = false;

struct RopeParams {
  batch: u32,
  seq: u32,
  heads: u32,
  head_dim: u32,
  rotary: u32,
  position_offset: u32,
  x_offset: u32,
  x_batch: u32,
  x_time: u32,
  x_head: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: RopeParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;
@group(0) @binding(4) var<storage, read> offsets: array<i32>;

@compute @workgroup_size(WG)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let total = params.batch * params.seq * params.heads * params.head_dim;
  if (i >= total) { return; }
  let c = i % params.head_dim;
  let h = (i / params.head_dim) % params.heads;
  let t = (i / (params.head_dim * params.heads)) % params.seq;
  let b = i / (params.head_dim * params.heads * params.seq);
  let src = params.x_offset + b * params.x_batch + t * params.x_time + h * params.x_head + c;
  if (c >= params.rotary) { out[i] = x[src]; return; }
  let half = params.rotary / 2u;
  let pair = c % half;
  var position = t + params.position_offset;
  if (ROW_OFFSETS) { position = t + u32(max(offsets[b], 0)); }
  let at = (position * half + pair) * 2u;
  let cs = table[at];
  let partner = select(src - half, src + half, c < half);
  out[i] = rotate_half(x[src], x[partner], c < half, cs, SIGN * table[at + 1u]);
}
