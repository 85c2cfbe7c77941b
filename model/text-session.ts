// Training sessions for byte-level language models on real text, whatever their kind (H-Net, the byte Transformer,
// the recurrent LMs; `hiero train KIND`; tests: test/hnet.test.ts, test/kinds.test.ts). A checkpoint is a directory
// saved as one unit (engine/io/checkpoint.ts):
//   weights   the model (metadata: model kind, config, step)         <- what generate and chunks read
//   training  AdamW moments                                          <- what an exact resume adds
//   session   JSON: corpus, schedule, step, the batch sampler's and the engine's random states

import {
  AdamW, asyncScope, CheckpointError, crossEntropy, getRandomState, noGradAsync, NonFiniteMonitor, readManifest, readScalars, recordStep, saveCheckpoint, serializeTensors, tensor,
  warmupCosine, type Manifest, type ParamGroup, type RecordedStep, type SaveHooks, type Tensor,
} from '../engine/index.ts';
import { atWordBoundary, loadCorpus, unigramBitsPerByte, type Corpus } from './data/corpus.ts';
import { WindowSampler } from './data/text.ts';
import { MQAR_HELD_OUT_SEED, MQAR_IGNORED, MQAR_VALUES, MqarSampler, mqarPairs } from './data/mqar.ts';
import { InstructionSampler, type InstructionObjective } from './data/instructions.ts';
import { evaluateInstructions } from './instruction-eval.ts';
import type { ByteLM } from './text-model.ts';
import { readSessionRecord, restoreTraining, type EvaluationReading, type StepReading, type TrainingRun } from './training.ts';

/** What a text session needs of its model kind (its row in model/kinds supplies it). */
export interface TextKind {
  kind: string;
  build(config: unknown): ByteLM;
  describe(config: unknown, parameters: number): string;
  /** Estimated training FLOPs per byte, for comparing kinds at equal compute. */
  flopsPerByte(config: unknown): number;
}

