// The autotuner (engine/tuning.ts): it notes the buckets a workload hits, times every variant there, installs the
// fastest and saves them per adapter. Checked here for what it records and what it saves, not for which variant
// wins (that is the adapter's business; on CPU drivers tuning is refused unless forced).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  applySavedTuning, attention, autotune, clearTuning, currentTuning, MATMUL_KERNELS, matmul, noGrad, randn, runtime, scan, scope, rand,
} from '../engine/index.ts';
import { useDevice } from './helpers.ts';

useDevice();

const cache = mkdtempSync(join(tmpdir(), 'hiero-tuning-'));
process.env.HIERO_CACHE_DIR = cache;
afterAll(() => {
  clearTuning();
  rmSync(cache, { recursive: true, force: true });
});

describe('autotune', () => {
  it('refuses CPU drivers unless forced', async () => {
    if (!runtime().report.software) return;
    await expect(autotune(() => {})).rejects.toThrow(/CPU driver/);
  });

  it('records the workload’s buckets, times each variant, installs and saves the fastest, and loads them back', async () => {
    const workload = () => scope(() => noGrad(() => {
      matmul(randn([48, 32]), randn([32, 40]));
      attention(randn([1, 2, 9, 8]), randn([1, 2, 9, 8]), randn([1, 2, 9, 8]));
      scan(rand([1, 40, 3]), randn([1, 40, 3]));
    }));
    const table = await autotune(workload, { force: true, targetMilliseconds: 0.5 });
    expect(Object.keys(table.choices).sort()).toEqual(['attention:16x16x8x2', 'matmul:64x32x64', 'scan:64x4x4']);
    expect(MATMUL_KERNELS).toContain(table.choices['matmul:64x32x64']);
    expect(['row', 'flash']).toContain(table.choices['attention:16x16x8x2']);
    expect(['tree', 'chunks', 'tree-lookback']).toContain(table.choices['scan:64x4x4']);
    for (const timings of Object.values(table.timings)) for (const ms of Object.values(timings)) expect(ms).toBeGreaterThan(0);
    expect(currentTuning()).toBe(table);
    const saved = JSON.parse(readFileSync(join(cache, 'tuning.json'), 'utf8'));
    expect(saved[runtime().adapterName].choices).toEqual(table.choices);
    clearTuning();
    expect(currentTuning()).toBeNull();
    expect((await applySavedTuning())?.choices).toEqual(table.choices);
    // Tuned or not, results are the same computation.
    const out = await scope(() => matmul(randn([48, 32], { seed: 1 }), randn([32, 40], { seed: 2 }))).toArray();
    expect(out.every(Number.isFinite)).toBe(true);
  });
});
