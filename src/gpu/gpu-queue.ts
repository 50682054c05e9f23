/**
 * GpuMessageQueue: the queue contract (src/queue/contract.ts) with storage, ordering, capacity
 * and drops in GPU memory. This file holds the contract members and the host's bookkeeping;
 * the parts live beside it:
 *
 *   op-log.ts       what the host decided since the last submission, and the rules it keeps
 *   plan.ts         the log as device segments and their upload
 *   encode-ops.ts   those segments as dispatches of one submission step (device/submission.ts)
 *   apply.ts        a readback checked, then delivered (pops resolved, onDrop, the head copy)
 *   head-copy.ts    the host's copy of the head, for getNowait/peek
 *   packed.ts       batches as words (putManyPacked/getManyPacked)
 *   device-kernel.ts user kernels that pop and push on the device
 *   storage.ts      the GPU buffers; shaders/queue-*.wgsl the kernels
 *
 * HOST / DEVICE SPLIT
 *   The host decides *how many*: it alone changes a queue (between kernel runs), so it knows
 *   the exact size and applies the contract's rules (waiting getters/putters, BLOCK/REJECT/
 *   DROP_OLDEST, stats) synchronously, exactly like the CPU queue, recording each decision in
 *   the op log. The device decides *which*: it replays the log in order. Everything recorded in
 *   one turn of the event loop goes to the device in one submission.
 *
 * SYNCHRONOUS MEMBERS
 *   size/isEmpty/isFull/stats are exact. getNowait/peek need the message itself: they answer
 *   from the head copy and return null while the head is only on the device (and start fetching
 *   it); after `await q.flush()` they see the head if there is one.
 *
 * PROVING THE DEVICE
 *   `prefetch: 0`: the host keeps no copy of the head: every get/getMany/getNowait/peek is
 *   answered by the device's readback (getNowait/peek from the head a flush fetched). `verify:
 *   true`: the device also returns every message the host answered itself (from its head copy,
 *   its table of opaque messages, an eviction it named), every fetched head is compared with
 *   the host's copy, and the device's size and next sequence number with the host's; any
 *   disagreement fails the queue closed with GpuQueueError. Off by default; costs nothing when off.
 *
 * PAYLOADS
 *   schema: the device holds the packed struct; results are unpacked copies. Opaque (no schema):
 *   the device holds priority and sequence number only; the host keeps each object in a table
 *   keyed by its sequence number (unique for the queue's life: 64-bit on the device, below 2^53
 *   on the host) until it is dequeued, dropped or cleared.
 *
 * FAILURE
 *   Device loss (known only from `device.lost`) fails the queue with DeviceLostError; a
 *   submission the GPU rejects, a device error word, a result that cannot be applied or fails
 *   verification fails it with GpuQueueError (the failure as its `cause`): every pending and
 *   waiting operation rejects, size reads 0, later calls refuse; close() still frees the buffers.
 *
 * onDrop runs in eviction order: at once when the host could name the evicted message, else
 * after the readback that reports it, before the flush that covers it resolves.
 */
import type { Queue, QueueOptions, WaitOptions } from '../queue/contract.js';
import { BackpressureQueue, RESOLVED, checkMax, notify, resolveQueueOptions, type MessageBatch } from '../queue/backpressure.js';
import { QueueClosedError } from '../queue/errors.js';
import { priorityOf, type Message } from '../queue/message.js';
import { readWait } from '../queue/waiters.js';
import type { MessageSchema } from '../schema/define-message.js';
import { deviceInfo, rememberInfo, sharedDevice, type AdapterReport } from '../device/acquire.js';
import { DeviceLostError, GpuQueueError } from '../device/errors.js';
import { FAKE_IMMEDIATE_MESSAGE, immediateFaked, realSetImmediate } from '../device/immediate.js';
import { isDeviceLost, onDeviceLost } from '../device/lost.js';
import { submit, type StepEncoder } from '../device/submission.js';
import { checkResult, deliverResult, type ApplyTarget, type Pending } from './apply.js';
import { runDeviceKernel, type DeviceKernelOptions, type DeviceKernelResult } from './device-kernel.js';
import { OpsEncoder, opsResult } from './encode-ops.js';
import { HEAD_MAX, HeadCopy, type HeadEntry } from './head-copy.js';
import { BUCKETS, G, MAX_SEQUENCE, RECORD_HEADER } from './layout.js';
import { OpLog, type DropNotice, type DropOp, type PopOp } from './op-log.js';
import { PackedRef, PackedSource, viewsOf, type PackedBatch } from './packed.js';
import { planLog } from './plan.js';
import { QueueStorage, SEG_CAP } from './storage.js';

