// Batched matrix multiply  C[b, m, n] = sum_k A[b, m, k] * B[b, k, n]  (C contiguous).
//
// A and B are read through strides, so transposed and broadcast (stride-0 batch) views need no copy. Each workgroup
// computes a (4*WG_Y) x (4*WG_X) tile of C; each invocation a 4 x 4 register block. A and B tiles of depth TILE_K
// are staged in workgroup memory, k-major, so the inner product loop reads both with unit stride.
//
// matmul_strided: any strides, any shape (edges are zero-padded on load and masked on store).
// matmul_vec4:    the same tiling with 16-byte loads; the caller picks it when each operand is contiguous, in
//                 steps of 4, along the dimension it is loaded along (A along k or m, B along n or k) and every
//                 offset and other stride is a multiple of 4.
// matmul_wide:    vec4 operands as above, a (8*WG_Y) x (8*WG_X) tile (128 x 128 with 16 x 16 invocations), each
//                 invocation an 8 x 8 block: 64 FMAs per four 16-byte reads of workgroup memory instead of 16 per
//                 eight, for large products on GPUs. Tiles are stored as vec4 rows, [k][m/4] and [k][n/4].
// matmul_direct:  no workgroup memory, 4 x 4 per invocation, below.
// matmul_lanes:   no workgroup memory, 8 x 8 per invocation with unrolled accumulators (CPU drivers), then
//                 matmul_lanes_tall, its 16 x 8 form for products of many rows.
// matmul_subgroup.wgsl holds the CPU drivers' fastest form, which needs the subgroups feature.
// WG_X, WG_Y and TILE_K are override constants, so tiles can be tuned per adapter without editing the source.

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override TILE_K: u32 = 16u;
override A_ALONG_M: bool = false; // vec4 path: A's contiguous dimension is m (A is a transposed view)
override B_ALONG_K: bool = false; // vec4 path: B's contiguous dimension is k (B is a transposed view)

const RM: u32 = 4u;
const RN: u32 = 4u;
override TILE_M: u32 = RM * WG_Y;
override TILE_N: u32 = RN * WG_X;
override A_TILE_SIZE: u32 = TILE_K * TILE_M;
override B_TILE_SIZE: u32 = TILE_K * TILE_N;

// params, c, a, b (bindings 0-3) and batch_offsets(): the batch_offsets helper of common.wgsl, shared with
// matmul_subgroup.wgsl.
// The vec4 entry point reads the same bindings as 16-byte words; no entry point uses both views of one binding.
@group(0) @binding(2) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b4: array<vec4<f32>>;

var<workgroup> a_tile: array<f32, A_TILE_SIZE>; // [k][m]
var<workgroup> b_tile: array<f32, B_TILE_SIZE>; // [k][n]

fn load_a(base: u32, m: u32, k: u32) -> f32 {
  if (m >= params.m || k >= params.k) { return 0.0; }
  return a[base + m * params.a_stride_m + k * params.a_stride_k];
}

fn load_b(base: u32, k: u32, n: u32) -> f32 {
  if (k >= params.k || n >= params.n) { return 0.0; }
  return b[base + k * params.b_stride_k + n * params.b_stride_n];
}

// Four consecutive elements along A's contiguous dimension starting at (m, k); out-of-range lanes are zero.
// Dimensions are multiples of 4 on this path, so a vector is either wholly inside or wholly outside.
fn load_a4(base: u32, m: u32, k: u32) -> vec4<f32> {
  if (m >= params.m || k >= params.k) { return vec4<f32>(0.0); }
  return a4[(base + m * params.a_stride_m + k * params.a_stride_k) / 4u];
}

fn load_b4(base: u32, k: u32, n: u32) -> vec4<f32> {
  if (k >= params.k || n >= params.n) { return vec4<f32>(0.0); }
  return b4[(base + k * params.b_stride_k + n * params.b_stride_n) / 4u];
}

struct Block {
  acc: array<vec4<f32>, RM>,
}

