/**
 * The browser suite's cases: each runs inside headless Chromium, against the package's browser
 * build (dist/browser.js), on the browser's own WebGPU adapter. test/browser.test.ts registers
 * one vitest test per case and runs it in the page; a case throws (with a message saying what
 * differed) to fail.
 *
 * Every GPU queue here is device-answered and verified (`prefetch: 0, verify: true`): each answer
 * the tests check came back from the device, and any disagreement fails the queue closed.
 * Nothing at the top level of this module touches a browser API, so Node can import it for the
 * case names.
 */
import {
  BackpressureStrategy,
  GpuMessageQueue,
  GpuUnavailableError,
  MessageQueue,
  NoReplyError,
  QueueFullError,
  QueueTimeoutError,
  RingKernelRuntime,
  type Queue,
} from 'ringkernel';
import { OP, addTen, compute, counter, double, picky } from '../runtime-kernels.js';

interface Item {
  id: number;
  priority: number;
}

/** Small deterministic generator (the page has no seeded Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function fail(what: string, actual: unknown, expected: unknown): never {
  throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function equal(actual: unknown, expected: unknown, what: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) fail(what, actual, expected);
}

async function rejectsWith(promise: Promise<unknown>, type: abstract new (...args: never[]) => Error, what: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw new Error(`${what}: expected a ${type.name}, got ${String(error)}`);
  }
  throw new Error(`${what}: expected a ${type.name}, but it resolved`);
}

/** A device-answered, verifying GPU queue, closed after `body`. */
async function withGpuQueue<T extends object>(
  options: { maxSize?: number; backpressure?: BackpressureStrategy },
  body: (q: GpuMessageQueue<T>) => Promise<void>,
): Promise<void> {
  const q = await GpuMessageQueue.create<T>({ ...options, prefetch: 0, verify: true });
  try {
    await body(q);
    await q.flush(); // applies and verifies the last operations before the queue goes
  } finally {
    await q.close();
  }
}

async function drain<T extends object>(q: Queue<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) out.push(...(await q.getMany(n - out.length)));
  return out;
}

/** Runs `body` on a started GPU runtime and shuts it down after. */
async function withRuntime(body: (rt: RingKernelRuntime) => Promise<void>, backend: 'gpu' | 'cpu' = 'gpu'): Promise<void> {
  const rt = await RingKernelRuntime.create({ backend });
  try {
    await body(rt);
  } finally {
    await rt.shutdown();
  }
}

