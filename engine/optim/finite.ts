// Catching a diverging run (kernel: shaders/optim.wgsl, finite_watch; tests: test/optim.test.ts). Each training
// step records, on the GPU, whether its loss or gradient norm was NaN or infinite; the first such step is kept in a
// two-word flag that the training loop reads together with the values it already reads for its progress line, so
// watching costs one dispatch per step and no read-back.

import { HieroError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { keep, type Tensor } from '../tensor.ts';
import { tensor } from '../ops/creation.ts';
import { launch } from '../ops/launch.ts';

export class NonFiniteError extends HieroError {
  override name = 'NonFiniteError';
}

const NONE = 0xffffffff;

export class NonFiniteMonitor {
  private flag: Tensor;

  /** `names`: what the one or two watched scalars are (for the error message), e.g. ['loss', 'gradient norm']. */
  constructor(readonly names: [string] | [string, string]) {
    this.flag = keep(tensor(Uint32Array.of(NONE, 0)));
  }

  /** Records the watched scalars of `step` (GPU one-element tensors; a missing second one is skipped). */
  watch(step: number, first: Tensor, second: Tensor | null = null): void {
    launch({
      family: 'optim', entry: 'finite_watch', label: 'non-finite watch',
      uniforms: new Uniforms().u32(step).u32(second ? 2 : 1).build(),
      outputs: [this.flag, null, null], inputs: [first, second],
      workgroups: [1],
    });
  }

  /** The first watched step with a non-finite value and what was non-finite then; null when none was. */
  async check(): Promise<{ step: number; quantities: string[] } | null> {
    const [step, bits] = await this.flag.toArray();
    if (step === NONE) return null;
    return { step, quantities: this.names.filter((_, i) => bits & (1 << i)) };
  }

  /** Throws a NonFiniteError naming the step and quantity, if one was seen. */
  async assertFinite(): Promise<void> {
    const bad = await this.check();
    if (bad) throw new NonFiniteError(`training diverged: the ${bad.quantities.join(' and the ')} became NaN or infinite at step ${bad.step}`);
  }

  dispose(): void {
    this.flag.dispose();
  }
}
