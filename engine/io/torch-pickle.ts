// PyTorch checkpoints (`torch.save`, the zip layout of PyTorch ≥ 1.6) read without Python and without running
// anything a file says: a zip archive holding `<name>/data.pkl` (a pickle of the saved object, whose tensors point
// at storages by persistent id), `<name>/data/<key>` (each storage's raw bytes) and `<name>/byteorder`. The pickle
// is interpreted by a small machine that knows only the opcodes of containers, numbers and strings, and only the
// globals a state dict needs (OrderedDict, the tensor and parameter rebuilders, the storage types); any other global
// — a function, a class, `os.system` — is refused by name before anything is built, so a hostile file can fail but
// never act. Tests: test/torch-checkpoint.test.ts (fixtures written by PyTorch: test/fixtures/torch/).

import { CheckpointError, widenHalf, type HostTensor } from './safetensors.ts';

const MAX_NESTING = 32;
const scratchBits = new Uint32Array(1);
const scratchFloat = new Float32Array(scratchBits.buffer);

/** The element types of torch storages this reader takes. */
export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGES: Record<string, TorchDType> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
};
const DTYPE_NAMES: Record<string, TorchDType> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16', half: 'float16', bfloat16: 'bfloat16',
  int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16', int8: 'int8', uint8: 'uint8', bool: 'bool',
};
const ITEM_BYTES: Record<TorchDType, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 };

/** A tensor read from a .pt file: floats widened to f32, integers to i32 (refused where they do not fit). */
export interface TorchTensor {
  dtype: TorchDType;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface TorchCheckpoint {
  /** Every tensor of the saved object, nested dict keys joined by '.' ('model.layer.weight'). */
  tensors: Map<string, TorchTensor>;
  /** Every number, string or boolean found beside them, under the same kind of key. */
  values: Map<string, number | string | boolean | null>;
}

// ---- zip ----

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function zipEntries(bytes: Uint8Array, fail: (why: string) => never): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('not a zip archive (no end of central directory): neither the zip layout torch.save writes nor a truncated copy of it');
  let count = view.getUint16(eocd + 10, true);
  let directory = view.getUint32(eocd + 16, true);
  if (count === 0xffff || directory === 0xffffffff) {
    // Zip64: the locator just before the end record points at the zip64 end record.
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) fail('a zip64 archive without its zip64 locator');
    const end64 = Number(view.getBigUint64(locator + 8, true));
    if (end64 + 56 > bytes.length || view.getUint32(end64, true) !== 0x06064b50) fail('a zip64 end record outside the file');
    count = Number(view.getBigUint64(end64 + 32, true));
    directory = Number(view.getBigUint64(end64 + 48, true));
  }
  const entries = new Map<string, ZipEntry>();
  let at = directory;
  for (let k = 0; k < count; k++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) fail(`the zip directory's entry ${k} is corrupt`);
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localOffset = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // Zip64 sizes and offset, in that order, for the fields that overflowed.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const length = view.getUint16(extra + 2, true);
      if (id === 0x0001) {
        let field = extra + 4;
        const next = () => {
          const value = Number(view.getBigUint64(field, true));
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      extra += 4 + length;
    }
    entries.set(name, { name, method, compressedSize, size, localOffset });
    at = extraEnd + commentLength;
  }
  return entries;
}

async function zipRead(bytes: Uint8Array, entry: ZipEntry, fail: (why: string) => never): Promise<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localOffset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== 0x04034b50) fail(`the zip entry '${entry.name}' has no local header where the directory says`);
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  if (start + entry.compressedSize > bytes.length) fail(`truncated: the zip entry '${entry.name}' runs past the end of the file`);
  const raw = bytes.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return raw;
  if (entry.method === 8) {
    // Deflated entries (torch.save stores, but a re-zipped archive may deflate): the platform's inflater, Node or browser.
    const inflated = new Blob([raw.slice()]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    const out = new Uint8Array(await new Response(inflated).arrayBuffer());
    if (out.length !== entry.size) fail(`the zip entry '${entry.name}' inflates to ${out.length} bytes, the directory says ${entry.size}`);
    return out;
  }
  return fail(`the zip entry '${entry.name}' uses compression method ${entry.method} (only stored and deflate are read)`);
}

