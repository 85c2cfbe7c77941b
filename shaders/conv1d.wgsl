// Causal depthwise 1-D convolution over x [B, T, C] with weight [C, K] and optional bias [C]:
//   y[b, t, c] = bias[c] + sum_k w[c, k] * x[b, t - (K - 1) + k, c]      (x = 0 before t = 0)
// so y_t sees x_{t-K+1} … x_t and never the future. Backward:
//   dx[b, t, c] = sum_k w[c, k] * dy[b, t + (K - 1) - k, c]           (dy = 0 past the end)
//   dw[c, k]    = sum_{b, t} dy[b, t, c] * x[b, t - (K - 1) + k, c]    (one invocation per (c, k), in order)

override WG: u32 = 64u;
override HAS_BIAS: bool = false;

struct ConvParams {
  batch: u32,
  steps: u32,
  channels: u32,
  kernel: u32,
}

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;       // forward: x; backward dx: dy; dw: x
@group(0) @binding(3) var<storage, read> w: array<f32>;       // forward, dx: weight; dw: dy
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn conv1d_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= params.batch * params.steps * params.channels) { return; }
  let c = i % params.channels;
  let t = (i / params.channels) % params.steps;
  var acc = 0.0;
  if (HAS_BIAS) { acc = bias[c]; }
  for (var k = 0u; k < params.kernel; k++) {
    let back = params.kernel - 1u - k;
    if (t >= back) { acc += w[c * params.kernel + k] * x[i - back * params.channels]; }
  }
  out[i] = acc;
}

@compute @workgroup_size(WG)
fn conv1d_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= params.batch * params.steps * params.channels) { return; }
  let c = i % params.channels;
  let t = (i / params.channels) % params.steps;
  var acc = 0.0;
  for (var k = 0u; k < params.kernel; k++) {
    let ahead = params.kernel - 1u - k;
    if (t + ahead < params.steps) { acc += w[c * params.kernel + k] * x[i + ahead * params.channels]; }
  }
  out[i] = acc;
}

// out = dw [C, K]; x = x, w = dy.
@compute @workgroup_size(WG)
fn conv1d_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= params.channels * params.kernel) { return; }
  let c = i / params.kernel;
  let k = i % params.kernel;
  let back = params.kernel - 1u - k;
  var acc = 0.0;
  for (var b = 0u; b < params.batch; b++) {
    for (var t = back; t < params.steps; t++) {
      let j = (b * params.steps + t) * params.channels + c;
      acc += w[j] * x[j - back * params.channels];
    }
  }
  out[i] = acc;
}
