// The engine page: the adapter the visitor's browser gives, its limits and features, and a quick benchmark
// (copy bandwidth, FMA peak, matmul, the recurrence scan) measured the way `npm run bench` measures, to compare GPUs.

import type { AdapterInfo, HieroWorker, QuickResult } from '../../worker/client.ts';
import { count, h, Notice } from '../ui.ts';
import type { Page } from './sudoku.ts';

export function enginePage(hiero: HieroWorker, adapter: AdapterInfo): Page {
  const limits = h('table', { class: 'table' },
    h('tbody', {}, ...Object.entries(adapter.limits).map(([name, value]) => h('tr', {}, h('th', {}, name), h('td', {}, formatLimit(name, value))))));
  const results = h('tbody', { 'data-testid': 'bench-rows' });
  const notice = new Notice();
  const run = h('button', { class: 'primary', 'data-testid': 'bench' }, 'Run quick benchmark');
  run.addEventListener('click', async () => {
    run.disabled = true;
    results.replaceChildren();
    notice.info('measuring…');
    const started = performance.now();
    try {
      await hiero.benchmark({
        onResult: (r: QuickResult) => results.append(h('tr', {}, h('td', {}, r.name), h('td', {}, r.shape), h('td', { class: 'number' }, `${r.value.toPrecision(3)} ${r.unit}`), h('td', { class: 'number' }, `${r.ms.toPrecision(3)} ms`))),
      });
      notice.info(`measured in ${((performance.now() - started) / 1000).toFixed(1)} s on ${adapter.name}`);
    } catch (error) {
      notice.error(error);
    } finally {
      run.disabled = false;
    }
  });
  const element = h('div', { class: 'page' },
    h('section', { class: 'panel' },
      h('h2', {}, 'Adapter'),
      h('p', { class: 'model-line', 'data-testid': 'adapter' }, adapter.name, adapter.software ? h('span', { class: 'badge warn' }, 'software (CPU): correct, but slow') : null),
      h('p', { class: 'hint' }, `WebGPU in this ${adapter.runtime === 'browser' ? 'browser' : 'process'}. Features: ${adapter.features.join(', ') || 'none beyond the core'}.`),
      limits),
    h('section', { class: 'panel' },
      h('h2', {}, 'Quick benchmark'),
      h('p', { class: 'hint' }, 'Each row is the median of timed regions after a warm-up, as npm run bench measures them; matmul and FMA in GFLOP/s, copy and scan in GB/s (bytes read and written once).'),
      h('div', { class: 'row' }, run),
      h('table', { class: 'table' }, h('thead', {}, h('tr', {}, h('th', {}, 'kernel'), h('th', {}, 'shape'), h('th', {}, 'rate'), h('th', {}, 'time'))), results),
      notice.element));
  return { element, start: () => undefined };
}

function formatLimit(name: string, value: number): string {
  if (/Size$/.test(name) && value >= 1024) return `${count(value)} (${value >= 2 ** 30 ? `${(value / 2 ** 30).toFixed(1)} GiB` : value >= 2 ** 20 ? `${(value / 2 ** 20).toFixed(0)} MiB` : `${(value / 1024).toFixed(0)} KiB`})`;
  return count(value);
}
