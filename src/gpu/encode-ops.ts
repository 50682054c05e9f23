/**
 * The host operations of one queue as one step of a submission: a list of device segments
 * (each: drop some oldest, push the uploaded records, take some in priority order), then a fetch
 * of the queue's head. Planning picks the dispatches per segment (shaders/queue-seg.wgsl,
 * queue-take.wgsl), then their Params records are written once, together with the upload, in
 * one writeBuffer; outputs and the globals are read back with the submission.
 *
 * COST MODEL (measured on Mesa lavapipe)
 *   Params are bound as group 1 at static offsets with cached bind groups: a dynamic uniform
 *   offset cost ~100 us per dispatch there. Each extra dispatch costs ~20-30 us; per-invocation
 *   work in big dispatches must stay O(1) (a 256-entry binary search in workgroup memory per
 *   invocation cost 9 ms per 128 Ki). So: a segment of at most TINY_ITEMS pushes + pops is one
 *   serial invocation; up to SMALL_ITEMS items run inside the planning workgroup; larger ones
 *   get a second dispatch with one invocation per item. The head fetch rides on the last
 *   segment's dispatch when that one runs its items itself.
 */
import type { StepEncoder } from '../device/submission.js';
import { BUCKETS, FLAG, G, GLOBAL_WORDS, PF, type ParamName } from './layout.js';
import type { EntryPoint } from './pipelines.js';
import { ParamRecords, type QueueStorage } from './storage.js';

/** Segments with at most this many push + output items run their move inside seg_main (one dispatch). */
const SMALL_ITEMS = 2048;
/** Segments with at most this many pushes + pops run as one serial invocation (seg_tiny: no barriers). */
const TINY_ITEMS = 128;

/** One device-side step of the op log: drop `dropExisting` oldest, push the uploaded records, then take `popCount` in priority order. */
export interface Segment {
  dropExisting: number;
  /**
   * Word offset in the upload of this segment's 256 bucket counts, followed by its pushCount
   * records ((index << 8) | priority, W words) stably sorted by bucket, bucket 255 first.
   */
  uploadOff: number;
  pushCount: number;
  /** sequence numbers consumed before this segment's pushes (messages evicted before reaching the device, a test's skip) */
  seqSkip: number;
  popCount: number;
  popIsClear: boolean;
  popNeedsOutput: boolean;
}

/** Where a step's outputs are in the submission's readback (word offsets into `Readback.words`). */
export interface OpsReadback {
  segments: readonly Segment[];
  words: number;
  dropAt: number[];
  popAt: number[];
  headAt: number;
  headCount: number;
  globalsAt: number;
}

export interface SegmentResult {
  /** [seq lo, priority << 24 | seq hi, W words] records of the evicted messages, in bucket order (sort by seq) */
  dropped: Uint32Array | null;
  /** records of the pops, in priority order */
  popped: Uint32Array | null;
}

export interface OpsResult {
  segments: SegmentResult[];
  head: Uint32Array | null;
  globals: Uint32Array;
}

interface Dispatch {
  entry: EntryPoint;
  threads: number;
  record: number;
}

/** Reused per queue: the planned dispatches and their records. */
export class OpsEncoder {
  private readonly records = new ParamRecords();
  private readonly dispatches: Dispatch[] = [];
  private staging = new Uint32Array(1024);

  constructor(private readonly storage: QueueStorage) {}

