enable subgroups;

// Matrix multiply for CPU drivers with subgroups of 4 (SwiftShader): C[b, m, n] = sum_k A[b, m, k] * B[b, k, n],
// any strides, any shape. Parameters, bindings and batch_offsets() come from common.wgsl's batch_offsets helper.
//
// Why this shape (measured on SwiftShader 5.0.0, bench/speed.ts): SwiftShader runs the four invocations of a
// subgroup in the lanes of one SIMD register, and a load whose address it cannot prove equal or consecutive across
// the lanes is a gather, four guarded scalar loads. matmul_lanes loaded each A element in all four lanes at once,
// one gather per value used. Here the four lanes load four consecutive k of a row in one gather and
// subgroupBroadcast hands each lane's value to all of them, so an A gather serves four k (a quarter of the
// gathers), and each B gather serves the invocation's 32 rows. An invocation owns a 32 x 8 block of C: rows m0..m0+31,
// columns n0 + j·WG_X (j < 8), so neighbouring lanes read neighbouring B elements. Four k are taken a step, as
// 4 x 4 matrices whose products are the FMAs, so the loop's bookkeeping is paid once per four k.
//
// Everything that must stay in registers is indexed by constants: SwiftShader's compiler keeps a function array in
// registers only when every index is a constant (loops over overrides are not unrolled), so rows, steps and stores
// are written out, and the shared step is a function inlined with constant arguments.
// Requires a subgroup size of at least 4 (the caller checks the adapter's subgroupMinSize).

override WG_X: u32 = 4u;

const ROWS: u32 = 32u;
const COLS: u32 = 8u;

// Four consecutive k of row `row` (lane l holds k0 + l; zero past the last k), broadcast so that every lane holds all
// four.
fn spread(row: u32, k0: u32, lane: u32) -> vec4<f32> {
  let k = k0 + lane;
  let x = select(0.0, a[row + min(k, params.k - 1u) * params.a_stride_k], k < params.k);
  return vec4<f32>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u));
}

// B's row k at the columns cols[first..first+3]; zero past the last k (a read of the last row, then discarded:
// 0 · B would turn an infinite B into NaN).
fn b_row(cols: ptr<function, array<u32, 8>>, first: u32, k: u32) -> vec4<f32> {
  let kb = min(k, params.k - 1u) * params.b_stride_k;
  let v = vec4<f32>(b[(*cols)[first] + kb], b[(*cols)[first + 1u] + kb], b[(*cols)[first + 2u] + kb], b[(*cols)[first + 3u] + kb]);
  return select(vec4<f32>(0.0), v, k < params.k);
}