// The shared inner loop: accumulate one staged TILE_K slice into a thread's 4 x 4 block.
fn accumulate(block: ptr<function, Block>, tx: u32, ty: u32) {
  for (var kk = 0u; kk < TILE_K; kk++) {
    let bv = vec4<f32>(b_tile[kk * TILE_N + tx * RN], b_tile[kk * TILE_N + tx * RN + 1u],
                       b_tile[kk * TILE_N + tx * RN + 2u], b_tile[kk * TILE_N + tx * RN + 3u]);
    for (var i = 0u; i < RM; i++) {
      (*block).acc[i] += a_tile[kk * TILE_M + ty * RM + i] * bv;
    }
  }
}

fn store_block(block: Block, z: u32, m0: u32, n0: u32) {
  let base = z * params.m * params.n;
  for (var i = 0u; i < RM; i++) {
    let m = m0 + i;
    if (m >= params.m) { break; }
    for (var j = 0u; j < RN; j++) {
      let n = n0 + j;
      if (n < params.n) { c[base + m * params.n + n] = block.acc[i][j]; }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let threads = WG_X * WG_Y;
  let t = lid.y * WG_X + lid.x;
  let tile_m = wid.y * TILE_M;
  let tile_n = wid.x * TILE_N;
  let bases = batch_offsets(wid.z);
  var block: Block;
  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
    for (var e = t; e < TILE_K * TILE_M; e += threads) {
      // Consecutive invocations take consecutive k when A is k-contiguous (the common layout).
      let kk = e % TILE_K;
      let mm = e / TILE_K;
      a_tile[kk * TILE_M + mm] = load_a(bases.x, tile_m + mm, k0 + kk);
    }
    for (var e = t; e < TILE_K * TILE_N; e += threads) {
      let nn = e % TILE_N;
      let kk = e / TILE_N;
      b_tile[kk * TILE_N + nn] = load_b(bases.y, k0 + kk, tile_n + nn);
    }
    workgroupBarrier();
    accumulate(&block, lid.x, lid.y);
    workgroupBarrier();
  }
  store_block(block, wid.z, tile_m + lid.y * RM, tile_n + lid.x * RN);
}

override WIDE_M: u32 = 8u * WG_Y;
override WIDE_N: u32 = 8u * WG_X;
override A_WIDE_SIZE: u32 = TILE_K * WIDE_M / 4u;
override B_WIDE_SIZE: u32 = TILE_K * WIDE_N / 4u;
var<workgroup> a_wide: array<vec4<f32>, A_WIDE_SIZE>; // [k][m / 4]
var<workgroup> b_wide: array<vec4<f32>, B_WIDE_SIZE>; // [k][n / 4]

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let threads = WG_X * WG_Y;
  let t = lid.y * WG_X + lid.x;
  let tile_m = wid.y * WIDE_M;
  let tile_n = wid.x * WIDE_N;
  let bases = batch_offsets(wid.z);
  let row4 = WIDE_M / 4u;  // vec4 entries per k row of a_wide
  let col4 = WIDE_N / 4u;
  // An invocation owns rows {4 ty .. 4 ty + 3} and the same four half a tile further down, and likewise columns:
  // neighbouring invocations read neighbouring vec4s, and the two halves keep the reads conflict-free.
  var acc: array<vec4<f32>, 16>; // [row 0..7][column half 0..1]
  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
    for (var e = t; e < TILE_K * row4; e += threads) {
      if (A_ALONG_M) {
        let kk = e / row4;
        let m4 = e % row4;
        a_wide[kk * row4 + m4] = load_a4(bases.x, tile_m + m4 * 4u, k0 + kk);
      } else {
        let k4 = e % (TILE_K / 4u);
        let mm = e / (TILE_K / 4u);
        let v = load_a4(bases.x, tile_m + mm, k0 + k4 * 4u);
        for (var q = 0u; q < 4u; q++) { a_wide[(k4 * 4u + q) * row4 + mm / 4u][mm % 4u] = v[q]; }
      }
    }
    for (var e = t; e < TILE_K * col4; e += threads) {
      if (B_ALONG_K) {
        let k4 = e % (TILE_K / 4u);
        let nn = e / (TILE_K / 4u);
        let v = load_b4(bases.y, k0 + k4 * 4u, tile_n + nn);
        for (var q = 0u; q < 4u; q++) { b_wide[(k4 * 4u + q) * col4 + nn / 4u][nn % 4u] = v[q]; }
      } else {
        let kk = e / col4;
        let n4 = e % col4;
        b_wide[kk * col4 + n4] = load_b4(bases.y, k0 + kk, tile_n + n4 * 4u);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a0 = a_wide[kk * row4 + lid.y];
      let a1 = a_wide[kk * row4 + lid.y + WG_Y];
      let b0 = b_wide[kk * col4 + lid.x];
      let b1 = b_wide[kk * col4 + lid.x + WG_X];
      for (var i = 0u; i < 4u; i++) {
        acc[i * 2u] += a0[i] * b0;
        acc[i * 2u + 1u] += a0[i] * b1;
        acc[(i + 4u) * 2u] += a1[i] * b0;
        acc[(i + 4u) * 2u + 1u] += a1[i] * b1;
      }
    }
    workgroupBarrier();
  }
  let base = wid.z * params.m * params.n;
  for (var r = 0u; r < 8u; r++) {
    let m = tile_m + (r / 4u) * (WIDE_M / 2u) + lid.y * 4u + r % 4u;
    if (m >= params.m) { continue; }
    for (var h = 0u; h < 2u; h++) {
      let n0 = tile_n + h * (WIDE_N / 2u) + lid.x * 4u;
      let value = acc[r * 2u + h];
      for (var j = 0u; j < 4u; j++) {
        if (n0 + j < params.n) { c[base + m * params.n + n0 + j] = value[j]; }
      }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let threads = WG_X * WG_Y;
  let t = lid.y * WG_X + lid.x;
  let tile_m = wid.y * TILE_M;
  let tile_n = wid.x * TILE_N;
  let bases = batch_offsets(wid.z);
  var block: Block;
  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
    for (var e = t; e < TILE_K * TILE_M / 4u; e += threads) {
      if (A_ALONG_M) {
        let mm = (e % (TILE_M / 4u)) * 4u;
        let kk = e / (TILE_M / 4u);
        let v = load_a4(bases.x, tile_m + mm, k0 + kk);
        for (var q = 0u; q < 4u; q++) { a_tile[kk * TILE_M + mm + q] = v[q]; }
      } else {
        let kk = (e % (TILE_K / 4u)) * 4u;
        let mm = e / (TILE_K / 4u);
        let v = load_a4(bases.x, tile_m + mm, k0 + kk);
        for (var q = 0u; q < 4u; q++) { a_tile[(kk + q) * TILE_M + mm] = v[q]; }
      }
    }
    for (var e = t; e < TILE_K * TILE_N / 4u; e += threads) {
      if (B_ALONG_K) {
        let kk = (e % (TILE_K / 4u)) * 4u;
        let nn = e / (TILE_K / 4u);
        let v = load_b4(bases.y, k0 + kk, tile_n + nn);
        for (var q = 0u; q < 4u; q++) { b_tile[(kk + q) * TILE_N + nn] = v[q]; }
      } else {
        let nn = (e % (TILE_N / 4u)) * 4u;
        let kk = e / (TILE_N / 4u);
        let v = load_b4(bases.y, k0 + kk, tile_n + nn);
        for (var q = 0u; q < 4u; q++) { b_tile[kk * TILE_N + nn + q] = v[q]; }
      }
    }
    workgroupBarrier();
    accumulate(&block, lid.x, lid.y);
    workgroupBarrier();
  }
  store_block(block, wid.z, tile_m + lid.y * RM, tile_n + lid.x * RN);
}

// No workgroup memory, no barriers: each invocation reads its 4 rows of A and 4 columns of B straight from
// global memory. On CPU drivers (SwiftShader) memory is cached anyway and barriers are the dominant cost, so this
// is the faster choice there; on GPUs the tiled kernels above win. Any strides and shapes.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wid.y * TILE_M + lid.y * RM;
  let n0 = wid.x * TILE_N + lid.x * RN;
  let bases = batch_offsets(wid.z);
  // Clamp row/column indices into range so the inner loop needs no bounds checks; store_block masks the extras.
  let last_m = params.m - 1u;
  let last_n = params.n - 1u;
  var rows: array<u32, 4>;
  var cols: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    rows[i] = bases.x + min(m0 + i, last_m) * params.a_stride_m;
    cols[i] = bases.y + min(n0 + i, last_n) * params.b_stride_n;
  }
  var block: Block;
  for (var k = 0u; k < params.k; k++) {
    let ka = k * params.a_stride_k;
    let kb = k * params.b_stride_k;
    let bv = vec4<f32>(b[cols[0] + kb], b[cols[1] + kb], b[cols[2] + kb], b[cols[3] + kb]);
    block.acc[0] += a[rows[0] + ka] * bv;
    block.acc[1] += a[rows[1] + ka] * bv;
    block.acc[2] += a[rows[2] + ka] * bv;
    block.acc[3] += a[rows[3] + ka] * bv;
  }
  store_block(block, wid.z, m0, n0);
}

