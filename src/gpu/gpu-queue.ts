/**
 * GpuMessageQueue: the MessageQueue contract with storage, ordering, capacity and drops in GPU
 * memory (see shaders/queue-*.wgsl).
 *
 * HOST / DEVICE SPLIT
 *   The host decides *how many*: it alone mutates the queue, so it knows the exact size and
 *   applies the contract's rules (waiting getters/putters, BLOCK/REJECT/DROP_OLDEST, stats)
 *   synchronously, exactly like the CPU queue. Each decision is recorded in an op log
 *   (push / drop-oldest / pop / clear). The device decides *which*: priority order, FIFO,
 *   oldest-by-sequence; it replays the op log in the same order, so every operation gets the
 *   same messages as on the CPU queue.
 *   All ops issued in one event-loop turn go to the device in one submission (setImmediate).
 *   Consecutive pushes/drops form one push phase and consecutive pops one pop phase; a push
 *   after a pop starts a new segment, so the device order equals the host order.
 *
 * SYNC MEMBERS
 *   size/isEmpty/isFull are exact. getNowait()/peek() need the message itself, so the host keeps
 *   a *prefix cache*: the k most urgent messages in order (fetched from the device with each
 *   submission, and kept up to date by host-side pushes/pops), flagged `complete` when it holds
 *   the whole queue. They never return a message out of order; they return null while the head
 *   is only on the device (and start fetching it). After `await q.flush()` the head is cached.
 *
 * PAYLOADS
 *   opaque (no schema): the device holds priority, sequence and a u32 handle; the host keeps the
 *   object in a handle table until it is dequeued, dropped or cleared.
 *   schema: the device holds the packed struct; results are unpacked copies.
 *
 * PACKED BATCHES (schema mode)
 *   putManyPacked/getManyPacked are putMany/getMany with the messages as one Uint32Array in the
 *   schema's layout plus a Uint8Array of priorities: no object per message. They go through the
 *   same host rules (BackpressureQueue.putBatch/fill, waiting getters, take) as the object calls:
 *   a packed batch reaches them as a PackedSource (a MessageBatch: length, at(i), slice(from)),
 *   whose message i is a PackedRef (made only on the per-message slow paths: a full queue, a
 *   waiting getter).
 *   Every schema-mode push, packed or not, is written to the push columns as words (colWords),
 *   so the submission's encoding is a counting sort plus a word copy.
 *
 * FAILURE
 *   A lost device, a submission the GPU rejects (a validation error) or a result that cannot be
 *   applied leaves host and device possibly disagreeing, so the queue fails closed: every
 *   pending and waiting operation rejects (DeviceLostError, or GpuQueueError with the failure as
 *   its cause), size reads 0, later calls refuse with the same error; close() still frees buffers.
 *
 * onDrop runs when the device reports which message it evicted (after the submission's
 * readback), in eviction order, before the flush that covers it resolves.
 */
import type { Queue, QueueOptions, WaitOptions } from '../queue/contract.js';
import { BackpressureQueue, RESOLVED, checkMax, notify, resolveQueueOptions, type MessageBatch } from '../queue/backpressure.js';
import { QueueClosedError } from '../queue/errors.js';
import { priorityOf, type Message } from '../queue/message.js';
import { readWait } from '../queue/waiters.js';
import type { MessageSchema } from '../schema/define-message.js';
import { deviceInfo, sharedDevice, rememberInfo, type AdapterReport } from './device.js';
import { DeviceLostError, GpuQueueError } from './errors.js';
import { BUCKETS, G, QueueEngine, SEG_CAP, type EngineProfile, type Segment, type SubmissionResult } from './engine.js';

export interface GpuQueueOptions<T> extends QueueOptions<T> {
  /** Fixed-layout payloads stored on the device; without it, any object (opaque mode). */
  schema?: MessageSchema<T & object>;
  /** Device to use; default: one shared device acquired on first use. */
  device?: GPUDevice;
  /** How many of the most urgent messages each submission fetches for getNowait/peek. Default 32. */
  prefetch?: number;
  /** @internal first ticket of every bucket (tests of u32 wrap-around) */
  initialTicket?: number;
  /** @internal first insertion sequence number (tests of u32 wrap-around) */
  initialSeq?: number;
  /** @internal largest upload/output buffer of one submission in bytes (tests); default and maximum: the device's limits */
  maxBindingBytes?: number;
}

/** What getManyPacked resolves with: `count` messages, `words[i*schema.words ..]` and `priorities[i]` for message i (fresh arrays per call). */
export interface PackedBatch {
  count: number;
  words: Uint32Array;
  priorities: Uint8Array;
}

/** A packed batch handed to the shared host rules (a MessageBatch): message i is words[i*W .. +W), with no object per message. */
class PackedSource<T> implements MessageBatch<T> {
  constructor(
    readonly words: Uint32Array,
    readonly length: number,
    readonly W: number,
  ) {}
  /** Message i as the per-message slow paths (a full queue, a waiting getter) hand it to insert: a PackedRef. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.length ? (new PackedRef(this, i) as unknown as T) : undefined;
  }
  /** The rest of a batch that must wait: a copy, so the caller may reuse its array. */
  slice(from: number): PackedSource<T> {
    const start = Math.min(Math.max(0, from), this.length);
    return new PackedSource<T>(this.words.slice(start * this.W, this.length * this.W), this.length - start, this.W);
  }
}
/** Message i of a PackedSource, as the per-message paths (fill's slow path) see it. */
class PackedRef {
  constructor(
    readonly src: PackedSource<unknown>,
    readonly i: number,
  ) {}
}

