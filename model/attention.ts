// The one attention module of the models (HRM's blocks, the Transformer LM, H-Net's main network): multi-head
// self-attention with one fused q|k|v projection, as a mixer (model/mixers.ts) whose decoding state is a per-row
// KV cache. Tests: test/attention.test.ts (the op), test/mixers.test.ts (step = forward), test/hnet.test.ts.

import { appendToCache, attention, attentionPacked, concat, full, keep, Linear, Module, rope, scope, ShapeError, slice, where, zeros, type Tensor } from '../engine/index.ts';
import { replaceState, type Mixer, type MixerContext, type MixerState } from './mixer.ts';

export interface SelfAttentionOptions {
  dim: number;
  heads: number;
  causal: boolean;
  /** RoPE base for q and k; null: no rotary embedding (learned positions elsewhere). */
  ropeBase: number | null;
  /** Fraction of each head's channels RoPE rotates (default 1). */
  ropeFraction?: number;
  /** State-dict names of the fused q|k|v projection and the output projection (default qkv, out). */
  names?: { qkv: string; out: string };
  /** Local attention (Griffin's): each position sees its last `window` positions (0 or absent: all). */
  window?: number;
}

/**
 * q, k and v stay strided views of the fused projection: the attention kernels read them in place (rotating q and k
 * by RoPE as they go), and the output is laid out so that merging the heads back is a view too. The decoding state
 * is { k, v: [B, H, L, Dh] (keys already rotated), lengths: f32 [B] (keys each row holds) }: rows of one batch may
 * hold different numbers of keys (H-Net's main network steps only where a chunk opens).
 */
export class SelfAttention extends Module implements Mixer {
  readonly qkv: Linear;
  readonly out: Linear;

  constructor(readonly options: SelfAttentionOptions) {
    super();
    const names = options.names ?? { qkv: 'qkv', out: 'out' };
    this.qkv = this.child(names.qkv, new Linear(options.dim, 3 * options.dim, { bias: false }));
    this.out = this.child(names.out, new Linear(options.dim, options.dim, { bias: false }));
  }

  private get headDim(): number {
    return this.options.dim / this.options.heads;
  }

  /** x [B, T, D] -> [B, T, D]; causal with context.prefixLengths: PrefixLM. */
  forward(x: Tensor, context: MixerContext = {}): Tensor {
    const [b, t] = x.shape;
    const { heads, dim, ropeBase, causal } = this.options;
    return scope(() => {
      const qkv = this.qkv.forward(x).reshape([b, t, 3, heads, this.headDim]);
      // RoPE is applied inside the attention kernels as they read q and k: no rotated copies are kept for backward;
      // q, k and v are read from the packed projection and their gradients written back into one of its shape.
      const rotary = ropeBase === null ? undefined : { base: ropeBase, fraction: this.options.ropeFraction };
      const prefix = causal && context.prefixLengths ? { prefixLengths: context.prefixLengths } : {};
      const attended = attentionPacked(qkv, { causal, rope: rotary, window: this.options.window, ...prefix }); // [B, H, T, Dh]
      return this.out.forward(attended.permute([0, 2, 1, 3]).reshape([b, t, dim]));
    });
  }

  /**
   * The causal forward of x [B, T, D] from an empty cache, leaving every row's rotated keys and values of its real
   * positions (context.lengths; absent: all T) in the cache; padded positions are stored but masked by the lengths.
   */
  prefill(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    const [b, t] = x.shape;
    const { heads, dim, ropeBase, ropeFraction } = this.options;
    const capacity = state.k.shape[2];
    if (t > capacity) throw new ShapeError(`attention prefill: ${t} positions do not fit a cache of ${capacity}`);
    return scope(() => {
      const qkv = this.qkv.forward(x).reshape([b, t, 3, heads, this.headDim]);
      const part = (i: number) => slice(qkv, [null, null, i]).squeeze(2); // [B, T, H, Dh]
      const rotary = ropeBase === null ? undefined : { base: ropeBase, fraction: ropeFraction };
      const perm = (u: Tensor) => u.permute([0, 2, 1, 3]); // [B, H, T, Dh]
      const prefix = context.prefixLengths ? { prefixLengths: context.prefixLengths } : {};
      const attended = attention(perm(part(0)), perm(part(1)), perm(part(2)), { causal: true, rope: rotary, window: this.options.window, ...prefix });
      const keys = rotary ? rope(part(1), rotary) : part(1).contiguous();
      const fill = (u: Tensor) => (t < capacity ? concat([perm(u), zeros([b, heads, capacity - t, this.headDim])], 2) : perm(u).contiguous());
      replaceState(state, 'k', fill(keys));
      replaceState(state, 'v', fill(part(2)));
      replaceState(state, 'lengths', context.lengths ? context.lengths.astype('f32') : full([b], t));
      return this.out.forward(attended.permute([0, 2, 1, 3]).reshape([b, t, dim]));
    });
  }

  /** A KV cache for `batch` rows of at most `length` positions. */
  initialState(batch: number, length: number): MixerState {
    const { heads } = this.options;
    return { k: keep(zeros([batch, heads, length, this.headDim])), v: keep(zeros([batch, heads, length, this.headDim])), lengths: keep(zeros([batch])) };
  }

  /** x [B, D]: each active row appends its key and value at its own next position and attends over its keys. */
  step(x: Tensor, state: MixerState, context: MixerContext = {}): Tensor {
    const [batch] = x.shape;
    const { heads, dim, ropeBase, ropeFraction } = this.options;
    const dh = this.headDim;
    return scope(() => {
      const active = context.active ?? full([batch], 1);
      const qkv = this.qkv.forward(x).reshape([batch, 1, 3, heads, dh]);
      const part = (i: number) => slice(qkv, [null, null, i]).squeeze(2); // [B, 1, H, Dh]
      const positions = state.lengths.astype('i32');
      const options = { base: ropeBase ?? 10000, fraction: ropeBase === null ? 0 : ropeFraction, rowOffsets: { offsets: positions, maxPosition: state.k.shape[2] } };
      const q = rope(part(0), options);
      const k = rope(part(1), options);
      const writeAt = where(active, state.lengths, -1);
      appendToCache(state.k, k.reshape([batch, heads, dh]), writeAt);
      appendToCache(state.v, part(2).contiguous().reshape([batch, heads, dh]), writeAt);
      const lengths = keep(state.lengths.add(active));
      state.lengths.dispose();
      state.lengths = lengths;
      const attended = attention(q.permute([0, 2, 1, 3]), state.k, state.v, { keyLengths: lengths, window: this.options.window });
      return this.out.forward(attended.permute([0, 2, 1, 3]).reshape([batch, dim]));
    });
  }
}
