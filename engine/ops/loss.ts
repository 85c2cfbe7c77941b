// Cross-entropy from logits (kernels: shaders/loss.wgsl; tests: test/loss.test.ts).

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, HieroError, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { Tensor } from '../tensor.ts';
import { tensor } from './creation.ts';
import { copyStrided, div, maximum, ne } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';
import { sum } from './reduce.ts';
import { reshape } from './views.ts';

export interface CrossEntropyOptions {
  /** Targets equal to this contribute no loss and no gradient (default -100, as in PyTorch). */
  ignoreIndex?: number;
  /** 'mean' over non-ignored targets (default), 'sum', or 'none' (one loss per target). */
  reduction?: 'mean' | 'sum' | 'none';
}

const ROW_WG = 64;
// Up to this many classes a row is one invocation's loop (no barriers); wider rows get a workgroup each.
const ROWWISE_MAX_CLASSES = 32;

/**
 * Cross-entropy of logits [..., classes] against integer targets [...] (i32 tensor, or host numbers checked
 * here). Stable for logits of any magnitude: the log-sum-exp is shifted by each row's maximum.
 */
export function crossEntropy(logits: Tensor, targets: Tensor | Int32Array | number[], options: CrossEntropyOptions = {}): Tensor {
  logits.assertDType('crossEntropy', 'f32');
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? 'mean';
  if (logits.rank === 0) throw new ShapeError('crossEntropy: logits need a class axis');
  const classes = logits.shape[logits.rank - 1];
  const rows = logits.size / Math.max(classes, 1);
  const batchShape = logits.shape.slice(0, -1);
  let targetTensor: Tensor;
  if (targets instanceof Tensor) {
    targets.assertDType('crossEntropy targets', 'i32');
    targetTensor = targets;
  } else {
    const values = Int32Array.from(targets);
    values.forEach((t, i) => {
      if (t !== ignoreIndex && (t < 0 || t >= classes || !Number.isInteger(t))) {
        throw new HieroError(`crossEntropy: target ${t} at position ${i} is outside [0, ${classes}) and is not the ignore index ${ignoreIndex}`);
      }
    });
    targetTensor = tensor(values, [values.length], { dtype: 'i32' });
  }
  if (targetTensor.size !== rows || (targets instanceof Tensor && targetTensor.shape.join() !== batchShape.join())) {
    throw new ShapeError(
      `crossEntropy: targets of shape ${formatShape(targetTensor.shape)} do not match logits ${formatShape(logits.shape)} (expected ${formatShape(batchShape)})`,
    );
  }
  const rt = runtime();
  const x = dense(logits, copyStrided);
  const t = dense(targetTensor, copyStrided);
  const rowLoss = empty([rows], 'f32', 'crossEntropy');
  const lse = empty([rows], 'f32', 'crossEntropy');
  const bad = rt.gpuAssertion(
    'crossEntropy targets',
    (v) => `crossEntropy: the target in row ${v - 1} is outside [0, ${classes}) and is not the ignore index ${ignoreIndex}`,
    0xffffffff,
  );
  const uniforms = new Uniforms().u32(rows).u32(classes).i32(ignoreIndex).u32(0).build();
  const rowwise = classes <= ROWWISE_MAX_CLASSES;
  launch({
    family: 'loss', entry: rowwise ? 'cross_entropy_forward_rowwise' : 'cross_entropy_forward', label: 'crossEntropy',
    overrides: { WG: ROW_WG }, uniforms,
    outputs: [rowLoss, lse, bad], inputs: [x, t, null, null],
    workgroups: rt.grid(rows, rowwise ? ROW_WG : 1, 'crossEntropy'),
  });
  const perRow = record('crossEntropy', [logits], rowLoss, (g, [xs, ts, ls]) => {
    const gd = dense(g, copyStrided);
    const dx = empty([rows, classes], 'f32', 'crossEntropy backward');
    launch({
      family: 'loss', entry: 'cross_entropy_backward', label: 'crossEntropy backward',
      overrides: { WG: 256 }, uniforms,
      outputs: [dx, null, null], inputs: [xs, ts, gd, ls],
      workgroups: rt.grid(rows * classes, 256, 'crossEntropy backward'),
    });
    if (gd !== g) gd.dispose();
    const shaped = reshape(dx, logits.shape);
    dx.dispose();
    return [shaped];
  }, [x, t, lse]);
  lse.dispose();
  if (x !== logits) x.dispose();
  if (t !== targetTensor) t.dispose();
  let result: Tensor;
  if (reduction === 'none') {
    result = reshape(perRow, batchShape);
  } else if (reduction === 'sum') {
    result = sum(perRow);
  } else {
    // Mean over the targets that count; the count stays on the GPU (no read-back inside a step).
    const flat = reshape(targetTensor, [rows]);
    const mask = ne(flat, ignoreIndex);
    const valid = mask.astype('f32');
    const validCount = sum(valid);
    const count = maximum(validCount, 1);
    const total = sum(perRow);
    result = div(total, count);
    for (const tmp of [flat, mask, valid, validCount, count, total]) tmp.dispose();
  }
  if (result !== perRow) perRow.dispose();
  if (targetTensor !== targets) targetTensor.dispose();
  return result;
}
