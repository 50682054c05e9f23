/**
 * How a GpuMessageQueue talks to its device: what the host recorded (recorder.ts) is planned
 * (plan.ts) into one step of a submission (encode-ops.ts); the step's readback is checked and
 * delivered (apply.ts) in submission order; a step that fails fails the queue.
 *
 * The queue submits its own steps (`submitNow`, at the end of each turn of the event loop), or
 * an owner does (the ring kernel runtime puts the steps of several queues and its kernels in
 * one submission: `encodeStep` / `applyStep` / `failStep`).
 *
 * INVARIANTS
 *   - `deviceSize` and `deviceSeq` are the device's size and next sequence number once every
 *     step encoded so far has run: planning starts from them, so a step never pops or evicts
 *     more than the device will hold (ERR_UNDERFLOW otherwise).
 *   - Steps are applied in the order they were encoded (`chain`); a step in flight is in
 *     `inFlight` until applied or failed, so a failure can reject exactly what is still pending.
 *   - A failure is device loss only when the device is lost (a DeviceLostError from the map, or
 *     `device.lost` resolved), never because of an error's text; anything else is GpuQueueError.
 */
import { DeviceLostError, GpuQueueError } from '../device/errors.js';
import { FAKE_TIMERS_MESSAGE, nextMacrotask, timersFaked } from '../platform/index.js';
import { isDeviceLost } from '../device/lost.js';
import { submit, type StepEncoder } from '../device/submission.js';
import { checkResult, deliverResult, type Pending } from './apply.js';
import { OpsEncoder, opsResult } from './encode-ops.js';
import { G, RECORD_HEADER, readU64 } from './layout.js';
import type { PopOp } from './op-log.js';
import { planLog } from './plan.js';
import type { Recorder } from './recorder.js';
import type { QueueStorage } from './storage.js';

const RESOLVED: Promise<void> = Promise.resolve();

/** @internal Who submits an owned queue's steps (the ring kernel runtime): the queue only asks. */
export interface QueueOwner {
  requestSubmit(): void;
}

/** What the link needs of its queue. */
export interface LinkHost {
  readonly broken: DeviceLostError | GpuQueueError | null;
  breakWith(error: DeviceLostError | GpuQueueError): void;
  /** `n` messages of a pop that will never be delivered are no longer counted as dequeued */
  undelivered(n: number): void;
}

export class DeviceLink<T extends object> {
  /** the device's size once every step encoded so far has run */
  deviceSize = 0;
  /** the device's next sequence number once every step encoded so far has run */
  deviceSeq: number;
  /** the device's globals after the last readback */
  lastGlobals: Uint32Array | null = null;
  /** first failure of an apply, for flush() */
  applyError: unknown = undefined;
  chain: Promise<void> = RESOLVED;
  owner: QueueOwner | null = null;
  private readonly inFlight = new Set<Pending<T>>();
  private readonly ops: OpsEncoder;
  private readonly uploadBuf = { buf: new Uint32Array(1024) };
  private scheduled = false;

  constructor(
    readonly device: GPUDevice,
    storage: QueueStorage,
    private readonly rec: Recorder<T>,
    private readonly host: LinkHost,
  ) {
    this.ops = new OpsEncoder(storage);
    this.deviceSeq = rec.nextSeq;
  }

  /** Submits what was recorded at the end of this turn of the event loop. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    nextMacrotask(() => {
      this.scheduled = false;
      this.submitNow();
    });
  }

  /** Sends what was recorded (or a wanted head fetch) to the device as one submission, or asks the owner to. */
  submitNow(): void {
    if (this.host.broken) return;
    if (this.owner !== null) {
      this.owner.requestSubmit();
      return;
    }
    if (this.rec.log.isEmpty && !this.rec.fetchWanted) return;
    if (timersFaked()) {
      // The readback would never resolve, so nothing is sent. What was recorded stays in the log
      // and goes with the first submission once the timers are real again (flush says so
      // meanwhile) — except pops waiting for the device: the host has already taken their
      // messages out of its view, so rejecting them and replaying the log later would pop
      // messages on the device for nobody. Then the queue fails closed instead, and says why.
      if (this.rec.log.segments.some((seg) => seg.pops.some((op) => !op.done && !op.known && !op.clear))) {
        this.host.breakWith(new GpuQueueError(`${FAKE_TIMERS_MESSAGE}. The queue is closed: nothing was sent to the device`));
      }
      return;
    }
    let built: ReturnType<typeof submit<Pending<T> | null>>;
    try {
      built = submit(this.device, (e) => this.encodeStep(e));
    } catch (error) {
      this.host.breakWith(this.failure(error));
      return;
    }
    const pending = built.value;
    if (pending === null) return;
    const done = built.done;
    // never left rejected: a failed submission or apply rejects that submission's remaining operations
    this.chain = this.chain
      .then(() => done)
      .then(
        (rb) => {
          try {
            this.applyStep(pending, rb.words);
          } finally {
            rb.release();
          }
        },
        (error: unknown) => this.failStep(pending, error),
      );
  }

