// Layers shared by the models.

import { attention, Linear, Module, slice, swiglu, type Tensor } from '../engine/index.ts';

/** Drops intermediate handles as soon as the next op has consumed them (the autograd graph keeps what it needs). */
export function consume(input: Tensor, f: (t: Tensor) => Tensor): Tensor {
  const out = f(input);
  input.dispose();
  return out;
}

/** The halves of x's last axis, as views: [0, n) and [n, 2n). */
export function halves(x: Tensor, n: number): [Tensor, Tensor] {
  const last = x.rank - 1;
  const ranges = (from: number, to: number) => x.shape.map((_, i) => (i === last ? ([from, to] as [number, number]) : null));
  return [slice(x, ranges(0, n)), slice(x, ranges(n, 2 * n))];
}

/**
 * down(silu(gate) ⊙ up) with [gate | up] from one fused projection. `names` sets the two projections' state-dict
 * names; `upFirst` lays the fused projection out as [up | gate] instead (H-Net's official SwiGLU does).
 */
export class SwiGLUMLP extends Module {
  readonly gateUp: Linear;
  readonly down: Linear;

  constructor(dim: number, readonly hidden: number, names: { gateUp: string; down: string } = { gateUp: 'gate_up', down: 'down' }, readonly upFirst = false) {
    super();
    this.gateUp = this.child(names.gateUp, new Linear(dim, 2 * hidden, { bias: false }));
    this.down = this.child(names.down, new Linear(hidden, dim, { bias: false }));
  }

  forward(x: Tensor): Tensor {
    const gu = this.gateUp.forward(x);
    const [first, second] = halves(gu, this.hidden);
    const [gate, up] = this.upFirst ? [second, first] : [first, second];
    gu.dispose();
    const h = swiglu(gate, up);
    gate.dispose();
    up.dispose();
    return consume(h, (y) => this.down.forward(y));
  }
}


export interface SelfAttentionOptions {
  dim: number;
  heads: number;
  causal: boolean;
  /** RoPE base for q and k; null: no rotary embedding (learned positions elsewhere). */
  ropeBase: number | null;
  /** Fraction of each head's channels RoPE rotates (default 1). */
  ropeFraction?: number;
  /** State-dict names of the fused q|k|v projection and the output projection. */
  names?: { qkv: string; out: string };
}

/**
 * Multi-head self-attention with one fused q|k|v projection. q, k and v stay strided views of that projection:
 * the attention kernels read them in place (rotating q and k by RoPE as they go), and the attention output is laid
 * out so that merging the heads back is a view too.
 */
export class FusedSelfAttention extends Module {
  readonly qkv: Linear;
  readonly out: Linear;

  constructor(readonly options: SelfAttentionOptions) {
    super();
    const names = options.names ?? { qkv: 'qkv', out: 'out' };
    this.qkv = this.child(names.qkv, new Linear(options.dim, 3 * options.dim, { bias: false }));
    this.out = this.child(names.out, new Linear(options.dim, options.dim, { bias: false }));
  }

  forward(x: Tensor): Tensor {
    const [b, t] = x.shape;
    const { heads, dim, ropeBase, causal } = this.options;
    const headDim = dim / heads;
    const qkv = consume(this.qkv.forward(x), (y) => y.reshape([b, t, 3, heads, headDim]));
    const part = (i: number) => consume(consume(slice(qkv, [null, null, i]), (s) => s.squeeze(2)), (s) => s.permute([0, 2, 1, 3])); // [B, H, T, Dh]
    const q = part(0);
    const k = part(1);
    const v = part(2);
    qkv.dispose();
    // RoPE is applied inside the attention kernels as they read q and k: no rotated copies are kept for backward.
    const attended = attention(q, k, v, { causal, rope: ropeBase === null ? undefined : { base: ropeBase, fraction: this.options.ropeFraction } });
    [q, k, v].forEach((u) => u.dispose());
    const merged = consume(consume(attended, (a) => a.permute([0, 2, 1, 3])), (a) => a.reshape([b, t, dim]));
    return consume(merged, (m) => this.out.forward(m));
  }
}