// ---- pickle ----

class Global {
  constructor(readonly module: string, readonly name: string) {}
}
class StorageRef {
  constructor(readonly dtype: TorchDType, readonly key: string) {}
}
class TorchView {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}
/** A dict: keys in insertion order (Python dicts and OrderedDicts alike). */
type PickleDict = Map<unknown, unknown>;

/** The globals a state dict pickles; anything else is refused by name. */
function allowedGlobal(module: string, name: string): boolean {
  if (module === 'collections' && name === 'OrderedDict') return true;
  if (module === 'torch._utils' && (name === '_rebuild_tensor_v2' || name === '_rebuild_parameter')) return true;
  if (module === 'torch' && (name in STORAGES || name in DTYPE_NAMES)) return true;
  return false;
}

function call(fn: unknown, args: unknown, fail: (why: string) => never): unknown {
  if (!(fn instanceof Global)) return fail(`REDUCE applies ${describe(fn)}, which is not a global this reader allows`);
  const list = Array.isArray(args) ? args : fail(`REDUCE of ${fn.module}.${fn.name} without an argument tuple`);
  if (fn.module === 'collections') return new Map();
  if (fn.name === '_rebuild_parameter') return list[0];
  if (fn.name === '_rebuild_tensor_v2') {
    const [storage, offset, shape, stride] = list;
    if (!(storage instanceof StorageRef)) return fail('_rebuild_tensor_v2 of something that is not a storage');
    const ints = (v: unknown, what: string) => (Array.isArray(v) && v.every((d) => Number.isInteger(d) && d >= 0) ? (v as number[]) : fail(`_rebuild_tensor_v2: the ${what} ${describe(v)} is not a tuple of sizes`));
    if (!Number.isInteger(offset) || (offset as number) < 0) return fail(`_rebuild_tensor_v2: storage offset ${describe(offset)} is not a size`);
    const size = ints(shape, 'shape');
    const strides = ints(stride, 'stride');
    if (size.length !== strides.length) return fail(`_rebuild_tensor_v2: shape [${size}] and stride [${strides}] differ in rank`);
    return new TorchView(storage, offset as number, size, strides);
  }
  return fail(`${fn.module}.${fn.name} is not callable here`);
}

function describe(v: unknown): string {
  if (v instanceof Global) return `${v.module}.${v.name}`;
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return 'a tuple';
  return JSON.stringify(v) ?? String(v);
}

