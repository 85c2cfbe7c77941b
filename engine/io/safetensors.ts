// safetensors checkpoints (https://github.com/huggingface/safetensors, format section): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {str: str}},
// then the tensor bytes. Read: F32, F16 and BF16 (both widened to f32), I32, U32. Write: F32, I32, U32.
// Every structural rule of the format is checked, so a truncated or corrupt file fails with a message naming
// what is wrong, never deep inside the engine. Saving writes a temporary file and renames it over the target,
// so an interrupted save never destroys the previous checkpoint.

import { HieroError } from '../errors.ts';
import { tensor } from '../ops/creation.ts';
import type { AnyTypedArray, DType, Tensor } from '../tensor.ts';
import '../tensor-methods.ts';

export class CheckpointError extends HieroError {
  override name = 'CheckpointError';
}

export type StoredDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'U32';

const BYTES: Record<StoredDType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, U32: 4 };
const STORED: Record<DType, StoredDType> = { f32: 'F32', i32: 'I32', u32: 'U32' };
const MAX_HEADER = 100 * 1024 * 1024;

export interface HostTensor {
  dtype: DType;
  /** The dtype in the file (F16/BF16 were widened to f32). */
  stored: StoredDType;
  shape: number[];
  data: AnyTypedArray;
}

export interface DecodedCheckpoint {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

export function encodeSafetensors(tensors: Map<string, { dtype: DType; shape: readonly number[]; data: AnyTypedArray }>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()];
  for (const name of names) {
    const t = tensors.get(name)!;
    const bytes = t.data.byteLength;
    header[name] = { dtype: STORED[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // the data starts 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/** An IEEE half's bits as the number it holds (the .pt reader widens float16 storages with it too). */
export function widenHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

export function decodeSafetensors(input: ArrayBuffer | Uint8Array, source = 'checkpoint'): DecodedCheckpoint {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const fail = (why: string): never => {
    throw new CheckpointError(`${source}: ${why}`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER) fail(`header length ${headerLength} is implausible (corrupt file?)`);
  if (8 + headerLength > bytes.length) fail(`truncated: the header claims ${headerLength} bytes but the file has ${bytes.length - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    return fail(`the header is not valid JSON (${(error as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: [string, { stored: StoredDType; shape: number[]; begin: number; end: number }][] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!value || typeof value !== 'object') fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value as object)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!info || typeof info !== 'object') fail(`tensor '${name}': its entry is not an object`);
    const stored = info.dtype as StoredDType;
    if (!(typeof stored === 'string' && stored in BYTES)) fail(`tensor '${name}': dtype ${JSON.stringify(info.dtype)} is not supported (F32, F16, BF16, I32, U32)`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor '${name}': shape ${JSON.stringify(shape)} is not a list of sizes`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      fail(`tensor '${name}': data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as number[];
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * BYTES[stored];
    if (end < begin || end - begin !== expected) fail(`tensor '${name}': ${end - begin} bytes for shape [${shape}] of ${stored} (needs ${expected})`);
    if (end > dataLength) fail(`truncated: tensor '${name}' ends at byte ${end} of the data, which has only ${dataLength}`);
    entries.push([name, { stored, shape: shape as number[], begin, end }]);
  }
  // The format requires the tensors to tile the data exactly: no gaps, no overlaps.
  const sorted = [...entries].sort((a, b) => a[1].begin - b[1].begin);
  let cursor = 0;
  for (const [name, e] of sorted) {
    if (e.begin !== cursor) fail(`tensor '${name}' starts at byte ${e.begin}, expected ${cursor} (overlapping or gapped data)`);
    cursor = e.end;
  }
  if (cursor !== dataLength) fail(`${dataLength - cursor} bytes after the last tensor belong to no tensor`);

  const tensors = new Map<string, HostTensor>();
  for (const [name, e] of entries) {
    // A copy, aligned and owning its buffer (Node's Buffer.slice would return a view into a shared pool).
    const raw = new Uint8Array(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    const words = new DataView(raw.buffer);
    const n = (e.end - e.begin) / BYTES[e.stored];
    let data: AnyTypedArray;
    let dtype: DType = 'f32';
    switch (e.stored) {
      case 'F32': data = new Float32Array(raw.buffer); break;
      case 'I32': data = new Int32Array(raw.buffer); dtype = 'i32'; break;
      case 'U32': data = new Uint32Array(raw.buffer); dtype = 'u32'; break;
      case 'F16': data = Float32Array.from({ length: n }, (_, i) => widenHalf(words.getUint16(i * 2, true))); break;
      case 'BF16': {
        const widened = new Uint32Array(n);
        for (let i = 0; i < n; i++) widened[i] = words.getUint16(i * 2, true) << 16;
        data = new Float32Array(widened.buffer);
        break;
      }
    }
    tensors.set(name, { dtype, stored: e.stored, shape: e.shape, data });
  }
  return { tensors, metadata };
}

async function nodeFs() {
  const specifier = 'node:fs/promises';
  return (await import(/* @vite-ignore */ specifier)) as typeof import('node:fs/promises');
}

/** Reads tensors back from the GPU and encodes them (the only read-back; call outside training steps). */
export async function serializeTensors(named: Iterable<[string, Tensor]>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const host = new Map<string, { dtype: DType; shape: readonly number[]; data: AnyTypedArray }>();
  for (const [name, t] of named) host.set(name, { dtype: t.dtype, shape: t.shape, data: await t.toArray() });
  return encodeSafetensors(host, metadata);
}

/** Writes a checkpoint file atomically (Node): a temporary file in the same directory, then a rename over `path`. */
export async function saveSafetensors(path: string, named: Iterable<[string, Tensor]>, metadata: Record<string, string> = {}): Promise<void> {
  const bytes = await serializeTensors(named, metadata);
  await writeFileAtomic(path, bytes);
}

export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const fs = await nodeFs();
  const temporary = `${path}.tmp-${(globalThis as { process?: { pid: number } }).process?.pid ?? 0}-${Date.now()}`;
  try {
    const handle = await fs.open(temporary, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

/** Reads a checkpoint: a file path (Node, or a URL fetched in the browser), an ArrayBuffer, or a fetch Response. */
export async function readSafetensors(source: string | ArrayBuffer | Uint8Array | Response): Promise<DecodedCheckpoint> {
  if (typeof source === 'string') {
    const isNode = !!(globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
    if (isNode && !/^https?:/.test(source)) {
      const fs = await nodeFs();
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(source);
      } catch (error) {
        throw new CheckpointError(`${source}: cannot read (${(error as Error).message})`);
      }
      return decodeSafetensors(bytes, source);
    }
    const response = await fetch(source);
    if (!response.ok) throw new CheckpointError(`${source}: HTTP ${response.status}`);
    return decodeSafetensors(await response.arrayBuffer(), source);
  }
  if (typeof Response !== 'undefined' && source instanceof Response) return decodeSafetensors(await source.arrayBuffer(), source.url || 'response');
  return decodeSafetensors(source as ArrayBuffer | Uint8Array);
}

/** Uploads every tensor of a checkpoint to the GPU. */
export async function loadSafetensors(source: string | ArrayBuffer | Uint8Array | Response): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const decoded = await readSafetensors(source);
  return { tensors: uploadTensors(decoded.tensors), metadata: decoded.metadata };
}

/** Loads a checkpoint into a module, with the module's name/shape/dtype checks; the uploaded copies are freed after. */
export async function loadIntoModule(
  module: { loadStateDict(state: Map<string, Tensor>, options?: { strict?: boolean }): void },
  source: string | ArrayBuffer | Uint8Array | Response,
  options: { strict?: boolean } = {},
): Promise<Record<string, string>> {
  const decoded = await readSafetensors(source);
  loadHostWeights(module, decoded.tensors, options);
  return decoded.metadata;
}

/** Host tensors on the GPU, by name (the caller owns and frees them). */
export function uploadTensors(host: Map<string, HostTensor>): Map<string, Tensor> {
  return new Map([...host].map(([name, t]) => [name, tensor(t.data, t.shape, { dtype: t.dtype })]));
}

/**
 * Loads host tensors into a module (names, shapes and dtypes checked by its loadStateDict), freeing the uploads
 * whatever happens: the one way weights read from a file reach a model.
 */
export function loadHostWeights(module: { loadStateDict(tensors: Map<string, Tensor>, options?: { strict?: boolean }): void }, host: Map<string, HostTensor>, options?: { strict?: boolean }): void {
  const tensors = uploadTensors(host);
  try {
    module.loadStateDict(tensors, options);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
