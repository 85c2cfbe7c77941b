// safetensors (engine/io/safetensors.ts): bit-exact round trips, a file built by hand from the format's
// specification (with F16 and BF16), every kind of corruption rejected with a message, atomic saves.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckpointError, decodeSafetensors, DisposedTensorError, Linear, loadIntoModule, loadSafetensors, saveSafetensors,
  tensor,
} from '../engine/index.ts';
import { temporaryDirectory, useDevice } from './helpers.ts';

useDevice();

const dir = temporaryDirectory('hiero-ckpt');

/** A file assembled byte by byte as the specification describes. */
function handBuilt(header: object, data: Uint8Array, pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('a file written by Hiero reads back bit-identical, with metadata', async () => {
    const values = Float32Array.from([1.5, -0, NaN, 3.4028234663852886e38, 1e-45, -2.5]);
    const path = join(dir, 'roundtrip.safetensors');
    await saveSafetensors(path, [['a.weight', tensor(values, [2, 3])], ['ids', tensor(Int32Array.from([-7, 2 ** 31 - 1]))]], { step: '12' });
    const { tensors, metadata } = await loadSafetensors(path);
    const back = await tensors.get('a.weight')!.toArray();
    expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(values.buffer));
    expect(tensors.get('a.weight')!.shape).toEqual([2, 3]);
    expect(Array.from(await tensors.get('ids')!.toArray())).toEqual([-7, 2 ** 31 - 1]);
    expect(metadata).toEqual({ step: '12' });
    const raw = readFileSync(path);
    expect((8 + Number(raw.readBigUInt64LE(0))) % 8).toBe(0);
  });

  it('loads a hand-built file with F32, F16 and BF16 tensors', async () => {
    const f32 = new Float32Array([0.25, -4]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]); // 1, -2, 0.333251953125, 2^-24
    const bf16 = new Uint16Array([0x3f80, 0xc0a0]); // 1, -5
    const data = new Uint8Array(8 + 8 + 4);
    data.set(new Uint8Array(f32.buffer), 0);
    data.set(new Uint8Array(f16.buffer), 8);
    data.set(new Uint8Array(bf16.buffer), 16);
    const file = handBuilt({
      __metadata__: { format: 'pt' },
      f32: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      half: { dtype: 'F16', shape: [2, 2], data_offsets: [8, 16] },
      brain: { dtype: 'BF16', shape: [2], data_offsets: [16, 20] },
    }, data, 3);
    const { tensors } = await loadSafetensors(file);
    expect(Array.from(await tensors.get('f32')!.toArray())).toEqual([0.25, -4]);
    expect(Array.from(await tensors.get('half')!.toArray())).toEqual([1, -2, 0.333251953125, 2 ** -24]);
    expect(Array.from(await tensors.get('brain')!.toArray())).toEqual([1, -5]);
  });

  it('rejects truncated and corrupt files with a message naming the problem', () => {
    const good = handBuilt({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
    const cases: [Uint8Array, RegExp][] = [
      [good.slice(0, 5), /truncated: 5 bytes/],
      [good.slice(0, good.length - 3), /truncated: tensor 'w' ends at byte 8/],
      [handBuilt({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /8 bytes for shape \[3\] of F32 \(needs 12\)/],
      [handBuilt({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /dtype "F64" is not supported/],
      [handBuilt({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /starts at byte 4, expected 0/],
      [handBuilt({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /4 bytes after the last tensor/],
      [new Uint8Array([...new Uint8Array(new BigUint64Array([4n]).buffer), 123, 34, 120, 58]), /not valid JSON/],
      [new Uint8Array(new BigUint64Array([2n ** 40n]).buffer), /implausible/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => decodeSafetensors(bytes, 'test.safetensors')).toThrow(CheckpointError);
      expect(() => decodeSafetensors(bytes, 'test.safetensors')).toThrow(message);
    }
  });

  it('loads into a module with name and shape checks, and an interrupted save keeps the previous file', async () => {
    const path = join(dir, 'model.safetensors');
    const model = new Linear(3, 2);
    await saveSafetensors(path, model.stateDict());
    const before = readFileSync(path);
    const other = new Linear(3, 2);
    await loadIntoModule(other, path);
    expect(Array.from(await other.weight.toArray())).toEqual(Array.from(await model.weight.toArray()));
    await expect(loadIntoModule(new Linear(4, 2), path)).rejects.toThrow(/'weight' has shape \[2, 3\], the model needs \[2, 4\]/);
    const broken = tensor([1]);
    broken.dispose();
    await expect(saveSafetensors(path, [['weight', model.weight], ['bad', broken]])).rejects.toThrow(DisposedTensorError);
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    writeFileSync(join(dir, 'garbage.safetensors'), 'not a checkpoint at all');
    await expect(loadSafetensors(join(dir, 'garbage.safetensors'))).rejects.toThrow(/garbage.safetensors: header length \d+ is implausible|truncated/);
    await expect(loadSafetensors(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing.safetensors: cannot read/);
  });
});
