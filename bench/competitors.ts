/**
 * Adapters: ringkernel's MessageQueue and the priority queues a Node user would pick instead.
 *
 * Every heap is made *stable* (FIFO within a priority, as MessageQueue is): it orders by
 * (priority desc, insertion seq asc), and the adapter stamps `seq` on each push. That stamp is part
 * of the honest cost of getting MessageQueue's ordering from a heap.
 *
 * The timed loops are written out per implementation on purpose. A shared loop calling
 * `adapter.push(m)` would see six receiver types at one call site, go megamorphic in V8 and slow
 * every implementation down by a different amount; a loop per implementation stays monomorphic.
 */
import FastPriorityQueue from 'fastpriorityqueue';
import FlatQueue from 'flatqueue';
import { Heap } from 'heap-js';
import PQueue, { PriorityQueue } from 'p-queue';
import TinyQueue from 'tinyqueue';
import { MessageQueue } from 'ringkernel';
import type { ImplKind } from './harness.js';
import { PRIORITY_MASK } from './random.js';

/** The benchmark message. Preallocated; the loops reuse the message a get returned for the next put. */
export interface Msg {
  priority: number;
  /** Insertion stamp written by the heap adapters (ignored by MessageQueue and p-queue). */
  seq: number;
}

export function newMsg(priority: number): Msg {
  return { priority, seq: 0 };
}

/**
 * Per-case input state of the timed loops. A loop puts `spare` (with the next table priority) and
 * keeps the message its get returned as the next `spare`: that message is guaranteed not to be in the
 * queue, so messages can be reused without any allocation or double insertion.
 */
export interface Feed {
  prios: Uint8Array;
  /** Cursor into `prios`. */
  k: number;
  spare: Msg;
  /** Batch workloads: the messages of the next batch (refilled by the gets of the previous one). */
  batch: Msg[];
}

/** A queue instance with untimed helpers (prefill, order check) and its timed loops. */
export interface Handle {
  /** Untimed insert, for prefill and the order check. */
  put(m: Msg): void;
  /** Untimed remove; null when empty. */
  get(): Msg | null;
  /** Untimed bulk insert; defaults to `put` each. */
  prefill?(ms: readonly Msg[]): void;
  /** `n` put+get pairs with sync calls. */
  syncPairs?(f: Feed, n: number): void;
  /** `n` put+get pairs, each call awaited. */
  asyncPairs?(f: Feed, n: number): Promise<void>;
  /** One batch: put all of `f.batch`, then get as many back into `f.batch`. */
  batch?(f: Feed): void | Promise<void>;
  /** Whether `batch` returns a promise. */
  batchAsync?: boolean;
}

export interface Competitor {
  /** Package name, e.g. 'heap-js'. */
  impl: string;
  kind: ImplKind;
  /** What each capability calls, for the table legend. */
  api: { sync?: string; async?: string; batch?: string };
  /** An empty queue that can hold at least `capacity` messages. */
  create(capacity: number): Handle;
}

/** Stable order for comparator-based heaps: higher priority first, then earlier insertion. */
const byPriorityThenSeq = (a: Msg, b: Msg): number => b.priority - a.priority || a.seq - b.seq;

/** flatqueue pops the smallest number: (255 - priority) * 2^32 + seq is exact in a double (< 2^40). */
const TWO_32 = 4294967296;

export const ringkernel: Competitor = {
  impl: 'ringkernel',
  kind: 'ringkernel',
  api: {
    sync: 'MessageQueue putNowait(m) / getNowait()',
    async: 'MessageQueue await put(m) / await get()',
    batch: 'MessageQueue await putMany(batch) / await getMany(n)',
  },
  create(capacity) {
    const q = new MessageQueue<Msg>({ maxSize: capacity });
    return {
      put(m) {
        if (!q.putNowait(m)) throw new Error('ringkernel: prefill exceeded maxSize');
      },
      get: () => q.getNowait(),
      syncPairs(f, n) {
        const queue = q;
        const prios = f.prios;
        let k = f.k;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          queue.putNowait(m);
          m = queue.getNowait()!;
        }
        f.k = k;
        f.spare = m;
      },
      async asyncPairs(f, n) {
        const queue = q;
        const prios = f.prios;
        let k = f.k;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          await queue.put(m);
          m = await queue.get();
        }
        f.k = k;
        f.spare = m;
      },
      batchAsync: true,
      async batch(f) {
        const b = f.batch;
        const prios = f.prios;
        let k = f.k;
        for (let i = 0; i < b.length; i++) b[i].priority = prios[k++ & PRIORITY_MASK];
        f.k = k;
        await q.putMany(b);
        f.batch = await q.getMany(b.length);
      },
    };
  },
};

