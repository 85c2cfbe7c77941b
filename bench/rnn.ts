// The diagonal GRU and LSTM-CIFG solved three ways (engine/ops/rnn.ts), forward + backward, on the adapter found: the sequential
// reference (a dispatch per step), FlashRNN's fused kernel and ParaRNN's Newton (3 iterations, ParaRNN's default;
// and the iterations solveDiagGRU needed to reach 1e-5 on these random weights, recurrent weights in ±0.5).
//   npm run bench:rnn [-- --cells=gru,lstm] [--steps=256,4096,65536] [--channels=64,256] [--reps=3] [--sequential-max=4096]
//   npm run bench:rnn -- --checkpoint=DIR [--seq=1024]   Newton's iterations to 1e-5 on a trained paragru/paralstm's
//                                                        layers, over held-out English (each layer's real input)
// Timing: engine/measure (GPU timestamps where the adapter has them), median of reps.

import { describeAdapter, diagGRU, diagLSTM, init, rand, randn, shutdown, solveDiagGRU, solveDiagLSTM, type RnnMethod, type Tensor } from '../engine/index.ts';
import { measure } from '../engine/measure/timing.ts';
import { englishCorpus } from '../model/data/corpus.ts';
import { ParaGRULayer, ParaLSTMLayer } from '../model/para-rnn.ts';
import type { RecurrentLM } from '../model/recurrent-lm.ts';
import { loadTextModel } from '../model/registry.ts';
import { noGrad, noGradAsync, scope, slice, tensor } from '../engine/index.ts';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;

/** Each layer of a trained ParaGRU/ParaLSTM LM solved by Newton on its real input: iterations and residuals. */
async function trained(dir: string, seq: number) {
  const { model, kind } = await loadTextModel(dir);
  const lm = model as unknown as RecurrentLM;
  const text = englishCorpus().heldOut.subarray(0, seq);
  const ids = tensor(Int32Array.from(text), [1, seq], { dtype: 'i32' });
  let x = noGrad(() => lm.embed.forward(ids));
  console.log(`${kind} ${dir}: ${seq} held-out bytes`);
  for (const [l, block] of lm.blocks.entries()) {
    const mixer = block.mixer as ParaGRULayer | ParaLSTMLayer;
    const normed = noGrad(() => block.mixerNorm.forward(x));
    const proj = noGrad(() => mixer.inProj.forward(normed));
    const d = mixer.dim;
    const part = (k: number) => slice(proj, [null, null, [k * d, (k + 1) * d]]);
    const w = mixer.diagonal;
    const solved = mixer instanceof ParaGRULayer
      ? await noGradAsync(() => solveDiagGRU(part(0), part(1), part(2), { uz: w.uz, ur: w.ur, uh: w.uh, bz: w.bz, br: w.br, bh: w.bh }, { tolerance: 1e-5 }))
      : await noGradAsync(() => solveDiagLSTM(part(0), part(1), part(2), { uf: w.uf, uo: w.uo, uc: w.uc, bf: w.bf, bo: w.bo, bc: w.bc }, { tolerance: 1e-5 }));
    const max = Math.max(...(await Promise.all(['uz', 'ur', 'uh', 'uf', 'uo', 'uc'].filter((n) => w[n]).map(async (n) => Math.max(...Array.from(await w[n].toArray(), Math.abs))))));
    console.log(`  layer ${l}: ${solved.iterations} iterations to 1e-5 (residuals ${solved.history.map((r) => r.toExponential(1)).join(', ')}); largest |recurrent weight| ${max.toFixed(2)}`);
    const next = noGrad(() => block.forward(x));
    x.dispose();
    x = next;
    for (const t of [normed, proj]) t.dispose();
  }
  scope(() => x.dispose());
}

async function main() {
  const report = await init();
  console.log(`adapter: ${describeAdapter(report)}`);
  const checkpoint = arg('checkpoint', '');
  if (checkpoint) {
    await trained(checkpoint, Number(arg('seq', '1024')));
    shutdown();
    return;
  }
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
