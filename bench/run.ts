// `npm run bench`: the adapter and its measured limits, every hot kernel against those limits, whole models, and
// TensorFlow.js's WebGPU backend on the same adapter in the same process.
//   --quick         a run of under a minute     --filter=REGEX  only rows whose section or name matches
//   --json=FILE     also write the report as JSON (--json FILE works too)
// Every figure is measured in this run; ratios compare figures from this run only.

import { writeFileSync } from 'node:fs';
import { describeAdapter, init, runtime, shutdown, type AdapterReport } from '../engine/index.ts';
import { kernelRows } from '../engine/measure/kernels.ts';
import { measureLimits } from '../engine/measure/limits.ts';
import { modelRows } from './models.ts';
import { peerRows } from './peers.ts';
import { sizesFor, type BenchRow } from '../engine/measure/types.ts';
import { help, parse, reportError, UsageError, type CommandSpec } from '../apps/cli/args.ts';

export interface BenchReport {
  adapter: { name: string; vendor: string; architecture: string; description: string; software: boolean; features: string[]; limits: Record<string, number> };
  mode: 'tiny' | 'quick' | 'full';
  method: string;
  limits: { copyGBs: number; fmaGflops: number };
  rows: BenchRow[];
  date: string;
}

export interface BenchOptions {
  mode: 'tiny' | 'quick' | 'full';
  filter?: RegExp;
  /** Write progress lines while running. */
  log?: (line: string) => void;
  /** Batch of the HRM paper segment row (0: none; default by mode and adapter). */
  hrmBatch?: number;
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const report: AdapterReport = await init();
  const sizes = { ...sizesFor(options.mode, report.software), ...(options.hrmBatch !== undefined ? { hrmBatch: options.hrmBatch } : {}) };
  const reps = options.mode === 'full' ? 3 : options.mode === 'quick' ? 3 : 1;
  const want = (section: string) => (name: string) => !options.filter || options.filter.test(section) || options.filter.test(name);
  const log = options.log ?? (() => {});
  const timestamps = runtime().device.features.has('timestamp-query');
  log(`adapter: ${describeAdapter(report)}`);
  const limits = await measureLimits(sizes.copyElements, sizes.fmaInvocations, reps);
  const rows: BenchRow[] = [
    { section: 'limits', name: 'copy bandwidth', shape: `${(limits.copyBytes / 2 ** 20).toPrecision(3)} MiB moved`, ms: limits.copy.medianMs, value: limits.copyGBs, unit: 'GB/s' },
    { section: 'limits', name: 'FMA peak', shape: `${sizes.fmaInvocations} invocations`, ms: limits.fma.medianMs, value: limits.fmaGflops, unit: 'GFLOP/s' },
  ];
  log('limits measured; kernels…');
  rows.push(...(await kernelRows(sizes, limits, reps, want('kernels'))));
  log('models…');
  rows.push(...(await modelRows(sizes, reps, want('models'))));
  log('peers…');
  rows.push(...(await peerRows(sizes, reps, want('peers'))));
  return {
    adapter: {
      name: describeAdapter(report), vendor: report.vendor, architecture: report.architecture, description: report.description,
      software: report.software, features: report.features, limits: report.limits,
    },
    mode: options.mode,
    method:
      `kernels: median of ${reps} samples after a warm-up, each sample one region of back-to-back calls lasting ${report.software ? 'one call' : '>= 2 ms'}, ${timestamps ? 'timed by GPU timestamps around the region (unquantized in Node)' : 'timed as wall time to queue completion (no timestamp-query on this adapter)'}; ` +
      `models: median wall time per step to queue completion, encoding included; peers: ${reps} runs back to back then queue completion, on both sides`,
    limits: { copyGBs: limits.copyGBs, fmaGflops: limits.fmaGflops },
    rows,
    date: new Date().toISOString(),
  };
}

function format(n: number | null | undefined, digits = 3): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  if (n >= 1000) return n.toFixed(0);
  return n.toPrecision(digits);
}

export function renderTable(report: BenchReport): string {
  const lines = [`adapter: ${report.adapter.name}`, `method: ${report.method}`, ''];
  const header = ['section', 'name', 'shape', 'ms', 'value', 'unit', 'of limit', 'dispatches', 'submits', 'Hiero/TF.js'];
  const body = report.rows.map((r) => [
    r.section, r.name, r.shape, format(r.ms), format(r.value), r.unit,
    r.ofLimit === undefined || r.ofLimit === null ? '' : `${(100 * r.ofLimit).toFixed(1)}%`,
    r.dispatches === undefined ? '' : String(r.dispatches), r.submits === undefined ? '' : String(r.submits),
    r.ratio === undefined || r.ratio === null ? (r.note ?? '') : `${format(r.ratio)}×`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const render = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  lines.push(render(header), widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) lines.push(render(row));
  return lines.join('\n');
}

export const benchSpec: CommandSpec = {
  name: 'bench',
  invocation: 'npm run bench --',
  summary: 'Measures the adapter (copy bandwidth, FMA peak), every hot kernel and its variants, whole models, the paper\nHRM segment, host cost per dispatch, and TensorFlow.js WebGPU on the same adapter, in one process.',
  positionals: '',
  options: {
    quick: { type: 'boolean', help: 'a run of about a minute' },
    tiny: { type: 'boolean', help: 'the smallest sizes (the harness test)' },
    filter: { type: 'string', help: 'only rows whose section or name matches this regular expression', value: 'REGEX' },
    json: { type: 'string', help: 'also write the report as JSON to FILE', value: 'FILE' },
    'hrm-batch': { type: 'integer', min: 0, max: 4096, help: 'batch of the paper HRM segment row (0: no row; default 1 on CPU drivers, 32 on GPUs, full runs only)' },
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  let code = 0;
  try {
    const p = parse(benchSpec, process.argv.slice(2));
    if (p.help) console.log(help(benchSpec));
    else {
      const mode = p.values.tiny ? 'tiny' : p.values.quick ? 'quick' : 'full';
      const filter = p.values.filter as string | undefined;
      let pattern: RegExp | undefined;
      try {
        pattern = filter === undefined ? undefined : new RegExp(filter, 'i');
      } catch {
        throw new UsageError(`bench --filter: '${filter}' is not a regular expression`);
      }
      const report = await runBench({ mode, filter: pattern, log: (l) => console.error(l), hrmBatch: p.values['hrm-batch'] as number | undefined });
      console.log(renderTable(report));
      const json = p.values.json as string | undefined;
      if (json) {
        writeFileSync(json, JSON.stringify(report, null, 2));
        console.log(`\nwrote ${json}`);
      }
    }
  } catch (error) {
    code = reportError(error as Error);
  }
  shutdown();
  process.exit(code);
}
