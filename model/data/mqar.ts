// Multi-query associative recall (Arora et al. 2023, "Zoology"), generated offline: a sequence of key-value pairs,
// then every key again in a random order, each followed by its value. Only the values after the queries are scored:
// recalling them needs a state that holds every pair at once, which is what a K x V matrix state has and a vector
// state of the same width lacks. Tests: test/mqar.test.ts.
//
// Bytes: keys are 64..127, values 128..191 (disjoint, 64 each: chance is 1/64), and a window of `seq` bytes holds
// seq / 4 pairs (the pairs, then as many queries). Targets are the next byte at each query and -100 (ignored by the
// loss) elsewhere.

import { HieroError } from '../../engine/index.ts';

export const MQAR_KEYS = { first: 64, count: 64 } as const;
export const MQAR_VALUES = { first: 128, count: 64 } as const;
/** The target of positions that are not scored (crossEntropy's default ignore index). */
export const MQAR_IGNORED = -100;

/** Pairs in a window of `seq` bytes (the rest of seq - 4 · pairs is padding). */
export function mqarPairs(seq: number): number {
  return Math.floor(seq / 4);
}

/** What is wrong with MQAR windows of `seq` bytes, or null. */
export function mqarLengthProblem(seq: number): string | null {
  const pairs = mqarPairs(seq);
  if (pairs < 1) return `a window of ${seq} bytes holds no key-value pair (at least 4 bytes: a pair, then its query)`;
  if (pairs > MQAR_KEYS.count) return `a window of ${seq} bytes asks for ${pairs} distinct keys; there are ${MQAR_KEYS.count} (--seq at most ${4 * MQAR_KEYS.count})`;
  return null;
}

export function checkMqarLength(seq: number): void {
  const problem = mqarLengthProblem(seq);
  if (problem) throw new HieroError(`--task mqar: ${problem}`);
}

/** Seeded generator of MQAR windows, with a state to save and restore (as the corpus sampler's). */
export class MqarSampler {
  constructor(readonly batch: number, readonly seq: number, public state: number) {
    checkMqarLength(seq);
  }

  private next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 4294967296;
  }

  private below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** ids and targets [batch · seq]; targets are MQAR_IGNORED except after each query. */
  sample(): { ids: Int32Array; targets: Int32Array } {
    const { batch, seq } = this;
    const pairs = mqarPairs(seq);
    const ids = new Int32Array(batch * seq);
    const targets = new Int32Array(batch * seq).fill(MQAR_IGNORED);
    const keys = Array.from({ length: MQAR_KEYS.count }, (_, i) => MQAR_KEYS.first + i);
    for (let b = 0; b < batch; b++) {
      const row = b * seq;
      // The first `pairs` entries of a shuffled key list: distinct keys.
      for (let i = 0; i < pairs; i++) {
        const j = i + this.below(keys.length - i);
        [keys[i], keys[j]] = [keys[j], keys[i]];
      }
      const values = Array.from({ length: pairs }, () => MQAR_VALUES.first + this.below(MQAR_VALUES.count));
      for (let i = 0; i < pairs; i++) {
        ids[row + 2 * i] = keys[i];
        ids[row + 2 * i + 1] = values[i];
      }
      const order = Array.from({ length: pairs }, (_, i) => i);
      for (let i = pairs - 1; i > 0; i--) {
        const j = this.below(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let i = 0; i < pairs; i++) {
        const at = row + 2 * pairs + 2 * i;
        ids[at] = keys[order[i]];
        ids[at + 1] = values[order[i]];
        targets[at] = values[order[i]];
      }
    }
    return { ids, targets };
  }
}

/** The held-out windows: a fixed seed of their own, the same windows for every run and every kind. */
export const MQAR_HELD_OUT_SEED = 0x5eed_0a5c;
