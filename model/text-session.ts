// Training sessions for byte-level language models on real text: H-Net and the byte-Transformer baseline it is
// compared with at equal compute (`hiero train hnet|transformer`; tests: test/hnet.test.ts). A checkpoint is a
// directory saved as one unit (engine/io/checkpoint.ts):
//   weights   the model (metadata: model kind, config, step)         <- what generate and chunks read
//   training  AdamW moments                                          <- what an exact resume adds
//   session   JSON: corpus, schedule, step, the batch sampler's and the engine's random states

import {
  AdamW, asyncScope, CheckpointError, crossEntropy, getRandomState, HieroError, noGradAsync, readCheckpointJson,
  readCheckpointTensors, readManifest, saveCheckpoint, scope, serializeTensors, setRandomState, tensor, warmupCosine,
  type HostTensor, type Manifest, type ParamGroup, type SaveHooks, type Tensor,
} from '../engine/index.ts';
import { atWordBoundary, loadCorpus, type Corpus } from './data/corpus.ts';
import { boundaryPositions, HNET_PRESETS, HNetLM, type HNetConfig, type HNetPreset } from './hnet.ts';
import { modelFromWeights } from './registry.ts';
import { TransformerLM, type TransformerConfig } from './transformer.ts';

export type TextModelKind = 'hnet' | 'transformer';

/**
 * Byte-Transformer baselines, each sized to about the training FLOPs per byte of the H-Net preset of the same name
 * (see flopsPerByte), so that bits per byte compare at equal compute.
 */
export const TRANSFORMER_PRESETS = {
  tiny: { vocab: 256, dim: 64, layers: 2, heads: 4, mlpHidden: 160, maxSeq: 128, ropeBase: 10000, normEps: 1e-5 },
  small: { vocab: 256, dim: 256, layers: 4, heads: 4, mlpHidden: 704, maxSeq: 512, ropeBase: 10000, normEps: 1e-5 },
  'small-2stage': { vocab: 256, dim: 256, layers: 4, heads: 4, mlpHidden: 704, maxSeq: 512, ropeBase: 10000, normEps: 1e-5 },
} satisfies Record<HNetPreset, TransformerConfig>;

export interface TextSessionState {
  model: TextModelKind;
  preset: HNetPreset;
  config: HNetConfig | TransformerConfig;
  /** 'english' or a path to a text file. */
  corpus: string;
  seq: number;
  batch: number;
  lr: number;
  warmup: number;
  /** Steps the learning-rate schedule spans (cosine to 10 % of lr). */
  totalSteps: number;
  weightDecay: number;
  step: number;
  seed: number;
  samplerState: number;
  engineRandom: [number, number];
}

/** What one step reports: GPU scalars (read them only when printing) and the chunk counts read during the step. */
export interface TextStepMetrics {
  loss: Tensor;
  ce: Tensor;
  ratio: Tensor;
  /** Per chunking stage, chunks per row (H-Net; empty for the Transformer). */
  counts: number[][];
}

export interface TextEvaluation {
  bitsPerByte: number;
  /** Per chunking stage: bytes per chunk over the held-out windows. */
  bytesPerChunk: number[];
  /** Per chunking stage: the share of its boundaries that fall at a word start or on whitespace. */
  wordBoundaryShare: number[];
  bytes: number;
}

/** Seeded sampler of training windows (host bytes), with a state to save and restore. */
export class WindowSampler {
  constructor(readonly text: Uint8Array, readonly batch: number, readonly seq: number, public state: number) {
    if (text.length < seq + 2) throw new HieroError(`the training text (${text.length} bytes) is shorter than one window of ${seq + 1} bytes`);
  }

  private next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 4294967296;
  }

  sample(): { ids: Int32Array; targets: Int32Array } {
    const ids = new Int32Array(this.batch * this.seq);
    const targets = new Int32Array(this.batch * this.seq);
    for (let b = 0; b < this.batch; b++) {
      const start = Math.floor(this.next() * (this.text.length - this.seq - 1));
      for (let t = 0; t < this.seq; t++) {
        ids[b * this.seq + t] = this.text[start + t];
        targets[b * this.seq + t] = this.text[start + t + 1];
      }
    }
    return { ids, targets };
  }
}

type AnyModel = HNetLM | TransformerLM;

function buildModel(kind: TextModelKind, config: HNetConfig | TransformerConfig): AnyModel {
  return kind === 'hnet' ? new HNetLM(config as HNetConfig) : new TransformerLM(config as TransformerConfig);
}

