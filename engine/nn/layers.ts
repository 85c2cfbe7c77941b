// Basic layers (tests: test/nn.test.ts). Weights follow PyTorch's layout and names, so state dicts map onto
// PyTorch checkpoints one to one: Linear.weight is [out, in].

import { embedding } from '../ops/embedding.ts';
import { add } from '../ops/elementwise.ts';
import { matmul } from '../ops/matmul.ts';
import { rmsNorm } from '../ops/norm.ts';
import type { Tensor } from '../tensor.ts';
import { full } from '../ops/creation.ts';
import { lecunNormal, truncatedNormal, zerosInit } from './init.ts';
import { Module } from './module.ts';

export interface LinearOptions {
  bias?: boolean;
  /** Weight initialiser (default LeCun normal over the input dimension). */
  init?: (shape: number[]) => Tensor;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    this.weight = this.parameter('weight', (options.init ?? ((s) => lecunNormal(s)))([outFeatures, inFeatures]));
    this.bias = options.bias ?? true ? this.parameter('bias', zerosInit([outFeatures])) : null;
  }

  forward(x: Tensor): Tensor {
    // weight.T is a strided view: the matmul reads it in place.
    const wT = this.weight.T;
    const y = matmul(x, wT);
    wT.dispose();
    if (!this.bias) return y;
    const out = add(y, this.bias);
    y.dispose();
    return out;
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly vocab: number,
    readonly dim: number,
    options: { std?: number; init?: (shape: number[]) => Tensor } = {},
  ) {
    super();
    this.weight = this.parameter('weight', (options.init ?? ((s) => truncatedNormal(s, options.std ?? 1)))([vocab, dim]));
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor | null;

  constructor(
    readonly dim: number,
    readonly options: { eps?: number; learnable?: boolean } = {},
  ) {
    super();
    this.weight = options.learnable ?? true ? this.parameter('weight', full([dim], 1)) : null;
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.options.eps ?? 1e-6);
  }
}