function unpickle(bytes: Uint8Array, fail: (why: string) => never): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder('utf-8');
  const latin1 = new TextDecoder('latin1');
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let at = 0;
  const need = (n: number) => {
    if (at + n > bytes.length) fail(`truncated pickle at byte ${at}`);
  };
  const u8 = () => (need(1), bytes[at++]);
  const u16 = () => (need(2), (at += 2), view.getUint16(at - 2, true));
  const u32 = () => (need(4), (at += 4), view.getUint32(at - 4, true));
  const i32 = () => (need(4), (at += 4), view.getInt32(at - 4, true));
  const take = (n: number) => (need(n), (at += n), bytes.subarray(at - n, at));
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('truncated pickle: a line without its end');
    const s = latin1.decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const pop = () => (stack.length ? stack.pop() : fail(`pickle stack underflow at byte ${at}`));
  const top = () => (stack.length ? stack[stack.length - 1] : fail(`pickle stack underflow at byte ${at}`));
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) fail(`pickle: no mark to pop at byte ${at}`);
    return stack.splice(m!);
  };
  const global = (module: string, name: string) => {
    if (!allowedGlobal(module, name)) {
      fail(`refusing the global ${module}.${name}: a checkpoint may hold only tensors, dicts, lists, numbers and strings (this file would run code when unpickled by PyTorch)`);
    }
    return new Global(module, name);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) fail(`SETITEM on ${describe(target)}, not a dict`);
    for (let i = 0; i + 1 < items.length; i += 2) (target as PickleDict).set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target)) fail(`APPEND on ${describe(target)}, not a list`);
    (target as unknown[]).push(...items);
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: take(8); break; // FRAME
      case 0x2e: return pop(); // STOP
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { // DICT
        const items = popMark();
        const d = new Map();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x8a: { // LONG1
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail(`an integer ${v} beyond 2^53`);
        stack.push(Number(v));
        break;
      }
      case 0x47: { need(8); stack.push(view.getFloat64(at, false)); at += 8; break; } // BINFLOAT (big-endian)
      case 0x58: stack.push(text.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(text.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: { need(8); const n = Number(view.getBigUint64(at, true)); at += 8; stack.push(text.decode(take(n))); break; } // BINUNICODE8
      case 0x54: stack.push(latin1.decode(take(u32()))); break; // BINSTRING
      case 0x55: stack.push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`pickle memo ${k} read before it was written`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: { const module = line(); stack.push(global(module, line())); break; } // GLOBAL
      case 0x93: { const name = pop(); const module = pop(); stack.push(global(String(module), String(name))); break; } // STACK_GLOBAL
      case 0x52: { const args = pop(); stack.push(call(pop(), args, fail)); break; } // REDUCE
      case 0x51: { // BINPERSID: ('storage', storage type, key, location, numel)
        const id = pop();
        if (!Array.isArray(id) || id[0] !== 'storage' || !(id[1] instanceof Global)) fail(`a persistent id ${describe(id)} that is not a torch storage`);
        const type = (id as unknown[])[1] as Global;
        const dtype = STORAGES[type.name] ?? DTYPE_NAMES[type.name];
        if (!dtype) fail(`storage of type ${type.module}.${type.name}, which this reader does not take`);
        stack.push(new StorageRef(dtype, String((id as unknown[])[2])));
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x62: { // BUILD: a state for the object below; an OrderedDict's is its __dict__ (state_dict's _metadata)
        pop();
        if (!(top() instanceof Map)) fail(`BUILD on ${describe(top())}: only dicts take a state here`);
        break;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      default:
        fail(`pickle opcode 0x${op.toString(16)} at byte ${at - 1} is not one a tensor checkpoint uses (objects, code and extensions are refused)`);
    }
  }
}

// ---- tensors ----

function materialize(v: TorchView, storages: Map<string, Uint8Array>, name: string, fail: (why: string) => never): TorchTensor {
  const raw = storages.get(v.storage.key) ?? fail(`tensor '${name}': its storage ${v.storage.key} is not in the archive`);
  const item = ITEM_BYTES[v.storage.dtype];
  const words = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const count = v.shape.reduce((a, b) => a * b, 1);
  let last = v.offset;
  v.shape.forEach((d, i) => (last += d > 0 ? (d - 1) * v.stride[i] : 0));
  if (count > 0 && (last + 1) * item > raw.length) fail(`tensor '${name}': shape [${v.shape}] with stride [${v.stride}] reads past its storage of ${raw.length / item} elements`);
  const float = ['float32', 'float64', 'float16', 'bfloat16'].includes(v.storage.dtype);
  const data = float ? new Float32Array(count) : new Int32Array(count);
  const read = (e: number): number => {
    const b = e * item;
    switch (v.storage.dtype) {
      case 'float32': return words.getFloat32(b, true);
      case 'float64': return words.getFloat64(b, true);
      case 'float16': return widenHalf(words.getUint16(b, true));
      case 'bfloat16': {
        // bfloat16 is a float32's upper half: shift its bits up through one reused word.
        scratchBits[0] = words.getUint16(b, true) << 16;
        return scratchFloat[0];
      }
      case 'int64': {
        const x = words.getBigInt64(b, true);
        if (x > 2147483647n || x < -2147483648n) fail(`tensor '${name}': the int64 value ${x} does not fit in int32`);
        return Number(x);
      }
      case 'int32': return words.getInt32(b, true);
      case 'int16': return words.getInt16(b, true);
      case 'int8': return words.getInt8(b);
      case 'uint8': case 'bool': return words.getUint8(b);
    }
  };
  const index = new Array<number>(v.shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let e = v.offset;
    for (let d = 0; d < index.length; d++) e += index[d] * v.stride[d];
    data[i] = read(e);
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d] < v.shape[d]) break;
      index[d] = 0;
    }
  }
  return { dtype: v.storage.dtype, shape: [...v.shape], data };
}


