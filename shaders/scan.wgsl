// The parallel scan of gated linear recurrences, h_t = a_t * h_{t-1} + b_t, over [B, T, C] (element (b, t, c) at
// (b * T + t) * C + c): every (b, c) is an independent sequence along T. It is an associative scan over pairs,
//   (a1, b1) then (a2, b2) = (a1 * a2, a2 * b1 + b2),
// computed reduce-then-scan, which needs no inter-workgroup communication (WebGPU gives no forward-progress
// guarantee for single-pass look-back):
//   REDUCE: each tile writes its aggregate pair to [B, tiles, C];
//   (the aggregates are scanned recursively by the same kernels, giving the state at the end of every tile);
//   APPLY:  each tile re-scans its elements starting from its carried-in state and writes h.
// Two tile kernels, chosen by the caller:
//   scan_tree:   a workgroup per (sequence, tile of WG * ITEMS steps). Each invocation scans ITEMS consecutive
//                steps in registers, then a Blelloch up-sweep/down-sweep over the WG partial pairs in workgroup
//                memory gives each invocation its exclusive prefix: O(T) work (work-efficient), log2(WG) depth.
//   scan_chunks: an invocation per (batch, chunk of CHUNK steps, channel); neighbouring invocations take
//                neighbouring channels, so loads coalesce when C is large.
// Options (override constants):
//   REVERSE      scan from t = T-1 down to 0 (logical position p is step T-1-p): the backward pass
//   SHIFT_GATES  use a_{t+1} as the gate at step t (0 past the end): g_t = dy_t + a_{t+1} g_{t+1}
//   A_BROADCAST  a is [B, T], one gate per (b, t) shared by all channels
//   SUM_ONLY     a = 1 everywhere (no gate buffer): a prefix sum
//   INT          values are i32 (with SUM_ONLY): an exact integer prefix sum
//   EXCLUSIVE    write the state before each step's input is added (an exclusive prefix sum)
//   HAS_H0       the initial state comes from h0 [B, C] (else 0)
//   HAS_CARRIES  tiles after the first start from carries[b, tile - 1, c] (the previous tile's final state)

override WG: u32 = 64u;
override ITEMS: u32 = 4u;
override CHUNK: u32 = 64u;
override REDUCE: bool = false;
override REVERSE: bool = false;
override SHIFT_GATES: bool = false;
override A_BROADCAST: bool = false;
override SUM_ONLY: bool = false;
override INT: bool = false;
override EXCLUSIVE: bool = false;
override HAS_H0: bool = false;
override HAS_CARRIES: bool = false;

const MAX_ITEMS: u32 = 16u;

struct ScanParams {
  batch: u32,
  steps: u32,     // T
  channels: u32,  // C
  tiles: u32,     // tiles (or chunks) along T
}

@group(0) @binding(0) var<uniform> params: ScanParams;
@group(0) @binding(1) var<storage, read_write> h_out: array<u32>;    // APPLY: h [B, T, C]
@group(0) @binding(2) var<storage, read_write> agg_a: array<f32>;    // REDUCE: [B, tiles, C]
@group(0) @binding(3) var<storage, read_write> agg_b: array<u32>;    // REDUCE: [B, tiles, C]
@group(0) @binding(4) var<storage, read> gate: array<f32>;
@group(0) @binding(5) var<storage, read> input: array<u32>;
@group(0) @binding(6) var<storage, read> h0: array<u32>;
@group(0) @binding(7) var<storage, read> carries: array<u32>;

// Values travel as raw words so one code path serves f32 and (for prefix sums) i32.
fn plus(x: u32, y: u32) -> u32 {
  if (INT) { return bitcast<u32>(bitcast<i32>(x) + bitcast<i32>(y)); }
  return bitcast<u32>(bitcast<f32>(x) + bitcast<f32>(y));
}

fn gated(a: f32, x: u32) -> u32 {
  if (SUM_ONLY) { return x; }
  return bitcast<u32>(a * bitcast<f32>(x));
}

struct Pair {
  a: f32,
  b: u32,
}

// `first` then `second`.
fn compose(first: Pair, second: Pair) -> Pair {
  return Pair(first.a * second.a, plus(gated(second.a, first.b), second.b));
}

fn identity() -> Pair {
  return Pair(1.0, 0u);
}

fn step_of(p: u32) -> u32 {
  if (REVERSE) { return params.steps - 1u - p; }
  return p;
}

// The pair at logical position p of sequence (b, c).
fn load(b: u32, c: u32, p: u32) -> Pair {
  let t = step_of(p);
  let x = input[(b * params.steps + t) * params.channels + c];
  if (SUM_ONLY) { return Pair(1.0, x); }
  var gt = t;
  if (SHIFT_GATES) {
    if (t + 1u >= params.steps) { return Pair(0.0, x); }
    gt = t + 1u;
  }
  if (A_BROADCAST) { return Pair(gate[b * params.steps + gt], x); }
  return Pair(gate[(b * params.steps + gt) * params.channels + c], x);
}

// The state entering tile `tile` of sequence (b, c).
fn carry_in(b: u32, c: u32, tile: u32) -> u32 {
  if (tile > 0u && HAS_CARRIES) { return carries[(b * params.tiles + tile - 1u) * params.channels + c]; }
  if (tile == 0u && HAS_H0) { return h0[b * params.channels + c]; }
  return 0u;
}

