// Fused row normalisations over the last axis (kernels: shaders/norm.wgsl; tests: test/norm.test.ts):
// RMSNorm (optional learned weight), softmax and log-softmax. Each forward is one dispatch; each backward one
// dispatch for the input gradient (+ one for RMSNorm's weight gradient, a column sum over rows).

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';

interface RowLayout {
  overrides: { WG: number; ROW_PER_INVOCATION: boolean };
  workgroups: [number, number];
}

/**
 * How a row kernel covers `rows` rows of n: a workgroup per row with enough invocations for one pass (fewer on CPU
 * drivers, where each barrier is costly), or on CPU drivers for short rows one invocation per row, 64 rows to a
 * workgroup (no barrier, and every SIMD lane busy).
 */
function rowLayout(rows: number, n: number, label: string): RowLayout {
  const rt = runtime();
  if (rt.report.software && n <= 256) return { overrides: { WG: 64, ROW_PER_INVOCATION: true }, workgroups: rt.grid(rows, 64, label) };
  const cap = rt.report.software ? 32 : 256;
  let wg = 32;
  while (wg < cap && wg < n) wg *= 2;
  return { overrides: { WG: wg, ROW_PER_INVOCATION: false }, workgroups: rt.grid(rows, 1, label) };
}

function rowsOf(x: Tensor): { rows: number; n: number } {
  const n = x.shape[x.rank - 1] ?? 1;
  return { rows: n === 0 ? 0 : x.size / n, n };
}

function rowParams(rows: number, n: number, eps = 0): ArrayBuffer {
  return new Uniforms().u32(rows).u32(n).f32(eps).u32(0).build();
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Tensor, weight: Tensor | null = null, eps = 1e-6): Tensor {
  x.assertDType('rmsNorm', 'f32');
  if (x.rank === 0) throw new ShapeError('rmsNorm: needs at least one axis');
  if (weight) {
    weight.assertDType('rmsNorm', 'f32');
    const n = x.shape[x.rank - 1];
    if (weight.rank !== 1 || weight.shape[0] !== n) {
      throw new ShapeError(`rmsNorm: weight of shape ${formatShape(weight.shape)} does not match the last axis (${n}) of ${formatShape(x.shape)}`);
    }
  }
  return normalised(x, null, weight, eps);
}

/**
 * rmsNorm(x + update) without a weight (a residual stream's post-norm), in one pass: the sum is never written. The
 * same numbers as add then rmsNorm; the gradient of the sum goes to both.
 */
export function addRmsNorm(x: Tensor, update: Tensor, eps = 1e-6): Tensor {
  x.assertDType('addRmsNorm', 'f32');
  update.assertDType('addRmsNorm', 'f32');
  if (x.rank === 0) throw new ShapeError('addRmsNorm: needs at least one axis');
  if (x.shape.join() !== update.shape.join()) {
    throw new ShapeError(`addRmsNorm: x ${formatShape(x.shape)} and update ${formatShape(update.shape)} must have the same shape`);
  }
  return normalised(x, update, null, eps);
}

