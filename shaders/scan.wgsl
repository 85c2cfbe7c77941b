// The parallel scan of gated linear recurrences, h_t = a_t * h_{t-1} + b_t, over [B, T, C] (element (b, t, c) at
// (b * T + t) * C + c): every (b, c) is an independent sequence along T. It is an associative scan over pairs,
//   (a1, b1) then (a2, b2) = (a1 * a2, a2 * b1 + b2),
// computed in one of two ways.
// Reduce-then-scan (two passes, no inter-workgroup communication):
//   REDUCE: each tile writes its aggregate pair to [B, tiles, C];
//   (the aggregates are scanned recursively by the same kernels, giving the state at the end of every tile);
//   APPLY:  each tile re-scans its elements starting from its carried-in state and writes h.
// Single pass with decoupled look-back and fallback (*_lookback; Merrill & Garland's look-back, made safe without
// WebGPU's missing forward-progress guarantee by T. Smith's fallback): each tile posts its aggregate as soon as it
// has it, then walks back over its predecessors' posts, composing aggregates until it meets an inclusive prefix;
// where a predecessor has posted nothing yet it does not wait for it but reduces that tile's input itself. Every
// value it reads is a single 32-bit atomic word that starts as SENTINEL, so a word read is either absent or final:
// no ordering between words is needed, and a value that happens to equal SENTINEL only costs a fallback. Tiles take
// their index from an atomic counter in start order, so predecessors are always already running. Reads a and b
// once and writes h once: the traffic of a copy plus one word.
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
//   SPIN         look-back: reads of a missing post before falling back to reducing that tile directly
//   SILENT       look-back: post nothing, so every look-back takes the fallback path (tests exercise it so)

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
override SPIN: u32 = 32u;
override SILENT: bool = false;

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

// Blelloch scan of this invocation's partial pair across the workgroup: returns the workgroup total, and leaves
// each invocation's exclusive prefix in tree_a[k], tree_b[k]. Reached by the whole workgroup.
fn workgroup_scan(own: Pair, k: u32) -> Pair {
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
  return total;
}

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

  // 2. Blelloch exclusive scan of the WG partial pairs (workgroup_scan, below): each invocation's exclusive
  //    prefix, and the tile's total.
  let total = workgroup_scan(own, k);
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

// ---------------------------------------------------------------------------------------------------------------
// Single pass. status holds, per (b, tile, c), four words [aggregate a, aggregate b, inclusive a, inclusive b],
// then one word: the tile counter. scan_status_reset sets them to SENTINEL (the counter to 0) before each scan.

const SENTINEL: u32 = 0x7fbadbadu; // a signalling-NaN pattern: arithmetic never produces it
@group(0) @binding(2) var<storage, read_write> status: array<atomic<u32>>;

@compute @workgroup_size(WG)
fn scan_status_reset(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let slots = 4u * params.batch * params.tiles * params.channels;
  if (i < slots) { atomicStore(&status[i], SENTINEL); }
  if (i == slots) { atomicStore(&status[i], 0u); }
}

fn post(slot: u32, offset: u32, value: Pair) {
  if (SILENT) { return; }
  atomicStore(&status[4u * slot + offset], bitcast<u32>(value.a));
  atomicStore(&status[4u * slot + offset + 1u], value.b);
}

// 0: nothing posted yet; 1: the tile's aggregate; 2: the inclusive prefix up to and including the tile.
struct Post {
  kind: u32,
  value: Pair,
}

fn read_post(slot: u32) -> Post {
  for (var attempt = 0u; attempt < SPIN; attempt++) {
    let ia = atomicLoad(&status[4u * slot + 2u]);
    let ib = atomicLoad(&status[4u * slot + 3u]);
    if (ia != SENTINEL && ib != SENTINEL) { return Post(2u, Pair(bitcast<f32>(ia), ib)); }
    let aa = atomicLoad(&status[4u * slot]);
    let ab = atomicLoad(&status[4u * slot + 1u]);
    if (aa != SENTINEL && ab != SENTINEL) { return Post(1u, Pair(bitcast<f32>(aa), ab)); }
  }
  return Post(0u, identity());
}

fn status_slot(b: u32, tile: u32, c: u32) -> u32 {
  return (b * params.tiles + tile) * params.channels + c;
}

var<workgroup> ticket: u32;

// The next tile index in start order, the same for the whole workgroup.
fn take_ticket(lane: u32) -> u32 {
  if (lane == 0u) { ticket = atomicAdd(&status[4u * params.batch * params.tiles * params.channels], 1u); }
  return workgroupUniformLoad(&ticket);
}

