// Training sessions for sensor-stream models (HiSS and its flat baselines; `hiero train hiss --task imu|tactile`;
// tests: test/hiss.test.ts). A checkpoint is a directory saved as one unit (engine/io/checkpoint.ts):
//   weights   the model (metadata: model kind, config, step, task, stream length, held-out count)  <- eval, the worker
//   training  AdamW moments                                                                         <- exact resume
//   session   JSON: task, schedule, step, the batch sampler's and the engine's random states
// The training set is generated once (model/data/sensors.ts: a pure function of task, split and index); each step
// draws `batch` of its streams. The loss is the MSE against the targets at the model's prediction times.

import {
  AdamW, asyncScope, CheckpointError, getRandomState, noGradAsync, NonFiniteMonitor, readManifest, readScalars, recordStep, saveCheckpoint, serializeTensors, tensor, warmupCosine,
  type Manifest, type RecordedStep, type SaveHooks, type Tensor,
} from '../engine/index.ts';
import { SENSOR_TASK_INFO, SensorError, sensorStreams, streamProblem, type SensorStream, type SensorTask } from './data/sensors.ts';
import { HiSS, predictionTimes, type HiSSConfig } from './hiss.ts';
import { Random } from './tasks/common.ts';
import { readSessionRecord, restoreTraining, type EvaluationReading, type StepReading, type TrainingRun } from './training.ts';

export interface SensorSessionState {
  model: string;
  preset: string;
  config: HiSSConfig;
  task: SensorTask;
  /** Training streams, held-out streams, and samples per stream. */
  train: number;
  test: number;
  length: number;
  batch: number;
  lr: number;
  warmup: number;
  totalSteps: number;
  weightDecay: number;
  step: number;
  seed: number;
  samplerState: number;
  engineRandom: [number, number];
}

export interface SensorKind {
  kind: string;
  build(config: HiSSConfig): HiSS;
  describe(config: HiSSConfig, parameters: number): string;
}

/** Streams as one batch: inputs [B, T, C_in], and the targets at the model's prediction times [B, P, C_out]. */
export function sensorBatch(streams: readonly SensorStream[], config: HiSSConfig, length: number): { inputs: Float32Array; targets: Float32Array; times: number[] } {
  const { channelsIn: cin, channelsOut: cout } = config;
  const times = predictionTimes(config, length);
  const inputs = new Float32Array(streams.length * length * cin);
  const targets = new Float32Array(streams.length * times.length * cout);
  streams.forEach((s, b) => {
    inputs.set(s.inputs.subarray(0, length * cin), b * length * cin);
    times.forEach((t, p) => targets.set(s.targets.subarray(t * cout, (t + 1) * cout), (b * times.length + p) * cout));
  });
  return { inputs, targets, times };
}

/** Mean squared error of predictions against targets (both [B, P, C_out]), a scalar. */
export const meanSquaredError = (predictions: Tensor, targets: Tensor): Tensor => predictions.sub(targets).square().mean();

export interface SensorEvaluation {
  /** MSE over every held-out prediction and channel (targets are scaled to about unit size). */
  mse: number;
  /** The MSE of predicting each channel's held-out mean: what a model that learned nothing scores. */
  baseline: number;
  /** MSE per target channel. */
  perChannel: number[];
  streams: number;
}

/** Held-out MSE of a model over streams (batched, no gradients). */
export async function evaluateSensorStreams(model: HiSS, streams: readonly SensorStream[], length: number, batch = 16): Promise<SensorEvaluation> {
  const cout = model.config.channelsOut;
  const perChannel = new Array<number>(cout).fill(0);
  const sums = new Array<number>(cout).fill(0);
  const squares = new Array<number>(cout).fill(0);
  let count = 0;
  for (let start = 0; start < streams.length; start += batch) {
    const part = streams.slice(start, start + batch);
    const { inputs, targets, times } = sensorBatch(part, model.config, length);
    const predicted = await noGradAsync(() => asyncScope(async () => model.forward(tensor(inputs, [part.length, length, model.config.channelsIn])).toArray()));
    for (let i = 0; i < targets.length; i++) {
      const c = i % cout;
      perChannel[c] += (predicted[i] - targets[i]) ** 2;
      sums[c] += targets[i];
      squares[c] += targets[i] ** 2;
    }
    count += part.length * times.length;
  }
  const mseOf = (per: number[]) => per.reduce((a, b) => a + b, 0) / (count * cout);
  const variance = sums.map((s, c) => squares[c] - (s * s) / count);
  return { mse: mseOf(perChannel), baseline: mseOf(variance), perChannel: perChannel.map((v) => v / count), streams: streams.length };
}

