/**
 * The storage behind MessageQueue: 256 FIFO rings, one per priority, and an occupancy
 * bitmap that finds the most urgent non-empty ring in O(1).
 *
 * With `trackAge` (DROP_OLDEST) every entry carries its insertion sequence number, and an
 * age index records (priority, sequence) of every insertion in order; an entry is stale once
 * its message has left, which is exactly when its sequence is below its ring's head sequence
 * (rings only lose entries at the head). The oldest live entry is found by skipping stale ones from the
 * front, and the index is compacted when stale entries outnumber live ones: O(1) amortized,
 * with no cost to gets.
 *
 * Memory follows what is queued: a ring starts empty, doubles when full and is reset to nothing
 * when a large one drains, so 256 priorities never cost 256 × maxSize. The largest drained
 * arrays are kept as one spare per queue (SpareArrays), which the next ring to grow past
 * KEEP_CAPACITY takes: a queue that fills and drains with large batches (a kernel's queue, tick
 * after tick) then grows once, not ~log2(batch) times a batch. So an emptied queue still holds
 * the spare (at most twice its largest backlog, in slots) until `clear()` or until a ring takes it.
 */

export const BUCKETS = 256;

/** Above this capacity, a ring that empties gives its arrays back instead of keeping them. */
const KEEP_CAPACITY = 4096;
const FIRST_CAPACITY = 8;

/** The arrays of the largest ring that drained (every slot released), for the next ring that grows large. */
interface SpareArrays<T> {
  items: (T | undefined)[] | null;
  seqs: Float64Array;
}

class Ring<T> {
  items: (T | undefined)[] = [];
  /** Insertion sequence of each entry; kept only when the rings track age (DROP_OLDEST). */
  seqs: Float64Array = new Float64Array(0);
  head = 0;
  length = 0;
  mask = -1;

  constructor(
    private readonly tracksAge: boolean,
    private readonly spare: SpareArrays<T>,
  ) {}

  push(item: T, seq: number): void {
    if (this.length === this.items.length) this.grow();
    const i = (this.head + this.length) & this.mask;
    this.items[i] = item;
    if (this.tracksAge) this.seqs[i] = seq;
    this.length++;
  }

  shift(): T {
    const i = this.head;
    const item = this.items[i] as T;
    this.items[i] = undefined; // release the reference for the garbage collector
    this.head = (i + 1) & this.mask;
    if (--this.length === 0 && this.items.length > KEEP_CAPACITY) {
      // (every slot was released as it was shifted: the arrays hold nothing)
      if (this.spare.items === null || this.spare.items.length < this.items.length) {
        this.spare.items = this.items;
        this.spare.seqs = this.seqs;
      }
      this.reset();
    }
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
    let capacity = this.items.length === 0 ? FIRST_CAPACITY : this.items.length * 2;
    let items: (T | undefined)[];
    let seqs: Float64Array;
    const spare = this.spare.items;
    if (capacity > KEEP_CAPACITY && spare !== null && spare.length >= capacity) {
      items = spare;
      seqs = this.tracksAge ? this.spare.seqs : new Float64Array(0);
      capacity = spare.length;
      this.spare.items = null;
      this.spare.seqs = new Float64Array(0);
    } else {
      items = new Array<T | undefined>(capacity).fill(undefined);
      seqs = new Float64Array(this.tracksAge ? capacity : 0);
    }
    for (let k = 0; k < this.length; k++) {
      const j = (this.head + k) & this.mask;
      items[k] = this.items[j];
      if (this.tracksAge) seqs[k] = this.seqs[j];
    }
    this.items = items;
    this.seqs = seqs;
    this.head = 0;
    this.mask = capacity - 1;
  }
}

/** Insertion order of (priority, sequence) pairs, for DROP_OLDEST. A growable ring. */
class AgeIndex {
  priorities = new Uint8Array(FIRST_CAPACITY);
  seqs = new Float64Array(FIRST_CAPACITY);
  head = 0;
  length = 0;

  push(priority: number, seq: number): void {
    if (this.length === this.seqs.length) this.resize(this.seqs.length * 2);
    const i = (this.head + this.length) & (this.seqs.length - 1);
    this.priorities[i] = priority;
    this.seqs[i] = seq;
    this.length++;
  }

  /** Takes the oldest entry; the caller checks `length > 0`. Returns its index into the arrays. */
  shift(): number {
    const i = this.head;
    this.head = (i + 1) & (this.seqs.length - 1);
    this.length--;
    return i;
  }

  /** Keeps only the entries for which `live` holds, in order, in arrays sized to fit. */
  compact(live: (priority: number, seq: number) => boolean): void {
    const mask = this.seqs.length - 1;
    let kept = 0;
    for (let k = 0; k < this.length; k++) {
      const i = (this.head + k) & mask;
      if (live(this.priorities[i], this.seqs[i])) kept++;
    }
    let capacity = FIRST_CAPACITY;
    while (capacity < kept * 2) capacity *= 2;
    const priorities = new Uint8Array(capacity);
    const seqs = new Float64Array(capacity);
    let n = 0;
    for (let k = 0; k < this.length; k++) {
      const i = (this.head + k) & mask;
      if (live(this.priorities[i], this.seqs[i])) {
        priorities[n] = this.priorities[i];
        seqs[n++] = this.seqs[i];
      }
    }
    this.priorities = priorities;
    this.seqs = seqs;
    this.head = 0;
    this.length = kept;
  }

