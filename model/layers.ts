// Layers shared by the models.

import { Linear, Module, slice, swiglu, type Tensor } from '../engine/index.ts';

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

/** down(silu(gate) ⊙ up) with [gate | up] from one fused projection. `names` sets the two projections' state-dict names. */
export class SwiGLUMLP extends Module {
  readonly gateUp: Linear;
  readonly down: Linear;

  constructor(dim: number, readonly hidden: number, names: { gateUp: string; down: string } = { gateUp: 'gate_up', down: 'down' }) {
    super();
    this.gateUp = this.child(names.gateUp, new Linear(dim, 2 * hidden, { bias: false }));
    this.down = this.child(names.down, new Linear(hidden, dim, { bias: false }));
  }

  forward(x: Tensor): Tensor {
    const gu = this.gateUp.forward(x);
    const [gate, up] = halves(gu, this.hidden);
    gu.dispose();
    const h = swiglu(gate, up);
    gate.dispose();
    up.dispose();
    return consume(h, (y) => this.down.forward(y));
  }
}

