/**
 * Result application: what a submission's readback means for the host. Runs once per
 * submission, in submission order (the queue chains them), after the GPU ran it.
 *
 * ORDER (each step relies on the one before)
 *   1. check: the device's error word must be 0; in verify mode the device's size and next
 *      sequence number must be what the host expects, every pop and eviction the host answered
 *      itself (from its head copy, its table) must match the device's record (sequence number,
 *      priority, payload words), and a fetched head must match the host's copy. Any failure
 *      throws GpuQueueError before anything is delivered, so no operation ever resolves with an
 *      answer the device contradicts.
 *   2. evictions: the device lists them by bucket; by sequence number they are in the order the
 *      drops were recorded. onDrop runs in eviction order (drop notices, see gpu-queue.ts).
 *   3. pops, in the order they were recorded: each takes the next op.n records of its segment.
 *   4. the fetched head replaces the host's copy only if nothing was recorded after the
 *      submission (otherwise it is stale and dropped).
 */
import { GpuQueueError } from '../device/errors.js';
import type { MessageSchema } from '../schema/define-message.js';
import type { OpsReadback, OpsResult } from './encode-ops.js';
import type { HeadCopy, HeadEntry } from './head-copy.js';
import { G, RECORD_HEADER, describeErrorBits, readU64, recordPriority, recordSeq } from './layout.js';
import type { DropOp, PopOp } from './op-log.js';
import { extractRecords, viewsOf, type PackedBatch, type Views } from './packed.js';
import type { Plan } from './plan.js';

/** A submitted plan, waiting for its readback. */
export interface Pending<T> {
  plan: Plan<T>;
  readback: OpsReadback | null;
  headCount: number;
  /** op-log position after this submission: the fetched head is current only if nothing came after */
  logPosition: number;
  /** the device's size and next sequence number once it ran (verify compares them) */
  expectCount: number;
  expectNextSeq: number;
}

/** What result application needs of its queue. */
export interface ApplyTarget<T> {
  readonly schema: MessageSchema<T & object> | undefined;
  readonly words: number;
  readonly verify: boolean;
  /** opaque mode: the queued messages by sequence number */
  readonly table: Map<number, T>;
  readonly head: HeadCopy<T>;
  readonly size: number;
  /** nothing was recorded after this submission (and the queue is open) */
  headIsCurrent(pending: Pending<T>): boolean;
  settleDrop(op: DropOp, message: T | undefined): void;
  drainDropNotices(): void;
}

const globalSeq = (g: Uint32Array): number => readU64(g, G.NEXTSEQ);

/** Step 1: throws GpuQueueError when the device's answer cannot be trusted. */
export function checkResult<T>(q: ApplyTarget<T>, pending: Pending<T>, r: OpsResult): void {
  const g = r.globals;
  if (g[G.ERR] !== 0) throw new GpuQueueError(`ringkernel: device invariant violated: ${describeErrorBits(g[G.ERR])}`);
  if (!q.schema) checkHeld(q, pending, r);
  if (!q.verify) return;
  const fail = (what: string): never => {
    throw new GpuQueueError(`ringkernel: verify: the device disagrees with the host: ${what}`);
  };
  if (g[G.COUNT] !== pending.expectCount) fail(`size ${g[G.COUNT]} on the device, ${pending.expectCount} expected`);
  if (globalSeq(g) !== pending.expectNextSeq) fail(`next sequence number ${globalSeq(g)} on the device, ${pending.expectNextSeq} expected`);
  const R = q.words + RECORD_HEADER;
  pending.plan.segments.forEach((s, si) => {
    const res = r.segments[si];
    // evictions the host named: the device's oldest must be the same messages
    const named = s.drops.slice(0, s.segment.dropExisting).filter((d) => d.known);
    if (named.length > 0) {
      const seqs = new Set<number>();
      for (let o = 0; o < res.dropped!.length; o += R) seqs.add(recordSeq(res.dropped!, o));
      for (const d of named) if (!seqs.has(d.seq!)) fail(`the host evicted message #${d.seq}, the device did not`);
    }
    // pops the host answered from its copy: the device's records, in order
    let o = 0;
    for (const op of s.pops) {
      if (op.known && op.expected !== undefined && res.popped !== null) {
        op.expected.forEach((e, j) => compareRecord(q, res.popped!, o + j * R, e, `pop answered by the host (#${j} of ${op.n})`, fail));
      }
      if (res.popped !== null) o += op.n * R;
    }
  });
  if (r.head !== null && q.headIsCurrent(pending)) {
    const held = q.head.entries;
    const n = Math.min(held.length, r.head.length / R);
    for (let j = 0; j < n; j++) compareRecord(q, r.head, j * R, held[j], `head copy entry #${j}`, fail);
  }
}

