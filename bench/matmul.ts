// Matmul throughput (GFLOP/s) on the adapter found, for square sizes and the tile settings given.
//   node --import tsx --import ./engine/node/register.mjs bench/matmul.ts [--sizes=256,512,1024] [--reps=3]
// Timing: warm-up, then the median over reps of wall time from first dispatch to queue completion (sync()).

import { describeAdapter, init, matmul, randn, scope, shutdown, sync } from '../engine/index.ts';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;

async function main() {
  const report = await init();
  console.log(`adapter: ${describeAdapter(report)}`);
  const sizes = arg('sizes', '256,512,1024').split(',').map(Number);
  const reps = Number(arg('reps', '3'));
  console.log('size   median ms   GFLOP/s');
  for (const n of sizes) {
    const a = randn([n, n], { seed: 1 });
    const b = randn([n, n], { seed: 2 });
    scope(() => matmul(a, b));
    await sync();
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      scope(() => matmul(a, b));
      await sync();
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const ms = times[Math.floor(times.length / 2)];
    console.log(`${String(n).padEnd(6)} ${ms.toFixed(1).padStart(9)}   ${((2 * n ** 3) / (ms * 1e6)).toFixed(2).padStart(7)}`);
    a.dispose();
    b.dispose();
  }
  shutdown();
}
main();
