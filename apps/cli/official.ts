// `hiero import` and `hiero export --format official`: HRM checkpoints between Hiero and the official code
// (sapientinc/HRM; the mapping: model/official-hrm.ts; tests: test/official-checkpoints.test.ts).

import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  CheckpointError, decodeSafetensors, decodeTorchCheckpoint, encodeSafetensors, encodeTorchCheckpoint, hostTensorOf, isTorchZip, readCheckpointFile,
  init, readManifest, saveCheckpoint, writeFileAtomic, type HostTensor,
} from '../../engine/index.ts';
import { loadTask } from '../../model/hrm-session.ts';
import { loadArcDirectory } from '../../model/tasks/arc.ts';
import { specOf } from '../../model/kinds/index.ts';
import type { HRMConfig } from '../../model/hrm.ts';
import { arcPuzzleRows, hrmFromOfficial, hrmToOfficial } from '../../model/official-hrm.ts';
import type { HNetConfig } from '../../model/hnet.ts';
import { hnetFromOfficial, hnetToOfficial } from '../../model/official-hnet.ts';
import { FLA_MODEL_TYPES, isFlaModelType, recurrentFromFla, recurrentToFla } from '../../model/official-fla.ts';
import { kindOfDecoded, modelFromWeights, type LoadedModel } from '../../model/registry.ts';
import type { RecurrentConfig } from '../../model/recurrent-lm.ts';
import { TRAIN_OPTIONS } from '../../model/options.ts';
import { UsageError, type CommandSpec, type Parsed } from './args.ts';
import { checkOutput, NEW_CHECKPOINT_OPTIONS } from './output.ts';

export const importSpec: CommandSpec = {
  name: 'import',
  summary: "Makes a Hiero checkpoint from the official HRM code's (sapientinc/HRM): a torch.save file (its step_N,\nread without Python; anything but tensors is refused by name and never run) or safetensors, with the\nall_config.yaml beside it; from the official H-Net's (goombalab/hnet: its .pt with --config its JSON config);\nor from a flash-linear-attention HGRN, HGRN2, GLA, RetNet or Mamba-2 (a directory with config.json and\nmodel.safetensors). The result evaluates and serves like a checkpoint Hiero trained.",
  positionals: '',
  options: {
    from: { type: 'string', help: "the official checkpoint file (step_N), or its directory (then its latest step_N); the official H-Net's .pt; or an fla model directory (config.json, model.safetensors)", value: 'PATH' },
    config: { type: 'string', help: "the official all_config.yaml, the official H-Net's JSON config, or fla's config.json (default: the one beside the checkpoint)", value: 'FILE' },
    task: { ...TRAIN_OPTIONS.task, help: "the Hiero task the model is used on (default: from the config's data_path: sudoku → sudoku-9x9-hard; mazes and ARC need --task, maze-N or arc:DIR)" },
    identifiers: { type: 'string', help: "ARC: the official dataset's identifiers.json, which names each puzzle embedding row (default: beside the checkpoint, else in the config's data_path)", value: 'FILE' },
    ...NEW_CHECKPOINT_OPTIONS,
  },
};

/**
 * Writes an imported model as a Hiero checkpoint, after building it from the same bytes through the one loading path
 * (modelFromWeights: the kind's config validated, every tensor's name and shape loaded strictly), so a file the map
 * does not explain fails by name with nothing written into --out. Returns the built model (the caller disposes it).
 */
async function saveImported(out: string, step: number, weights: Map<string, HostTensor>, metadata: Record<string, string>, origin: string): Promise<LoadedModel> {
  const bytes = encodeSafetensors(weights, metadata);
  await init(); // building the model to check it needs the device (a CPU driver serves)
  const loaded = modelFromWeights(decodeSafetensors(bytes, origin), origin);
  try {
    await saveCheckpoint(out, loaded.kind, step, [{ role: 'weights', extension: 'safetensors', bytes }]);
  } catch (error) {
    loaded.model.dispose();
    throw error;
  }
  return loaded;
}

