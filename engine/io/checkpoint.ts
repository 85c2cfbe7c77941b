// Checkpoint directories saved as one unit (tests: test/checkpoint.test.ts).
//
//   DIR/manifest.json                {format, version, step, kind, files: {role: {file, bytes, sha256}}, saved}
//   DIR/<role>-<step>.<ext>          the files it names: weights, training state, session, ...
//
// A save writes its files under names no other save uses (role, step and a unique suffix), then replaces
// manifest.json by a rename. Before that rename the previous manifest and its files are the checkpoint; after it,
// the new ones: an interrupted save can never leave a mix (the failure the per-file renames of earlier versions
// allowed). Files no manifest names, and temporaries of interrupted saves, are removed after each save and ignored
// when loading. Loading reads the manifest and then only the files asked for (eval needs the weights alone),
// checking each one's size and SHA-256, and that the step recorded inside it agrees with the manifest's; every
// problem names the file.
//
// Directories from before manifests (session.json, model.safetensors, training.safetensors) still load, without
// checksums; the next save converts them.

import { CheckpointError, decodeSafetensors, type DecodedCheckpoint } from './safetensors.ts';

export const MANIFEST = 'manifest.json';
const FORMAT = 'hiero-checkpoint';
const VERSION = 1;

export interface ManifestEntry {
  file: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: typeof FORMAT;
  version: number;
  /** Training steps the checkpoint holds. */
  step: number;
  /** What wrote it ('hrm', 'hnet', 'lm', ...): loaders check they were given the right kind. */
  kind: string;
  files: Record<string, ManifestEntry>;
  /** ISO time of the save. */
  saved: string;
  /** True for directories from before manifests (no checksums to check). */
  legacy?: boolean;
}

/** The content of one file of a save. Safetensors bytes carry the step in their metadata (`step`). */
export type CheckpointPayload = { role: string; extension: 'safetensors' | 'json'; bytes: Uint8Array };

type NodeFs = typeof import('node:fs/promises');
type NodePath = typeof import('node:path');

async function node(): Promise<{ fs: NodeFs; path: NodePath }> {
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  return {
    fs: (await import(/* @vite-ignore */ fsName)) as NodeFs,
    path: (await import(/* @vite-ignore */ pathName)) as NodePath,
  };
}

export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as unknown as ArrayBuffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function stepLabel(step: number): string {
  return String(step).padStart(6, '0');
}

