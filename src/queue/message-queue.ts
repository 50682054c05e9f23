import { BucketRings } from './bucket-rings.js';
import { BackpressureStrategy, type Queue, type QueueOptions, type QueueStats, type WaitOptions } from './contract.js';
import { QueueClosedError, QueueFullError, QueueTimeoutError } from './errors.js';
import { priorityOf } from './message.js';
import type { Message } from './message.js';
import { WaitList, readWait, type Wait } from './waiters.js';

/** A waiting get (`max` 0) or getMany (`max` ≥ 1). */
interface GetRequest {
  max: number;
}
/** A waiting put or putMany: its messages, their priorities, and how many went in so far. */
interface PutRequest<T> {
  messages: readonly T[];
  priorities: ArrayLike<number>;
  index: number;
  /** Messages of the same putMany that went in before it had to wait. */
  before: number;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Calls a user callback after the queue's state is final. A throwing callback must not turn
 * a completed put into a failed one, so its error is rethrown on its own (an uncaught exception).
 */
export function notify<T>(callback: (value: T) => void, value: T): void {
  try {
    callback(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
const STRATEGIES: readonly string[] = Object.values(BackpressureStrategy);

/** Checks constructor options shared by every backend; returns them with defaults applied. */
export function resolveQueueOptions<T>(options: QueueOptions<T> = {}): Required<Omit<QueueOptions<T>, 'onDrop'>> &
  Pick<QueueOptions<T>, 'onDrop'> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { maxSize = 1000, backpressure = BackpressureStrategy.BLOCK, onDrop } = options;
  if (typeof maxSize !== 'number' || !Number.isSafeInteger(maxSize) || maxSize < 1) {
    throw new RangeError(`maxSize must be a positive integer, got ${String(maxSize)}`);
  }
  if (!STRATEGIES.includes(backpressure)) {
    throw new RangeError(`backpressure must be one of ${STRATEGIES.map((s) => `'${s}'`).join(', ')}, got ${String(backpressure)}`);
  }
  if (onDrop !== undefined && typeof onDrop !== 'function') throw new TypeError('onDrop must be a function');
  return { maxSize, backpressure, onDrop };
}

/** Checks `getMany`'s `max`. */
export function checkMax(max: unknown): number {
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(`max must be a positive integer, got ${String(max)}`);
  }
  return max;
}

/**
 * An in-process priority message queue: priorities 0..255 (higher first), FIFO within a
 * priority, bounded, with BLOCK / REJECT / DROP_OLDEST backpressure and exact waiting
 * semantics. Every operation is O(1) (DROP_OLDEST's eviction is O(number of non-empty
 * priorities), at most 256).
 */
export class MessageQueue<T extends object = Message> implements Queue<T> {
  readonly maxSize: number;
  readonly backpressure: BackpressureStrategy;
  private readonly onDrop: ((message: T) => void) | undefined;
  private readonly rings: BucketRings<T>;
  private readonly getters = new WaitList<T | T[], GetRequest>();
  private readonly putters = new WaitList<void, PutRequest<T>>();
  private isClosed = false;
  private enqueued = 0;
  private dequeued = 0;
  private dropped = 0;
  private rejected = 0;
  private timedOut = 0;

  constructor(options?: QueueOptions<T>) {
    const { maxSize, backpressure, onDrop } = resolveQueueOptions(options);
    this.maxSize = maxSize;
    this.backpressure = backpressure;
    this.onDrop = onDrop;
    this.rings = new BucketRings<T>({ trackAge: backpressure === BackpressureStrategy.DROP_OLDEST });
  }

  get size(): number {
    return this.rings.size;
  }
  get isEmpty(): boolean {
    return this.rings.size === 0;
  }
  get isFull(): boolean {
    return this.rings.size >= this.maxSize;
  }
  get closed(): boolean {
    return this.isClosed;
  }
  get stats(): Readonly<QueueStats> {
    const { enqueued, dequeued, dropped, rejected, timedOut } = this;
    return Object.freeze({ enqueued, dequeued, dropped, rejected, timedOut });
  }

  /** Enqueues at once if it can; false when full and the strategy cannot drop. */
  putNowait(message: T): boolean {
    this.assertOpen();
    const priority = priorityOf(message);
    if (this.rings.size >= this.maxSize) {
      if (this.backpressure !== BackpressureStrategy.DROP_OLDEST) {
        this.rejected++;
        return false;
      }
      this.notifyDrop(this.insertDroppingOldest(priority, message));
      return true;
    }
    this.insert(priority, message);
    return true;
  }

  /** Enqueues; under BLOCK waits for room (FIFO among putters) until `timeout` or `signal`. */
  put(message: T, options?: WaitOptions): Promise<void> {
    try {
      if (this.isClosed) throw new QueueClosedError();
      const priority = priorityOf(message);
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      if (this.rings.size < this.maxSize) {
        this.insert(priority, message);
        return RESOLVED;
      }
      return this.putWhenFull(message, priority, wait);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Enqueues `messages` in order, as if put one by one (REJECT: all or nothing). */
  putMany(messages: readonly T[], options?: WaitOptions): Promise<void> {
    try {
      if (this.isClosed) throw new QueueClosedError();
      if (!Array.isArray(messages)) throw new TypeError('putMany expects an array of messages');
      const priorities = new Uint8Array(messages.length);
      for (let i = 0; i < messages.length; i++) priorities[i] = priorityOf(messages[i]);
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      if (this.backpressure === BackpressureStrategy.REJECT && this.rings.size + messages.length > this.maxSize) {
        this.rejected += messages.length;
        throw new QueueFullError(`queue has room for ${this.maxSize - this.rings.size}, putMany brought ${messages.length}`);
      }
      const request: PutRequest<T> = { messages, priorities, index: 0, before: 0 };
      if (this.fill(request)) return RESOLVED;
      // Keep the rest of the batch, not the caller's array, which the caller may change while we wait.
      const rest = messages.slice(request.index);
      return this.block({ messages: rest, priorities: priorities.subarray(request.index), index: 0, before: request.index }, wait);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Dequeues the most urgent message, or null when empty. */
  getNowait(): T | null {
    this.assertOpen();
    if (this.rings.size === 0) return null;
    return this.take();
  }

  /** Dequeues the most urgent message, waiting while the queue is empty. */
  get(options?: WaitOptions): Promise<T> {
    try {
      if (this.isClosed) throw new QueueClosedError();
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      if (this.rings.size > 0) return Promise.resolve(this.take());
      return this.waitForMessages(0, wait) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Dequeues min(max, size) messages in priority order, waiting only while the queue is empty. */
  getMany(max: number, options?: WaitOptions): Promise<T[]> {
    try {
      if (this.isClosed) throw new QueueClosedError();
      checkMax(max);
      const wait = readWait(options);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      if (this.rings.size > 0) return Promise.resolve(this.takeMany(max));
      return this.waitForMessages(max, wait) as Promise<T[]>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The message the next get would return, without removing it. */
  peek(): T | null {
    this.assertOpen();
    return this.rings.peek() ?? null;
  }

  /** Removes every message (not counted as dequeued or dropped) and admits blocked putters. */
  clear(): number {
    this.assertOpen();
    const removed = this.rings.clear();
    this.admitPutters();
    return removed;
  }

  /** Rejects every waiting operation with QueueClosedError and discards the messages. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.rings.clear();
    const closedError = () => new QueueClosedError('queue was closed while the operation waited');
    this.getters.rejectAll(closedError);
    this.putters.rejectAll(closedError);
  }

  private assertOpen(): void {
    if (this.isClosed) throw new QueueClosedError();
  }

  /** Adds a message to a queue with room, then serves any waiting getter. */
  private insert(priority: number, message: T): void {
    this.rings.push(priority, message);
    this.enqueued++;
    if (this.getters.length !== 0) this.serveGetters();
  }

  /** Evicts the longest-queued message to make room; returns it for `notifyDrop` once the call is done. */
  private insertDroppingOldest(priority: number, message: T): T {
    const evicted = this.rings.shiftOldest();
    this.dropped++;
    this.insert(priority, message);
    return evicted;
  }

  private notifyDrop(evicted: T): void {
    if (this.onDrop !== undefined) notify(this.onDrop, evicted);
  }

  private take(): T {
    const message = this.rings.shift();
    this.dequeued++;
    if (this.putters.length !== 0) this.admitPutters();
    return message;
  }

  private takeMany(max: number): T[] {
    const count = Math.min(max, this.rings.size);
    const out = new Array<T>(count);
    for (let i = 0; i < count; i++) out[i] = this.rings.shift();
    this.dequeued += count;
    if (this.putters.length !== 0) this.admitPutters();
    return out;
  }

  /** Getters wait only on an empty queue, so each insertion serves them at once, oldest first. */
  private serveGetters(): void {
    while (this.rings.size !== 0) {
      const waiter = this.getters.shift();
      if (waiter === null) return;
      const { max } = waiter.data;
      waiter.resolve(max === 0 ? this.take() : this.takeMany(max));
    }
  }

  private putWhenFull(message: T, priority: number, wait: Wait | undefined): Promise<void> {
    if (this.backpressure === BackpressureStrategy.DROP_OLDEST) {
      this.notifyDrop(this.insertDroppingOldest(priority, message));
      return RESOLVED;
    }
    if (this.backpressure === BackpressureStrategy.REJECT) {
      this.rejected++;
      return Promise.reject(new QueueFullError());
    }
    return this.block({ messages: [message], priorities: [priority], index: 0, before: 0 }, wait);
  }

  /**
   * Inserts the request's remaining messages while there is room (DROP_OLDEST: always).
   * Returns true when all are in.
   */
  private fill(request: PutRequest<T>): boolean {
    const { messages, priorities } = request;
    const dropping = this.backpressure === BackpressureStrategy.DROP_OLDEST;
    let evicted: T[] | undefined;
    while (request.index < messages.length) {
      const i = request.index;
      if (this.rings.size < this.maxSize) this.insert(priorities[i], messages[i]);
      else if (dropping) (evicted ??= []).push(this.insertDroppingOldest(priorities[i], messages[i]));
      else return false;
      request.index = i + 1;
    }
    // onDrop runs once the whole batch is in, so it sees the queue's final state.
    if (evicted !== undefined) for (const m of evicted) this.notifyDrop(m);
    return true;
  }

  private block(request: PutRequest<T>, wait: Wait | undefined): Promise<void> {
    if (wait?.timeout === 0) {
      this.timedOut++;
      return Promise.reject(this.fullError(request));
    }
    return this.putters.wait(request, wait, (waiter) => {
      this.timedOut++;
      return this.fullError(waiter.data);
    }).promise;
  }

  private fullError(request: PutRequest<T>): QueueFullError {
    const accepted = request.before + request.index;
    const total = request.before + request.messages.length;
    return total === 1
      ? new QueueFullError('queue is full: put timed out')
      : new QueueFullError(`queue is full: putMany timed out after ${accepted} of ${total} messages`, accepted);
  }

  /** Lets blocked putters in, oldest first, while there is room. */
  private admitPutters(): void {
    for (let waiter = this.putters.head; waiter !== null; waiter = this.putters.head) {
      if (!this.fill(waiter.data)) return;
      this.putters.shift();
      waiter.resolve();
    }
  }

  private waitForMessages(max: number, wait: Wait | undefined): Promise<T | T[]> {
    if (wait?.timeout === 0) {
      this.timedOut++;
      return Promise.reject(new QueueTimeoutError());
    }
    return this.getters.wait({ max }, wait, (): QueueTimeoutError => {
      this.timedOut++;
      return new QueueTimeoutError(`no message arrived within ${wait?.timeout} ms`);
    }).promise;
  }
}