export interface StreamPrediction {
  /** The sample index each prediction stands for, and the predictions [times.length][C_out]. */
  times: number[];
  predictions: number[][];
}

/**
 * A model's predictions for one stream given as rows of readings (any length of at least one chunk): checked first
 * (NaN, channel counts, too short: a SensorError naming the sample), padded at its end to whole chunks (the mixers
 * are causal, so padding changes nothing before it), the padding's predictions dropped.
 */
export async function predictStream(model: HiSS, rows: readonly (readonly number[])[] | Float32Array): Promise<StreamPrediction> {
  const { channelsIn, channelsOut, chunk } = model.config;
  const problem = streamProblem(rows, channelsIn, chunk);
  if (problem) throw new SensorError(problem);
  const flat = rows instanceof Float32Array ? rows : Float32Array.from((rows as number[][]).flat());
  const length = flat.length / channelsIn;
  const padded = Math.ceil(length / chunk) * chunk;
  const inputs = new Float32Array(padded * channelsIn);
  inputs.set(flat);
  const out = await noGradAsync(() => asyncScope(async () => model.forward(tensor(inputs, [1, padded, channelsIn])).toArray()));
  const times = predictionTimes(model.config, padded).filter((t) => t < length);
  return { times, predictions: times.map((_, p) => Array.from(out.subarray(p * channelsOut, (p + 1) * channelsOut))) };
}

type SensorMetrics = { loss: Tensor };

export class SensorSession implements TrainingRun<SensorMetrics> {
  readonly monitor = new NonFiniteMonitor(['loss', 'gradient norm']);
  readonly itemUnit = 'samples';
  readonly trainStreams: SensorStream[];
  readonly heldOut: SensorStream[];
  private readonly sampler: Random;
  replay = false;
  private recorded: RecordedStep<[Tensor, Tensor], { loss: Tensor }> | null = null;

  private constructor(readonly state: SensorSessionState, readonly spec: SensorKind, readonly model: HiSS, readonly optimizer: AdamW) {
    this.trainStreams = sensorStreams(state.task, 'train', state.train, state.length);
    this.heldOut = sensorStreams(state.task, 'held-out', state.test, state.length);
    this.sampler = new Random(state.samplerState);
    optimizer.schedule = warmupCosine({ peak: state.lr, warmup: state.warmup, total: state.totalSteps, min: state.lr * 0.1 });
    optimizer.trackGradNorm = true;
  }

  static create(spec: SensorKind, state: Omit<SensorSessionState, 'step' | 'samplerState' | 'engineRandom'>): SensorSession {
    const info = SENSOR_TASK_INFO[state.task];
    if (state.config.channelsIn !== info.channelsIn || state.config.channelsOut !== info.channelsOut) {
      throw new SensorError(`task ${state.task} has ${info.channelsIn} input and ${info.channelsOut} target channels; the config says ${state.config.channelsIn} and ${state.config.channelsOut}`);
    }
    if (state.length < state.config.chunk) throw new SensorError(`streams of ${state.length} samples are shorter than one chunk (${state.config.chunk})`);
    if (state.length % state.config.chunk !== 0) throw new SensorError(`streams of ${state.length} samples are not whole chunks of ${state.config.chunk}: give a length that is a multiple of the chunk`);
    const model = spec.build(state.config);
    const decayed = model.namedParameters().filter(([name, p]) => p.rank >= 2 && !/norm|\.bias$/.test(name)).map(([, p]) => p);
    const plain = model.namedParameters().filter(([, p]) => !decayed.includes(p)).map(([, p]) => p);
    const optimizer = new AdamW([{ params: decayed, weightDecay: state.weightDecay }, { params: plain, weightDecay: 0 }], { lr: state.lr, betas: [0.9, 0.95], weightDecay: state.weightDecay, maxGradNorm: 1 });
    return new SensorSession({ ...state, step: 0, samplerState: state.seed >>> 0, engineRandom: getRandomState() }, spec, model, optimizer);
  }