/** Parameter groups: per-stage learning-rate multipliers (H-Net), no weight decay on norms, biases and paddings. */
function parameterGroups(model: AnyModel, weightDecay: number): ParamGroup[] {
  const groups = new Map<string, ParamGroup>();
  const stageOf = (name: string) => (name.match(/main_network\./g) ?? []).length;
  for (const [name, p] of model.namedParameters()) {
    const decay = p.rank >= 2 && !/norm|pad_dimension|\.bias$/.test(name) ? weightDecay : 0;
    const multiplier = model instanceof HNetLM ? model.config.lrMultipliers[Math.min(stageOf(name), model.config.widths.length - 1)] : 1;
    const key = `${decay}/${multiplier}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { params: [], weightDecay: decay, lrMultiplier: multiplier }));
    group.params.push(p);
  }
  return [...groups.values()];
}

/**
 * Estimated training FLOPs per byte (6 per parameter a byte passes through, the matmuls dominating): an H-Net
 * stage's parameters see one in (bytes per chunk so far) bytes. For comparing an H-Net with a Transformer baseline.
 */
export function flopsPerByte(kind: TextModelKind, config: HNetConfig | TransformerConfig): number {
  if (kind === 'transformer') {
    const c = config as TransformerConfig;
    const perLayer = 4 * c.dim * c.dim + 3 * c.dim * c.mlpHidden;
    return 6 * (c.layers * perLayer + c.dim * 256);
  }
  const c = config as HNetConfig;
  const stack = (s: HNetConfig['main'], w: number) => s.layers * ((s.kind === 'hgrn' ? 4 * w * w : 4 * w * w) + (s.mlp > 0 ? 3 * w * s.mlp : 0));
  let perByte = c.widths[0] * 256;
  let rate = 1;
  for (let i = 0; i < c.widths.length - 1; i++) {
    const w = c.widths[i];
    perByte += rate * (stack(c.encoders[i], w) + stack(c.decoders[i], w) + 3 * w * w);
    rate /= c.ratios[i];
  }
  perByte += rate * stack(c.main, c.widths[c.widths.length - 1]);
  return 6 * perByte;
}

export class TextSession {
  readonly sampler: WindowSampler;
  private readonly schedule: (step: number) => number;

  private constructor(
    readonly state: TextSessionState,
    readonly model: AnyModel,
    readonly optimizer: AdamW,
    readonly corpus: Corpus,
  ) {
    this.sampler = new WindowSampler(corpus.train, state.batch, state.seq, state.samplerState);
    this.schedule = warmupCosine({ peak: state.lr, warmup: state.warmup, total: state.totalSteps, min: state.lr * 0.1 });
    optimizer.trackGradNorm = true;
  }

  static create(state: Omit<TextSessionState, 'step' | 'samplerState' | 'engineRandom'>): TextSession {
    const corpus = loadCorpus(state.corpus);
    const model = buildModel(state.model, state.config);
    const optimizer = new AdamW(parameterGroups(model, state.weightDecay), { lr: state.lr, betas: [0.9, 0.95], weightDecay: state.weightDecay, maxGradNorm: 1 });
    return new TextSession({ ...state, step: 0, samplerState: state.seed >>> 0, engineRandom: getRandomState() }, model, optimizer, corpus);
  }

  static async resume(dir: string): Promise<TextSession> {
    const manifest = await readTextManifest(dir);
    if (!manifest.files.training) throw new CheckpointError(`${dir}: holds weights only (no training state), so it can generate but not resume`);
    const state = await readCheckpointJson<TextSessionState>(dir, manifest, 'session');
    if (state.step !== manifest.step) throw new CheckpointError(`${dir}: the session file is at step ${state.step}, the checkpoint at step ${manifest.step}`);
    const session = TextSession.create(state);
    await loadWeights(session.model, dir, manifest);
    const moments = upload((await readCheckpointTensors(dir, manifest, 'training')).tensors);
    session.optimizer.loadStateTensors(session.model.namedParameters(), moments);
    for (const t of moments.values()) t.dispose();
    session.optimizer.stepCount = state.step;
    session.state.step = state.step;
    session.sampler.state = state.samplerState;
    setRandomState(state.engineRandom);
    return session;
  }

  /** One training step: a batch of windows, forward (H-Net: one count read-back per stage), backward, AdamW. */
  async step(): Promise<TextStepMetrics> {
    const { ids, targets } = this.sampler.sample();
    const [b, t] = [this.state.batch, this.state.seq];
    this.state.step++;
    this.optimizer.lr = this.schedule(this.state.step);
    return asyncScope(async () => {
      const idsT = tensor(ids, [b, t], { dtype: 'i32' });
      const targetsT = tensor(targets, [b, t], { dtype: 'i32' });
      let metrics: TextStepMetrics;
      if (this.model instanceof HNetLM) {
        const l = await this.model.losses(idsT, targetsT);
        l.loss.backward();
        metrics = { loss: l.loss.detach(), ce: l.ce.detach(), ratio: l.ratio.detach(), counts: l.counts };
      } else {
        const model = this.model;
        metrics = scope(() => {
          const loss = model.loss(idsT, targetsT);
          loss.backward();
          return { loss: loss.detach(), ce: loss.detach(), ratio: tensor([0]), counts: [] };
        });
      }
      this.optimizer.step();
      this.optimizer.zeroGrad();
      return metrics;
    });
  }

  /**
   * Held-out bits per byte over `windows` evenly spaced windows of the training length, and for H-Net each stage's
   * bytes per chunk and the share of its boundaries at word starts or whitespace.
   */
  async evaluate(windows = 32): Promise<TextEvaluation> {
    return evaluateText(this.model, this.corpus.heldOut, this.state.seq, windows, this.state.batch);
  }

  async save(dir: string, hooks?: SaveHooks): Promise<Manifest> {
    this.state.samplerState = this.sampler.state;
    this.state.engineRandom = getRandomState();
    const step = String(this.state.step);
    const weights = await serializeTensors(this.model.stateDict(), { model: this.state.model, config: JSON.stringify(this.state.config), step });
    const training = await serializeTensors(this.optimizer.stateTensors(this.model.namedParameters()), { step });
    return saveCheckpoint(dir, 'text', this.state.step, [
      { role: 'weights', extension: 'safetensors', bytes: weights },
      { role: 'training', extension: 'safetensors', bytes: training },
      { role: 'session', extension: 'json', bytes: new TextEncoder().encode(JSON.stringify(this.state, null, 2)) },
    ], hooks);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}

function upload(host: Map<string, HostTensor>): Map<string, Tensor> {
  return new Map([...host].map(([name, t]) => [name, tensor(t.data, t.shape, { dtype: t.dtype })]));
}

async function readTextManifest(dir: string): Promise<Manifest> {
  const manifest = await readManifest(dir);
  if (manifest.kind !== 'text') throw new CheckpointError(`${dir}: a ${manifest.kind} checkpoint, not a byte language model (hnet or transformer)`);
  return manifest;
}

async function loadWeights(model: AnyModel, dir: string, manifest: Manifest): Promise<void> {
  const tensors = upload((await readCheckpointTensors(dir, manifest, 'weights')).tensors);
  try {
    model.loadStateDict(tensors);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** The model of a checkpoint, for generate and chunks (weights only). */
export async function loadTextModel(dir: string): Promise<{ model: AnyModel; kind: TextModelKind; step: number }> {
  const manifest = await readTextManifest(dir);
  const loaded = modelFromWeights(await readCheckpointTensors(dir, manifest, 'weights'), dir);
  if (loaded.kind === 'hrm') {
    loaded.model.dispose();
    throw new CheckpointError(`${dir}: the weights are an HRM's, not a language model's`);
  }
  return { model: loaded.model, kind: loaded.kind, step: manifest.step };
}

/** See TextSession.evaluate. */
export async function evaluateText(model: AnyModel, text: Uint8Array, seq: number, windows: number, batch: number): Promise<TextEvaluation> {
  const count = Math.max(1, Math.min(windows, Math.floor((text.length - 1) / seq)));
  const stride = Math.floor((text.length - seq - 1) / Math.max(1, count - 1 || 1));
  let nats = 0;
  let bytes = 0;
  const stages = model instanceof HNetLM ? model.config.widths.length - 1 : 0;
  const chunks = new Array<number>(stages).fill(0);
  const atWord = new Array<number>(stages).fill(0);
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const ids = new Int32Array(n * seq);
    const targets = new Int32Array(n * seq);
    for (let b = 0; b < n; b++) {
      const offset = Math.min((start + b) * stride, text.length - seq - 1);
      for (let t = 0; t < seq; t++) {
        ids[b * seq + t] = text[offset + t];
        targets[b * seq + t] = text[offset + t + 1];
      }
    }
    await noGradAsync(() => asyncScope(async () => {
      const idsT = tensor(ids, [n, seq], { dtype: 'i32' });
      const targetsT = tensor(targets, [n, seq], { dtype: 'i32' });
      if (model instanceof HNetLM) {
        const { logits, routes } = await model.forward(idsT);
        const ce = crossEntropySum(logits, targetsT);
        nats += await ce.item();
        const positions = await boundaryPositions(routes, n);
        positions.forEach((rows, k) => rows.forEach((row, b) => {
          chunks[k] += row.length;
          for (const t of row) if (atWordBoundary(ids.subarray(b * seq, (b + 1) * seq), t)) atWord[k]++;
        }));
        for (const r of routes) r.chunks.dispose();
      } else {
        const logits = model.forward(idsT);
        nats += await crossEntropySum(logits, targetsT).item();
      }
    }));
    bytes += n * seq;
  }
  return {
    bitsPerByte: nats / bytes / Math.LN2,
    bytesPerChunk: chunks.map((c) => bytes / Math.max(1, c)),
    wordBoundaryShare: atWord.map((w, k) => w / Math.max(1, chunks[k])),
    bytes,
  };
}

function crossEntropySum(logits: Tensor, targets: Tensor): Tensor {
  return crossEntropy(logits, targets, { reduction: 'sum' });
}

export { HNET_PRESETS };