/** The same MessageQueue driven by single-message calls, to show what the batch API saves. */
export const ringkernelLoop: Competitor = {
  impl: 'ringkernel',
  kind: 'ringkernel',
  api: { batch: 'MessageQueue putNowait(m) x n, then getNowait() x n' },
  create(capacity) {
    const q = new MessageQueue<Msg>({ maxSize: capacity });
    return {
      put(m) {
        if (!q.putNowait(m)) throw new Error('ringkernel: prefill exceeded maxSize');
      },
      get: () => q.getNowait(),
      batch(f) {
        const queue = q;
        const b = f.batch;
        const prios = f.prios;
        let k = f.k;
        for (let i = 0; i < b.length; i++) {
          const m = b[i];
          m.priority = prios[k++ & PRIORITY_MASK];
          queue.putNowait(m);
        }
        for (let i = 0; i < b.length; i++) b[i] = queue.getNowait()!;
        f.k = k;
      },
    };
  },
};

export const tinyqueue: Competitor = {
  impl: 'tinyqueue',
  kind: 'heap',
  api: {
    sync: 'push(m) / pop(), comparator (priority desc, seq asc)',
    async: 'push/pop inside async put()/get() wrappers, each awaited',
    batch: 'push(m) x n, then pop() x n',
  },
  create() {
    const q = new TinyQueue<Msg>([], byPriorityThenSeq);
    let seq = 0;
    const aput = async (m: Msg): Promise<void> => {
      m.seq = seq++;
      q.push(m);
    };
    const aget = async (): Promise<Msg> => q.pop()!;
    return {
      put(m) {
        m.seq = seq++;
        q.push(m);
      },
      get: () => q.pop() ?? null,
      syncPairs(f, n) {
        const queue = q;
        const prios = f.prios;
        let k = f.k;
        let s = seq;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          m.seq = s++;
          queue.push(m);
          m = queue.pop()!;
        }
        seq = s;
        f.k = k;
        f.spare = m;
      },
      async asyncPairs(f, n) {
        const prios = f.prios;
        let k = f.k;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          await aput(m);
          m = await aget();
        }
        f.k = k;
        f.spare = m;
      },
      batch(f) {
        const queue = q;
        const b = f.batch;
        const prios = f.prios;
        let k = f.k;
        let s = seq;
        for (let i = 0; i < b.length; i++) {
          const m = b[i];
          m.priority = prios[k++ & PRIORITY_MASK];
          m.seq = s++;
          queue.push(m);
        }
        for (let i = 0; i < b.length; i++) b[i] = queue.pop()!;
        seq = s;
        f.k = k;
      },
    };
  },
};

export const heapJs: Competitor = {
  impl: 'heap-js',
  kind: 'heap',
  api: {
    sync: 'add(m) / pop(), comparator (priority desc, seq asc)',
    async: 'add/pop inside async put()/get() wrappers, each awaited',
    batch: 'add(m) x n, then pop() x n',
  },
  create() {
    // add() is heap-js's single-element insert; push(...elements) is the varargs form around it.
    const q = new Heap<Msg>(byPriorityThenSeq);
    let seq = 0;
    const aput = async (m: Msg): Promise<void> => {
      m.seq = seq++;
      q.add(m);
    };
    const aget = async (): Promise<Msg> => q.pop()!;
    return {
      put(m) {
        m.seq = seq++;
        q.add(m);
      },
      get: () => q.pop() ?? null,
      syncPairs(f, n) {
        const queue = q;
        const prios = f.prios;
        let k = f.k;
        let s = seq;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          m.seq = s++;
          queue.add(m);
          m = queue.pop()!;
        }
        seq = s;
        f.k = k;
        f.spare = m;
      },
      async asyncPairs(f, n) {
        const prios = f.prios;
        let k = f.k;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          await aput(m);
          m = await aget();
        }
        f.k = k;
        f.spare = m;
      },
      batch(f) {
        const queue = q;
        const b = f.batch;
        const prios = f.prios;
        let k = f.k;
        let s = seq;
        for (let i = 0; i < b.length; i++) {
          const m = b[i];
          m.priority = prios[k++ & PRIORITY_MASK];
          m.seq = s++;
          queue.add(m);
        }
        for (let i = 0; i < b.length; i++) b[i] = queue.pop()!;
        seq = s;
        f.k = k;
      },
    };
  },
};

