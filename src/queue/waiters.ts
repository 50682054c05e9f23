/**
 * FIFO lists of pending operations (getters waiting for a message, putters waiting for room),
 * shared by every queue backend.
 *
 * A waiter settles exactly once: by the queue (`resolve`), by its timeout, by its abort
 * signal, or by `rejectAll` when the queue closes. Timeout and abort first unlink it, so a
 * waiter that gave up can never be handed a message afterwards: nothing is taken twice and
 * nothing is lost.
 */
import type { WaitOptions } from './contract.js';

/** Wait options read once and checked; what the waiter lists use. */
export interface Wait {
  readonly timeout?: number;
  readonly signal?: AbortSignal;
}

/** setTimeout fires at once above this; longer waits re-arm in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Waiter<R, D> {
  prev: Waiter<R, D> | null = null;
  next: Waiter<R, D> | null = null;
  /** The list this waiter is linked into, or null once it has left it. */
  list: WaitList<R, D> | null = null;
  readonly promise: Promise<R>;
  private resolveFn!: (value: R | PromiseLike<R>) => void;
  private rejectFn!: (reason: unknown) => void;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private signal: AbortSignal | undefined;

  constructor(public data: D) {
    this.promise = new Promise<R>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
  }

  /** Settles with a value (or a promise of one). The caller has unlinked the waiter (shift/remove). */
  resolve(value: R | PromiseLike<R>): void {
    this.disarm();
    this.resolveFn(value);
  }

  /** Settles with an error. The caller has unlinked the waiter (shift/remove). */
  reject(reason: unknown): void {
    this.disarm();
    this.rejectFn(reason);
  }

  /** Starts the timeout and abort watch. `onTimeout` runs after the waiter is unlinked and gives the error. */
  arm(wait: Wait | undefined, onTimeout: (waiter: Waiter<R, D>) => unknown): void {
    if (wait === undefined) return;
    const { timeout, signal } = wait;
    if (signal !== undefined) {
      this.signal = signal;
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
    if (timeout !== undefined && timeout !== Infinity) {
      const deadline = performance.now() + timeout;
      const fire = (): void => {
        const left = deadline - performance.now();
        if (left > 0) {
          this.timer = setTimeout(fire, Math.min(left, MAX_TIMER_MS));
          return;
        }
        this.timer = undefined;
        if (this.list === null) return;
        this.list.remove(this);
        this.reject(onTimeout(this));
      };
      this.timer = setTimeout(fire, Math.min(timeout, MAX_TIMER_MS));
    }
  }

  private readonly onAbort = (): void => {
    if (this.list === null) return;
    this.list.remove(this);
    this.reject(this.signal!.reason);
  };

  private disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.signal !== undefined) {
      this.signal.removeEventListener('abort', this.onAbort);
      this.signal = undefined;
    }
  }
}

/** A doubly linked FIFO: O(1) append, shift and removal from the middle (timeouts, aborts). */
export class WaitList<R, D> {
  length = 0;
  head: Waiter<R, D> | null = null;
  private tail: Waiter<R, D> | null = null;

  /** Appends a new waiter and arms its timeout/abort; returns it. */
  wait(data: D, wait: Wait | undefined, onTimeout: (waiter: Waiter<R, D>) => unknown): Waiter<R, D> {
    const waiter = new Waiter<R, D>(data);
    waiter.arm(wait, onTimeout);
    waiter.list = this;
    waiter.prev = this.tail;
    if (this.tail === null) this.head = waiter;
    else this.tail.next = waiter;
    this.tail = waiter;
    this.length++;
    return waiter;
  }

  /** Unlinks and returns the oldest waiter (not settled: the caller settles it). */
  shift(): Waiter<R, D> | null {
    const waiter = this.head;
    if (waiter !== null) this.remove(waiter);
    return waiter;
  }

  remove(waiter: Waiter<R, D>): void {
    if (waiter.list !== this) return;
    if (waiter.prev === null) this.head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === null) this.tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = null;
    waiter.list = null;
    this.length--;
  }

  /** Unlinks and rejects every waiter, oldest first. */
  rejectAll(reason: () => unknown): void {
    for (let w = this.shift(); w !== null; w = this.shift()) w.reject(reason());
  }
}

/**
 * Reads the options of a waiting operation once (a getter on them runs once) and checks them.
 * Returns undefined for no options. Throws on bad options.
 */
export function readWait(options: WaitOptions | undefined): Wait | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { timeout, signal } = options;
  if (timeout !== undefined) {
    if (typeof timeout !== 'number') throw new TypeError(`timeout must be a number of milliseconds, got ${typeof timeout}`);
    if (!(timeout >= 0)) throw new RangeError(`timeout must be >= 0 milliseconds, got ${timeout}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  return { timeout, signal };
}
