// Image classifiers for the arrow-pointing extrapolation task (model/data/arrows.ts; bench: bench/arrows.ts; tests:
// test/plstm.test.ts): patches → linear embedding → pre-norm residual blocks (a mixer, then a SwiGLU MLP) → mean over
// cells → two logits. The mixer is what is compared:
//   plstm      pLSTM over the patch grid in four orientations (model/grid-mixers.ts), no position encoding
//   attention  ViT-style bidirectional attention, RoPE over the raster index (it carries positions to any size)
//   raster     a 1D recurrence (HGRN, model/mixers.ts) over the patches in raster order, as a sequence model reads them
// Training runs through the one loop (model/training.ts) as an ArrowRun.

import {
  AdamW, asyncScope, crossEntropy, Linear, Module, noGradAsync, NonFiniteMonitor, readScalars, RMSNorm, saveCheckpoint, scope, serializeTensors,
  tensor, warmupCosine, type Manifest, type SaveHooks, type Tensor,
} from '../engine/index.ts';
import { arrowImages, patchify, type ArrowImage } from './data/arrows.ts';
import { GRID_MIXERS, type Grid, type GridMixer } from './grid-mixers.ts';
import { SwiGLUMLP } from './layers.ts';
import { MIXERS, type Mixer } from './mixers.ts';
import { Random } from './tasks/common.ts';
import type { EvaluationReading, StepReading, TrainingRun } from './training.ts';

export const ARROW_MIXERS = ['plstm', 'attention', 'raster'] as const;
export type ArrowMixer = (typeof ARROW_MIXERS)[number];

export interface ArrowConfig {
  mixer: ArrowMixer;
  patch: number;
  dim: number;
  layers: number;
  heads: number;
  mlpHidden: number;
  normEps: number;
}

class ArrowBlock extends Module {
  readonly mixerNorm: RMSNorm;
  readonly mixer: GridMixer | Mixer;
  readonly mlpNorm: RMSNorm;
  readonly mlp: SwiGLUMLP;

  constructor(readonly config: ArrowConfig) {
    super();
    const { dim, heads, normEps } = config;
    this.mixerNorm = this.child('mixer_norm', new RMSNorm(dim, { eps: normEps }));
    this.mixer = this.child('mixer', config.mixer === 'raster'
      ? MIXERS.hgrn.build(dim, { heads, conv: 4, rotary: 0, ropeBase: 10000, normEps })
      : GRID_MIXERS[config.mixer].build(dim, { heads, ropeBase: config.mixer === 'attention' ? 10000 : null, normEps }));
    this.mlpNorm = this.child('mlp_norm', new RMSNorm(dim, { eps: normEps }));
    this.mlp = this.child('mlp', new SwiGLUMLP(dim, config.mlpHidden));
  }

  forward(x: Tensor, grid: Grid): Tensor {
    return scope(() => {
      const normed = this.mixerNorm.forward(x);
      const h = x.add(this.config.mixer === 'raster' ? (this.mixer as Mixer).forward(normed) : (this.mixer as GridMixer).forward(normed, grid));
      return h.add(this.mlp.forward(this.mlpNorm.forward(h)));
    });
  }
}

export class ArrowClassifier extends Module {
  readonly embed: Linear;
  readonly blocks: ArrowBlock[];
  readonly norm: RMSNorm;
  readonly head: Linear;

  constructor(readonly config: ArrowConfig) {
    super();
    this.embed = this.child('embed', new Linear(config.patch * config.patch, config.dim));
    this.blocks = Array.from({ length: config.layers }, (_, i) => this.child(`blocks.${i}`, new ArrowBlock(config)));
    this.norm = this.child('norm', new RMSNorm(config.dim, { eps: config.normEps }));
    this.head = this.child('head', new Linear(config.dim, 2));
  }

  /** patches [B, side², patch²] of images side·patch pixels wide → logits [B, 2]. Any image size. */
  forward(patches: Tensor): Tensor {
    const [, cells] = patches.shape;
    const side = Math.round(Math.sqrt(cells));
    const grid = { width: side, height: side };
    return scope(() => {
      const x = this.blocks.reduce((h, b) => b.forward(h, grid), this.embed.forward(patches));
      return this.head.forward(this.norm.forward(x).mean(1));
    });
  }
}

