// The interface every sequence mixer implements (the table of mixers is model/mixers.ts). A mixer maps a sequence
// [B, T, D] to [B, T, D] in one parallel pass, and decodes one position at a time against a state of any shape: a
// vector per row (HGRN, minGRU), a KV cache (attention), a matrix per head (the state-expansion mixers).

import { arange, keep, scope, slice, zeros, type Module, type Tensor } from '../engine/index.ts';

/** A mixer's decoding state: named tensors of any shape, replaced in place by step(). */
export type MixerState = Record<string, Tensor>;

/** What a model may pass a mixer besides its input. */
export interface MixerContext {
  /** f32 [B], 1 or 0: rows where it is 0 keep their state (their output is computed but meaningless). */
  active?: Tensor | null;
  /** HGRN: the layer's forget-gate lower bound γ [D] (the recurrent LM learns one per layer). */
  lowerBound?: Tensor | null;
  /**
   * prefill: i32 [B], the positions each row really has (the rest of its T is padding at the end, as H-Net's inner
   * stages have); absent: all T.
   */
  lengths?: Tensor | null;
  /** Causal attention as PrefixLM: i32 [B], the leading positions of each row seen both ways (HRM-Text's prompts). */
  prefixLengths?: Tensor | null;
}

export interface Mixer extends Module {
  /** x [B, T, D] -> [B, T, D]. */
  forward(x: Tensor, context?: MixerContext): Tensor;
  /** The state before the first position, for `batch` rows that will see at most `length` positions. */
  initialState(batch: number, length: number): MixerState;
  /** One position per row, x [B, D] -> [B, D]; replaces the state's tensors (kept: they outlive any scope). */
  step(x: Tensor, state: MixerState, context?: MixerContext): Tensor;
  /**
   * The parallel forward of x [B, T, D] from the initial state, leaving in `state` what stepping through its
   * positions would have left (a prompt read in one pass, then decoded step by step).
   */
  prefill(x: Tensor, state: MixerState, context?: MixerContext): Tensor;
}

/**
 * Per row, x [B, T, D] at position lengths[b] − 1 − back (zeros where that is before the start), [B, D]: the last
 * real positions of rows padded at the end, gathered by a mask (lengths absent: every row has all T).
 */
export function lastPositions(x: Tensor, lengths: Tensor | null | undefined, back = 0): Tensor {
  const [batch, steps, width] = x.shape;
  return scope(() => {
    if (!lengths) return steps - 1 - back >= 0 ? slice(x, [null, steps - 1 - back]).reshape([batch, width]) : zeros([batch, width]);
    const at = lengths.astype('f32').sub(1 + back).unsqueeze(-1); // [B, 1]
    const mask = arange(steps).astype('f32').unsqueeze(0).eq(at).astype('f32'); // [B, T]
    return x.mul(mask.unsqueeze(-1)).sum(1);
  });
}

/** Replaces a state tensor by its next value (kept: states outlive every scope). */
export function replaceState(state: MixerState, name: string, next: Tensor): void {
  const kept = keep(next);
  state[name]?.dispose();
  state[name] = kept;
}

/** Frees a decoding state: every tensor in it, however nested (arrays, plain objects). */
export function disposeState(state: unknown): void {
  if (!state || typeof state !== 'object') return;
  if ('dispose' in state && 'shape' in state && typeof (state as Tensor).dispose === 'function') {
    (state as Tensor).dispose();
    return;
  }
  for (const v of Object.values(state)) disposeState(v);
}
