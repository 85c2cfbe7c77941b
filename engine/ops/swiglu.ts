// SwiGLU gate silu(gate) * up, fused (kernel: shaders/swiglu.wgsl; tests: test/swiglu.test.ts).

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';

/**
 * swiglu of the two halves of a fused projection `gateUp` [..., 2 * hidden] ([gate | up], or [up | gate] with
 * upFirst): the same numbers as swiglu(halves), with the projection's gradient written by one dispatch.
 */
export function swigluPacked(gateUp: Tensor, hidden: number, options: { upFirst?: boolean } = {}): Tensor {
  gateUp.assertDType('swiglu', 'f32');
  const width = gateUp.shape[gateUp.rank - 1];
  if (gateUp.rank === 0 || width !== 2 * hidden || !Number.isInteger(hidden) || hidden < 1) {
    throw new ShapeError(`swigluPacked: expected [..., ${2 * hidden}] (gate and up of width ${hidden}), got ${formatShape(gateUp.shape)}`);
  }
  const rt = runtime();
  const x = dense(gateUp, copyStrided);
  const n = x.size / 2;
  const [gateAt, upAt] = options.upFirst ? [hidden, 0] : [0, hidden];
  const outShape = [...gateUp.shape.slice(0, -1), hidden];
  const uniforms = new Uniforms().u32(n).u32(hidden).u32(gateAt).u32(2 * hidden).u32(upAt).u32(2 * hidden).build();
  const out = empty(outShape, 'f32', 'swiglu');
  launch({
    family: 'swiglu', entry: 'swiglu_forward', label: 'swiglu', overrides: { WG: 256 }, uniforms,
    outputs: [out, null], inputs: [x, x, null], workgroups: rt.grid(n, 256, 'swiglu'),
  });
  const result = record('swiglu', [gateUp], out, (dy, [xs]) => {
    const dyd = dense(dy, copyStrided);
    const d = empty(gateUp.shape, 'f32', 'swiglu backward');
    launch({
      family: 'swiglu', entry: 'swiglu_packed_backward', label: 'swiglu backward', overrides: { WG: 256 }, uniforms,
      outputs: [d, null], inputs: [xs, xs, dyd], workgroups: rt.grid(n, 256, 'swiglu backward'),
    });
    if (dyd !== dy) dyd.dispose();
    return [d];
  }, [x]);
  if (x !== gateUp) x.dispose();
  return result;
}

export function swiglu(gate: Tensor, up: Tensor): Tensor {
  gate.assertDType('swiglu', 'f32');
  up.assertDType('swiglu', 'f32');
  if (gate.shape.join() !== up.shape.join()) {
    throw new ShapeError(`swiglu: gate ${formatShape(gate.shape)} and up ${formatShape(up.shape)} must have the same shape`);
  }
  const rt = runtime();
  const n = gate.size;
  // Rows read in place when each operand is a run of contiguous rows (as the halves of a fused projection are).
  const rowsOf = (t: Tensor) => {
    const width = t.shape[t.rank - 1] ?? 1;
    if (t.rank === 0) return { t, stride: 1 };
    if (t.strides[t.rank - 1] !== 1 && width !== 1) return null;
    const stride = t.rank >= 2 ? t.strides[t.rank - 2] : width;
    for (let i = 0; i < t.rank - 2; i++) if (t.shape[i] !== 1 && t.strides[i] !== t.strides[i + 1] * t.shape[i + 1]) return null;
    return { t, stride };
  };
  const gr = rowsOf(gate) ?? { t: copyStrided(gate), stride: gate.shape[gate.rank - 1] ?? 1 };
  const ur = rowsOf(up) ?? { t: copyStrided(up), stride: up.shape[up.rank - 1] ?? 1 };
  const g = gr.t;
  const u = ur.t;
  const width = gate.shape[gate.rank - 1] ?? 1;
  const uniforms = new Uniforms().u32(n).u32(width).u32(g.offset).u32(gr.stride).u32(u.offset).u32(ur.stride).build();
  const out = empty(gate.shape, 'f32', 'swiglu');
  launch({
    family: 'swiglu', entry: 'swiglu_forward', label: 'swiglu', overrides: { WG: 256 }, uniforms,
    outputs: [out, null], inputs: [g, u, null], workgroups: rt.grid(n, 256, 'swiglu'),
  });
  const result = record('swiglu', [gate, up], out, (dy, [gs, us]) => {
    const dyd = dense(dy, copyStrided);
    const dGate = empty(gate.shape, 'f32', 'swiglu backward');
    const dUp = empty(gate.shape, 'f32', 'swiglu backward');
    launch({
      family: 'swiglu', entry: 'swiglu_backward', label: 'swiglu backward', overrides: { WG: 256 }, uniforms,
      outputs: [dGate, dUp], inputs: [gs, us, dyd], workgroups: rt.grid(n, 256, 'swiglu backward'),
    });
    if (dyd !== dy) dyd.dispose();
    if (!gate.requiresGrad) dGate.dispose();
    if (!up.requiresGrad) dUp.dispose();
    return [gate.requiresGrad ? dGate : null, up.requiresGrad ? dUp : null];
  }, [g, u]);
  if (g !== gate) g.dispose();
  if (u !== up) u.dispose();
  return result;
}
