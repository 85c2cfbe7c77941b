// The state-expansion layers (model/gla-layers.ts) and Griffin's recurrent block (model/griffin.ts) against their
// equations, step by step in float64 from the layers' own weights: HGRN2 (lower bound, key tied to the forget gate,
// per-layer norm), Mamba-2 (convolution, Δ, A, D, the gated norm), the RG-LRU (block-diagonal gates, √(1 − a²) with
// its reset at the first position); and their official initialisation ranges. Tolerance: a few hundred f32 products
// and exps per output through up to 6 steps of a recurrence, in another order than the chunked op: rtol 1e-4, atol 1e-5.

import { describe, expect, it } from 'vitest';
import { manualSeed, noGrad, randn, tensor, type Tensor } from '../engine/index.ts';
import { HGRN2Layer, Mamba2Layer } from '../model/gla-layers.ts';
import { GriffinRecurrentBlock } from '../model/griffin.ts';
import { expectClose, useDevice } from './helpers.ts';

useDevice();

const TOL = { atol: 1e-5, rtol: 1e-4 };
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const silu = (x: number) => x * sigmoid(x);

async function host(t: Tensor): Promise<number[]> {
  return Array.from(await t.toArray());
}

/** W [out, in] · x. */
function matvec(w: number[], x: number[], out: number, bias?: number[]): number[] {
  return Array.from({ length: out }, (_, o) => x.reduce((s, xi, i) => s + w[o * x.length + i] * xi, bias ? bias[o] : 0));
}

function rmsNorm(x: number[], weight: number[], eps: number): number[] {
  const ms = x.reduce((s, v) => s + v * v, 0) / x.length;
  return x.map((v, i) => (v / Math.sqrt(ms + eps)) * weight[i]);
}

/** Causal depthwise convolution over rows xs[t][c]: y[t][c] = b[c] + Σ_k w[c, k] x[t − K + 1 + k][c]. */
function conv(xs: number[][], w: number[], kernel: number, bias: number[]): number[][] {
  return xs.map((_, t) => xs[0].map((__, c) => {
    let s = bias[c];
    for (let k = 0; k < kernel; k++) {
      const at = t - kernel + 1 + k;
      if (at >= 0) s += w[c * kernel + k] * xs[at][c];
    }
    return s;
  }));
}

/** Rows of x [1, T, D]. */
async function rows(x: Tensor): Promise<number[][]> {
  const flat = await host(x);
  const [, steps, width] = x.shape;
  return Array.from({ length: steps }, (_, t) => flat.slice(t * width, (t + 1) * width));
}