export interface TextSessionState {
  /** The model kind (a row of model/kinds). */
  model: string;
  preset: string;
  config: unknown;
  /** 'english' or a path to a text file (unused with a task). */
  corpus: string;
  /**
   * A generated task instead of the corpus: 'mqar' (multi-query associative recall) or 'instructions'
   * (instruction–response pairs, model/data/instructions.ts); absent: the corpus.
   */
  task?: 'mqar' | 'instructions';
  /** instructions: score the response only ('answer', the default) or every byte ('all'). */
  objective?: InstructionObjective;
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
  /** H-Net's ratio losses; null for models that do not chunk. */
  ratio: Tensor | null;
  /** Per chunking stage, chunks per row (empty for models that do not chunk). */
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

/** Parameter groups: the model's per-stage learning-rate multipliers, no weight decay on norms, biases and paddings. */
function parameterGroups(model: ByteLM, weightDecay: number): ParamGroup[] {
  const groups = new Map<string, ParamGroup>();
  for (const [name, p] of model.namedParameters()) {
    const decay = p.rank >= 2 && !/norm|pad_dimension|\.bias$/.test(name) ? weightDecay : 0;
    const multiplier = model.learningRateMultiplier?.(name) ?? 1;
    const key = `${decay}/${multiplier}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { params: [], weightDecay: decay, lrMultiplier: multiplier }));
    group.params.push(p);
  }
  return [...groups.values()];
}

export class TextSession implements TrainingRun<TextStepMetrics> {
  readonly sampler: WindowSampler | MqarSampler | InstructionSampler;
  readonly monitor = new NonFiniteMonitor(['loss', 'gradient norm']);
  readonly itemUnit = 'bytes';
  /** Per chunking stage, the share of boundaries at word starts in the last evaluation (shown with progress). */
  private wordShare = '-';

  private constructor(
    readonly state: TextSessionState,
    readonly spec: TextKind,
    readonly model: ByteLM,
    readonly optimizer: AdamW,
    readonly corpus: Corpus | null,
  ) {
    this.sampler = corpus ? new WindowSampler(corpus.train, state.batch, state.seq, state.samplerState)
      : state.task === 'instructions' ? new InstructionSampler(state.batch, state.seq, state.seed, state.objective ?? 'answer')
      : new MqarSampler(state.batch, state.seq, state.samplerState);
    optimizer.schedule = warmupCosine({ peak: state.lr, warmup: state.warmup, total: state.totalSteps, min: state.lr * 0.1 });
    optimizer.trackGradNorm = true;
  }

  static create(spec: TextKind, state: Omit<TextSessionState, 'step' | 'samplerState' | 'engineRandom'>): TextSession {
    const corpus = state.task ? null : loadCorpus(state.corpus);
    const model = spec.build(state.config);
    const optimizer = new AdamW(parameterGroups(model, state.weightDecay), { lr: state.lr, betas: [0.9, 0.95], weightDecay: state.weightDecay, maxGradNorm: 1 });
    return new TextSession({ ...state, step: 0, samplerState: state.seed >>> 0, engineRandom: getRandomState() }, spec, model, optimizer, corpus);
  }

  /** Continues the run saved in `dir`; `kindOf` finds the model kind its session record names (model/kinds). */
  static async resume(dir: string, kindOf: (name: string) => TextKind): Promise<TextSession> {
    const manifest = await readTextManifest(dir);
    const state = await readSessionRecord<TextSessionState>(dir, manifest, 'generate');
    const session = TextSession.create(kindOf(state.model), state);
    await restoreTraining(dir, manifest, session.model, session.optimizer, state);
    session.state.step = state.step;
    session.sampler.state = state.samplerState;
    return session;
  }

  get kind(): string {
    return this.state.model;
  }

  get stepsDone(): number {
    return this.state.step;
  }

  get itemsPerStep(): number {
    return this.state.batch * this.state.seq;
  }

  /** One training step: a batch of windows, forward (H-Net: one count read-back per stage), backward, AdamW. */
  async step(): Promise<TextStepMetrics> {
    this.model.setTrainingProgress?.(this.state.step / this.state.totalSteps);
    const { ids, targets } = this.sampler.sample();
    const [b, t] = [this.state.batch, this.state.seq];
    this.state.step++;
    const metrics = await asyncScope(async () => {
      const l = await this.stepOf(tensor(ids, [b, t], { dtype: 'i32' }), tensor(targets, [b, t], { dtype: 'i32' }));
      return { loss: l.loss, ce: l.ce, ratio: l.ratio, counts: l.counts };
    });
    this.monitor.watch(this.state.step, metrics.loss, this.optimizer.lastGradNorm);
    return metrics;
  }

  /** Replay the training step after recording it (engine/replay.ts; H-Net's step reads counts back and is refused). */
  replay = false;
  private recorded: RecordedStep<[Tensor, Tensor], { loss: Tensor; ce: Tensor; ratio: Tensor | null }> | null = null;

  private async stepOf(ids: Tensor, targets: Tensor) {
    const l = await this.model.losses(ids, targets);
    l.loss.backward();
    this.optimizer.step();
    this.optimizer.zeroGrad();
    return { loss: l.loss.detach(), ce: l.ce.detach(), ratio: l.ratio?.detach() ?? null, counts: l.counts };
  }

  /** The step recorded, then replayed with each new batch as its arguments. */
  async replayedStep(): Promise<TextStepMetrics> {
    this.recorded ??= recordStep(async (ids: Tensor, targets: Tensor) => {
      const { loss, ce, ratio } = await this.stepOf(ids, targets);
      return { loss, ce, ratio };
    }, { name: `${this.state.model} training step` });
    const { ids, targets } = this.sampler.sample();
    const [b, t] = [this.state.batch, this.state.seq];
    this.state.step++;
    const idsTensor = tensor(ids, [b, t], { dtype: 'i32' });
    const targetsTensor = tensor(targets, [b, t], { dtype: 'i32' });
    try {
      const out = await this.recorded.run(idsTensor, targetsTensor);
      this.monitor.watch(this.state.step, out.loss, this.optimizer.lastGradNorm);
      return { ...out, counts: [] };
    } finally {
      idsTensor.dispose();
      targetsTensor.dispose();
    }
  }

  trainStep(): Promise<TextStepMetrics> {
    // A model whose step changes shape with training progress (HRM-Text's widening backprop window) steps eagerly
    // while it changes, and records its step once it has settled.
    const settling = this.model.stepChanges?.(this.state.step / this.state.totalSteps) ?? false;
    if (settling && this.recorded) {
      this.recorded.dispose();
      this.recorded = null;
    }
    return this.replay && !settling ? this.replayedStep() : this.step();
  }

  async read(m: TextStepMetrics): Promise<StepReading> {
    const [loss, ce] = await readScalars([m.loss, m.ce]);
    const perChunk = m.counts.map((c) => (this.state.batch * this.state.seq) / c.reduce((a, b) => a + b, 0));
    const bitsPerByte = ce / Math.LN2;
    return {
      loss, values: { bitsPerByte },
      text: `${this.corpus ? 'bits/byte' : 'bits/answer'} ${bitsPerByte.toFixed(3)}` + (perChunk.length ? `  bytes/chunk ${perChunk.map((x) => x.toFixed(2)).join(' / ')}  at word starts ${this.wordShare}` : ''),
    };
  }

  release(m: TextStepMetrics): void {
    for (const t of [m.loss, m.ce, m.ratio]) t?.dispose();
  }

  async evaluateHeldOut(): Promise<EvaluationReading> {
    if (this.state.task === 'instructions') {
      // Two instructions per family and split during training (a quick signal); hiero eval --instructions N scores more.
      const e = await evaluateInstructions(this.model, this.state.seq, 2);
      const parts = e.families.map((f) => `${f.family} ${(100 * f.examples).toFixed(0)}/${(100 * f.templates).toFixed(0)}`).join('  ');
      return {
        values: { exactExamples: e.examples, exactTemplates: e.templates, bitsExamples: e.bitsExamples, bitsTemplates: e.bitsTemplates, ...Object.fromEntries(e.families.map((f) => [`exact ${f.family}`, [f.examples, f.templates]])) },
        text: `exact match ${(100 * e.examples).toFixed(1)}% on held-out examples, ${(100 * e.templates).toFixed(1)}% on held-out phrasings (${e.count} each; per family, % examples/phrasings: ${parts}); ` +
          `${e.bitsExamples.toFixed(3)} / ${e.bitsTemplates.toFixed(3)} bits per response byte`,
      };
    }
    if (!this.corpus) {
      const e = await evaluateMqar(this.model, this.state.seq, this.state.batch);
      return { values: { accuracy: e.accuracy, bitsPerAnswer: e.bitsPerAnswer }, text: `recall ${(100 * e.accuracy).toFixed(1)}% of ${e.answers} held-out answers (chance ${(100 / MQAR_VALUES.count).toFixed(1)}%), ${e.bitsPerAnswer.toFixed(3)} bits/answer` };
    }
    const e = await this.evaluate();
    this.wordShare = e.wordBoundaryShare.map((x) => `${(100 * x).toFixed(0)}%`).join(' / ') || '-';
    const chunks = e.bytesPerChunk.length ? `, bytes per chunk ${e.bytesPerChunk.map((x) => x.toFixed(2)).join(' / ')}, boundaries at word starts or spaces ${this.wordShare}` : '';
    return {
      values: { bitsPerByte: e.bitsPerByte, bytesPerChunk: e.bytesPerChunk, wordBoundaryShare: e.wordBoundaryShare },
      text: `${e.bitsPerByte.toFixed(3)} bits/byte over ${e.bytes} bytes${chunks}`,
    };
  }

  describe(): string[] {
    const flops = this.spec.flopsPerByte(this.state.config);
    if (this.state.task === 'instructions') {
      return [
        `model: ${this.spec.describe(this.state.config, this.model.parameterCount())}, ~${(flops / 1e6).toFixed(2)} MFLOP per byte trained; ` +
          `task: generated instructions (${this.state.objective === 'all' ? 'every byte scored, P(x)' : 'the response scored, P(answer | question)'}), windows of ${this.state.seq} bytes; batch ${this.state.batch}`,
      ];
    }
    if (!this.corpus) {
      return [
        `model: ${this.spec.describe(this.state.config, this.model.parameterCount())}, ~${(flops / 1e6).toFixed(2)} MFLOP per byte trained; ` +
          `task: multi-query associative recall, ${mqarPairs(this.state.seq)} key-value pairs then their queries per window of ${this.state.seq} bytes; batch ${this.state.batch}`,
      ];
    }
    return [
      `model: ${this.spec.describe(this.state.config, this.model.parameterCount())}, ~${(flops / 1e6).toFixed(2)} MFLOP per byte trained; ` +
        `corpus: ${this.corpus.description}, ${(this.corpus.train.length / 1e6).toFixed(2)} MB for training; batch ${this.state.batch} x ${this.state.seq} bytes`,
      `  held-out unigram baseline: ${unigramBitsPerByte(this.corpus).toFixed(3)} bits/byte`,
    ];
  }

  /**
   * Held-out bits per byte over `windows` evenly spaced windows of the training length, and for H-Net each stage's
   * bytes per chunk and the share of its boundaries at word starts or whitespace.
   */
  async evaluate(windows = 32): Promise<TextEvaluation> {
    if (!this.corpus) throw new CheckpointError('this run trains on --task mqar: its held-out measure is recall (evaluateHeldOut), not bits per byte of a corpus');
    return evaluateText(this.model, this.corpus.heldOut, this.state.seq, windows, this.state.batch);
  }

  async save(dir: string, hooks?: SaveHooks): Promise<Manifest> {
    this.state.samplerState = this.sampler.state;
    this.state.engineRandom = getRandomState();
    const step = String(this.state.step);
    const weights = await this.weightsFile();
    const training = await serializeTensors(this.optimizer.stateTensors(this.model.namedParameters()), { step });
    return saveCheckpoint(dir, 'text', this.state.step, [
      { role: 'weights', extension: 'safetensors', bytes: weights },
      { role: 'training', extension: 'safetensors', bytes: training },
      { role: 'session', extension: 'json', bytes: new TextEncoder().encode(JSON.stringify(this.state, null, 2)) },
    ], hooks);
  }

  async weightsFile(): Promise<Uint8Array> {
    return serializeTensors(this.model.stateDict(), { model: this.state.model, config: JSON.stringify(this.state.config), step: String(this.state.step) });
  }

  dispose(): void {
    this.recorded?.dispose();
    this.monitor.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }
}

async function readTextManifest(dir: string): Promise<Manifest> {
  const manifest = await readManifest(dir);
  if (manifest.kind !== 'text') throw new CheckpointError(`${dir}: a ${manifest.kind} checkpoint, not a byte language model's`);
  return manifest;
}

/** See TextSession.evaluate. */
export async function evaluateText(model: ByteLM, text: Uint8Array, seq: number, windows: number, batch: number): Promise<TextEvaluation> {
  const count = Math.max(1, Math.min(windows, Math.floor((text.length - 1) / seq)));
  const stride = Math.floor((text.length - seq - 1) / Math.max(1, count - 1 || 1));
  let nats = 0;
  let bytes = 0;
  let chunks: number[] = [];
  let atWord: number[] = [];
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
      const { logits, boundaries } = await model.predict(tensor(ids, [n, seq], { dtype: 'i32' }));
      nats += await crossEntropy(logits, tensor(targets, [n, seq], { dtype: 'i32' }), { reduction: 'sum' }).item();
      if (chunks.length === 0) [chunks, atWord] = [boundaries.map(() => 0), boundaries.map(() => 0)];
      boundaries.forEach((rows, k) => rows.forEach((row, b) => {
        chunks[k] += row.length;
        for (const t of row) if (atWordBoundary(ids.subarray(b * seq, (b + 1) * seq), t)) atWord[k]++;
      }));
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

export interface MqarEvaluation {
  /** The share of held-out answers whose most likely byte is the value. */
  accuracy: number;
  bitsPerAnswer: number;
  answers: number;
}

/** Recall over `windows` held-out MQAR windows of `seq` bytes (the same windows for every run: a fixed seed). */
export async function evaluateMqar(model: ByteLM, seq: number, batch: number, windows = 64): Promise<MqarEvaluation> {
  const sampler = new MqarSampler(batch, seq, MQAR_HELD_OUT_SEED);
  let [right, answers, nats] = [0, 0, 0];
  for (let done = 0; done < windows; done += batch) {
    const { ids, targets } = sampler.sample();
    const n = Math.min(batch, windows - done);
    await noGradAsync(() => asyncScope(async () => {
      const { logits } = await model.predict(tensor(ids.subarray(0, n * seq), [n, seq], { dtype: 'i32' }));
      const scored = targets.subarray(0, n * seq);
      nats += await crossEntropy(logits, tensor(scored, [n, seq], { dtype: 'i32' }), { reduction: 'sum' }).item();
      const best = await logits.argmax(-1).toArray();
      for (let i = 0; i < scored.length; i++) {
        if (scored[i] === MQAR_IGNORED) continue;
        answers++;
        if (best[i] === scored[i]) right++;
      }
    }));
  }
  return { accuracy: right / answers, bitsPerAnswer: nats / answers / Math.LN2, answers };
}