// CPU drivers, measured on SwiftShader (bench/speed.ts, matmul rows): it runs four neighbouring invocations in the
// lanes of one SIMD register, and every load whose lanes read unrelated addresses is a gather, the cost that
// dominates matmul_direct (8 gathered loads per 16 FMAs). Here each invocation owns an 8 x 8 block, 64 FMAs per 16
// loads; its eight columns lie WG_X apart so neighbouring lanes read neighbouring B elements when B is contiguous
// along n. Rows and columns are written out by hand: SwiftShader keeps the accumulators in registers only when the
// loops are unrolled (a loop over an override constant is not, and spills every FMA's accumulator to memory).
@compute @workgroup_size(WG_X, 1, 1)
fn matmul_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wid.y * 8u;
  let n0 = wid.x * WG_X * 8u + lid.x;
  let bases = batch_offsets(wid.z);
  let last_m = params.m - 1u;
  let last_n = params.n - 1u;
  var cols: array<u32, 8>;
  for (var j = 0u; j < 8u; j++) { cols[j] = bases.y + min(n0 + j * WG_X, last_n) * params.b_stride_n; }
  var rows: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) { rows[i] = bases.x + min(m0 + i, last_m) * params.a_stride_m; }
  var acc: array<vec4<f32>, 16>;
  for (var k = 0u; k < params.k; k++) {
    let kb = k * params.b_stride_k;
    let b0 = vec4<f32>(b[cols[0] + kb], b[cols[1] + kb], b[cols[2] + kb], b[cols[3] + kb]);
    let b1 = vec4<f32>(b[cols[4] + kb], b[cols[5] + kb], b[cols[6] + kb], b[cols[7] + kb]);
    let ka = k * params.a_stride_k;
    let a0 = a[rows[0] + ka]; acc[0] += a0 * b0; acc[1] += a0 * b1;
    let a1 = a[rows[1] + ka]; acc[2] += a1 * b0; acc[3] += a1 * b1;
    let a2 = a[rows[2] + ka]; acc[4] += a2 * b0; acc[5] += a2 * b1;
    let a3 = a[rows[3] + ka]; acc[6] += a3 * b0; acc[7] += a3 * b1;
    let a4_ = a[rows[4] + ka]; acc[8] += a4_ * b0; acc[9] += a4_ * b1;
    let a5 = a[rows[5] + ka]; acc[10] += a5 * b0; acc[11] += a5 * b1;
    let a6 = a[rows[6] + ka]; acc[12] += a6 * b0; acc[13] += a6 * b1;
    let a7 = a[rows[7] + ka]; acc[14] += a7 * b0; acc[15] += a7 * b1;
  }
  let base = wid.z * params.m * params.n;
  for (var i = 0u; i < 8u; i++) {
    let m = m0 + i;
    if (m >= params.m) { break; }
    for (var j = 0u; j < 8u; j++) {
      let n = n0 + j * WG_X;
      if (n < params.n) { c[base + m * params.n + n] = acc[i * 2u + j / 4u][j % 4u]; }
    }
  }
}

