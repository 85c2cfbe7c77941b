// The interface every sequence mixer implements (the table of mixers is model/mixers.ts). A mixer maps a sequence
// [B, T, D] to [B, T, D] in one parallel pass, and decodes one position at a time against a state of any shape: a
// vector per row (HGRN, minGRU), a KV cache (attention), a matrix per head (the state-expansion mixers).

import type { Module, Tensor } from '../engine/index.ts';

/** A mixer's decoding state: named tensors of any shape, replaced in place by step(). */
export type MixerState = Record<string, Tensor>;

/** What a model may pass a mixer besides its input. */
export interface MixerContext {
  /** f32 [B], 1 or 0: rows where it is 0 keep their state (their output is computed but meaningless). */
  active?: Tensor | null;
  /** HGRN: the layer's forget-gate lower bound γ [D] (the recurrent LM learns one per layer). */
  lowerBound?: Tensor | null;
}

export interface Mixer extends Module {
  /** x [B, T, D] -> [B, T, D]. */
  forward(x: Tensor, context?: MixerContext): Tensor;
  /** The state before the first position, for `batch` rows that will see at most `length` positions. */
  initialState(batch: number, length: number): MixerState;
  /** One position per row, x [B, D] -> [B, D]; replaces the state's tensors (kept: they outlive any scope). */
  step(x: Tensor, state: MixerState, context?: MixerContext): Tensor;
}