fn store_h(b: u32, c: u32, p: u32, value: u32) {
  h_out[(b * params.steps + step_of(p)) * params.channels + c] = value;
}

fn store_aggregate(b: u32, c: u32, tile: u32, total: Pair) {
  let i = (b * params.tiles + tile) * params.channels + c;
  agg_a[i] = total.a;
  agg_b[i] = total.b;
}

// ---------------------------------------------------------------------------------------------------------------

var<workgroup> tree_a: array<f32, WG>;
var<workgroup> tree_b: array<u32, WG>;

@compute @workgroup_size(WG)
fn scan_tree(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = wid.x + wid.y * nwg.x;
  let tile = w % params.tiles;
  let sequence = w / params.tiles;
  let live = sequence < params.batch * params.channels; // uniform across the workgroup
  let b = sequence / params.channels;
  let c = sequence % params.channels;
  let k = lid.x;
  let start = tile * WG * ITEMS + k * ITEMS;

  // 1. Each invocation composes its ITEMS steps in registers.
  var own = identity();
  var items: array<Pair, MAX_ITEMS>;
  for (var i = 0u; i < ITEMS; i++) {
    let p = start + i;
    var pair = identity();
    if (live && p < params.steps) { pair = load(b, c, p); }
    items[i] = pair;
    own = compose(own, pair);
  }

  // 2. Blelloch exclusive scan of the WG partial pairs: up-sweep builds subtree totals, down-sweep hands each
  //    node the composition of everything to its left.
  tree_a[k] = own.a;
  tree_b[k] = own.b;
  workgroupBarrier();
  for (var width = 1u; width < WG; width *= 2u) {
    let right = (k + 1u) * width * 2u - 1u;
    if (right < WG) {
      let left = right - width;
      let combined = compose(Pair(tree_a[left], tree_b[left]), Pair(tree_a[right], tree_b[right]));
      tree_a[right] = combined.a;
      tree_b[right] = combined.b;
    }
    workgroupBarrier();
  }
  let total = Pair(tree_a[WG - 1u], tree_b[WG - 1u]);
  workgroupBarrier();
  if (k == 0u) {
    tree_a[WG - 1u] = 1.0;
    tree_b[WG - 1u] = 0u;
  }
  workgroupBarrier();
  for (var width = WG / 2u; width >= 1u; width /= 2u) {
    let right = (k + 1u) * width * 2u - 1u;
    if (right < WG) {
      let left = right - width;
      let parent = Pair(tree_a[right], tree_b[right]);
      let left_total = Pair(tree_a[left], tree_b[left]);
      tree_a[left] = parent.a;
      tree_b[left] = parent.b;
      let prefix = compose(parent, left_total);
      tree_a[right] = prefix.a;
      tree_b[right] = prefix.b;
    }
    workgroupBarrier();
  }
  if (!live) { return; }
  if (REDUCE) {
    if (k == 0u) { store_aggregate(b, c, tile, total); }
    return;
  }

  // 3. Apply: the state entering this invocation, then its own steps.
  let prefix = Pair(tree_a[k], tree_b[k]);
  var h = plus(gated(prefix.a, carry_in(b, c, tile)), prefix.b);
  for (var i = 0u; i < ITEMS; i++) {
    let p = start + i;
    if (p >= params.steps) { break; }
    let before = h;
    h = plus(gated(items[i].a, h), items[i].b);
    if (EXCLUSIVE) { store_h(b, c, p, before); } else { store_h(b, c, p, h); }
  }
}

@compute @workgroup_size(WG)
fn scan_chunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let index = gid.x + gid.y * nwg.x * WG;
  if (index >= params.batch * params.tiles * params.channels) { return; }
  let c = index % params.channels;
  let chunk = (index / params.channels) % params.tiles;
  let b = index / (params.channels * params.tiles);
  let start = chunk * CHUNK;
  let end = min(start + CHUNK, params.steps);
  if (REDUCE) {
    var total = identity();
    for (var p = start; p < end; p++) { total = compose(total, load(b, c, p)); }
    store_aggregate(b, c, chunk, total);
    return;
  }
  var h = carry_in(b, c, chunk);
  for (var p = start; p < end; p++) {
    let pair = load(b, c, p);
    let before = h;
    h = plus(gated(pair.a, h), pair.b);
    if (EXCLUSIVE) { store_h(b, c, p, before); } else { store_h(b, c, p, h); }
  }
}

// da[b, t, c] = g[b, t, c] * h[b, t - 1, c] (h0, or 0, at t = 0): the gate gradient of the recurrence.
@compute @workgroup_size(WG)
fn scan_gate_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.batch * params.steps * params.channels) { return; }
  let c = i % params.channels;
  let t = (i / params.channels) % params.steps;
  let b = i / (params.channels * params.steps);
  var previous = 0.0;
  if (t > 0u) { previous = bitcast<f32>(carries[i - params.channels]); } else if (HAS_H0) { previous = bitcast<f32>(h0[b * params.channels + c]); }
  agg_a[i] = bitcast<f32>(input[i]) * previous;
}

// One decoding step: h_new = a * h + b for [B, C] (a of [B] when A_BROADCAST).
@compute @workgroup_size(WG)
fn scan_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.batch * params.channels) { return; }
  var a = 0.0;
  if (A_BROADCAST) { a = gate[i / params.channels]; } else { a = gate[i]; }
  h_out[i] = bitcast<u32>(a * bitcast<f32>(h0[i]) + bitcast<f32>(input[i]));
}