export const cases: Record<string, () => Promise<void>> = {
  async 'the browser build acquires the page WebGPU adapter'() {
    const q = await GpuMessageQueue.create<Item>();
    try {
      const info = q.adapterInfo;
      if (!info || typeof info.vendor !== 'string') fail('adapterInfo', info, '{ vendor, architecture, ... }');
    } finally {
      await q.close();
    }
  },

  async 'GPU queue: priority order, FIFO within a priority, over 600 messages from the device'() {
    const random = lcg(7);
    const items: Item[] = Array.from({ length: 600 }, (_, id) => ({ id, priority: Math.floor(random() * 256) }));
    const expected = [...items].sort((a, b) => b.priority - a.priority || a.id - b.id).map((m) => m.id);
    await withGpuQueue<Item>({ maxSize: 1024 }, async (q) => {
      await q.putMany(items.slice(0, 300));
      for (const m of items.slice(300)) q.putNowait(m);
      equal(q.size, 600, 'size after the puts');
      equal((await drain(q, 600)).map((m) => m.id), expected, 'order of getMany');
      equal(q.size, 0, 'size after draining');
    });
  },

  async 'GPU queue agrees with MessageQueue on a random mix of puts and gets'() {
    const random = lcg(11);
    const cpu = new MessageQueue<Item>({ maxSize: 256, backpressure: BackpressureStrategy.DROP_OLDEST });
    await withGpuQueue<Item>({ maxSize: 256, backpressure: BackpressureStrategy.DROP_OLDEST }, async (gpu) => {
      let id = 0;
      for (let step = 0; step < 40; step++) {
        const batch = Array.from({ length: Math.floor(random() * 40) }, () => ({ id: id++, priority: Math.floor(random() * 8) * 32 }));
        await Promise.all([cpu.putMany(batch), gpu.putMany(batch)]);
        const n = Math.floor(random() * 30);
        equal((await gpu.getMany(n)).map((m) => m.id), (await cpu.getMany(n)).map((m) => m.id), `getMany(${n}) at step ${step}`);
      }
      equal(gpu.stats, cpu.stats, 'stats');
    });
  },

  async 'GPU queue: REJECT refuses a put on a full queue and adds nothing'() {
    await withGpuQueue<Item>({ maxSize: 4, backpressure: BackpressureStrategy.REJECT }, async (q) => {
      await q.putMany([1, 2, 3, 4].map((id) => ({ id, priority: 1 })));
      await rejectsWith(q.put({ id: 5, priority: 200 }), QueueFullError, 'put on a full REJECT queue');
      await rejectsWith(q.putMany([{ id: 6, priority: 1 }]), QueueFullError, 'putMany on a full REJECT queue');
      equal(q.size, 4, 'size');
      equal(q.stats.rejected, 2, 'stats.rejected');
      equal((await q.getMany(10)).map((m) => m.id), [1, 2, 3, 4], 'contents');
    });
  },

  async 'GPU queue: BLOCK holds a put until a get makes room, and times out adding nothing'() {
    await withGpuQueue<Item>({ maxSize: 2, backpressure: BackpressureStrategy.BLOCK }, async (q) => {
      await q.putMany([{ id: 1, priority: 5 }, { id: 2, priority: 5 }]);
      await rejectsWith(q.put({ id: 3, priority: 5 }, { timeout: 30 }), QueueFullError, 'put that times out');
      let done = false;
      const blocked = q.put({ id: 4, priority: 5 }).then(() => (done = true));
      await new Promise((r) => setTimeout(r, 20));
      equal(done, false, 'the put waits while the queue is full');
      equal((await q.get()).id, 1, 'get');
      await blocked;
      equal((await q.getMany(5)).map((m) => m.id), [2, 4], 'contents after the blocked put went in');
    });
  },

  async 'GPU queue: DROP_OLDEST evicts the oldest message whatever its priority'() {
    const dropped: number[] = [];
    const q = await GpuMessageQueue.create<Item>({
      maxSize: 3,
      backpressure: BackpressureStrategy.DROP_OLDEST,
      prefetch: 0,
      verify: true,
      onDrop: (m) => dropped.push(m.id),
    });
    try {
      for (const [id, priority] of [[1, 255], [2, 0], [3, 100], [4, 50], [5, 50]]) await q.put({ id, priority });
      await q.flush();
      equal(dropped, [1, 2], 'evicted, oldest first');
      equal(q.stats.dropped, 2, 'stats.dropped');
      equal((await q.getMany(3)).map((m) => m.id), [3, 4, 5], 'what is left');
    } finally {
      await q.close();
    }
  },

  async 'GPU queue: a get times out on an empty queue and an aborted get has no effect'() {
    await withGpuQueue<Item>({}, async (q) => {
      await rejectsWith(q.get({ timeout: 20 }), QueueTimeoutError, 'get on an empty queue');
      const controller = new AbortController();
      const aborted = q.get({ signal: controller.signal });
      controller.abort();
      const reason = await aborted.then(
        () => 'resolved',
        (e: Error) => e.name,
      );
      equal(reason, 'AbortError', 'aborted get');
      await q.put({ id: 9, priority: 1 });
      equal((await q.get()).id, 9, 'the message after the abort goes to the next get');
      equal(q.stats.timedOut, 1, 'stats.timedOut');
    });
  },

  async 'GPU queue: flush applies on the device; getNowait and peek answer only after it'() {
    await withGpuQueue<Item>({}, async (q) => {
      q.putNowait({ id: 1, priority: 3 });
      q.putNowait({ id: 2, priority: 9 });
      await q.flush();
      equal(q.peek()?.id ?? null, 2, 'peek after flush');
      equal(q.getNowait()?.id ?? null, 2, 'getNowait after flush');
      await q.flush();
      equal(q.getNowait()?.id ?? null, 1, 'getNowait after the next flush');
      equal(q.size, 0, 'size');
    });
  },

  async 'ring kernel: sendAndReceive round trip, on the GPU'() {
    await withRuntime(async (rt) => {
      await rt.launch('compute', compute);
      await rt.activate('compute');
      const reply = await rt.sendAndReceive('compute', { values: [2, 4, 6, 8, 0, 0, 0, 0], count: 4, op: OP.MEAN });
      equal(reply, { result: 5, priority: 128 }, 'reply');
      const max = await rt.sendAndReceive('compute', { values: [1, 9, 3, 0, 0, 0, 0, 0], count: 3, op: OP.MAX, priority: 7 });
      equal(max, { result: 9, priority: 7 }, 'reply with a priority');
    });
  },

  async 'ring kernel: a two-stage pipeline on the device keeps order and counts every message'() {
    await withRuntime(async (rt) => {
      await rt.launch('addTen', addTen);
      await rt.launch('double', double, { sendsTo: 'addTen' });
      await rt.activate('addTen');
      await rt.activate('double');
      const sent = Array.from({ length: 200 }, (_, id) => ({ v: id, id, priority: id % 2 ? 200 : 10 }));
      await rt.sendMany('double', sent);
      const expected = [...sent].sort((a, b) => b.priority - a.priority || a.id - b.id).map((m) => m.v * 2 + 10);
      const got: number[] = [];
      while (got.length < sent.length) got.push(...(await rt.receiveMany('addTen', sent.length - got.length)).map((m) => m.v));
      equal(got, expected, 'outputs: priority first, then input order');
      const head = rt.telemetry('double')!;
      const tail = rt.telemetry('addTen')!;
      equal([head.messagesProcessed, head.messagesEmitted, head.errors], [200, 200, 0], 'double: processed, emitted, errors');
      equal([tail.messagesProcessed, tail.messagesEmitted, tail.errors], [200, 200, 0], 'addTen: processed, emitted, errors');
      equal([tail.inputDepth, tail.outputDepth], [0, 0], 'addTen: depths after draining');
    });
  },

  async 'ring kernel: telemetry counts failures and device state on the GPU'() {
    await withRuntime(async (rt) => {
      await rt.launch('counter', counter);
      await rt.launch('picky', picky, { sendsTo: 'counter' });
      await rt.activate('counter');
      await rt.activate('picky');
      const sent = [5, -7, 3, -2, 10].map((v, id) => ({ v, id }));
      await rt.sendMany('picky', sent);
      await rt.idle();
      const picked = rt.telemetry('picky')!;
      equal([picked.messagesProcessed, picked.messagesEmitted, picked.errors], [5, 3, 2], 'picky: processed, emitted, errors');
      if (!/failed with code (7|2)/.test(picked.lastError ?? '')) fail('picky.lastError', picked.lastError, 'failed with code 7 or 2');
      equal(rt.telemetry('counter')!.messagesProcessed, 3, 'counter: processed');
      equal([...new Uint32Array(await rt.readState('counter'))].slice(0, 3), [3, 18, 4], 'counter state: count, sum, max id');
      await rejectsWith(rt.sendAndReceive('picky', { v: -1, id: 9 }), NoReplyError, 'a request that produced nothing');
    });
  },

  async 'without WebGPU: the CPU queue and the CPU backend work, and the GPU says why it cannot'() {
    // run in a page whose navigator.gpu was removed before any script ran
    if ((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu !== undefined) throw new Error('this case needs a page without navigator.gpu');
    const q = new MessageQueue<Item>({ maxSize: 8 });
    await q.putMany([{ id: 1, priority: 1 }, { id: 2, priority: 2 }]);
    equal((await q.getMany(2)).map((m) => m.id), [2, 1], 'MessageQueue');
    await withRuntime(async (rt) => {
      await rt.launch('compute', compute);
      await rt.activate('compute');
      equal(await rt.sendAndReceive('compute', { values: [1, 2, 3, 0, 0, 0, 0, 0], count: 3, op: OP.SUM }), { result: 6, priority: 128 }, 'cpu reply');
    }, 'cpu');
    const error = await rejectsWith(GpuMessageQueue.create<Item>(), GpuUnavailableError, 'GpuMessageQueue.create without WebGPU');
    if (!/navigator\.gpu/.test(error.message)) fail('the error message', error.message, 'a message that names navigator.gpu');
    await rejectsWith(RingKernelRuntime.create({ backend: 'gpu' }), GpuUnavailableError, "a 'gpu' runtime without WebGPU");
  },
};

/** Cases that run in a page without WebGPU; the rest run in a page with it. */
export const WITHOUT_WEBGPU = new Set(['without WebGPU: the CPU queue and the CPU backend work, and the GPU says why it cannot']);
