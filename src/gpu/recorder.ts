/**
 * What the host records. Every decision of a GpuMessageQueue's host rules (a push, an
 * eviction, a pop, a clear) goes into the op log (op-log.ts), and the host's own copies are
 * kept current: the head copy (head-copy.ts), the opaque messages by sequence number, the
 * sequence counter and the order in which onDrop must see evictions.
 *
 * The queue keeps the contract's bookkeeping (size, stats, waiters) and calls in here to record;
 * device-link.ts plans what was recorded and applies the device's answers, through ApplyTarget.
 *
 * INVARIANTS
 *   - Every push takes the next sequence number (nextSeq), which is exact below 2^53: the host
 *     refuses to go past it rather than reuse a number.
 *   - `table` (opaque mode) holds every queued message, plus those whose device pops are
 *     unresolved, keyed by sequence number; a message leaves it when it is delivered, evicted or
 *     cleared. Its insertion order is sequence order, so its first entry is the oldest.
 *   - An eviction goes to the device no later than the push that caused it: room for it is made
 *     (the log submitted first if needed) before it is recorded. Near a submission's limits the
 *     push may go to the next submission; the eviction then evicts a message already on the
 *     device (plan.ts), as it would have anyway.
 *   - onDrop runs in eviction order: an eviction the host names waits (a DropNotice) behind an
 *     earlier one that the device still has to report.
 */
import type { MessageBatch } from '../queue/backpressure.js';
import { notify } from '../queue/notify.js';
import type { MessageSchema } from '../schema/define-message.js';
import type { ApplyTarget, Pending } from './apply.js';
import { HeadCopy, type HeadEntry } from './head-copy.js';
import { BUCKETS, MAX_SEQUENCE, RECORD_HEADER } from './layout.js';
import { MAX_SEGMENTS, OpLog, type DropNotice, type DropOp, type PopOp } from './op-log.js';
import { PackedRef, PackedSource, viewsOf, type PackedBatch } from './packed.js';
import { SEG_CAP, type QueueStorage } from './storage.js';

/** What a DROP_OLDEST eviction leaves for notifyDrop: the message when the host could name it, else undefined (the device reports it). */
export type Eviction<T> = { evicted: T; notice?: DropNotice<T> } | undefined;

/** What the recorder needs of its queue. */
export interface RecorderHost {
  /** the queue's size (the host's count) */
  readonly size: number;
  readonly closed: boolean;
  /** submits the op log now (it is full for one submission) */
  submitNow(): void;
  /** submits the op log at the end of this turn of the event loop */
  schedule(): void;
}

export interface RecorderConfig<T> {
  schema: MessageSchema<T & object> | undefined;
  words: number;
  verify: boolean;
  prefetch: number;
  storage: QueueStorage;
  onDrop: ((message: T) => void) | undefined;
  initialSeq: number;
}

export class Recorder<T extends object> implements ApplyTarget<T> {
  readonly schema: MessageSchema<T & object> | undefined;
  readonly words: number;
  readonly verify: boolean;
  readonly prefetch: number;
  readonly log: OpLog<T>;
  readonly head: HeadCopy<T>;
  /** opaque mode: the queued objects by sequence number */
  readonly table = new Map<number, T>();
  /** the sequence number the next push gets */
  nextSeq: number;
  /** a head fetch is wanted with the next submission (getNowait/peek found the copy empty, flush) */
  fetchWanted = false;
  private dropNotices: DropNotice<T>[] = [];
  private readonly storage: QueueStorage;
  private readonly onDrop: ((message: T) => void) | undefined;

  constructor(
    config: RecorderConfig<T>,
    private readonly host: RecorderHost,
  ) {
    this.schema = config.schema;
    this.words = config.words;
    this.verify = config.verify;
    this.prefetch = config.prefetch;
    this.storage = config.storage;
    this.onDrop = config.onDrop;
    this.nextSeq = config.initialSeq;
    this.log = new OpLog<T>(this.words);
    this.head = new HeadCopy<T>(this.prefetch > 0);
  }

  get size(): number {
    return this.host.size;
  }