/** RMSNorm of x (+ update: shaders/norm.wgsl's RESIDUAL, weightless only) with an optional weight. */
function normalised(x: Tensor, update: Tensor | null, weight: Tensor | null, eps: number): Tensor {
  const { rows, n } = rowsOf(x);
  const rt = runtime();
  const xd = dense(x, copyStrided);
  const ud = update ? dense(update, copyStrided) : null;
  const w = weight ? dense(weight, copyStrided) : null;
  const y = empty(x.shape, 'f32', 'rmsNorm');
  const rstd = empty([rows], 'f32', 'rmsNorm');
  const layout = rowLayout(rows, n, 'rmsNorm');
  launch({
    family: 'norm', entry: 'rmsnorm_forward', label: 'rmsNorm',
    overrides: { ...layout.overrides, HAS_WEIGHT: !!w, RESIDUAL: !!ud },
    uniforms: rowParams(rows, n, eps),
    outputs: [y, rstd], inputs: [xd, w, ud, null],
    workgroups: layout.workgroups,
  });
  // Without a weight, y is x̂ itself: backward needs only y (which the next op keeps anyway) and rstd, so x can go.
  const fromOutput = !w;
  const out = record('rmsNorm', [x, update, weight], y, (g, saved) => {
    const [xs, rs, wsd = null] = saved;
    const gd = dense(g, copyStrided);
    let dx: Tensor | null = null;
    if (x.requiresGrad || update?.requiresGrad) {
      dx = empty(x.shape, 'f32', 'rmsNorm backward');
      launch({
        family: 'norm', entry: 'rmsnorm_backward', label: 'rmsNorm backward',
        overrides: { ...layout.overrides, HAS_WEIGHT: !!wsd, FROM_OUTPUT: fromOutput },
        uniforms: rowParams(rows, n, eps),
        outputs: [dx, null], inputs: [xs, wsd, gd, rs],
        workgroups: layout.workgroups,
      });
    }
    let dw: Tensor | null = null;
    if (weight?.requiresGrad) {
      dw = empty([n], 'f32', 'rmsNorm weight grad');
      launch({
        family: 'norm', entry: 'rmsnorm_weight_grad', label: 'rmsNorm weight grad',
        overrides: { WG: 64 },
        uniforms: rowParams(rows, n, eps),
        outputs: [dw, null], inputs: [xs, null, gd, rs],
        workgroups: rt.grid(n, 64, 'rmsNorm weight grad'),
      });
    }
    if (gd !== g) gd.dispose();
    // The sum's gradient is x's and update's alike: a second handle when both want it.
    const du = update?.requiresGrad ? (x.requiresGrad ? dx!.viewAs(dx!.shape, dx!.strides, dx!.offset) : dx) : null;
    return [x.requiresGrad ? dx : null, du, dw];
  }, w ? [xd, rstd, w] : [y, rstd]);
  if (xd !== x) xd.dispose();
  if (ud && ud !== update) ud.dispose();
  if (w && w !== weight) w.dispose();
  rstd.dispose();
  return out;
}

function softmaxFamily(op: 'softmax' | 'logSoftmax', x: Tensor): Tensor {
  x.assertDType(op, 'f32');
  if (x.rank === 0) throw new ShapeError(`${op}: needs at least one axis`);
  const { rows, n } = rowsOf(x);
  const log = op === 'logSoftmax';
  const xd = dense(x, copyStrided);
  const y = empty(x.shape, 'f32', op);
  const layout = rowLayout(rows, n, op);
  launch({
    family: 'norm', entry: 'softmax_forward', label: op,
    overrides: { ...layout.overrides, LOG: log },
    uniforms: rowParams(rows, n),
    outputs: [y, null], inputs: [xd, null, null, null],
    workgroups: layout.workgroups,
  });
  if (xd !== x) xd.dispose();
  return record(op, [x], y, (g, [ys]) => {
    const gd = dense(g, copyStrided);
    const dx = empty(x.shape, 'f32', `${op} backward`);
    launch({
      family: 'norm', entry: 'softmax_backward', label: `${op} backward`,
      overrides: { ...layout.overrides, LOG: log },
      uniforms: rowParams(rows, n),
      outputs: [dx, null], inputs: [null, null, gd, ys],
      workgroups: layout.workgroups,
    });
    if (gd !== g) gd.dispose();
    return [dx];
  }, [y]);
}

/** Softmax over the last axis, shifted by the row maximum (stable for any finite logits). */
export function softmax(x: Tensor): Tensor {
  return softmaxFamily('softmax', x);
}

/** log(softmax(x)) over the last axis, computed without forming softmax (stable for logits of any size). */
export function logSoftmax(x: Tensor): Tensor {
  return softmaxFamily('logSoftmax', x);
}
