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
  n2: u32,     // adamw_pair: the second parameter's size
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: OptimParams;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read_write> state1: array<f32>;  // adamw: m; sgd: momentum buffer
@group(0) @binding(3) var<storage, read_write> state2: array<f32>;  // adamw: v
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> grad_scale: array<f32>;

// One AdamW / Adam-atan2 step of an element: the new (weight, m, v).
fn adam_step(weight: f32, m_old: f32, v_old: f32, g: f32) -> vec3<f32> {
  let m = params.beta1 * m_old + (1.0 - params.beta1) * g;
  let v = params.beta2 * v_old + (1.0 - params.beta2) * g * g;
  var w = weight * (1.0 - params.lr * params.weight_decay);
  if (ATAN2) {
    w -= (params.lr / params.bias_correction1) * atan2(m, sqrt(v / params.bias_correction2));
  } else {
    w -= params.lr * (m / params.bias_correction1) / (sqrt(v / params.bias_correction2) + params.eps);
  }
  return vec3<f32>(w, m, v);
}

@compute @workgroup_size(WG)
fn adamw_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let r = adam_step(p[i], state1[i], state2[i], grad[i] * grad_scale[0]);
  p[i] = r.x;
  state1[i] = r.y;
  state2[i] = r.z;
}

// adamw_pair: two parameters of one group in one dispatch (adapters that bind 9 storage buffers): invocations
// [0, n) update the first (bindings 1-3, gradient 7), [n, n + n2) the second (bindings 4-6, gradient 9).
@group(0) @binding(4) var<storage, read_write> p_b: array<f32>;
@group(0) @binding(5) var<storage, read_write> m_b: array<f32>;
@group(0) @binding(6) var<storage, read_write> v_b: array<f32>;
@group(0) @binding(7) var<storage, read> grad_a: array<f32>;
@group(0) @binding(8) var<storage, read> pair_scale: array<f32>;
@group(0) @binding(9) var<storage, read> grad_b: array<f32>;

@compute @workgroup_size(WG)
fn adamw_pair(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < params.n) {
    let r = adam_step(p[i], state1[i], state2[i], grad_a[i] * pair_scale[0]);
    p[i] = r.x;
    state1[i] = r.y;
    state2[i] = r.z;
    return;
  }
  let j = i - params.n;
  if (j >= params.n2) { return; }
  let r = adam_step(p_b[j], m_b[j], v_b[j], grad_b[j] * pair_scale[0]);
  p_b[j] = r.x;
  m_b[j] = r.y;
  v_b[j] = r.z;
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

// grad_sq_multi: grad_sq_partial over up to 8 gradients in one dispatch (adapters that bind 9 storage buffers):
// their workgroups follow one another, gradient s's after those of gradients 0 .. s - 1, and workgroup w writes
// partials[offset + w].
struct MultiSqParams {
  sizes: array<vec4<u32>, 2>, // elements of each gradient (0: slot unused)
  offset: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(0) var<uniform> multi: MultiSqParams;
@group(0) @binding(2) var<storage, read> sq0: array<f32>;
@group(0) @binding(3) var<storage, read> sq1: array<f32>;
@group(0) @binding(4) var<storage, read> sq2: array<f32>;
@group(0) @binding(5) var<storage, read> sq3: array<f32>;
@group(0) @binding(6) var<storage, read> sq4: array<f32>;
@group(0) @binding(7) var<storage, read> sq5: array<f32>;
@group(0) @binding(8) var<storage, read> sq6: array<f32>;
@group(0) @binding(9) var<storage, read> sq7: array<f32>;

fn sq_at(slot: u32, i: u32) -> f32 {
  switch (slot) {
    case 0u: { return sq0[i]; }
    case 1u: { return sq1[i]; }
    case 2u: { return sq2[i]; }
    case 3u: { return sq3[i]; }
    case 4u: { return sq4[i]; }
    case 5u: { return sq5[i]; }
    case 6u: { return sq6[i]; }
    default: { return sq7[i]; }
  }
}

@compute @workgroup_size(WG)
fn grad_sq_multi(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let index = wid.x + wid.y * nwg.x;
  let chunk = WG * SQ_PER_THREAD;
  var group = index;
  var slot = 8u;
  var n = 0u;
  for (var s = 0u; s < 8u; s++) {
    let size = multi.sizes[s / 4u][s % 4u];
    let groups = (size + chunk - 1u) / chunk;
    if (slot == 8u) {
      if (group < groups) { slot = s; n = size; } else { group -= groups; }
    }
  }
  if (slot == 8u) { return; } // uniform per workgroup
  var acc = 0.0;
  let start = group * chunk + lid.x;
  for (var k = 0u; k < SQ_PER_THREAD; k++) {
    let i = start + k * WG;
    if (i < n) {
      let g = sq_at(slot, i);
      acc += g * g;
    }
  }
  let total = workgroup_reduce(acc, lid.x, false);
  if (lid.x == 0u) { p[multi.offset + index] = total; }
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
