// Continuous sensor streams generated offline, in the spirit of CSP-Bench (HiSS, Bhirangi et al. 2024; design note
// ../shared/design/plstm-hiss.md): raw readings in, a physical quantity out, both real-valued at one sample rate.
//   imu      accelerometer and gyroscope (6 channels, body frame, gravity included) with bias drift and white noise,
//            along a random smooth planar-plus-heave trajectory that starts at rest → world-frame velocity (3).
//            Dead reckoning in the frame the body starts in: the heading must be integrated from the gyro to rotate
//            the accelerations, which are integrated in turn.
//   tactile  a skin of 4 three-axis magnetometers (12 channels) over an elastomer: each reads a fixed nonlinear
//            function of the elastomer's lagged (viscoelastic) deformation, plus temperature drift and a vibration
//            tone → the contact force (normal and two shear components, 3).
// Every stream is a pure function of (task, split, index): training streams and held-out streams never share a seed,
// and a smaller training set is a prefix of a larger one. Values are scaled to about unit size. Tests: test/hiss.test.ts.

import { Random } from '../tasks/common.ts';

export const SENSOR_TASKS = ['imu', 'tactile'] as const;
export type SensorTask = (typeof SENSOR_TASKS)[number];

export class SensorError extends Error {
  override name = 'SensorError';
}

export interface SensorTaskInfo {
  channelsIn: number;
  channelsOut: number;
  /** Samples per second of the simulated sensor. */
  rate: number;
  inputNames: readonly string[];
  targetNames: readonly string[];
  summary: string;
}

export const SENSOR_TASK_INFO: { readonly [T in SensorTask]: SensorTaskInfo } = {
  imu: {
    channelsIn: 6, channelsOut: 3, rate: 100,
    inputNames: ['acc x', 'acc y', 'acc z', 'gyro x', 'gyro y', 'gyro z'], targetNames: ['velocity x', 'velocity y', 'velocity z'],
    summary: 'IMU odometry: accelerometer and gyroscope with bias drift and noise -> world-frame velocity',
  },
  tactile: {
    channelsIn: 12, channelsOut: 3, rate: 200,
    inputNames: Array.from({ length: 12 }, (_, i) => `mag ${Math.floor(i / 3) + 1}${'xyz'[i % 3]}`), targetNames: ['force normal', 'force shear x', 'force shear y'],
    summary: 'tactile skin: 4 magnetometers over a viscoelastic elastomer, drift and vibration -> contact force',
  },
};

/** A stream: `length` samples of inputs [length × channelsIn] and targets [length × channelsOut], row-major. */
export interface SensorStream {
  inputs: Float32Array;
  targets: Float32Array;
  length: number;
}

export type SensorSplit = 'train' | 'held-out';

/** The seed of one stream: splits are apart by far more than any set's size. */
function streamSeed(task: SensorTask, split: SensorSplit, index: number): number {
  return ((task === 'imu' ? 0x1a2b3c : 0x4d5e6f) + (split === 'train' ? 0 : 0x40000000) + index * 7919) >>> 0;
}

const gauss = (r: Random) => Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());

/** A smooth random signal: a few sinusoids with random frequencies (Hz) below `maxHz`, phases and amplitudes. */
function smoothSignal(r: Random, maxHz: number, amplitude: number, parts = 3): (t: number) => number {
  const waves = Array.from({ length: parts }, () => ({ f: (0.1 + 0.9 * r.next()) * maxHz, phase: 2 * Math.PI * r.next(), a: amplitude * (0.3 + 0.7 * r.next()) / parts }));
  return (t) => waves.reduce((s, w) => s + w.a * Math.sin(2 * Math.PI * w.f * t + w.phase), 0);
}

