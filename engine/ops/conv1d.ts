// Causal depthwise 1-D convolution (kernels: shaders/conv1d.wgsl; tests: test/conv1d.test.ts): the short
// convolution gated linear recurrent layers put in front of their gates.

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';
import { sumAxes } from './reduce.ts';

/** y[b, t, c] = bias[c] + Σ_k weight[c, k] · x[b, t - K + 1 + k, c] for x [B, T, C], weight [C, K], bias [C]. */
export function causalConv1d(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  x.assertDType('causalConv1d', 'f32');
  weight.assertDType('causalConv1d weight', 'f32');
  if (x.rank !== 3) throw new ShapeError(`causalConv1d: x must be [batch, steps, channels], got ${formatShape(x.shape)}`);
  const [batch, steps, channels] = x.shape;
  if (weight.rank !== 2 || weight.shape[0] !== channels) {
    throw new ShapeError(`causalConv1d: weight must be [${channels}, kernel] for ${channels} channels, got ${formatShape(weight.shape)}`);
  }
  if (bias && bias.shape.join() !== String(channels)) throw new ShapeError(`causalConv1d: bias must be [${channels}], got ${formatShape(bias.shape)}`);
  const kernel = weight.shape[1];
  const rt = runtime();
  const uniforms = new Uniforms().u32(batch).u32(steps).u32(channels).u32(kernel).build();
  const [xd, wd] = [x, weight].map((t) => dense(t, copyStrided));
  const bd = bias ? dense(bias, copyStrided) : null;
  const n = batch * steps * channels;
  const y = empty(x.shape, 'f32', 'causalConv1d');
  launch({
    family: 'conv1d', entry: 'conv1d_forward', label: 'causalConv1d', uniforms, overrides: { WG: 64, HAS_BIAS: !!bd },
    outputs: [y], inputs: [xd, wd, bd], workgroups: rt.grid(n, 64, 'causalConv1d'),
  });
  const result = record('causalConv1d', [x, weight, bias], y, (g, [xs, ws]) => {
    const gd = dense(g, copyStrided);
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = empty(x.shape, 'f32', 'causalConv1d backward');
      launch({
        family: 'conv1d', entry: 'conv1d_backward_input', label: 'causalConv1d backward', uniforms, overrides: { WG: 64 },
        outputs: [dx], inputs: [gd, ws, null], workgroups: rt.grid(n, 64, 'causalConv1d backward'),
      });
    }
    let dw: Tensor | null = null;
    if (weight.requiresGrad) {
      dw = empty(weight.shape, 'f32', 'causalConv1d weight grad');
      launch({
        family: 'conv1d', entry: 'conv1d_backward_weight', label: 'causalConv1d weight grad', uniforms, overrides: { WG: 64 },
        outputs: [dw], inputs: [xs, gd, null], workgroups: rt.grid(channels * kernel, 64, 'causalConv1d weight grad'),
      });
    }
    const db = bias?.requiresGrad ? sumAxes(gd, [0, 1], false) : null;
    if (gd !== g) gd.dispose();
    return [dx, dw, db];
  }, [xd, wd]);
  [xd, wd, bd].forEach((t, i) => t && t !== [x, weight, bias][i] && t.dispose());
  return result;
}
