// The browser path: Vite bundles test/browser (the engine with its WGSL through ?raw imports), headless Chromium
// runs a matmul and its backward on WebGPU, and the results are compared with the float64 reference. This keeps
// the browser build from rotting while every other test runs in Node.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../apps/browser-launch.ts';
import { serveDirectory } from '../apps/static-server.ts';
import { expectClose } from './helpers.ts';
import * as ref from './reference.ts';

const outDir = mkdtempSync(join(tmpdir(), 'hiero-browser-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('browser', () => {
  it('bundles with Vite and runs matmul + backward in headless Chromium on WebGPU', async () => {
    await build({ root: resolve('test/browser'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    const { url, server } = await serveDirectory(outDir);
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
    } finally {
      await browser.close();
      server.close();
    }
  });
});
