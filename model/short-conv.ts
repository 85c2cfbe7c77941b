// The short causal depthwise convolution that gated recurrent mixers put in front of their gates (HGRN, GLA with
// use_short_conv, Mamba-2's xBC, Griffin's recurrent block), in its three modes: the parallel op over a sequence
// (engine causalConv1d), the window a prefill leaves for decoding, and one decoding step against that window.
// Its decoding state is the last K − 1 inputs [B, K − 1, C], oldest first. Tests: test/mixers.test.ts.

import { causalConv1d, concat, keep, rand, scope, where, zeros, type Tensor } from '../engine/index.ts';
import { lastPositions } from './mixer.ts';

/** A convolution's parameters: weight [C, K] and an optional bias [C]. */
export interface ConvWeights {
  weight: Tensor;
  bias: Tensor | null;
}

/** PyTorch's Conv1d default (what fla's ShortConvolution and Mamba-2 start from): U(±1/√K) for a depthwise kernel. */
export function convInit(channels: number, kernel: number): Tensor {
  const bound = 1 / Math.sqrt(kernel);
  return rand([channels, kernel], { low: -bound, high: bound });
}

export function convForward(x: Tensor, conv: ConvWeights): Tensor {
  return causalConv1d(x, conv.weight, conv.bias);
}

/** The empty window of `batch` rows: zeros [B, K − 1, C] (the sequence starts after zero padding). */
export function convWindow(batch: number, conv: ConvWeights): Tensor {
  const [channels, kernel] = conv.weight.shape;
  return keep(zeros([batch, Math.max(1, kernel - 1), channels]));
}

/** The window a prefill of x [B, T, C] leaves: each row's last K − 1 real inputs (lengths; absent: all T). */
export function convWindowAfter(x: Tensor, conv: ConvWeights, lengths: Tensor | null | undefined): Tensor {
  const kernel = conv.weight.shape[1];
  if (kernel < 2) return zeros([x.shape[0], 1, x.shape[2]]);
  return concat(Array.from({ length: kernel - 1 }, (_, j) => lastPositions(x, lengths, kernel - 2 - j).unsqueeze(1)), 1);
}

/**
 * One position x [B, C] through the convolution over [window, x]: the sum causalConv1d computes at that step.
 * Returns the output [B, C] and the next window (rows where `active` is 0 keep theirs).
 */
export function convStep(x: Tensor, window: Tensor, conv: ConvWeights, active: Tensor | null | undefined): { y: Tensor; window: Tensor } {
  const [batch, channels] = x.shape;
  const kernel = conv.weight.shape[1];
  return scope(() => {
    const current = x.reshape([batch, 1, channels]);
    if (kernel < 2) {
      const y0 = x.mul(conv.weight.reshape([channels]));
      return { y: conv.bias ? y0.add(conv.bias) : y0, window };
    }
    const span = concat([window, current], 1); // [B, K, C]
    const summed = span.mul(conv.weight.T).sum(1);
    const shifted = span.slice([null, [1, null], null]).contiguous();
    const next = active ? where(active.reshape([batch, 1, 1]), shifted, window) : shifted;
    return { y: conv.bias ? summed.add(conv.bias) : summed, window: next };
  });
}