// scan_chunks in one pass: invocation (b, chunk, c) of the ticket order scans its CHUNK (<= MAX_ITEMS) steps in
// registers, posts, looks back on its own channel (reducing a silent predecessor chunk itself), and applies.
@compute @workgroup_size(WG)
fn scan_chunks_lookback(@builtin(local_invocation_id) lid: vec3<u32>) {
  let index = take_ticket(lid.x) * WG + lid.x;
  if (index >= params.batch * params.tiles * params.channels) { return; }
  let c = index % params.channels;
  let chunk = (index / params.channels) % params.tiles;
  let b = index / (params.channels * params.tiles);
  let start = chunk * CHUNK;
  var items: array<Pair, MAX_ITEMS>;
  var total = identity();
  for (var i = 0u; i < CHUNK; i++) {
    let p = start + i;
    var pair = identity();
    if (p < params.steps) { pair = load(b, c, p); }
    items[i] = pair;
    total = compose(total, pair);
  }
  let slot = status_slot(b, chunk, c);
  var before = identity(); // everything before this chunk
  if (chunk == 0u) {
    post(slot, 2u, total);
  } else {
    post(slot, 0u, total);
    var previous = chunk;
    loop {
      previous -= 1u;
      let seen = read_post(status_slot(b, previous, c));
      if (seen.kind == 2u) { before = compose(seen.value, before); break; }
      var value = seen.value;
      if (seen.kind == 0u) {
        value = identity();
        let first = previous * CHUNK;
        for (var p = first; p < min(first + CHUNK, params.steps); p++) { value = compose(value, load(b, c, p)); }
      }
      before = compose(value, before);
      if (previous == 0u) { break; }
    }
    post(slot, 2u, compose(before, total));
  }
  var h = plus(gated(before.a, carry_in(b, c, 0u)), before.b);
  for (var i = 0u; i < CHUNK; i++) {
    let p = start + i;
    if (p >= params.steps) { break; }
    let prior = h;
    h = plus(gated(items[i].a, h), items[i].b);
    if (EXCLUSIVE) { store_h(b, c, p, prior); } else { store_h(b, c, p, h); }
  }
}

var<workgroup> look_kind: u32;
var<workgroup> look_a: f32;
var<workgroup> look_b: u32;

// scan_tree in one pass: a workgroup per (sequence, tile) in ticket order. Invocation 0 looks back; where a
// predecessor tile is silent, the whole workgroup reduces that tile's input (uniform control: the decision is
// shared through workgroup memory).
@compute @workgroup_size(WG)
fn scan_tree_lookback(@builtin(local_invocation_id) lid: vec3<u32>) {
  let k = lid.x;
  let w = take_ticket(k);
  let tile = w % params.tiles;
  let sequence = w / params.tiles;
  let live = sequence < params.batch * params.channels; // uniform
  let b = sequence / params.channels;
  let c = sequence % params.channels;
  let span = WG * ITEMS;
  let start = tile * span + k * ITEMS;
  var own = identity();
  var items: array<Pair, MAX_ITEMS>;
  for (var i = 0u; i < ITEMS; i++) {
    let p = start + i;
    var pair = identity();
    if (live && p < params.steps) { pair = load(b, c, p); }
    items[i] = pair;
    own = compose(own, pair);
  }
  let total = workgroup_scan(own, k);
  let prefix = Pair(tree_a[k], tree_b[k]);
  let slot = status_slot(b, tile, c);
  var before = identity();
  if (live && k == 0u) {
    if (tile == 0u) { post(slot, 2u, total); } else { post(slot, 0u, total); }
  }
  var previous = tile;
  var looking = live && tile > 0u; // uniform
  while (looking) {
    previous -= 1u;
    if (k == 0u) {
      let seen = read_post(status_slot(b, previous, c));
      look_kind = seen.kind;
      look_a = seen.value.a;
      look_b = seen.value.b;
    }
    let kind = workgroupUniformLoad(&look_kind);
    var value = Pair(look_a, look_b);
    if (kind == 0u) {
      // The predecessor is silent: reduce its tile here (everyone takes part, so the barriers stay uniform).
      var part = identity();
      let first = previous * span + k * ITEMS;
      for (var i = 0u; i < ITEMS; i++) {
        if (first + i < params.steps) { part = compose(part, load(b, c, first + i)); }
      }
      value = workgroup_scan(part, k);
    }
    before = compose(value, before);
    looking = kind != 2u && previous > 0u;
    workgroupBarrier(); // everyone has read look_* before invocation 0 writes the next post there
  }
  if (!live) { return; }
  if (tile > 0u && k == 0u) { post(slot, 2u, compose(before, total)); }
  var h = plus(gated(before.a, carry_in(b, c, 0u)), before.b);
  h = plus(gated(prefix.a, h), prefix.b);
  for (var i = 0u; i < ITEMS; i++) {
    let p = start + i;
    if (p >= params.steps) { break; }
    let prior = h;
    h = plus(gated(items[i].a, h), items[i].b);
    if (EXCLUSIVE) { store_h(b, c, p, prior); } else { store_h(b, c, p, h); }
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
