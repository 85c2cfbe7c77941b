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
//
// The diagonal LSTM-CIFG (coupled input and forget gates; the projections bound as xz, xr, xh are xf, xo, xc):
//   f = σ(xf + uf·h′ + bf),  o = σ(xo + uo·h′ + bo),  ĉ = tanh(xc + uc·h′ + bc),  c = f·c′ + (1 − f)·ĉ,  h = o·tanh(c)
// Its state is (h, c) per channel and its Jacobian a 2 x 2 block, so Newton's solves are shaders/scan2.wgsl's scan;
// states are packed [2, B, T, C] (h, then c), the Jacobian [4, B, T, C] (∂h/∂h′, ∂h/∂c′, ∂c/∂h′, ∂c/∂c′), and aux
// holds uf, uo, uc, bf, bo, bc, then h0 and c0 [B, C] each when HAS_H0.

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

// ---- LSTM-CIFG ----------------------------------------------------------------------------------------------

struct LstmCell {
  h: f32,
  c: f32,
  a: vec4<f32>, // ∂h/∂h′, ∂h/∂c′, ∂c/∂h′, ∂c/∂c′
  f: f32,
  o: f32,
  cand: f32,
  tau: f32,     // tanh(c)
}

fn lstm(i: u32, ch: u32, prev_h: f32, prev_c: f32) -> LstmCell {
  let f = sigmoid(xz[i] + weight(0u, ch) * prev_h + weight(3u, ch));
  let o = sigmoid(xr[i] + weight(1u, ch) * prev_h + weight(4u, ch));
  let cand = tanh(xh[i] + weight(2u, ch) * prev_h + weight(5u, ch));
  let c = f * prev_c + (1.0 - f) * cand;
  let tau = tanh(c);
  let dc_dh = (prev_c - cand) * f * (1.0 - f) * weight(0u, ch) + (1.0 - f) * (1.0 - cand * cand) * weight(2u, ch);
  let through_c = o * (1.0 - tau * tau);
  let dh_dh = o * (1.0 - o) * weight(1u, ch) * tau + through_c * dc_dh;
  return LstmCell(o * tau, c, vec4<f32>(dh_dh, through_c * f, dc_dh, f), f, o, cand, tau);
}

fn lstm_initial(b: u32, ch: u32) -> vec2<f32> {
  if (HAS_H0) {
    let base = 6u * params.channels;
    let m = params.batch * params.channels;
    return vec2<f32>(aux[base + b * params.channels + ch], aux[base + m + b * params.channels + ch]);
  }
  return vec2<f32>(0.0);
}

/** (h, c) before step t of sequence (b, ch) in the packed `states`, (h0, c0) at t = 0. */
fn lstm_previous(b: u32, t: u32, ch: u32) -> vec2<f32> {
  if (t == 0u) { return lstm_initial(b, ch); }
  let n = params.batch * params.steps * params.channels;
  let i = (b * params.steps + t - 1u) * params.channels + ch;
  return vec2<f32>(states[i], states[n + i]);
}

@compute @workgroup_size(WG)
fn lstm_linearize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  let n = params.batch * params.steps * C;
  if (i >= n) { return; }
  let ch = i % C;
  let t = (i / C) % params.steps;
  let b = i / (C * params.steps);
  let prev = lstm_previous(b, t, ch);
  let cell = lstm(i, ch, prev.x, prev.y);
  out0[i] = cell.a.x;
  out0[n + i] = cell.a.y;
  out0[2u * n + i] = cell.a.z;
  out0[3u * n + i] = cell.a.w;
  out1[i] = cell.h - (cell.a.x * prev.x + cell.a.y * prev.y);
  out1[n + i] = cell.c - (cell.a.z * prev.x + cell.a.w * prev.y);
  if (RESIDUAL) { out2[i] = max(abs(states[i] - cell.h), abs(states[n + i] - cell.c)); }
}

@compute @workgroup_size(WG)
fn lstm_fused(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  if (s >= params.batch * C) { return; }
  let ch = s % C;
  let b = s / C;
  let n = params.batch * params.steps * C;
  var state = lstm_initial(b, ch);
  for (var t = 0u; t < params.steps; t++) {
    let i = (b * params.steps + t) * C + ch;
    let cell = lstm(i, ch, state.x, state.y);
    state = vec2<f32>(cell.h, cell.c);
    out0[i] = cell.h;
    out0[n + i] = cell.c;
  }
}

@compute @workgroup_size(WG)
fn lstm_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  if (s >= params.batch * C) { return; }
  let ch = s % C;
  let b = s / C;
  let n = params.batch * params.steps * C;
  let t = params.step;
  let i = (b * params.steps + t) * C + ch;
  var prev = lstm_initial(b, ch);
  if (t > 0u) { prev = vec2<f32>(out0[i - C], out0[n + i - C]); }
  let cell = lstm(i, ch, prev.x, prev.y);
  out0[i] = cell.h;
  out0[n + i] = cell.c;
}

@compute @workgroup_size(WG)
fn lstm_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let C = params.channels;
  let n = params.batch * params.steps * C;
  if (i >= n) { return; }
  let ch = i % C;
  let t = (i / C) % params.steps;
  let b = i / (C * params.steps);
  let prev = lstm_previous(b, t, ch);
  let cell = lstm(i, ch, prev.x, prev.y);
  // out2 holds the adjoint (λh, λc) packed [2, B, T, C] here (read only).
  let lam_h = out2[i];
  let lam_c = out2[n + i];
  let dc = lam_c + lam_h * cell.o * (1.0 - cell.tau * cell.tau);
  let dxo = lam_h * cell.tau * cell.o * (1.0 - cell.o);
  let dxf = dc * (prev.y - cell.cand) * cell.f * (1.0 - cell.f);
  let dxc = dc * (1.0 - cell.f) * (1.0 - cell.cand * cell.cand);
  out0[i] = dxf;
  out0[n + i] = dxo;
  out0[2u * n + i] = dxc;
  out1[i] = dxf * prev.x;
  out1[n + i] = dxo * prev.x;
  out1[2u * n + i] = dxc * prev.x;
}
