/**
 * The host side of the queue contract that every backend shares: option checks, the waiting
 * rules (BLOCK putters and waiting getters, each FIFO), the errors a wait ends with, and stats.
 *
 * A backend extends `BackpressureQueue` and supplies its storage (size, insert one, insert a
 * batch, insert evicting the oldest, take for a getter). Only the slow paths live here: a
 * backend keeps its own putNowait/getNowait/put/get fast paths, so their call sites stay
 * monomorphic; they call in here only to wait, to admit putters or to serve getters.
 */
import { BackpressureStrategy, type QueueOptions, type QueueStats } from './contract.js';
import { QueueClosedError, QueueFullError, QueueTimeoutError } from './errors.js';
import { WaitList, type Wait } from './waiters.js';

/** A waiting get (`max` 0) or getMany (`max` ≥ 1). */
export interface GetRequest {
  max: number;
}
/**
 * The messages of a putMany as the shared batch path reads them: an array, or a backend's own
 * batch with the same members (the GPU queue's packed words: no object per message).
 */
export interface MessageBatch<T> {
  readonly length: number;
  /** Message i; read only on the per-message slow path (a full queue, a waiting getter). */
  at(i: number): T | undefined;
  /** A copy of messages [from, length): the rest of a batch that must wait (the caller may reuse its own). */
  slice(from: number): MessageBatch<T>;
}

/** A waiting put or putMany: its messages, their priorities, and how many went in so far. */
export interface PutRequest<T> {
  messages: MessageBatch<T>;
  priorities: ArrayLike<number>;
  index: number;
  /** Messages of the same putMany that went in before it had to wait. */
  before: number;
}

export const RESOLVED: Promise<void> = Promise.resolve();

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

/** The error of a blocked put/putMany whose wait ran out: how many of its messages went in. */
function fullError<T>(request: PutRequest<T>): QueueFullError {
  const accepted = request.before + request.index;
  const total = request.before + request.messages.length;
  return total === 1
    ? new QueueFullError('queue is full: put timed out')
    : new QueueFullError(`queue is full: putMany timed out after ${accepted} of ${total} messages`, accepted);
}

const closedWhileWaiting = (): QueueClosedError => new QueueClosedError('queue was closed while the operation waited');

/**
 * The contract's bookkeeping and waiting machinery over a backend's storage.
 * `D` is what evicting the oldest message yields for `notifyDrop` (the message itself, or a
 * backend's note of it when the message is only known later).
 */
export abstract class BackpressureQueue<T extends object, D> {
  readonly maxSize: number;
  readonly backpressure: BackpressureStrategy;
  protected readonly onDrop: ((message: T) => void) | undefined;
  protected readonly getters = new WaitList<T | T[], GetRequest>();
  protected readonly putters = new WaitList<void, PutRequest<T>>();
  protected isClosed = false;
  protected enqueued = 0;
  protected dequeued = 0;
  protected dropped = 0;
  protected rejected = 0;
  protected timedOut = 0;

  /** @internal Whether a put or putMany waits for room (a later put then waits behind it). */
  get hasWaitingPutters(): boolean {
    return this.putters.length !== 0;
  }

  constructor(options: QueueOptions<T> | undefined) {
    const { maxSize, backpressure, onDrop } = resolveQueueOptions(options);
    this.maxSize = maxSize;
    this.backpressure = backpressure;
    this.onDrop = onDrop;
  }

  abstract get size(): number;

  get closed(): boolean {
    return this.isClosed;
  }
  get stats(): Readonly<QueueStats> {
    const { enqueued, dequeued, dropped, rejected, timedOut } = this;
    return Object.freeze({ enqueued, dequeued, dropped, rejected, timedOut });
  }

  // ------------------------------------------------------------ what the storage provides
  /** Adds one message to a queue with room (counted as enqueued), then serves any waiting getter. */
  protected abstract insert(priority: number, message: T): void;
  /** insert() for messages[from ..], called only when all of them fit and no getter waits. */
  protected abstract insertBatch(messages: MessageBatch<T>, priorities: ArrayLike<number>, from: number): void;
  /** DROP_OLDEST on a full queue: evicts the longest-queued message, then inserts; returns it for `notifyDrop`. */
  protected abstract insertDroppingOldest(priority: number, message: T): D;
  /** Runs onDrop for an eviction, once the call that caused it is done. */
  protected abstract notifyDrop(evicted: D): void;
  /** Takes what a waiting getter gets (`max` 0: one message, else min(max, size)); the queue is not empty. */
  protected abstract takeForGetter(max: number): T | T[] | Promise<T | T[]>;

