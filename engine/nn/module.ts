// Modules: named parameters and children, train/eval, state dicts with shape checks (the names are the dotted
// paths checkpoints store, as in PyTorch).

import { HieroError, ShapeError, formatShape } from '../errors.ts';
import { assign } from '../ops/elementwise.ts';
import { keep, type Tensor } from '../tensor.ts';
import { noGrad } from '../autograd.ts';

export class Module {
  training = true;
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable parameter (it requires grad and is excluded from every scope). */
  protected parameter(name: string, value: Tensor): Tensor {
    if (this.ownParameters.has(name) || this.children.has(name)) throw new HieroError(`module: '${name}' is registered twice`);
    value.requiresGrad = true;
    this.ownParameters.set(name, keep(value));
    return value;
  }

  /** Registers non-trainable state saved with the model (running statistics, fixed tables). */
  protected buffer(name: string, value: Tensor): Tensor {
    this.ownBuffers.set(name, keep(value));
    return value;
  }

  protected child<M extends Module>(name: string, module: M): M {
    if (this.ownParameters.has(name) || this.children.has(name)) throw new HieroError(`module: '${name}' is registered twice`);
    this.children.set(name, module);
    return module;
  }

  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** Every parameter with its dotted path, in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this.ownParameters) out.push([prefix + name, p]);
    for (const [name, c] of this.children) out.push(...c.namedParameters(`${prefix}${name}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, b] of this.ownBuffers) out.push([prefix + name, b]);
    for (const [name, c] of this.children) out.push(...c.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  train(mode = true): this {
    this.training = mode;
    for (const c of this.children.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The model's tensors by name (parameters and buffers): references, not copies. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies tensors into the model's own (on the GPU, in place). Every name must match and every shape agree;
   * with strict (the default) missing and unexpected names are errors too. Nothing is written unless all checks pass.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, options: { strict?: boolean } = {}): void {
    const strict = options.strict ?? true;
    const incoming = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const problems: string[] = [];
    for (const [name, t] of own) {
      const src = incoming.get(name);
      if (!src) {
        if (strict) problems.push(`missing '${name}' ${formatShape(t.shape)}`);
        continue;
      }
      if (src.shape.join() !== t.shape.join()) problems.push(`'${name}' has shape ${formatShape(src.shape)}, the model needs ${formatShape(t.shape)}`);
      else if (src.dtype !== t.dtype) problems.push(`'${name}' has dtype ${src.dtype}, the model needs ${t.dtype}`);
    }
    if (strict) for (const name of incoming.keys()) if (!own.has(name)) problems.push(`unexpected '${name}'`);
    if (problems.length) throw new ShapeError(`loadStateDict: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [name, t] of own) {
        const src = incoming.get(name);
        if (src) assign(t, src);
      }
    });
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}
