// The mixer table (model/mixers.ts), walked row by row: every mixer's step-by-step decoding equals its parallel
// forward, rows that are not active keep their state, and gradients reach every parameter.

import { describe, expect, it } from 'vitest';
import { full, manualSeed, noGrad, randn, scope, slice, tensor } from '../engine/index.ts';
import { disposeState, MIXER_KINDS, MIXERS, ResidualBlock } from '../model/mixers.ts';
import { expectClose, useDevice } from './helpers.ts';

useDevice();

const WIDTH = 16;
// A window shorter than the sequence and a small state size, so local attention and Mamba-2 meet their edges.
const OPTIONS = { heads: 2, conv: 4, rotary: 0.5, ropeBase: 10000, normEps: 1e-5, window: 3, stateSize: 8 };
const [B, T] = [2, 7];

describe('the mixer table', () => {
  for (const kind of MIXER_KINDS) {
    it(`${kind}: decoding one position at a time gives the parallel forward; inactive rows keep their state`, async () => {
      manualSeed(11);
      const mixer = MIXERS[kind].build(WIDTH, OPTIONS);
      const x = randn([B, T, WIDTH], { seed: 3 });
      const whole = await noGrad(() => mixer.forward(x)).toArray();
      const state = mixer.initialState(B, T + 1);
      for (let t = 0; t < T; t++) {
        const y = scope(() => noGrad(() => mixer.step(slice(x, [null, t]).contiguous().reshape([B, WIDTH]), state)));
        const expected = Array.from({ length: B * WIDTH }, (_, i) => whole[(Math.floor(i / WIDTH) * T + t) * WIDTH + (i % WIDTH)]);
        // The same math in another order (a parallel scan or tiled attention against one step): f32 rounding only.
        expectClose(await y.toArray(), expected, { atol: 2e-5, rtol: 1e-4 }, `${kind} position ${t}`);
        y.dispose();
      }
      // Row 1 inactive for one step: its next output is what it would have been without that step.
      const probe = randn([B, WIDTH], { seed: 4 });
      const reference = mixer.initialState(B, T + 2);
      const paused = mixer.initialState(B, T + 2);
      const active = tensor([1, 0]);
      for (let t = 0; t < T; t++) {
        scope(() => noGrad(() => {
          const xt = slice(x, [null, t]).contiguous().reshape([B, WIDTH]);
          mixer.step(xt, reference);
          mixer.step(xt, paused);
        }));
      }
      scope(() => noGrad(() => mixer.step(probe, paused, { active })));
      const next = randn([B, WIDTH], { seed: 5 });
      const a = scope(() => noGrad(() => mixer.step(next, reference)));
      const b = scope(() => noGrad(() => mixer.step(next, paused)));
      const [ra, rb] = [await a.toArray(), await b.toArray()];
      expectClose(rb.slice(WIDTH), ra.slice(WIDTH), { atol: 1e-6, rtol: 1e-6 }, `${kind} inactive row`);
      expect(MIXERS[kind].check(WIDTH, OPTIONS)).toBeNull();
      disposeState([state, reference, paused]);
      for (const t of [x, probe, active, next, a, b]) t.dispose();
      mixer.dispose();
    });

    it(`${kind}: prefill reads a sequence in one pass and leaves the state that stepping leaves, also for rows padded at the end`, async () => {
      manualSeed(13);
      const mixer = MIXERS[kind].build(WIDTH, OPTIONS);
      const x = randn([B, T, WIDTH], { seed: 9 });
      const next = randn([B, WIDTH], { seed: 10 });
      const lengths = tensor(Int32Array.of(T, T - 3), [B], { dtype: 'i32' });
      const at = (t: number) => slice(x, [null, t]).contiguous().reshape([B, WIDTH]);
      const whole = await noGrad(() => mixer.forward(x)).toArray();
      for (const padded of [false, true]) {
        const filled = mixer.initialState(B, T + 2);
        const stepped = mixer.initialState(B, T + 2);
        const y = scope(() => noGrad(() => mixer.prefill(x, filled, padded ? { lengths } : {})));
        // The prefill's output is the parallel forward's (the same kernels for attention; the same scan or chunked op for
        // the rest) at every real position; padding's outputs are meaningless (matrix-state mixers zero its keys).
        const real = (values: ArrayLike<number>) => Array.from(values, (v, i) => (padded && Math.floor(i / (T * WIDTH)) === 1 && Math.floor(i / WIDTH) % T >= T - 3 ? 0 : v));
        expectClose(real(await y.toArray()), real(whole), { atol: 2e-5, rtol: 1e-4 }, `${kind} prefill output`);
        for (let t = 0; t < T; t++) {
          const active = tensor([1, !padded || t < T - 3 ? 1 : 0]);
          scope(() => noGrad(() => mixer.step(at(t), stepped, { active })));
          active.dispose();
        }
        const a = scope(() => noGrad(() => mixer.step(next, filled)));
        const b = scope(() => noGrad(() => mixer.step(next, stepped)));
        // f32 rounding of two orders of the same sums (a parallel scan or tiled attention against T steps).
        expectClose(await a.toArray(), await b.toArray(), { atol: 2e-5, rtol: 1e-4 }, `${kind} after prefill${padded ? ' (padded rows)' : ''}`);
        disposeState([filled, stepped]);
        for (const t of [y, a, b]) t.dispose();
      }
      for (const t of [x, next, lengths]) t.dispose();
      mixer.dispose();
    });

    it(`${kind}: in a residual block, gradients reach every parameter`, async () => {
      manualSeed(12);
      const block = new ResidualBlock(WIDTH, kind, OPTIONS, 24, { mixerNorm: 'norm1', mixer: 'mixer', mlpNorm: 'norm2', mlp: 'mlp' });
      const x = randn([B, T, WIDTH], { seed: 6 });
      scope(() => block.forward(x).square().mean().backward());
      for (const [name, p] of block.namedParameters()) {
        expect(p.grad, `${kind}: ${name} has a gradient`).not.toBeNull();
        const g = await p.grad!.toArray();
        expect(g.some((v) => v !== 0), `${kind}: ${name}'s gradient is not all zeros`).toBe(true);
      }
      // Heads that do not divide the width: only the vector-state mixers, which have no heads, accept them.
      expect(MIXERS[kind].check(WIDTH, { ...OPTIONS, heads: 3 }) === null).toBe(['hgrn', 'mingru', 'paragru', 'paralstm'].includes(kind));
      x.dispose();
      block.dispose();
    });
  }

  it('full([B], 1) as active is the same as no mask', async () => {
    const mixer = MIXERS.hgrn.build(WIDTH, OPTIONS);
    const [s1, s2] = [mixer.initialState(B, 2), mixer.initialState(B, 2)];
    const x = randn([B, WIDTH], { seed: 8 });
    const ones = full([B], 1);
    const a = noGrad(() => mixer.step(x, s1));
    const b = noGrad(() => mixer.step(x, s2, { active: ones }));
    expect(Array.from(await a.toArray())).toEqual(Array.from(await b.toArray()));
    disposeState([s1, s2]);
    for (const t of [x, ones, a, b]) t.dispose();
    mixer.dispose();
  });
});