  // ---------------------------------------------------------------- pushes
  /** Submits the log first when one more push (and `out` output words) would not fit the submission or the segment count. */
  private makeRoom(out: number): void {
    const log = this.log;
    if (log.isEmpty) return;
    if (log.upWords + this.words + 1 + BUCKETS > this.storage.maxUploadWords || log.outWords + out > this.storage.maxOutputWords || log.fullForPushes(SEG_CAP)) {
      this.host.submitNow();
    }
  }

  /** The sequence numbers of the next `count` pushes; refuses past 2^53 (exact for the queue's whole life). */
  private takeSeq(count: number): number {
    const seq = this.nextSeq;
    if (seq + count > MAX_SEQUENCE) throw new RangeError('GpuMessageQueue: 2^53 sequence numbers used: the queue cannot take more messages');
    this.nextSeq = seq + count;
    return seq;
  }

  /** A head-copy entry for push column n (schema mode: an unpacked copy, never the caller's object). */
  private columnEntry(n: number, priority: number, seq: number, message: T | undefined): HeadEntry<T> {
    const W = this.words;
    if (!this.schema) return { priority, seq, message: message as T };
    const v = this.log.views;
    const entry: HeadEntry<T> = { priority, seq, message: this.schema.unpack(v.u, v.f, v.i, n * W, priority) as T };
    if (this.verify) entry.words = this.log.words.slice(n * W, n * W + W);
    return entry;
  }

  /** Offers push column n to the head copy; returns the copy's new admit bound. */
  private offerHead(n: number, priority: number, seq: number, message: T | undefined): number {
    this.head.push(priority, seq, () => this.columnEntry(n, priority, seq, message));
    return this.head.admitBound();
  }

  /** Records one push (a message, or one of a packed batch on the slow path). */
  push(priority: number, message: T): void {
    this.makeRoom(0);
    const log = this.log;
    const seq = this.takeSeq(1);
    const seg = log.pushSegment(SEG_CAP);
    log.upWords += this.words + 1;
    log.reserve(1);
    const n = log.n;
    log.prio[n] = priority;
    const W = this.words;
    if (message instanceof PackedRef) {
      // one message of a packed batch (slow path): its words as given
      const src = message.src.words;
      const from = message.i * W;
      const cw = log.words;
      for (let k = 0, o = n * W; k < W; k++) cw[o + k] = src[from + k];
      log.msgs[n] = undefined;
    } else {
      if (this.schema) this.schema.pack(message as T & object, log.views.u, log.views.f, log.views.i, n * W);
      else {
        log.seq[n] = seq;
        this.table.set(seq, message);
      }
      log.msgs[n] = message;
    }
    seg.end = log.n = n + 1;
    log.position++;
    this.offerHead(n, priority, seq, log.msgs[n]);
    this.host.schedule();
  }

  /** Records pushes batch[from ..] (all of which fit): column copies, then one loop for the head copy. */
  pushBatch(batch: MessageBatch<T>, priorities: ArrayLike<number>, from: number): void {
    const packed = batch instanceof PackedSource ? batch : undefined;
    const messages = batch as readonly T[]; // read only when not packed: putMany's array
    const total = batch.length;
    const W = this.words;
    const S = W + 1;
    const log = this.log;
    const head = this.head;
    let j = from;
    while (j < total) {
      this.makeRoom(0);
      const seg = log.pushSegment(SEG_CAP);
      const room = Math.floor((this.storage.maxUploadWords - log.upWords) / S);
      const m = Math.min(total - j, SEG_CAP - (seg.end - seg.start), room);
      const seq0 = this.takeSeq(m);
      log.upWords += m * S;
      log.reserve(m);
      const prio = log.prio;
      const end = j + m;
      let n = log.n;
      // (no closure in the loop bodies: a captured loop variable costs a context per message)
      if (packed) {
        prio.set((priorities as Uint8Array).subarray(j, end), n);
        log.words.set(packed.words.subarray(j * W, end * W), n * W);
        // only a push that can enter the head copy costs more than a compare
        let bound = head.admitBound();
        for (let k = 0; k < m; k++) {
          if (prio[n + k] > bound) bound = this.offerHead(n + k, prio[n + k], seq0 + k, undefined);
        }
        n += m;
        j = end;
      } else {
        const schema = this.schema;
        const msgs = log.msgs;
        const seqs = log.seq;
        const v = log.views;
        let bound = head.admitBound();
        for (let seq = seq0; j < end; j++, n++, seq++) {
          const message = messages[j];
          const priority = priorities[j];
          prio[n] = priority;
          msgs[n] = message;
          if (schema) schema.pack(message as T & object, v.u, v.f, v.i, n * W);
          else {
            seqs[n] = seq;
            this.table.set(seq, message);
          }
          if (priority > bound) bound = this.offerHead(n, priority, seq, message);
        }
      }
      seg.end = log.n = n;
      log.position += m;
    }
    this.host.schedule();
  }