/** The latest step_N in a directory of official checkpoints. */
async function latestStep(dir: string): Promise<string> {
  const steps = (await readdir(dir)).map((n) => /^step_(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null);
  if (steps.length === 0) throw new UsageError(`import: ${dir} holds no step_N checkpoint file (the files pretrain.py saves)`);
  return join(dir, steps.sort((a, b) => Number(b[1]) - Number(a[1]))[0][0]);
}

/** Tensors of either file format, told apart by content, not by name. */
async function officialTensors(path: string): Promise<Map<string, HostTensor>> {
  const bytes = new Uint8Array(await readFile(path));
  // safetensors: an 8-byte length, then its JSON header. A bare pickle (0x80: the legacy torch.save format) goes to
  // the torch reader too, which names it.
  const safetensors = bytes.length > 8 && bytes[8] === 0x7b;
  if (isTorchZip(bytes) || (!safetensors && bytes[0] === 0x80)) {
    const { tensors } = await decodeTorchCheckpoint(bytes, path);
    return new Map([...tensors].map(([k, t]) => [k, hostTensorOf(t)]));
  }
  return decodeSafetensors(bytes, path).tensors;
}

/** The Hiero task an official run's data_path names, where one corresponds. */
function taskOfDataPath(dataPath: string, origin: string): string {
  const name = basename(dataPath.replace(/\/+$/, ''));
  // What `hiero export --format official` names a task the official builders do not make.
  const exported = /^hiero-(.+)$/.exec(name);
  if (exported) return exported[1];
  if (/sudoku/i.test(name)) return 'sudoku-9x9-hard';
  const maze = /maze-(\d+)x\1/i.exec(name);
  if (maze) {
    const n = Number(maze[1]);
    if (n % 2 === 1 && n >= 7) return `maze-${n}`;
    throw new UsageError(`import: ${origin} was trained on ${n}×${n} mazes; Hiero generates mazes of odd sides: pass --task maze-${n - 1 >= 7 ? n - 1 : 7}|maze-${n + 1} (a model with rope positions reads either)`);
  }
  if (/arc/i.test(name)) throw new UsageError(`import: ${origin} was trained on ARC (${name}); pass --task arc:DIR with the ARC task files it serves`);
  throw new UsageError(`import: ${origin}'s data_path ${JSON.stringify(dataPath)} names no task Hiero knows; pass --task`);
}

/** The official ARC dataset's identifiers.json: given, beside the checkpoint, or in the run's data_path. */
async function arcIdentifiers(given: string | undefined, file: string, dataPath: string): Promise<string> {
  const candidates = given ? [given] : [join(dirname(file), 'identifiers.json'), ...(dataPath ? [join(dataPath, 'identifiers.json')] : [])];
  for (const c of candidates) if (await stat(c).catch(() => null)) return c;
  if (given) throw new UsageError(`import: no ${given}`);
  throw new UsageError(`import: an ARC model's puzzle embedding is indexed by its dataset's identifiers.json (build_arc_dataset.py writes it into the output directory), not found at ${candidates.join(' or ')}; pass --identifiers FILE`);
}

/** A JSON file; Python's json writes inf as a bare Infinity (Mamba-2's dt_limit), read here as 1e999, which is Infinity. */
async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse((await readFile(path, 'utf8')).replace(/(?<=[:\[,]\s*)(-?)Infinity\b/g, (_, sign: string) => `${sign}1e999`));
  } catch (error) {
    throw new CheckpointError(`${path}: not valid JSON (${(error as Error).message})`);
  }
}

