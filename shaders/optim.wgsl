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
  _pad: u32,
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

// grad_scale[0] <- min(1, max_norm / (sqrt(sum_sq[0]) + 1e-6)); out: the scale, and the norm in state1[0].
struct ClipParams {
  max_norm: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(0) var<uniform> clip: ClipParams;

@compute @workgroup_size(1)
fn clip_coefficient() {
  let norm = sqrt(grad[0]);
  state1[0] = norm;
  p[0] = min(1.0, clip.max_norm / (norm + 1e-6));
}