// acc[2i + h] += B[k0..k0+3, columns 4h..4h+3]ᵀ · A[row i, k0..k0+3]: four k for the whole 32 x 8 block.
fn step4(acc: ptr<function, array<vec4<f32>, 64>>, rows: ptr<function, array<u32, 32>>, cols: ptr<function, array<u32, 8>>,
         k0: u32, lane: u32) {
  let x0 = mat4x4<f32>(b_row(cols, 0u, k0), b_row(cols, 0u, k0 + 1u), b_row(cols, 0u, k0 + 2u), b_row(cols, 0u, k0 + 3u));
  let x1 = mat4x4<f32>(b_row(cols, 4u, k0), b_row(cols, 4u, k0 + 1u), b_row(cols, 4u, k0 + 2u), b_row(cols, 4u, k0 + 3u));
  let y0 = spread((*rows)[0], k0, lane); (*acc)[0] += x0 * y0; (*acc)[1] += x1 * y0;
  let y1 = spread((*rows)[1], k0, lane); (*acc)[2] += x0 * y1; (*acc)[3] += x1 * y1;
  let y2 = spread((*rows)[2], k0, lane); (*acc)[4] += x0 * y2; (*acc)[5] += x1 * y2;
  let y3 = spread((*rows)[3], k0, lane); (*acc)[6] += x0 * y3; (*acc)[7] += x1 * y3;
  let y4 = spread((*rows)[4], k0, lane); (*acc)[8] += x0 * y4; (*acc)[9] += x1 * y4;
  let y5 = spread((*rows)[5], k0, lane); (*acc)[10] += x0 * y5; (*acc)[11] += x1 * y5;
  let y6 = spread((*rows)[6], k0, lane); (*acc)[12] += x0 * y6; (*acc)[13] += x1 * y6;
  let y7 = spread((*rows)[7], k0, lane); (*acc)[14] += x0 * y7; (*acc)[15] += x1 * y7;
  let y8 = spread((*rows)[8], k0, lane); (*acc)[16] += x0 * y8; (*acc)[17] += x1 * y8;
  let y9 = spread((*rows)[9], k0, lane); (*acc)[18] += x0 * y9; (*acc)[19] += x1 * y9;
  let y10 = spread((*rows)[10], k0, lane); (*acc)[20] += x0 * y10; (*acc)[21] += x1 * y10;
  let y11 = spread((*rows)[11], k0, lane); (*acc)[22] += x0 * y11; (*acc)[23] += x1 * y11;
  let y12 = spread((*rows)[12], k0, lane); (*acc)[24] += x0 * y12; (*acc)[25] += x1 * y12;
  let y13 = spread((*rows)[13], k0, lane); (*acc)[26] += x0 * y13; (*acc)[27] += x1 * y13;
  let y14 = spread((*rows)[14], k0, lane); (*acc)[28] += x0 * y14; (*acc)[29] += x1 * y14;
  let y15 = spread((*rows)[15], k0, lane); (*acc)[30] += x0 * y15; (*acc)[31] += x1 * y15;
  let y16 = spread((*rows)[16], k0, lane); (*acc)[32] += x0 * y16; (*acc)[33] += x1 * y16;
  let y17 = spread((*rows)[17], k0, lane); (*acc)[34] += x0 * y17; (*acc)[35] += x1 * y17;
  let y18 = spread((*rows)[18], k0, lane); (*acc)[36] += x0 * y18; (*acc)[37] += x1 * y18;
  let y19 = spread((*rows)[19], k0, lane); (*acc)[38] += x0 * y19; (*acc)[39] += x1 * y19;
  let y20 = spread((*rows)[20], k0, lane); (*acc)[40] += x0 * y20; (*acc)[41] += x1 * y20;
  let y21 = spread((*rows)[21], k0, lane); (*acc)[42] += x0 * y21; (*acc)[43] += x1 * y21;
  let y22 = spread((*rows)[22], k0, lane); (*acc)[44] += x0 * y22; (*acc)[45] += x1 * y22;
  let y23 = spread((*rows)[23], k0, lane); (*acc)[46] += x0 * y23; (*acc)[47] += x1 * y23;
  let y24 = spread((*rows)[24], k0, lane); (*acc)[48] += x0 * y24; (*acc)[49] += x1 * y24;
  let y25 = spread((*rows)[25], k0, lane); (*acc)[50] += x0 * y25; (*acc)[51] += x1 * y25;
  let y26 = spread((*rows)[26], k0, lane); (*acc)[52] += x0 * y26; (*acc)[53] += x1 * y26;
  let y27 = spread((*rows)[27], k0, lane); (*acc)[54] += x0 * y27; (*acc)[55] += x1 * y27;
  let y28 = spread((*rows)[28], k0, lane); (*acc)[56] += x0 * y28; (*acc)[57] += x1 * y28;
  let y29 = spread((*rows)[29], k0, lane); (*acc)[58] += x0 * y29; (*acc)[59] += x1 * y29;
  let y30 = spread((*rows)[30], k0, lane); (*acc)[60] += x0 * y30; (*acc)[61] += x1 * y30;
  let y31 = spread((*rows)[31], k0, lane); (*acc)[62] += x0 * y31; (*acc)[63] += x1 * y31;
}

