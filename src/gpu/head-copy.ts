/**
 * The host's copy of a GpuMessageQueue's head: the most urgent messages in order, so that the
 * synchronous reads (getNowait, peek) can answer without the device.
 *
 * It is filled from the device (every submission fetches the head, unless the copy already
 * holds the whole queue) and, when the queue keeps a copy (`prefetch > 0`), kept current by the
 * host's own pushes and pops between fetches. With `prefetch: 0` the host never maintains it:
 * it holds only what a fetch returned, and any push empties it (the new message may be more
 * urgent), so every answer read from it is the device's.
 *
 * INVARIANTS
 *   entries are exactly the queue's first entries.length messages in priority-then-FIFO order
 *   complete  =>  entries.length === the queue's size (the copy holds everything)
 *   entries.length <= HEAD_MAX
 */
import { MAX_HEAD } from './storage.js';

export const HEAD_MAX = MAX_HEAD;

export interface HeadEntry<T> {
  priority: number;
  seq: number;
  message: T;
  /** the message's payload words as stored on the device (kept only by verifying queues) */
  words?: Uint32Array;
}

export class HeadCopy<T> {
  entries: HeadEntry<T>[] = [];
  complete = true;

  constructor(
    /** false with prefetch 0: host pushes empty the copy instead of entering it */
    readonly maintained: boolean,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  /** Forgets everything; `complete` says whether the queue is now empty. */
  reset(complete: boolean): void {
    this.entries = [];
    this.complete = complete;
  }

  /**
   * A host push of (priority, seq). `make` builds its entry only when it enters the copy
   * (schema mode unpacks a copy of the words then).
   */
  push(priority: number, seq: number, make: () => HeadEntry<T>): void {
    const c = this.entries;
    if (!this.maintained) {
      this.reset(false);
      return;
    }
    // position: after every entry with priority >= priority (the new message is the newest)
    let lo = c.length;
    if (lo !== 0 && c[lo - 1].priority < priority) {
      lo = 0;
      let hi = c.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (c[mid].priority >= priority) lo = mid + 1;
        else hi = mid;
      }
    }
    if (lo === c.length && !this.complete) return; // belongs after the known prefix
    if (lo >= HEAD_MAX) {
      this.complete = false;
      return;
    }
    c.splice(lo, 0, make());
    if (c.length > HEAD_MAX) {
      c.length = HEAD_MAX;
      this.complete = false;
    }
  }

  /**
   * For batches: a push enters the copy only if its priority is above this bound (-1: every
   * push must be offered; 255: none enters). Valid until the next push() that returned true.
   */
  admitBound(): number {
    if (!this.maintained || this.complete) return -1;
    const c = this.entries;
    return c.length === 0 ? 255 : c[c.length - 1].priority;
  }

  /** Removes and returns the first n entries (n <= length); `sizeAfter` is the queue's size after the take. */
  take(n: number, sizeAfter: number): HeadEntry<T>[] {
    const taken = this.entries.splice(0, n);
    if (this.entries.length === 0 && sizeAfter > 0) this.complete = false;
    return taken;
  }

  /** Removes the entry with the oldest sequence number (the copy holds the whole queue). */
  takeOldest(): HeadEntry<T> {
    const c = this.entries;
    let best = 0;
    for (let i = 1; i < c.length; i++) if (c[i].seq < c[best].seq) best = i;
    return c.splice(best, 1)[0];
  }

  /** Removes the entry with this sequence number, if held. */
  remove(seq: number): void {
    const at = this.entries.findIndex((e) => e.seq === seq);
    if (at >= 0) this.entries.splice(at, 1);
  }

  /** Replaces the copy by a fetched head of a queue holding `size` messages. */
  adopt(entries: HeadEntry<T>[], size: number): void {
    this.entries = entries;
    this.complete = entries.length === size;
  }

  /** Whether the copy holds the whole queue of `size` messages. */
  holdsAll(size: number): boolean {
    return this.complete && this.entries.length === size;
  }
}