/** Whether these bytes look like a torch.save zip (for telling .pt from safetensors without trusting the name). */
export function isTorchZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** Reads a torch.save file's tensors (and the plain values beside them); refuses anything else by name. */
export async function decodeTorchCheckpoint(input: ArrayBuffer | Uint8Array, source = 'checkpoint'): Promise<TorchCheckpoint> {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const fail = (why: string): never => {
    throw new CheckpointError(`${source}: ${why}`);
  };
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) fail('the legacy torch.save format (PyTorch < 1.6, a bare pickle) is not read: re-save it with a current PyTorch');
  const entries = zipEntries(bytes, fail);
  const pickleEntry = [...entries.values()].find((e) => /^[^/]+\/data\.pkl$/.test(e.name)) ?? fail(`no <name>/data.pkl in the archive (entries: ${[...entries.keys()].slice(0, 6).join(', ')}): not a torch.save file`);
  const root = pickleEntry.name.slice(0, -'data.pkl'.length);
  const order = entries.get(`${root}byteorder`);
  if (order && new TextDecoder().decode(await zipRead(bytes, order, fail)).trim() !== 'little') fail('saved big-endian (byteorder is not little): not read');
  const object = unpickle(await zipRead(bytes, pickleEntry, fail), fail);
  const storages = new Map<string, Uint8Array>();
  for (const entry of entries.values()) {
    if (entry.name.startsWith(`${root}data/`)) storages.set(entry.name.slice(`${root}data/`.length), await zipRead(bytes, entry, fail));
  }
  const tensors = new Map<string, TorchTensor>();
  const values = new Map<string, number | string | boolean | null>();
  // A pickle can nest without bound or hold itself (a memo read back into its own container): a checkpoint nests a few levels.
  const walk = (v: unknown, name: string, depth = 0) => {
    if (depth > MAX_NESTING) fail(`'${name}' is nested more than ${MAX_NESTING} containers deep (or contains itself): not a checkpoint's layout`);
    if (v instanceof TorchView) {
      tensors.set(name, materialize(v, storages, name || '(the root)', fail));
    } else if (v instanceof Map) {
      for (const [k, item] of v) walk(item, name ? `${name}.${String(k)}` : String(k), depth + 1);
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, name ? `${name}.${i}` : String(i), depth + 1));
    } else if (v === null || ['number', 'string', 'boolean'].includes(typeof v)) {
      values.set(name, v as number | string | boolean | null);
    } else if (v instanceof Uint8Array) {
      values.set(name, `<${v.length} bytes>`);
    } else {
      fail(`'${name}' holds ${describe(v)}, which is not a tensor, a container or a plain value`);
    }
  };
  walk(object, '');
  return { tensors, values };
}

/** A .pt tensor as the safetensors reader returns one (f32 or i32 on the host), for the one loading path. */
export function hostTensorOf(t: TorchTensor): HostTensor {
  const stored = t.dtype === 'float16' ? 'F16' : t.dtype === 'bfloat16' ? 'BF16' : t.data instanceof Float32Array ? 'F32' : 'I32';
  return { dtype: t.data instanceof Float32Array ? 'f32' : 'i32', stored, shape: t.shape, data: t.data };
}

// ---- writing ----

let crcTable: Uint32Array | null = null;

