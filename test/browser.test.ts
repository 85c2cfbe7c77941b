// The browser path: Vite bundles test/browser (the engine with its WGSL through ?raw imports), headless Chromium
// runs a matmul and its backward on WebGPU, and the results are compared with the float64 reference. This keeps
// the browser build from rotting while every other test runs in Node. The second page embeds the inference worker
// as an app would (a Web Worker behind the same client as in Node) and goes through its promises.

import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../apps/browser-launch.ts';
import { serveDirectory } from '../apps/static-server.ts';
import { expectClose } from './helpers.ts';
import * as ref from './reference.ts';

const outDir = mkdtempSync(join(tmpdir(), 'hiero-browser-'));
/** A held-out 4×4 puzzle the shipped solver solves (test/shipped.test.ts checks the solver on the whole split). */
const SHIPPED_SOLVES = '1... ..4. .3.. ...2';
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const built = (async () => {
  await build({
    root: resolve('test/browser'), logLevel: 'warn',
    build: { outDir, emptyOutDir: true, rollupOptions: { input: { main: resolve('test/browser/index.html'), worker: resolve('test/browser/worker.html') } } },
    worker: { format: 'es' },
  });
  cpSync(resolve('model/checkpoints'), join(outDir, 'checkpoints'), { recursive: true });
  return serveDirectory(outDir);
})();
afterAll(async () => (await built).server.close());

describe('browser', () => {
  it('bundles with Vite and runs matmul + backward in headless Chromium on WebGPU', async () => {
    const { url } = await built;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const logs: string[] = [];
      page.on('console', (m) => logs.push(m.text()));
      await page.goto(url);
      await page.waitForFunction(() => window.__hiero !== undefined, undefined, { timeout: 90_000 });
      const result = await page.evaluate(() => window.__hiero!);
      if ('error' in result) throw new Error(`in the browser: ${result.error}\n${logs.join('\n')}`);
      const a = ref.Ref.of([1, 2, 3, 4, 5, 6, 7, 8, 9, -1, 0.5, 2], [4, 3]);
      const b = ref.Ref.of([0.5, -1, 2, 0.25, -3, 1], [3, 2]);
      const c = ref.matmul(a, b);
      // d sum(c^2) / dA = 2c B^T, / dB = A^T 2c
      const twoC = ref.map(c, (v) => 2 * v);
      const tol = { atol: 1e-5, rtol: 1e-6 };
      expectClose(result.c, c.data, tol, 'browser matmul');
      expectClose(result.ga, ref.matmul(twoC, ref.transpose(b)).data, tol, 'browser dA');
      expectClose(result.gb, ref.matmul(ref.transpose(a), twoC).data, tol, 'browser dB');
      expect(result.adapter.length).toBeGreaterThan(0);
      const tallA = ref.Ref.of(Array.from({ length: 280 }, (_, i) => Math.sin(i)), [40, 7]);
      const tallB = ref.Ref.of(Array.from({ length: 63 }, (_, i) => Math.cos(i)), [7, 9]);
      expectClose(result.tall, ref.matmul(tallA, tallB).data, tol, `browser 40-row matmul (features: ${result.features.join(', ')})`);
    } finally {
      await browser.close();
    }
  });

  it('embeds the inference worker in a Web Worker: solve, streaming generation, cancellation, named errors, dispose', async () => {
    const { url } = await built;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
      page.on('pageerror', (e) => void problems.push(e.message));
      await page.goto(`${url}worker.html?puzzle=${encodeURIComponent(SHIPPED_SOLVES)}`);
      await page.waitForFunction(() => window.__hieroWorker !== undefined, undefined, { timeout: 240_000 });
      const r = (await page.evaluate(() => window.__hieroWorker!)) as Record<string, any>;
      if ('failed' in r) throw new Error(`in the browser: ${r.failed}`);
      expect(r.corrupt).toMatch(/^CheckpointError: corrupt\.safetensors: /);
      expect(r.solver).toMatchObject({ kind: 'hrm', task: 'sudoku-4x4' });
      expect(r.malformed).toMatch(/^PuzzleError: solve: this checkpoint solves 4×4 Sudoku/);
      expect(r.solved).toMatchObject({ valid: true, segments: 3 });
      expect(r.hnet).toMatchObject({ kind: 'hnet', stages: 1 });
      expect(r.generated).toEqual({ chunks: [8, 8, 8], bytes: 24, transferred: true });
      expect(r.cancelled).toMatch(/^AbortError: generate: cancelled after \d+ of 5000 bytes/);
      expect(r.afterCancel).toBe(11);
      expect(r.disposed).toMatch(/^WorkerStateError: /);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 300_000);
});
