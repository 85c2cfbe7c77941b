// SwiGLU's gate: y = silu(gate) * up, fused, and its backward in one pass writing both gradients:
//   d gate = dy * up * silu'(gate),   d up = dy * silu(gate),   silu'(g) = s (1 + g (1 - s)),  s = sigmoid(g).
// gate and up are read as rows of `width` elements `stride` apart (from their own offsets), so the two halves of a
// fused gate/up projection are read in place; y, dy and the gradients are contiguous.
// swiglu_packed_backward writes both gradients into one [rows, 2 * width] tensor laid out as the fused projection
// (gate and up at their offsets less the input's own): the projection's gradient in one dispatch, with no zero fill,
// scatter and add per half.

override WG: u32 = 256u;

struct SwigluParams {
  n: u32,
  width: u32,
  gate_offset: u32,
  gate_stride: u32,
  up_offset: u32,
  up_stride: u32,
  _pad0: u32,
  _pad1: u32,
}

fn gate_at(i: u32) -> f32 {
  return gate[params.gate_offset + (i / params.width) * params.gate_stride + i % params.width];
}

fn up_at(i: u32) -> f32 {
  return up[params.up_offset + (i / params.width) * params.up_stride + i % params.width];
}

@group(0) @binding(0) var<uniform> params: SwigluParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<storage, read> up: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;

fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let g = gate_at(i);
  out[i] = g * sigmoid(g) * up_at(i);
}

// (d gate, d up) of element i
fn gradients(i: u32) -> vec2<f32> {
  let g = gate_at(i);
  let s = sigmoid(g);
  return vec2<f32>(dy[i] * up_at(i) * s * (1.0 + g * (1.0 - s)), dy[i] * g * s);
}

// out = d gate, out2 = d up
@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let d = gradients(i);
  out[i] = d.x;
  out2[i] = d.y;
}

// out = d [gate | up] (rows of 2 * width, in the input's layout from offset 0)
@compute @workgroup_size(WG)
fn swiglu_packed_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let d = gradients(i);
  let row = (i / params.width) * params.gate_stride;
  let col = i % params.width;
  out[row + params.gate_offset + col] = d.x;
  out[row + params.up_offset + col] = d.y;
}
