// Reductions along one axis of a contiguous tensor viewed as [outer, n, inner]; the output is [outer, inner].
//
// Two layouts, chosen by the caller:
//   reduce_rows:    inner == 1 (the reduced axis is innermost). One workgroup per output; its WG invocations stride
//                   over the row (coalesced) and combine through a tree in workgroup memory.
//   reduce_columns: inner > 1. One invocation per output, looping over n; neighbouring invocations read
//                   neighbouring addresses, so the loads still coalesce.
// OP: 0 sum, 1 max, 2 min, 3 argmax, 4 argmin, 5 logsumexp. Arg reductions write i32 indices (the first extremum).
// NaN propagates through max/min/logsumexp, and argmax/argmin point at the first NaN, as in NumPy.

override WG: u32 = 256u;
override OP: u32 = 0u;

const R_SUM: u32 = 0u;
const R_MAX: u32 = 1u;
const R_MIN: u32 = 2u;
const R_ARGMAX: u32 = 3u;
const R_ARGMIN: u32 = 4u;
const R_LOGSUMEXP: u32 = 5u;

struct ReduceParams {
  outer: u32,
  n: u32,
  inner: u32,
  offset: u32,
  scale: f32, // multiplies a sum (1/n for mean)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: ReduceParams;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

const NEG_INF: f32 = -3.4028234663852886e38;
const POS_INF: f32 = 3.4028234663852886e38;

// A partial result: the running value and (for arg reductions) the index where it was found.
struct Partial {
  value: f32,
  index: u32,
}

fn identity() -> Partial {
  switch OP {
    case R_MAX, R_ARGMAX, R_LOGSUMEXP: { return Partial(NEG_INF, 0xffffffffu); }
    case R_MIN, R_ARGMIN: { return Partial(POS_INF, 0xffffffffu); }
    default: { return Partial(0.0, 0xffffffffu); }
  }
}

// Combine p (earlier or equal indices first is not assumed) with q; ties and NaNs resolve to the smaller index.
fn combine(p: Partial, q: Partial) -> Partial {
  if (OP == R_SUM) { return Partial(p.value + q.value, 0u); }
  let pn = is_nan(p.value) && p.index != 0xffffffffu;
  let qn = is_nan(q.value) && q.index != 0xffffffffu;
  if (pn || qn) {
    if (pn && qn) {
      if (p.index < q.index) { return p; }
      return q;
    }
    if (pn) { return p; }
    return q;
  }
  var q_better: bool;
  if (OP == R_MIN || OP == R_ARGMIN) { q_better = q.value < p.value; } else { q_better = q.value > p.value; }
  if (q.value == p.value) { q_better = q.index < p.index; }
  if (q_better) { return q; }
  return p;
}

fn element(o: u32, k: u32, i: u32) -> f32 {
  return x[params.offset + (o * params.n + k) * params.inner + i];
}

fn finish(p: Partial, sum_exp: f32) -> u32 {
  switch OP {
    case R_SUM: { return bitcast<u32>(p.value * params.scale); }
    case R_ARGMAX, R_ARGMIN: { return p.index; }
    case R_LOGSUMEXP: {
      if (is_nan(p.value) || p.value == NEG_INF) { return bitcast<u32>(p.value); }
      return bitcast<u32>(p.value + log(sum_exp));
    }
    default: { return bitcast<u32>(p.value); }
  }
}

var<workgroup> tree: array<Partial, WG>;
var<workgroup> tree_sum: array<f32, WG>;

@compute @workgroup_size(WG)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = wid.x + wid.y * nwg.x;
  let t = lid.x;
  let live = o < params.outer; // every invocation must reach the barriers, so no early return
  var acc = identity();
  if (live) {
    for (var k = t; k < params.n; k += WG) {
      let v = element(o, k, 0u);
      if (OP == R_SUM) { acc.value += v; } else { acc = combine(acc, Partial(v, k)); }
    }
  }
  tree[t] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) { tree[t] = combine(tree[t], tree[t + stride]); }
    workgroupBarrier();
  }
  var sum_exp = 0.0;
  if (OP == R_LOGSUMEXP) {
    // A second pass over the row, shifted by its maximum so exp never overflows.
    let m = tree[0].value;
    var s = 0.0;
    if (live && !is_nan(m) && m != NEG_INF) {
      for (var k = t; k < params.n; k += WG) { s += exp(element(o, k, 0u) - m); }
    }
    tree_sum[t] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
      if (t < stride) { tree_sum[t] += tree_sum[t + stride]; }
      workgroupBarrier();
    }
    sum_exp = tree_sum[0];
  }
  if (live && t == 0u) { out[o] = finish(tree[0], sum_exp); }
}

@compute @workgroup_size(WG)
fn reduce_columns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let flat = gid.x + gid.y * nwg.x * WG;
  if (flat >= params.outer * params.inner) { return; }
  let o = flat / params.inner;
  let i = flat % params.inner;
  var acc = identity();
  for (var k = 0u; k < params.n; k++) {
    let v = element(o, k, i);
    if (OP == R_SUM) { acc.value += v; } else { acc = combine(acc, Partial(v, k)); }
  }
  var sum_exp = 0.0;
  if (OP == R_LOGSUMEXP && !is_nan(acc.value) && acc.value != NEG_INF) {
    for (var k = 0u; k < params.n; k++) { sum_exp += exp(element(o, k, i) - acc.value); }
  }
  out[flat] = finish(acc, sum_exp);
}

// Gradient of an arg-selected reduction (max/min along an axis): out[o, k, i] = (k == index[o, i]) ? dy[o, i] : 0.
@group(0) @binding(3) var<storage, read> index: array<u32>;

@compute @workgroup_size(WG)
fn scatter_selected(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let flat = gid.x + gid.y * nwg.x * WG;
  if (flat >= params.outer * params.n * params.inner) { return; }
  let i = flat % params.inner;
  let k = (flat / params.inner) % params.n;
  let o = flat / (params.inner * params.n);
  let j = o * params.inner + i;
  out[flat] = select(0u, bitcast<u32>(x[j]), index[j] == k);
}
