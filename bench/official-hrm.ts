// Hiero's HRM against the official code (sapientinc/HRM) on the same weights: each checkpoint exported with
// `hiero export --format official --dtype float32`, loaded strictly into the official model in PyTorch
// (bench/official/check_hrm.py, CPU, two shims that do no arithmetic of the model's), both run on the same held-out
// puzzles for every segment; reported: the largest logit and Q differences and how many argmaxes agree.
//   node --import tsx --import ./engine/node/register.mjs bench/official-hrm.ts --official HRM_CLONE [--count 32] [--json FILE]
// Needs python3 with torch (>= 1.13), pydantic and yaml (Debian: apt-get install python3-torch python3-pydantic python3-yaml).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeAdapter, init, shutdown, tensor } from '../engine/index.ts';
import { exportOfficial } from '../apps/cli/official.ts';
import { loadTask } from '../model/hrm-session.ts';
import { loadPuzzleModel } from '../model/registry.ts';

const { values } = parseArgs({ options: { official: { type: 'string' }, count: { type: 'string', default: '32' }, json: { type: 'string' }, python: { type: 'string', default: '/usr/bin/python3' } } });
if (!values.official) throw new Error('--official DIR: a clone of github.com/sapientinc/HRM is required');
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1 || count > 1000) throw new Error(`--count must be an integer in [1, 1000], got ${values.count}`);
const adapter = describeAdapter(await init());
const rows: Record<string, unknown>[] = [];
for (const checkpoint of ['model/checkpoints/sudoku-4x4', 'model/checkpoints/sudoku-6x6']) {
  const scratch = mkdtempSync(join(tmpdir(), 'hiero-official-'));
  const dir = join(scratch, 'export');
  const log = console.log;
  console.log = () => {};
  await exportOfficial(checkpoint, dir, { uncompiled: false, dtype: 'float32' });
  console.log = log;
  const { model, state } = await loadPuzzleModel(checkpoint);
  const task = await loadTask(state.task, { train: 1, test: count, seed: 1 });
  const examples = task.heldOut.slice(0, count);
  const segments = model.config.haltMaxSteps;
  const request = join(dir, 'inputs.json');
  writeFileSync(request, JSON.stringify({ inputs: examples.map((e) => Array.from(e.inputs)), segments }));
  const official = JSON.parse(execFileSync(values.python, ['bench/official/check_hrm.py', values.official, dir, request], { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] }).toString()) as { segments: { logits: number[]; qHalt: number[]; qContinue: number[] }[] };
  const inputs = tensor(Int32Array.from(examples.flatMap((e) => Array.from(e.inputs))), [examples.length, task.seqLen], { dtype: 'i32' });
  const ours = model.evaluate(inputs, null, segments);
  let logitDiff = 0;
  let qDiff = 0;
  let agree = 0;
  let cells = 0;
  const vocab = model.config.vocab;
  for (let s = 0; s < segments; s++) {
    const logits = await ours.logits[s].toArray();
    const theirs = official.segments[s];
    for (let i = 0; i < logits.length; i++) logitDiff = Math.max(logitDiff, Math.abs(logits[i] - theirs.logits[i]));
    const qh = await ours.qHalt[s].toArray();
    const qc = await ours.qContinue[s].toArray();
    for (let b = 0; b < qh.length; b++) qDiff = Math.max(qDiff, Math.abs(qh[b] - theirs.qHalt[b]), Math.abs(qc[b] - theirs.qContinue[b]));
    for (let c = 0; c < logits.length / vocab; c++) {
      const argmax = (a: ArrayLike<number>) => {
        let best = 0;
        for (let v = 1; v < vocab; v++) if (a[c * vocab + v] > a[c * vocab + best]) best = v;
        return best;
      };
      agree += argmax(logits) === argmax(theirs.logits) ? 1 : 0;
      cells++;
    }
  }
  for (const list of Object.values(ours)) for (const t of list) t.dispose();
  inputs.dispose();
  rows.push({ checkpoint, task: state.task, parameters: model.parameterCount(), puzzles: examples.length, segments, 'max |logit diff|': logitDiff.toExponential(2), 'max |Q diff|': qDiff.toExponential(2), 'argmax agree': `${agree} / ${cells}` });
  model.dispose();
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`Hiero on ${adapter}; the official code on PyTorch, CPU, float32`);
console.table(rows);
if (values.json) writeFileSync(values.json, `${JSON.stringify({ adapter, date: new Date().toISOString().slice(0, 10), official: 'sapientinc/HRM', results: rows }, null, 2)}\n`);
shutdown();
