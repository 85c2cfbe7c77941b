// Elementwise kernels over strided views: unary and binary maps (with NumPy broadcasting expressed as zero strides),
// their fused gradients, the strided copy that materialises views, dtype casts, fills and ranges.
//
// Every buffer is bound as raw 32-bit words and reinterpreted by DTYPE, so one pipeline family serves f32, i32 and
// u32 tensors. OP selects the function at pipeline creation (an override constant), so each pipeline compiles to a
// straight-line kernel with no run-time switch.
//
// Dispatches are 2-D when the element count exceeds one dimension's workgroup limit: the flat index is
// gid.x + gid.y * (num_workgroups.x * WG).

const DTYPE_F32: u32 = 0u;
const DTYPE_I32: u32 = 1u;
const DTYPE_U32: u32 = 2u;

override WG: u32 = 256u;
override OP: u32 = 0u;
override DTYPE: u32 = 0u;      // dtype of the inputs
override OUT_DTYPE: u32 = 0u;  // dtype of the output (casts, comparisons)
override STRIDED: bool = true; // false: every operand is contiguous with the output's shape, index = flat index
override B_SCALAR: bool = false; // binary: b is params.scalar, not a buffer
// Axes of the index walk (params.rank, after merging): a constant, so the unused axes compile away, which halves
// the cost of strided kernels on CPU drivers.
override RANK: u32 = 8u;
override PER: u32 = 1u; // elements per invocation (see the entry points at the end)