  /**
   * Plans what was recorded (and a wanted head fetch) into one step of `e`'s submission and
   * empties the log; null when there is nothing to do. The step's result must be given to
   * applyStep (or failStep), in submission order.
   */
  encodeStep(e: StepEncoder): Pending<T> | null {
    const rec = this.rec;
    const log = rec.log;
    if (log.isEmpty && !rec.fetchWanted) return null;
    const W = rec.words;
    const schema = rec.schema;
    const plan = planLog(log, this.deviceSize, !schema, rec.verify, this.uploadBuf, (column) => {
      const message = log.msgs[column];
      if (message !== undefined) {
        if (!schema) rec.table.delete(log.seq[column]);
        return message;
      }
      const v = log.views; // a packed push has no object: onDrop gets it unpacked
      return schema!.unpack(v.u, v.f, v.i, column * W, log.prio[column]) as T;
    });
    log.drain();
    const startSize = this.deviceSize;
    this.deviceSize = plan.deviceSizeAfter;
    this.deviceSeq += plan.sequenceUsed;
    const size = this.deviceSize;
    let headCount = 0;
    if (rec.prefetch > 0) {
      // fetch the head unless the host already holds the whole queue (verify: always, to compare)
      if (size > 0 && (rec.verify || !rec.head.holdsAll(rec.size))) headCount = Math.min(rec.prefetch, size);
    } else if (rec.fetchWanted) {
      headCount = Math.min(1, size);
    }
    rec.fetchWanted = false;
    const pending: Pending<T> = {
      plan,
      readback: null,
      headCount,
      logPosition: log.position,
      expectCount: size,
      expectNextSeq: this.deviceSeq,
    };
    this.inFlight.add(pending);
    pending.readback = this.ops.encode(
      e,
      plan.segments.map((s) => s.segment),
      plan.upload,
      headCount,
      startSize,
    );
    return pending;
  }

  /** Applies a step's readback (`words` of its submission): check, then deliver; a failure fails the queue. */
  applyStep(pending: Pending<T>, words: Uint32Array): void {
    this.inFlight.delete(pending);
    // broken meanwhile (an earlier submission failed): its operations were rejected already
    if (this.host.broken) return;
    const r = opsResult(words, pending.readback!, this.rec.words + RECORD_HEADER);
    this.lastGlobals = r.globals.slice();
    try {
      checkResult(this.rec, pending, r);
      deliverResult(this.rec, pending, r);
    } catch (error) {
      this.applyError ??= error;
      this.failStep(pending, error);
    }
  }

  /** A step failed (rejected by the GPU, device lost) or its result could not be applied: the queue fails closed. */
  failStep(pending: Pending<T>, error: unknown): void {
    this.inFlight.delete(pending);
    const err = this.host.broken ?? this.failure(error);
    for (const s of pending.plan.segments) {
      this.undeliver(s.pops, err);
      for (const d of s.drops) this.rec.settleDrop(d, undefined);
    }
    this.rec.drainDropNotices();
    this.host.breakWith(err);
  }

  /**
   * The error a failure breaks the queue with: DeviceLostError only when the device is lost
   * (a DeviceLostError from the map, or `device.lost` resolved), else GpuQueueError with the
   * failure as its cause.
   */
  failure(error: unknown): DeviceLostError | GpuQueueError {
    if (error instanceof DeviceLostError) return error;
    if (isDeviceLost(this.device)) return new DeviceLostError(`the GPU device was lost: ${String(error)}`);
    const text = error instanceof Error ? error.message : String(error);
    return new GpuQueueError(`ringkernel: the GPU queue is broken (host and device may disagree about its contents): ${text}`, { cause: error });
  }

  /** Rejects the pops that have not delivered their messages (which then do not count as dequeued). */
  private undeliver(pops: readonly PopOp<T>[], error: unknown): void {
    for (const op of pops) {
      if (op.done) continue;
      op.done = true;
      if (!op.known && !op.clear) this.host.undelivered(op.n);
      op.reject?.(error);
    }
  }

  /** The queue broke: every operation still waiting for the device (in flight or recorded) rejects; unreported evictions are settled. */
  abandon(error: Error): void {
    const rec = this.rec;
    // evictions the device never reported are not notified; known ones waiting behind them are
    for (const p of this.inFlight) for (const s of p.plan.segments) for (const d of s.drops) rec.settleDrop(d, undefined);
    for (const seg of rec.log.segments) for (const d of seg.drops) rec.settleDrop(d, undefined);
    rec.drainDropNotices();
    for (const p of this.inFlight) for (const s of p.plan.segments) this.undeliver(s.pops, error);
    this.inFlight.clear();
    for (const seg of rec.log.segments) this.undeliver(seg.pops, error);
    this.deviceSize = 0;
  }

  /**
   * What a device-side run did: `popped` and `pushed` messages; the device's next sequence number
   * from its globals when the run pushed. (A run that only popped consumed no sequence number, and
   * steps encoded after it, while it was in flight, may have used more than its globals say.)
   */
  ranOnDevice(popped: number, pushed: number, globals: Uint32Array): void {
    this.lastGlobals = globals.slice();
    this.deviceSize += pushed - popped;
    if (pushed === 0) return;
    this.deviceSeq = readU64(globals, G.NEXTSEQ);
    this.rec.nextSeq = this.deviceSeq;
  }
}
