// Counter-based random numbers: element i of a draw is a pure function of (seed, stream, i), so results do not
// depend on workgroup scheduling or on the adapter's integer arithmetic (all of it exact u32 operations).
// The generator is Philox-4x32-10 (Salmon et al., SC'11), the same family cuRAND and JAX use.
// Also here: sampling a token from each row of logits (sample_rows), which draws its uniform the same way.

override WG: u32 = 256u;
override DIST: u32 = 0u; // 0 uniform [low, high), 1 normal(mean, std)

struct RandomParams {
  n: u32,
  seed: u32,
  stream: u32,
  _pad: u32,
  a: f32, // low or mean
  b: f32, // high or std
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: RandomParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
  // 32 x 32 -> 64-bit product from 16-bit halves (WGSL has no 64-bit integers).
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let lo_lo = a_lo * b_lo;
  let hi_lo = a_hi * b_lo;
  let lo_hi = a_lo * b_hi;
  let hi_hi = a_hi * b_hi;
  let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + (lo_hi & 0xffffu);
  let hi = hi_hi + (hi_lo >> 16u) + (lo_hi >> 16u) + (cross >> 16u);
  let lo = (cross << 16u) | (lo_lo & 0xffffu);
  return vec2<u32>(hi, lo);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var ctr = counter;
  var k = key;
  for (var round = 0u; round < 10u; round++) {
    let p0 = mul_hi_lo(0xD2511F53u, ctr.x);
    let p1 = mul_hi_lo(0xCD9E8D57u, ctr.z);
    ctr = vec4<u32>(p1.x ^ ctr.y ^ k.x, p1.y, p0.x ^ ctr.w ^ k.y, p0.y);
    k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return ctr;
}

fn unit_float(bits: u32) -> f32 {
  // 24 random bits -> [0, 1), exactly representable.
  return f32(bits >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(WG)
fn random_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let bits = philox(vec4<u32>(i, params.stream, 0u, 0u), vec2<u32>(params.seed, 0x6a09e667u));
  if (DIST == 0u) {
    out[i] = params.a + (params.b - params.a) * unit_float(bits.x);
    return;
  }
  // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
  let u1 = 1.0 - unit_float(bits.x);
  let u2 = unit_float(bits.y);
  let radius = sqrt(-2.0 * log(u1));
  out[i] = params.a + params.b * radius * cos(6.283185307179586 * u2);
}

// ---------------------------------------------------------------------------------------------------------------
// sample_rows: one token per row of logits [rows, vocab] -> i32 [rows], for decoding without a read-back per token.
// Temperature 0 (or top_k 1) takes the argmax (the first, on ties). Otherwise softmax(logits / temperature) restricted
// to the top_k largest logits (top_k 0: all of them), sampled by inverting its CDF at u = philox(seed, stream, row).
// One invocation per row, no barriers: vocabularies of byte models are small. The top-k threshold is found by a
// binary search over order-preserving integer keys of the logits (32 passes over the row).

struct SampleParams {
  rows: u32,
  vocab: u32,
  seed: u32,
  stream: u32,
  temperature: f32,
  top_k: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> sampling: SampleParams;
@group(0) @binding(1) var<storage, read_write> tokens: array<i32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;

// Larger floats get larger keys (sign flipped for positives, all bits for negatives).
fn order_key(x: f32) -> u32 {
  let bits = bitcast<u32>(x);
  return select(bits ^ 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

@compute @workgroup_size(WG)
fn sample_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= sampling.rows) { return; }
  let base = row * sampling.vocab;
  var best = 0u;
  for (var j = 1u; j < sampling.vocab; j++) {
    if (logits[base + j] > logits[base + best]) { best = j; }
  }
  if (sampling.temperature <= 0.0 || sampling.top_k == 1u) {
    tokens[row] = i32(best);
    return;
  }
  // The smallest key among the top_k: the largest threshold t with at least top_k keys >= t.
  var threshold = 0u;
  if (sampling.top_k > 0u && sampling.top_k < sampling.vocab) {
    for (var bit = 31; bit >= 0; bit--) {
      let candidate = threshold | (1u << u32(bit));
      var count = 0u;
      for (var j = 0u; j < sampling.vocab; j++) { count += u32(order_key(logits[base + j]) >= candidate); }
      if (count >= sampling.top_k) { threshold = candidate; }
    }
  }
  let top = logits[base + best];
  var total = 0.0;
  for (var j = 0u; j < sampling.vocab; j++) {
    let x = logits[base + j];
    if (order_key(x) >= threshold) { total += exp((x - top) / sampling.temperature); }
  }
  let bits = philox(vec4<u32>(row, sampling.stream, 0u, 0u), vec2<u32>(sampling.seed, 0x3c6ef372u));
  let goal = unit_float(bits.x) * total;
  var running = 0.0;
  var chosen = best;
  for (var j = 0u; j < sampling.vocab; j++) {
    let x = logits[base + j];
    if (order_key(x) < threshold) { continue; }
    running += exp((x - top) / sampling.temperature);
    chosen = j;
    if (running > goal) { break; }
  }
  tokens[row] = i32(chosen);
}
