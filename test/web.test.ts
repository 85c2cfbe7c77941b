// The playground, built as `npm run build:web` builds it, in headless Chromium on whatever adapter it finds
// (SwiftShader here): each page does its job, a screenshot of it is saved and checked not blank (in
// HIERO_SCREENSHOTS, default dist/screenshots; `npm run screenshots` refreshes the README's in apps/web/screenshots),
// and nothing reaches the console as an error. Without WebGPU, the page says what is missing.

import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../apps/browser-launch.ts';
import { serveDirectory } from '../apps/static-server.ts';
import { temporaryDirectory } from './helpers.ts';

const screenshots = resolve(process.env.HIERO_SCREENSHOTS ?? 'dist/screenshots');
let browser: Browser;
let site: { url: string; server: import('node:http').Server };

beforeAll(async () => {
  const outDir = temporaryDirectory('hiero-web');
  rmSync(outDir, { recursive: true, force: true });
  await build({ configFile: resolve('apps/web/vite.config.ts'), logLevel: 'warn', build: { outDir } });
  site = await serveDirectory(outDir);
  browser = await launchChromium();
  mkdirSync(screenshots, { recursive: true });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  site?.server.close();
});

/** A page of the playground, with every console error and uncaught exception collected. */
async function open(route: string, problems: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
  page.on('pageerror', (e) => void problems.push(`uncaught: ${e.message}`));
  await page.goto(`${site.url}#/${route}`);
  await page.waitForFunction(() => window.__hieroPlayground !== undefined, undefined, { timeout: 120_000 });
  return page;
}

/** Saves a full-page screenshot and checks it is not blank: Chromium decodes it and counts distinct colours. */
async function screenshot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
  const colours = await page.evaluate(async (base64) => {
    const image = new Image();
    image.src = `data:image/png;base64,${base64}`;
    await image.decode();
    const canvas = new OffscreenCanvas(image.width, image.height);
    const context = canvas.getContext('2d')!;
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, image.width, image.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < pixels.length; i += 4 * 97) seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
    return seen.size;
  }, png.toString('base64'));
  expect(colours, `${name}.png has ${colours} colours: blank?`).toBeGreaterThan(20);
}