// Row m of C at the invocation's eight columns (those inside n), written out: a vector indexed by a loop variable
// would leave registers.
fn store_row(m: u32, n0: u32, base: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (m >= params.m || n0 >= params.n) { return; }
  let row = base + m * params.n + n0;
  let room = params.n - n0;
  if (room > 0u * WG_X) { c[row] = lo.x; }
  if (room > 1u * WG_X) { c[row + 1u * WG_X] = lo.y; }
  if (room > 2u * WG_X) { c[row + 2u * WG_X] = lo.z; }
  if (room > 3u * WG_X) { c[row + 3u * WG_X] = lo.w; }
  if (room > 4u * WG_X) { c[row + 4u * WG_X] = hi.x; }
  if (room > 5u * WG_X) { c[row + 5u * WG_X] = hi.y; }
  if (room > 6u * WG_X) { c[row + 6u * WG_X] = hi.z; }
  if (room > 7u * WG_X) { c[row + 7u * WG_X] = hi.w; }
}

@compute @workgroup_size(WG_X, 1, 1)
fn matmul_subgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                   @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = wid.y * ROWS;
  let n0 = wid.x * WG_X * COLS + lid.x;
  let bases = batch_offsets(wid.z);
  // Rows and columns past the edge read the last one (no bounds tests in the loop); their results are not stored.
  let last_m = params.m - 1u;
  let last_n = params.n - 1u;
  var cols: array<u32, 8>;
  var rows: array<u32, 32>;
  cols[0] = bases.y + min(n0 + 0u * WG_X, last_n) * params.b_stride_n;
  cols[1] = bases.y + min(n0 + 1u * WG_X, last_n) * params.b_stride_n;
  cols[2] = bases.y + min(n0 + 2u * WG_X, last_n) * params.b_stride_n;
  cols[3] = bases.y + min(n0 + 3u * WG_X, last_n) * params.b_stride_n;
  cols[4] = bases.y + min(n0 + 4u * WG_X, last_n) * params.b_stride_n;
  cols[5] = bases.y + min(n0 + 5u * WG_X, last_n) * params.b_stride_n;
  cols[6] = bases.y + min(n0 + 6u * WG_X, last_n) * params.b_stride_n;
  cols[7] = bases.y + min(n0 + 7u * WG_X, last_n) * params.b_stride_n;
  rows[0] = bases.x + min(m0 + 0u, last_m) * params.a_stride_m;
  rows[1] = bases.x + min(m0 + 1u, last_m) * params.a_stride_m;
  rows[2] = bases.x + min(m0 + 2u, last_m) * params.a_stride_m;
  rows[3] = bases.x + min(m0 + 3u, last_m) * params.a_stride_m;
  rows[4] = bases.x + min(m0 + 4u, last_m) * params.a_stride_m;
  rows[5] = bases.x + min(m0 + 5u, last_m) * params.a_stride_m;
  rows[6] = bases.x + min(m0 + 6u, last_m) * params.a_stride_m;
  rows[7] = bases.x + min(m0 + 7u, last_m) * params.a_stride_m;
  rows[8] = bases.x + min(m0 + 8u, last_m) * params.a_stride_m;
  rows[9] = bases.x + min(m0 + 9u, last_m) * params.a_stride_m;
  rows[10] = bases.x + min(m0 + 10u, last_m) * params.a_stride_m;
  rows[11] = bases.x + min(m0 + 11u, last_m) * params.a_stride_m;
  rows[12] = bases.x + min(m0 + 12u, last_m) * params.a_stride_m;
  rows[13] = bases.x + min(m0 + 13u, last_m) * params.a_stride_m;
  rows[14] = bases.x + min(m0 + 14u, last_m) * params.a_stride_m;
  rows[15] = bases.x + min(m0 + 15u, last_m) * params.a_stride_m;
  rows[16] = bases.x + min(m0 + 16u, last_m) * params.a_stride_m;
  rows[17] = bases.x + min(m0 + 17u, last_m) * params.a_stride_m;
  rows[18] = bases.x + min(m0 + 18u, last_m) * params.a_stride_m;
  rows[19] = bases.x + min(m0 + 19u, last_m) * params.a_stride_m;
  rows[20] = bases.x + min(m0 + 20u, last_m) * params.a_stride_m;
  rows[21] = bases.x + min(m0 + 21u, last_m) * params.a_stride_m;
  rows[22] = bases.x + min(m0 + 22u, last_m) * params.a_stride_m;
  rows[23] = bases.x + min(m0 + 23u, last_m) * params.a_stride_m;
  rows[24] = bases.x + min(m0 + 24u, last_m) * params.a_stride_m;
  rows[25] = bases.x + min(m0 + 25u, last_m) * params.a_stride_m;
  rows[26] = bases.x + min(m0 + 26u, last_m) * params.a_stride_m;
  rows[27] = bases.x + min(m0 + 27u, last_m) * params.a_stride_m;
  rows[28] = bases.x + min(m0 + 28u, last_m) * params.a_stride_m;
  rows[29] = bases.x + min(m0 + 29u, last_m) * params.a_stride_m;
  rows[30] = bases.x + min(m0 + 30u, last_m) * params.a_stride_m;
  rows[31] = bases.x + min(m0 + 31u, last_m) * params.a_stride_m;
  var acc: array<vec4<f32>, 64>;
  // One copy of the step, masked past the last k, serves the tail too: a second, unmasked copy for whole steps ran
  // no faster and doubled the compile time (SwiftShader compiles this kernel in about a second).
  for (var k0 = 0u; k0 < params.k; k0 += 4u) { step4(&acc, &rows, &cols, k0, lane); }
  let base = wid.z * params.m * params.n;
  store_row(m0 + 0u, n0, base, acc[0], acc[1]);
  store_row(m0 + 1u, n0, base, acc[2], acc[3]);
  store_row(m0 + 2u, n0, base, acc[4], acc[5]);
  store_row(m0 + 3u, n0, base, acc[6], acc[7]);
  store_row(m0 + 4u, n0, base, acc[8], acc[9]);
  store_row(m0 + 5u, n0, base, acc[10], acc[11]);
  store_row(m0 + 6u, n0, base, acc[12], acc[13]);
  store_row(m0 + 7u, n0, base, acc[14], acc[15]);
  store_row(m0 + 8u, n0, base, acc[16], acc[17]);
  store_row(m0 + 9u, n0, base, acc[18], acc[19]);
  store_row(m0 + 10u, n0, base, acc[20], acc[21]);
  store_row(m0 + 11u, n0, base, acc[22], acc[23]);
  store_row(m0 + 12u, n0, base, acc[24], acc[25]);
  store_row(m0 + 13u, n0, base, acc[26], acc[27]);
  store_row(m0 + 14u, n0, base, acc[28], acc[29]);
  store_row(m0 + 15u, n0, base, acc[30], acc[31]);
  store_row(m0 + 16u, n0, base, acc[32], acc[33]);
  store_row(m0 + 17u, n0, base, acc[34], acc[35]);
  store_row(m0 + 18u, n0, base, acc[36], acc[37]);
  store_row(m0 + 19u, n0, base, acc[38], acc[39]);
  store_row(m0 + 20u, n0, base, acc[40], acc[41]);
  store_row(m0 + 21u, n0, base, acc[42], acc[43]);
  store_row(m0 + 22u, n0, base, acc[44], acc[45]);
  store_row(m0 + 23u, n0, base, acc[46], acc[47]);
  store_row(m0 + 24u, n0, base, acc[48], acc[49]);
  store_row(m0 + 25u, n0, base, acc[50], acc[51]);
  store_row(m0 + 26u, n0, base, acc[52], acc[53]);
  store_row(m0 + 27u, n0, base, acc[54], acc[55]);
  store_row(m0 + 28u, n0, base, acc[56], acc[57]);
  store_row(m0 + 29u, n0, base, acc[58], acc[59]);
  store_row(m0 + 30u, n0, base, acc[60], acc[61]);
  store_row(m0 + 31u, n0, base, acc[62], acc[63]);
}
