// Cross-entropy from logits [rows, classes] and integer targets [rows], fused: the forward computes each row's
// log-sum-exp and loss in one pass over the logits; the backward recomputes softmax from the saved log-sum-exp,
// so no probability matrix is ever stored.
//
//   loss_r = lse_r - x[r, t_r]    (0 where t_r == ignore_index)
//   dx[r, c] = g_r * (exp(x[r, c] - lse_r) - [c == t_r])   (0 where ignored)
//
// A target outside [0, classes) that is not ignore_index cannot be reported from the GPU at once; the kernel
// records the first such row in `bad_row` (row + 1, atomicMin over rows), and the runtime checks it at the next
// read-back, which then fails with a message naming the row.

override WG: u32 = 64u;

struct LossParams {
  rows: u32,
  classes: u32,
  ignore_index: i32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: LossParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;       // forward: loss [rows]; backward: dx
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;      // forward: lse [rows]
@group(0) @binding(3) var<storage, read_write> bad_row: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read> targets: array<i32>;
@group(0) @binding(6) var<storage, read> upstream: array<f32>;        // backward: g [rows]
@group(0) @binding(7) var<storage, read> lse_saved: array<f32>;       // backward: lse [rows]

// The row's target as a class index, or -1 when ignored or out of range (then flagged).
fn target_of(row: u32) -> i32 {
  let t = targets[row];
  if (t == params.ignore_index) { return -1; }
  if (t < 0 || u32(t) >= params.classes) {
    atomicMin(&bad_row[0], row + 1u);
    return -1;
  }
  return t;
}

@compute @workgroup_size(WG)
fn cross_entropy_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  let live = row < params.rows;
  let t = lid.x;
  let base = row * params.classes;
  var m = -3.4028234663852886e38;
  if (live) { for (var c = t; c < params.classes; c += WG) { m = max(m, logits[base + c]); } }
  let row_max = workgroup_reduce(m, t, true);
  var s = 0.0;
  if (live) { for (var c = t; c < params.classes; c += WG) { s += exp(logits[base + c] - row_max); } }
  let total = workgroup_reduce(s, t, false);
  if (!live || t != 0u) { return; }
  let lse = row_max + log(total);
  out2[row] = lse;
  let class_index = target_of(row);
  if (class_index < 0) { out[row] = 0.0; } else { out[row] = lse - logits[base + u32(class_index)]; }
}

// The same forward with one invocation per row and no workgroup barriers, for few classes (puzzle vocabularies):
// a workgroup per row spends its time in barriers there, which CPU drivers make expensive.
@compute @workgroup_size(WG)
fn cross_entropy_forward_rowwise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= params.rows) { return; }
  let base = row * params.classes;
  var m = -3.4028234663852886e38;
  for (var c = 0u; c < params.classes; c++) { m = max(m, logits[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < params.classes; c++) { s += exp(logits[base + c] - m); }
  let lse = m + log(s);
  out2[row] = lse;
  let class_index = target_of(row);
  if (class_index < 0) { out[row] = 0.0; } else { out[row] = lse - logits[base + u32(class_index)]; }
}

@compute @workgroup_size(WG)
fn cross_entropy_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.rows * params.classes) { return; }
  let row = i / params.classes;
  let c = i % params.classes;
  let class_index = targets[row];
  let valid = class_index != params.ignore_index && class_index >= 0 && u32(class_index) < params.classes;
  if (!valid) { out[i] = 0.0; return; }
  let p = exp(logits[i] - lse_saved[row]);
  out[i] = upstream[row] * (p - select(0.0, 1.0, u32(class_index) == c));
}