export type { PackedBatch } from './packed.js';

export interface GpuQueueOptions<T> extends QueueOptions<T> {
  /** Fixed-layout payloads stored on the device; without it, any object (opaque mode). */
  schema?: MessageSchema<T & object>;
  /** Device to use; default: one shared device acquired on first use. */
  device?: GPUDevice;
  /**
   * How many of the most urgent messages each submission fetches and the host keeps current for
   * getNowait/peek, 0..64. Default 32. 0: the host keeps no copy of the head: every get,
   * getMany, getNowait and peek is answered by the device (getNowait/peek from the head a
   * flush fetched; they return null until one did).
   */
  prefetch?: number;
  /**
   * Check every answer the host gave from its own copy (a pop from the head copy, an eviction
   * it named, a peek) against the device, and the device's size and sequence number against the
   * host's; a disagreement fails the queue closed with GpuQueueError. Default false.
   */
  verify?: boolean;
  /** @internal first ticket of every bucket (tests of u32 ticket wrap-around) */
  initialTicket?: number;
  /** @internal first insertion sequence number, below 2^53 (tests of long-lived queues) */
  initialSeq?: number;
  /** @internal largest upload/output buffer of one submission in bytes (tests); default and maximum: the device's limits */
  maxBindingBytes?: number;
}

/** @internal Who submits an owned queue's op log (the ring kernel runtime): the queue only asks. */
export interface QueueOwner {
  requestSubmit(): void;
}

interface ResolvedOptions {
  prefetch: number;
  verify: boolean;
}

/** Checks the GPU-specific options (the shared ones: resolveQueueOptions) before anything is allocated. */
function resolveGpuOptions<T>(options: GpuQueueOptions<T>): ResolvedOptions {
  resolveQueueOptions(options);
  const { schema, device, prefetch = 32, verify = false, initialSeq, initialTicket, maxBindingBytes } = options;
  if (schema !== undefined && (typeof schema !== 'object' || schema === null || typeof schema.pack !== 'function' || !Number.isInteger(schema.words))) {
    throw new TypeError('schema must be a message schema from defineMessage()');
  }
  if (device !== undefined && (typeof device !== 'object' || device === null || typeof (device as GPUDevice).createBuffer !== 'function')) {
    throw new TypeError('device must be a GPUDevice');
  }
  if (typeof prefetch !== 'number' || !Number.isInteger(prefetch) || prefetch < 0 || prefetch > HEAD_MAX) {
    throw new RangeError(`prefetch must be an integer 0..${HEAD_MAX}, got ${String(prefetch)}`);
  }
  if (typeof verify !== 'boolean') throw new TypeError(`verify must be a boolean, got ${typeof verify}`);
  if (initialSeq !== undefined && (!Number.isSafeInteger(initialSeq) || initialSeq < 0)) {
    throw new RangeError(`initialSeq must be an integer 0..2^53 - 1, got ${String(initialSeq)}`);
  }
  if (initialTicket !== undefined && (!Number.isInteger(initialTicket) || initialTicket < 0 || initialTicket > 0xffffffff)) {
    throw new RangeError(`initialTicket must be a u32, got ${String(initialTicket)}`);
  }
  if (maxBindingBytes !== undefined && (!Number.isSafeInteger(maxBindingBytes) || maxBindingBytes < 4096)) {
    throw new RangeError(`maxBindingBytes must be an integer >= 4096, got ${String(maxBindingBytes)}`);
  }
  return { prefetch, verify };
}

/** What a DROP_OLDEST eviction leaves for notifyDrop: the message when the host could name it, else undefined (the device reports it). */
type Eviction<T> = { evicted: T; notice?: DropNotice<T> } | undefined;