export async function importCheckpoint(p: Parsed): Promise<number> {
  const from = p.values.from as string | undefined;
  const out = p.values.out as string | undefined;
  if (!from) throw new UsageError('import: give --from PATH, the official checkpoint file (step_N) or its directory');
  if (!out) throw new UsageError('import: give --out DIR for the Hiero checkpoint');
  const info = await stat(from).catch(() => null);
  if (!info) throw new UsageError(`import: ${from} does not exist`);
  const flaConfig = (p.values.config as string | undefined)?.endsWith('.json') ? (p.values.config as string) : info.isDirectory() ? join(from, 'config.json') : null;
  if (flaConfig && (await stat(flaConfig).catch(() => null))) return importJson(from, info.isDirectory(), flaConfig, out, p);
  const file = info.isDirectory() ? await latestStep(from) : from;
  const configPath = (p.values.config as string | undefined) ?? join(dirname(file), 'all_config.yaml');
  const configText = await readFile(configPath, 'utf8').catch(() => null);
  if (configText === null) throw new UsageError(`import: no ${configPath} (the all_config.yaml pretrain.py writes beside its checkpoints); pass --config FILE`);
  let config: Record<string, unknown>;
  try {
    // The core schema: plain maps, lists and scalars, no tags (a YAML file builds no objects either).
    config = parseYaml(configText, { schema: 'core', customTags: [] }) as Record<string, unknown>;
  } catch (error) {
    throw new CheckpointError(`${configPath}: not valid YAML (${(error as Error).message})`);
  }
  if (!config || typeof config !== 'object' || !config.arch || typeof config.arch !== 'object') throw new CheckpointError(`${configPath}: no arch section (an official all_config.yaml has one)`);
  await checkOutput(out, Boolean(p.values.force));
  const taskName = (p.values.task as string | undefined) ?? taskOfDataPath(String(config.data_path ?? ''), configPath);
  const task = await loadTask(taskName, { train: 1, test: 1, seed: 1 });
  const state = await officialTensors(file);
  const imported = hrmFromOfficial(state, config.arch as Record<string, unknown>, task.seqLen, file);
  const { weights } = imported;
  let hrm = imported.config;
  if (!task.arcTasks && p.given.has('identifiers')) throw new UsageError(`import --identifiers applies to ARC models; ${taskName} has no puzzle identifiers`);
  if (task.arcTasks) {
    const path = await arcIdentifiers(p.values.identifiers as string | undefined, file, String(config.data_path ?? ''));
    hrm = arcPuzzleRows(weights, hrm, task.arcTasks.map((t) => t.name), await readJson(path), path);
  }
  if (hrm.vocab !== task.vocab) throw new CheckpointError(`${file}: a vocabulary of ${hrm.vocab} tokens, but ${taskName}'s has ${task.vocab}`);
  if (hrm.puzzleIds < task.puzzleIds) throw new CheckpointError(`${file}: ${hrm.puzzleIds} puzzle identifiers, but ${taskName} has ${task.puzzleIds} tasks`);
  const step = Number(/step_(\d+)$/.exec(file)?.[1] ?? 0);
  const { model } = await saveImported(out, step, weights, {
    model: 'hrm', config: JSON.stringify(hrm), task: taskName, step: String(step),
    heldOut: JSON.stringify({ seed: 1, train: 1, test: 500 }), importedFrom: `sapientinc/HRM ${basename(file)}`,
  }, file);
  console.log(`wrote ${out}: the official HRM ${basename(file)} (${model.parameterCount().toLocaleString('en-US')} parameters, hidden ${hrm.hidden}, ${hrm.hLayers}+${hrm.lLayers} layers) for ${taskName}`);
  console.log(`  try: hiero eval --checkpoint ${out}`);
  model.dispose();
  return 0;
}

/** A JSON-configured language model: the official H-Net's (arch_layout), else an fla model's (model_type). */
async function importJson(from: string, isDirectory: boolean, configPath: string, out: string, p: Parsed): Promise<number> {
  for (const name of ['task', 'identifiers']) if (p.given.has(name)) throw new UsageError(`import --${name} applies to official HRM checkpoints; a language model needs none`);
  const raw = (await readJson(configPath)) as Record<string, unknown>;
  if (!raw || typeof raw !== 'object') throw new CheckpointError(`${configPath}: not a JSON object`);
  return 'arch_layout' in raw ? importHnet(from, isDirectory, raw, out, p) : importFla(from, isDirectory, raw, out, p);
}