  /** Records the skip of `count` sequence numbers (a test hook for a queue's whole life). */
  skip(count: number): void {
    // one skip opens at most two segments (op-log.ts): submit what is recorded first when they would not fit
    const log = this.log;
    if (!log.isEmpty && (log.segments.length + 2 > MAX_SEGMENTS || log.upWords + 2 * BUCKETS > this.storage.maxUploadWords)) {
      this.host.submitNow();
    }
    this.takeSeq(count);
    this.log.skip(count, SEG_CAP);
    this.host.schedule();
  }

  // ---------------------------------------------------------------- evictions
  /**
   * Records a DROP_OLDEST eviction on a full queue, before the push that causes it. The host
   * names the evicted message at once when it can (and keeps copies: prefetch > 0): in opaque
   * mode the table holds exactly the queued messages unless device pops are unresolved; in
   * either mode a head copy that holds everything does. Otherwise the device reports it and
   * onDrop runs after the readback. The device evicts the same message either way (the oldest).
   */
  evict(): Eviction<T> {
    const op: DropOp = { known: false };
    // the drop and its push in one submission: an eviction outputs one record
    this.makeRoom(this.words + RECORD_HEADER);
    this.log.pushSegment(SEG_CAP).drops.push(op);
    this.log.outWords += this.words + RECORD_HEADER;
    this.log.position++;
    let evicted: T | undefined;
    const count = this.host.size;
    if (this.prefetch > 0 && !this.schema && this.table.size === count) {
      const [seq, oldest] = this.table.entries().next().value as [number, T];
      this.table.delete(seq);
      this.head.remove(seq);
      evicted = oldest;
      op.known = true;
      op.seq = seq;
    } else if (this.prefetch > 0 && this.head.holdsAll(count)) {
      const e = this.head.takeOldest();
      if (!this.schema) this.table.delete(e.seq);
      evicted = e.message;
      op.known = true;
      op.seq = e.seq;
    } else {
      this.head.reset(false);
    }
    let notice: DropNotice<T> | undefined;
    if (this.onDrop !== undefined && (!op.known || this.dropNotices.length > 0)) {
      // an unknown drop takes its place in the onDrop order; a known one waits behind earlier unknown ones
      notice = { ready: false, message: evicted };
      this.dropNotices.push(notice);
      if (!op.known) op.notice = notice as DropNotice<unknown>;
    }
    return op.known ? { evicted: evicted as T, notice } : undefined;
  }

  /** onDrop for an eviction once its call is done; an unknown eviction is reported after the readback. */
  notifyDrop(d: Eviction<T>): void {
    if (d === undefined || this.onDrop === undefined) return;
    if (d.notice === undefined) return notify(this.onDrop, d.evicted);
    d.notice.ready = true;
    this.drainDropNotices();
  }

  /** Runs onDrop for the notices at the head of the order that are ready. */
  drainDropNotices(): void {
    const q = this.dropNotices;
    let i = 0;
    while (i < q.length && q[i].ready) {
      const m = q[i++].message;
      if (m !== undefined && this.onDrop !== undefined) notify(this.onDrop, m);
    }
    if (i > 0) q.splice(0, i);
  }

  /** Marks a drop's notice as reported (with the evicted message, or none when its submission failed). */
  settleDrop(op: DropOp, message: T | undefined): void {
    const notice = op.notice as DropNotice<T> | undefined;
    if (notice === undefined) return;
    op.notice = undefined;
    notice.message = message;
    notice.ready = true;
  }

  // ---------------------------------------------------------------- pops
  /** Removes n (<= size) messages: from the head copy when it holds them (returned now), else from the device (a promise). */
  take(n: number, packed: boolean): T[] | Promise<T[]> {
    const sizeAfter = this.host.size - n;
    if (this.head.length >= n) {
      const entries = this.head.take(n, sizeAfter);
      if (!this.schema) for (const e of entries) this.table.delete(e.seq);
      const result = packed ? (this.packValues(entries) as unknown as T[]) : entries.map((e) => e.message);
      this.recordPops(n, false, true, undefined, undefined, false, this.verify ? entries : undefined);
      return result;
    }
    this.head.reset(sizeAfter === 0);
    return new Promise<T[]>((resolve, reject) => this.recordPops(n, false, false, resolve, reject, packed));
  }