  static async resume(dir: string, kindOf: (name: string) => SensorKind): Promise<SensorSession> {
    const manifest = await readManifest(dir);
    if (manifest.kind !== 'sensor') throw new CheckpointError(`${dir}: a ${manifest.kind} checkpoint, not a sensor model's`);
    const state = await readSessionRecord<SensorSessionState>(dir, manifest, 'predict');
    const session = SensorSession.create(kindOf(state.model), state);
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
    return this.state.batch * this.state.length;
  }

  private nextBatch(): { inputs: Tensor; targets: Tensor } {
    const { batch, length, config } = this.state;
    const streams = Array.from({ length: batch }, () => this.trainStreams[this.sampler.int(this.trainStreams.length)]);
    const b = sensorBatch(streams, config, length);
    return { inputs: tensor(b.inputs, [batch, length, config.channelsIn]), targets: tensor(b.targets, [batch, b.times.length, config.channelsOut]) };
  }

  private async stepOf(inputs: Tensor, targets: Tensor): Promise<SensorMetrics> {
    const loss = meanSquaredError(this.model.forward(inputs), targets);
    loss.backward();
    this.optimizer.step();
    this.optimizer.zeroGrad();
    return { loss: loss.detach() };
  }

  async trainStep(): Promise<SensorMetrics> {
    this.state.step++;
    const { inputs, targets } = this.nextBatch();
    try {
      let out: SensorMetrics;
      if (this.replay) {
        const recorded = (this.recorded ??= recordStep((i: Tensor, t: Tensor) => this.stepOf(i, t), { name: `${this.state.model} training step` }));
        out = await recorded.run(inputs, targets);
      } else out = await asyncScope(() => this.stepOf(inputs, targets));
      this.monitor.watch(this.state.step, out.loss, this.optimizer.lastGradNorm);
      return out;
    } finally {
      inputs.dispose();
      targets.dispose();
    }
  }

  async read(m: SensorMetrics): Promise<StepReading> {
    const [loss] = await readScalars([m.loss]);
    return { loss, values: { mse: loss }, text: `train MSE ${loss.toFixed(4)}` };
  }

  release(m: SensorMetrics): void {
    m.loss.dispose();
  }

  async evaluateHeldOut(): Promise<EvaluationReading> {
    const e = await evaluateSensorStreams(this.model, this.heldOut, this.state.length, this.state.batch);
    return { values: { mse: e.mse, baseline: e.baseline, perChannel: e.perChannel }, text: describeSensorEvaluation(e, this.state.task) };
  }

  describe(): string[] {
    const info = SENSOR_TASK_INFO[this.state.task];
    return [
      `model: ${this.spec.describe(this.state.config, this.model.parameterCount())}`,
      `task: ${this.state.task} (${info.summary}), ${this.state.train} training and ${this.state.test} held-out streams of ${this.state.length} samples at ${info.rate} Hz; batch ${this.state.batch}`,
    ];
  }

  async save(dir: string, hooks?: SaveHooks): Promise<Manifest> {
    this.state.samplerState = this.sampler.state;
    this.state.engineRandom = getRandomState();
    const weights = await this.weightsFile();
    const training = await serializeTensors(this.optimizer.stateTensors(this.model.namedParameters()), { step: String(this.state.step) });
    return saveCheckpoint(dir, 'sensor', this.state.step, [
      { role: 'weights', extension: 'safetensors', bytes: weights },
      { role: 'training', extension: 'safetensors', bytes: training },
      { role: 'session', extension: 'json', bytes: new TextEncoder().encode(JSON.stringify(this.state, null, 2)) },
    ], hooks);
  }

  async weightsFile(): Promise<Uint8Array> {
    const s = this.state;
    return serializeTensors(this.model.stateDict(), {
      model: s.model, config: JSON.stringify(s.config), step: String(s.step), task: s.task, heldOut: JSON.stringify({ test: s.test, length: s.length }),
    });
  }

  dispose(): void {
    this.recorded?.dispose();
    this.monitor.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }
}

export function describeSensorEvaluation(e: SensorEvaluation, task: SensorTask): string {
  const names = SENSOR_TASK_INFO[task].targetNames;
  return `held-out MSE ${e.mse.toFixed(4)} over ${e.streams} streams (predicting the mean: ${e.baseline.toFixed(4)}; per channel ${e.perChannel.map((v, c) => `${names[c]} ${v.toFixed(4)}`).join(', ')})`;
}
