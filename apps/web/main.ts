// The playground: checks for WebGPU first (and says what is missing and how to enable it when it is absent), then
// gives each page its own inference worker, so an H-Net loaded on one page never replaces the Sudoku solver of
// another, and a training run keeps going while the visitor looks elsewhere.

import 'uplot/dist/uPlot.min.css';
import './style.css';
import { createHieroWorker, type AdapterInfo, type HieroWorker } from '../worker/client.ts';
import { enginePage } from './pages/engine.ts';
import { hnetPage } from './pages/hnet.ts';
import { sensorsPage } from './pages/sensors.ts';
import { sudokuPage, type Page } from './pages/sudoku.ts';
import { describeError, h } from './ui.ts';

const ROUTES = ['sudoku', 'hnet', 'sensors', 'engine'] as const;
type Route = (typeof ROUTES)[number];
/** Each route's page (a route without one is a compile error). */
const PAGES: Record<Route, (hiero: HieroWorker, adapter: AdapterInfo) => Page> = {
  sudoku: (hiero) => sudokuPage(hiero), hnet: (hiero) => hnetPage(hiero), sensors: (hiero) => sensorsPage(hiero), engine: (hiero, adapter) => enginePage(hiero, adapter),
};
const TITLES: Record<Route, string> = { sudoku: 'HRM Sudoku', hnet: 'H-Net chunking', sensors: 'HiSS sensors', engine: 'Engine' };

declare global {
  interface Window {
    /** For the browser tests: 'ready' once the first page is up, or why the playground could not start. */
    __hieroPlayground?: { state: 'ready' | 'no-webgpu' | 'failed'; adapter?: string; problem?: string };
  }
}

const main = document.getElementById('main')!;
const badge = document.getElementById('adapter')!;

/** Why WebGPU cannot run here, or null when an adapter answers. */
async function webgpuProblem(): Promise<string | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    return window.isSecureContext
      ? 'This browser does not expose WebGPU (navigator.gpu is missing): it is too old, or WebGPU is turned off.'
      : 'WebGPU is only available on secure pages (https:// or http://localhost); this page was opened over plain http.';
  }
  try {
    if (!(await gpu.requestAdapter())) return 'The browser has WebGPU, but no GPU adapter answered: the GPU or its driver may be blocklisted, or hardware acceleration is off.';
  } catch (error) {
    return `Asking for a WebGPU adapter failed: ${describeError(error)}`;
  }
  return null;
}

function showNoWebGPU(problem: string): void {
  window.__hieroPlayground = { state: 'no-webgpu', problem };
  badge.textContent = 'no WebGPU';
  main.replaceChildren(h('section', { class: 'panel no-webgpu', 'data-testid': 'no-webgpu' },
    h('h2', {}, 'This playground needs WebGPU'),
    h('p', { class: 'problem' }, problem),
    h('p', {}, 'Hiero trains and runs its models on your GPU through WebGPU, so nothing here can run without it. To enable it:'),
    h('ul', {},
      h('li', {}, 'Chrome or Edge 113 or later on Windows, macOS or ChromeOS: WebGPU is on by default. Check that hardware acceleration is enabled (Settings → System) and look at chrome://gpu for "WebGPU: Hardware accelerated".'),
      h('li', {}, 'Chrome on Linux: enable chrome://flags/#enable-unsafe-webgpu and chrome://flags/#enable-vulkan, then restart the browser.'),
      h('li', {}, 'Safari 26 or later, and Firefox 141 or later on Windows, ship WebGPU as well; older versions need it turned on in their experimental settings.'),
      h('li', {}, 'Without a GPU, Chromium can run WebGPU on the CPU (slowly): start it with --enable-unsafe-webgpu --enable-features=Vulkan --use-vulkan=swiftshader --use-webgpu-adapter=swiftshader.')),
    h('p', { class: 'hint' }, 'This playground is tested in Chromium. The same models run headless in Node: see the README (npm start).')));
}

function showFailure(error: unknown): void {
  window.__hieroPlayground = { state: 'failed', problem: describeError(error) };
  main.replaceChildren(h('section', { class: 'panel no-webgpu' }, h('h2', {}, 'The playground could not start'), h('p', { class: 'problem' }, describeError(error))));
}

async function boot(): Promise<void> {
  const problem = await webgpuProblem();
  if (problem) return showNoWebGPU(problem);
  // One worker opens the device first: if it cannot, the page says so instead of three failing pages.
  const first = await createHieroWorker();
  let adapter: AdapterInfo;
  try {
    adapter = await first.adapter();
  } catch (error) {
    await first.dispose();
    return showNoWebGPU(`A WebGPU device could not be opened in a worker: ${describeError(error)}`);
  }
  badge.textContent = `${adapter.name}${adapter.software ? ' (software)' : ''}`;
  badge.title = 'the WebGPU adapter the models run on';

  const workers: Partial<Record<Route, Promise<HieroWorker>>> = { sudoku: Promise.resolve(first) };
  const workerFor = (route: Route) => (workers[route] ??= createHieroWorker());
  const pages: Partial<Record<Route, Page>> = {};
  const nav = document.getElementById('nav')!;
  nav.replaceChildren(...ROUTES.map((route) => h('a', { href: `#/${route}`, 'data-route': route }, TITLES[route])));

  const show = async (route: Route) => {
    for (const link of nav.querySelectorAll('a')) link.classList.toggle('active', link.dataset.route === route);
    document.title = `${TITLES[route]} · Hiero`;
    if (!pages[route]) {
      const hiero = await workerFor(route);
      const page = PAGES[route](hiero, adapter);
      page.element.dataset.page = route;
      pages[route] = page;
      main.append(page.element);
      page.start();
    }
    for (const [name, page] of Object.entries(pages)) page!.element.hidden = name !== route;
  };
  const route = (): Route => {
    const name = location.hash.replace(/^#\/?/, '') as Route;
    return ROUTES.includes(name) ? name : 'sudoku';
  };
  window.addEventListener('hashchange', () => void show(route()).catch(showFailure));
  await show(route());
  window.__hieroPlayground = { state: 'ready', adapter: adapter.name };
}

// An error nothing caught is shown on the page, not only in the console.
window.addEventListener('unhandledrejection', (event) => {
  event.preventDefault();
  const box = document.getElementById('errors')!;
  box.hidden = false;
  box.append(h('p', {}, describeError(event.reason)));
});

boot().catch(showFailure);
