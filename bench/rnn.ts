// The diagonal GRU and LSTM-CIFG solved three ways (engine/ops/rnn.ts), forward + backward, on the adapter found: the sequential
// reference (a dispatch per step), FlashRNN's fused kernel and ParaRNN's Newton (3 iterations, ParaRNN's default;
// and the iterations solveDiagGRU needed to reach 1e-5 on these random weights, recurrent weights in ±0.5).
//   npm run bench:rnn [-- --cells=gru,lstm] [--steps=256,4096,65536] [--channels=64,256] [--reps=3] [--sequential-max=4096]
// Timing: engine/measure (GPU timestamps where the adapter has them), median of reps.

import { describeAdapter, diagGRU, diagLSTM, init, rand, randn, shutdown, solveDiagGRU, solveDiagLSTM, type RnnMethod, type Tensor } from '../engine/index.ts';
import { measure } from '../engine/measure/timing.ts';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;

async function main() {
  const report = await init();
  console.log(`adapter: ${describeAdapter(report)}`);
  const steps = arg('steps', '256,4096,65536').split(',').map(Number);
  const channels = arg('channels', '64,256').split(',').map(Number);
  const reps = Number(arg('reps', '3'));
  const sequentialMax = Number(arg('sequential-max', '4096'));
  const cells = arg('cells', 'gru,lstm').split(',');
  console.log('cell  T        C     method       fwd+bwd ms   dispatches   (Newton: iterations to 1e-5)');
  for (const cell of cells) for (const C of channels) {
    for (const T of steps) {
      const xs = [0, 1, 2].map(() => randn([1, T, C], { requiresGrad: true }));
      const w = () => rand([C], { low: -0.5, high: 0.5, requiresGrad: true });
      const weights = { uz: w(), ur: w(), uh: w(), bz: w(), br: w(), bh: w() };
      const lstmWeights = { uf: weights.uz, uo: weights.ur, uc: weights.uh, bf: weights.bz, bo: weights.br, bc: weights.bh };
      let iterations: number;
      if (cell === 'gru') {
        const solved = await solveDiagGRU(xs[0], xs[1], xs[2], weights, { tolerance: 1e-5 });
        solved.states.dispose();
        iterations = solved.iterations;
      } else {
        const solved = await solveDiagLSTM(xs[0], xs[1], xs[2], lstmWeights, { tolerance: 1e-5 });
        solved.states.h.dispose();
        solved.states.c.dispose();
        iterations = solved.iterations;
      }
      for (const method of ['sequential', 'fused', 'newton'] as RnnMethod[]) {
        if (method === 'sequential' && T > sequentialMax) continue;
        const m = await measure(() => {
          const h: Tensor = cell === 'gru' ? diagGRU(xs[0], xs[1], xs[2], weights, { method }) : diagLSTM(xs[0], xs[1], xs[2], lstmWeights, { method }).h;
          h.sum().backward();
          for (const t of [...xs, ...Object.values(weights)]) { t.grad?.dispose(); t.grad = null; }
        }, { reps });
        const note = method === 'newton' ? `   (${iterations} to 1e-5)` : '';
        console.log(`${cell.padEnd(5)} ${String(T).padEnd(8)} ${String(C).padEnd(5)} ${method.padEnd(12)} ${m.medianMs.toFixed(1).padStart(10)}   ${String(m.dispatches).padStart(10)}${note}`);
      }
      for (const t of [...xs, ...Object.values(weights)]) t.dispose();
    }
  }
  shutdown();
}
main();