export class GpuMessageQueue<T extends object = Message> extends BackpressureQueue<T, Eviction<T>> implements Queue<T>, ApplyTarget<T> {
  readonly device: GPUDevice;
  readonly schema: MessageSchema<T & object> | undefined;
  readonly prefetch: number;
  readonly verify: boolean;
  /** payload words per message on the device (0 in opaque mode) */
  readonly words: number;
  /** @internal the device buffers */
  readonly storage: QueueStorage;
  /** @internal opaque mode: the queued objects by sequence number */
  readonly table = new Map<number, T>();
  /** @internal the host's copy of the head */
  readonly head: HeadCopy<T>;
  private readonly ops: OpsEncoder;
  private readonly log: OpLog<T>;
  private count = 0;
  /** set once the queue is broken (device lost, or a submission failed): every later call refuses with it */
  private brokenError: DeviceLostError | GpuQueueError | null = null;
  /** a device kernel run holds the queue */
  private deviceBusy = false;
  private scheduled = false;
  private fetchWanted = false;
  /** size on the device once everything submitted so far has run */
  private deviceSize = 0;
  /** the next sequence number the host gives a push */
  private nextSeq: number;
  /** the device's next sequence number once everything submitted so far has run */
  private deviceSeq: number;
  private chain: Promise<void> = RESOLVED;
  private readonly inFlight = new Set<Pending<T>>();
  private lastGlobals: Uint32Array | null = null;
  /** onDrop notifications in eviction order, while an eviction the device reports is outstanding */
  private dropNotices: DropNotice<T>[] = [];
  /** first failure of an apply, for flush() */
  private applyError: unknown = undefined;
  private readonly uploadBuf = { buf: new Uint32Array(1024) };
  private readonly unwatchLoss: () => void;
  private owner: QueueOwner | null = null;

  /** Creates a queue (acquiring the shared device if none is given). Rejects with GpuUnavailableError without an adapter, RangeError when it exceeds the device's limits. */
  static async create<T extends object = Message>(options: GpuQueueOptions<T> = {}): Promise<GpuMessageQueue<T>> {
    const resolved = resolveGpuOptions(options);
    const { maxSize, backpressure } = resolveQueueOptions(options);
    let device = options.device;
    if (!device) {
      const acq = await sharedDevice();
      rememberInfo(acq.device, acq.info);
      device = acq.device;
    }
    const words = options.schema ? options.schema.words : 0;
    const storage = await QueueStorage.create(device, {
      maxSize,
      words,
      dropOldest: backpressure === 'drop',
      initialTicket: options.initialTicket,
      initialSeq: options.initialSeq,
      maxBindingBytes: options.maxBindingBytes,
      purpose: `maxSize ${maxSize} with ${options.schema ? `${words * 4}-byte ${options.schema.name} messages` : 'opaque payloads'}`,
    });
    return new GpuMessageQueue<T>(device, options, resolved, storage);
  }

  private constructor(device: GPUDevice, options: GpuQueueOptions<T>, resolved: ResolvedOptions, storage: QueueStorage) {
    super(options);
    this.device = device;
    this.schema = options.schema;
    this.words = storage.words;
    this.prefetch = resolved.prefetch;
    this.verify = resolved.verify;
    this.storage = storage;
    this.ops = new OpsEncoder(storage);
    this.log = new OpLog<T>(this.words);
    this.head = new HeadCopy<T>(this.prefetch > 0);
    this.nextSeq = this.deviceSeq = options.initialSeq ?? 0;
    // (a closure over a WeakRef would do too; a listener that close() removes keeps nothing alive)
    this.unwatchLoss = onDeviceLost(device, (reason) => this.onLost(reason));
  }

  // ---------------------------------------------------------------- readable state
  get size(): number {
    return this.count;
  }
  get isEmpty(): boolean {
    return this.count === 0;
  }
  get isFull(): boolean {
    return this.count >= this.maxSize;
  }
  /** Adapter vendor/architecture/description, when this queue's device came from ringkernel's acquisition. */
  get adapterInfo(): AdapterReport | undefined {
    return deviceInfo(this.device);
  }
  /** Bytes of GPU memory this queue holds (storage; staging buffers excluded). */
  get gpuBytes(): number {
    return this.storage.bytes;
  }
  /** Layout of the bind group `runDeviceKernel` passes to `encode` (the device-side API's four bindings). */
  get deviceBindGroupLayout(): GPUBindGroupLayout {
    return this.storage.p.deviceApiLayout;
  }
  /** @internal number of host-held opaque messages */
  get hostTableSize(): number {
    return this.table.size;
  }
  /** @internal the device's counters after the last readback (`avail`, `inbox`: the device-side API's reservation counters, AVAIL as i32) */
  get deviceCounters(): {
    count: number;
    enqueued: number;
    dequeued: number;
    dropped: number;
    cleared: number;
    error: number;
    nextSeq: number;
    avail: number;
    inbox: number;
  } | null {
    const g = this.lastGlobals;
    if (!g) return null;
    const w64 = (i: number): number => g[i] + g[i + 1] * 4294967296;
    return {
      count: g[G.COUNT],
      enqueued: w64(G.ENQ),
      dequeued: w64(G.DEQ),
      dropped: w64(G.DROPPED),
      cleared: w64(G.CLEARED),
      error: g[G.ERR],
      nextSeq: w64(G.NEXTSEQ),
      avail: g[G.AVAIL] | 0,
      inbox: g[G.INBOX],
    };
  }