/** Opaque mode: every record the host will decode names a message the queue holds. */
function checkHeld<T>(q: ApplyTarget<T>, pending: Pending<T>, r: OpsResult): void {
  const R = q.words + RECORD_HEADER;
  const check = (rec: Uint32Array, from: number, to: number, released?: ReadonlySet<number>): void => {
    for (let o = from; o < to; o += R) {
      const seq = recordSeq(rec, o);
      if (!q.table.has(seq) && !released?.has(seq)) throw new GpuQueueError(`ringkernel: the device returned message #${seq}, which the queue does not hold`);
    }
  };
  pending.plan.segments.forEach((s, si) => {
    const res = r.segments[si];
    // (an eviction the host named was released from the table when it was recorded)
    if (res.dropped !== null) check(res.dropped, 0, res.dropped.length, new Set(s.drops.filter((d) => d.known).map((d) => d.seq!)));
    if (res.popped !== null) {
      let o = 0;
      for (const op of s.pops) {
        if (!op.known) check(res.popped, o, o + op.n * R);
        o += op.n * R;
      }
    }
  });
  if (r.head !== null && q.headIsCurrent(pending)) check(r.head, 0, r.head.length);
}

function compareRecord<T>(q: ApplyTarget<T>, rec: Uint32Array, o: number, e: HeadEntry<T>, what: string, fail: (what: string) => never): void {
  const seq = recordSeq(rec, o);
  const priority = recordPriority(rec, o);
  if (seq !== e.seq || priority !== e.priority) fail(`${what}: the host has #${e.seq} at priority ${e.priority}, the device #${seq} at priority ${priority}`);
  if (e.words !== undefined) {
    for (let w = 0; w < q.words; w++) {
      if (rec[o + RECORD_HEADER + w] !== e.words[w]) fail(`${what} (#${seq}): payload word ${w} is ${rec[o + RECORD_HEADER + w]} on the device, ${e.words[w]} on the host`);
    }
  }
}

/** The message of the output record at rec[o ..] (opaque mode: from the table, which must hold it). */
export function decodeRecord<T>(q: ApplyTarget<T>, rec: Uint32Array, o: number, views: Views): HeadEntry<T> {
  const seq = recordSeq(rec, o);
  const priority = recordPriority(rec, o);
  if (q.schema) {
    const message = q.schema.unpack(views.u, views.f, views.i, o + RECORD_HEADER, priority) as T;
    return q.verify ? { seq, priority, message, words: rec.slice(o + RECORD_HEADER, o + RECORD_HEADER + q.words) } : { seq, priority, message };
  }
  const message = q.table.get(seq);
  if (message === undefined) throw new GpuQueueError(`ringkernel: the device returned message #${seq}, which the queue does not hold`);
  return { seq, priority, message };
}

/** Steps 2-4: delivers the submission's results. */
export function deliverResult<T>(q: ApplyTarget<T>, pending: Pending<T>, r: OpsResult): void {
  const R = q.words + RECORD_HEADER;
  pending.plan.segments.forEach((s, si) => {
    const res = r.segments[si];
    if (res.dropped !== null && s.drops.some((d, j) => j < s.segment.dropExisting && !d.known)) {
      const order: { seq: number; o: number }[] = [];
      for (let o = 0; o < res.dropped.length; o += R) order.push({ seq: recordSeq(res.dropped, o), o });
      order.sort((a, b) => a.seq - b.seq);
      const views = viewsOf(res.dropped);
      order.forEach(({ o }, j) => {
        if (s.drops[j].known) return;
        const d = decodeRecord(q, res.dropped!, o, views);
        if (!q.schema) q.table.delete(d.seq);
        q.settleDrop(s.drops[j], d.message);
      });
    }
    for (const { message, op } of s.immediateDrops) q.settleDrop(op, message);
    q.drainDropNotices();
    deliverPops(q, s.pops, res.popped);
  });
  if (r.head !== null && q.headIsCurrent(pending)) {
    const views = viewsOf(r.head);
    const entries: HeadEntry<T>[] = [];
    for (let o = 0; o < r.head.length; o += R) entries.push(decodeRecord(q, r.head, o, views));
    q.head.adopt(entries, q.size);
  }
}

function deliverPops<T>(q: ApplyTarget<T>, pops: readonly PopOp<T>[], popped: Uint32Array | null): void {
  const R = q.words + RECORD_HEADER;
  const views = popped !== null ? viewsOf(popped) : null;
  let o = 0;
  for (const op of pops) {
    const span = op.n * R;
    if (op.known || popped === null) {
      if (popped !== null) o += span;
      continue;
    }
    if (op.packed) {
      // getManyPacked: the records' words and priorities, no objects
      const batch = extractRecords(popped, o, op.n, q.words);
      o += span;
      op.done = true;
      if (!op.clear) op.resolve?.(batch as T[] & PackedBatch);
      continue;
    }
    const values: T[] = new Array(op.n);
    if (q.schema) {
      const unpack = q.schema.unpack;
      const { u, f, i } = views!;
      for (let j = 0, p = o; j < op.n; j++, p += R) values[j] = unpack(u, f, i, p + RECORD_HEADER, recordPriority(u, p)) as T;
    } else {
      const table = q.table;
      for (let j = 0, p = o; j < op.n; j++, p += R) {
        const seq = recordSeq(popped, p);
        const message = table.get(seq);
        if (message === undefined) throw new GpuQueueError(`ringkernel: the device returned message #${seq}, which the queue does not hold`);
        table.delete(seq);
        values[j] = message;
      }
    }
    o += span;
    op.done = true;
    if (!op.clear) op.resolve?.(values as T[] & PackedBatch);
  }
}
