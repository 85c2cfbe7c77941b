// Shared test machinery: device set-up, the allclose check (atol + rtol·|ref|, printing the first mismatches),
// and checkOp, which runs an op on the GPU against its float64 reference and checks the GPU gradient against
// central finite differences of that reference.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { init, keep, scope, Tensor, tensor, type DType } from '../engine/index.ts';
import { numericalGradients, randomRef, Ref } from './reference.ts';

export function useDevice(): void {
  beforeAll(async () => {
    await init();
  }, 60_000);
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label = ''): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = Number.isNaN(e) ? Number.isNaN(a) : Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e) || a === e;
    if (!ok) bad.push(`[${i}] got ${a}, expected ${e} (|diff| ${Math.abs(a - e).toExponential(2)})`);
  }
  if (bad.length) {
    throw new Error(
      `${label}: ${bad.length}/${expected.length} values outside atol ${tol.atol} + rtol ${tol.rtol}·|ref|:\n  ` +
        bad.slice(0, 8).join('\n  '),
    );
  }
}

export function toGpu(r: Ref, requiresGrad = false, dtype: DType = 'f32'): Tensor {
  return tensor(Float32Array.from(r.data), r.shape, { requiresGrad, dtype });
}

export interface OpCheck {
  label: string;
  inputs: Ref[];
  gpu: (...inputs: Tensor[]) => Tensor;
  reference: (...inputs: Ref[]) => Ref;
  /** Forward tolerance. */
  tol: Tolerance;
  /** Gradient tolerance; omit to skip the gradient check (ops without a gradient). */
  gradTol?: Tolerance;
  /** Which inputs get a gradient check (all by default). */
  gradInputs?: number[];
}

/**
 * Forward: GPU output vs the float64 reference. Backward: the GPU gradient of sum(out * w), w random, vs central
 * differences of the same function of the reference (float64, h = 1e-6: truncation and rounding error ~1e-9,
 * far below the f32 tolerances, so the check measures the GPU gradient's error alone).
 */
export async function checkOp(c: OpCheck): Promise<void> {
  const wanted = c.gradTol ? (c.gradInputs ?? c.inputs.map((_, i) => i)) : [];
  const { out, grads, leaves } = scope(() => {
    const leaves = c.inputs.map((r, i) => toGpu(r, wanted.includes(i)));
    const out = c.gpu(...leaves);
    let grads: (Tensor | null)[] = [];
    if (c.gradTol) {
      const weights = toGpu(randomRef([...out.shape], 99));
      out.mul(weights).sum().backward();
      grads = leaves.map((l) => keep(l.grad));
    }
    return { out: keep(out), grads, leaves: leaves.map(keep) };
  });
  const expected = c.reference(...c.inputs);
  expect(out.shape, `${c.label}: shape`).toEqual(expected.shape);
  expectClose(await out.toArray(), expected.data, c.tol, `${c.label} forward`);
  if (c.gradTol) {
    const weights = randomRef(expected.shape, 99);
    const numeric = numericalGradients(c.reference, c.inputs, weights);
    for (const i of wanted) {
      const g = grads[i];
      expect(g, `${c.label}: input ${i} has a gradient`).toBeTruthy();
      expectClose(await g!.toArray(), numeric[i], c.gradTol, `${c.label} grad[${i}]`);
    }
  }
  out.dispose();
  leaves.forEach((l) => l.dispose());
}

const temporaries: string[] = [];
afterAll(() => {
  for (const dir of temporaries.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the system's temporary directory, removed when the test file ends (the suite leaves none). */
export function temporaryDirectory(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  temporaries.push(dir);
  return dir;
}
