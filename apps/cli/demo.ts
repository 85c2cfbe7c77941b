// The README's main command: trains a small MLP on a three-arm spiral (a classic non-linear toy problem) on the
// GPU and prints the adapter and the loss as it falls. Only printed values are read back from the GPU.

import {
  assign, describeAdapter, init, keep, manualSeed, noGrad, randn, runtime, scope, tensor, zerosLike, type Tensor,
} from '../../engine/index.ts';

function spiral(pointsPerClass: number, classes: number): { x: Float32Array; onehot: Float32Array; labels: number[] } {
  const n = pointsPerClass * classes;
  const x = new Float32Array(n * 2);
  const onehot = new Float32Array(n * classes);
  const labels: number[] = [];
  let seed = 7;
  const noise = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.3;
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < pointsPerClass; i++) {
      const r = i / pointsPerClass;
      const t = (c * 4 + 4 * r) + noise();
      const row = c * pointsPerClass + i;
      x[row * 2] = r * Math.sin(t);
      x[row * 2 + 1] = r * Math.cos(t);
      onehot[row * classes + c] = 1;
      labels.push(c);
    }
  }
  return { x, onehot, labels };
}

export async function runDemo(args: string[]): Promise<void> {
  const steps = Number(args.find((a) => a.startsWith('--steps='))?.split('=')[1] ?? 300);
  const report = await init();
  console.log(`adapter: ${describeAdapter(report)}`);
  manualSeed(0);
  const classes = 3;
  const hidden = 64;
  const data = spiral(100, classes);
  const n = data.labels.length;
  const x = tensor(data.x, [n, 2]);
  const y = tensor(data.onehot, [n, classes]);
  const params = [
    randn([2, hidden], { std: Math.sqrt(2 / 2), requiresGrad: true }),
    randn([hidden], { std: 0, requiresGrad: true }),
    randn([hidden, hidden], { std: Math.sqrt(2 / hidden), requiresGrad: true }),
    randn([hidden], { std: 0, requiresGrad: true }),
    randn([hidden, classes], { std: Math.sqrt(1 / hidden), requiresGrad: true }),
  ];
  const [w1, b1, w2, b2, w3] = params;
  const velocity = params.map((p) => zerosLike(p));
  const forward = (): Tensor => x.matmul(w1).add(b1).relu().matmul(w2).add(b2).relu().matmul(w3);
  const lr = 0.1;
  const momentum = 0.9;
  console.log(`model: MLP 2 -> ${hidden} -> ${hidden} -> ${classes}, SGD with momentum, ${n} spiral points, ${steps} steps`);
  const start = performance.now();
  for (let step = 1; step <= steps; step++) {
    const loss = scope(() => {
      const logits = forward();
      // Cross-entropy: logsumexp(logits) - logit of the true class, averaged.
      const loss = logits.logsumexp(1).sub(logits.mul(y).sum(1)).mean();
      loss.backward();
      noGrad(() => {
        params.forEach((p, i) => {
          assign(velocity[i], velocity[i].mul(momentum).add(p.grad!));
          assign(p, p.sub(velocity[i].mul(lr)));
          p.grad!.dispose();
          p.grad = null;
        });
      });
      return loss;
    });
    if (step === 1 || step % 25 === 0) {
      const value = await loss.item();
      const predictions = await scope(() => keep(noGrad(() => forward().argmax(1)))).toArray();
      const accuracy = Array.from(predictions).filter((p, i) => p === data.labels[i]).length / n;
      const elapsed = (performance.now() - start) / 1000;
      console.log(`step ${String(step).padStart(4)}  loss ${value.toFixed(4)}  accuracy ${(accuracy * 100).toFixed(1)}%  ${elapsed.toFixed(1)} s`);
    }
    loss.dispose();
  }
  const stats = runtime().stats;
  console.log(`done: ${stats.dispatches} dispatches in ${stats.submits} submits; ${(runtime().memory().totalBytes / 1024).toFixed(0)} KiB of GPU memory held`);
}
