// Kernel variants measured on this adapter, once, and remembered (tests: test/tuning.test.ts).
//
// matmul, attention and scan each have variants that win on different hardware and shapes (engine/ops/*). Each op
// asks a chooser for its shape's bucket; autotune() fills those choosers by measurement:
//   1. it runs a workload once (a training step, say) while noting the buckets its ops hit, with a representative
//      shape for each;
//   2. it times every variant on those shapes (GPU timestamps around many repetitions, so the timer's resolution
//      does not matter) and keeps the fastest;
//   3. it installs the choices and saves them for this adapter (Node: $HIERO_CACHE_DIR or ~/.cache/hiero;
//      browsers: localStorage), so later runs start tuned (applySavedTuning()).
// CPU drivers are not tuned unless asked: their variants are fixed by the cost of barriers (see the ops).

import { runtime } from './context.ts';
import { HieroError } from './errors.ts';
import { attention, setAttentionChooser, type AttentionKernel } from './ops/attention.ts';
import { randn, rand } from './ops/creation.ts';
import { MATMUL_KERNELS, matmul, setMatmulChooser, setMatmulKernel, type MatmulKernel } from './ops/matmul.ts';
import { scan, setScanChooser, type ScanKernel } from './ops/scan.ts';
import { setAttentionKernel } from './ops/attention.ts';
import { keep, scope, type Tensor } from './tensor.ts';
import { noGrad } from './autograd.ts';

export interface TuningTable {
  /** The adapter the choices were measured on (describeAdapter). */
  adapter: string;
  /** Bucket -> chosen variant. */
  choices: Record<string, string>;
  /** Bucket -> variant -> milliseconds per call, as measured. */
  timings: Record<string, Record<string, number>>;
  /** Bucket -> the shape that was timed for it. */
  shapes: Record<string, number[]>;
}

/** Sizes are bucketed by powers of two: a choice measured at one size stands for its neighbours. */
function pow2(x: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, x)));
}

export const matmulBucket = (m: number, k: number, n: number) => `matmul:${pow2(m)}x${pow2(k)}x${pow2(n)}`;
export const scanBucket = (steps: number, channels: number, sequences: number) => `scan:${pow2(steps)}x${pow2(channels)}x${pow2(sequences)}`;
export const attentionBucket = (tq: number, tk: number, headDim: number, bh: number) => `attention:${pow2(tq)}x${pow2(tk)}x${pow2(headDim)}x${pow2(bh)}`;

let table: TuningTable | null = null;

function install(next: TuningTable | null): void {
  table = next;
  const pick = <T>(key: string) => (table?.choices[key] as T | undefined) ?? null;
  setMatmulChooser(next ? (m, k, n) => pick<MatmulKernel>(matmulBucket(m, k, n)) : null);
  setScanChooser(next ? (steps, channels, sequences) => pick<ScanKernel>(scanBucket(steps, channels, sequences)) : null);
  setAttentionChooser(next ? (tq, tk, dh, bh) => pick<AttentionKernel>(attentionBucket(tq, tk, dh, bh)) : null);
}

/** The choices in force (null before tuning or loading). */
export function currentTuning(): TuningTable | null {
  return table;
}

/** Forgets the installed choices (the saved file stays). */
export function clearTuning(): void {
  install(null);
}

// ---------------------------------------------------------------------------------------------------------------
// Storage

const STORAGE_KEY = 'hiero-tuning';

interface Store {
  read(): Promise<Record<string, TuningTable>>;
  write(all: Record<string, TuningTable>): Promise<void>;
}

