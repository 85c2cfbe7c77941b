// The benchmark harness at tiny sizes: it must keep running and keep its output's shape. No speed is asserted.

import { describe, expect, it } from 'vitest';
import { renderTable, runBench } from '../bench/run.ts';

describe('bench harness', () => {
  it('runs every section at tiny sizes and reports named, measured rows', async () => {
    const report = await runBench({ mode: 'tiny' });
    expect(report.adapter.name.length).toBeGreaterThan(0);
    expect(report.method).toMatch(/median/);
    expect(report.limits.copyGBs).toBeGreaterThan(0);
    expect(report.limits.fmaGflops).toBeGreaterThan(0);
    const sections = new Set(report.rows.map((r) => r.section));
    expect([...sections].sort()).toEqual(['kernels', 'limits', 'models', 'peers', 'variants']);
    for (const name of ['matmul', 'scan', 'rmsNorm', 'softmax', 'crossEntropy', 'attention (causal)', 'AdamW update', 'compact (chunk)', 'expandChunks (dechunk)', 'H-Net train step', 'H-Net generation']) {
      expect(report.rows.some((r) => r.name === name), name).toBe(true);
    }
    for (const row of report.rows.filter((r) => r.section === 'kernels' || r.section === 'models')) {
      expect(row.ms, row.name).toBeGreaterThanOrEqual(0);
      expect(typeof row.unit).toBe('string');
    }
    expect(report.rows.filter((r) => r.section === 'models' && r.name.endsWith('train step')).every((r) => (r.dispatches ?? 0) > 0)).toBe(true);
    const host = report.rows.find((r) => r.name === 'host µs per dispatch');
    expect(host?.value, 'host µs per dispatch').toBeGreaterThan(0);
    for (const variant of ['matmul [direct]', 'matmul [tiled]', 'matmul [wide]', 'scan [tree-lookback]', 'scan [chunks-lookback]', 'attention [row]', 'attention [flash]']) {
      expect(report.rows.some((r) => r.section === 'variants' && r.name === variant), variant).toBe(true);
    }
    const table = renderTable(report);
    expect(table).toContain(report.adapter.name);
    expect(JSON.parse(JSON.stringify(report)).rows.length).toBe(report.rows.length);
  });

  it('--filter keeps only matching rows', async () => {
    const report = await runBench({ mode: 'tiny', filter: /^softmax$/ });
    expect(report.rows.filter((r) => r.section === 'kernels').map((r) => r.name)).toEqual(['softmax']);
  });
});
