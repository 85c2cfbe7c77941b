// What every byte language model offers the shared text paths (training sessions, held-out evaluation, generation;
// model/text-session.ts, model/text-generate.ts), whatever mixes its tokens: H-Net, the Transformer, the recurrent LMs.

import { crossEntropy, Module, scope, slice, type Tensor } from '../engine/index.ts';

export interface TextLosses {
  /** What training minimises (cross-entropy, plus H-Net's weighted ratio losses). */
  loss: Tensor;
  /** Mean next-byte cross-entropy (nats). */
  ce: Tensor;
  /** H-Net: Σ over stages of the ratio losses; null for models that do not chunk. */
  ratio: Tensor | null;
  /** H-Net: chunks per row of each stage, read during the forward; empty for models that do not chunk. */
  counts: number[][];
}

export interface Prediction {
  /** [B, T, 256] */
  logits: Tensor;
  /** Per chunking stage, per row, the byte positions where chunks start (empty for models that do not chunk). */
  boundaries: number[][][];
}

export interface ByteLM extends Module {
  /** A batch of windows ids [B, T] against their next bytes targets [B, T]. */
  losses(ids: Tensor, targets: Tensor): Promise<TextLosses>;
  /** The logits of ids [B, T] and the chunk boundaries the model chose. */
  predict(ids: Tensor): Promise<Prediction>;
  /** The decoding state of `batch` rows that will see at most `length` positions (a cache sizes itself by it). */
  initialState(batch: number, length: number): unknown;
  /** One byte per row, ids [B] (i32) -> logits [B, 256]; advances `state`. */
  decode(ids: Tensor, state: unknown): Tensor;
  /**
   * ids [B, T] (i32) read in one parallel pass from the initial `state`, which is left as T decode() calls would
   * leave it; returns the logits after the last position, [B, 256] (a prompt in the time of one forward pass). A
   * PrefixLM (HRM-Text) reads the prefilled prompt both ways instead, as it was trained to.
   */
  prefill(ids: Tensor, state: unknown): Promise<Tensor>;
  /** The learning-rate multiplier of a parameter (H-Net's per stage); absent: 1 for all. */
  learningRateMultiplier?(parameterName: string): number;
  /** Told before each training step the share of training done (HRM-Text's backprop window follows it). */
  setTrainingProgress?(share: number): void;
  /** Whether the training step's graph still changes with progress (a replay would be refused): record later. */
  stepChanges?(share: number): boolean;
}

/** A byte LM that does not chunk: its losses are the cross-entropy of its logits, its prediction the logits alone. */
export abstract class PlainByteLM extends Module {
  /** ids [B, T] (i32) -> logits [B, T, vocab]. */
  abstract forward(ids: Tensor): Tensor;

  /** Mean next-byte cross-entropy of ids [B, T] against targets [B, T]. */
  loss(ids: Tensor, targets: Tensor): Tensor {
    return scope(() => crossEntropy(this.forward(ids), targets));
  }

  async losses(ids: Tensor, targets: Tensor): Promise<TextLosses> {
    const loss = this.loss(ids, targets);
    return { loss, ce: loss, ratio: null, counts: [] };
  }

  async predict(ids: Tensor): Promise<Prediction> {
    return { logits: this.forward(ids), boundaries: [] };
  }
}

/** The logits of the last position of hidden states h [B, T, D]: only that row goes through the final norm and head. */
export function lastLogits(h: Tensor, norm: Module & { forward(x: Tensor): Tensor }, head: Module & { forward(x: Tensor): Tensor }): Tensor {
  const [batch, steps, width] = h.shape;
  return scope(() => head.forward(norm.forward(slice(h, [null, steps - 1]).reshape([batch, width]))));
}
