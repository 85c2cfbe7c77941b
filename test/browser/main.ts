// Runs in headless Chromium (test/browser.test.ts): the engine exactly as the playground bundles it, WGSL via Vite's
// ?raw imports. Publishes its results on window.__hiero for the test to compare with the CPU reference.
import { init, matmul, tensor } from '../../engine/index.ts';

declare global {
  interface Window {
    __hiero?: { adapter: string; features: string[]; c: number[]; ga: number[]; gb: number[]; tall: number[] } | { error: string };
  }
}

async function run() {
  const report = await init();
  const a = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [-1, 0.5, 2]], undefined, { requiresGrad: true });
  const b = tensor([[0.5, -1], [2, 0.25], [-3, 1]], undefined, { requiresGrad: true });
  const c = matmul(a, b);
  c.square().sum().backward();
  // 40 rows: the CPU drivers' subgroup kernel where the browser's adapter has subgroups (k = 7: its tail step too).
  const tallA = tensor(Array.from({ length: 40 }, (_, i) => Array.from({ length: 7 }, (_, k) => Math.sin(i * 7 + k))));
  const tallB = tensor(Array.from({ length: 7 }, (_, k) => Array.from({ length: 9 }, (_, j) => Math.cos(k * 9 + j))));
  return {
    adapter: `${report.vendor} ${report.architecture} ${report.description}`,
    features: report.features,
    tall: Array.from(await matmul(tallA, tallB).toArray()),
    c: Array.from(await c.toArray()),
    ga: Array.from(await a.grad!.toArray()),
    gb: Array.from(await b.grad!.toArray()),
  };
}

run().then(
  (result) => {
    window.__hiero = result;
    document.getElementById('out')!.textContent = JSON.stringify(result, null, 1);
  },
  (error: Error) => {
    window.__hiero = { error: `${error.name}: ${error.message}` };
    document.getElementById('out')!.textContent = String(error);
  },
);
