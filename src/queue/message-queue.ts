import { BucketRings } from './bucket-rings.js';
import { BackpressureQueue, RESOLVED, checkMax } from './backpressure.js';
import { notify } from './notify.js';
import { BackpressureStrategy, type Queue, type QueueOptions, type WaitOptions } from './contract.js';
import { QueueClosedError } from './errors.js';
import { priorityOf } from './message.js';
import type { Message } from './message.js';
import { readWait } from './waiters.js';

/**
 * An in-process priority message queue: priorities 0..255 (higher first), FIFO within a
 * priority, bounded, with BLOCK / REJECT / DROP_OLDEST backpressure and exact waiting
 * semantics. Every operation is O(1) (DROP_OLDEST's eviction amortized).
 */
export class MessageQueue<T extends object = Message> extends BackpressureQueue<T, T> implements Queue<T> {
  private readonly rings: BucketRings<T>;

  constructor(options?: QueueOptions<T>) {
    super(options);
    this.rings = new BucketRings<T>({ trackAge: this.backpressure === BackpressureStrategy.DROP_OLDEST });
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

  /** Enqueues at once if it can; false when full and the strategy cannot drop. */
  putNowait(message: T): boolean {
    this.assertOpen();
    const priority = priorityOf(message);
    if (this.rings.size >= this.maxSize) return this.putNowaitWhenFull(priority, message);
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
      return this.putBatch(messages, priorities, wait);
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
    this.rejectWaiters();
  }

  private assertOpen(): void {
    if (this.isClosed) throw new QueueClosedError();
  }

  protected insert(priority: number, message: T): void {
    this.rings.push(priority, message);
    this.enqueued++;
    if (this.getters.length !== 0) this.serveGetters();
  }

  protected insertBatch(messages: readonly T[], priorities: ArrayLike<number>, from: number): void {
    const rings = this.rings;
    for (let i = from; i < messages.length; i++) rings.push(priorities[i], messages[i]);
    this.enqueued += messages.length - from;
  }

  protected insertDroppingOldest(priority: number, message: T): T {
    const evicted = this.rings.shiftOldest();
    this.dropped++;
    this.insert(priority, message);
    return evicted;
  }

  protected notifyDrop(evicted: T): void {
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

  /**
   * @internal Takes the n (<= size) most urgent messages without admitting blocked putters:
   * a ring kernel's tick, which admits them (wake) once the whole tick is done.
   */
  takeQuietly(n: number): T[] {
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = this.rings.shift();
    this.dequeued += n;
    return out;
  }

  /** @internal Inserts messages that fit (a tick's outputs) without serving waiting getters until wake(). */
  insertQuietly(messages: readonly T[], priorities: ArrayLike<number>): void {
    this.insertBatch(messages, priorities, 0);
  }

  /**
   * @internal Counts `n` messages as enqueued and dequeued without storing them: a tick handed
   * them from one kernel to the next while this queue was empty, so they would have gone in and
   * straight out again with nothing able to observe them in between.
   */
  countPassedThrough(n: number): void {
    this.enqueued += n;
    this.dequeued += n;
  }

  /** @internal After a tick: waiting getters are served (the most urgent first), then blocked putters admitted. */
  wake(): void {
    if (this.getters.length !== 0) this.serveGetters();
    if (this.putters.length !== 0) this.admitPutters();
  }

  protected takeForGetter(max: number): T | T[] {
    return max === 0 ? this.take() : this.takeMany(max);
  }
}
