/**
 * GpuMessageQueue: the queue contract (src/queue/contract.ts) with storage, ordering, capacity
 * and drops in GPU memory. This file holds the contract members and the host's bookkeeping;
 * the parts live beside it:
 *
 *   options.ts       the options and their checks
 *   recorder.ts      what the host records: the op log (op-log.ts), the head copy (head-copy.ts),
 *                    the opaque messages, sequence numbers, the onDrop order
 *   device-link.ts   what was recorded, planned (plan.ts) into one step of a submission
 *                    (encode-ops.ts); readbacks checked and delivered (apply.ts); failures
 *   packed.ts        batches as words (putManyPacked/getManyPacked)
 *   device-kernel.ts user kernels that pop and push on the device
 *   storage.ts       the GPU buffers; shaders/queue-*.wgsl the kernels
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
import type { Queue, WaitOptions } from '../queue/contract.js';
import { BackpressureQueue, RESOLVED, checkMax, type MessageBatch } from '../queue/backpressure.js';
import { QueueClosedError } from '../queue/errors.js';
import { priorityOf, type Message } from '../queue/message.js';
import { readWait } from '../queue/waiters.js';
import type { MessageSchema } from '../schema/define-message.js';
import { deviceInfo, rememberInfo, sharedDevice, type AdapterReport } from '../device/acquire.js';
import { DeviceLostError, GpuQueueError } from '../device/errors.js';
import { onDeviceLost } from '../device/lost.js';
import type { StepEncoder } from '../device/submission.js';
import type { Pending } from './apply.js';
import { DeviceLink, type QueueOwner } from './device-link.js';
import { runDeviceKernel, type DeviceKernelOptions, type DeviceKernelResult } from './device-kernel.js';
import type { HeadEntry } from './head-copy.js';
import { G, RECORD_HEADER, describeErrorBits, recordPriority, readU64, recordSeq } from './layout.js';
import { resolveGpuOptions, type GpuQueueOptions, type ResolvedGpuOptions } from './options.js';
import { PackedSource, viewsOf, type PackedBatch } from './packed.js';
import { Recorder, type Eviction } from './recorder.js';
import { QueueStorage } from './storage.js';
import { FAKE_TIMERS_MESSAGE, timersFaked } from '../platform/index.js';

export type { PackedBatch } from './packed.js';
export type { GpuQueueOptions } from './options.js';
export type { QueueOwner } from './device-link.js';

export class GpuMessageQueue<T extends object = Message> extends BackpressureQueue<T, Eviction<T>> implements Queue<T> {
  readonly device: GPUDevice;
  readonly schema: MessageSchema<T & object> | undefined;
  readonly prefetch: number;
  readonly verify: boolean;
  /** payload words per message on the device (0 in opaque mode) */
  readonly words: number;
  /** @internal the device buffers */
  readonly storage: QueueStorage;
  private readonly rec: Recorder<T>;
  private readonly link: DeviceLink<T>;
  private count = 0;
  /** set once the queue is broken (device lost, or a submission failed): every later call refuses with it */
  private brokenError: DeviceLostError | GpuQueueError | null = null;
  /** a device kernel run holds the queue */
  private deviceBusy = false;
  private readonly unwatchLoss: () => void;

  /** Creates a queue (acquiring the shared device if none is given). Rejects with GpuUnavailableError without an adapter, RangeError when it exceeds the device's limits. */
  static async create<T extends object = Message>(options: GpuQueueOptions<T> = {}): Promise<GpuMessageQueue<T>> {
    const resolved = resolveGpuOptions(options);
    let device = options.device;
    if (!device) {
      const acq = await sharedDevice();
      rememberInfo(acq.device, acq.info);
      device = acq.device;
    }
    const words = options.schema ? options.schema.words : 0;
    const storage = await QueueStorage.create(device, {
      maxSize: resolved.maxSize,
      words,
      dropOldest: resolved.backpressure === 'drop',
      initialTicket: options.initialTicket,
      initialSeq: options.initialSeq,
      maxBindingBytes: options.maxBindingBytes,
      purpose: `maxSize ${resolved.maxSize} with ${options.schema ? `${words * 4}-byte ${options.schema.name} messages` : 'opaque payloads'}`,
    });
    return new GpuMessageQueue<T>(device, options, resolved, storage);
  }

  private constructor(device: GPUDevice, options: GpuQueueOptions<T>, resolved: ResolvedGpuOptions, storage: QueueStorage) {
    super(options);
    this.device = device;
    this.schema = options.schema;
    this.words = storage.words;
    this.prefetch = resolved.prefetch;
    this.verify = resolved.verify;
    this.storage = storage;
    const queue = this;
    this.rec = new Recorder<T>(
      { schema: this.schema, words: this.words, verify: this.verify, prefetch: this.prefetch, storage, onDrop: this.onDrop, initialSeq: options.initialSeq ?? 0 },
      {
        get size() {
          return queue.count;
        },
        get closed() {
          return queue.isClosed;
        },
        submitNow: () => this.link.submitNow(),
        schedule: () => this.link.schedule(),
      },
    );
    this.link = new DeviceLink<T>(device, storage, this.rec, {
      get broken() {
        return queue.brokenError;
      },
      breakWith: (error) => this.breakWith(error),
      undelivered: (n) => {
        this.dequeued -= n;
      },
    });
    // a listener that close() removes: the device keeps no closed queue alive
    this.unwatchLoss = onDeviceLost(device, (reason) => this.breakWith(new DeviceLostError(`the GPU device was lost: ${reason}`, reason)));
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
    return this.rec.table.size;
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
    const g = this.link.lastGlobals;
    if (!g) return null;
    const w64 = (i: number): number => readU64(g, i);
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
    this.assertOpen();
    if (!this.rec.headOnHost()) return null;
    return (this.take(1) as T[])[0];
  }

  peek(): T | null {
    this.assertOpen();
    if (!this.rec.headOnHost()) return null;
    return this.rec.head.entries[0].message;
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
        this.rec.packValues(values.map((m) => ({ message: m, priority: (m as { priority: number }).priority, seq: 0 }))),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  clear(): number {
    this.assertOpen();
    const removed = this.count;
    this.rec.clear(removed);
    this.count = 0;
    this.admitPutters();
    return removed;
  }

  /**
   * Resolves when every earlier operation has been applied on the device and the head of the
   * queue has been fetched to the host (so one peek/getNowait returns it if there is one).
   */
  async flush(): Promise<void> {
    if (this.brokenError) throw this.brokenError;
    if (this.isClosed) return this.link.chain;
    if (this.count > 0 && this.rec.head.length === 0) this.rec.fetchWanted = true;
    this.link.submitNow();
    if (this.brokenError) throw this.brokenError;
    // (with setImmediate faked nothing was sent: say so rather than resolve as if it had been)
    if (timersFaked() && (!this.rec.log.isEmpty || this.rec.fetchWanted)) throw new Error(FAKE_TIMERS_MESSAGE);
    await this.link.chain;
    if (this.brokenError) throw this.brokenError;
    if (this.link.applyError !== undefined) {
      const error = this.link.applyError;
      this.link.applyError = undefined;
      throw error;
    }
  }

  /** Rejects waiters with QueueClosedError, lets submitted work finish, then frees the GPU buffers. */
  async close(): Promise<void> {
    if (this.isClosed) return this.link.chain;
    this.isClosed = true;
    this.count = 0;
    this.rec.head.reset(true);
    this.rejectWaiters();
    if (!this.brokenError) this.link.submitNow();
    try {
      await this.link.chain;
    } finally {
      this.unwatchLoss();
      this.storage.destroy();
      this.rec.discard();
    }
  }

  // ---------------------------------------------------------------- the shared host rules' storage hooks
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

  protected insert(priority: number, message: T): void {
    this.rec.push(priority, message);
    this.count++;
    this.enqueued++;
    if (this.getters.length !== 0) this.serveGetters();
  }

  protected insertBatch(batch: MessageBatch<T>, priorities: ArrayLike<number>, from: number): void {
    this.rec.pushBatch(batch, priorities, from);
    const m = batch.length - from;
    this.count += m;
    this.enqueued += m;
  }

  protected insertDroppingOldest(priority: number, message: T): Eviction<T> {
    const eviction = this.rec.evict();
    this.count--;
    this.dropped++;
    this.insert(priority, message);
    return eviction;
  }

  protected notifyDrop(d: Eviction<T>): void {
    this.rec.notifyDrop(d);
  }

  private take(n: number, packed = false): T[] | Promise<T[]> {
    const result = this.rec.take(n, packed);
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

  /** Enters the broken state: rejects every pending and waiting operation with `err`, empties the queue. */
  private breakWith(err: DeviceLostError | GpuQueueError): void {
    if (this.brokenError) return;
    this.brokenError = err;
    this.rejectWaiters(() => err);
    this.link.abandon(err);
    // the messages are gone (as after close): with the device, or no longer known for certain
    this.rec.discard();
    this.count = 0;
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

  /** @internal The error the queue broke with, if it did. */
  get brokenBy(): DeviceLostError | GpuQueueError | null {
    return this.brokenError;
  }

  /**
   * @internal What a device-side run (a user kernel, a ring kernel tick) did to this queue, from
   * its readback: `popped`/`pushed` messages, the device's globals, and optionally its fetched
   * head. Fails the queue closed (and throws) on a device error word.
   */
  applyDeviceRun(popped: number, pushed: number, globals: Uint32Array, head: Uint32Array | null): void {
    // (a head fetched at the end of the run is the queue's only if nothing was recorded since:
    // a pop recorded meanwhile will take some of those messages)
    if (head !== null && !this.rec.log.isEmpty) head = null;
    if (this.brokenError) throw this.brokenError;
    if (this.isClosed) return; // closed while the run was in flight: its messages are gone with it
    if (globals[G.ERR] !== 0) {
      this.breakWith(this.link.failure(new GpuQueueError(`ringkernel: device invariant violated: ${describeErrorBits(globals[G.ERR])}`)));
      throw this.brokenError;
    }
    this.link.ranOnDevice(popped, pushed, globals);
    this.count += pushed - popped;
    this.enqueued += pushed;
    this.dequeued += popped;
    // (the head holds min(fetched, the device's count) records: only when the device's count is
    // the host's is that what the decoding below takes, not stale records of an older fetch)
    if (head !== null && globals[G.COUNT] !== this.count) head = null;
    if (head !== null) {
      const views = viewsOf(head);
      const entries: HeadEntry<T>[] = [];
      const R = this.words + RECORD_HEADER;
      for (let o = 0; o + R <= head.length && entries.length < this.count; o += R) {
        const priority = recordPriority(head, o);
        entries.push({ seq: recordSeq(head, o), priority, message: this.schema!.unpack(views.u, views.f, views.i, o + RECORD_HEADER, priority) as T });
      }
      this.rec.head.adopt(entries, this.count);
    } else if (pushed > 0 || popped > 0) {
      this.rec.head.reset(this.count === 0);
    }
    if (this.getters.length !== 0) this.serveGetters();
    if (this.putters.length !== 0) this.admitPutters();
  }

  /** @internal Whether a get or getMany is waiting for messages (a ring kernel's tick then fetches this queue's head for it). */
  get hasWaitingGetters(): boolean {
    return this.getters.length !== 0;
  }

  /**
   * @internal A device-side run that pushes into this queue was submitted: the head copy no
   * longer shows the head (the run may push more urgent messages), so a get made before its
   * readback asks the device instead of answering from the copy.
   */
  forgetHead(): void {
    this.rec.head.reset(false);
  }

  /** @internal Head records a device-side run fetches for the host. */
  get runHeadCount(): number {
    return this.prefetch;
  }

  /** @internal Hands the queue's submissions to an owner (the ring kernel runtime), which calls encodeStep/applyStep. */
  setOwner(owner: QueueOwner | null): void {
    this.link.owner = owner;
  }

  /** @internal Rejects every operation recorded or in flight with `error` (an owner shutting the queue down; then close()). */
  abandonPending(error: Error): void {
    this.link.abandon(error);
    this.rec.log.discard();
  }

  /** @internal Whether the queue has recorded operations (or a wanted head fetch) to submit. */
  get hasWork(): boolean {
    return !this.rec.log.isEmpty || this.rec.fetchWanted;
  }

  /** @internal One step of an owner's submission (see device-link.ts). */
  encodeStep(e: StepEncoder): Pending<T> | null {
    return this.link.encodeStep(e);
  }
  /** @internal */
  applyStep(pending: Pending<T>, words: Uint32Array): void {
    this.link.applyStep(pending, words);
  }
  /** @internal */
  failStep(pending: Pending<T>, error: unknown): void {
    this.link.failStep(pending, error);
  }

  /**
   * @internal Skips `count` sequence numbers on host and device (tests of a queue's whole life:
   * a message that stays while billions of others pass through, without pushing billions).
   */
  advanceSequence(count: number): void {
    this.assertOpen();
    if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) throw new RangeError('count must be a u32');
    this.rec.skip(count);
  }
}