/** The official H-Net (goombalab/hnet: a torch.save state dict, or safetensors, and its JSON config) as a Hiero H-Net. */
async function importHnet(from: string, isDirectory: boolean, raw: Record<string, unknown>, out: string, p: Parsed): Promise<number> {
  let file = from;
  if (isDirectory) {
    const candidates = (await readdir(from)).filter((n) => /\.(pt|pth|bin|safetensors)$/.test(n));
    if (candidates.length !== 1) throw new UsageError(`import: ${from} holds ${candidates.length === 0 ? 'no' : candidates.length} weight files (.pt, .safetensors); pass --from FILE`);
    file = join(from, candidates[0]);
  }
  const state = await officialTensors(file);
  await checkOutput(out, Boolean(p.values.force));
  const { config, weights } = hnetFromOfficial(new Map(state), raw, file);
  const { model } = await saveImported(out, 0, weights, { model: 'hnet', config: JSON.stringify(config), step: '0', importedFrom: `goombalab/hnet ${basename(file)}` }, file);
  console.log(`wrote ${out}: the official H-Net ${basename(file)} (${model.parameterCount().toLocaleString('en-US')} parameters, ${config.widths.length - 1} chunking stage${config.widths.length > 2 ? 's' : ''}, widths ${config.widths.join('/')})`);
  console.log(`  the official config holds no training choices: Hiero's are the paper's (target bytes per chunk ${config.ratios.join(', ')}, α ${config.alpha})`);
  console.log(`  try: hiero generate --checkpoint ${out} "The "`);
  model.dispose();
  return 0;
}

/** A Hugging Face-style fla checkpoint (config.json + model.safetensors) as a Hiero language model (HGRN, HGRN2, GLA, RetNet, Mamba-2). */
async function importFla(from: string, isDirectory: boolean, raw: Record<string, unknown>, out: string, p: Parsed): Promise<number> {
  const file = isDirectory ? join(from, 'model.safetensors') : from;
  const state = await officialTensors(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new UsageError(`import: no ${file} (fla checkpoints saved with save_pretrained hold one model.safetensors; sharded ones are not read)`);
    throw error;
  });
  await checkOutput(out, Boolean(p.values.force));
  const { kind, config, weights } = recurrentFromFla(new Map(state), raw, file);
  const { model } = await saveImported(out, 0, weights, { model: kind, config: JSON.stringify(config), step: '0', importedFrom: `flash-linear-attention ${basename(from)}` }, file);
  console.log(`wrote ${out}: fla's ${specOf(kind).title} ${basename(from)} (${model.parameterCount().toLocaleString('en-US')} parameters, ${config.layers} layers of width ${config.dim})`);
  console.log(`  try: hiero generate --checkpoint ${out} "The "`);
  model.dispose();
  return 0;
}

/** `hiero export --format fla`: a Hiero HGRN, HGRN2, GLA or Mamba-2 as fla's ForCausalLM (config.json + model.safetensors). */
export async function exportFla(from: string, out: string): Promise<number> {
  const manifest = await readManifest(from);
  if (!isFlaModelType(manifest.kind)) throw new UsageError(`export --format fla: ${from} is a ${manifest.kind} checkpoint; only ${FLA_MODEL_TYPES.join(', ')} map to flash-linear-attention so far`);
  const decoded = decodeSafetensors(await readCheckpointFile(from, manifest, 'weights'), from);
  const config = JSON.parse(decoded.metadata.config ?? 'null') as RecurrentConfig | null;
  if (!config) throw new CheckpointError(`${from}: the weights carry no config`);
  const { state, config: fla } = recurrentToFla(decoded.tensors, config);
  await mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, 'model.safetensors'), encodeSafetensors(state, { format: 'pt' }));
  await writeFileAtomic(join(out, 'config.json'), `${JSON.stringify(fla, null, 2)}\n`);
  console.log(`wrote ${join(out, 'model.safetensors')} and config.json: ${state.size} tensors under fla's names`);
  console.log(`  load it there: import fla; from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained('${out}')   (bytes are its tokens: vocab 256)`);
  return 0;
}

/** The official H-Net's files: model.pt (a state dict torch.load reads) and config.json (what load_from_pretrained reads). */
async function exportOfficialHnet(decoded: ReturnType<typeof decodeSafetensors>, from: string, out: string, dtype: 'bfloat16' | 'float32'): Promise<number> {
  const config = JSON.parse(decoded.metadata.config ?? 'null') as HNetConfig | null;
  if (!config) throw new CheckpointError(`${from}: the weights carry no config`);
  const { state, config: official } = hnetToOfficial(decoded.tensors, config, dtype);
  await mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, 'model.pt'), encodeTorchCheckpoint(state, 'model'));
  await writeFileAtomic(join(out, 'config.json'), `${JSON.stringify(official, null, 2)}\n`);
  console.log(`wrote ${join(out, 'model.pt')} and config.json: ${state.size} tensors under the official names (${dtype})`);
  console.log(`  load it there: cd hnet && python generate.py --model-path ${join(out, 'model.pt')} --config-path ${join(out, 'config.json')}`);
  return 0;
}