// matmul_lanes_tall: matmul_lanes with 16 rows per invocation, 128 FMAs per 24 loads: 15-25 % faster on SwiftShader
// from 256³ to 1024³ and on the tiny models' weight gradient (bench/speed.ts), level on their narrow products. The
// caller takes it for products of at least 64 rows, 4 invocations a workgroup (measured best or level at every shape).
@compute @workgroup_size(WG_X, 1, 1)
fn matmul_lanes_tall(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wid.y * 16u;
  let n0 = wid.x * WG_X * 8u + lid.x;
  let bases = batch_offsets(wid.z);
  let last_m = params.m - 1u;
  let last_n = params.n - 1u;
  var cols: array<u32, 8>;
  for (var j = 0u; j < 8u; j++) { cols[j] = bases.y + min(n0 + j * WG_X, last_n) * params.b_stride_n; }
  var rows: array<u32, 16>;
  for (var i = 0u; i < 16u; i++) { rows[i] = bases.x + min(m0 + i, last_m) * params.a_stride_m; }
  var acc: array<vec4<f32>, 32>;
  for (var k = 0u; k < params.k; k++) {
    let kb = k * params.b_stride_k;
    let b0 = vec4<f32>(b[cols[0] + kb], b[cols[1] + kb], b[cols[2] + kb], b[cols[3] + kb]);
    let b1 = vec4<f32>(b[cols[4] + kb], b[cols[5] + kb], b[cols[6] + kb], b[cols[7] + kb]);
    let ka = k * params.a_stride_k;
    let a0_ = a[rows[0] + ka]; acc[0] += a0_ * b0; acc[1] += a0_ * b1;
    let a1_ = a[rows[1] + ka]; acc[2] += a1_ * b0; acc[3] += a1_ * b1;
    let a2_ = a[rows[2] + ka]; acc[4] += a2_ * b0; acc[5] += a2_ * b1;
    let a3_ = a[rows[3] + ka]; acc[6] += a3_ * b0; acc[7] += a3_ * b1;
    let a4_ = a[rows[4] + ka]; acc[8] += a4_ * b0; acc[9] += a4_ * b1;
    let a5_ = a[rows[5] + ka]; acc[10] += a5_ * b0; acc[11] += a5_ * b1;
    let a6_ = a[rows[6] + ka]; acc[12] += a6_ * b0; acc[13] += a6_ * b1;
    let a7_ = a[rows[7] + ka]; acc[14] += a7_ * b0; acc[15] += a7_ * b1;
    let a8_ = a[rows[8] + ka]; acc[16] += a8_ * b0; acc[17] += a8_ * b1;
    let a9_ = a[rows[9] + ka]; acc[18] += a9_ * b0; acc[19] += a9_ * b1;
    let a10_ = a[rows[10] + ka]; acc[20] += a10_ * b0; acc[21] += a10_ * b1;
    let a11_ = a[rows[11] + ka]; acc[22] += a11_ * b0; acc[23] += a11_ * b1;
    let a12_ = a[rows[12] + ka]; acc[24] += a12_ * b0; acc[25] += a12_ * b1;
    let a13_ = a[rows[13] + ka]; acc[26] += a13_ * b0; acc[27] += a13_ * b1;
    let a14_ = a[rows[14] + ka]; acc[28] += a14_ * b0; acc[29] += a14_ * b1;
    let a15_ = a[rows[15] + ka]; acc[30] += a15_ * b0; acc[31] += a15_ * b1;
  }
  let base = wid.z * params.m * params.n;
  for (var i = 0u; i < 16u; i++) {
    let m = m0 + i;
    if (m >= params.m) { break; }
    for (var j = 0u; j < 8u; j++) {
      let n = n0 + j * WG_X;
      if (n < params.n) { c[base + m * params.n + n] = acc[i * 2u + j / 4u][j % 4u]; }
    }
  }
}
