// Nonlinear diagonal RNN cells solved three ways (engine/ops/rnn.ts; tests: test/rnn.test.ts; the math:
// ../shared/design/nonlinear-rnn.md). The diagonal GRU of ParaRNN, per channel c:
//   z = σ(xz + uz·h′ + bz),  r = σ(xr + ur·h′ + br),  ĉ = tanh(xh + r·(uh·h′) + bh),  h = (1 − z)·h′ + z·ĉ
// with h′ the previous state. Its Jacobian ∂h/∂h′ is a scalar per channel, so a Newton step over the whole sequence
// is a gated linear scan (shaders/scan.wgsl), and the backward is the adjoint scan with the same Jacobians.
//
// gru_linearize: per (b, t, c), from a guess of every state, f(h′) and J = ∂f/∂h′ at h′ = guess[t − 1]
//                (h0 at t = 0): the scan's gate J and input f − J·h′ (Newton: h ← scan(J, f − J·h′, h0)),
//                and where asked the residual |guess[t] − f(h′)|.
// gru_fused:     FlashRNN's fused sequential kernel: one invocation per (b, c) walks t with h in a register.
// gru_step:      one time step for all (b, c), h′ read from the output itself (the sequential reference).
// gru_backward:  per (b, t, c), from the solution h and the adjoint λ_t: the gradients of the three projections
//                (packed [3, B, T, C]) and their products with what multiplies the diagonal weights (packed
//                the same way), whose sums over b and t are the weights' gradients.
//
// aux: the weights uz, ur, uh, bz, br, bh ([C] each, in that order), then h0 [B, C] when HAS_H0.

override WG: u32 = 64u;
override HAS_H0: bool = false;
override RESIDUAL: bool = false;

struct RnnParams {
  batch: u32,
  steps: u32,
  channels: u32,
  step: u32, // gru_step: the time step it computes
}

@group(0) @binding(0) var<uniform> params: RnnParams;
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;
@group(0) @binding(2) var<storage, read_write> out1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;
@group(0) @binding(4) var<storage, read> xz: array<f32>;
@group(0) @binding(5) var<storage, read> xr: array<f32>;
@group(0) @binding(6) var<storage, read> xh: array<f32>;
@group(0) @binding(7) var<storage, read> states: array<f32>; // the guess (linearize), the solution (backward)
@group(0) @binding(8) var<storage, read> aux: array<f32>;

fn sigmoid(x: f32) -> f32 {
  // Both branches stay finite: exp of a non-positive number only.
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}

fn weight(k: u32, c: u32) -> f32 {
  return aux[k * params.channels + c];
}

fn initial(b: u32, c: u32) -> f32 {
  if (HAS_H0) { return aux[6u * params.channels + b * params.channels + c]; }
  return 0.0;
}

struct Cell {
  h: f32,     // f(h′)
  slope: f32, // ∂f/∂h′
  z: f32,
  r: f32,
  cand: f32,  // ĉ
  u: f32,     // uh·h′
}

fn gru(i: u32, c: u32, prev: f32) -> Cell {
  let z = sigmoid(xz[i] + weight(0u, c) * prev + weight(3u, c));
  let r = sigmoid(xr[i] + weight(1u, c) * prev + weight(4u, c));
  let u = weight(2u, c) * prev;
  let cand = tanh(xh[i] + r * u + weight(5u, c));
  let h = prev + z * (cand - prev);
  // ∂ĉ/∂h′ = (1 − ĉ²)(r·uh + uh·h′·r(1 − r)·ur);  ∂z/∂h′ = z(1 − z)·uz
  let dcand = (1.0 - cand * cand) * (r * weight(2u, c) + u * r * (1.0 - r) * weight(1u, c));
  let slope = (1.0 - z) + (cand - prev) * z * (1.0 - z) * weight(0u, c) + z * dcand;
  return Cell(h, slope, z, r, cand, u);
}

/** The state before step t of sequence (b, c) in `states` ([B, T, C]), h0 at t = 0. */
fn previous(b: u32, t: u32, c: u32) -> f32 {
  if (t == 0u) { return initial(b, c); }
  return states[(b * params.steps + t - 1u) * params.channels + c];
}

@compute @workgroup_size(WG)
fn gru_linearize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  if (i >= params.batch * params.steps * C) { return; }
  let c = i % C;
  let t = (i / C) % params.steps;
  let b = i / (C * params.steps);
  let prev = previous(b, t, c);
  let cell = gru(i, c, prev);
  out0[i] = cell.slope;
  out1[i] = cell.h - cell.slope * prev;
  if (RESIDUAL) { out2[i] = abs(states[i] - cell.h); }
}

@compute @workgroup_size(WG)
fn gru_fused(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  if (s >= params.batch * C) { return; }
  let c = s % C;
  let b = s / C;
  var h = initial(b, c);
  for (var t = 0u; t < params.steps; t++) {
    let i = (b * params.steps + t) * C + c;
    h = gru(i, c, h).h;
    out0[i] = h;
  }
}

@compute @workgroup_size(WG)
fn gru_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  if (s >= params.batch * C) { return; }
  let c = s % C;
  let b = s / C;
  let t = params.step;
  let i = (b * params.steps + t) * C + c;
  var prev = initial(b, c);
  if (t > 0u) { prev = out0[i - C]; }
  out0[i] = gru(i, c, prev).h;
}

@compute @workgroup_size(WG)
fn gru_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  let n = params.batch * params.steps * C;
  if (i >= n) { return; }
  let c = i % C;
  let t = (i / C) % params.steps;
  let b = i / (C * params.steps);
  let prev = previous(b, t, c);
  let cell = gru(i, c, prev);
  // out2 holds the adjoint λ_t here (read only).
  let lam = out2[i];
  let dxz = lam * (cell.cand - prev) * cell.z * (1.0 - cell.z);
  let dxh = lam * cell.z * (1.0 - cell.cand * cell.cand);
  let dxr = dxh * cell.u * cell.r * (1.0 - cell.r);
  out0[i] = dxz;
  out0[n + i] = dxr;
  out0[2u * n + i] = dxh;
  // ∂pre/∂uz = h′, ∂pre/∂ur = h′, ∂pre/∂uh = r·h′
  out1[i] = dxz * prev;
  out1[n + i] = dxr * prev;
  out1[2u * n + i] = dxh * cell.r * prev;
}

// rnn_residual_check: flags the largest residual (out2 of gru_linearize, bound here as `residual`) above the
// tolerance, as its f32 bits (ordered like the numbers for non-negative floats), for the runtime to report.
override TOLERANCE: f32 = 1e-5;
@group(0) @binding(1) var<storage, read_write> worst: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;

@compute @workgroup_size(WG)
fn rnn_residual_check(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.batch * params.steps * params.channels) { return; }
  let r = residual[i];
  // A NaN residual fails too (its bits are above every finite positive float's).
  if (!(r <= TOLERANCE)) { atomicMax(&worst[0], bitcast<u32>(abs(r))); }
}
