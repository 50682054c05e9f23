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

/** setTimeout fires at once above this; longer waits re-arm in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Waiter<R, D> {
  prev: Waiter<R, D> | null = null;
  next: Waiter<R, D> | null = null;
  /** The list this waiter is linked into, or null once it has left it. */
  list: WaitList<R, D> | null = null;
  readonly promise: Promise<R>;
  private resolveFn!: (value: R) => void;
  private rejectFn!: (reason: unknown) => void;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private signal: AbortSignal | undefined;

  constructor(public data: D) {
    this.promise = new Promise<R>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
  }

  /** Settles with a value. The caller has unlinked the waiter (shift/remove). */
  resolve(value: R): void {
    this.disarm();
    this.resolveFn(value);
  }

  /** Settles with an error. The caller has unlinked the waiter (shift/remove). */
  reject(reason: unknown): void {
    this.disarm();
    this.rejectFn(reason);
  }

  /** Starts the timeout and abort watch. `onTimeout` runs after the waiter is unlinked and gives the error. */
  arm(options: WaitOptions | undefined, onTimeout: (waiter: Waiter<R, D>) => unknown): void {
    const timeout = options?.timeout;
    if (timeout !== undefined && timeout !== Infinity) {
      const deadline = performance.now() + timeout;
      const fire = (): void => {
        const left = deadline - performance.now();
        if (left > 1) {
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
    const signal = options?.signal;
    if (signal !== undefined) {
      this.signal = signal;
      signal.addEventListener('abort', this.onAbort, { once: true });
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
  wait(data: D, options: WaitOptions | undefined, onTimeout: (waiter: Waiter<R, D>) => unknown): Waiter<R, D> {
    const waiter = new Waiter<R, D>(data);
    waiter.list = this;
    waiter.prev = this.tail;
    if (this.tail === null) this.head = waiter;
    else this.tail.next = waiter;
    this.tail = waiter;
    this.length++;
    waiter.arm(options, onTimeout);
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
 * Checks the options of a waiting operation. Returns the rejection to use at once when the
 * signal is already aborted, otherwise undefined. Throws on bad options.
 */
export function checkWaitOptions(options: WaitOptions | undefined): { reason: unknown } | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { timeout, signal } = options;
  if (timeout !== undefined) {
    if (typeof timeout !== 'number') throw new TypeError(`timeout must be a number of milliseconds, got ${typeof timeout}`);
    if (!(timeout >= 0)) throw new RangeError(`timeout must be >= 0 milliseconds, got ${timeout}`);
  }
  if (signal !== undefined) {
    if (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean') {
      throw new TypeError('signal must be an AbortSignal');
    }
    if (signal.aborted) return { reason: signal.reason };
  }
  return undefined;
}
