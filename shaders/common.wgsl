// Helpers more than one kernel family uses, each written once. shaders/index.ts appends to a family's source the
// helpers it calls (a helper is a section below, from its `// helper: NAME` line to the next; NAME is the function
// the family must call for the section to be included). Appended rather than prepended, so the line numbers of a
// compilation error still point into the family's own file (WGSL lets module-scope names be used before they are
// declared). A section may use the family's `WG` override: only families that call it include it.

// helper: is_nan
// A bit test, because WGSL compilers may assume floats are never NaN and fold `x != x` away (SwiftShader does).
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// helper: workgroup_reduce
var<workgroup> reduce_partial: array<f32, WG>;

// Tree reduction (sum, or max when take_max) of one value per invocation; every invocation gets the result.
// Must be reached by the whole workgroup (uniform control flow).
fn workgroup_reduce(value: f32, t: u32, take_max: bool) -> f32 {
  reduce_partial[t] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      if (take_max) { reduce_partial[t] = max(reduce_partial[t], reduce_partial[t + stride]); } else { reduce_partial[t] += reduce_partial[t + stride]; }
    }
    workgroupBarrier();
  }
  let total = reduce_partial[0];
  workgroupBarrier();
  return total;
}

// helper: rotate_half
// RoPE's "rotate-half" pairing (GPT-NeoX, Llama, the official HRM): channel d of the first half pairs with
// d + rotary/2; cs and sn are the pair's cos and sin (sin negated to undo the rotation).
fn rotate_half(x_d: f32, x_partner: f32, first_half: bool, cs: f32, sn: f32) -> f32 {
  if (first_half) { return x_d * cs - x_partner * sn; }
  return x_d * cs + x_partner * sn;
}

// helper: batch_offsets
// The matmul families' parameters and operands: C[b, m, n] = sum_k A[b, m, k] * B[b, k, n], A and B read through
// strides (transposed and broadcast views cost no copy), C contiguous.
struct MatmulParams {
  batch_shape: vec4<u32>,   // output batch dims (leading ones padded with 1)
  a_batch: vec4<u32>,       // A's stride for each batch dim (0 where broadcast)
  b_batch: vec4<u32>,
  m: u32,
  n: u32,
  k: u32,
  a_offset: u32,
  a_stride_m: u32,
  a_stride_k: u32,
  b_offset: u32,
  b_stride_k: u32,
  b_stride_n: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

// Base offsets of batch `z` in A and B.
fn batch_offsets(z: u32) -> vec2<u32> {
  // The first batch (every batch of an unbatched product) needs none of the divisions, slow on CPU drivers.
  if (z == 0u) { return vec2<u32>(params.a_offset, params.b_offset); }
  var rem = z;
  var oa = params.a_offset;
  var ob = params.b_offset;
  for (var d = 3; d >= 0; d--) {
    let extent = params.batch_shape[d];
    let idx = rem % extent;
    rem = rem / extent;
    oa += idx * params.a_batch[d];
    ob += idx * params.b_batch[d];
  }
  return vec2<u32>(oa, ob);
}
