// Probes of the adapter's practical limits, for bench/: a vec4 copy (memory bandwidth) and an arithmetic-only
// loop of independent fused multiply-adds (peak FMA throughput). Neither is used by models.

override WG: u32 = 256u;
override ITERATIONS: u32 = 256u;

struct ProbeParams {
  n: u32,       // vec4 elements to copy
  seed: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: ProbeParams;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn copy_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  out[i] = src[i];
}

// 8 independent vec4 accumulators x ITERATIONS x (4 lanes x 2 flops) = 64 * ITERATIONS flops per invocation.
// The result is written so the compiler cannot remove the loop.
@compute @workgroup_size(WG)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let x = vec4<f32>(f32(i) * 1e-7 + params.seed);
  let m = vec4<f32>(0.9999);
  var a0 = x; var a1 = x + 0.1; var a2 = x + 0.2; var a3 = x + 0.3;
  var a4 = x + 0.4; var a5 = x + 0.5; var a6 = x + 0.6; var a7 = x + 0.7;
  for (var k = 0u; k < ITERATIONS; k++) {
    a0 = fma(a0, m, x); a1 = fma(a1, m, x); a2 = fma(a2, m, x); a3 = fma(a3, m, x);
    a4 = fma(a4, m, x); a5 = fma(a5, m, x); a6 = fma(a6, m, x); a7 = fma(a7, m, x);
  }
  if (i < params.n) { out[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7; }
}