/** A pop whose messages the device will report (or the cache already knew). */
interface PopOp<T> {
  t: 'pop';
  n: number;
  clear: boolean;
  /** set when the prefix cache supplied the results at record time */
  known: boolean;
  /** resolve gets a PackedBatch instead of T[] (getManyPacked) */
  packed?: boolean;
  resolve?: (values: T[] & PackedBatch) => void;
  reject?: (error: unknown) => void;
  /** set once the op's results were delivered or it was rejected */
  done?: boolean;
}
interface DropOp {
  t: 'drop';
  /** the host identified (and notified) the evicted message at record time */
  known: boolean;
  /** its place in the onDrop order (unknown drops, with onDrop set) */
  notice?: DropNotice<unknown>;
}
/**
 * One onDrop notification in eviction order. While an unknown drop (reported by the device) is
 * outstanding, later drops the host could name wait behind it, so onDrop sees evictions in order.
 */
interface DropNotice<T> {
  ready: boolean;
  message?: T;
}
/**
 * One segment of the op log: its pushes and drops (in any interleaving: the device applies the
 * drops of existing messages, then the pushes), then its pops. Pushes are stored column-wise,
 * with no object per message.
 */
interface LogSegment<T> {
  drops: DropOp[];
  /** this segment's pushes are entries [start, end) of the queue's push columns */
  start: number;
  end: number;
  pops: PopOp<T>[];
}

interface CacheEntry<T> {
  priority: number;
  seq: number;
  message: T;
  handle: number;
}

interface SegmentOps<T> {
  segment: Segment;
  pops: PopOp<T>[];
  /** one entry per drop op of the segment, in order; the first `segment.dropExisting` are evictions on the device */
  drops: DropOp[];
  /** messages evicted before reaching the device (the segment's first pushes), whose onDrop is still due */
  immediateDrops: { message: T; op: DropOp }[];
}

interface Pending<T> {
  segments: SegmentOps<T>[];
  peekCount: number;
  /** op-log position after this submission: the fetched head is current only if nothing came after */
  logPosition: number;
}

const CACHE_MAX = 64;
/**
 * A turn that alternates pushes and pops (e.g. put/get pairs served from the prefix cache without
 * ever yielding) would otherwise build one submission with a dispatch set per alternation:
 * past this many segments the log is submitted at once and a new one starts.
 */
const MAX_SEGMENTS = 64;
/**
 * Captured at load: the queue schedules its submissions with the real setImmediate. That does
 * not make it immune to fake timers: WebGPU's Node binding (Dawn) resolves mapAsync through the
 * *global* setImmediate, so a faked setImmediate (vi.useFakeTimers() with its defaults) would
 * leave every readback pending forever. submitNow detects that and rejects the op log's pops
 * with FAKE_IMMEDIATE instead of hanging (runDeviceKernel throws it); the log itself is sent
 * with the first submission after the timers are real again.
 */
const realSetImmediate: typeof setImmediate = globalThis.setImmediate;
const FAKE_IMMEDIATE =
  "ringkernel: setImmediate is faked; WebGPU's Node binding resolves mapAsync through it: fake only setTimeout/setInterval (e.g. vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }))";
const immediateFaked = (): boolean => globalThis.setImmediate !== realSetImmediate;

/** What a DROP_OLDEST eviction leaves for notifyDrop: the message when the host could name it, else undefined (the device reports it). */
type Eviction<T> = { evicted: T; notice?: DropNotice<T> } | undefined;

export class GpuMessageQueue<T extends object = Message> extends BackpressureQueue<T, Eviction<T>> implements Queue<T> {
  readonly device: GPUDevice;
  readonly schema: MessageSchema<T & object> | undefined;
  private readonly engine: QueueEngine;
  private readonly words: number;
  private readonly prefetch: number;
  private count = 0;
  /** set once the queue is broken (device lost, or a submission failed): every later call refuses with it */
  private brokenError: DeviceLostError | GpuQueueError | null = null;
  // op log and submissions
  private log: LogSegment<T>[] = [];
  // push columns of the current log (reused across submissions: no allocation per message)
  private colPrio = new Uint8Array(1024);
  private colHandle = new Uint32Array(1024);
  /** the caller's object per push (undefined for a packed push) */
  private colMsg: (T | undefined)[] = [];
  /** schema mode: the packed words of each push, words*i .. */
  private colWords: Uint32Array;
  private colViews: { u: Uint32Array; f: Float32Array; i: Int32Array };
  private colN = 0;
  private uploadBuf = new Uint32Array(1024);
  private logPosition = 0;
  private scheduled = false;
  private fetchWanted = false;
  private deviceSize = 0; // size on the device after everything submitted so far
  private hostSeq: number; // mirror of the device's next insertion sequence
  private chain: Promise<void> = RESOLVED;
  private readonly inFlight = new Set<Pending<T>>();
  // prefix cache
  private cache: CacheEntry<T>[] = [];
  private cacheComplete = true;
  // opaque payloads
  private readonly table = new Map<number, T>();
  private nextHandle = 1;
  private lastGlobals: Uint32Array | null = null;
  /** onDrop notifications in eviction order, while an unknown drop is outstanding (see DropNotice) */
  private dropNotices: DropNotice<T>[] = [];
  // words the current op log will upload / output (conservative), kept within the engine's limits
  private logUp = 0;
  private logOut = 0;
  /** first error of an apply (a device invariant violation, an internal error) for flush() */
  private applyError: unknown = undefined;

