// Row-wise normalisations over the last axis of a contiguous [rows, n] tensor: RMSNorm and softmax/log-softmax,
// forward and backward. One workgroup per row; its WG invocations stride over the row (coalesced) and combine
// partial sums through a tree in workgroup memory.
//
// RMSNorm:     y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2) + eps)   (w optional: HAS_WEIGHT)
// backward:    dx = rstd * (dy*w - xhat * mean(dy*w*xhat)),  xhat = x * rstd;  dw = sum over rows of dy * xhat
// softmax:     y = exp(x - max) / sum;          backward dx = y * (dy - sum(dy * y))
// log-softmax: y = x - max - log(sum);          backward dx = dy - softmax(x) * sum(dy)

override WG: u32 = 64u;
override HAS_WEIGHT: bool = true;
override LOG: bool = false; // softmax entries: log-softmax instead
// rmsnorm_backward: `x` holds the forward output y, which is xhat itself when there is no weight. Saving y instead of
// x frees x after the forward: the next op keeps y alive anyway (a residual stream's sums need not be kept).
override FROM_OUTPUT: bool = false;
// rmsnorm_forward: normalise x + u with u bound at `dy` (a residual stream's add and its post-norm in one pass; the
// backward, from y and rstd, is rmsnorm_backward's, and the gradient of the sum is that of x and of u alike).
override RESIDUAL: bool = false;
// CPU drivers, short rows: each invocation owns a whole row (WG rows per workgroup), so no barrier runs and the
// SIMD lanes of a workgroup work on neighbouring rows instead of one lane on one row.
override ROW_PER_INVOCATION: bool = false;
override STEP: u32 = select(WG, 1u, ROW_PER_INVOCATION); // stride of an invocation's walk along its row

struct RowParams {
  rows: u32,
  n: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: RowParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> saved: array<f32>;

fn row_of(wid: vec3<u32>, lid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  if (ROW_PER_INVOCATION) { return (wid.x + wid.y * nwg.x) * WG + lid.x; }
  return wid.x + wid.y * nwg.x;
}

// Where an invocation starts along its row.
fn lane_of(lid: vec3<u32>) -> u32 {
  if (ROW_PER_INVOCATION) { return 0u; }
  return lid.x;
}

fn row_reduce(v: f32, t: u32, is_max: bool) -> f32 {
  if (ROW_PER_INVOCATION) { return v; }
  return workgroup_reduce(v, t, is_max);
}

fn weight(j: u32) -> f32 {
  if (HAS_WEIGHT) { return w[j]; }
  return 1.0;
}

fn norm_input(i: u32) -> f32 {
  if (RESIDUAL) { return x[i] + dy[i]; }
  return x[i];
}

// out = y [rows, n], out2 = rstd [rows]
@compute @workgroup_size(WG)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_of(wid, lid, nwg);
  let live = row < params.rows;
  let t = lane_of(lid);
  let base = row * params.n;
  var ss = 0.0;
  if (live) { for (var j = t; j < params.n; j += STEP) { let v = norm_input(base + j); ss += v * v; } }
  let rstd = inverseSqrt(row_reduce(ss, t, false) / f32(params.n) + params.eps);
  if (!live) { return; }
  for (var j = t; j < params.n; j += STEP) { out[base + j] = norm_input(base + j) * rstd * weight(j); }
  if (t == 0u) { out2[row] = rstd; }
}

fn normalised(i: u32, rstd: f32) -> f32 {
  if (FROM_OUTPUT) { return x[i]; }
  return x[i] * rstd;
}

// out = dx [rows, n]; saved = rstd [rows]
@compute @workgroup_size(WG)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_of(wid, lid, nwg);
  let live = row < params.rows;
  let t = lane_of(lid);
  let base = row * params.n;
  var rstd = 0.0;
  if (live) { rstd = saved[row]; }
  var dot = 0.0;
  if (live) { for (var j = t; j < params.n; j += STEP) { dot += dy[base + j] * weight(j) * normalised(base + j, rstd); } }
  let mean_dot = row_reduce(dot, t, false) / f32(params.n);
  if (!live) { return; }
  for (var j = t; j < params.n; j += STEP) {
    let xhat = normalised(base + j, rstd);
    out[base + j] = rstd * (dy[base + j] * weight(j) - xhat * mean_dot);
  }
}

// dw[j] = sum over rows of dy * x * rstd: one invocation per column, rows summed in order (deterministic).
@compute @workgroup_size(WG)
fn rmsnorm_weight_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * WG;
  if (j >= params.n) { return; }
  var acc = 0.0;
  for (var r = 0u; r < params.rows; r++) { acc += dy[r * params.n + j] * x[r * params.n + j] * saved[r]; }
  out[j] = acc;
}

// out = y [rows, n]
@compute @workgroup_size(WG)
fn softmax_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_of(wid, lid, nwg);
  let live = row < params.rows;
  let t = lane_of(lid);
  let base = row * params.n;
  var m = -3.4028234663852886e38;
  if (live) { for (var j = t; j < params.n; j += STEP) { m = max(m, x[base + j]); } }
  let row_max = row_reduce(m, t, true);
  var s = 0.0;
  if (live) { for (var j = t; j < params.n; j += STEP) { s += exp(x[base + j] - row_max); } }
  let total = row_reduce(s, t, false);
  if (!live) { return; }
  let log_total = log(total);
  for (var j = t; j < params.n; j += STEP) {
    let shifted = x[base + j] - row_max;
    if (LOG) { out[base + j] = shifted - log_total; } else { out[base + j] = exp(shifted) / total; }
  }
}

// saved = y (the forward output); out = dx
@compute @workgroup_size(WG)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = row_of(wid, lid, nwg);
  let live = row < params.rows;
  let t = lane_of(lid);
  let base = row * params.n;
  var s = 0.0;
  if (live) {
    for (var j = t; j < params.n; j += STEP) {
      if (LOG) { s += dy[base + j]; } else { s += dy[base + j] * saved[base + j]; }
    }
  }
  let total = row_reduce(s, t, false);
  if (!live) { return; }
  for (var j = t; j < params.n; j += STEP) {
    let y = saved[base + j];
    if (LOG) { out[base + j] = dy[base + j] - exp(y) * total; } else { out[base + j] = y * (dy[base + j] - total); }
  }
}
