// HRM checkpoints between Hiero and the official code (apps/cli/official.ts, model/official-hrm.ts) on a fixture in
// the official layout written by PyTorch (test/fixtures/official-hrm/make.py: torch.save of _orig_mod.model.inner.*
// keys, bf16 initial states, a SwiGLU of 256, a 2-position puzzle prefix from puzzle_emb_ndim 40 > hidden 32):
// import gives the exact tensors and the official forward's logits and Q values (computed in float64 from the official
// definitions by make.py; the official code itself, run on this fixture through bench/official/check_hrm.py, is within
// 1.9e-6 of them); export → import round-trips; hostile files are refused by name.
// Tolerance: f32 against float64 through 6 module calls of post-norm blocks (each renormalises, so errors do not
// grow) and logits of a few units: atol 1e-4 + rtol 1e-4.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { decodeSafetensors, readCheckpointFile, readManifest, tensor } from '../engine/index.ts';
import { decodeTorchCheckpoint } from '../engine/io/torch-pickle.ts';
import { main } from '../apps/cli/hiero.ts';
import { loadPuzzleModel, loadTextModel } from '../model/registry.ts';
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
