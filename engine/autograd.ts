// Reverse-mode autograd over a tape of GraphNodes.
//
// An op whose inputs require grad records one node: its backward closure, the tensors it saved, and an edge per
// input (to the input's own node, or to a leaf tensor). Nodes are reference-counted by the tensors they produced
// and by the nodes that consume them, so a graph that can no longer be reached frees its saved tensors at once,
// and backward() frees each node's saved tensors as soon as that node has run.

import { HieroError, ShapeError, formatShape } from './errors.ts';
import { keep, type Tensor } from './tensor.ts';
import { add, copyStrided, onesLike } from './ops/elementwise.ts';

type Edge = { node: GraphNode; leaf?: undefined } | { leaf: Tensor; node?: undefined } | null;

export type BackwardFn = (grad: Tensor, saved: readonly Tensor[]) => (Tensor | null)[];

let gradDisabled = 0;

export function isGradEnabled(): boolean {
  return gradDisabled === 0;
}

/** Runs fn with gradient recording off (evaluation, optimiser updates). fn must be synchronous. */
export function noGrad<T>(fn: () => T): T {
  gradDisabled++;
  try {
    const result = fn();
    if (result instanceof Promise) throw new TypeError('noGrad(fn): fn must be synchronous');
    return result;
  } finally {
    gradDisabled--;
  }
}

/**
 * noGrad for work with awaits in it (H-Net's forward reads counts back): recording stays off until fn settles. As
 * with asyncScope, nothing else may run Hiero ops concurrently (they would not be recorded either).
 */
export async function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  gradDisabled++;
  try {
    return await fn();
  } finally {
    gradDisabled--;
  }
}

export class GraphNode {
  /** Live tensors produced by this node plus nodes that consume it. */
  private refs = 0;
  private saved: Tensor[];
  private consumed = false;

  constructor(
    readonly op: string,
    readonly inputs: readonly Edge[],
    readonly outputShape: readonly number[],
    private backwardFn: BackwardFn | null,
    saved: Tensor[],
  ) {
    this.saved = saved;
    for (const edge of inputs) edge?.node?.ref();
  }

  ref(): void {
    this.refs++;
  }

  /** Drops a reference; a node nobody references frees its saved tensors and drops its own input references. */
  unref(): void {
    const stack: GraphNode[] = [this];
    while (stack.length) {
      const node = stack.pop()!;
      if (--node.refs > 0) continue;
      node.freeSaved();
      node.backwardFn = null;
      for (const edge of node.inputs) if (edge?.node) stack.push(edge.node);
    }
  }

  /** @internal */
  freeSaved(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
  }

  /** @internal */
  run(grad: Tensor, retainGraph: boolean): (Tensor | null)[] {
    if (this.consumed || !this.backwardFn) {
      throw new HieroError(
        `backward through '${this.op}' a second time: its saved tensors were freed by the first backward(); ` +
          'pass { retainGraph: true } to the first call to keep them',
      );
    }
    const grads = this.backwardFn(grad, this.saved);
    if (!retainGraph) {
      this.consumed = true;
      this.freeSaved();
    }
    return grads;
  }
}

/** True when an op over these inputs must record a node. */
export function needsGrad(inputs: readonly (Tensor | null | undefined)[]): boolean {
  return isGradEnabled() && inputs.some((t) => t?.requiresGrad);
}

/**
 * Records `output = op(inputs)` for backward. `save` lists tensors the backward needs (held by reference, not
 * copied); backward receives the upstream gradient and them, and returns one gradient per input (null where an
 * input needs none). Does nothing when no input requires grad or recording is off.
 */
export function record(
  op: string,
  inputs: readonly (Tensor | null | undefined)[],
  output: Tensor,
  backward: BackwardFn,
  save: readonly Tensor[] = [],
): Tensor {
  if (!needsGrad(inputs)) return output;
  const edges: Edge[] = inputs.map((t) => {
    if (!t || !t.requiresGrad) return null;
    return t.gradFn ? { node: t.gradFn } : { leaf: t };
  });
  const node = new GraphNode(op, edges, output.shape, backward, save.map((t) => t.saveForBackward()));
  node.ref();
  output.gradFn = node;
  output.requiresGrad = true;
  return output;
}

