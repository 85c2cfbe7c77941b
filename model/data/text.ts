// Byte-level text batches for language models: random windows of a corpus, next-byte targets.

import { tensor, type Tensor } from '../../engine/index.ts';

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export interface TextBatch {
  ids: Tensor;
  targets: Tensor;
}

/** Deterministic sampler of [batch, seq] windows (seeded), uploaded as i32 ids and targets shifted by one byte. */
export class ByteBatcher {
  private state: number;

  constructor(
    readonly corpus: Uint8Array,
    readonly batch: number,
    readonly seq: number,
    seed = 1,
  ) {
    if (corpus.length < seq + 2) throw new Error(`ByteBatcher: a corpus of ${corpus.length} bytes is shorter than one window of ${seq + 1}`);
    this.state = seed >>> 0;
  }

  private next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 4294967296;
  }

  sample(): TextBatch {
    const ids = new Int32Array(this.batch * this.seq);
    const targets = new Int32Array(this.batch * this.seq);
    for (let b = 0; b < this.batch; b++) {
      const start = Math.floor(this.next() * (this.corpus.length - this.seq - 1));
      for (let t = 0; t < this.seq; t++) {
        ids[b * this.seq + t] = this.corpus[start + t];
        targets[b * this.seq + t] = this.corpus[start + t + 1];
      }
    }
    return { ids: tensor(ids, [this.batch, this.seq]), targets: tensor(targets, [this.batch, this.seq]) };
  }
}
