/**
 * Planning: the op log (op-log.ts) becomes the device segments of one submission, the upload
 * they read, and, per segment, the host operations whose results it carries.
 *
 * Per log segment (rule 2 of op-log.ts): e = min(drops, device size before it) evictions of
 * existing messages on the device; the first drops - e pushes are evicted before reaching the
 * device (their messages are due to onDrop now; they consume sequence numbers: seqSkip); the rest
 * are uploaded, stably sorted by priority (a counting sort, which gives every push its FIFO rank
 * in its bucket, so order inside a batch never depends on which invocation wins an atomic).
 */
import type { Segment } from './encode-ops.js';
import { BUCKETS } from './layout.js';
import type { DropOp, OpLog, PopOp } from './op-log.js';

/** One device segment with the host operations whose results it carries. */
export interface PlannedSegment<T> {
  segment: Segment;
  pops: PopOp<T>[];
  /** one entry per drop op of the segment, in order; the first `segment.dropExisting` are evictions on the device */
  drops: DropOp[];
  /** pushes evicted before reaching the device whose onDrop is still due (the host did not name them at record time) */
  immediateDrops: { message: T; op: DropOp }[];
}

export interface Plan<T> {
  segments: PlannedSegment<T>[];
  upload: Uint32Array | null;
  /** the queue's size on the device after the submission */
  deviceSizeAfter: number;
  /** sequence numbers the submission consumes (pushes, skips and pushes evicted before reaching the device) */
  sequenceUsed: number;
}

/**
 * Plans the log for a device that holds `deviceSize` messages. `uploadBuf` is reused when large
 * enough (the returned plan's upload may be a view of it). `verify`: known pops output too.
 * `messageOf(column)` gives the message of a push (for onDrop of pushes evicted before reaching
 * the device, resolved now: the columns are reused once planned).
 */
export function planLog<T>(
  log: OpLog<T>,
  deviceSize: number,
  opaque: boolean,
  verify: boolean,
  uploadBuf: { buf: Uint32Array },
  messageOf: (column: number) => T,
): Plan<T> {
  const S = log.W + 1;
  const segs = log.segments;
  // first pass: how each segment's drops split, and the size of the upload
  let devSize = deviceSize;
  let uploadWords = 0;
  let sequenceUsed = 0;
  const evictions = new Array<number>(segs.length);
  for (let si = 0; si < segs.length; si++) {
    const seg = segs[si];
    const e = Math.min(seg.drops.length, devSize);
    evictions[si] = e;
    const uploaded = seg.end - seg.start - (seg.drops.length - e);
    if (uploaded > 0) uploadWords += BUCKETS + uploaded * S;
    let popCount = 0;
    for (const op of seg.pops) popCount += op.n;
    devSize = devSize - e + uploaded - popCount;
    sequenceUsed += seg.skip + (seg.end - seg.start);
  }
  if (uploadWords > uploadBuf.buf.length) {
    let size = uploadBuf.buf.length;
    while (size < uploadWords) size *= 2;
    uploadBuf.buf = new Uint32Array(size);
  }
  const upload = uploadWords > 0 ? uploadBuf.buf.subarray(0, uploadWords) : null;
  const cursor = new Uint32Array(BUCKETS);
  const planned: PlannedSegment<T>[] = [];
  let at = 0;
  for (let si = 0; si < segs.length; si++) {
    const seg = segs[si];
    const e = evictions[si];
    const immediate = seg.drops.length - e;
    const immediateDrops: PlannedSegment<T>['immediateDrops'] = [];
    for (let j = 0; j < immediate; j++) {
      const op = seg.drops[e + j];
      if (!op.known) immediateDrops.push({ message: messageOf(seg.start + j), op });
    }
    const first = seg.start + immediate; // first uploaded push in the columns
    const uploaded = seg.end - first;
    const uploadOff = at;
    if (uploaded > 0) at = encodePushes(upload!, at, log.prio, log.words, log.W, first, uploaded, cursor);
    let popCount = 0;
    let needsOutput = false;
    for (const op of seg.pops) {
      popCount += op.n;
      // an answer the host gave is checked under verify; a clear outputs only to release opaque messages it could not name
      if (op.clear ? !op.known && opaque : !op.known || verify) needsOutput = true;
    }
    planned.push({
      segment: {
        dropExisting: e,
        uploadOff,
        pushCount: uploaded,
        seqSkip: seg.skip + immediate,
        popCount,
        popIsClear: seg.pops.length > 0 && seg.pops[0].clear,
        popNeedsOutput: needsOutput,
      },
      pops: seg.pops,
      drops: seg.drops,
      immediateDrops,
    });
  }
  return { segments: planned, upload, deviceSizeAfter: devSize, sequenceUsed };
}

/**
 * Writes pushes [first, first + n) of the columns at up[at ..] as the segment kernels read them:
 * a stable counting sort by priority, bucket 255 first: BUCKETS counts, then per push
 * [(j << 8) | priority, its W words]. Returns the end of what it wrote.
 */
function encodePushes(up: Uint32Array, at: number, prios: Uint8Array, cols: Uint32Array, W: number, first: number, n: number, cursor: Uint32Array): number {
  up.fill(0, at, at + BUCKETS);
  const end = first + n;
  for (let j = first; j < end; j++) up[at + prios[j]]++;
  let run = 0;
  for (let k = BUCKETS - 1; k >= 0; k--) {
    cursor[k] = run;
    run += up[at + k];
  }
  const rec0 = at + BUCKETS;
  const S = W + 1;
  if (W === 0) {
    for (let j = 0; j < n; j++) {
      const p = prios[first + j];
      up[rec0 + cursor[p]++] = (j << 8) | p;
    }
  } else if (W === 1) {
    for (let j = 0; j < n; j++) {
      const p = prios[first + j];
      const o = rec0 + cursor[p]++ * 2;
      up[o] = (j << 8) | p;
      up[o + 1] = cols[first + j];
    }
  } else {
    for (let j = 0, src = first * W; j < n; j++, src += W) {
      const p = prios[first + j];
      const o = rec0 + cursor[p]++ * S;
      up[o] = (j << 8) | p;
      for (let k = 0; k < W; k++) up[o + 1 + k] = cols[src + k];
    }
  }
  return rec0 + n * S;
}
