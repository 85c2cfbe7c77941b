// Layers shared by the models (the attention mixer is model/attention.ts, the mixer table model/mixers.ts).

import { Linear, Module, scope, slice, swigluPacked, type Tensor } from '../engine/index.ts';

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
    return scope(() => this.down.forward(swigluPacked(this.gateUp.forward(x), this.hidden, { upFirst: this.upFirst })));
  }
}