  clear(): void {
    this.priorities = new Uint8Array(FIRST_CAPACITY);
    this.seqs = new Float64Array(FIRST_CAPACITY);
    this.head = 0;
    this.length = 0;
  }

  private resize(capacity: number): void {
    const priorities = new Uint8Array(capacity);
    const seqs = new Float64Array(capacity);
    const mask = this.seqs.length - 1;
    for (let k = 0; k < this.length; k++) {
      const i = (this.head + k) & mask;
      priorities[k] = this.priorities[i];
      seqs[k] = this.seqs[i];
    }
    this.priorities = priorities;
    this.seqs = seqs;
    this.head = 0;
  }
}

export class BucketRings<T> {
  /** Number of entries in all rings. */
  size = 0;
  private readonly rings: Ring<T>[];
  private readonly spare: SpareArrays<T>;
  /** Bit p is set when ring p is non-empty. */
  private readonly occupied = new Uint32Array(BUCKETS / 32);
  /** Bit w is set when word w of `occupied` is non-zero: the most urgent ring is two clz32 away. */
  private summary = 0;
  /** The highest non-empty priority, or -1: kept so the common get needs no bitmap scan. */
  private top = -1;
  private nextSeq = 0;
  /** Present only when the owner needs `shiftOldest` (DROP_OLDEST). */
  private readonly age: AgeIndex | undefined;

  constructor(options: { trackAge?: boolean } = {}) {
    const trackAge = options.trackAge === true;
    const spare: SpareArrays<T> = { items: null, seqs: new Float64Array(0) };
    this.spare = spare;
    this.rings = Array.from({ length: BUCKETS }, () => new Ring<T>(trackAge, spare));
    this.age = trackAge ? new AgeIndex() : undefined;
  }

  /** Appends to the ring of `priority` (an integer 0..255, already checked). */
  push(priority: number, item: T): void {
    const ring = this.rings[priority];
    if (ring.length === 0) {
      const w = priority >>> 5;
      this.occupied[w] |= 1 << (priority & 31);
      this.summary |= 1 << w;
      if (priority > this.top) this.top = priority;
    }
    this.size++;
    if (this.age === undefined) {
      ring.push(item, 0);
    } else {
      const seq = this.nextSeq++;
      ring.push(item, seq);
      this.age.push(priority, seq);
      if (this.age.length > 2 * this.size + 64) this.age.compact(this.isLive);
    }
  }

  /** Whether the entry (priority, seq) is still queued: rings lose entries only at the head. */
  private readonly isLive = (priority: number, seq: number): boolean => {
    const ring = this.rings[priority];
    return ring.length !== 0 && seq >= ring.seqs[ring.head];
  };

  /** The head of the most urgent ring, without removing it. */
  peek(): T | undefined {
    return this.top < 0 ? undefined : (this.rings[this.top].items[this.rings[this.top].head] as T);
  }

  /** Removes and returns the head of the most urgent ring. The caller checks `size > 0`. */
  shift(): T {
    return this.shiftFrom(this.top);
  }

  /**
   * Removes and returns the entry with the smallest insertion sequence. The caller checks
   * `size > 0`; the rings were built with `trackAge`.
   */
  shiftOldest(): T {
    const age = this.age!;
    for (;;) {
      const i = age.shift();
      const priority = age.priorities[i];
      const ring = this.rings[priority];
      // The oldest live entry is the head of its ring; anything older in the index has left.
      if (ring.length !== 0 && ring.seqs[ring.head] === age.seqs[i]) return this.shiftFrom(priority);
    }
  }

  /** Removes everything; returns how many entries there were. */
  clear(): number {
    const removed = this.size;
    for (const ring of this.rings) if (ring.items.length !== 0) ring.reset();
    this.spare.items = null; // (clear gives the memory back)
    this.spare.seqs = new Float64Array(0);
    this.occupied.fill(0);
    this.summary = 0;
    this.age?.clear();
    this.top = -1;
    this.size = 0;
    return removed;
  }

  private shiftFrom(priority: number): T {
    const ring = this.rings[priority];
    const item = ring.shift();
    this.size--;
    if (ring.length === 0) {
      const w = priority >>> 5;
      const bits = (this.occupied[w] &= ~(1 << (priority & 31)));
      if (bits === 0) this.summary &= ~(1 << w);
      if (priority === this.top) this.top = this.highest();
    }
    return item;
  }

  /** The most urgent non-empty ring, or -1. */
  private highest(): number {
    if (this.summary === 0) return -1;
    const w = 31 - Math.clz32(this.summary);
    return (w << 5) | (31 - Math.clz32(this.occupied[w]));
  }
}