export const flatqueue: Competitor = {
  impl: 'flatqueue',
  kind: 'heap',
  api: {
    sync: 'push(m, (255-priority)*2^32+seq) / pop()',
    async: 'push/pop inside async put()/get() wrappers, each awaited',
    batch: 'push(m, key) x n, then pop() x n',
  },
  create() {
    // Growable (array-backed) form: the fixed-capacity form stores ids in typed arrays, not objects.
    const q = new FlatQueue<Msg>();
    let seq = 0;
    const aput = async (m: Msg): Promise<void> => {
      q.push(m, (255 - m.priority) * TWO_32 + seq++);
    };
    const aget = async (): Promise<Msg> => q.pop()!;
    return {
      put(m) {
        q.push(m, (255 - m.priority) * TWO_32 + seq++);
      },
      get: () => q.pop() ?? null,
      syncPairs(f, n) {
        const queue = q;
        const prios = f.prios;
        let k = f.k;
        let s = seq;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          const p = prios[k++ & PRIORITY_MASK];
          m.priority = p;
          queue.push(m, (255 - p) * TWO_32 + s++);
          m = queue.pop()!;
        }
        seq = s;
        f.k = k;
        f.spare = m;
      },
      async asyncPairs(f, n) {
        const prios = f.prios;
        let k = f.k;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          await aput(m);
          m = await aget();
        }
        f.k = k;
        f.spare = m;
      },
      batch(f) {
        const queue = q;
        const b = f.batch;
        const prios = f.prios;
        let k = f.k;
        let s = seq;
        for (let i = 0; i < b.length; i++) {
          const m = b[i];
          const p = prios[k++ & PRIORITY_MASK];
          m.priority = p;
          queue.push(m, (255 - p) * TWO_32 + s++);
        }
        for (let i = 0; i < b.length; i++) b[i] = queue.pop()!;
        seq = s;
        f.k = k;
      },
    };
  },
};

export const fastpriorityqueue: Competitor = {
  impl: 'fastpriorityqueue',
  kind: 'heap',
  api: {
    sync: 'add(m) / poll(), comparator (priority desc, seq asc)',
    async: 'add/poll inside async put()/get() wrappers, each awaited',
    batch: 'add(m) x n, then poll() x n',
  },
  create() {
    const q = new FastPriorityQueue<Msg>((a, b) => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq));
    let seq = 0;
    const aput = async (m: Msg): Promise<void> => {
      m.seq = seq++;
      q.add(m);
    };
    const aget = async (): Promise<Msg> => q.poll()!;
    return {
      put(m) {
        m.seq = seq++;
        q.add(m);
      },
      get: () => q.poll() ?? null,
      syncPairs(f, n) {
        const queue = q;
        const prios = f.prios;
        let k = f.k;
        let s = seq;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          m.seq = s++;
          queue.add(m);
          m = queue.poll()!;
        }
        seq = s;
        f.k = k;
        f.spare = m;
      },
      async asyncPairs(f, n) {
        const prios = f.prios;
        let k = f.k;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          m.priority = prios[k++ & PRIORITY_MASK];
          await aput(m);
          m = await aget();
        }
        f.k = k;
        f.spare = m;
      },
      batch(f) {
        const queue = q;
        const b = f.batch;
        const prios = f.prios;
        let k = f.k;
        let s = seq;
        for (let i = 0; i < b.length; i++) {
          const m = b[i];
          m.priority = prios[k++ & PRIORITY_MASK];
          m.seq = s++;
          queue.add(m);
        }
        for (let i = 0; i < b.length; i++) b[i] = queue.poll()!;
        seq = s;
        f.k = k;
      },
    };
  },
};

type Run = () => Promise<unknown>;

/**
 * p-queue's own priority structure (`import { PriorityQueue } from 'p-queue'`, the default
 * `queueClass` of PQueue): a sorted array with binary-search insertion, stable for equal priorities.
 * An insert above the current tail priority splices the array (O(n)), and the first insert after a
 * dequeue compacts the consumed prefix (another O(n) splice), so it degrades linearly with size.
 */
