/**
 * The queue contract shared by every backend (CPU `MessageQueue`, GPU `GpuMessageQueue`).
 * Semantics are documented in README.md ("Semantics") and pinned down by test/contract.ts.
 */

/** What a queue does when a message arrives and it holds `maxSize` messages already. */
export const BackpressureStrategy = {
  /** `put` waits for room (FIFO among waiting putters); `putNowait` returns false. */
  BLOCK: 'block',
  /** `put` rejects with `QueueFullError` at once; `putNowait` returns false. */
  REJECT: 'reject',
  /** The message that has been in the queue longest, whatever its priority, is dropped to make room. */
  DROP_OLDEST: 'drop',
} as const;
export type BackpressureStrategy = (typeof BackpressureStrategy)[keyof typeof BackpressureStrategy];

/** Priority of a message without a `priority` field. */
export const DEFAULT_PRIORITY = 128;
export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 255;

export interface QueueOptions<T> {
  /** Capacity, a positive integer. Default 1000. */
  maxSize?: number;
  /** Default `BackpressureStrategy.BLOCK`. */
  backpressure?: BackpressureStrategy;
  /** Called with each message that DROP_OLDEST evicts, after it left the queue. */
  onDrop?: (message: T) => void;
}

export interface WaitOptions {
  /** Milliseconds to wait at most; `0` means do not wait. Absent or `Infinity`: wait as long as it takes. */
  timeout?: number;
  /** Aborting rejects the operation with `signal.reason` and leaves the queue as if it had not been called. */
  signal?: AbortSignal;
}

export interface QueueStats {
  /** Messages accepted into the queue (each counted once, whether later delivered, dropped or cleared). */
  enqueued: number;
  /** Messages handed to a consumer by `get`, `getNowait` or `getMany`. */
  dequeued: number;
  /** Messages evicted by DROP_OLDEST. */
  dropped: number;
  /** Messages refused because the queue was full (REJECT `put`/`putMany`, or `putNowait` returning false). */
  rejected: number;
  /** Operations (`put`, `putMany`, `get`, `getMany`) that ended because their timeout passed. */
  timedOut: number;
}

/** Anything a queue can carry: an object, optionally with an integer `priority` in 0..255. */
export type Prioritized = object & { priority?: number };

/** The members every backend implements, with the same semantics. */
export interface Queue<T extends object> {
  put(message: T, options?: WaitOptions): Promise<void>;
  get(options?: WaitOptions): Promise<T>;
  putNowait(message: T): boolean;
  getNowait(): T | null;
  peek(): T | null;
  clear(): number;
  putMany(messages: readonly T[], options?: WaitOptions): Promise<void>;
  getMany(max: number, options?: WaitOptions): Promise<T[]>;
  readonly size: number;
  readonly maxSize: number;
  readonly isEmpty: boolean;
  readonly isFull: boolean;
  readonly stats: Readonly<QueueStats>;
  readonly closed: boolean;
  close(): void | Promise<void>;
}
