// PyTorch .pt checkpoints read in TypeScript (engine/io/torch-pickle.ts) on fixtures written by PyTorch itself
// (test/fixtures/torch/make.py): the exact tensors (values over powers of two, exact in every dtype used), strided
// and offset views of shared storages, bf16/f16/f64 widened, int64 narrowed; hostile and malformed files refused by
// name, never executed.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTorchCheckpoint } from '../engine/io/torch-pickle.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'torch');
const read = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

describe('torch.save checkpoints', () => {
  it('gives the exact tensors PyTorch saved, nested keys joined, with the plain values beside them', async () => {
    const { tensors, values } = await decodeTorchCheckpoint(read('state.pt'), 'state.pt');
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'state.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
    expect([...tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, want] of Object.entries(expected)) {
      const t = tensors.get(name)!;
      expect(t.shape, name).toEqual(want.shape);
      expect(Array.from(t.data), name).toEqual(want.values);
    }
    expect(tensors.get('model.bf16')!.dtype).toBe('bfloat16');
    expect(tensors.get('model.int64')!.data).toBeInstanceOf(Int32Array);
    expect(Object.fromEntries(values)).toEqual({ step: 7, name: 'fixture' });
  });

  it('refuses a pickle that names any global but the tensor machinery, by name, and runs nothing', async () => {
    await expect(decodeTorchCheckpoint(read('hostile.pt'), 'hostile.pt')).rejects.toThrow(/hostile\.pt: refusing the global posix\.system: a checkpoint may hold only tensors/);
    expect(existsSync('/tmp/hiero-pwned')).toBe(false);
    await expect(decodeTorchCheckpoint(read('recursive.pt'), 'recursive.pt')).rejects.toThrow(/recursive\.pt: 'loop(\.0)+' is nested more than 32 containers deep \(or contains itself\)/);
  });

  it('names what is wrong with files that are not torch.save zips, or are cut short', async () => {
    const state = read('state.pt');
    await expect(decodeTorchCheckpoint(state.subarray(0, state.length - 30), 'cut.pt')).rejects.toThrow(/cut\.pt: not a zip archive/);
    await expect(decodeTorchCheckpoint(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), 'old.pt')).rejects.toThrow(/old\.pt: the legacy torch\.save format/);
    await expect(decodeTorchCheckpoint(new TextEncoder().encode('hello'), 'text.pt')).rejects.toThrow(/text\.pt: not a zip archive/);
  });
});