describe('playground (built site, headless Chromium)', () => {
  it('engine page: the adapter, its limits, and the quick benchmark', async () => {
    const problems: string[] = [];
    const page = await open('engine', problems);
    expect(await page.evaluate(() => window.__hieroPlayground)).toMatchObject({ state: 'ready' });
    const adapter = await page.textContent('[data-testid=adapter]');
    expect(adapter!.length).toBeGreaterThan(3);
    await page.click('[data-testid=bench]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=bench-rows] tr').length >= 4 && /measured in/.test(document.body.textContent ?? ''), undefined, { timeout: 180_000 });
    const rows = await page.$$eval('[data-testid=bench-rows] tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(rows.some((r) => /copy bandwidth.*GB\/s/.test(r))).toBe(true);
    expect(rows.some((r) => /matmul.*GFLOP\/s/.test(r))).toBe(true);
    expect(rows.some((r) => /scan.*GB\/s/.test(r))).toBe(true);
    await screenshot(page, 'engine');
    expect(problems).toEqual([]);
    await page.close();
  }, 300_000);

  it('HRM page: the shipped solver thinks segment by segment; training runs, plots, pauses and resumes', async () => {
    const problems: string[] = [];
    const page = await open('sudoku', problems);
    await page.waitForFunction(() => /shipped sudoku-4x4 solver/.test(document.querySelector('[data-testid=sudoku-model]')?.textContent ?? ''), undefined, { timeout: 120_000 });
    const field = (label: string) => page.locator('label.field', { hasText: label }).locator('input');
    // The segments field starts at what the shipped solver was trained for (2), and its range is the worker's.
    expect(await field('segments').inputValue()).toBe('2');
    await field('segments').fill('20000');
    await page.click('[data-testid=solve]');
    await page.waitForFunction(() => /segments must be a whole number from 1 to 256, got 20000/.test(document.body.textContent ?? ''), undefined, { timeout: 30_000 });
    await field('segments').fill('4');
    await page.click('[data-testid=solve]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=segment]').length === 4 && (document.querySelector('[data-testid=solve-summary]')?.textContent ?? '') !== '', undefined, { timeout: 120_000 });
    expect(await page.textContent('[data-testid=solve-summary]')).toMatch(/segment|never/);
    await screenshot(page, 'sudoku-solve');
    // A primary button keeps its white label on its own colour when hovered (it turned white on pale blue).
    await page.hover('[data-testid=solve]');
    const hovered = await page.$eval('[data-testid=solve]', (b) => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]);
    expect(hovered[0]).toBe('rgb(255, 255, 255)');
    expect(hovered[1]).not.toMatch(/rgb\(2[3-5]\d, 2[3-5]\d, 2[3-5]\d\)/);
    // A new puzzle takes the old one's segment views away.
    await page.click('[data-testid=new-puzzle]');
    expect(await page.$$eval('[data-testid=segment]', (views) => views.length)).toBe(0);

    // A short run: 30 steps of 8 puzzles, evaluated every 10.
    await field('steps').fill('30');
    await field('batch').fill('8');
    await field('evaluate every').fill('10');
    await page.click('[data-testid=train]');
    const step = async () => Number(/step (\d+) of/.exec((await page.textContent('[data-testid=train-progress]')) ?? '')?.[1] ?? 0);
    await page.waitForFunction(() => /step [1-9]\d* of 30/.test(document.querySelector('[data-testid=train-progress]')?.textContent ?? ''), undefined, { timeout: 120_000 });
    await page.click('[data-testid=pause]');
    await page.waitForTimeout(1500); // the step under way finishes
    const pausedAt = await step();
    await page.waitForTimeout(3000);
    expect(await step(), 'no steps while paused').toBe(pausedAt);
    expect(await page.textContent('[data-testid=pause-note]'), 'the pause note stays while paused').toMatch(/paused: you can solve/);
    await page.click('[data-testid=pause]'); // now "Resume"
    await page.waitForFunction(() => /done: \d+ steps/.test(document.body.textContent ?? ''), undefined, { timeout: 180_000 });
    expect(await page.$$eval('[data-testid=charts] canvas', (c) => c.length)).toBeGreaterThanOrEqual(3);
    expect(await page.textContent('[data-testid=train-progress]')).toMatch(/step 30 of 30 .* held-out cells/);
    await screenshot(page, 'sudoku-train');
    expect(problems).toEqual([]);
    await page.close();
  }, 400_000);

  it('H-Net page: the shipped model\'s chunks and probabilities, and streamed generation', async () => {
    const problems: string[] = [];
    const page = await open('hnet', problems);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=chunks] .byte').length > 20, undefined, { timeout: 180_000 });
    expect(await page.textContent('[data-testid=chunk-stats]')).toMatch(/stage 1: \d+ chunks, [\d.]+ bytes per chunk/);
    // An empty field is named, not read as 0 (an empty temperature sampled "the the the…").
    await page.locator('label.field', { hasText: 'temperature' }).locator('input').fill('');
    await page.click('[data-testid=generate]');
    await page.waitForFunction(() => /temperature must be a number from 0 to 100, got nothing/.test(document.body.textContent ?? ''), undefined, { timeout: 30_000 });
    await page.locator('label.field', { hasText: 'temperature' }).locator('input').fill('0.8');
    await page.locator('label.field', { hasText: 'bytes' }).locator('input').fill('48');
    await page.click('[data-testid=generate]');
    await page.waitForFunction(() => /48 bytes in/.test(document.body.textContent ?? ''), undefined, { timeout: 180_000 });
    expect(((await page.textContent('[data-testid=generated]')) ?? '').length).toBeGreaterThan(20);
    await screenshot(page, 'hnet');
    expect(problems).toEqual([]);
    await page.close();
  }, 400_000);

  it('HiSS page: the shipped tactile model predicts a held-out stream, plotted against its target', async () => {
    const problems: string[] = [];
    const page = await open('sensors', problems);
    await page.waitForFunction(() => /MSE on this stream \d\.\d{4} over 32 predictions/.test(document.querySelector('[data-testid=sensor-mse]')?.textContent ?? ''), undefined, { timeout: 180_000 });
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(2);
    // Another stream and target channel re-plot; a stream index out of range is named.
    await page.locator('label.field', { hasText: 'held-out stream' }).locator('input').fill('3');
    await page.selectOption('[data-testid=sensor-channel]', '1');
    await page.waitForFunction(() => /MSE on this stream/.test(document.querySelector('[data-testid=sensor-mse]')?.textContent ?? ''), undefined, { timeout: 60_000 });
    await screenshot(page, 'sensors');
    await page.locator('label.field', { hasText: 'held-out stream' }).locator('input').fill('');
    await page.click('[data-testid=predict]');
    await page.waitForFunction(() => /held-out stream must be a whole number/.test(document.body.textContent ?? ''), undefined, { timeout: 30_000 });
    expect(problems).toEqual([]);
    await page.close();
  }, 400_000);

  it('without WebGPU, a page says what is missing and how to enable it', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    await page.goto(site.url);
    await page.waitForFunction(() => window.__hieroPlayground !== undefined, undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => window.__hieroPlayground!.state)).toBe('no-webgpu');
    const text = (await page.textContent('[data-testid=no-webgpu]')) ?? '';
    expect(text).toMatch(/needs WebGPU/);
    expect(text).toMatch(/navigator\.gpu is missing/);
    expect(text).toMatch(/enable-unsafe-webgpu/);
    await screenshot(page, 'no-webgpu');
    await page.close();
  }, 120_000);
});
