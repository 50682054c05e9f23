/**
 * Packed batches: a batch of messages as the schema's words (one Uint32Array, `schema.words`
 * words per message) and a Uint8Array of priorities, with no object per message.
 *
 * putManyPacked hands a batch to the shared host rules (BackpressureQueue.putBatch/fill) as a
 * PackedSource, a MessageBatch: `length`, `at(i)`, `slice(from)`. Message i is a PackedRef, made
 * only on the per-message slow paths (a full queue, a waiting getter); insert() copies its words.
 */
import type { MessageBatch } from '../queue/backpressure.js';
import { RECORD_HEADER, recordPriority } from './layout.js';

/** What getManyPacked resolves with: `count` messages, `words[i*schema.words ..]` and `priorities[i]` for message i (fresh arrays per call). */
export interface PackedBatch {
  count: number;
  words: Uint32Array;
  priorities: Uint8Array;
}

export class PackedSource<T> implements MessageBatch<T> {
  constructor(
    readonly words: Uint32Array,
    readonly length: number,
    readonly W: number,
  ) {}
  /** Message i as the per-message slow paths hand it to insert: a PackedRef. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.length ? (new PackedRef(this, i) as unknown as T) : undefined;
  }
  /** The rest of a batch that must wait: a copy, so the caller may reuse its array. */
  slice(from: number): PackedSource<T> {
    const start = Math.min(Math.max(0, from), this.length);
    return new PackedSource<T>(this.words.slice(start * this.W, this.length * this.W), this.length - start, this.W);
  }
}

/** Message i of a PackedSource, as the per-message paths see it. */
export class PackedRef {
  constructor(
    readonly src: PackedSource<unknown>,
    readonly i: number,
  ) {}
}

/** Typed views over one buffer, as `schema.pack`/`unpack` take them. */
export interface Views {
  u: Uint32Array;
  f: Float32Array;
  i: Int32Array;
}
export function viewsOf(u: Uint32Array): Views {
  return { u, f: new Float32Array(u.buffer, u.byteOffset, u.length), i: new Int32Array(u.buffer, u.byteOffset, u.length) };
}

/** getManyPacked's result from n output records [seq lo, priority << 24 | seq hi, W words] at rec[o ..]. */
export function extractRecords(rec: Uint32Array, o: number, n: number, W: number): PackedBatch {
  const words = new Uint32Array(n * W);
  const priorities = new Uint8Array(n);
  const R = W + RECORD_HEADER;
  if (W === 1) {
    for (let j = 0, q = o; j < n; j++, q += 3) {
      priorities[j] = recordPriority(rec, q);
      words[j] = rec[q + 2];
    }
  } else {
    for (let j = 0, q = o, d = 0; j < n; j++, q += R, d += W) {
      priorities[j] = recordPriority(rec, q);
      for (let k = 0; k < W; k++) words[d + k] = rec[q + 2 + k];
    }
  }
  return { count: n, words, priorities };
}