  /**
   * Encodes `segments` (in order) and a fetch of the `headCount` most urgent messages into
   * `e`. `upload` holds every segment's counts and records; `deviceSize` is the queue's size on
   * the device when this step starts (every earlier step included).
   */
  encode(e: StepEncoder, segments: readonly Segment[], upload: Uint32Array | null, headCount: number, deviceSize: number): OpsReadback {
    const s = this.storage;
    const R = s.words + 2;
    const dropAt: number[] = [];
    const popAt: number[] = [];
    let outWords = 0;
    for (const seg of segments) {
      dropAt.push(outWords);
      outWords += seg.dropExisting * R;
      popAt.push(outWords);
      if (seg.popNeedsOutput) outWords += seg.popCount * R;
    }
    const headAt = outWords;
    outWords += headCount * R;
    s.ensure('outb', Math.max(outWords * 4, 16), e);

    this.plan(segments, upload, headCount, deviceSize, dropAt, popAt, headAt);
    const recs = this.records;
    // the submission's sentinel rides on a seg_tiny dispatch when there is one: it writes the
    // serial into the globals, which are read back anyway (no write and copy of its own)
    const serial = e.serialWords;
    const serialRecord = serial !== null ? this.dispatches.find((d) => d.entry === 'seg_tiny')?.record ?? -1 : -1;
    if (serialRecord >= 0) {
      recs.set(serialRecord, PF.flags, recs.get(serialRecord, PF.flags) | FLAG.SERIAL);
      recs.set(serialRecord, PF.serialLo, serial![0]);
      recs.set(serialRecord, PF.serialHi, serial![1]);
    }
    // one upload: the Params records, then the segments' counts and records (offsets shifted past the records)
    const base = recs.words;
    for (let r = 0; r < recs.count; r++) {
      recs.set(r, PF.inOff, recs.get(r, PF.inOff) + base);
      recs.set(r, PF.cntOff, recs.get(r, PF.cntOff) + base);
    }
    if (recs.count > 0) {
      const upWords = upload === null ? 0 : upload.length;
      const total = base + upWords;
      if (this.staging.length < total) this.staging = new Uint32Array(Math.max(total, this.staging.length * 2));
      this.staging.set(recs.data.subarray(0, base));
      if (upWords > 0) this.staging.set(upload!, base);
      s.ensure('inp', total * 4, e);
      e.device.queue.writeBuffer(s.inp, 0, this.staging.buffer, 0, total * 4);
      const pass = e.pass();
      pass.setBindGroup(0, s.group());
      let lastEntry: EntryPoint | null = null;
      let lastRecord = -1;
      for (const d of this.dispatches) {
        if (d.entry !== lastEntry) pass.setPipeline(s.p.pipeline[(lastEntry = d.entry)]);
        if (d.record !== lastRecord) pass.setBindGroup(1, s.inpParamGroup((lastRecord = d.record)));
        const wgs = Math.max(1, Math.ceil(d.threads / 256));
        // (x within the device's limit; the shaders linearize (x, y) with num_workgroups)
        const x = Math.min(wgs, e.device.limits.maxComputeWorkgroupsPerDimension);
        pass.dispatchWorkgroups(x, Math.ceil(wgs / x));
        e.dispatches++;
      }
    }
    const outAt = e.readback(s.outb, 0, outWords * 4);
    const globalsAt = e.readback(s.ctl, 0, GLOBAL_WORDS * 4);
    if (serialRecord >= 0) e.carrySerial(globalsAt + G.SERIAL);
    return {
      segments,
      words: outWords,
      dropAt: dropAt.map((o) => outAt + o),
      popAt: popAt.map((o) => outAt + o),
      headAt: outAt + headAt,
      headCount,
      globalsAt,
    };
  }

