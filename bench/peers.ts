// TensorFlow.js's WebGPU backend on the same adapter in the same process (Dawn's navigator.gpu): matmul, softmax
// and a training step of the same MLP. Both sides are timed the same way: `reps` runs encoded back to back, then
// wait for queue completion; the time per run is the total over reps. Ratio = Hiero time / TF.js time.

import { AdamW, crossEntropy, Linear, matmul, Module, randn, scope, softmax, sync, tensor, type Tensor } from '../engine/index.ts';
import type { BenchRow, Sizes } from '../engine/measure/types.ts';

type Tf = typeof import('@tensorflow/tfjs-core');

async function loadPeer(): Promise<Tf | string> {
  try {
    const { create, globals } = (await import('webgpu')) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
    Object.assign(globalThis, globals);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
    // The umbrella package registers the gradient functions that training needs; core alone does not.
    await import('@tensorflow/tfjs');
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) return 'TF.js could not start its WebGPU backend on this adapter';
    await tf.ready();
    return tf;
  } catch (error) {
    return `TF.js WebGPU unavailable: ${(error as Error).message.split('\n')[0]}`;
  }
}

async function tfCompletion(tf: Tf): Promise<void> {
  // TF.js keeps a compute pass open between ops: end it, submit, then wait, the same as Hiero's sync().
  const backend = tf.backend() as unknown as { ensureCommandEncoderReady(): void; endComputePassEncoder(): void; submitQueue(): void; device: GPUDevice };
  backend.ensureCommandEncoderReady(); // submitQueue fails when nothing was encoded since the last submit
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

async function timeBackToBack(reps: number, run: () => void, done: () => Promise<void>): Promise<number> {
  run();
  await done();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  await done();
  return (performance.now() - t0) / reps;
}

class MLP extends Module {
  readonly l1: Linear;
  readonly l2: Linear;
  constructor(dims: [number, number, number]) {
    super();
    this.l1 = this.child('l1', new Linear(dims[0], dims[1]));
    this.l2 = this.child('l2', new Linear(dims[1], dims[2]));
  }
  forward(x: Tensor): Tensor {
    return this.l2.forward(this.l1.forward(x).relu());
  }
}

export async function peerRows(sizes: Sizes, reps: number, want: (name: string) => boolean): Promise<BenchRow[]> {
  const tf = await loadPeer();
  if (typeof tf === 'string') return [{ section: 'peers', name: 'TensorFlow.js WebGPU', shape: '-', ms: 0, value: null, unit: '-', note: tf }];
  const rows: BenchRow[] = [];
  const row = (name: string, shape: string, hieroMs: number, tfMs: number): BenchRow => ({
    section: 'peers', name, shape, ms: hieroMs, value: tfMs, unit: 'TF.js ms', ratio: tfMs > 0 ? hieroMs / tfMs : null,
  });
  if (want('peer matmul')) {
    for (const n of sizes.peerMatmul) {
      const a = randn([n, n], { seed: 1 });
      const b = randn([n, n], { seed: 2 });
      const hiero = await timeBackToBack(reps, () => scope(() => void matmul(a, b)), sync);
      const ta = tf.randomNormal([n, n]);
      const tb = tf.randomNormal([n, n]);
      const outs: { dispose(): void }[] = [];
      const peer = await timeBackToBack(reps, () => void outs.push(tf.matMul(ta, tb)), () => tfCompletion(tf));
      outs.forEach((o) => o.dispose());
      rows.push(row('peer matmul', `${n}×${n}×${n}`, hiero, peer));
      [a, b].forEach((t) => t.dispose());
      [ta, tb].forEach((t) => t.dispose());
    }
  }
  const [rowsN, width] = sizes.rows;
  if (want('peer softmax')) {
    const x = randn([rowsN, width], { seed: 3 });
    const hiero = await timeBackToBack(reps, () => scope(() => void softmax(x)), sync);
    const tx = tf.randomNormal([rowsN, width]);
    const outs: { dispose(): void }[] = [];
    const peer = await timeBackToBack(reps, () => void outs.push(tf.softmax(tx)), () => tfCompletion(tf));
    outs.forEach((o) => o.dispose());
    rows.push(row('peer softmax', `${rowsN}×${width}`, hiero, peer));
    x.dispose();
    tx.dispose();
  }
  if (want('peer train step')) {
    // The same MLP, loss and optimiser on both sides: 2-layer ReLU MLP, softmax cross-entropy, Adam.
    const dims: [number, number, number] = [width, 2 * width, 16];
    const batch = rowsN;
    const labels = Int32Array.from({ length: batch }, (_, i) => i % dims[2]);
    const model = new MLP(dims);
    const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0 });
    const x = randn([batch, dims[0]], { seed: 4 });
    const y = tensor(labels, [batch], { dtype: 'i32' });
    const hiero = await timeBackToBack(reps, () => scope(() => {
      const loss = crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      opt.zeroGrad();
    }), sync);
    const w1 = tf.variable(tf.randomNormal([dims[0], dims[1]], 0, 0.05));
    const b1 = tf.variable(tf.zeros([dims[1]]));
    const w2 = tf.variable(tf.randomNormal([dims[1], dims[2]], 0, 0.05));
    const b2 = tf.variable(tf.zeros([dims[2]]));
    const tx = tf.randomNormal([batch, dims[0]]);
    const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), dims[2]);
    const adam = (await import('@tensorflow/tfjs-core')).train.adam(1e-3);
    const peer = await timeBackToBack(reps, () => {
      adam.minimize(() => tf.losses.softmaxCrossEntropy(onehot, tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(tx, w1), b1)), w2), b2)) as never);
    }, () => tfCompletion(tf));
    rows.push(row('peer train step (MLP)', `${batch}×${dims.join('→')}`, hiero, peer));
    model.dispose();
    opt.dispose();
    [x, y].forEach((t) => t.dispose());
    tf.disposeVariables();
    [tx, onehot].forEach((t) => t.dispose());
  }
  return rows;
}