struct MapParams {
  out_shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
  c_strides: array<vec4<u32>, 2>,
  n: u32,
  rank: u32,
  a_offset: u32,
  b_offset: u32,
  c_offset: u32,
  scalar: f32,
  scalar2: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: MapParams;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> a: array<u32>;
@group(0) @binding(3) var<storage, read> b: array<u32>;
@group(0) @binding(4) var<storage, read> c: array<u32>;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// Offset of flat output index i inside an operand laid out with `strides` (zero strides broadcast), innermost axis
// first. Each axis is a constant vector lane, never a runtime array index: CPU drivers spill dynamically indexed
// arrays to memory.
fn axis_step(rem: ptr<function, u32>, extent: u32, stride: u32, live: bool) -> u32 {
  if (!live) { return 0u; }
  let q = *rem / extent;
  let offset = (*rem - q * extent) * stride;
  *rem = q;
  return offset;
}

fn strided_offset(i: u32, packed_strides: array<vec4<u32>, 2>, base: u32) -> u32 {
  let s0 = params.out_shape[0];
  let s1 = params.out_shape[1];
  let t0 = packed_strides[0];
  let t1 = packed_strides[1];
  let rank = RANK;
  var rem = i;
  var off = base;
  off += axis_step(&rem, s1.w, t1.w, rank > 7u);
  off += axis_step(&rem, s1.z, t1.z, rank > 6u);
  off += axis_step(&rem, s1.y, t1.y, rank > 5u);
  off += axis_step(&rem, s1.x, t1.x, rank > 4u);
  off += axis_step(&rem, s0.w, t0.w, rank > 3u);
  off += axis_step(&rem, s0.z, t0.z, rank > 2u);
  off += axis_step(&rem, s0.y, t0.y, rank > 1u);
  off += axis_step(&rem, s0.x, t0.x, rank > 0u);
  return off;
}

// NaN and infinity built from a run-time zero (params._pad): WGSL rejects them as constant expressions.
fn nan() -> f32 {
  return bitcast<f32>(0x7fc00000u | params._pad);
}

fn infinity() -> f32 {
  return bitcast<f32>(0x7f800000u | params._pad);
}

fn load_f32(word: u32) -> f32 {
  switch DTYPE {
    case DTYPE_I32: { return f32(bitcast<i32>(word)); }
    case DTYPE_U32: { return f32(word); }
    default: { return bitcast<f32>(word); }
  }
}

fn store_f32(x: f32) -> u32 {
  switch OUT_DTYPE {
    case DTYPE_I32: { return bitcast<u32>(i32(x)); }
    case DTYPE_U32: { return u32(max(x, 0.0)); }
    default: { return bitcast<u32>(x); }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Unary maps: out = f(a)

const U_NEG: u32 = 0u;
const U_ABS: u32 = 1u;
const U_EXP: u32 = 2u;
const U_LOG: u32 = 3u;
const U_SQRT: u32 = 4u;
const U_RSQRT: u32 = 5u;
const U_TANH: u32 = 6u;
const U_SIGMOID: u32 = 7u;
const U_RELU: u32 = 8u;
const U_SILU: u32 = 9u;
const U_GELU: u32 = 10u;
const U_SOFTPLUS: u32 = 11u;
const U_SQUARE: u32 = 12u;
const U_SIN: u32 = 13u;
const U_COS: u32 = 14u;
const U_RECIPROCAL: u32 = 15u;

fn sigmoid(x: f32) -> f32 {
  // Two branches so exp never overflows: exp(-|x|) is in (0, 1].
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn tanh_safe(x: f32) -> f32 {
  // Some backends compute tanh through exp(2x) and return NaN past |x| ~ 44; tanh(15) already rounds to 1 in f32.
  return tanh(clamp(x, -15.0, 15.0));
}

fn erf_approx(x: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7: below f32 resolution of GELU's output.
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let y = 1.0 - poly * exp(-x * x);
  return select(-y, y, x >= 0.0);
}

const INV_SQRT2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

fn softplus(x: f32) -> f32 {
  // log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), which never overflows.
  return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// NaN in, NaN out, for every op, and NaN (or the right infinity) for inputs outside a function's domain: CPU
// drivers such as SwiftShader otherwise return finite garbage (log(-1) = 0, log(NaN) = 89.1, tanh(NaN) = -1,
// relu(NaN) = 0), which would hide a diverging run. GPUs mostly agree with IEEE already; these checks make every
// adapter give what IEEE 754 (and PyTorch) give.
fn unary(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  switch OP {
    case U_LOG: { if (x < 0.0) { return nan(); } if (x == 0.0) { return -infinity(); } return log(x); }
    case U_SQRT: { if (x < 0.0) { return nan(); } return sqrt(x); }
    case U_RSQRT: { if (x < 0.0) { return nan(); } if (x == 0.0) { return infinity(); } return inverseSqrt(x); }
    default: { return unary_in_domain(x); }
  }
}

fn unary_in_domain(x: f32) -> f32 {
  switch OP {
    case U_NEG: { return -x; }
    case U_ABS: { return abs(x); }
    case U_EXP: { return exp(x); }
    case U_TANH: { return tanh_safe(x); }
    case U_SIGMOID: { return sigmoid(x); }
    case U_RELU: { return max(x, 0.0); }
    case U_SILU: { return x * sigmoid(x); }
    case U_GELU: { return 0.5 * x * (1.0 + erf_approx(x * INV_SQRT2)); }
    case U_SOFTPLUS: { return softplus(x); }
    case U_SQUARE: { return x * x; }
    case U_SIN: { return sin(x); }
    case U_COS: { return cos(x); }
    case U_RECIPROCAL: { return 1.0 / x; }
    default: { return x; }
  }
}

// d f(x) / dx, given x and y = f(x); each op reads whichever of the two its derivative is cheapest from.
fn unary_derivative(x: f32, y: f32) -> f32 {
  switch OP {
    case U_NEG: { return -1.0; }
    case U_ABS: { return sign(x); }
    case U_EXP: { return y; }
    case U_LOG: { return 1.0 / x; }
    case U_SQRT: { return 0.5 / y; }
    case U_RSQRT: { return -0.5 * y * y * y; }
    case U_TANH: { return 1.0 - y * y; }
    case U_SIGMOID: { return y * (1.0 - y); }
    case U_RELU: { return select(0.0, 1.0, x > 0.0); }
    case U_SILU: { let s = sigmoid(x); return s * (1.0 + x * (1.0 - s)); }
    case U_GELU: { return 0.5 * (1.0 + erf_approx(x * INV_SQRT2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x); }
    case U_SOFTPLUS: { return sigmoid(x); }
    case U_SQUARE: { return 2.0 * x; }
    case U_SIN: { return cos(x); }
    case U_COS: { return -sin(x); }
    case U_RECIPROCAL: { return -y * y; }
    default: { return 1.0; }
  }
}

fn unary_forward_at(i: u32) {
  if (i >= params.n) { return; }
  var ia = i + params.a_offset;
  if (STRIDED) { ia = strided_offset(i, params.a_strides, params.a_offset); }
  out[i] = bitcast<u32>(unary(bitcast<f32>(a[ia])));
}

// dx = dy * f'(x); a = x, b = y = f(x), c = dy (a broadcast view when the op downstream was a reduction).
fn unary_backward_at(i: u32) {
  if (i >= params.n) { return; }
  var ia = i + params.a_offset;
  var ib = i + params.b_offset;
  var ic = i + params.c_offset;
  if (STRIDED) {
    ia = strided_offset(i, params.a_strides, params.a_offset);
    ib = strided_offset(i, params.b_strides, params.b_offset);
    ic = strided_offset(i, params.c_strides, params.c_offset);
  }
  let x = bitcast<f32>(a[ia]);
  let y = bitcast<f32>(b[ib]);
  out[i] = bitcast<u32>(bitcast<f32>(c[ic]) * unary_derivative(x, y));
}

// ---------------------------------------------------------------------------------------------------------------
// Binary maps with broadcasting: out = a (op) b

const B_ADD: u32 = 0u;
const B_SUB: u32 = 1u;
const B_MUL: u32 = 2u;
const B_DIV: u32 = 3u;
const B_POW: u32 = 4u;
const B_MAX: u32 = 5u;
const B_MIN: u32 = 6u;
const B_EQ: u32 = 7u;
const B_NE: u32 = 8u;
const B_LT: u32 = 9u;
const B_LE: u32 = 10u;
const B_GT: u32 = 11u;
const B_GE: u32 = 12u;

fn pow_signed(x: f32, p: f32) -> f32 {
  // WGSL's pow is undefined for x < 0; follow IEEE pow: a negative base is defined for integral exponents only.
  if (x > 0.0) { return pow(x, p); }
  if (x == 0.0) { return select(select(1.0, 0.0, p > 0.0), infinity(), p < 0.0); }
  if (floor(p) != p) { return nan(); }
  let m = pow(-x, p);
  return select(m, -m, (i32(abs(p)) & 1) == 1);
}

fn max_nan(x: f32, y: f32) -> f32 {
  if (is_nan(x) || is_nan(y)) { return nan(); }
  return max(x, y);
}

fn min_nan(x: f32, y: f32) -> f32 {
  if (is_nan(x) || is_nan(y)) { return nan(); }
  return min(x, y);
}

fn binary_float(x: f32, y: f32) -> f32 {
  switch OP {
    case B_ADD: { return x + y; }
    case B_SUB: { return x - y; }
    case B_MUL: { return x * y; }
    case B_DIV: { return x / y; }
    case B_POW: { return pow_signed(x, y); }
    case B_MAX: { return max_nan(x, y); }
    case B_MIN: { return min_nan(x, y); }
    default: { return 0.0; }
  }
}

fn compare_float(x: f32, y: f32) -> bool {
  switch OP {
    case B_EQ: { return x == y; }
    case B_NE: { return x != y; }
    case B_LT: { return x < y; }
    case B_LE: { return x <= y; }
    case B_GT: { return x > y; }
    default: { return x >= y; }
  }
}

fn binary_int(x: i32, y: i32) -> i32 {
  switch OP {
    case B_ADD: { return x + y; }
    case B_SUB: { return x - y; }
    case B_MUL: { return x * y; }
    case B_DIV: { return select(0, x / y, y != 0); }
    case B_MAX: { return max(x, y); }
    case B_MIN: { return min(x, y); }
    default: { return 0; }
  }
}

fn compare_int(x: i32, y: i32) -> bool {
  switch OP {
    case B_EQ: { return x == y; }
    case B_NE: { return x != y; }
    case B_LT: { return x < y; }
    case B_LE: { return x <= y; }
    case B_GT: { return x > y; }
    default: { return x >= y; }
  }
}

fn compare_uint(x: u32, y: u32) -> bool {
  switch OP {
    case B_EQ: { return x == y; }
    case B_NE: { return x != y; }
    case B_LT: { return x < y; }
    case B_LE: { return x <= y; }
    case B_GT: { return x > y; }
    default: { return x >= y; }
  }
}

fn binary_words(wa: u32, wb: u32) -> u32 {
  let comparison = OP >= B_EQ;
  if (DTYPE == DTYPE_F32) {
    let x = bitcast<f32>(wa);
    let y = bitcast<f32>(wb);
    if (comparison) { return select(0u, 1u, compare_float(x, y)); }
    return bitcast<u32>(binary_float(x, y));
  }
  if (DTYPE == DTYPE_U32) {
    if (comparison) { return select(0u, 1u, compare_uint(wa, wb)); }
    if (OP == B_DIV) { return select(0u, wa / wb, wb != 0u); }
    if (OP == B_MAX) { return max(wa, wb); }
    if (OP == B_MIN) { return min(wa, wb); }
    return bitcast<u32>(binary_int(bitcast<i32>(wa), bitcast<i32>(wb)));
  }
  if (comparison) { return select(0u, 1u, compare_int(bitcast<i32>(wa), bitcast<i32>(wb))); }
  return bitcast<u32>(binary_int(bitcast<i32>(wa), bitcast<i32>(wb)));
}

fn scalar_word() -> u32 {
  switch DTYPE {
    case DTYPE_I32: { return bitcast<u32>(i32(params.scalar)); }
    case DTYPE_U32: { return u32(params.scalar); }
    default: { return bitcast<u32>(params.scalar); }
  }
}

fn binary_forward_at(i: u32) {
  if (i >= params.n) { return; }
  var ia = i + params.a_offset;
  var ib = i + params.b_offset;
  if (STRIDED) {
    ia = strided_offset(i, params.a_strides, params.a_offset);
    ib = strided_offset(i, params.b_strides, params.b_offset);
  }
  var wb = b[ib];
  if (B_SCALAR) { wb = scalar_word(); }
  out[i] = binary_words(a[ia], wb);
}

// Gradients of out = a (op) b at full output shape: entry binary_backward_a writes dA, binary_backward_b writes dB
// (the caller sums them down to each operand's shape where it was broadcast). c = dy, read through its strides.
fn grad_a(x: f32, y: f32, dy: f32) -> f32 {
  switch OP {
    case B_ADD: { return dy; }
    case B_SUB: { return dy; }
    case B_MUL: { return dy * y; }
    case B_DIV: { return dy / y; }
    case B_POW: {
      if (y == 0.0) { return 0.0; }
      return dy * y * pow_signed(x, y - 1.0);
    }
    // Ties split the gradient in half, as PyTorch does, so that the gradient is symmetric in a and b.
    case B_MAX: { return dy * select(select(0.0, 1.0, x > y), 0.5, x == y); }
    case B_MIN: { return dy * select(select(0.0, 1.0, x < y), 0.5, x == y); }
    default: { return 0.0; }
  }
}

fn grad_b(x: f32, y: f32, dy: f32) -> f32 {
  switch OP {
    case B_ADD: { return dy; }
    case B_SUB: { return -dy; }
    case B_MUL: { return dy * x; }
    case B_DIV: { return -dy * x / (y * y); }
    // d(x^y)/dy = x^y log x, defined for x > 0; at x = 0 the limit for y > 0 is 0.
    case B_POW: { return select(0.0, dy * pow(x, y) * log(x), x > 0.0); }
    case B_MAX: { return dy * select(select(0.0, 1.0, y > x), 0.5, x == y); }
    case B_MIN: { return dy * select(select(0.0, 1.0, y < x), 0.5, x == y); }
    default: { return 0.0; }
  }
}

// (a, b, dy) at flat output index i.
fn binary_operands(i: u32) -> vec3<f32> {
  var ia = i + params.a_offset;
  var ib = i + params.b_offset;
  var ic = i + params.c_offset;
  if (STRIDED) {
    ia = strided_offset(i, params.a_strides, params.a_offset);
    ib = strided_offset(i, params.b_strides, params.b_offset);
    ic = strided_offset(i, params.c_strides, params.c_offset);
  }
  var y = bitcast<f32>(b[ib]);
  if (B_SCALAR) { y = params.scalar; }
  return vec3<f32>(bitcast<f32>(a[ia]), y, bitcast<f32>(c[ic]));
}

fn binary_backward_a_at(i: u32) {
  if (i >= params.n) { return; }
  let v = binary_operands(i);
  out[i] = bitcast<u32>(grad_a(v.x, v.y, v.z));
}

fn binary_backward_b_at(i: u32) {
  if (i >= params.n) { return; }
  let v = binary_operands(i);
  out[i] = bitcast<u32>(grad_b(v.x, v.y, v.z));
}

// ---------------------------------------------------------------------------------------------------------------
// where(cond, a, b): cond of any dtype, true where its value is non-zero. a, b, c = cond, a, b (all strided).

fn truthy(word: u32) -> bool {
  if (DTYPE == DTYPE_F32) { return bitcast<f32>(word) != 0.0; }
  return word != 0u;
}

fn where_forward_at(i: u32) {
  if (i >= params.n) { return; }
  let icond = strided_offset(i, params.a_strides, params.a_offset);
  let ix = strided_offset(i, params.b_strides, params.b_offset);
  let iy = strided_offset(i, params.c_strides, params.c_offset);
  out[i] = select(c[iy], b[ix], truthy(a[icond]));
}

// Gradient of where for one branch: out = cond ? dy : 0 (OP = 0) or cond ? 0 : dy (OP = 1). a = cond, b = dy.
fn where_backward_at(i: u32) {
  if (i >= params.n) { return; }
  let taken = truthy(a[strided_offset(i, params.a_strides, params.a_offset)]) == (OP == 0u);
  out[i] = select(0u, b[strided_offset(i, params.b_strides, params.b_offset)], taken);
}

// ---------------------------------------------------------------------------------------------------------------
// Strided copy: out[c_offset + coords . c_strides] = a[a_offset + coords . a_strides] for every coordinate of
// out_shape. Raw words, so any dtype. It materialises views (contiguous), fills regions (concat, slice gradients).

fn copy_strided_at(i: u32) {
  if (i >= params.n) { return; }
  let src = strided_offset(i, params.a_strides, params.a_offset);
  var dst = i + params.c_offset;
  if (STRIDED) { dst = strided_offset(i, params.c_strides, params.c_offset); }
  out[dst] = a[src];
}

// Gradient of a unit-step slice in one pass: out (x's shape, contiguous) is a[...] inside the sliced region and 0
// outside it. out_shape is x's shape (axes not merged), b_strides the region's first coordinate per axis, c_strides
// one past its last, a_strides and a_offset how the incoming gradient is laid out per axis.
fn slice_axis(rem: ptr<function, u32>, extent: u32, start: u32, end: u32, stride: u32, live: bool, inside: ptr<function, bool>) -> u32 {
  if (!live) { return 0u; }
  let q = *rem / extent;
  let coord = *rem - q * extent;
  *rem = q;
  if (coord < start || coord >= end) {
    *inside = false;
    return 0u;
  }
  return (coord - start) * stride;
}

fn slice_scatter_at(i: u32) {
  if (i >= params.n) { return; }
  let s0 = params.out_shape[0];
  let s1 = params.out_shape[1];
  let g0 = params.a_strides[0];
  let g1 = params.a_strides[1];
  let b0 = params.b_strides[0];
  let b1 = params.b_strides[1];
  let e0 = params.c_strides[0];
  let e1 = params.c_strides[1];
  let rank = RANK;
  var rem = i;
  var inside = true;
  var src = params.a_offset;
  src += slice_axis(&rem, s1.w, b1.w, e1.w, g1.w, rank > 7u, &inside);
  src += slice_axis(&rem, s1.z, b1.z, e1.z, g1.z, rank > 6u, &inside);
  src += slice_axis(&rem, s1.y, b1.y, e1.y, g1.y, rank > 5u, &inside);
  src += slice_axis(&rem, s1.x, b1.x, e1.x, g1.x, rank > 4u, &inside);
  src += slice_axis(&rem, s0.w, b0.w, e0.w, g0.w, rank > 3u, &inside);
  src += slice_axis(&rem, s0.z, b0.z, e0.z, g0.z, rank > 2u, &inside);
  src += slice_axis(&rem, s0.y, b0.y, e0.y, g0.y, rank > 1u, &inside);
  src += slice_axis(&rem, s0.x, b0.x, e0.x, g0.x, rank > 0u, &inside);
  out[i] = select(0u, a[src], inside);
}

// Contiguous dtype conversion: DTYPE -> OUT_DTYPE, through f32 unless both are integers.
fn cast_dtype_at(i: u32) {
  if (i >= params.n) { return; }
  let word = a[i + params.a_offset];
  if (DTYPE != DTYPE_F32 && OUT_DTYPE != DTYPE_F32) {
    if (DTYPE == DTYPE_I32 && OUT_DTYPE == DTYPE_U32) { out[i] = u32(max(bitcast<i32>(word), 0)); return; }
    if (DTYPE == DTYPE_U32 && OUT_DTYPE == DTYPE_I32) { out[i] = bitcast<u32>(i32(min(word, 0x7fffffffu))); return; }
    out[i] = word;
    return;
  }
  out[i] = store_f32(load_f32(word));
}

// out[i] = scalar (OUT_DTYPE), the kernel behind zeros/ones/full.
fn fill_at(i: u32) {
  if (i >= params.n) { return; }
  out[i] = store_f32(params.scalar);
}

// out[i] = scalar + i * scalar2 (OUT_DTYPE).
fn arange_at(i: u32) {
  if (i >= params.n) { return; }
  out[i] = store_f32(params.scalar + f32(i) * params.scalar2);
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points: each invocation takes PER elements, a grid's width apart (neighbouring invocations stay on
// neighbouring elements). On CPU drivers an invocation's fixed cost is most of a simple map's, so the host asks for
// several per invocation there (engine/ops/launch.ts).

@compute @workgroup_size(WG)
fn unary_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { unary_forward_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn unary_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { unary_backward_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn binary_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { binary_forward_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn binary_backward_a(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { binary_backward_a_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn binary_backward_b(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { binary_backward_b_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn where_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { where_forward_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn where_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { where_backward_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn copy_strided(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { copy_strided_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn slice_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { slice_scatter_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn cast_dtype(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { cast_dtype_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { fill_at(first + e * total); }
}

@compute @workgroup_size(WG)
fn arange(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = flat_index(gid, nwg);
  let total = nwg.x * nwg.y * WG;
  for (var e = 0u; e < PER; e++) { arange_at(first + e * total); }
}