  /** Chooses the dispatches of every segment and writes their Params records (offsets relative to the upload). */
  private plan(
    segments: readonly Segment[],
    upload: Uint32Array | null,
    headCount: number,
    deviceSize: number,
    dropAt: readonly number[],
    popAt: readonly number[],
    headAt: number,
  ): void {
    const s = this.storage;
    const recs = this.records;
    const list = this.dispatches;
    recs.reset();
    list.length = 0;
    const record = (fields: Partial<Record<ParamName, number>>): number => {
      const r = recs.add();
      for (const key in fields) recs.set(r, PF[key as ParamName], fields[key as ParamName]!);
      return r;
    };
    const dispatch = (entry: EntryPoint, threads: number, r: number): void => {
      list.push({ entry, threads, record: r });
    };
    let devSize = deviceSize;
    let headPending = headCount > 0;
    const last = segments.length - 1;
    for (let i = 0; i <= last; i++) {
      const seg = segments[i];
      if (seg.dropExisting > 0) {
        // drop-prepare lists the first min(d, n_k) seqs of each bucket; select finds the d oldest; gather outputs them
        const d = seg.dropExisting;
        dispatch('take_plan', 1, record({ n: d, mode: 2, seqOff: s.seqOff }));
        const limit = Math.min(BUCKETS * d, devSize);
        dispatch('take_gather', limit, record({ mode: 1, seqOff: s.seqOff, limit }));
        dispatch('drop_select', 1, record({ n: d, seqOff: s.seqOff }));
        dispatch('take_gather', d, record({ outOff: dropAt[i], limit: d }));
        devSize -= d;
      }
      const n = seg.pushCount;
      const K = seg.popCount;
      if (n === 0 && K === 0 && seg.seqSkip === 0) continue;
      const kOut = seg.popNeedsOutput ? K : 0;
      const kOld = Math.min(kOut, devSize); // pops that can hit messages present before the segment
      const tiny = n + K <= TINY_ITEMS;
      const small = n + kOld <= SMALL_ITEMS;
      // the head fetch rides on the last segment when its dispatch runs the items itself
      const withHead = headPending && i === last && (tiny || small);
      if (withHead) headPending = false;
      // (fields set one by one: this runs for every submission, a put + get's included)
      const r = recs.add();
      recs.set(r, PF.n, n);
      recs.set(r, PF.popK, K);
      recs.set(r, PF.kOut, kOut);
      recs.set(r, PF.kOld, kOld);
      recs.set(r, PF.seqSkip, seg.seqSkip);
      recs.set(r, PF.inOff, seg.uploadOff + BUCKETS);
      recs.set(r, PF.cntOff, seg.uploadOff);
      recs.set(r, PF.outOff, popAt[i]);
      recs.set(r, PF.allocOff, s.allocOff);
      recs.set(r, PF.planOff, s.planOff);
      recs.set(r, PF.flags, (seg.popIsClear ? FLAG.CLEAR : 0) | (small ? FLAG.SMALL : 0) | (withHead ? FLAG.HEAD : 0));
      if (withHead) {
        recs.set(r, PF.peekN, headCount);
        recs.set(r, PF.peekOff, headAt);
      }
      if (tiny && n > 0) {
        // the pushed priorities' range, so seg_tiny visits only those buckets
        let lo = BUCKETS - 1;
        let hi = 0;
        for (let k = 0; k < BUCKETS; k++) {
          if (upload![seg.uploadOff + k] !== 0) {
            if (k < lo) lo = k;
            hi = k;
          }
        }
        recs.set(r, PF.kLo, lo);
        recs.set(r, PF.kHi, hi);
      }
      dispatch(tiny ? 'seg_tiny' : 'seg_main', 1, r);
      if (!tiny && !small) dispatch('seg_move', n + kOld, r);
      devSize += n - K;
    }
    if (headPending) {
      dispatch('seg_tiny', 1, record({ flags: FLAG.HEAD, peekN: headCount, peekOff: headAt, tableOff: 0, allocOff: s.allocOff, planOff: s.planOff }));
    }
  }
}

/** Views of one ops step's outputs in a submission's readback. */
export function opsResult(words: Uint32Array, r: OpsReadback, recordWords: number): OpsResult {
  return {
    segments: r.segments.map((seg, i) => ({
      dropped: seg.dropExisting > 0 ? words.subarray(r.dropAt[i], r.dropAt[i] + seg.dropExisting * recordWords) : null,
      popped: seg.popNeedsOutput && seg.popCount > 0 ? words.subarray(r.popAt[i], r.popAt[i] + seg.popCount * recordWords) : null,
    })),
    head: r.headCount > 0 ? words.subarray(r.headAt, r.headAt + r.headCount * recordWords) : null,
    globals: words.subarray(r.globalsAt, r.globalsAt + GLOBAL_WORDS),
  };
}