/** Accuracy of a classifier on images of one size, batched without gradients. */
export async function arrowAccuracy(model: ArrowClassifier, images: readonly ArrowImage[], batch = 16): Promise<number> {
  const { patch } = model.config;
  let right = 0;
  for (let start = 0; start < images.length; start += batch) {
    const part = images.slice(start, start + batch);
    const cells = (part[0].size / patch) ** 2;
    const logits = await noGradAsync(() => asyncScope(async () => model.forward(tensor(patchify(part, patch), [part.length, cells, patch * patch])).toArray()));
    part.forEach((image, i) => void (right += Number((logits[2 * i + 1] > logits[2 * i]) === (image.label === 1))));
  }
  return right / images.length;
}

export interface ArrowRunOptions {
  config: ArrowConfig;
  /** Training image size (pixels), and the larger sizes accuracy is also measured at. */
  size: number;
  testSizes: number[];
  train: number;
  test: number;
  batch: number;
  lr: number;
  steps: number;
  seed: number;
}

type ArrowMetrics = { loss: Tensor };

/** A training run of an arrow classifier through the one loop; held-out accuracy at every test size. */
export class ArrowRun implements TrainingRun<ArrowMetrics> {
  readonly kind = 'arrows';
  readonly itemUnit = 'samples';
  readonly monitor = new NonFiniteMonitor(['loss', 'gradient norm']);
  readonly model: ArrowClassifier;
  readonly optimizer: AdamW;
  readonly images: ArrowImage[];
  readonly heldOut: Map<number, ArrowImage[]>;
  replay = false;
  stepsDone = 0;
  private readonly sampler: Random;

  constructor(readonly options: ArrowRunOptions) {
    this.model = new ArrowClassifier(options.config);
    this.optimizer = new AdamW(this.model.parameters(), { lr: options.lr, betas: [0.9, 0.95], weightDecay: 0.05, maxGradNorm: 1 });
    this.optimizer.schedule = warmupCosine({ peak: options.lr, warmup: Math.max(1, Math.floor(options.steps / 20)), total: options.steps, min: options.lr * 0.1 });
    this.optimizer.trackGradNorm = true;
    this.images = arrowImages(options.size, 'train', options.train);
    this.heldOut = new Map([options.size, ...options.testSizes].map((s) => [s, arrowImages(s, 'held-out', options.test)]));
    this.sampler = new Random(options.seed);
  }

  get itemsPerStep(): number {
    return this.options.batch;
  }

  async trainStep(): Promise<ArrowMetrics> {
    this.stepsDone++;
    const { batch, config } = this.options;
    const part = Array.from({ length: batch }, () => this.images[this.sampler.int(this.images.length)]);
    const cells = (this.options.size / config.patch) ** 2;
    const metrics = await asyncScope(async () => {
      const logits = this.model.forward(tensor(patchify(part, config.patch), [batch, cells, config.patch * config.patch]));
      const loss = crossEntropy(logits, tensor(Int32Array.from(part, (p) => p.label), [batch], { dtype: 'i32' }));
      loss.backward();
      this.optimizer.step();
      this.optimizer.zeroGrad();
      return { loss: loss.detach() };
    });
    this.monitor.watch(this.stepsDone, metrics.loss, this.optimizer.lastGradNorm);
    return metrics;
  }

  async read(m: ArrowMetrics): Promise<StepReading> {
    const [loss] = await readScalars([m.loss]);
    return { loss, values: {}, text: '' };
  }

  release(m: ArrowMetrics): void {
    m.loss.dispose();
  }

  async evaluateHeldOut(): Promise<EvaluationReading> {
    const values: Record<string, number> = {};
    for (const [size, images] of this.heldOut) values[`accuracy ${size}`] = await arrowAccuracy(this.model, images, size > 32 ? 4 : 16);
    return { values, text: Object.entries(values).map(([k, v]) => `${k}px ${(100 * v).toFixed(1)}%`).join(', ') };
  }

  async weightsFile(): Promise<Uint8Array> {
    return serializeTensors(this.model.stateDict(), { model: 'arrows', config: JSON.stringify(this.options.config), step: String(this.stepsDone) });
  }

  async save(dir: string, hooks?: SaveHooks): Promise<Manifest> {
    return saveCheckpoint(dir, 'arrows', this.stepsDone, [{ role: 'weights', extension: 'safetensors', bytes: await this.weightsFile() }], hooks);
  }

  describe(): string[] {
    const c = this.options.config;
    return [`arrow classifier, mixer ${c.mixer}, ${c.layers} blocks of width ${c.dim}, patches ${c.patch}x${c.patch}, ${this.model.parameterCount().toLocaleString('en')} parameters`];
  }

  dispose(): void {
    this.monitor.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }
}
