/**
 * The storage behind MessageQueue: 256 FIFO rings, one per priority, and an occupancy
 * bitmap that finds the most urgent non-empty ring in O(1).
 *
 * Every entry carries its insertion sequence number so DROP_OLDEST can find the message
 * that has waited longest: within one ring the head is always the oldest, so the oldest
 * overall is the smallest head sequence among the non-empty rings (at most 256 compares).
 *
 * Memory is proportional to what is queued: a ring starts empty, doubles when full and is
 * reset to nothing when a large one drains, so 256 priorities never cost 256 × maxSize.
 */

export const BUCKETS = 256;

/** Above this capacity, a ring that empties gives its arrays back instead of keeping them. */
const KEEP_CAPACITY = 4096;
const FIRST_CAPACITY = 8;

class Ring<T> {
  items: (T | undefined)[] = [];
  seqs: Float64Array = new Float64Array(0);
  head = 0;
  length = 0;
  mask = -1;

  push(item: T, seq: number): void {
    if (this.length === this.items.length) this.grow();
    const i = (this.head + this.length) & this.mask;
    this.items[i] = item;
    this.seqs[i] = seq;
    this.length++;
  }

  shift(): T {
    const i = this.head;
    const item = this.items[i] as T;
    this.items[i] = undefined; // release the reference for the garbage collector
    this.head = (i + 1) & this.mask;
    if (--this.length === 0 && this.items.length > KEEP_CAPACITY) this.reset();
    return item;
  }

  reset(): void {
    this.items = [];
    this.seqs = new Float64Array(0);
    this.head = 0;
    this.length = 0;
    this.mask = -1;
  }

  private grow(): void {
    const capacity = this.items.length === 0 ? FIRST_CAPACITY : this.items.length * 2;
    const items = new Array<T | undefined>(capacity).fill(undefined);
    const seqs = new Float64Array(capacity);
    for (let k = 0; k < this.length; k++) {
      const j = (this.head + k) & this.mask;
      items[k] = this.items[j];
      seqs[k] = this.seqs[j];
    }
    this.items = items;
    this.seqs = seqs;
    this.head = 0;
    this.mask = capacity - 1;
  }
}

export class BucketRings<T> {
  /** Number of entries in all rings. */
  size = 0;
  private readonly rings: Ring<T>[] = Array.from({ length: BUCKETS }, () => new Ring<T>());
  /** Bit p is set when ring p is non-empty. */
  private readonly occupied = new Uint32Array(BUCKETS / 32);
  /** The highest non-empty priority, or -1: kept so the common get needs no bitmap scan. */
  private top = -1;
  private nextSeq = 0;

  /** Appends to the ring of `priority` (an integer 0..255, already checked). */
  push(priority: number, item: T): void {
    const ring = this.rings[priority];
    if (ring.length === 0) {
      this.occupied[priority >>> 5] |= 1 << (priority & 31);
      if (priority > this.top) this.top = priority;
    }
    ring.push(item, this.nextSeq++);
    this.size++;
  }

  /** The head of the most urgent ring, without removing it. */
  peek(): T | undefined {
    return this.top < 0 ? undefined : (this.rings[this.top].items[this.rings[this.top].head] as T);
  }

  /** Removes and returns the head of the most urgent ring. The caller checks `size > 0`. */
  shift(): T {
    return this.shiftFrom(this.top);
  }

  /** Removes and returns the entry with the smallest insertion sequence. The caller checks `size > 0`. */
  shiftOldest(): T {
    let oldest = -1;
    let oldestSeq = Infinity;
    for (let w = 0; w < this.occupied.length; w++) {
      let bits = this.occupied[w];
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits &= ~(1 << b);
        const ring = this.rings[(w << 5) | b];
        const seq = ring.seqs[ring.head];
        if (seq < oldestSeq) {
          oldestSeq = seq;
          oldest = (w << 5) | b;
        }
      }
    }
    return this.shiftFrom(oldest);
  }

  /** Removes everything; returns how many entries there were. */
  clear(): number {
    const removed = this.size;
    for (const ring of this.rings) if (ring.items.length !== 0) ring.reset();
    this.occupied.fill(0);
    this.top = -1;
    this.size = 0;
    return removed;
  }

  private shiftFrom(priority: number): T {
    const ring = this.rings[priority];
    const item = ring.shift();
    this.size--;
    if (ring.length === 0) {
      this.occupied[priority >>> 5] &= ~(1 << (priority & 31));
      if (priority === this.top) this.top = this.highestFrom(priority);
    }
    return item;
  }

  /** The highest set bit at or below `priority`, or -1. */
  private highestFrom(priority: number): number {
    for (let w = priority >>> 5; w >= 0; w--) {
      const bits = this.occupied[w];
      if (bits !== 0) return (w << 5) | (31 - Math.clz32(bits));
    }
    return -1;
  }
}