async function exists(fs: NodeFs, path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function writeSynced(fs: NodeFs, path: string, bytes: Uint8Array | string): Promise<void> {
  const handle = await fs.open(path, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface SaveHooks {
  /** Called after each file is written and before the manifest (tests use it to interrupt a save). */
  afterFile?: (role: string) => void | Promise<void>;
}

/**
 * Saves `files` into `dir` as one unit at `step` (see the top of this file). Creates `dir` if needed. Returns the
 * manifest written.
 */
export async function saveCheckpoint(dir: string, kind: string, step: number, files: CheckpointPayload[], hooks: SaveHooks = {}): Promise<Manifest> {
  const { fs, path } = await node();
  await fs.mkdir(dir, { recursive: true });
  const unique = `${stepLabel(step)}-${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
  const entries: Record<string, ManifestEntry> = {};
  for (const f of files) {
    const file = `${f.role}-${unique}.${f.extension}`;
    await writeSynced(fs, path.join(dir, file), f.bytes);
    entries[f.role] = { file, bytes: f.bytes.byteLength, sha256: await sha256(f.bytes) };
    await hooks.afterFile?.(f.role);
  }
  const manifest: Manifest = { format: FORMAT, version: VERSION, step, kind, files: entries, saved: new Date().toISOString() };
  const temporary = path.join(dir, `${MANIFEST}.tmp-${unique}`);
  await writeSynced(fs, temporary, JSON.stringify(manifest, null, 2));
  await fs.rename(temporary, path.join(dir, MANIFEST));
  await removeUnlisted(dir, manifest);
  return manifest;
}

/** Removes what no manifest names: older saves' files, interrupted saves' files and temporaries. */
export async function removeUnlisted(dir: string, manifest: Manifest): Promise<string[]> {
  const { fs, path } = await node();
  const keep = new Set([MANIFEST, ...Object.values(manifest.files).map((e) => e.file)]);
  const removed: string[] = [];
  for (const name of await fs.readdir(dir)) {
    if (keep.has(name)) continue;
    const ours = /^[a-z-]+-\d{6}-[0-9a-z]+\.(safetensors|json)$/.test(name) || name.startsWith(`${MANIFEST}.tmp-`) ||
      /\.tmp-\d+-\d+$/.test(name) || (!manifest.legacy && ['session.json', 'model.safetensors', 'training.safetensors'].includes(name));
    if (!ours) continue;
    await fs.rm(path.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** True when `dir` holds a checkpoint (a manifest, or a directory from before manifests). */
export async function isCheckpoint(dir: string): Promise<boolean> {
  const { fs, path } = await node();
  return (await exists(fs, path.join(dir, MANIFEST))) || (await exists(fs, path.join(dir, 'session.json')));
}

/** The manifest of a checkpoint directory (a synthesised one, without checksums, for the legacy layout). */
export async function readManifest(dir: string): Promise<Manifest> {
  const { fs, path } = await node();
  const file = path.join(dir, MANIFEST);
  if (!(await exists(fs, file))) {
    if (await exists(fs, path.join(dir, 'session.json'))) return legacyManifest(dir);
    if (!(await exists(fs, dir))) throw new CheckpointError(`${dir}: no such checkpoint directory`);
    throw new CheckpointError(`${dir}: not a checkpoint directory (no ${MANIFEST})`);
  }
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new CheckpointError(`${file}: unreadable (${(error as Error).message})`);
  }
  return parseManifest(text, file);
}

/** A manifest's text, checked (any platform). */
export function parseManifest(text: string, origin: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${origin}: unreadable (${(error as Error).message})`);
  }
  if (manifest?.format !== FORMAT || typeof manifest.step !== 'number' || typeof manifest.files !== 'object' || !manifest.files) {
    throw new CheckpointError(`${origin}: not a Hiero checkpoint manifest`);
  }
  if (manifest.version > VERSION) throw new CheckpointError(`${origin}: written by a newer Hiero (format version ${manifest.version}); update Hiero to read it`);
  return manifest;
}

/** Checks a file's bytes against its manifest entry (size, SHA-256), naming the file when they differ. */
export async function verifyEntry(bytes: Uint8Array, entry: ManifestEntry, origin: string): Promise<Uint8Array> {
  if (bytes.byteLength !== entry.bytes) throw new CheckpointError(`${origin}: damaged (${bytes.byteLength} bytes, the manifest says ${entry.bytes})`);
  if ((await sha256(bytes)) !== entry.sha256) throw new CheckpointError(`${origin}: damaged (its SHA-256 does not match the manifest's)`);
  return bytes;
}

async function legacyManifest(dir: string): Promise<Manifest> {
  const { fs, path } = await node();
  let step = 0;
  let kind = 'hrm';
  try {
    const session = JSON.parse(await fs.readFile(path.join(dir, 'session.json'), 'utf8'));
    step = Number(session.step) || 0;
    kind = typeof session.config?.variant === 'string' ? 'hrm' : kind;
  } catch (error) {
    throw new CheckpointError(`${path.join(dir, 'session.json')}: unreadable (${(error as Error).message})`);
  }
  const files: Record<string, ManifestEntry> = { session: { file: 'session.json', bytes: -1, sha256: '' } };
  if (await exists(fs, path.join(dir, 'model.safetensors'))) files.weights = { file: 'model.safetensors', bytes: -1, sha256: '' };
  if (await exists(fs, path.join(dir, 'training.safetensors'))) files.training = { file: 'training.safetensors', bytes: -1, sha256: '' };
  return { format: FORMAT, version: VERSION, step, kind, files, saved: '', legacy: true };
}

/** The verified bytes of one file of a checkpoint: size and SHA-256 as the manifest says. */
export async function readCheckpointFile(dir: string, manifest: Manifest, role: string): Promise<Uint8Array> {
  const { fs, path } = await node();
  const entry = manifest.files[role];
  if (!entry) throw new CheckpointError(`${dir}: this checkpoint has no ${role} file (it holds: ${Object.keys(manifest.files).join(', ')})`);
  const file = path.join(dir, entry.file);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    throw new CheckpointError(`${file}: missing or unreadable (${(error as Error).message.split('\n')[0]})`);
  }
  if (manifest.legacy) return bytes;
  return verifyEntry(bytes, entry, file);
}

/** A verified safetensors file of a checkpoint, decoded; its recorded step must be the manifest's. */
export async function readCheckpointTensors(dir: string, manifest: Manifest, role: string): Promise<DecodedCheckpoint> {
  const bytes = await readCheckpointFile(dir, manifest, role);
  return decodeAtStep(bytes, `${dir}/${manifest.files[role].file}`, manifest.step);
}

function decodeAtStep(bytes: Uint8Array, file: string, step: number): DecodedCheckpoint {
  const decoded = decodeSafetensors(bytes, file);
  const recorded = decoded.metadata.step;
  if (recorded !== undefined && Number(recorded) !== step) {
    throw new CheckpointError(`${file}: holds step ${recorded}, but the checkpoint is at step ${step}`);
  }
  return decoded;
}

