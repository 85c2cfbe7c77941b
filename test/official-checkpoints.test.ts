// HRM checkpoints between Hiero and the official code (apps/cli/official.ts, model/official-hrm.ts) on a fixture in
// the official layout written by PyTorch (test/fixtures/official-hrm/make.py: torch.save of _orig_mod.model.inner.*
// keys, bf16 initial states, a SwiGLU of 256, a 2-position puzzle prefix from puzzle_emb_ndim 40 > hidden 32):
// import gives the exact tensors and the official forward's logits and Q values (computed in float64 from the official
// definitions by make.py; the official code itself, run on this fixture through bench/official/check_hrm.py, is within
// 1.9e-6 of them); export → import round-trips; hostile files are refused by name.
// Tolerance: f32 against float64 through 6 module calls of post-norm blocks (each renormalises, so errors do not
// grow) and logits of a few units: atol 1e-4 + rtol 1e-4.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { decodeSafetensors, readCheckpointFile, readManifest, tensor, type HostTensor } from '../engine/index.ts';
import { decodeTorchCheckpoint, encodeTorchCheckpoint } from '../engine/io/torch-pickle.ts';
import { main } from '../apps/cli/hiero.ts';
import { loadPuzzleModel, loadTextModel } from '../model/registry.ts';
import type { HNetLM } from '../model/hnet.ts';
import { HRM } from '../model/hrm.ts';
import { presetConfig } from '../model/hrm-session.ts';
import { hrmToOfficial } from '../model/official-hrm.ts';
import type { RecurrentLM } from '../model/recurrent-lm.ts';
import { expectClose, temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

const FIXTURE = join(import.meta.dirname, 'fixtures', 'official-hrm');
const quiet = () => vi.spyOn(console, 'log').mockImplementation(() => {});

describe('official HRM checkpoints', () => {
  it('import: the exact tensors, the prefix and SwiGLU widths the official code has, and its logits and Q values', async () => {
    const out = join(temporaryDirectory('hiero-import'), 'imported');
    const log = quiet();
    expect(await main(['import', '--from', FIXTURE, '--out', out])).toBe(0);
    log.mockRestore();
    const official = (await decodeTorchCheckpoint(readFileSync(join(FIXTURE, 'step_12')), 'step_12')).tensors;
    const manifest = await readManifest(out);
    expect(manifest.step).toBe(12);
    const ours = decodeSafetensors(await readCheckpointFile(out, manifest, 'weights')).tensors;
    expect(ours.size).toBe(official.size);
    for (const [key, t] of official) {
      const name = key.replace('_orig_mod.model.inner.', '').replace('embedding_weight', 'weight').replace('puzzle_emb.weights', 'puzzle_emb.weight');
      expect(ours.get(name)?.shape, name).toEqual(t.shape);
      expect(Array.from(ours.get(name)!.data), name).toEqual(Array.from(t.data));
    }
    const { model, state } = await loadPuzzleModel(out);
    expect(state.task).toBe('sudoku-9x9-hard');
    expect(model.prefix).toBe(2);
    expect(model.config.ffnMultiple).toBe(256);
    const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as { inputs: number[][]; logits: number[]; qHalt: number[]; qContinue: number[] };
    const inputs = tensor(Int32Array.from(expected.inputs.flat()), [2, 81], { dtype: 'i32' });
    const ids = tensor(Int32Array.from([0, 0]), [2], { dtype: 'i32' });
    const r = model.evaluate(inputs, ids, 1);
    const tol = { atol: 1e-4, rtol: 1e-4 };
    expectClose(await r.logits[0].toArray(), expected.logits, tol, 'logits');
    expectClose(await r.qHalt[0].toArray(), expected.qHalt, tol, 'Q(halt)');
    expectClose(await r.qContinue[0].toArray(), expected.qContinue, tol, 'Q(continue)');
    for (const list of Object.values(r)) for (const t of list) t.dispose();
    inputs.dispose();
    ids.dispose();
    model.dispose();
  });

  it('export --format official → import: the SwiGLU zero-padded to the official width, initial states bf16 (or f32), the same logits back', async () => {
    const root = temporaryDirectory('hiero-export-official');
    const log = quiet();
    const official = join(root, 'official');
    expect(await main(['export', '--checkpoint', 'model/checkpoints/sudoku-4x4', '--format', 'official', '--out', official])).toBe(0);
    const written = (await decodeTorchCheckpoint(readFileSync(join(official, 'step_9000')), 'step_9000')).tensors;
    // The shipped 4x4 solver: hidden 32, expansion 2 → 48 SwiGLU units in Hiero, 256 in the official code.
    expect(written.get('_orig_mod.model.inner.L_level.layers.0.mlp.gate_up_proj.weight')!.shape).toEqual([512, 32]);
    expect(written.get('_orig_mod.model.inner.H_init')!.dtype).toBe('bfloat16');
    const source = decodeSafetensors(await readCheckpointFile('model/checkpoints/sudoku-4x4', await readManifest('model/checkpoints/sudoku-4x4'), 'weights')).tensors;
    const gateUp = written.get('_orig_mod.model.inner.L_level.layers.0.mlp.gate_up_proj.weight')!.data;
    const original = source.get('L_level.layers.0.mlp.gate_up_proj.weight')!.data;
    expect(Array.from(gateUp.subarray(0, 48 * 32))).toEqual(Array.from(original.subarray(0, 48 * 32)));
    expect(Array.from(gateUp.subarray(256 * 32, 304 * 32))).toEqual(Array.from(original.subarray(48 * 32)));
    expect(gateUp.subarray(48 * 32, 256 * 32).every((v) => v === 0)).toBe(true);
    expect(readFileSync(join(official, 'all_config.yaml'), 'utf8')).toMatch(/puzzle_emb_ndim: 0/);
    // Back again, in float32 initial states: the same logits from the padded network (zeros add nothing).
    const exact = join(root, 'official-f32');
    expect(await main(['export', '--checkpoint', 'model/checkpoints/sudoku-4x4', '--format', 'official', '--dtype', 'float32', '--out', exact])).toBe(0);
    const back = join(root, 'back');
    expect(await main(['import', '--from', exact, '--out', back])).toBe(0);
    log.mockRestore();
    const { model: shipped } = await loadPuzzleModel('model/checkpoints/sudoku-4x4');
    const { model: returned, state } = await loadPuzzleModel(back);
    expect(state.task).toBe('sudoku-4x4');
    const inputs = tensor(Int32Array.from({ length: 32 }, (_, i) => (i * 5) % 6), [2, 16], { dtype: 'i32' });
    const logits = async (m: typeof shipped) => {
      const r = m.evaluate(inputs, null, 2);
      const values = [...(await r.logits[1].toArray()), ...(await r.qHalt[1].toArray())];
      for (const list of Object.values(r)) for (const t of list) t.dispose();
      return values;
    };
    expectClose(await logits(returned), await logits(shipped), { atol: 1e-5, rtol: 1e-5 }, 'round trip');
    shipped.dispose();
    returned.dispose();
    inputs.dispose();
  });

  it('hiero import as a fresh process (it starts the device itself to check the model it builds)', () => {
    const out = join(temporaryDirectory('hiero-import-process'), 'imported');
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--import', './engine/node/register.mjs', 'apps/cli/hiero.ts', 'import', '--from', 'test/fixtures/fla-hgrn', '--out', out], { cwd: join(import.meta.dirname, '..') }).toString();
    expect(stdout).toMatch(/wrote .*imported: fla's HGRN/);
    expect(existsSync(join(out, 'manifest.json'))).toBe(true);
  }, 60_000);

  it('names what is wrong: hostile pickles, foreign keys, a missing config, a task of another vocabulary', async () => {
    const root = temporaryDirectory('hiero-import-bad');
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const log = quiet();
    const hostile = join(root, 'hostile');
    writeFileSync(join(root, 'all_config.yaml'), readFileSync(join(FIXTURE, 'all_config.yaml')));
    writeFileSync(hostile, readFileSync(join(import.meta.dirname, 'fixtures', 'torch', 'hostile.pt')));
    expect(await main(['import', '--from', hostile, '--out', join(root, 'a')])).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch(/refusing the global posix\.system/);
    expect(await main(['import', '--from', join(FIXTURE, 'step_12'), '--config', join(root, 'none.yaml'), '--out', join(root, 'b')])).toBe(2);
    expect(err.mock.calls.flat().join('\n')).toMatch(/no .*none\.yaml/);
    expect(await main(['import', '--from', FIXTURE, '--task', 'maze-9', '--out', join(root, 'c')])).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch(/a vocabulary of 11 tokens, but maze-9's has 6/);
    err.mockRestore();
    log.mockRestore();
  });

  it('ARC: each task takes the official row of the puzzle named as its file (identifiers.json); augmented copies are left out', async () => {
    const root = temporaryDirectory('hiero-arc-import');
    const tasks = join(root, 'tasks');
    mkdirSync(tasks);
    for (const name of ['flip', 'swap', 'turn']) writeFileSync(join(tasks, `${name}.json`), JSON.stringify({ train: [{ input: [[1, 0]], output: [[0, 1]] }], test: [{ input: [[2, 0]], output: [[0, 2]] }] }));
    // An official ARC checkpoint of five puzzle rows (the HRM written by the official map), and the identifiers.json
    // build_arc_dataset.py writes: the blank, then puzzles and augmented copies in the order it met them.
    const config = { ...presetConfig('hrm', 'tiny', 12, 900, 5), hidden: 8, heads: 2 };
    const model = new HRM(config);
    const weights = new Map<string, HostTensor>();
    for (const [name, t] of model.stateDict()) weights.set(name, { dtype: 'f32', stored: 'F32', shape: [...t.shape], data: Float32Array.from(await t.toArray()) });
    model.dispose();
    const { state, arch } = hrmToOfficial(weights, config, { compiled: true, forwardDtype: 'float32' });
    const run = join(root, 'run');
    mkdirSync(run);
    writeFileSync(join(run, 'step_7'), encodeTorchCheckpoint(state, 'step_7'));
    writeFileSync(join(run, 'all_config.yaml'), stringifyYaml({ arch, data_path: 'data/arc-aug-1000' }));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const log = quiet();
    expect(await main(['import', '--from', run, '--task', `arc:${tasks}`, '--out', join(root, 'none')])).toBe(2);
    expect(err.mock.calls.flat().join('\n')).toMatch(/identifiers\.json .*pass --identifiers FILE/);
    writeFileSync(join(run, 'identifiers.json'), JSON.stringify(['<blank>', 'swap', 'flip_t3_0123456789', 'turn', 'flip']));
    const out = join(root, 'imported');
    expect(await main(['import', '--from', run, '--task', `arc:${tasks}`, '--out', out])).toBe(0);
    const imported = decodeSafetensors(await readCheckpointFile(out, await readManifest(out), 'weights')).tensors.get('puzzle_emb.weight')!;
    const table = weights.get('puzzle_emb.weight')!;
    const width = table.shape[1];
    const rowOf = (t: HostTensor, i: number) => Array.from((t.data as Float32Array).subarray(i * width, (i + 1) * width));
    expect(imported.shape).toEqual([3, width]);
    // Hiero's tasks in file-name order: flip, swap, turn = official rows 4, 1, 3.
    [4, 1, 3].forEach((official, i) => expect(rowOf(imported, i), `task ${i}`).toEqual(rowOf(table, official)));
    // Exported, the rows are named in Hiero's task order, so the export imports back to the same rows.
    const exported = join(root, 'exported');
    expect(await main(['export', '--checkpoint', out, '--format', 'official', '--dtype', 'float32', '--out', exported])).toBe(0);
    expect(JSON.parse(readFileSync(join(exported, 'identifiers.json'), 'utf8'))).toEqual(['flip', 'swap', 'turn']);
    const back = join(root, 'back');
    expect(await main(['import', '--from', exported, '--task', `arc:${tasks}`, '--out', back])).toBe(0);
    expect(Array.from(decodeSafetensors(await readCheckpointFile(back, await readManifest(back), 'weights')).tensors.get('puzzle_emb.weight')!.data)).toEqual(Array.from(imported.data));
    // A task the model never saw has no embedding: named.
    writeFileSync(join(tasks, 'zoom.json'), readFileSync(join(tasks, 'flip.json')));
    expect(await main(['import', '--from', run, '--task', `arc:${tasks}`, '--out', join(root, 'zoom'), '--force'])).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch(/1 of the 4 task\(s\) were not in the model's dataset \(zoom\)/);
    log.mockRestore();
    err.mockRestore();
  });

  for (const kind of ['hgrn', 'hgrn2', 'gla', 'retnet', 'mamba2'] as const) it(`fla ${{ hgrn: 'HGRN', hgrn2: 'HGRN2', gla: 'GLA', retnet: 'RetNet', mamba2: 'Mamba-2' }[kind]}: import gives fla's forward (float64 from its definitions) on bytes; export → import is exact`, async () => {
    const fixture = join(import.meta.dirname, 'fixtures', `fla-${kind}`);
    const root = temporaryDirectory('hiero-fla');
    const log = quiet();
    const imported = join(root, 'imported');
    expect(await main(['import', '--from', fixture, '--out', imported])).toBe(0);
    const exported = join(root, 'exported');
    expect(await main(['export', '--checkpoint', imported, '--format', 'fla', '--out', exported])).toBe(0);
    log.mockRestore();
    const original = decodeSafetensors(readFileSync(join(fixture, 'model.safetensors'))).tensors;
    const written = decodeSafetensors(readFileSync(join(exported, 'model.safetensors'))).tensors;
    expect([...written.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [name, t] of original) expect(Array.from(written.get(name)!.data), name).toEqual(Array.from(t.data));
    const shapes = {
      hgrn: { intermediate_size: 32, expand_ratio: 1 }, hgrn2: { intermediate_size: 32, expand_ratio: 4 }, gla: { intermediate_size: 32, expand_k: 0.5, num_heads: 4 },
      retnet: { intermediate_size: 32, expand_k: 1, expand_v: 2, num_heads: 4 },
      mamba2: { num_heads: 4, head_dim: 8, state_size: 4, conv_kernel: 4 },
    }[kind];
    expect(JSON.parse(readFileSync(join(exported, 'config.json'), 'utf8'))).toMatchObject({ model_type: kind, hidden_size: 16, num_hidden_layers: 2, ...shapes });
    const expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')) as { texts: string[]; logits: number[] };
    const { model } = await loadTextModel(imported);
    const bytes = expected.texts.flatMap((t) => Array.from(new TextEncoder().encode(t)));
    const ids = tensor(Int32Array.from(bytes), [expected.texts.length, bytes.length / expected.texts.length], { dtype: 'i32' });
    const logits = (model as RecurrentLM).forward(ids);
    // f32 against float64 through two blocks and a 20-step recurrence of contracting gates: rounding only.
    expectClose(await logits.toArray(), expected.logits, { atol: 1e-4, rtol: 1e-4 }, 'fla logits');
    logits.dispose();
    ids.dispose();
    model.dispose();
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const bad = join(root, 'bad');
    const unmapped = kind === 'mamba2' ? { expand: 3, dt_limit: [0, 1e9] } : { use_short_conv: true };
    writeFileSync(join(root, 'conv.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(fixture, 'config.json'), 'utf8').replace('Infinity', '1e999')), ...unmapped }));
    expect(await main(['import', '--from', join(fixture, 'model.safetensors'), '--config', join(root, 'conv.json'), '--out', bad])).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch({ hgrn: /use_short_conv: fla convolves the i and f projections/, hgrn2: /use_short_conv: Hiero's HGRN2 has no short convolutions/, gla: /use_short_conv: not mapped/, retnet: /use_short_conv: not mapped/, mamba2: /expand 3: Hiero's Mamba-2 has expand 2/ }[kind]);
    // Shapes the config does not explain fail in the one loading path, before anything is written into --out.
    const wider = join(root, 'wider');
    writeFileSync(join(root, 'wider.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(fixture, 'config.json'), 'utf8').replace('Infinity', '1e999')), hidden_size: 32, head_dim: 16, expand_ratio: kind === 'hgrn2' ? 8 : undefined, dt_limit: undefined }));
    expect(await main(['import', '--from', join(fixture, 'model.safetensors'), '--config', join(root, 'wider.json'), '--out', wider])).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch(/shape|must be/);
    expect(existsSync(wider) ? readdirSync(wider) : []).toEqual([]);
    err.mockRestore();
  });
});

// The official H-Net (goombalab/hnet) both ways, on a fixture written by PyTorch (test/fixtures/official-hnet/make.py:
// torch.save of bfloat16 tensors with residual_proj in float32, Mamba-2 encoder and decoder, attention with a SwiGLU
// of 100 → 128 inside, a wider inner stage, partial rotary, a local window) and the official forward computed there in
// float64 from the official definitions. Tolerance: f32 against float64 through two Mamba-2 layers, one attention
// layer and the EMA over up to 22 chunks, logits of a few units: atol 1e-4 + rtol 1e-4 (the boundary decisions, all
// at least 0.005 from the threshold, must be the same ones exactly).
describe('official H-Net checkpoints', () => {
  const fixture = join(import.meta.dirname, 'fixtures', 'official-hnet');

  it('import gives the official forward (float64 from its definitions) and its chunks; export → import is exact', async () => {
    const root = temporaryDirectory('hiero-hnet');
    const log = quiet();
    const imported = join(root, 'imported');
    expect(await main(['import', '--from', join(fixture, 'model.pt'), '--config', join(fixture, 'config.json'), '--out', imported])).toBe(0);
    // A directory with the config and one weights file does too.
    expect(await main(['import', '--from', fixture, '--out', join(root, 'from-directory')])).toBe(0);
    const exported = join(root, 'exported');
    expect(await main(['export', '--checkpoint', imported, '--format', 'official', '--dtype', 'float32', '--out', exported])).toBe(0);
    const reimported = join(root, 'reimported');
    expect(await main(['import', '--from', join(exported, 'model.pt'), '--config', join(exported, 'config.json'), '--out', reimported])).toBe(0);
    log.mockRestore();

    const official = (await decodeTorchCheckpoint(readFileSync(join(fixture, 'model.pt')), 'model.pt')).tensors;
    const written = (await decodeTorchCheckpoint(readFileSync(join(exported, 'model.pt')), 'model.pt')).tensors;
    expect([...written.keys()].sort()).toEqual([...official.keys()].sort());
    for (const [name, t] of official) {
      expect(written.get(name)!.shape, name).toEqual(t.shape);
      expect(Array.from(written.get(name)!.data), name).toEqual(Array.from(t.data));
    }
    const config = JSON.parse(readFileSync(join(fixture, 'config.json'), 'utf8'));
    // The official SwiGLU rounds 100 up to 128; Hiero's MLP is that width, and it writes it.
    expect(JSON.parse(readFileSync(join(exported, 'config.json'), 'utf8'))).toMatchObject({ ...config, d_intermediate: [0, 128] });
    const once = decodeSafetensors(await readCheckpointFile(imported, await readManifest(imported), 'weights')).tensors;
    const twice = decodeSafetensors(await readCheckpointFile(reimported, await readManifest(reimported), 'weights')).tensors;
    for (const [name, t] of once) expect(Array.from(twice.get(name)!.data), name).toEqual(Array.from(t.data));

    const expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')) as { texts: string[]; boundaries: number[][]; logits: number[] };
    const { model } = await loadTextModel(imported);
    const bytes = expected.texts.flatMap((t) => Array.from(new TextEncoder().encode(t)));
    const ids = tensor(Int32Array.from(bytes), [expected.texts.length, bytes.length / expected.texts.length], { dtype: 'i32' });
    const { logits, routes } = await (model as HNetLM).forward(ids);
    expect(Array.from(await routes[0].chunks.mask.toArray())).toEqual(expected.boundaries.flat());
    expectClose(await logits.toArray(), expected.logits, { atol: 1e-4, rtol: 1e-4 }, 'official H-Net logits');
    for (const r of routes) r.chunks.dispose();
    for (const t of [logits, ids, ...routes.map((r) => r.p)]) t.dispose();
    model.dispose();
  });

  it('an H-Net trained here with Mamba-2 encoders (--encoder mamba2: 64-channel heads) exports, and imports back to the same logits', async () => {
    const root = temporaryDirectory('hiero-hnet-trained');
    const log = quiet();
    const trained = join(root, 'trained');
    expect(await main(['train', 'hnet', '--preset', 'tiny', '--encoder', 'mamba2', '--steps', '1', '--batch', '2', '--seq', '32', '--out', trained])).toBe(0);
    const exported = join(root, 'exported');
    expect(await main(['export', '--checkpoint', trained, '--format', 'official', '--dtype', 'float32', '--out', exported])).toBe(0);
    const back = join(root, 'back');
    expect(await main(['import', '--from', exported, '--out', back])).toBe(0);
    log.mockRestore();
    // The official config: the tiny preset's layout with Mamba-2 stacks of 64-channel heads, its SwiGLU of 256.
    expect(JSON.parse(readFileSync(join(exported, 'config.json'), 'utf8'))).toMatchObject({ arch_layout: ['m1', ['T2'], 'm1'], d_model: [64, 96], d_intermediate: [0, 256] });
    const ids = tensor(Int32Array.from(new TextEncoder().encode('exported and back, the same chunks')), [1, 34], { dtype: 'i32' });
    const logitsOf = async (dir: string) => {
      const { model } = await loadTextModel(dir);
      const { logits, routes } = await (model as HNetLM).forward(ids);
      const values = Float32Array.from(await logits.toArray());
      for (const r of routes) r.chunks.dispose();
      for (const t of [logits, ...routes.map((r) => r.p)]) t.dispose();
      model.dispose();
      return values;
    };
    expect(Array.from(await logitsOf(back))).toEqual(Array.from(await logitsOf(trained)));
    ids.dispose();
  }, 120_000);

  it('names what does not map, both ways, before writing anything', async () => {
    const root = temporaryDirectory('hiero-hnet-bad');
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    // Hiero's shipped H-Net reads bytes with HGRN encoders: the official code has no such layer.
    expect(await main(['export', '--checkpoint', join(import.meta.dirname, '..', 'model', 'checkpoints', 'hnet-tiny'), '--format', 'official', '--out', join(root, 'x')])).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch(/encoder is hgrn: the official code has Mamba-2 \('m'\) and attention \('t'\) layers only/);
    expect(existsSync(join(root, 'x')) ? readdirSync(join(root, 'x')) : []).toEqual([]);
    const config = JSON.parse(readFileSync(join(fixture, 'config.json'), 'utf8'));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ arch_layout: ['m1t1', ['T1'], 'm1'] }, /mixes layer types/],
      [{ ssm_cfg: { ...config.ssm_cfg, expand: 3 } }, /expand 3: Hiero's Mamba-2 has expand 2/],
      [{ d_model: [64, 96, 128] }, /1 stages but d_model 3 widths|stages but d_model/],
      [{ vocab_size: 32000 }, /a vocabulary of 32000/],
    ];
    for (const [change, message] of cases) {
      writeFileSync(join(root, 'config.json'), JSON.stringify({ ...config, ...change }));
      const out = join(root, 'out');
      expect(await main(['import', '--from', join(fixture, 'model.pt'), '--config', join(root, 'config.json'), '--out', out])).toBe(1);
      expect(err.mock.calls.flat().join('\n')).toMatch(message);
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
    }
    err.mockRestore();
  });
});