function assertGradShape(op: string, grad: Tensor, expected: readonly number[]): void {
  if (grad.shape.length !== expected.length || grad.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(
      `internal: the backward of '${op}' produced a gradient of shape ${formatShape(grad.shape)} ` +
        `for an input of shape ${formatShape(expected)}`,
    );
  }
}

function accumulateLeaf(leaf: Tensor, incoming: Tensor): void {
  if (leaf.disposed) {
    incoming.dispose();
    return;
  }
  // Leaf gradients are stored dense (optimisers and users index them directly), whatever view backward produced.
  let grad = incoming;
  if (!incoming.isContiguous || incoming.offset !== 0) {
    grad = copyStrided(incoming);
    incoming.dispose();
  }
  if (!leaf.grad) {
    leaf.grad = keep(grad);
    return;
  }
  const sum = keep(add(leaf.grad, grad));
  leaf.grad.dispose();
  grad.dispose();
  leaf.grad = sum;
}

export interface BackwardOptions {
  /** Keep saved tensors so backward can run through the same graph again. */
  retainGraph?: boolean;
}

/**
 * Accumulates d(root)/d(leaf) into `leaf.grad` for every leaf that requires grad. root must be a scalar unless
 * `grad` (the upstream gradient, same shape as root) is given.
 */
export function backward(root: Tensor, grad?: Tensor, options: BackwardOptions = {}): void {
  root.storage('backward');
  if (!root.requiresGrad) {
    throw new HieroError('backward(): this tensor does not require grad (no input of its graph has requiresGrad)');
  }
  if (!grad && root.size !== 1) {
    throw new ShapeError(
      `backward(): the tensor has shape ${formatShape(root.shape)}; pass a gradient of that shape or reduce it to a scalar first`,
    );
  }
  if (grad) assertGradShape('backward() seed', grad, root.shape);
  noGrad(() => {
    const seed = keep(grad ? grad.saveForBackward() : onesLike(root));
    if (!root.gradFn) {
      accumulateLeaf(root, seed);
      return;
    }
    const order = topologicalOrder(root.gradFn);
    const pending = new Map<GraphNode, Tensor>([[root.gradFn, seed]]);
    for (const node of order) {
      const g = pending.get(node);
      if (!g) continue;
      pending.delete(node);
      let results: (Tensor | null)[];
      try {
        results = node.run(g, options.retainGraph ?? false);
      } finally {
        g.dispose();
      }
      node.inputs.forEach((edge, i) => {
        const r = results[i] ?? null;
        if (!edge || !r) {
          r?.dispose();
          return;
        }
        keep(r);
        if (edge.leaf) {
          assertGradShape(node.op, r, edge.leaf.shape);
          accumulateLeaf(edge.leaf, r);
          return;
        }
        assertGradShape(node.op, r, edge.node.outputShape);
        const prior = pending.get(edge.node);
        if (!prior) {
          pending.set(edge.node, r);
          return;
        }
        pending.set(edge.node, keep(add(prior, r)));
        prior.dispose();
        r.dispose();
      });
    }
    for (const leftover of pending.values()) leftover.dispose();
  });
}

/** Nodes reachable from root, each after every node that consumes it (iterative: deep graphs do not overflow). */
function topologicalOrder(root: GraphNode): GraphNode[] {
  const visited = new Set<GraphNode>();
  const postorder: GraphNode[] = [];
  const stack: [GraphNode, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [node, next] = top;
    if (next < node.inputs.length) {
      top[1]++;
      const child = node.inputs[next]?.node;
      if (child && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      postorder.push(node);
    }
  }
  return postorder.reverse();
}