function crc32(bytes: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A stored (uncompressed) zip, each entry's data 64-byte aligned as torch.save writes it. */
function zipStored(files: [string, Uint8Array][]): Uint8Array {
  const encoder = new TextEncoder();
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBytes = encoder.encode(name);
    const pad = (64 - ((offset + 30 + nameBytes.length + 4) % 64)) % 64;
    const extra = new Uint8Array(4 + pad);
    new DataView(extra.buffer).setUint16(0, 0x4646, true); // an id no reader interprets ('FF': padding)
    new DataView(extra.buffer).setUint16(2, pad, true);
    const crc = crc32(data);
    const local = new Uint8Array(30 + nameBytes.length + extra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, extra.length, true);
    local.set(nameBytes, 30);
    local.set(extra, 30 + nameBytes.length);
    const entry = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(entry.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    entry.set(nameBytes, 46);
    locals.push(local, data);
    central.push(entry);
    offset += local.length + data.length;
  }
  const centralSize = central.reduce((a, e) => a + e.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, centralSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + centralSize + 22);
  let at = 0;
  for (const part of [...locals, ...central, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The bytes of a pickle (protocol 2) of an OrderedDict of tensors, storages by persistent id as torch.save does. */
function pickleStateDict(entries: [string, { storage: string; key: string; shape: number[] }][]): Uint8Array {
  const out: number[] = [];
  const encoder = new TextEncoder();
  const op = (...bytes: number[]) => out.push(...bytes);
  const int = (v: number) => {
    op(0x4a);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    op(...b);
  };
  const str = (s: string) => {
    const b = encoder.encode(s);
    op(0x58);
    const n = new Uint8Array(4);
    new DataView(n.buffer).setUint32(0, b.length, true);
    op(...n, ...b);
  };
  const global = (module: string, name: string) => op(0x63, ...encoder.encode(`${module}\n${name}\n`));
  const tuple = (items: number[]) => {
    op(0x28);
    for (const v of items) int(v);
    op(0x74);
  };
  op(0x80, 0x02);
  global('collections', 'OrderedDict');
  op(0x29, 0x52, 0x28); // OrderedDict() and a mark for its items
  for (const [name, t] of entries) {
    if (t.shape.some((d) => d > 0x7fffffff)) throw new CheckpointError(`${name}: a dimension over 2^31 is not written`);
    str(name);
    global('torch._utils', '_rebuild_tensor_v2');
    op(0x28); // the arguments
    op(0x28);
    str('storage');
    global('torch', t.storage);
    str(t.key);
    str('cpu');
    int(t.shape.reduce((a, b) => a * b, 1));
    op(0x74, 0x51); // the persistent id, resolved to the storage by torch.load
    int(0);
    tuple(t.shape);
    const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    tuple(strides);
    op(0x89); // requires_grad False
    global('collections', 'OrderedDict');
    op(0x29, 0x52); // backward hooks: an empty OrderedDict
    op(0x74, 0x52);
  }
  op(0x75, 0x2e); // SETITEMS, STOP
  return Uint8Array.from(out);
}

/**
 * A torch.save file of a flat state dict that torch.load reads (float32 tensors; bfloat16 where asked, as the
 * official HRM keeps its initial states): the inverse of decodeTorchCheckpoint on what it writes.
 */
export function encodeTorchCheckpoint(tensors: Map<string, { shape: readonly number[]; data: Float32Array; dtype?: 'float32' | 'bfloat16' }>, archive = 'archive'): Uint8Array {
  const files: [string, Uint8Array][] = [];
  const entries: [string, { storage: string; key: string; shape: number[] }][] = [];
  let key = 0;
  const storages: [string, Uint8Array][] = [];
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new CheckpointError(`${name}: ${t.data.length} values for shape [${t.shape}]`);
    let bytes: Uint8Array;
    if (t.dtype === 'bfloat16') {
      // Round to nearest even, as torch's float → bfloat16 conversion does.
      const words = new Uint32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
      const half = new Uint16Array(count);
      for (let i = 0; i < count; i++) {
        const w = words[i];
        half[i] = (w & 0x7fffffff) > 0x7f800000 ? (w >>> 16) | 0x40 : (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
      }
      bytes = new Uint8Array(half.buffer);
    } else bytes = new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
    entries.push([name, { storage: t.dtype === 'bfloat16' ? 'BFloat16Storage' : 'FloatStorage', key: String(key), shape: [...t.shape] }]);
    storages.push([`${archive}/data/${key}`, bytes]);
    key++;
  }
  files.push([`${archive}/data.pkl`, pickleStateDict(entries)]);
  files.push([`${archive}/byteorder`, new TextEncoder().encode('little')]);
  files.push(...storages);
  files.push([`${archive}/version`, new TextEncoder().encode('3\n')]);
  return zipStored(files);
}