/** `hiero export --format official`: the official loader's files from a Hiero HRM or H-Net checkpoint. */
export async function exportOfficial(from: string, out: string, options: { uncompiled: boolean; dtype: 'bfloat16' | 'float32' }): Promise<number> {
  const manifest = await readManifest(from);
  const decoded = decodeSafetensors(await readCheckpointFile(from, manifest, 'weights'), from);
  const kind = kindOfDecoded(decoded, from);
  if (kind === 'hnet') return exportOfficialHnet(decoded, from, out, options.dtype);
  if (kind !== 'hrm') throw new UsageError(`export --format official: ${from} is a ${kind} checkpoint; the official code this maps to exists for HRM (sapientinc/HRM) and H-Net (goombalab/hnet)`);
  const config = JSON.parse(decoded.metadata.config ?? 'null') as HRMConfig | null;
  if (!config) throw new CheckpointError(`${from}: the weights carry no config`);
  const { state, arch, dataset } = hrmToOfficial(decoded.tensors, config, { compiled: !options.uncompiled, forwardDtype: options.dtype });
  await mkdir(out, { recursive: true });
  const stepFile = join(out, `step_${manifest.step}`);
  await writeFileAtomic(stepFile, encodeTorchCheckpoint(state, `step_${manifest.step}`));
  const task = decoded.metadata.task ?? 'unknown';
  const dataPath = /^sudoku-9x9/.test(task) ? 'data/sudoku-extreme-1k-aug-1000' : `data/hiero-${task.replace(/[^a-z0-9-]/gi, '_')}`;
  const pretrain = {
    arch, data_path: dataPath, global_batch_size: 768, epochs: 20000, lr: 1e-4, lr_min_ratio: 1.0, lr_warmup_steps: 2000,
    weight_decay: 1.0, beta1: 0.9, beta2: 0.95, puzzle_emb_lr: 1e-4, puzzle_emb_weight_decay: 1.0,
    project_name: 'hiero-export', run_name: basename(out), checkpoint_path: out, seed: 0, checkpoint_every_eval: false, eval_interval: null, eval_save_outputs: [],
  };
  await writeFileAtomic(join(out, 'all_config.yaml'), stringifyYaml(pretrain));
  await writeFileAtomic(join(out, 'dataset.json'), `${JSON.stringify({ ...dataset, task, note: 'the shapes the dataset at data_path must have (its train/dataset.json) for the weights to load' }, null, 2)}\n`);
  if (task.startsWith('arc:')) {
    // The puzzle embedding's rows are Hiero's tasks in file-name order: identifiers.json names them, as
    // build_arc_dataset.py's does for its own rows (and as `hiero import` reads it back).
    const names = await loadArcDirectory(task.slice(4)).then((tasks) => tasks.map((t) => t.name), () => null);
    if (names && names.length === config.puzzleIds) await writeFileAtomic(join(out, 'identifiers.json'), `${JSON.stringify(names)}\n`);
    else console.log(`  no identifiers.json: ${task.slice(4)} ${names ? `holds ${names.length} tasks, the model ${config.puzzleIds}` : 'cannot be read'}; the official dataset must number its puzzles as the model's rows are`);
  }
  console.log(`wrote ${stepFile} and ${join(out, 'all_config.yaml')}: ${state.size} tensors under the official names${options.uncompiled ? '' : ' (_orig_mod.: a torch.compile\'d model)'}`);
  console.log(`  load it there: cd HRM && ${options.uncompiled ? 'DISABLE_COMPILE=1 ' : ''}python evaluate.py checkpoint=${stepFile}   (data_path ${dataPath}: vocab ${dataset.vocab_size}, seq_len ${dataset.seq_len}, ${dataset.num_puzzle_identifiers} puzzle id${dataset.num_puzzle_identifiers > 1 ? 's' : ''})`);
  return 0;
}
