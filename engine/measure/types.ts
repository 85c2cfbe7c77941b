// The shapes of bench results.

export interface BenchRow {
  section: 'limits' | 'kernels' | 'variants' | 'models' | 'peers';
  name: string;
  shape: string;
  /** Median milliseconds of one run. */
  ms: number;
  value: number | null;
  unit: string;
  /** value as a fraction of the measured limit (FMA peak or copy bandwidth), where that means something. */
  ofLimit?: number | null;
  dispatches?: number;
  submits?: number;
  /** Hiero's time over the peer's (peers section: below 1 means Hiero is faster). */
  ratio?: number | null;
  note?: string;
}

export interface Sizes {
  copyElements: number;
  fmaInvocations: number;
  /** [m, k, n, batch] */
  matmul: [number, number, number, number][];
  /** [T, C] */
  scan: [number, number][];
  /** [rows, width] for rmsNorm, softmax, cross-entropy */
  rows: [number, number];
  /** [B, H, T, Dh] */
  attention: [number, number, number, number];
  adamw: number;
  /** Model batch and sequence length. */
  modelBatch: number;
  modelSeq: number;
  /** Square sizes for the peer matmul. */
  peerMatmul: number[];
  /** Shapes at which every kernel variant gets its own row: matmul [m, k, n], scan [T, C], attention [B, H, T, Dh]. */
  variants: { matmul: [number, number, number][]; scan: [number, number][]; attention: [number, number, number, number][] };
  /** Batch of the HRM paper-configuration segment row (0: no row). */
  hrmBatch: number;
  /** [B, T, C] of the chunk/dechunk kernel rows. */
  chunk: [number, number, number];
  /** [B, T, H, K, V] of the gated-linear-attention rows (the chunked op against the step-by-step recurrence). */
  gla: [number, number, number, number, number];
}

export const SIZES: Record<'tiny' | 'quick' | 'full', Sizes> = {
  tiny: {
    copyElements: 1 << 14, fmaInvocations: 1 << 10, matmul: [[16, 16, 16, 1]], scan: [[256, 1]], rows: [16, 32],
    attention: [1, 1, 8, 8], adamw: 1024, modelBatch: 1, modelSeq: 8, peerMatmul: [16],
    variants: { matmul: [[16, 16, 16]], scan: [[256, 64]], attention: [[1, 1, 8, 8]] }, hrmBatch: 0, chunk: [1, 64, 8], gla: [1, 16, 1, 4, 4],
  },
  quick: {
    copyElements: 1 << 20, fmaInvocations: 1 << 14, matmul: [[128, 128, 128, 1], [256, 256, 256, 1], [256, 64, 256, 1], [8, 64, 64, 8]],
    scan: [[256, 1], [4096, 1], [4096, 64]], rows: [256, 256], attention: [2, 4, 64, 16], adamw: 1 << 16,
    modelBatch: 4, modelSeq: 32, peerMatmul: [128, 256],
    variants: { matmul: [[256, 256, 256]], scan: [[4096, 1], [4096, 64]], attention: [[2, 4, 64, 16]] }, hrmBatch: 0, chunk: [4, 1024, 64], gla: [1, 256, 2, 16, 16],
  },
  full: {
    copyElements: 1 << 24, fmaInvocations: 1 << 16,
    matmul: [[128, 128, 128, 1], [256, 256, 256, 1], [512, 512, 512, 1], [1024, 1024, 1024, 1], [2048, 2048, 2048, 1],
      [256, 64, 256, 1], [256, 256, 64, 1], [2048, 512, 2048, 1], [16, 64, 64, 32]],
    scan: [[256, 1], [4096, 1], [65536, 1], [1_000_000, 1], [4096, 64], [65536, 64]],
    rows: [4096, 512], attention: [4, 4, 256, 32], adamw: 1 << 20, modelBatch: 8, modelSeq: 32, peerMatmul: [256, 512, 1024],
    variants: { matmul: [[1024, 1024, 1024], [2048, 512, 1536]], scan: [[4096, 1], [65536, 1], [4096, 64], [65536, 64]], attention: [[4, 4, 256, 32]] },
    hrmBatch: 1, chunk: [8, 4096, 256], gla: [1, 1024, 4, 32, 32],
  },
};

/**
 * The sizes for an adapter: CPU drivers get SIZES as they are; GPUs need larger limit probes (a 64 MiB copy lasts
 * ~20 µs on an H100) and the paper's HRM at a real batch. Kernel rows repeat short kernels instead (bench/timing.ts).
 */
export function sizesFor(mode: 'tiny' | 'quick' | 'full', software: boolean): Sizes {
  const base = SIZES[mode];
  if (software || mode === 'tiny') return base;
  return {
    ...base,
    copyElements: mode === 'full' ? 1 << 26 : 1 << 24,
    fmaInvocations: mode === 'full' ? 1 << 22 : 1 << 20,
    matmul: mode === 'full' ? [...base.matmul, [31104, 512, 1536, 1], [31104, 1536, 512, 1]] : base.matmul,
    hrmBatch: mode === 'full' ? 32 : 0,
    // flash-linear-attention's own benchmark shape (T 8192, head dim 128) at 16 heads in full mode.
    gla: mode === 'full' ? [1, 8192, 16, 128, 128] : [1, 2048, 8, 64, 64],
  };
}