function imuStream(seed: number, length: number): SensorStream {
  const r = new Random(seed);
  const dt = 1 / SENSOR_TASK_INFO.imu.rate;
  const yawRate = smoothSignal(r, 0.6, 1.2);
  const cruise = 0.5 + 1.5 * r.next();
  const forward = smoothSignal(r, 0.5, 1.0);
  const lateral = smoothSignal(r, 0.7, 0.3);
  const heave = smoothSignal(r, 1.2, 0.2);
  const ramp = 0.3 + 0.5 * r.next(); // seconds to get moving: every stream starts at rest, so velocity is observable
  const onset = (t: number) => 1 - Math.exp(-t / ramp);
  // Body-frame velocity, then world frame through the heading ψ (integrated at a finer step than the samples).
  const fine = 8;
  const heading = new Float64Array(length + 2);
  let psi = 0; // the world frame is the frame the body starts in (a random start heading would be unobservable)
  for (let i = 0; i < length + 2; i++) {
    heading[i] = psi;
    for (let k = 0; k < fine; k++) psi += (yawRate((i + k / fine) * dt) * onset((i + k / fine) * dt) * dt) / fine;
  }
  const worldVelocity = (i: number): [number, number, number] => {
    const t = i * dt;
    const s = onset(t);
    const u = s * (cruise + forward(t)), l = s * lateral(t), w = s * heave(t);
    const c = Math.cos(heading[i]), n = Math.sin(heading[i]);
    return [c * u - n * l, n * u + c * l, w];
  };
  const inputs = new Float32Array(length * 6);
  const targets = new Float32Array(length * 3);
  const accBias = [0, 1, 2].map(() => 0.15 * gauss(r));
  const gyroBias = [0, 1, 2].map(() => 0.02 * gauss(r));
  const roll = smoothSignal(r, 1.5, 0.15);
  const pitch = smoothSignal(r, 1.5, 0.15);
  for (let i = 0; i < length; i++) {
    const before = worldVelocity(Math.max(0, i - 1)), after = worldVelocity(i + 1), now = worldVelocity(i);
    const span = (i === 0 ? 1 : 2) * dt;
    const aw = [0, 1, 2].map((k) => (after[k] - before[k]) / span);
    const c = Math.cos(heading[i]), n = Math.sin(heading[i]);
    // Specific force in the body frame: world acceleration rotated by −ψ, gravity reacting upward.
    const ab = [c * aw[0] + n * aw[1], -n * aw[0] + c * aw[1], aw[2] + 9.81];
    for (let k = 0; k < 3; k++) {
      accBias[k] += 0.004 * gauss(r);
      gyroBias[k] += 0.0005 * gauss(r);
    }
    const gyro = [roll(i * dt), pitch(i * dt), yawRate(i * dt) * onset(i * dt)];
    for (let k = 0; k < 3; k++) {
      inputs[i * 6 + k] = (ab[k] + accBias[k] + 0.05 * gauss(r) - (k === 2 ? 9.81 : 0)) / 2;
      inputs[i * 6 + 3 + k] = gyro[k] + gyroBias[k] + 0.01 * gauss(r);
      targets[i * 3 + k] = now[k] / 2;
    }
  }
  return { inputs, targets, length };
}

/** The skin: a fixed nonlinear map from deformation to each magnetometer axis (the same for every stream). */
const SKIN = (() => {
  const r = new Random(0x5ca1ab1e);
  return Array.from({ length: 12 }, () => ({
    w: [gauss(r), gauss(r), gauss(r)].map((x) => x * 0.8),
    bias: 0.5 * gauss(r),
    gain: 0.8 + 0.6 * r.next(),
    square: 0.3 * gauss(r),
    vibration: gauss(r),
  }));
})();

