import { init, randn, gatedLinearAttention, scope, sync, noGrad, tensor } from './engine/index.ts';
import { specOf } from './model/kinds/index.ts';
await init();
const [B, T, H, K, V] = [16, 64, 4, 16, 16];
for (const chunk of [8, 16, 32, 64]) {
  const q = randn([B, T, H, K]), k = randn([B, T, H, K]), v = randn([B, T, H, V]);
  const g = randn([B, T, H, K]).abs().neg().mul(0.1);
  for (const t of [q, k, v, g]) t.requiresGrad = true;
  const run = () => scope(() => { const o = gatedLinearAttention(q, k, v, g, { chunk }); o.square().mean().backward(); });
  run(); await sync();
  let t0 = performance.now();
  for (let i = 0; i < 5; i++) run();
  await sync();
  const fb = (performance.now() - t0) / 5;
  t0 = performance.now();
  for (let i = 0; i < 5; i++) noGrad(() => scope(() => gatedLinearAttention(q, k, v, g, { chunk })));
  await sync();
  console.log(`chunk ${chunk}: fwd ${((performance.now() - t0) / 5).toFixed(1)} ms, fwd+bwd ${fb.toFixed(1)} ms`);
}
for (const kind of ['hgrn', 'hgrn2', 'transformer'] as const) {
  const spec = specOf(kind) as any;
  const m = spec.build(structuredClone(spec.presets.tiny.config));
  const ids = tensor(new Int32Array(B * T).fill(65), [B, T], { dtype: 'i32' });
  const step = async () => { const l = await m.losses(ids, ids); l.loss.backward(); l.loss.dispose(); };
  await step(); await sync();
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await step();
  await sync();
  console.log(kind, `fwd+bwd ${((performance.now() - t0) / 3).toFixed(0)} ms`);
}