  /** Records the clear of the queue's `count` messages. */
  clear(count: number): void {
    if (count > 0) {
      // the table holds exactly the queued messages unless device pops are unresolved
      const exact = !this.schema && this.table.size === count;
      if (exact) this.table.clear();
      this.recordPops(count, true, exact || !!this.schema);
    }
    this.head.reset(true);
  }

  /**
   * Records a pop of n messages (a clear when `clear`). One whose output would not fit one
   * submission is split into several ops (in consecutive submissions); their results are
   * joined into one array for `resolve`. `expected`: the entries a known pop answered with (verify).
   */
  private recordPops(
    n: number,
    clear: boolean,
    known: boolean,
    resolve?: (values: T[]) => void,
    reject?: (error: unknown) => void,
    packed = false,
    expected?: readonly HeadEntry<T>[],
  ): void {
    const R = this.words + RECORD_HEADER;
    const outputs = clear ? !known && !this.schema : !known || this.verify;
    const chunk = outputs ? Math.floor(this.storage.maxOutputWords / R) : n;
    const record = (op: PopOp<T>): void => {
      const log = this.log;
      if (!log.isEmpty && (log.upWords + BUCKETS > this.storage.maxUploadWords || log.outWords + (outputs ? op.n * R : 0) > this.storage.maxOutputWords)) {
        this.host.submitNow();
      }
      log.pop(op);
      log.upWords += BUCKETS;
      if (outputs) log.outWords += op.n * R;
      this.host.schedule();
    };
    if (n <= chunk) {
      record({ n, clear, known, packed, resolve, reject, expected });
      return;
    }
    const W = this.words;
    const values: T[] = packed ? [] : new Array<T>(n);
    const joined: PackedBatch | undefined = packed ? { count: n, words: new Uint32Array(n * W), priorities: new Uint8Array(n) } : undefined;
    let left = Math.ceil(n / chunk);
    for (let off = 0; off < n; off += chunk) {
      const c = Math.min(chunk, n - off);
      const op: PopOp<T> = { n: c, clear, known, packed, expected: expected?.slice(off, off + c) };
      if (resolve) {
        op.resolve = (part) => {
          if (joined) {
            joined.words.set(part.words, off * W);
            joined.priorities.set(part.priorities, off);
            if (--left === 0) resolve(joined as unknown as T[]);
            return;
          }
          for (let j = 0; j < c; j++) values[off + j] = part[j];
          if (--left === 0) resolve(values);
        };
        op.reject = reject;
      }
      record(op);
    }
  }

  /** Packs messages (head entries, a waiting getter's result) into a new PackedBatch. */
  packValues(entries: readonly HeadEntry<T>[]): PackedBatch {
    const schema = this.schema!;
    const W = this.words;
    const n = entries.length;
    const words = new Uint32Array(n * W);
    const priorities = new Uint8Array(n);
    const v = viewsOf(words);
    for (let j = 0; j < n; j++) {
      schema.pack(entries[j].message as T & object, v.u, v.f, v.i, j * W);
      priorities[j] = entries[j].priority;
    }
    return { count: n, words, priorities };
  }

  /**
   * Whether the head of the queue is on the host, for the synchronous reads. When it is only on
   * the device, asks for it with the next submission and answers false (so does an empty queue).
   */
  headOnHost(): boolean {
    if (this.host.size === 0) return false;
    if (this.head.length === 0) {
      this.fetchWanted = true;
      this.host.schedule();
      return false;
    }
    return true;
  }

  /** Whether a fetched head is current: nothing was recorded after its submission, and the queue is open. */
  headIsCurrent(pending: Pending<T>): boolean {
    return pending.logPosition === this.log.position && this.log.isEmpty && !this.host.closed;
  }

  /** Forgets everything recorded (a closed or broken queue): no message stays referenced. */
  discard(): void {
    this.log.discard();
    this.table.clear();
    this.head.reset(true);
  }
}
