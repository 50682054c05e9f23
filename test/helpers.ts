/** Small helpers shared by the queue test files. */

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

/** A tiny seeded PRNG (mulberry32), so random tests can be replayed from their seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random integer in lo..hi (inclusive). */
export function randInt(random: () => number, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}