async function store(): Promise<Store | null> {
  const local = (globalThis as { localStorage?: Storage }).localStorage;
  if (local) {
    return {
      read: async () => JSON.parse(local.getItem(STORAGE_KEY) ?? '{}'),
      write: async (all) => local.setItem(STORAGE_KEY, JSON.stringify(all)),
    };
  }
  const proc = (globalThis as { process?: { env: Record<string, string | undefined>; versions?: { node?: string } } }).process;
  if (!proc?.versions?.node) return null;
  const fs = 'node:fs/promises';
  const pathModule = 'node:path';
  const osModule = 'node:os';
  const { readFile, mkdir, writeFile, rename } = (await import(/* @vite-ignore */ fs)) as typeof import('node:fs/promises');
  const { join } = (await import(/* @vite-ignore */ pathModule)) as typeof import('node:path');
  const { homedir } = (await import(/* @vite-ignore */ osModule)) as typeof import('node:os');
  const dir = proc.env.HIERO_CACHE_DIR ?? join(proc.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hiero');
  const file = join(dir, 'tuning.json');
  return {
    read: async () => {
      try {
        return JSON.parse(await readFile(file, 'utf8'));
      } catch {
        return {};
      }
    },
    write: async (all) => {
      await mkdir(dir, { recursive: true });
      const temporary = `${file}.${proc.env.pid ?? ''}${Date.now()}.tmp`;
      await writeFile(temporary, JSON.stringify(all, null, 2));
      await rename(temporary, file);
    },
  };
}

/** Installs the choices saved for this adapter, if any. Returns them (null when none were saved). */
export async function applySavedTuning(): Promise<TuningTable | null> {
  const s = await store();
  const adapter = runtime().adapterName;
  const saved = s ? (await s.read())[adapter] : undefined;
  if (!saved || typeof saved !== 'object' || !saved.choices) return null;
  install(saved);
  return saved;
}

// ---------------------------------------------------------------------------------------------------------------
// Measurement

export interface AutotuneOptions {
  /** Tune on CPU drivers too (tests; their variants are fixed otherwise). */
  force?: boolean;
  /** Save the result for this adapter (default true). */
  save?: boolean;
  /** Target GPU time per measurement in milliseconds: repetitions are added until a run takes this long. */
  targetMilliseconds?: number;
  /** Called with a line per bucket as it is measured. */
  log?: (line: string) => void;
}

interface Bucket {
  key: string;
  shape: number[];
  candidates: string[];
  /** Makes the inputs for a variant: the call to time, and the tensors to free afterwards. */
  run: (variant: string) => { call: () => void; inputs: Tensor[] };
}

/** Times `run` by repetition: returns milliseconds per call. */
async function timePerCall(run: () => void, target: number): Promise<number> {
  const rt = runtime();
  let reps = 1;
  for (;;) {
    const { milliseconds } = await rt.timeRegion(() => scope(() => noGrad(() => { for (let i = 0; i < reps; i++) run(); })));
    if (milliseconds >= target || reps >= 1024) return milliseconds / reps;
    reps = Math.min(1024, reps * Math.max(2, Math.ceil(target / Math.max(milliseconds, target / 64))));
  }
}

function matmulBucketOf(shape: number[]): Bucket {
  const [m, k, n] = shape;
  return {
    key: matmulBucket(m, k, n), shape, candidates: [...MATMUL_KERNELS],
    run: (variant) => {
      const a = randn([m, k], { seed: 1 });
      const b = randn([k, n], { seed: 2 });
      const call = () => {
        setMatmulKernel(variant as MatmulKernel);
        try {
          matmul(a, b);
        } finally {
          setMatmulKernel(null);
        }
      };
      return { call, inputs: [a, b] };
    },
  };
}

function scanBucketOf(shape: number[]): Bucket {
  const [steps, channels, sequences] = shape;
  const batch = Math.max(1, Math.round(sequences / channels));
  const candidates = ['tree', 'chunks', 'tree-lookback', ...(channels >= 64 ? ['chunks-lookback'] : [])];
  return {
    key: scanBucket(steps, channels, sequences), shape, candidates,
    run: (variant) => {
      const a = rand([batch, steps, channels], { seed: 3 });
      const b = randn([batch, steps, channels], { seed: 4 });
      return { call: () => void scan(a, b, null, { kernel: variant as ScanKernel }), inputs: [a, b] };
    },
  };
}

function attentionBucketOf(shape: number[]): Bucket {
  const [tq, tk, dh, bh] = shape;
  return {
    key: attentionBucket(tq, tk, dh, bh), shape, candidates: ['row', 'flash'],
    run: (variant) => {
      const q = randn([1, bh, tq, dh], { seed: 5 });
      const k = randn([1, bh, tk, dh], { seed: 6 });
      const v = randn([1, bh, tk, dh], { seed: 7 });
      const call = () => {
        setAttentionKernel(variant as AttentionKernel);
        try {
          attention(q, k, v);
        } finally {
          setAttentionKernel(null);
        }
      };
      return { call, inputs: [q, k, v] };
    },
  };
}

/**
 * Runs `workload` once, noting the matmul, attention and scan shapes it launches, then times every kernel variant
 * on each and installs the fastest (see the top of this file). Returns the table (also current: currentTuning()).
 */
export async function autotune(workload: () => unknown, options: AutotuneOptions = {}): Promise<TuningTable> {
  const rt = runtime();
  if (rt.report.software && !options.force) {
    throw new HieroError('autotune: this is a CPU driver, whose kernel variants are fixed; pass { force: true } to measure anyway');
  }
  const seen = new Map<string, Bucket>();
  const note = (bucket: Bucket) => {
    if (!seen.has(bucket.key)) seen.set(bucket.key, bucket);
    return null;
  };
  install(null);
  setMatmulChooser((m, k, n) => note(matmulBucketOf([m, k, n])));
  setScanChooser((steps, channels, sequences) => note(scanBucketOf([steps, channels, sequences])));
  setAttentionChooser((tq, tk, dh, bh) => note(attentionBucketOf([tq, tk, dh, bh])));
  try {
    await workload();
    await rt.sync();
  } finally {
    install(null);
  }
  const result: TuningTable = { adapter: rt.adapterName, choices: {}, timings: {}, shapes: {} };
  const target = options.targetMilliseconds ?? 2;
  for (const bucket of seen.values()) {
    const timings: Record<string, number> = {};
    for (const variant of bucket.candidates) {
      const { call, inputs } = bucket.run(variant);
      inputs.forEach((t) => keep(t));
      try {
        timings[variant] = await timePerCall(call, target);
      } finally {
        for (const t of inputs) t.dispose();
      }
    }
    const best = Object.entries(timings).sort((x, y) => x[1] - y[1])[0][0];
    result.choices[bucket.key] = best;
    result.timings[bucket.key] = timings;
    result.shapes[bucket.key] = bucket.shape;
    options.log?.(`${bucket.key}: ${Object.entries(timings).map(([v, ms]) => `${v} ${(ms * 1000).toFixed(1)} µs`).join(', ')} -> ${best}`);
  }
  install(result);
  if (options.save ?? true) {
    const s = await store();
    if (s) {
      const all = await s.read();
      all[result.adapter] = result;
      await s.write(all);
    }
  }
  return result;
}