  /** Creates a queue (acquiring the shared device if none is given). Rejects with GpuUnavailableError without an adapter. */
  static async create<T extends object = Message>(options: GpuQueueOptions<T> = {}): Promise<GpuMessageQueue<T>> {
    resolveQueueOptions(options);
    let device = options.device;
    if (!device) {
      const acq = await sharedDevice();
      rememberInfo(acq.device, acq.info);
      device = acq.device;
    }
    return new GpuMessageQueue<T>(device, options);
  }

  private constructor(device: GPUDevice, options: GpuQueueOptions<T>) {
    super(options);
    const maxSize = this.maxSize;
    this.device = device;
    this.schema = options.schema;
    this.words = this.schema ? this.schema.words : 1;
    this.colWords = new Uint32Array(this.schema ? this.colPrio.length * this.words : 0);
    this.colViews = viewsOf(this.colWords);
    const prefetch = options.prefetch ?? 32;
    if (!Number.isSafeInteger(prefetch) || prefetch < 1) throw new RangeError('prefetch must be a positive integer');
    this.prefetch = Math.min(prefetch, CACHE_MAX);
    this.hostSeq = (options.initialSeq ?? 0) >>> 0;
    this.engine = new QueueEngine(device, {
      maxSize,
      words: this.words,
      initialTicket: options.initialTicket,
      initialSeq: options.initialSeq,
      maxBindingBytes: options.maxBindingBytes,
    });
    void device.lost.then((info) => this.onLost(info.message || String(info.reason)));
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
  /** Adapter vendor/architecture/description, when this queue's device came from device.ts. */
  get adapterInfo(): AdapterReport | undefined {
    return deviceInfo(this.device);
  }
  /** Bytes of GPU memory this queue holds (storage; staging buffers excluded). */
  get gpuBytes(): number {
    return this.engine.bytes;
  }
  /** @internal timing counters of the device half */
  get profile(): Readonly<EngineProfile> {
    return this.engine.profile;
  }
  /** @internal number of host-held opaque messages */
  get hostTableSize(): number {
    return this.table.size;
  }
  /** @internal device counters after the last readback: count, enqueued, dequeued, dropped, cleared, err */
  get deviceCounters(): { count: number; enqueued: number; dequeued: number; dropped: number; cleared: number; error: number; nextSeq: number } | null {
    const g = this.lastGlobals;
    if (!g) return null;
    return { count: g[G.COUNT], enqueued: g[G.ENQ], dequeued: g[G.DEQ], dropped: g[G.DROPPED], cleared: g[G.CLEARED], error: g[G.ERR], nextSeq: g[G.NEXTSEQ] };
  }
  /** @internal the engine (device-side API, tests) */
  get _engine(): QueueEngine {
    return this.engine;
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
   * bit patterns) with priority `priorities[i]`; n = priorities.length. Same semantics as putMany
   * (backpressure, waiting, timeouts, aborts, stats, ordering; onDrop gets unpacked objects).
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
   * message i as `words[i*schema.words ..]` in the schema's layout and `priorities[i]`; waits like
   * getMany on an empty queue. Each call returns new arrays. Padding words of the layout carry
   * no meaning (their content is unspecified). Results the host already holds (the prefix cache,
   * a waiting getter) are re-packed from objects: an f32 signalling NaN may come back quiet there.
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
      return (this.waitForMessages(max, wait) as Promise<T[]>).then((values) => this.packValues(values.map((m) => ({ message: m, priority: priorityOfPacked(m) }))));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private requireSchema(what: string): MessageSchema<T & object> {
    if (!this.schema) throw new TypeError(`${what} needs a schema: create the queue with { schema: defineMessage(...) } (opaque mode has no packed layout)`);
    return this.schema;
  }

  /** Packs messages (cache entries, a waiting getter's result) into a new PackedBatch. */
  private packValues(entries: readonly { message: T; priority: number }[]): PackedBatch {
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
    if (this.cache.length === 0) {
      this.requestFetch();
      return false;
    }
    return true;
  }

  peek(): T | null {
    if (!this.headOnHost()) return null;
    return this.cache[0].message;
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
    this.cache = [];
    this.cacheComplete = true;
    this.admitPutters();
    return removed;
  }

  /**
   * Runs a user compute kernel that calls the device-side API (`deviceApiWgsl(schema, group)`:
   * rk_try_pop / rk_try_push) on this queue, in one submission with the queue's own commit passes.
   * `encode(pass, group)` sets the user's pipeline and bind groups (`group` at the index the WGSL
   * was generated for, layout `deviceBindGroupLayout`) and dispatches. Afterwards the host learns
   * how many messages the kernel popped and pushed: size and stats (dequeued/enqueued) include
   * them, and waiting getters/putters are served. Schema mode only. Other calls must wait for the
   * returned promise (they throw / reject while it is pending).
   */
  async runDeviceKernel(
    encode: (pass: GPUComputePassEncoder, group: GPUBindGroup) => void,
    options: { inboxCapacity?: number } = {},
  ): Promise<{ popped: number; pushed: number }> {
    this.assertOpen();
    if (!this.schema) throw new TypeError('the device-side API needs schema mode: an opaque handle means nothing to a kernel');
    if (immediateFaked()) throw new Error(FAKE_IMMEDIATE);
    // busy from the call on: an operation recorded while the flush below runs would reach the
    // device after the kernel although the host applied it before
    this.deviceBusy = true;
    try {
      await this.flush();
      if (this.isClosed) throw new QueueClosedError();
      if (this.brokenError) throw this.brokenError;
      const inbox = options.inboxCapacity ?? Math.min(this.maxSize, 65536);
      const r = await this.chainOn(this.engine.runDevice(encode, inbox, this.prefetch));
      const popped = r.globals[G.DEVPOPS];
      const pushed = r.globals[G.DEVPUSHES];
      this.lastGlobals = r.globals;
      if (r.globals[G.ERR] !== 0) throw new Error(`ringkernel: device invariant violated (error flags ${r.globals[G.ERR]})`);
      this.count += pushed - popped;
      this.deviceSize += pushed - popped;
      this.enqueued += pushed;
      this.dequeued += popped;
      this.hostSeq = (this.hostSeq + pushed) >>> 0;
      const R = this.words + 2;
      const views = viewsOf(r.peek);
      const entries: CacheEntry<T>[] = [];
      for (let o = 0; o + R <= r.peek.length && entries.length < this.count; o += R) {
        const d = this.decode(r.peek, o, views);
        entries.push({ priority: d.priority, seq: d.seq, message: d.message, handle: 0 });
      }
      this.cache = entries;
      this.cacheComplete = entries.length === this.count;
      this.deviceBusy = false;
      if (this.getters.length !== 0) this.serveGetters();
      if (this.putters.length !== 0) this.admitPutters();
      return { popped, pushed };
    } finally {
      this.deviceBusy = false;
    }
  }

  /** Layout of the bind group `runDeviceKernel` passes to `encode`. */
  get deviceBindGroupLayout(): GPUBindGroupLayout {
    return this.engine.deviceBindGroupLayout();
  }

  private chainOn<R>(p: Promise<R>): Promise<R> {
    const out = this.chain.then(() => p);
    this.chain = out.then(
      () => undefined,
      (error: unknown) => {
        if (isLost(error)) this.onLost(String(error));
      },
    );
    return out.catch((error: unknown) => {
      throw this.brokenError ?? error;
    });
  }

  /**
   * Resolves when every earlier operation has been applied on the device and the head of the
   * queue has been fetched to the host (so one peek/getNowait returns it if there is one).
   */
  async flush(): Promise<void> {
    if (this.brokenError) throw this.brokenError;
    if (this.isClosed) return this.chain;
    if (this.count > 0 && this.cache.length === 0) this.fetchWanted = true;
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
    this.cache = [];
    this.rejectWaiters();
    if (!this.brokenError) this.submitNow();
    try {
      await this.chain;
    } finally {
      this.engine.destroy();
      this.table.clear();
      this.cache = [];
    }
  }

  // ---------------------------------------------------------------- host rules (as MessageQueue)
  private priorityOf(message: T): number {
    return this.schema ? this.schema.check(message) : priorityOf(message);
  }

  private deviceBusy = false;

  private assertOpen(): void {
    if (this.isClosed) throw new QueueClosedError();
    if (this.brokenError) throw this.brokenError;
    if (this.deviceBusy) throw new Error('GpuMessageQueue: a device kernel is running on this queue; await runDeviceKernel() first');
  }

  protected insert(priority: number, message: T): void {
    let handle = 0;
    if (!this.schema) {
      handle = this.nextHandle;
      this.nextHandle = (this.nextHandle + 1) >>> 0 || 1;
      this.table.set(handle, message);
    }
    this.budget(this.words + 1 + BUCKETS, 0);
    const seg = this.pushSegment();
    this.logUp += this.words + 1;
    let n = this.colN;
    if (n === this.colPrio.length) this.growColumns();
    this.colPrio[n] = priority;
    this.colHandle[n] = handle;
    if (message instanceof PackedRef) {
      // one message of a packed batch (slow path): its words as given
      const W = this.words;
      const src = message.src.words;
      const from = message.i * W;
      const cw = this.colWords;
      for (let k = 0, o = n * W; k < W; k++) cw[o + k] = src[from + k];
      this.colMsg[n] = undefined;
    } else {
      if (this.schema) this.schema.pack(message as T & object, this.colViews.u, this.colViews.f, this.colViews.i, n * this.words);
      this.colMsg[n] = message;
    }
    seg.end = this.colN = n + 1;
    this.logPosition++;
    this.count++;
    this.enqueued++;
    this.cachePush(priority, this.hostSeq, message, handle, n);
    this.hostSeq = (this.hostSeq + 1) >>> 0;
    if (this.getters.length !== 0) this.serveGetters();
  }

  /** One loop over the columns (a packed batch: two typed-array copies, then the cache/sequence loop). */
  protected insertBatch(batch: MessageBatch<T>, priorities: ArrayLike<number>, from: number): void {
    const opaque = !this.schema;
    const packed = batch instanceof PackedSource ? batch : undefined;
    const messages = batch as readonly T[]; // read only when not packed: putMany's array
    const total = batch.length;
    const W = this.words;
    let j = from;
    const S = W + 1;
    while (j < total) {
      this.budget(S + BUCKETS, 0);
      const seg = this.pushSegment();
      const room = Math.floor((this.engine.maxUploadWords - this.logUp) / S);
      const m = Math.min(total - j, SEG_CAP - (seg.end - seg.start), room);
      this.logUp += m * S;
      let n = this.colN;
      while (n + m > this.colPrio.length) this.growColumns();
      const prio = this.colPrio;
      const handles = this.colHandle;
      const msgs = this.colMsg;
      const end = j + m;
      if (packed) {
        prio.set((priorities as Uint8Array).subarray(j, end), n);
        this.colWords.set(packed.words.subarray(j * W, end * W), n * W);
        // the prefix cache: only a push that can enter it costs more than a compare (see cachePush)
        const seq0 = this.hostSeq;
        const n0 = n;
        let c = this.cache;
        let tail = c.length === 0 ? 255 : c[c.length - 1].priority; // an empty incomplete cache takes nothing
        for (; n < n0 + m; n++) {
          if (!this.cacheComplete && prio[n] <= tail) continue;
          this.cachePush(prio[n], (seq0 + (n - n0)) >>> 0, undefined, 0, n);
          c = this.cache;
          tail = c.length === 0 ? 255 : c[c.length - 1].priority;
        }
        j = end;
        this.hostSeq = (seq0 + m) >>> 0;
        seg.end = this.colN = n;
        this.logPosition += m;
        this.count += m;
        this.enqueued += m;
        continue;
      }
      const schema = this.schema;
      const cv = this.colViews;
      for (; j < end; j++, n++) {
        const message = messages[j];
        const priority = priorities[j];
        let handle = 0;
        if (opaque) {
          handle = this.nextHandle;
          this.nextHandle = (handle + 1) >>> 0 || 1;
          this.table.set(handle, message);
        }
        prio[n] = priority;
        handles[n] = handle;
        msgs[n] = message;
        if (schema) schema.pack(message as T & object, cv.u, cv.f, cv.i, n * W);
        this.cachePush(priority, this.hostSeq, message, handle, n);
        this.hostSeq = (this.hostSeq + 1) >>> 0;
      }
      seg.end = this.colN = n;
      this.logPosition += m;
      this.count += m;
      this.enqueued += m;
    }
  }

  /**
   * DROP_OLDEST on a full queue. The host names the evicted message at once when it can: in
   * opaque mode the handle table is insertion-ordered and holds exactly the queued messages
   * unless device pops are still unresolved; in either mode a complete prefix cache holds
   * everything. Otherwise the device reports it and onDrop runs after the readback. The
   * device evicts the same message either way (exactly the oldest by insertion sequence).
   */
  protected insertDroppingOldest(priority: number, message: T): Eviction<T> {
    const op: DropOp = { t: 'drop', known: false };
    // the drop and its push in one submission: an eviction outputs one record
    this.budget(this.words + 1 + BUCKETS, this.words + 2);
    this.pushSegment().drops.push(op);
    this.logOut += this.words + 2;
    this.logPosition++;
    let evicted: T | undefined;
    if (!this.schema && this.table.size === this.count) {
      const first = this.table.entries().next().value as [number, T];
      this.table.delete(first[0]);
      evicted = first[1];
      const at = this.cache.findIndex((e) => e.handle === first[0]);
      if (at >= 0) this.cache.splice(at, 1);
      op.known = true;
    } else if (this.cacheComplete && this.cache.length === this.count) {
      let best = 0;
      let bestAge = -1;
      for (let i = 0; i < this.cache.length; i++) {
        const age = (this.hostSeq - this.cache[i].seq) >>> 0;
        if (age > bestAge) {
          bestAge = age;
          best = i;
        }
      }
      const e = this.cache.splice(best, 1)[0];
      if (!this.schema) this.table.delete(e.handle);
      evicted = e.message;
      op.known = true;
    } else {
      this.cache = [];
      this.cacheComplete = false;
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

  /** Runs onDrop for the notices at the head of the order that are ready. */
  private drainDropNotices(): void {
    const q = this.dropNotices;
    let i = 0;
    while (i < q.length && q[i].ready) {
      const m = q[i++].message;
      if (m !== undefined && this.onDrop !== undefined) notify(this.onDrop, m);
    }
    if (i > 0) q.splice(0, i);
  }

  /** Marks a drop's notice as reported (with the evicted message, or none when its submission failed). */
  private settleDrop(op: DropOp, message: T | undefined): void {
    const notice = op.notice as DropNotice<T> | undefined;
    if (notice === undefined) return;
    op.notice = undefined;
    notice.message = message;
    notice.ready = true;
  }

  /**
   * Removes n (<= size) messages; returns them when the cache knows them, else a promise.
   * `packed` (schema mode): the result is a PackedBatch (typed as T[] here) instead.
   */
  private take(n: number, packed = false): T[] | Promise<T[]> {
    let result: T[] | Promise<T[]>;
    if (this.cache.length >= n) {
      const entries = this.cache.splice(0, n);
      result = packed
        ? (this.packValues(entries) as unknown as T[])
        : entries.map((e) => {
            if (!this.schema) this.table.delete(e.handle);
            return e.message;
          });
      if (this.cache.length === 0 && this.count - n > 0) this.cacheComplete = false;
      this.recordPops(n, false, true);
    } else {
      this.cache = [];
      this.cacheComplete = this.count - n === 0;
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

  // ---------------------------------------------------------------- prefix cache
  /** `at`: the push's column index (schema mode: the cache entry is unpacked from its words). */
  private cachePush(priority: number, seq: number, message: T | undefined, handle: number, at: number): void {
    const c = this.cache;
    // position: after every entry with priority >= priority (the new message is the newest)
    let lo = c.length;
    if (lo !== 0 && c[lo - 1].priority < priority) {
      lo = 0;
      let hi = c.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (c[mid].priority >= priority) lo = mid + 1;
        else hi = mid;
      }
    }
    if (lo === c.length && !this.cacheComplete) return; // belongs after the known prefix
    if (lo >= CACHE_MAX) {
      this.cacheComplete = false;
      return;
    }
    // schema mode: the cache holds an unpacked copy (as read from the device), never the caller's object
    const v = this.colViews;
    const entry = this.schema ? (this.schema.unpack(v.u, v.f, v.i, at * this.words, priority) as T) : (message as T);
    c.splice(lo, 0, { priority, seq, message: entry, handle });
    if (c.length > CACHE_MAX) {
      c.length = CACHE_MAX;
      this.cacheComplete = false;
    }
  }

  // ---------------------------------------------------------------- op log -> device
  /** The segment a push or drop goes to: a new one after pops (or when the current one is full). */
  private pushSegment(): LogSegment<T> {
    const log = this.log;
    let seg = log.length > 0 ? log[log.length - 1] : undefined;
    if (seg === undefined || seg.pops.length > 0 || seg.end - seg.start >= SEG_CAP) {
      if (seg !== undefined && log.length >= MAX_SEGMENTS) this.submitNow();
      seg = { drops: [], start: this.colN, end: this.colN, pops: [] };
      this.log.push(seg);
      this.logUp += BUCKETS;
    }
    if (!this.scheduled) this.schedule();
    return seg;
  }

  private growColumns(): void {
    const prio = new Uint8Array(this.colPrio.length * 2);
    prio.set(this.colPrio);
    this.colPrio = prio;
    const handle = new Uint32Array(this.colHandle.length * 2);
    handle.set(this.colHandle);
    this.colHandle = handle;
    if (this.schema) {
      const words = new Uint32Array(prio.length * this.words);
      words.set(this.colWords);
      this.colWords = words;
      this.colViews = viewsOf(words);
    }
  }

  /** Submits the op log first if `up` more upload words or `out` more output words would not fit one submission. */
  private budget(up: number, out: number): void {
    if (this.log.length === 0) return;
    if (this.logUp + up > this.engine.maxUploadWords || this.logOut + out > this.engine.maxOutputWords) this.submitNow();
  }

  /**
   * Records a pop of n messages (a clear when `clear`). One whose output would not fit one
   * submission is split into several ops (in consecutive submissions); their results are
   * joined into one array for `resolve`.
   */
  private recordPops(n: number, clear: boolean, known: boolean, resolve?: (values: T[]) => void, reject?: (error: unknown) => void, packed = false): void {
    const R = this.words + 2;
    // every ordinary pop of a segment with an unresolved one outputs; a clear only when it must name handles
    const outputs = !clear || (!known && !this.schema);
    const chunk = outputs ? Math.floor(this.engine.maxOutputWords / R) : n;
    if (n <= chunk) {
      this.budget(BUCKETS, outputs ? n * R : 0);
      this.recordPop({ t: 'pop', n, clear, known, packed, resolve, reject });
      if (outputs) this.logOut += n * R;
      return;
    }
    const W = this.words;
    const values: T[] = packed ? [] : new Array<T>(n);
    const joined: PackedBatch | undefined = packed ? { count: n, words: new Uint32Array(n * W), priorities: new Uint8Array(n) } : undefined;
    let left = Math.ceil(n / chunk);
    for (let off = 0; off < n; off += chunk) {
      const c = Math.min(chunk, n - off);
      const op: PopOp<T> = { t: 'pop', n: c, clear, known, packed };
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
      this.budget(BUCKETS, c * R);
      this.recordPop(op);
      this.logOut += c * R;
    }
  }

  private recordPop(op: PopOp<T>): void {
    const log = this.log;
    let seg = log.length > 0 ? log[log.length - 1] : undefined;
    if (seg === undefined) {
      seg = { drops: [], start: this.colN, end: this.colN, pops: [] };
      log.push(seg);
      this.logUp += BUCKETS;
    }
    seg.pops.push(op);
    this.logPosition++;
    this.schedule();
  }

  private requestFetch(): void {
    this.fetchWanted = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    realSetImmediate(() => {
      this.scheduled = false;
      this.submitNow();
    });
  }

  /** Sends the op log (if any, or a pending fetch) to the device as one submission. */
  private submitNow(): void {
    if (this.brokenError) return;
    const log = this.log;
    if (log.length === 0 && !this.fetchWanted) return;
    if (immediateFaked()) {
      // the readback would never resolve (and a mapAsync issued now stalls Dawn's event polling
      // for later ones too): reject the pops now; the log stays and goes to the device with the
      // next submission after the timers are real again, so device and host stay in step
      const error = new Error(FAKE_IMMEDIATE);
      for (const seg of log) this.undeliver(seg.pops, error);
      return;
    }
    this.log = [];
    this.logUp = 0;
    this.logOut = 0;
    this.fetchWanted = false;
    const W = this.words;
    const S = W + 1;
    const pending: Pending<T> = { segments: [], peekCount: 0, logPosition: this.logPosition };
    const startSize = this.deviceSize;
    let devSize = startSize;
    // first pass: how each segment's drops split (evictions on the device vs. pushes dropped
    // before reaching it), and the size of the upload
    let uploadWords = 0;
    const evictions = new Array<number>(log.length);
    for (let si = 0; si < log.length; si++) {
      const seg = log[si];
      const e = Math.min(seg.drops.length, devSize);
      evictions[si] = e;
      const uploaded = seg.end - seg.start - (seg.drops.length - e);
      if (uploaded > 0) uploadWords += BUCKETS + uploaded * S;
      let popCount = 0;
      for (const op of seg.pops) popCount += op.n;
      devSize = devSize - e + uploaded - popCount;
    }
    if (uploadWords > this.uploadBuf.length) {
      let size = this.uploadBuf.length;
      while (size < uploadWords) size *= 2;
      this.uploadBuf = new Uint32Array(size);
    }
    const upload = uploadWords > 0 ? this.uploadBuf.subarray(0, uploadWords) : null;
    const cursor = new Uint32Array(BUCKETS);
    const prios = this.colPrio;
    const msgs = this.colMsg;
    const handles = this.colHandle;
    let at = 0;
    for (let si = 0; si < log.length; si++) {
      const seg = log[si];
      const { drops: dropOps, pops } = seg;
      const e = evictions[si];
      const immediate = dropOps.length - e;
      const immediateDrops: { message: T; op: DropOp }[] = [];
      for (let j = 0; j < immediate; j++) {
        if (dropOps[e + j].known) continue; // already released and notified
        if (!this.schema) this.table.delete(handles[seg.start + j]);
        const at = seg.start + j;
        const v = this.colViews;
        // a packed push has no object: onDrop gets it unpacked
        const message = msgs[at] ?? (this.schema!.unpack(v.u, v.f, v.i, at * W, prios[at]) as T);
        immediateDrops.push({ message, op: dropOps[e + j] });
      }
      const first = seg.start + immediate; // first uploaded push in the columns
      const uploaded = seg.end - first;
      const uploadOff = at;
      if (uploaded > 0) {
        // every push is already in the columns (schema: its words; opaque: its handle)
        at = encodePushes(upload!, at, prios, this.schema ? this.colWords : handles, S - 1, first, uploaded, cursor);
      }
      let popCount = 0;
      let needsOutput = false;
      let allClear = pops.length > 0;
      for (const op of pops) {
        popCount += op.n;
        if (!op.known && (!op.clear || !this.schema)) needsOutput = true;
        if (!op.clear) allClear = false;
      }
      pending.segments.push({
        segment: {
          dropExisting: e,
          uploadOff,
          pushCount: uploaded,
          seqSkip: immediate,
          popCount,
          popIsClear: allClear,
          popNeedsOutput: needsOutput,
        },
        pops,
        drops: dropOps,
        immediateDrops,
      });
    }
    // the columns are consumed: drop their references to messages, reuse them for the next log
    msgs.fill(undefined, 0, this.colN);
    this.colN = 0;
    this.deviceSize = devSize;
    // fetch the head unless the host already knows the whole queue
    if (devSize > 0 && !(this.cacheComplete && this.cache.length === this.count)) {
      pending.peekCount = Math.min(this.prefetch, devSize);
    }
    // clear ops mixed with ordinary pops in one phase: counts as dequeued on the device; the
    // device counters are diagnostics only, so split instead to keep them exact
    this.fixMixedClears(pending);
    let result: Promise<SubmissionResult>;
    try {
      result = this.engine.submit(
        pending.segments.map((s) => s.segment),
        upload,
        pending.peekCount,
        startSize,
      );
    } catch (error) {
      result = Promise.reject(error);
    }
    this.inFlight.add(pending);
    const previous = this.chain;
    // never left rejected: a failed submission or apply rejects that submission's remaining operations
    this.chain = previous
      .then(() => result)
      .then(
        (r) => {
          try {
            // broken meanwhile (an earlier submission failed): its operations were rejected already
            if (!this.brokenError) this.apply(pending, r);
          } catch (error) {
            this.applyError ??= error;
            this.failPending(pending, error);
          } finally {
            this.engine.recycle(r);
          }
        },
        (error: unknown) => this.failPending(pending, error),
      );
  }

  /** Splits a pop phase that mixes clear and ordinary pops into consecutive segments. */
  private fixMixedClears(pending: Pending<T>): void {
    const out: Pending<T>['segments'] = [];
    for (const s of pending.segments) {
      const { pops } = s;
      if (pops.length < 2 || pops.every((p) => p.clear === pops[0].clear)) {
        out.push(s);
        continue;
      }
      let first = true;
      let j = 0;
      while (j < pops.length) {
        const group: PopOp<T>[] = [];
        const kind = pops[j].clear;
        while (j < pops.length && pops[j].clear === kind) group.push(pops[j++]);
        const n = group.reduce((a, p) => a + p.n, 0);
        const seg: Segment = first
          ? { ...s.segment, popCount: n, popIsClear: kind, popNeedsOutput: group.some((p) => !p.known && (!p.clear || !this.schema)) }
          : { dropExisting: 0, uploadOff: 0, pushCount: 0, seqSkip: 0, popCount: n, popIsClear: kind, popNeedsOutput: group.some((p) => !p.known && (!p.clear || !this.schema)) };
        out.push({ segment: seg, pops: group, drops: first ? s.drops : [], immediateDrops: first ? s.immediateDrops : [] });
        first = false;
      }
    }
    pending.segments = out;
  }

  private decode(rec: Uint32Array, o: number, views: { u: Uint32Array; f: Float32Array; i: Int32Array }): { seq: number; priority: number; handle: number; message: T } {
    const seq = rec[o];
    const priority = rec[o + 1];
    if (this.schema) {
      const message = this.schema.unpack(views.u, views.f, views.i, o + 2, priority) as T;
      return { seq, priority, handle: 0, message };
    }
    const handle = rec[o + 2];
    const message = this.table.get(handle);
    if (message === undefined) throw new Error(`ringkernel: device returned unknown handle ${handle} (internal error)`);
    return { seq, priority, handle, message };
  }

  private apply(pending: Pending<T>, r: SubmissionResult): void {
    this.inFlight.delete(pending);
    this.lastGlobals = r.globals.slice();
    const R = this.words + 2;
    const release = (h: number): void => {
      if (!this.schema) this.table.delete(h);
    };
    pending.segments.forEach((s, si) => {
      const res = r.segments[si];
      // evictions: oldest first, then messages dropped before reaching the device
      if (res.dropped && s.drops.some((d, j) => j < s.segment.dropExisting && !d.known)) {
        // the device lists evictions by bucket; by seq they are in the order the drops were recorded
        const order: { seq: number; o: number }[] = [];
        for (let o = 0; o < res.dropped.length; o += R) order.push({ seq: res.dropped[o], o });
        order.sort((a, b) => (a.seq - b.seq) | 0);
        const views = viewsOf(res.dropped);
        order.forEach(({ o }, j) => {
          if (s.drops[j].known) return;
          const d = this.decode(res.dropped!, o, views);
          release(d.handle);
          this.settleDrop(s.drops[j], d.message);
        });
      }
      for (const { message, op } of s.immediateDrops) this.settleDrop(op, message);
      this.drainDropNotices();
      // pops, in the order they were recorded
      let o = 0;
      const popped = res.popped;
      const views = popped ? viewsOf(popped) : null;
      for (const op of s.pops) {
        const span = op.n * R;
        if (op.known || !popped) {
          o += popped ? span : 0;
          continue;
        }
        if (op.packed) {
          // getManyPacked: the records' words and priorities, no objects
          const batch = extractRecords(popped, o, op.n, this.words);
          o += span;
          op.done = true;
          if (!op.clear) op.resolve?.(batch as T[] & PackedBatch);
          continue;
        }
        const values: T[] = new Array(op.n);
        if (this.schema) {
          const unpack = this.schema.unpack;
          const { u, f, i } = views!;
          for (let j = 0, q = o; j < op.n; j++, q += R) values[j] = unpack(u, f, i, q + 2, u[q + 1]) as T;
        } else {
          const table = this.table;
          for (let j = 0, q = o; j < op.n; j++, q += R) {
            const handle = popped[q + 2];
            const message = table.get(handle);
            if (message === undefined) throw new Error(`ringkernel: device returned unknown handle ${handle} (internal error)`);
            table.delete(handle);
            values[j] = message;
          }
        }
        o += span;
        op.done = true;
        if (!op.clear) op.resolve?.(values as T[] & PackedBatch);
      }
    });
    // adopt the fetched head only if nothing was recorded after this submission
    if (r.peek && pending.logPosition === this.logPosition && this.log.length === 0 && !this.isClosed) {
      const views = viewsOf(r.peek);
      const entries: CacheEntry<T>[] = [];
      for (let o = 0; o < r.peek.length; o += R) {
        const d = this.decode(r.peek, o, views);
        entries.push({ priority: d.priority, seq: d.seq, message: d.message, handle: d.handle });
      }
      this.cache = entries;
      this.cacheComplete = entries.length === this.count;
    }
    if (r.globals[G.ERR] !== 0) {
      throw new Error(`ringkernel: device invariant violated (error flags ${r.globals[G.ERR]})`);
    }
  }

  /**
   * A submission failed (the GPU rejected it, the device was lost) or its result could not be
   * applied: host and device may now disagree about the contents, so the queue fails closed.
   */
  private failPending(pending: Pending<T>, error: unknown): void {
    this.inFlight.delete(pending);
    const lost = isLost(error);
    const err =
      this.brokenError ??
      (lost
        ? new DeviceLostError(`GPU work failed: ${String(error)}`)
        : new GpuQueueError(`ringkernel: the GPU queue is broken (host and device may disagree about its contents): ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
    for (const s of pending.segments) {
      this.undeliver(s.pops, err);
      for (const d of s.drops) this.settleDrop(d, undefined);
    }
    this.drainDropNotices();
    if (!this.brokenError) {
      if (lost) this.onLost(String(error));
      else this.breakWith(err as GpuQueueError);
    }
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
    for (const p of this.inFlight) for (const s of p.segments) for (const d of s.drops) this.settleDrop(d, undefined);
    for (const seg of this.log) for (const d of seg.drops) this.settleDrop(d, undefined);
    this.drainDropNotices();
    for (const p of this.inFlight) for (const s of p.segments) this.undeliver(s.pops, err);
    this.inFlight.clear();
    for (const seg of this.log) this.undeliver(seg.pops, err);
    this.log = [];
    this.logUp = 0;
    this.logOut = 0;
    // the messages are gone (as after close): with the device, or no longer known for certain
    this.count = 0;
    this.deviceSize = 0;
    this.colMsg = [];
    this.colN = 0;
    this.table.clear();
    this.cache = [];
  }
}

function isLost(error: unknown): boolean {
  return error instanceof DeviceLostError || (error instanceof Error && /lost|destroy/i.test(error.message));
}

/**
 * Writes pushes [first, first + n) of the columns at up[at ..] as the push kernel reads them: a
 * stable counting sort by priority, bucket 255 first: BUCKETS counts, then per push
 * [(j << 8) | priority, its W words from `cols` (W per push)]. Returns the end of what it wrote.
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
  if (W === 1) {
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

/** getManyPacked's result from n output records [seq, priority, W words] at rec[o ..]. */
function extractRecords(rec: Uint32Array, o: number, n: number, W: number): PackedBatch {
  const words = new Uint32Array(n * W);
  const priorities = new Uint8Array(n);
  const R = W + 2;
  if (W === 1) {
    for (let j = 0, q = o; j < n; j++, q += 3) {
      priorities[j] = rec[q + 1];
      words[j] = rec[q + 2];
    }
  } else {
    for (let j = 0, q = o, d = 0; j < n; j++, q += R, d += W) {
      priorities[j] = rec[q + 1];
      for (let k = 0; k < W; k++) words[d + k] = rec[q + 2 + k];
    }
  }
  return { count: n, words, priorities };
}

function viewsOf(u: Uint32Array): { u: Uint32Array; f: Float32Array; i: Int32Array } {
  return { u, f: new Float32Array(u.buffer, u.byteOffset, u.length), i: new Int32Array(u.buffer, u.byteOffset, u.length) };
}

/** The priority of an unpacked schema message (unpack always sets it). */
function priorityOfPacked(m: object): number {
  return (m as { priority: number }).priority;
}
