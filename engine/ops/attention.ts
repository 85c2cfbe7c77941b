// Scaled dot-product attention (kernels: shaders/attention.wgsl; tests: test/attention.test.ts).

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { copyStrided } from './elementwise.ts';
import { empty, launch } from './launch.ts';

export const MAX_HEAD_DIM = 128;

export interface AttentionOptions {
  causal?: boolean;
  /** Multiplies q·k (default 1/sqrt(headDim)). */
  scale?: number;
}

/** x itself when the kernel can read it through strides (unit stride along the head dim), else a dense copy. */
function readable(x: Tensor): Tensor {
  return x.strides[3] === 1 || x.shape[3] === 1 ? x : copyStrided(x);
}

function layout(u: Uniforms, t: Tensor): Uniforms {
  return u.u32(t.offset).u32(t.strides[0]).u32(t.strides[1]).u32(t.strides[2]);
}

/**
 * softmax(q kᵀ · scale [+ causal mask]) v for q [B, H, Tq, Dh], k and v [B, H, Tk, Dh], read in place through
 * their strides. The causal mask is aligned to the end, so Tq = 1 with Tk cached keys is one decoding step.
 * The result is [B, H, Tq, Dh] laid out in memory as [B, Tq, H, Dh], so `.permute([0, 2, 1, 3])` back to
 * heads-last is a contiguous view.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    t.assertDType(`attention ${name}`, 'f32');
    if (t.rank !== 4) throw new ShapeError(`attention: ${name} must be [batch, heads, seq, headDim], got ${formatShape(t.shape)}`);
  }
  const [b, h, tq, dh] = q.shape;
  const tk = k.shape[2];
  if (k.shape[0] !== b || k.shape[1] !== h || k.shape[3] !== dh || v.shape.join() !== k.shape.join()) {
    throw new ShapeError(`attention: q ${formatShape(q.shape)}, k ${formatShape(k.shape)} and v ${formatShape(v.shape)} do not agree`);
  }
  if (dh > MAX_HEAD_DIM) throw new ShapeError(`attention: head dimension ${dh} exceeds the kernel's maximum of ${MAX_HEAD_DIM}`);
  const causal = options.causal ?? false;
  const scale = options.scale ?? 1 / Math.sqrt(dh);
  const rt = runtime();
  const bh = b * h;
  const overrides = { WG: 64, CAUSAL: causal };
  const [qr, kr, vr] = [q, k, v].map(readable);
  // Output memory in [B, Tq, H, Dh] order, viewed as [B, H, Tq, Dh].
  const buffer = empty([b, tq, h, dh], 'f32', 'attention');
  const out = buffer.viewAs([b, h, tq, dh], [tq * h * dh, dh, h * dh, 1], 0);
  buffer.dispose();
  const lse = empty([bh * tq], 'f32', 'attention');
  const params = (dOut: Tensor | null) => {
    const u = new Uniforms();
    for (const t of [qr, kr, vr, out, dOut ?? out]) layout(u, t);
    return u.u32(bh).u32(tq).u32(tk).u32(dh).f32(scale).u32(h).build();
  };
  launch({
    family: 'attention', entry: 'attention_forward', label: 'attention', overrides, uniforms: params(null),
    outputs: [out, lse], inputs: [qr, kr, vr, null, null, null],
    workgroups: rt.grid(bh * tq, 64, 'attention'),
  });
  const result = record('attention', [q, k, v], out, (g, [qs, ks, vs, os, ls]) => {
    const gr = readable(g);
    const uniforms = (() => {
      const u = new Uniforms();
      for (const t of [qs, ks, vs, os, gr]) layout(u, t);
      return u.u32(bh).u32(tq).u32(tk).u32(dh).f32(scale).u32(h).build();
    })();
    const dq = empty(q.shape, 'f32', 'attention backward');
    const rowDot = empty([bh * tq], 'f32', 'attention backward');
    launch({
      family: 'attention', entry: 'attention_backward_dq', label: 'attention backward dq', overrides, uniforms,
      outputs: [dq, rowDot], inputs: [qs, ks, vs, gr, ls, os],
      workgroups: rt.grid(bh * tq, 64, 'attention backward'),
    });
    const dk = empty(k.shape, 'f32', 'attention backward');
    const dv = empty(v.shape, 'f32', 'attention backward');
    launch({
      family: 'attention', entry: 'attention_backward_dkv', label: 'attention backward dkv', overrides, uniforms,
      outputs: [dk, dv], inputs: [qs, ks, vs, gr, ls, rowDot],
      workgroups: rt.grid(bh * tk, 64, 'attention backward'),
    });
    rowDot.dispose();
    if (gr !== g) gr.dispose();
    const keepIf = (t: Tensor, wanted: boolean) => (wanted ? t : (t.dispose(), null));
    return [keepIf(dq, q.requiresGrad), keepIf(dk, k.requiresGrad), keepIf(dv, v.requiresGrad)];
  }, [qr, kr, vr, out, lse]);
  lse.dispose();
  [qr, kr, vr].forEach((t, i) => t !== [q, k, v][i] && t.dispose());
  return result;
}
