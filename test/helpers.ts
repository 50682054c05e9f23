/** Small helpers shared by the queue test files. */
import type { Queue, QueueStats } from 'ringkernel';

/** The contract's public names that the backend-agnostic suites (contract, model, stress) use. */
export {
  BackpressureStrategy,
  QueueClosedError,
  QueueFullError,
  QueueTimeoutError,
  type Queue,
  type QueueOptions,
  type QueueStats,
} from 'ringkernel';

/** The stats of a queue that has seen no operation. */
export const ZERO_STATS: Readonly<QueueStats> = Object.freeze({ enqueued: 0, dequeued: 0, dropped: 0, rejected: 0, timedOut: 0 });

/** The message shape the tests put into queues: an id to recognise it, an optional priority. */
export interface Msg {
  id: string;
  priority?: number;
}

/** A message with the given id; `priority` undefined leaves the field out (the default, 128). */
export function msg(id: string, priority?: number): Msg {
  return priority === undefined ? { id } : { id, priority };
}

/** The ids of messages (or null for a missing one), to compare with plain arrays of strings. */
export function ids(messages: readonly (Msg | null | undefined)[]): (string | null)[] {
  return messages.map((m) => (m == null ? null : m.id));
}

/** Empties a queue with getNowait, awaiting `settle` before each read; returns the ids in the order they came out. */
export async function drainIds<Q extends Queue<Msg>>(q: Q, settle: (q: Q) => Promise<void>): Promise<string[]> {
  const drained: string[] = [];
  for (;;) {
    await settle(q);
    const m = q.getNowait();
    if (m === null) return drained;
    drained.push(m.id);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Lets every pending promise callback run (one macrotask turn). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The observable state of a promise, updated by handlers attached at once (so no rejection goes unhandled). */
export interface Tracked<V> {
  readonly promise: Promise<V>;
  status: 'pending' | 'fulfilled' | 'rejected';
  value: V | undefined;
  error: unknown;
}

export function track<V>(promise: Promise<V>): Tracked<V> {
  const t: Tracked<V> = { promise, status: 'pending', value: undefined, error: undefined };
  promise.then(
    (value) => {
      t.status = 'fulfilled';
      t.value = value;
    },
    (error: unknown) => {
      t.status = 'rejected';
      t.error = error;
    },
  );
  return t;
}

/**
 * A tiny seeded PRNG (mulberry32), so random tests can be replayed from their seed. The bench's
 * own: tests may depend on bench/ (a plain module, no side effects), never the other way round.
 */
export { mulberry32 as rng } from '../bench/random.js';

/** A random integer in lo..hi (inclusive). */
export function randInt(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}
