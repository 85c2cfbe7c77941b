// Optimiser updates, fused: each reads a parameter's gradient once and updates the parameter and its state in
// place. `grad_scale[0]` multiplies every gradient (the global-norm clipping coefficient, computed on the GPU, so
// clipping needs no read-back).
//
// adamw (Loshchilov & Hutter; PyTorch's AdamW):
//   g = grad * scale;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * wd * p;  p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)          bc_i = 1 - b_i^t
// adam-atan2 (ATAN2; the optimiser of the HRM reference code): no epsilon, the ratio replaced by atan2:
//   p -= lr * wd * p;  p -= (lr / bc1) * atan2(m, sqrt(v / bc2))
// sgd (PyTorch's SGD with momentum and dampening 0):
//   g = grad * scale + wd * p;  buf = mu buf + g;  p -= lr * (nesterov ? g + mu buf : buf)

override WG: u32 = 256u;
override NESTEROV: bool = false;
override ATAN2: bool = false;

struct OptimParams {
  n: u32,
  offset: u32, // grad_sq_partial: the first slot of this parameter's partial sums
  lr: f32,
  weight_decay: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  bias_correction1: f32,
  bias_correction2: f32,
  momentum: f32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: OptimParams;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read_write> state1: array<f32>;  // adamw: m; sgd: momentum buffer
@group(0) @binding(3) var<storage, read_write> state2: array<f32>;  // adamw: v
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> grad_scale: array<f32>;

@compute @workgroup_size(WG)
fn adamw_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let g = grad[i] * grad_scale[0];
  let m = params.beta1 * state1[i] + (1.0 - params.beta1) * g;
  let v = params.beta2 * state2[i] + (1.0 - params.beta2) * g * g;
  state1[i] = m;
  state2[i] = v;
  var w = p[i] * (1.0 - params.lr * params.weight_decay);
  if (ATAN2) {
    w -= (params.lr / params.bias_correction1) * atan2(m, sqrt(v / params.bias_correction2));
  } else {
    w -= params.lr * (m / params.bias_correction1) / (sqrt(v / params.bias_correction2) + params.eps);
  }
  p[i] = w;
}

@compute @workgroup_size(WG)
fn sgd_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let g = grad[i] * grad_scale[0] + params.weight_decay * p[i];
  let buf = params.momentum * state1[i] + g;
  state1[i] = buf;
  var step = buf;
  if (NESTEROV) { step = g + params.momentum * buf; }
  p[i] -= params.lr * step;
}

// The global gradient norm in two steps, so clipping costs one dispatch per parameter plus one:
// grad_sq_partial: workgroup w sums the squares of its SQ_CHUNK = WG * SQ_PER_THREAD elements of `grad` into
//   partials[offset + w] (written through binding 1, `p`);
// clip_coefficient: one workgroup sums `count` partials; norm = sqrt(sum) goes to state1[0] and the clipping
//   scale min(1, max_norm / (norm + 1e-6)) to p[0]. A NaN or Inf gradient makes the norm NaN or Inf, and the scale
//   NaN: training notices it when it reads the norm.
override SQ_PER_THREAD: u32 = 16u;
@compute @workgroup_size(WG)
fn grad_sq_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let group = wid.x + wid.y * nwg.x;
  let chunk = WG * SQ_PER_THREAD;
  let groups = (params.n + chunk - 1u) / chunk;
  if (group >= groups) { return; } // uniform per workgroup: the barriers below stay in uniform control flow
  var acc = 0.0;
  let start = group * chunk + lid.x;
  for (var k = 0u; k < SQ_PER_THREAD; k++) {
    let i = start + k * WG;
    if (i < params.n) {
      let g = grad[i];
      acc += g * g;
    }
  }
  let total = workgroup_reduce(acc, lid.x, false);
  if (lid.x == 0u) { p[params.offset + group] = total; }
}

struct ClipParams {
  max_norm: f32,
  count: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(0) var<uniform> clip: ClipParams;

@compute @workgroup_size(WG)
fn clip_coefficient(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < clip.count; i += WG) { acc += grad[i]; }
  let total = workgroup_reduce(acc, lid.x, false);
  if (lid.x == 0u) {
    let norm = sqrt(total);
    state1[0] = norm;
    p[0] = min(1.0, clip.max_norm / (norm + 1e-6));
  }
}

// finite_watch: a training run's non-finite monitor (engine/optim/finite.ts). watch_flag holds [first bad step,
// which]. If grad[0] (bit 1) or, when params.offset > 1, grad_scale[0] (bit 2) is NaN or infinite at step
// params.n, and no earlier step was, the step and the bits are recorded. Nothing is read back here.
fn finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// The flag as integers (binding 1, which the other entry points read as `p`): no float ever holds its bits.
@group(0) @binding(1) var<storage, read_write> watch_flag: array<u32>;

@compute @workgroup_size(1)
fn finite_watch() {
  var bits = 0u;
  if (!finite(grad[0])) { bits |= 1u; }
  if (params.offset > 1u && !finite(grad_scale[0])) { bits |= 2u; }
  if (bits != 0u && params.n < watch_flag[0]) {
    watch_flag[0] = params.n;
    watch_flag[1] = bits;
  }
}
