// Byte-level text batches for language models: seeded random windows of a corpus with next-byte targets (the
// training sessions' sampler, and the same windows as tensors for hand-written loops).

import { HieroError, tensor, type Tensor } from '../../engine/index.ts';

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export interface TextBatch {
  ids: Tensor;
  targets: Tensor;
}

/** Seeded sampler of training windows (host bytes), with a state to save and restore. */
export class WindowSampler {
  constructor(readonly text: Uint8Array, readonly batch: number, readonly seq: number, public state: number) {
    if (text.length < seq + 2) throw new HieroError(`the training text (${text.length} bytes) is shorter than one window of ${seq + 1} bytes`);
  }

  private next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 4294967296;
  }

  sample(): { ids: Int32Array; targets: Int32Array } {
    const ids = new Int32Array(this.batch * this.seq);
    const targets = new Int32Array(this.batch * this.seq);
    for (let b = 0; b < this.batch; b++) {
      const start = Math.floor(this.next() * (this.text.length - this.seq - 1));
      for (let t = 0; t < this.seq; t++) {
        ids[b * this.seq + t] = this.text[start + t];
        targets[b * this.seq + t] = this.text[start + t + 1];
      }
    }
    return { ids, targets };
  }
}

/** WindowSampler's windows uploaded as i32 ids and targets (for hand-written training loops and tests). */
export class ByteBatcher {
  private readonly windows: WindowSampler;

  constructor(readonly corpus: Uint8Array, readonly batch: number, readonly seq: number, seed = 1) {
    this.windows = new WindowSampler(corpus, batch, seq, seed >>> 0);
  }

  sample(): TextBatch {
    const { ids, targets } = this.windows.sample();
    return { ids: tensor(ids, [this.batch, this.seq]), targets: tensor(targets, [this.batch, this.seq]) };
  }
}
