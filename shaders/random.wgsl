// Counter-based random numbers: element i of a draw is a pure function of (seed, stream, i), so results do not
// depend on workgroup scheduling or on the adapter's integer arithmetic (all of it exact u32 operations).
// The generator is Philox-4x32-10 (Salmon et al., SC'11), the same family cuRAND and JAX use.

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