  // ---------------------------------------------------------------- contract
  putNowait(message: T): boolean {
    this.assertOpen();
    const priority = this.priorityOf(message);
    if (this.count >= this.maxSize) return this.putNowaitWhenFull(priority, message);
    this.insert(priority, message);
    return true;
  }

  put(message: T, options?: WaitOptions): Promise<void> {
    try {
      this.assertOpen();
      const priority = this.priorityOf(message);
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      if (this.count < this.maxSize) {
        this.insert(priority, message);
        return RESOLVED;
      }
      return this.putWhenFull(message, priority, wait);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  putMany(messages: readonly T[], options?: WaitOptions): Promise<void> {
    try {
      this.assertOpen();
      if (!Array.isArray(messages)) throw new TypeError('putMany expects an array of messages');
      const priorities = new Uint8Array(messages.length);
      for (let i = 0; i < messages.length; i++) priorities[i] = this.priorityOf(messages[i]);
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      return this.putBatch(messages, priorities, wait);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  getNowait(): T | null {
    if (!this.headOnHost()) return null;
    return (this.take(1) as T[])[0];
  }

  peek(): T | null {
    if (!this.headOnHost()) return null;
    return this.head.entries[0].message;
  }

  get(options?: WaitOptions): Promise<T> {
    try {
      this.assertOpen();
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      if (this.count > 0) return this.takeAsync(1).then((v) => v[0]);
      return this.waitForMessages(0, wait) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  getMany(max: number, options?: WaitOptions): Promise<T[]> {
    try {
      this.assertOpen();
      checkMax(max);
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      if (this.count > 0) return this.takeAsync(Math.min(max, this.count));
      return this.waitForMessages(max, wait) as Promise<T[]>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * putMany with the messages packed (schema mode): message i is `words[i*schema.words ..
   * +schema.words)` in the schema's layout (as `schema.pack` writes it; f32/i32 fields as their
   * bit patterns) with priority `priorities[i]`; n = priorities.length. Same semantics as putMany.
   * The arrays are copied before this returns (also the part that must wait), so the caller may
   * reuse them at once. Bad input is refused (TypeError/RangeError) with nothing changed.
   */
  putManyPacked(words: Uint32Array, priorities: Uint8Array, options?: WaitOptions): Promise<void> {
    try {
      this.assertOpen();
      const W = this.requireSchema('putManyPacked').words;
      if (!(words instanceof Uint32Array)) throw new TypeError('putManyPacked expects words as a Uint32Array');
      if (!(priorities instanceof Uint8Array)) throw new TypeError('putManyPacked expects priorities as a Uint8Array (one priority 0..255 per message)');
      const n = priorities.length;
      if (words.length !== n * W) {
        throw new RangeError(`putManyPacked: words.length must be priorities.length * schema.words = ${n} * ${W} = ${n * W}, got ${words.length}`);
      }
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      // priorities copied: a batch that waits keeps a view of them
      return this.putBatch(new PackedSource<T>(words, n, W), priorities.slice(), wait);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * getMany with the result packed (schema mode): min(max, size) messages in priority order,
   * message i as `words[i*schema.words ..]` and `priorities[i]`; waits like getMany on an empty
   * queue. Each call returns new arrays. Padding words of the layout carry no meaning. Results
   * the host already holds (the head copy, a waiting getter) are re-packed from objects: an f32
   * signalling NaN may come back quiet there.
   */
  getManyPacked(max: number, options?: WaitOptions): Promise<PackedBatch> {
    try {
      this.assertOpen();
      this.requireSchema('getManyPacked');
      checkMax(max);
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      if (this.count > 0) return this.takeAsync(Math.min(max, this.count), true) as unknown as Promise<PackedBatch>;
      // a waiting getter is served by the shared getter rules (as objects; at most what arrived)
      return (this.waitForMessages(max, wait) as Promise<T[]>).then((values) =>
        this.packValues(values.map((m) => ({ message: m, priority: (m as { priority: number }).priority, seq: 0 }))),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  clear(): number {
    this.assertOpen();
    const removed = this.count;
    if (removed > 0) {
      // the table holds exactly the queued messages unless device pops are unresolved
      const exact = !this.schema && this.table.size === this.count;
      if (exact) this.table.clear();
      this.recordPops(removed, true, exact || !!this.schema);
      this.count = 0;
    }
    this.head.reset(true);
    this.admitPutters();
    return removed;
  }

  /**
   * Resolves when every earlier operation has been applied on the device and the head of the
   * queue has been fetched to the host (so one peek/getNowait returns it if there is one).
   */
  async flush(): Promise<void> {
    if (this.brokenError) throw this.brokenError;
    if (this.isClosed) return this.chain;
    if (this.count > 0 && this.head.length === 0) this.fetchWanted = true;
    this.submitNow();
    await this.chain;
    if (this.brokenError) throw this.brokenError;
    if (this.applyError !== undefined) {
      const error = this.applyError;
      this.applyError = undefined;
      throw error;
    }
  }

  /** Rejects waiters with QueueClosedError, lets submitted work finish, then frees the GPU buffers. */
  async close(): Promise<void> {
    if (this.isClosed) return this.chain;
    this.isClosed = true;
    this.count = 0;
    this.head.reset(true);
    this.rejectWaiters();
    if (!this.brokenError) this.submitNow();
    try {
      await this.chain;
    } finally {
      this.unwatchLoss();
      this.storage.destroy();
      this.table.clear();
      this.head.reset(true);
      this.log.discard();
    }
  }

  // ---------------------------------------------------------------- host rules
  private priorityOf(message: T): number {
    return this.schema ? this.schema.check(message) : priorityOf(message);
  }

  private requireSchema(what: string): MessageSchema<T & object> {
    if (!this.schema) throw new TypeError(`${what} needs a schema: create the queue with { schema: defineMessage(...) } (opaque mode has no packed layout)`);
    return this.schema;
  }

  private assertOpen(): void {
    if (this.isClosed) throw new QueueClosedError();
    if (this.brokenError) throw this.brokenError;
    if (this.deviceBusy) throw new Error('GpuMessageQueue: a device kernel is running on this queue; await runDeviceKernel() first');
  }

  /** Submits the log first when one more push (and `out` output words) would not fit the submission or the segment count. */
  private makeRoom(out: number): void {
    const log = this.log;
    if (log.isEmpty) return;
    if (log.upWords + this.words + 1 + BUCKETS > this.storage.maxUploadWords || log.outWords + out > this.storage.maxOutputWords || log.fullForPushes(SEG_CAP)) {
      this.submitNow();
    }
  }

  /** The sequence number of the next push; refuses past 2^53 (exact for the queue's whole life). */
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

  protected insert(priority: number, message: T): void {
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
    this.count++;
    this.enqueued++;
    this.head.push(priority, seq, () => this.columnEntry(n, priority, seq, log.msgs[n]));
    this.schedule();
    if (this.getters.length !== 0) this.serveGetters();
  }

  /** One loop over the columns (a packed batch: two typed-array copies, then the head-copy loop). */
  protected insertBatch(batch: MessageBatch<T>, priorities: ArrayLike<number>, from: number): void {
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
      const seqs = log.seq;
      const end = j + m;
      let n = log.n;
      if (packed) {
        prio.set((priorities as Uint8Array).subarray(j, end), n);
        log.words.set(packed.words.subarray(j * W, end * W), n * W);
        // only a push that can enter the head copy costs more than a compare
        // (no closure in the loop body: a captured loop variable costs a context per message)
        let bound = head.admitBound();
        for (let k = 0; k < m; k++) {
          if (prio[n + k] > bound) bound = this.offerHead(n + k, prio[n + k], seq0 + k, undefined);
        }
        n += m;
        j = end;
      } else {
        const schema = this.schema;
        const msgs = log.msgs;
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
      this.count += m;
      this.enqueued += m;
    }
    this.schedule();
  }

  /**
   * DROP_OLDEST on a full queue. The host names the evicted message at once when it can (and
   * keeps a copy: prefetch > 0): in opaque mode the table is in insertion order and holds
   * exactly the queued messages unless device pops are still unresolved; in either mode a head
   * copy that holds everything does. Otherwise the device reports it and onDrop runs after the
   * readback. The device evicts the same message either way (exactly the oldest).
   */
  protected insertDroppingOldest(priority: number, message: T): Eviction<T> {
    const op: DropOp = { known: false };
    // the drop and its push in one submission: an eviction outputs one record
    this.makeRoom(this.words + RECORD_HEADER);
    this.log.pushSegment(SEG_CAP).drops.push(op);
    this.log.outWords += this.words + RECORD_HEADER;
    this.log.position++;
    let evicted: T | undefined;
    if (this.prefetch > 0 && !this.schema && this.table.size === this.count) {
      const [seq, oldest] = this.table.entries().next().value as [number, T];
      this.table.delete(seq);
      this.head.remove(seq);
      evicted = oldest;
      op.known = true;
      op.seq = seq;
    } else if (this.prefetch > 0 && this.head.holdsAll(this.count)) {
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
    this.count--;
    this.dropped++;
    this.insert(priority, message);
    return op.known ? { evicted: evicted as T, notice } : undefined;
  }

  /** onDrop once the call is done (as MessageQueue does); an unknown eviction is reported after the readback. */
  protected notifyDrop(d: Eviction<T>): void {
    if (d === undefined || this.onDrop === undefined) return;
    if (d.notice === undefined) return notify(this.onDrop, d.evicted);
    d.notice.ready = true;
    this.drainDropNotices();
  }

  /** @internal Runs onDrop for the notices at the head of the order that are ready. */
  drainDropNotices(): void {
    const q = this.dropNotices;
    let i = 0;
    while (i < q.length && q[i].ready) {
      const m = q[i++].message;
      if (m !== undefined && this.onDrop !== undefined) notify(this.onDrop, m);
    }
    if (i > 0) q.splice(0, i);
  }

  /** @internal Marks a drop's notice as reported (with the evicted message, or none when its submission failed). */
  settleDrop(op: DropOp, message: T | undefined): void {
    const notice = op.notice as DropNotice<T> | undefined;
    if (notice === undefined) return;
    op.notice = undefined;
    notice.message = message;
    notice.ready = true;
  }

  /** Removes n (<= size) messages: from the head copy when it holds them (returned now), else from the device (a promise). */
  private take(n: number, packed = false): T[] | Promise<T[]> {
    let result: T[] | Promise<T[]>;
    if (this.head.length >= n) {
      const entries = this.head.take(n, this.count - n);
      if (!this.schema) for (const e of entries) this.table.delete(e.seq);
      result = packed ? (this.packValues(entries) as unknown as T[]) : entries.map((e) => e.message);
      this.recordPops(n, false, true, undefined, undefined, false, this.verify ? entries : undefined);
    } else {
      this.head.reset(this.count - n === 0);
      result = new Promise<T[]>((resolve, reject) => this.recordPops(n, false, false, resolve, reject, packed));
    }
    this.count -= n;
    this.dequeued += n;
    if (this.putters.length !== 0) this.admitPutters();
    return result;
  }

  private takeAsync(n: number, packed = false): Promise<T[]> {
    const r = this.take(n, packed);
    return r instanceof Promise ? r : Promise.resolve(r);
  }

  protected takeForGetter(max: number): Promise<T | T[]> {
    const r = this.takeAsync(max === 0 ? 1 : Math.min(max, this.count));
    return max === 0 ? r.then((v) => v[0]) : r;
  }

  /** Packs messages (head entries, a waiting getter's result) into a new PackedBatch. */
  private packValues(entries: readonly HeadEntry<T>[]): PackedBatch {
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
   * the device, starts fetching it and answers false (so does an empty queue).
   */
  private headOnHost(): boolean {
    this.assertOpen();
    if (this.count === 0) return false;
    if (this.head.length === 0) {
      this.fetchWanted = true;
      this.schedule();
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- op log -> device
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
      if (!this.log.isEmpty && (this.log.upWords + BUCKETS > this.storage.maxUploadWords || this.log.outWords + (outputs ? op.n * R : 0) > this.storage.maxOutputWords)) {
        this.submitNow();
      }
      this.log.pop(op);
      this.log.upWords += BUCKETS;
      if (outputs) this.log.outWords += op.n * R;
      this.schedule();
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

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    realSetImmediate(() => {
      this.scheduled = false;
      this.submitNow();
    });
  }

  /** Sends the op log (if any, or a wanted head fetch) to the device as one submission, or asks the owner to. */
  private submitNow(): void {
    if (this.brokenError) return;
    if (this.owner !== null) {
      this.owner.requestSubmit();
      return;
    }
    if (this.log.isEmpty && !this.fetchWanted) return;
    if (immediateFaked()) {
      // the readback would never resolve: reject the pops now; the log stays and goes to the
      // device with the first submission after the timers are real again, so device and host stay in step
      const error = new Error(FAKE_IMMEDIATE_MESSAGE);
      for (const seg of this.log.segments) this.undeliver(seg.pops, error);
      return;
    }
    let built: ReturnType<typeof submit<Pending<T> | null>>;
    try {
      built = submit(this.device, (e) => this.encodeStep(e));
    } catch (error) {
      this.breakWith(this.failure(error));
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
   * @internal Plans the op log (and a wanted head fetch) into one step of `e`'s submission and
   * empties the log; null when there is nothing to do. The step's result must be given to
   * applyStep (or failStep), in submission order.
   */
  encodeStep(e: StepEncoder): Pending<T> | null {
    const log = this.log;
    if (log.isEmpty && !this.fetchWanted) return null;
    const W = this.words;
    const plan = planLog(log, this.deviceSize, !this.schema, this.verify, this.uploadBuf, (column) => {
      const message = log.msgs[column];
      if (message !== undefined) {
        if (!this.schema) this.table.delete(log.seq[column]);
        return message;
      }
      const v = log.views; // a packed push has no object: onDrop gets it unpacked
      return this.schema!.unpack(v.u, v.f, v.i, column * W, log.prio[column]) as T;
    });
    log.drain();
    const startSize = this.deviceSize;
    this.deviceSize = plan.deviceSizeAfter;
    this.deviceSeq += plan.sequenceUsed;
    const size = this.deviceSize;
    let headCount = 0;
    if (this.prefetch > 0) {
      // fetch the head unless the host already holds the whole queue (verify: always, to compare)
      if (size > 0 && (this.verify || !this.head.holdsAll(this.count))) headCount = Math.min(this.prefetch, size);
    } else if (this.fetchWanted) {
      headCount = Math.min(1, size);
    }
    this.fetchWanted = false;
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

  /** @internal Applies a step's readback (`words` of its submission): check, then deliver; a failure fails the queue closed. */
  applyStep(pending: Pending<T>, words: Uint32Array): void {
    this.inFlight.delete(pending);
    // broken meanwhile (an earlier submission failed): its operations were rejected already
    if (this.brokenError) return;
    const r = opsResult(words, pending.readback!, this.words + RECORD_HEADER);
    this.lastGlobals = r.globals.slice();
    try {
      checkResult(this, pending, r);
      deliverResult(this, pending, r);
    } catch (error) {
      this.applyError ??= error;
      this.failStep(pending, error);
    }
  }

  /** @internal Whether a fetched head is current: nothing recorded after its submission, queue open. */
  headIsCurrent(pending: Pending<T>): boolean {
    return pending.logPosition === this.log.position && this.log.isEmpty && !this.isClosed;
  }

  /** @internal A step failed (rejected by the GPU, device lost) or its result could not be applied: the queue fails closed. */
  failStep(pending: Pending<T>, error: unknown): void {
    this.inFlight.delete(pending);
    const err = this.brokenError ?? this.failure(error);
    for (const s of pending.plan.segments) {
      this.undeliver(s.pops, err);
      for (const d of s.drops) this.settleDrop(d, undefined);
    }
    this.drainDropNotices();
    this.breakWith(err);
  }

  /**
   * The error a failure breaks the queue with: DeviceLostError only when the device is lost
   * (a DeviceLostError from the map, or `device.lost` resolved), else GpuQueueError with the
   * failure as its cause. Never decided from an error's text.
   */
  private failure(error: unknown): DeviceLostError | GpuQueueError {
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
      if (!op.known && !op.clear) this.dequeued -= op.n;
      op.reject?.(error);
    }
  }

  private onLost(reason: string): void {
    if (this.brokenError) return;
    this.breakWith(new DeviceLostError(`the GPU device was lost: ${reason}`, reason));
  }

  /** Enters the broken state: rejects every pending and waiting operation with `err`, empties the queue. */
  private breakWith(err: DeviceLostError | GpuQueueError): void {
    if (this.brokenError) return;
    this.brokenError = err;
    this.rejectWaiters(() => err);
    // evictions the device never reported are not notified; known ones waiting behind them are
    for (const p of this.inFlight) for (const s of p.plan.segments) for (const d of s.drops) this.settleDrop(d, undefined);
    for (const seg of this.log.segments) for (const d of seg.drops) this.settleDrop(d, undefined);
    this.drainDropNotices();
    for (const p of this.inFlight) for (const s of p.plan.segments) this.undeliver(s.pops, err);
    this.inFlight.clear();
    for (const seg of this.log.segments) this.undeliver(seg.pops, err);
    this.log.discard();
    // the messages are gone (as after close): with the device, or no longer known for certain
    this.count = 0;
    this.deviceSize = 0;
    this.table.clear();
    this.head.reset(true);
  }

  // ---------------------------------------------------------------- device-side runs (device-kernel.ts, the runtime)
  /**
   * Runs a compute kernel of yours that calls the device-side API (`deviceApiWgsl(schema, group)`:
   * rk_try_pop / rk_try_push) on this queue, in one submission with the queue's own passes.
   * `encode(pass, group)` sets your pipeline and bind groups (`group` at the index the WGSL was
   * generated for, layout `deviceBindGroupLayout`) and dispatches. Afterwards size, stats and
   * waiters include what the kernel popped and pushed. Schema mode only. Other calls throw or
   * reject until the promise settles. Several queues in one kernel: `runDeviceKernel(queues, ...)`.
   */
  async runDeviceKernel(encode: (pass: GPUComputePassEncoder, group: GPUBindGroup) => void, options?: DeviceKernelOptions): Promise<DeviceKernelResult> {
    const [result] = await runDeviceKernel([this], (pass, groups) => encode(pass, groups[0]), options);
    return result;
  }

  /** @internal Refuses a device-side run on a queue that is closed, broken, busy or opaque. */
  assertRunnable(): void {
    this.assertOpen();
    if (!this.schema) throw new TypeError('the device-side API needs schema mode: an opaque message means nothing to a kernel');
  }

  /** @internal Marks a device kernel run: other calls throw or reject until it ends. */
  setDeviceBusy(busy: boolean): void {
    this.deviceBusy = busy;
  }

  /** @internal After the last step was applied: no error, no run in flight. */
  get brokenBy(): DeviceLostError | GpuQueueError | null {
    return this.brokenError;
  }

  /** @internal Head records a device-side run should fetch. */
  get runHeadCount(): number {
    return this.prefetch;
  }

  /**
   * @internal What a device-side run (a user kernel, a ring kernel tick) did to this queue, from
   * its readback: `popped`/`pushed` messages, the device's next sequence number and globals, and
   * optionally its fetched head. Fails the queue closed on a device error word.
   */
  applyDeviceRun(popped: number, pushed: number, globals: Uint32Array, head: Uint32Array | null): void {
    if (this.brokenError) return;
    this.lastGlobals = globals.slice();
    if (globals[G.ERR] !== 0) {
      this.breakWith(this.failure(new GpuQueueError(`ringkernel: device invariant violated: error word ${globals[G.ERR]}`)));
      throw this.brokenError;
    }
    this.count += pushed - popped;
    this.deviceSize += pushed - popped;
    this.enqueued += pushed;
    this.dequeued += popped;
    const seq = globals[G.NEXTSEQ] + globals[G.NEXTSEQ + 1] * 4294967296;
    this.nextSeq = this.deviceSeq = seq;
    if (head !== null) {
      const views = viewsOf(head);
      const entries: HeadEntry<T>[] = [];
      const R = this.words + RECORD_HEADER;
      for (let o = 0; o + R <= head.length && entries.length < this.count; o += R) {
        const seqOf = head[o] + (head[o + 1] & 0xffffff) * 4294967296;
        const priority = head[o + 1] >>> 24;
        entries.push({ seq: seqOf, priority, message: this.schema!.unpack(views.u, views.f, views.i, o + RECORD_HEADER, priority) as T });
      }
      this.head.adopt(entries, this.count);
    } else if (pushed > 0 || popped > 0) {
      this.head.reset(this.count === 0);
    }
    if (this.getters.length !== 0) this.serveGetters();
    if (this.putters.length !== 0) this.admitPutters();
  }

  /** @internal Hands the queue's submissions to an owner (the ring kernel runtime), which calls encodeStep/applyStep. */
  setOwner(owner: QueueOwner | null): void {
    this.owner = owner;
  }

  /** @internal Whether the queue has operations to submit (or a wanted head fetch). */
  get hasWork(): boolean {
    return !this.log.isEmpty || this.fetchWanted;
  }

  /**
   * @internal Skips `count` sequence numbers on host and device (tests of a queue's whole life:
   * a message that stays while billions of others pass through, without pushing billions).
   */
  advanceSequence(count: number): void {
    this.assertOpen();
    if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) throw new RangeError('count must be a u32');
    this.takeSeq(count);
    this.log.skip(count, SEG_CAP);
    this.schedule();
  }
}