describe('state-expansion layers against their equations in float64', () => {
  it('HGRN2: f = γ + (1 − γ) σ(W_f x), k = 1 − f, q = SiLU(W_q x), v = W_i x, o = W_o RMSNorm(q S K^−½)', async () => {
    manualSeed(21);
    const [width, heads, steps] = [8, 2, 6];
    const layer = new HGRN2Layer(width, { heads, normEps: 1e-5, conv: 0 });
    const x = randn([1, steps, width], { seed: 22 });
    const gamma = tensor(Float32Array.from({ length: width }, (_, i) => 0.1 + 0.05 * i));
    const y = await host(noGrad(() => layer.forward(x, { lowerBound: gamma })));
    const [wq, wf, wi, wo, gn, gm] = await Promise.all([layer.q_proj.weight, layer.f_proj.weight, layer.i_proj.weight, layer.o_proj.weight, layer.g_norm.weight!, gamma].map(host));
    const d = width / heads;
    const state = Array.from({ length: heads }, () => Array.from({ length: d * d }, () => 0));
    const expected: number[] = [];
    for (const xt of await rows(x)) {
      const q = matvec(wq, xt, width).map(silu);
      const f = matvec(wf, xt, width).map((v, i) => gm[i] + (1 - gm[i]) * sigmoid(v));
      const v = matvec(wi, xt, width);
      const o: number[] = [];
      for (let h = 0; h < heads; h++) {
        for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) state[h][a * d + b] = f[h * d + a] * state[h][a * d + b] + (1 - f[h * d + a]) * v[h * d + b];
        for (let b = 0; b < d; b++) o.push(Array.from({ length: d }, (_, a) => q[h * d + a] * state[h][a * d + b]).reduce((s, t) => s + t, 0) / Math.sqrt(d));
      }
      expected.push(...matvec(wo, rmsNorm(o, gn, 1e-5), width));
    }
    expectClose(y, expected, TOL, 'HGRN2');
    layer.dispose();
    x.dispose();
    gamma.dispose();
  });

  it('Mamba-2: xBC through the convolution and SiLU, Δ = softplus(· + dt_bias), S = exp(Δ A) S + Bᵀ Δx, y = C S + D x, gated norm', async () => {
    manualSeed(23);
    const [width, heads, n, kernel, steps] = [8, 2, 4, 3, 5];
    const layer = new Mamba2Layer(width, { heads, normEps: 1e-5, conv: kernel, stateSize: n });
    const x = randn([1, steps, width], { seed: 24 });
    const y = await host(noGrad(() => layer.forward(x)));
    const conv1d = layer.namedParameters().filter(([name]) => name.startsWith('conv1d.')).map(([, p]) => p);
    const [win, cw, cb, dtb, alog, dskip, nw, wout] = await Promise.all([layer.in_proj.weight, conv1d[0], conv1d[1], layer.dt_bias, layer.A_log, layer.D, layer.norm.weight!, layer.out_proj.weight].map(host));
    const inner = 2 * width;
    const p = inner / heads;
    const projected = (await rows(x)).map((xt) => matvec(win, xt, 2 * inner + 2 * n + heads));
    const xbc = conv(projected.map((r) => r.slice(inner, 2 * inner + 2 * n)), cw, kernel, cb).map((r) => r.map(silu));
    const state = Array.from({ length: heads }, () => Array.from({ length: n * p }, () => 0));
    const expected: number[] = [];
    projected.forEach((r, t) => {
      const z = r.slice(0, inner);
      const [xs, bs, cs] = [xbc[t].slice(0, inner), xbc[t].slice(inner, inner + n), xbc[t].slice(inner + n)];
      const out: number[] = [];
      for (let h = 0; h < heads; h++) {
        const dt = softplus(r[2 * inner + 2 * n + h] + dtb[h]);
        const decay = Math.exp(-dt * Math.exp(alog[h]));
        for (let a = 0; a < n; a++) for (let b = 0; b < p; b++) state[h][a * p + b] = decay * state[h][a * p + b] + bs[a] * dt * xs[h * p + b];
        for (let b = 0; b < p; b++) out.push(Array.from({ length: n }, (_, a) => cs[a] * state[h][a * p + b]).reduce((s, v) => s + v, 0) + dskip[h] * xs[h * p + b]);
      }
      expected.push(...matvec(wout, rmsNorm(out.map((v, i) => v * silu(z[i])), nw, 1e-5), width));
    });
    expectClose(y, expected, TOL, 'Mamba-2');
    // mamba_ssm's initialisation: A in [1, 16], Δ = softplus(dt_bias) in [1e-3, 1e-1], D = 1.
    for (const a of alog) expect(Math.exp(a)).toBeGreaterThanOrEqual(1 - 1e-5), expect(Math.exp(a)).toBeLessThanOrEqual(16 + 1e-4);
    for (const b of dtb) expect(softplus(b)).toBeGreaterThan(1e-3 * 0.999), expect(softplus(b)).toBeLessThan(0.1 * 1.001);
    expect(dskip).toEqual([1, 1]);
    layer.dispose();
    x.dispose();
  });

  it("Griffin's RG-LRU block: a_t = exp(−8 r_t softplus(Λ)), h = a h + √(1 − a²) (i ⊙ u) (1 at the first position), W_out (h ⊙ GeLU(W_y x))", async () => {
    manualSeed(25);
    const [width, heads, kernel, steps] = [8, 2, 4, 6];
    const block = new GriffinRecurrentBlock(width, { heads, conv: kernel });
    const x = randn([1, steps, width], { seed: 26 });
    const y = await host(noGrad(() => block.forward(x)));
    const named = new Map(block.namedParameters());
    const get = (name: string) => host(named.get(name)!);
    const [wy, by, wx, bx, wo, bo, cw, cb, aw, ab, iw, ib, lam] = await Promise.all(
      ['linear_y.weight', 'linear_y.bias', 'linear_x.weight', 'linear_x.bias', 'linear_out.weight', 'linear_out.bias', 'conv_1d.weight', 'conv_1d.bias',
        'rg_lru.a_gate.w', 'rg_lru.a_gate.b', 'rg_lru.input_gate.w', 'rg_lru.input_gate.b', 'rg_lru.a_param'].map(get),
    );
    const erf = (v: number) => { // Abramowitz-Stegun 7.1.26 is too coarse here: integrate instead (Simpson, 2000 panels).
      const m = 2000;
      let s = 0;
      for (let i = 0; i <= m; i++) s += (i === 0 || i === m ? 1 : i % 2 ? 4 : 2) * Math.exp(-(((v * i) / m) ** 2));
      return ((2 / Math.sqrt(Math.PI)) * s * (v / m)) / 3;
    };
    const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    const d = width / heads;
    const blockDiagonal = (w: number[], b: number[], u: number[]) => u.map((_, c) => {
      const h = Math.floor(c / d);
      const j = c % d;
      let s = b[c];
      for (let i = 0; i < d; i++) s += u[h * d + i] * w[(h * d + i) * d + j];
      return s;
    });
    const xs = await rows(x);
    const us = conv(xs.map((xt) => matvec(wx, xt, width, bx)), cw, kernel, cb);
    let h = Array.from({ length: width }, () => 0);
    const expected: number[] = [];
    xs.forEach((xt, t) => {
      const u = us[t];
      const r = blockDiagonal(aw, ab, u).map(sigmoid);
      const i = blockDiagonal(iw, ib, u).map(sigmoid);
      h = h.map((hc, c) => {
        const logA = -8 * r[c] * softplus(lam[c]);
        const multiplier = t === 0 ? 1 : Math.sqrt(Math.max(1 - Math.exp(2 * logA), 1e-6));
        return Math.exp(logA) * hc + multiplier * i[c] * u[c];
      });
      const gate = matvec(wy, xt, width, by).map(gelu);
      expected.push(...matvec(wo, h.map((v, c) => v * gate[c]), width, bo));
    });
    expectClose(y, expected, TOL, 'RG-LRU');
    // recurrentgemma's initialisation: a = exp(−softplus(Λ)) in [0.9, 0.999].
    for (const l of lam) {
      const a = Math.exp(-softplus(l));
      expect(a).toBeGreaterThan(0.9 - 1e-6);
      expect(a).toBeLessThan(0.999 + 1e-6);
    }
    block.dispose();
    x.dispose();
  });
});
