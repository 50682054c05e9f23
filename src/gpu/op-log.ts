/**
 * The op log of a GpuMessageQueue: what the host decided since its last submission, in order,
 * waiting to be replayed on the device. The host decides *how many* (it alone knows the exact
 * size, the waiters and the backpressure rule); the device decides *which* (priority order,
 * FIFO, oldest by sequence number) by replaying the log in the same order.
 *
 * RULES (enforced here, relied on by plan.ts and apply.ts)
 *   1. The log is a list of segments. A segment holds drops and pushes (in any interleaving),
 *      then pops. A push or drop after a pop starts a new segment, so the device's order is the
 *      host's order.
 *   2. Within a segment the device first evicts the oldest *existing* messages, then pushes. This
 *      equals the host's interleaving because every eviction takes the oldest message: the
 *      segment's existing messages are all older than its pushes, so its first e = min(drops,
 *      size before the segment) evictions hit existing messages and the rest hit its own
 *      earliest pushes, which then never reach the device (they only consume sequence numbers).
 *   3. All pops of one segment are of one kind: ordinary pops or a clear (counted apart on the
 *      device). A pop of the other kind starts a new segment.
 *   4. A log is submitted before it would exceed one submission's upload or output budget
 *      (the queue's binding limits) or MAX_SEGMENTS segments; one pop larger than the output
 *      budget is split into several ops (recorder.recordPops).
 *   5. Pushes are stored column-wise (priority, sequence number, the caller's object, and in
 *      schema mode the packed words), with no object per message; columns are reused across
 *      submissions and let go of the messages once planned.
 */
import type { HeadEntry } from './head-copy.js';
import type { PackedBatch, Views } from './packed.js';
import { viewsOf } from './packed.js';
import { BUCKETS } from './layout.js';

/** A segment of pushes that alternates with pops in one turn (put/get pairs served from the head copy) is submitted after this many segments. */
export const MAX_SEGMENTS = 64;

/** A pop of n messages whose records the device returns, or that the host answered from its head copy (`known`). */
export interface PopOp<T> {
  n: number;
  clear: boolean;
  /** the host answered it from its head copy at record time */
  known: boolean;
  /** verify: the entries the host answered with, to compare with the device's records */
  expected?: readonly HeadEntry<T>[];
  /** resolve gets a PackedBatch instead of T[] (getManyPacked) */
  packed?: boolean;
  resolve?: (values: T[] & PackedBatch) => void;
  reject?: (error: unknown) => void;
  /** set once the op's results were delivered or it was rejected */
  done?: boolean;
}

/** One onDrop notification in eviction order: a drop the host could name waits behind an earlier one the device reports. */
export interface DropNotice<T> {
  ready: boolean;
  message?: T;
}

export interface DropOp {
  /** the host named (and released) the evicted message at record time */
  known: boolean;
  /** the evicted message's sequence number when known (verify compares it with the device's) */
  seq?: number;
  /** its place in the onDrop order, while the device still has to report it */
  notice?: DropNotice<unknown>;
}

export interface LogSegment<T> {
  drops: DropOp[];
  /** this segment's pushes are columns [start, end) */
  start: number;
  end: number;
  pops: PopOp<T>[];
  /** sequence numbers to skip before the pushes (a test hook: a long-lived queue without pushing billions) */
  skip: number;
}

export class OpLog<T> {
  segments: LogSegment<T>[] = [];
  /** pushes recorded since the last submission */
  n = 0;
  prio = new Uint8Array(1024);
  /** opaque mode: the sequence number of push i (its key in the queue's table) */
  seq = new Float64Array(1024);
  /** the caller's object per push (undefined for a packed push) */
  msgs: (T | undefined)[] = [];
  /** schema mode: the packed words of push i at words[i*W ..] */
  words: Uint32Array;
  views: Views;
  /** upload and output words the log needs (conservative), kept within one submission's budget */
  upWords = 0;
  outWords = 0;
  /** operations recorded over the queue's life: a fetched head is current only if none came after its submission */
  position = 0;

  constructor(readonly W: number) {
    this.words = new Uint32Array(1024 * W);
    this.views = viewsOf(this.words);
  }

  get isEmpty(): boolean {
    return this.segments.length === 0;
  }

  private last(): LogSegment<T> | undefined {
    const s = this.segments;
    return s.length > 0 ? s[s.length - 1] : undefined;
  }

  private open(): LogSegment<T> {
    const seg: LogSegment<T> = { drops: [], start: this.n, end: this.n, pops: [], skip: 0 };
    this.segments.push(seg);
    this.upWords += BUCKETS;
    return seg;
  }

  /** Whether adding a push/drop needs a new segment and the log is at MAX_SEGMENTS (the caller submits first). */
  fullForPushes(segCap: number): boolean {
    const seg = this.last();
    return seg !== undefined && (seg.pops.length > 0 || seg.end - seg.start >= segCap) && this.segments.length >= MAX_SEGMENTS;
  }

  /** The segment a push or drop goes to (rule 1): a new one after pops, or when the current one holds segCap pushes. */
  pushSegment(segCap: number): LogSegment<T> {
    const seg = this.last();
    if (seg === undefined || seg.pops.length > 0 || seg.end - seg.start >= segCap) return this.open();
    return seg;
  }

  /** Makes room for m more pushes in the columns. */
  reserve(m: number): void {
    while (this.n + m > this.prio.length) {
      const size = this.prio.length * 2;
      const prio = new Uint8Array(size);
      prio.set(this.prio);
      this.prio = prio;
      const seq = new Float64Array(size);
      seq.set(this.seq);
      this.seq = seq;
      if (this.W > 0) {
        const words = new Uint32Array(size * this.W);
        words.set(this.words);
        this.words = words;
        this.views = viewsOf(words);
      }
    }
  }

  /** Records a pop op (rule 3: a pop of the other kind than the segment's starts a new segment). */
  pop(op: PopOp<T>): void {
    let seg = this.last();
    if (seg === undefined || (seg.pops.length > 0 && seg.pops[0].clear !== op.clear)) seg = this.open();
    seg.pops.push(op);
    this.position++;
  }

  /**
   * Records a skip of `count` sequence numbers before the next pushes. A segment's skip is a u32
   * parameter that its immediate drops (at most `segCap`) add to, so skips that would add up
   * past that go on in segments of their own.
   */
  skip(count: number, segCap: number): void {
    const limit = 0xffffffff - segCap;
    let seg = this.pushSegment(segCap);
    for (let left = count; left > 0; ) {
      if (seg.end > seg.start || seg.skip >= limit) seg = this.open();
      const take = Math.min(left, limit - seg.skip);
      seg.skip += take;
      left -= take;
    }
    this.position++;
  }

  /** Empties the log after planning (the columns are reused; their references to messages are dropped). */
  drain(): void {
    this.msgs.fill(undefined, 0, this.n);
    this.segments = [];
    this.n = 0;
    this.upWords = 0;
    this.outWords = 0;
  }

  /** Forgets everything (a broken queue): references to messages included. */
  discard(): void {
    this.segments = [];
    this.msgs = [];
    this.n = 0;
    this.upWords = 0;
    this.outWords = 0;
  }
}