export const pqueuePriorityQueue: Competitor = {
  impl: 'p-queue',
  kind: 'sorted-array',
  api: {
    sync: 'PriorityQueue enqueue(m, {priority}) / dequeue() (the class inside PQueue)',
    batch: 'PriorityQueue enqueue(m, {priority}) x n, then dequeue() x n',
  },
  create() {
    const q = new PriorityQueue();
    // The structure stores "run functions"; it never calls them, so a message can stand in for one.
    const asRun = (m: Msg): Run => m as unknown as Run;
    return {
      put(m) {
        q.enqueue(asRun(m), { priority: m.priority });
      },
      get: () => (q.dequeue() as unknown as Msg | undefined) ?? null,
      prefill(ms) {
        // Inserting in priority order makes every insert an append, so a 1e6 prefill takes
        // milliseconds instead of hours; the resulting array is the same sorted array.
        // (A counting sort by priority: stable and O(n).)
        const byPriority: Msg[][] = Array.from({ length: 256 }, () => []);
        for (const m of ms) byPriority[m.priority].push(m);
        for (let p = 255; p >= 0; p--) for (const m of byPriority[p]) q.enqueue(asRun(m), { priority: p });
      },
      syncPairs(f, n) {
        const queue = q;
        const prios = f.prios;
        let k = f.k;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          const p = prios[k++ & PRIORITY_MASK];
          m.priority = p;
          queue.enqueue(asRun(m), { priority: p });
          m = queue.dequeue() as unknown as Msg;
        }
        f.k = k;
        f.spare = m;
      },
      batch(f) {
        const queue = q;
        const b = f.batch;
        const prios = f.prios;
        let k = f.k;
        for (let i = 0; i < b.length; i++) {
          const m = b[i];
          const p = prios[k++ & PRIORITY_MASK];
          m.priority = p;
          queue.enqueue(asRun(m), { priority: p });
        }
        for (let i = 0; i < b.length; i++) b[i] = queue.dequeue() as unknown as Msg;
        f.k = k;
      },
    };
  },
};

/**
 * PQueue itself, used the way its README shows: `await queue.add(task, {priority})` with
 * concurrency 1. A put+get pair is one task that hands the message back; the promise `add` returns
 * settles when the scheduler has dequeued and run it. PQueue is a task scheduler: it has no way to
 * hold a backlog and take one message out on demand, so it appears only in the async ping-pong.
 */
export const pqueueAdd: Competitor = {
  impl: 'p-queue',
  kind: 'task-queue',
  api: { async: 'PQueue({concurrency: 1}) await add(() => m, {priority}) (one task per message)' },
  create() {
    const q = new PQueue({ concurrency: 1 });
    const unsupported = (): never => {
      throw new Error('PQueue has no synchronous put/get');
    };
    return {
      put: unsupported,
      get: unsupported,
      async asyncPairs(f, n) {
        const queue = q;
        const prios = f.prios;
        let k = f.k;
        let m = f.spare;
        for (let i = 0; i < n; i++) {
          const p = prios[k++ & PRIORITY_MASK];
          m.priority = p;
          const sent = m;
          m = await queue.add(() => sent, { priority: p });
        }
        f.k = k;
        f.spare = m;
      },
    };
  },
};

/** The stable heaps, the main comparison. */
export const HEAPS: readonly Competitor[] = [tinyqueue, heapJs, flatqueue, fastpriorityqueue];

/**
 * Untimed sanity check, run before any timing: drains a queue filled with random priorities and
 * verifies (priority desc, FIFO within a priority). A wrong comparator would make a heap look faster
 * than it has a right to.
 */
export function checkOrder(c: Competitor, prios: Uint8Array): string | undefined {
  const h = c.create(4096);
  const order = new Map<Msg, number>();
  for (let i = 0; i < 2000; i++) {
    const m = newMsg(prios[i] & 7); // few distinct priorities, so FIFO ties are exercised
    order.set(m, i);
    h.put(m);
  }
  let prev: Msg | null = null;
  for (let i = 0; i < 2000; i++) {
    const m = h.get();
    if (m === null) return `${c.impl}: queue ran dry after ${i} of 2000 gets`;
    if (prev && (m.priority > prev.priority || (m.priority === prev.priority && order.get(m)! < order.get(prev)!))) {
      return `${c.impl}: wrong order at get ${i}`;
    }
    prev = m;
  }
  return h.get() === null ? undefined : `${c.impl}: extra message after draining`;
}