  // ------------------------------------------------------------ full queue, waiting (slow paths)
  /** putNowait on a full queue: DROP_OLDEST evicts, the others refuse. */
  protected putNowaitWhenFull(priority: number, message: T): boolean {
    if (this.backpressure !== BackpressureStrategy.DROP_OLDEST) {
      this.rejected++;
      return false;
    }
    this.notifyDrop(this.insertDroppingOldest(priority, message));
    return true;
  }

  /** put on a full queue: DROP_OLDEST evicts, REJECT fails, BLOCK waits. */
  protected putWhenFull(message: T, priority: number, wait: Wait | undefined): Promise<void> {
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

  /** putMany once its messages are checked: in order, as if put one by one (REJECT: all or nothing). */
  protected putBatch(messages: MessageBatch<T>, priorities: Uint8Array, wait: Wait | undefined): Promise<void> {
    if (this.backpressure === BackpressureStrategy.REJECT && this.size + messages.length > this.maxSize) {
      this.rejected += messages.length;
      throw new QueueFullError(`queue has room for ${this.maxSize - this.size}, putMany brought ${messages.length}`);
    }
    const request: PutRequest<T> = { messages, priorities, index: 0, before: 0 };
    if (this.fill(request)) return RESOLVED;
    // Keep the rest of the batch, not the caller's array, which the caller may change while we wait.
    const rest = messages.slice(request.index);
    return this.block({ messages: rest, priorities: priorities.subarray(request.index), index: 0, before: request.index }, wait);
  }

  /**
   * Inserts the request's remaining messages while there is room (DROP_OLDEST: always).
   * Returns true when all are in.
   */
  private fill(request: PutRequest<T>): boolean {
    const { messages, priorities } = request;
    const rest = messages.length - request.index;
    if (rest > 1 && this.size + rest <= this.maxSize && this.getters.length === 0) {
      // Everything fits and nobody waits: one batch, no per-message calls.
      this.insertBatch(messages, priorities, request.index);
      request.index = messages.length;
      return true;
    }
    const dropping = this.backpressure === BackpressureStrategy.DROP_OLDEST;
    // an array is indexed directly (as before); another batch yields its messages through at()
    const array = Array.isArray(messages) ? (messages as readonly T[]) : undefined;
    let evicted: D[] | undefined;
    while (request.index < messages.length) {
      const i = request.index;
      const message = array !== undefined ? array[i] : (messages.at(i) as T);
      if (this.size < this.maxSize) this.insert(priorities[i], message);
      else if (dropping) (evicted ??= []).push(this.insertDroppingOldest(priorities[i], message));
      else return false;
      request.index = i + 1;
    }
    // onDrop runs once the whole batch is in, so it sees the queue's final state.
    if (evicted !== undefined) for (const d of evicted) this.notifyDrop(d);
    return true;
  }

  private block(request: PutRequest<T>, wait: Wait | undefined): Promise<void> {
    if (wait?.timeout === 0) {
      this.timedOut++;
      return Promise.reject(fullError(request));
    }
    return this.putters.wait(request, wait, (waiter) => {
      this.timedOut++;
      return fullError(waiter.data);
    }).promise;
  }

  /** Lets blocked putters in, oldest first, while there is room. */
  protected admitPutters(): void {
    for (let waiter = this.putters.head; waiter !== null; waiter = this.putters.head) {
      if (!this.fill(waiter.data)) return;
      this.putters.shift();
      waiter.resolve();
    }
  }

  /** Getters wait only on an empty queue, so each insertion serves them at once, oldest first. */
  protected serveGetters(): void {
    while (this.size !== 0) {
      const waiter = this.getters.shift();
      if (waiter === null) return;
      waiter.resolve(this.takeForGetter(waiter.data.max));
    }
  }

  /** get (`max` 0) or getMany on an empty queue: waits for a message until `timeout` or `signal`. */
  protected waitForMessages(max: number, wait: Wait | undefined): Promise<T | T[]> {
    if (wait?.timeout === 0) {
      this.timedOut++;
      return Promise.reject(new QueueTimeoutError());
    }
    return this.getters.wait({ max }, wait, (): QueueTimeoutError => {
      this.timedOut++;
      return new QueueTimeoutError(`no message arrived within ${wait?.timeout} ms`);
    }).promise;
  }

  /** Rejects every waiting getter and putter, oldest first; by default with the error for close(). */
  protected rejectWaiters(reason: () => unknown = closedWhileWaiting): void {
    this.getters.rejectAll(reason);
    this.putters.rejectAll(reason);
  }

  /** @internal Rejects the waiting putters with `putError` and the waiting getters with `getError` (the queue stays open). */
  failWaiters(putError: Error, getError: Error): void {
    this.putters.rejectAll(() => putError);
    this.getters.rejectAll(() => getError);
  }
}
