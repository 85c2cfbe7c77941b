// Generating text from any byte language model (model/text-model.ts; tests: test/hnet.test.ts, test/glr.test.ts,
// test/kinds.test.ts): several prompts at once, the bytes they all have read in one parallel pass (prefill), then one
// byte per step against the model's decoding state (O(1) for the recurrent mixers, a per-row KV cache for attention;
// H-Net's main network steps only on the rows where a chunk opens), tokens drawn on the GPU and fed straight back,
// read every `chunk` bytes and handed to a callback as they arrive.

import { concat, HieroError, sample, scope, tensor, where, type Tensor } from '../engine/index.ts';
import { disposeState } from './mixers.ts';
import { INPUT_LIMITS, lengthProblem } from './options.ts';
import type { ByteLM } from './text-model.ts';

export interface TextGenerateOptions {
  /** Bytes to add after each prompt. */
  count: number;
  /** Softmax temperature; 0 takes the most likely byte (default 0.8). */
  temperature?: number;
  /** Sample among the k most likely bytes (0: all). */
  topK?: number;
  /** Seed of the draws (default 1). */
  seed?: number;
  /** Bytes between read-backs (default 16). */
  chunk?: number;
  /** Each prompt's new bytes, as they are read (row index, bytes). */
  onBytes?: (row: number, bytes: Uint8Array) => void;
  /** Stops generating when it returns true (checked at every read-back): cancellation. */
  cancelled?: () => boolean;
}

/** The continuation of every prompt (the prompts themselves excluded). */
export async function generateText(model: ByteLM, prompts: Uint8Array[], options: TextGenerateOptions): Promise<Uint8Array[]> {
  if (prompts.length === 0) throw new HieroError('generate: give at least one prompt');
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new HieroError(`generate: prompt ${i + 1} is empty; a prompt needs at least one byte`);
    const tooLong = lengthProblem(`generate: prompt ${i + 1}`, p.length, INPUT_LIMITS.promptBytes, 'bytes');
    if (tooLong) throw new HieroError(tooLong);
  });
  if (!Number.isInteger(options.count) || options.count < 0) throw new HieroError(`generate: count must be a whole number >= 0, got ${options.count}`);
  return generateStepwise(model, prompts, options);
}

interface Collected {
  out: number[][];
  /** Drawn tokens not read yet, with which rows' draws are continuation bytes. */
  pending: { tokens: Tensor; rows: boolean[] }[];
}

/** Reads the pending draws (one read-back) and hands each row its new continuation bytes. */
async function drain(c: Collected, options: TextGenerateOptions, rows: number): Promise<void> {
  if (c.pending.length === 0) return;
  const pending = c.pending;
  c.pending = [];
  const joined = concat(pending.map((p) => p.tokens.reshape([1, rows])), 0); // [steps, rows]
  pending.forEach((p) => p.tokens.dispose());
  const values = await joined.toArray();
  joined.dispose();
  for (let r = 0; r < rows; r++) {
    const fresh: number[] = [];
    pending.forEach((p, s) => {
      if (p.rows[r]) fresh.push(values[s * rows + r]);
    });
    if (fresh.length === 0) continue;
    c.out[r].push(...fresh);
    options.onBytes?.(r, Uint8Array.from(fresh));
  }
}

async function generateStepwise(model: ByteLM, prompts: Uint8Array[], options: TextGenerateOptions): Promise<Uint8Array[]> {
  const rows = prompts.length;
  const longest = Math.max(...prompts.map((p) => p.length));
  const chunk = options.chunk ?? 16;
  const state = model.initialState(rows, longest + options.count);
  const collected: Collected = { out: prompts.map(() => []), pending: [] };
  let previous: Tensor | null = null; // the token drawn at the last step
  let logits: Tensor | null = null;
  try {
    // The bytes every prompt has are read in one parallel pass (prefill); then step t feeds row r its prompt byte t
    // while it has one, else the byte drawn from its last logits; a row's continuation starts once its prompt is
    // consumed. All rows step together: one batch, as long as the longest.
    const shared = Math.min(...prompts.map((p) => p.length));
    const common = tensor(Int32Array.from(prompts.flatMap((p) => [...p.subarray(0, shared)])), [rows, shared], { dtype: 'i32' });
    try {
      logits = await model.prefill(common, state);
    } finally {
      common.dispose();
    }
    const total = longest + options.count;
    for (let t = shared; t < total; t++) {
      if (options.cancelled?.()) break; // checked every step: a long prompt's remaining bytes stop at once too
      const fromPrompt = Float32Array.from(prompts, (p) => (t < p.length ? 1 : 0));
      const promptBytes = Int32Array.from(prompts, (p) => (t < p.length ? p[t] : 0));
      if (t > 0) {
        const drawn = sample(logits!, { temperature: options.temperature ?? 0.8, topK: options.topK ?? 0, seed: options.seed ?? 1, stream: t });
        // Row r's draw at step t is its continuation byte t - length(prompt r), when that is in [0, count).
        const continuing = prompts.map((p) => t - p.length >= 0 && t - p.length < options.count);
        if (continuing.some(Boolean)) collected.pending.push({ tokens: drawn.astype('f32'), rows: continuing });
        previous?.dispose();
        previous = drawn;
        if (collected.pending.length >= chunk) {
          await drain(collected, options, rows);
          if (options.cancelled?.()) break;
        }
      }
      if (t === total - 1) break;
      const ids = scope(() => {
        const promptIds = tensor(promptBytes, [rows], { dtype: 'i32' });
        if (!previous) return promptIds;
        return where(tensor(fromPrompt, [rows]), promptIds, previous);
      });
      logits?.dispose();
      logits = model.decode(ids, state);
      ids.dispose();
    }
    await drain(collected, options, rows);
  } finally {
    logits?.dispose();
    previous?.dispose();
    collected.pending.forEach((p) => p.tokens.dispose());
    disposeState(state);
  }
  return collected.out.map((o) => Uint8Array.from(o));
}