function tactileStream(seed: number, length: number): SensorStream {
  const r = new Random(seed);
  const dt = 1 / SENSOR_TASK_INFO.tactile.rate;
  // Presses: random onsets, durations 0.15–0.6 s, peak normal force up to 1.5 (scaled units), shear a fraction of it.
  const presses: { start: number; duration: number; peak: number; sx: number; sy: number }[] = [];
  for (let t = 0.05 + 0.3 * r.next(); t < length * dt; t += 0.2 + 0.6 * r.next()) {
    const duration = 0.15 + 0.45 * r.next();
    presses.push({ start: t, duration, peak: 0.3 + 1.2 * r.next(), sx: 0.5 * (2 * r.next() - 1), sy: 0.5 * (2 * r.next() - 1) });
    t += duration;
  }
  const force = (t: number): [number, number, number] => {
    let [n, x, y] = [0, 0, 0];
    for (const p of presses) {
      const u = (t - p.start) / p.duration;
      if (u <= 0 || u >= 1) continue;
      const envelope = Math.sin(Math.PI * u) ** 2;
      n += p.peak * envelope;
      x += p.peak * p.sx * envelope * Math.sin(Math.PI * u);
      y += p.peak * p.sy * envelope;
    }
    return [n, x, y];
  };
  const lag = Math.exp(-dt / (0.02 + 0.03 * r.next())); // the elastomer's relaxation, 20–50 ms, differs per stream
  const drift = SKIN.map(() => 0.3 * gauss(r));
  const tone = { hz: 25 + 40 * r.next(), amplitude: 0.4 * r.next(), phase: 2 * Math.PI * r.next() };
  const deformation = [0, 0, 0];
  const inputs = new Float32Array(length * 12);
  const targets = new Float32Array(length * 3);
  for (let i = 0; i < length; i++) {
    const f = force(i * dt);
    for (let k = 0; k < 3; k++) deformation[k] = lag * deformation[k] + (1 - lag) * f[k];
    const vibration = tone.amplitude * Math.sin(2 * Math.PI * tone.hz * i * dt + tone.phase);
    SKIN.forEach((s, j) => {
      drift[j] += 0.01 * gauss(r);
      const field = s.w[0] * deformation[0] + s.w[1] * deformation[1] + s.w[2] * deformation[2];
      inputs[i * 12 + j] = s.gain * Math.tanh(field + s.bias) + s.square * field * field + drift[j] + s.vibration * vibration + 0.03 * gauss(r);
    });
    targets.set(f, i * 3);
  }
  return { inputs, targets, length };
}

const GENERATORS: { readonly [T in SensorTask]: (seed: number, length: number) => SensorStream } = { imu: imuStream, tactile: tactileStream };

export function isSensorTask(name: unknown): name is SensorTask {
  return typeof name === 'string' && (SENSOR_TASKS as readonly string[]).includes(name);
}

/** Streams `first` … `first + count − 1` of a split, each `length` samples. */
export function sensorStreams(task: SensorTask, split: SensorSplit, count: number, length: number, first = 0): SensorStream[] {
  if (!isSensorTask(task)) throw new SensorError(`unknown sensor task '${task}' (${SENSOR_TASKS.join(' or ')})`);
  return Array.from({ length: count }, (_, i) => GENERATORS[task](streamSeed(task, split, first + i), length));
}

/** What is wrong with a stream given as rows of readings against a task's channels and a chunk size, or null. */
export function streamProblem(rows: readonly (readonly number[])[] | Float32Array, channels: number, chunk: number): string | null {
  if (rows instanceof Float32Array) {
    if (rows.length % channels !== 0) return `a flat stream of ${rows.length} values is not whole samples of ${channels} channels`;
    const length = rows.length / channels;
    if (length < chunk) return `the stream has ${length} samples, shorter than one chunk (${chunk})`;
    const bad = rows.findIndex((v) => !Number.isFinite(v));
    return bad >= 0 ? `sample ${Math.floor(bad / channels)}, channel ${bad % channels} is ${rows[bad]} (readings must be finite numbers)` : null;
  }
  if (!Array.isArray(rows)) return 'the stream must be an array of samples, each an array of channel readings';
  if (rows.length < chunk) return `the stream has ${rows.length} samples, shorter than one chunk (${chunk})`;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!Array.isArray(row)) return `sample ${i} is not an array of readings`;
    if (row.length !== channels) return `sample ${i} has ${row.length} channels; the model reads ${channels}`;
    for (let c = 0; c < channels; c++) if (typeof row[c] !== 'number' || !Number.isFinite(row[c])) return `sample ${i}, channel ${c} is ${row[c]} (readings must be finite numbers)`;
  }
  return null;
}