/** Where a model's weights come from: a checkpoint directory (by URL or path) or a safetensors file (bytes, URL or path). */
export type WeightsSource = { url: string } | { path: string } | { bytes: ArrayBuffer | Uint8Array; name?: string };

export interface LoadedWeights {
  decoded: DecodedCheckpoint;
  /** The checkpoint's step and kind when it came with a manifest. */
  step: number | null;
  kind: string | null;
  /** Where it came from, for messages. */
  origin: string;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new CheckpointError(`${url}: cannot fetch (${(error as Error).message})`);
  }
  if (!response.ok) throw new CheckpointError(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * A directory without a manifest that holds exactly one .safetensors file (weights downloaded from the playground or
 * exported by the worker, put in a folder of their own): that file's path; otherwise null.
 */
async function loneWeightsFile(dir: string): Promise<string | null> {
  const { fs, path } = await node();
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  if (names.includes(MANIFEST)) return null;
  const weights = names.filter((n) => n.endsWith('.safetensors'));
  return weights.length === 1 ? path.join(dir, weights[0]) : null;
}

/**
 * Names a path that holds no checkpoint before any work starts: a directory needs a manifest.json (then verified) or
 * exactly one .safetensors file; a file must exist.
 */
export async function assertWeightsSource(target: string): Promise<void> {
  const { fs } = await node();
  const info = await fs.stat(target).catch(() => null);
  if (!info) throw new CheckpointError(`${target}: no such checkpoint (a checkpoint directory or a .safetensors file)`);
  if (!info.isDirectory()) return;
  if (await loneWeightsFile(target)) return;
  const names = await fs.readdir(target).catch(() => [] as string[]);
  if (!names.includes(MANIFEST)) throw new CheckpointError(`${target}: holds neither a checkpoint (no ${MANIFEST}) nor a single .safetensors weights file`);
  await readManifest(target);
}

/**
 * The weights of a checkpoint from anywhere (browser or Node): a directory's weights file, verified against its
 * manifest, a single safetensors file, or a directory holding only one. Every problem is a CheckpointError naming
 * the source.
 */
export async function readWeights(source: WeightsSource): Promise<LoadedWeights> {
  if ('bytes' in source) {
    const origin = source.name ?? 'the uploaded checkpoint';
    const bytes = source.bytes instanceof Uint8Array ? source.bytes : new Uint8Array(source.bytes);
    return { decoded: decodeSafetensors(bytes, origin), step: null, kind: null, origin };
  }
  if ('path' in source) {
    const { fs } = await node();
    let isDirectory = false;
    try {
      isDirectory = (await fs.stat(source.path)).isDirectory();
    } catch {
      throw new CheckpointError(`${source.path}: no such checkpoint`);
    }
    if (!isDirectory) return { decoded: decodeSafetensors(await fs.readFile(source.path), source.path), step: null, kind: null, origin: source.path };
    const lone = await loneWeightsFile(source.path);
    if (lone) return { decoded: decodeSafetensors(await fs.readFile(lone), lone), step: null, kind: null, origin: lone };
    const manifest = await readManifest(source.path);
    return { decoded: await readCheckpointTensors(source.path, manifest, 'weights'), step: manifest.step, kind: manifest.kind, origin: source.path };
  }
  const url = source.url;
  if (/\.safetensors($|\?)/.test(url)) return { decoded: decodeSafetensors(await fetchBytes(url), url), step: null, kind: null, origin: url };
  const base = url.endsWith('/') ? url : url.endsWith(MANIFEST) ? url.slice(0, -MANIFEST.length) : `${url}/`;
  const manifest = parseManifest(new TextDecoder().decode(await fetchBytes(`${base}${MANIFEST}`)), `${base}${MANIFEST}`);
  const entry = manifest.files.weights;
  if (!entry) throw new CheckpointError(`${base}: this checkpoint has no weights file`);
  const file = `${base}${entry.file}`;
  const bytes = await verifyEntry(await fetchBytes(file), entry, file);
  return { decoded: decodeAtStep(bytes, file, manifest.step), step: manifest.step, kind: manifest.kind, origin: base };
}

/** A verified JSON file of a checkpoint, parsed. */
export async function readCheckpointJson<T>(dir: string, manifest: Manifest, role: string): Promise<T> {
  const bytes = await readCheckpointFile(dir, manifest, role);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (error) {
    throw new CheckpointError(`${dir}/${manifest.files[role].file}: unreadable JSON (${(error as Error).message})`);
  }
}
