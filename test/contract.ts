/**
 * The queue contract (README.md, "Semantics"), as one backend-agnostic suite.
 *
 * Run it for a backend with `queueContract(name, make, settle)`:
 * - `make(options)` builds a queue (a rejected promise when the options are invalid);
 * - `settle(q)` is awaited before every synchronous read of the contents (`getNowait`, `peek`):
 *   after one settle, exactly one getNowait/peek is guaranteed to see the head; and before the
 *   onDrop calls are checked (a GPU queue that keeps no copy of its contents learns which
 *   message it evicted from the device). size, isEmpty, isFull and stats are read without settling.
 * Every queue made through `create` is closed after its test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  BackpressureStrategy,
  QueueClosedError,
  QueueFullError,
  QueueTimeoutError,
  ZERO_STATS,
  ids,
  msg,
  nextTurn,
  randInt,
  rng,
  sleep,
  track,
  type Msg,
  type Queue,
  type QueueOptions,
  type QueueStats,
} from './helpers.js';

export type TestQueue<T extends object> = Queue<T> & { close(): void | Promise<void> };
export type QueueFactory = <T extends object>(options?: QueueOptions<T>) => Promise<TestQueue<T>>;
export type Settle = (q: TestQueue<any>) => Promise<void>;

const { BLOCK, REJECT, DROP_OLDEST } = BackpressureStrategy;
/** Short timeouts keep the suite fast; waits are a little longer than the timeouts they outlast. */
const SHORT = 25;
const LONGER = 60;

export function queueContract(name: string, make: QueueFactory, settle: Settle = async () => {}): void {
  describe(`${name}: queue contract`, () => {
    const opened: TestQueue<any>[] = [];
    afterEach(async () => {
      // a GPU queue is flushed first: everything applied and (verify mode) checked against the
      // device, so a disagreement found on a test's last operations fails that test
      let failure: unknown = null;
      for (const q of opened.splice(0)) {
        const flush = (q as { flush?: () => Promise<void> }).flush;
        if (typeof flush === 'function' && !q.closed) await flush.call(q).catch((e: unknown) => (failure ??= e));
        await q.close();
      }
      if (failure !== null) throw failure;
    });

    /** A queue that is closed after the test. */
    async function create(options?: QueueOptions<Msg>): Promise<TestQueue<Msg>> {
      const q = await make<Msg>(options);
      opened.push(q);
      return q;
    }
    /** A queue holding the given messages, put one by one with putNowait. */
    async function filled(options: QueueOptions<Msg>, ...messages: Msg[]): Promise<TestQueue<Msg>> {
      const q = await create(options);
      for (const m of messages) expect(q.putNowait(m)).toBe(true);
      return q;
    }
    async function getNowait(q: TestQueue<Msg>): Promise<Msg | null> {
      await settle(q);
      return q.getNowait();
    }
    async function peek(q: TestQueue<Msg>): Promise<Msg | null> {
      await settle(q);
      return q.peek();
    }
    /** Takes everything with getNowait (settling before each) and returns the ids in order. */
    async function drain(q: TestQueue<Msg>): Promise<(string | null)[]> {
      const out: Msg[] = [];
      for (let m = await getNowait(q); m !== null; m = await getNowait(q)) out.push(m);
      return ids(out);
    }
    /** Lets the queue and promise callbacks catch up before a tracked promise is inspected. */
    async function flush(q: TestQueue<Msg>): Promise<void> {
      await settle(q);
      await nextTurn();
    }
    function stats(q: TestQueue<Msg>): QueueStats {
      return { ...q.stats };
    }
    /** size == enqueued - dequeued - dropped - removed by clear/close. */
    function expectBalanced(q: TestQueue<Msg>, removedByClear = 0): void {
      const s = q.stats;
      expect(q.size).toBe(s.enqueued - s.dequeued - s.dropped - removedByClear);
    }
    function aborted(reason?: unknown): AbortSignal {
      const c = new AbortController();
      c.abort(reason);
      return c.signal;
    }

    describe('construction and monitoring getters', () => {
      it('starts empty with maxSize 1000 and zero stats by default', async () => {
        const q = await create();
        expect(q.maxSize).toBe(1000);
        expect(q.size).toBe(0);
        expect(q.isEmpty).toBe(true);
        expect(q.isFull).toBe(false);
        expect(q.closed).toBe(false);
        expect(stats(q)).toEqual(ZERO_STATS);
      });

      it('size, isEmpty and isFull follow puts and gets', async () => {
        const q = await create({ maxSize: 2 });
        q.putNowait(msg('a'));
        expect([q.size, q.isEmpty, q.isFull]).toEqual([1, false, false]);
        await q.put(msg('b'));
        expect([q.size, q.isEmpty, q.isFull]).toEqual([2, false, true]);
        await q.get();
        expect([q.size, q.isEmpty, q.isFull]).toEqual([1, false, false]);
        await q.get();
        expect([q.size, q.isEmpty, q.isFull]).toEqual([0, true, false]);
      });

      it('the default backpressure is BLOCK', async () => {
        const q = await filled({ maxSize: 1 }, msg('a'));
        expect(q.putNowait(msg('b'))).toBe(false);
        const put = track(q.put(msg('c')));
        await sleep(SHORT);
        expect(put.status).toBe('pending');
        expect((await q.get()).id).toBe('a');
        await flush(q);
        expect(put.status).toBe('fulfilled');
      });

      it.each([0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects maxSize %s with RangeError', async (maxSize) => {
        await expect(make({ maxSize })).rejects.toThrow(RangeError);
      });

      it('rejects an unknown backpressure strategy with RangeError', async () => {
        await expect(make({ backpressure: 'lifo' as any })).rejects.toThrow(RangeError);
      });
    });

    describe('priority order', () => {
      it('gets the seed example in order B, D, A, C', async () => {
        const q = await create();
        await q.put(msg('A', 1));
        await q.put(msg('B', 10));
        await q.put(msg('C', 0));
        await q.put(msg('D', 5));
        const got = [await q.get(), await q.get(), await q.get(), await q.get()];
        expect(ids(got)).toEqual(['B', 'D', 'A', 'C']);
      });

      it('getNowait follows the same order', async () => {
        const q = await filled({}, msg('A', 1), msg('B', 10), msg('C', 0), msg('D', 5));
        expect(await drain(q)).toEqual(['B', 'D', 'A', 'C']);
      });

      it('a message without priority has priority 128', async () => {
        const q = await filled({}, msg('low', 127), msg('default'), msg('high', 129), { id: 'undef', priority: undefined });
        expect(await drain(q)).toEqual(['high', 'default', 'undef', 'low']);
      });

      it('accepts the extreme priorities 0 and 255', async () => {
        const q = await filled({}, msg('zero', 0), msg('max', 255), msg('mid', 100));
        expect(await drain(q)).toEqual(['max', 'mid', 'zero']);
      });

      it('keeps FIFO order within a priority across put, putNowait and putMany', async () => {
        const q = await create();
        await q.put(msg('1', 7));
        q.putNowait(msg('2', 7));
        await q.putMany([msg('3', 7), msg('x', 3), msg('4', 7)]);
        await q.put(msg('5', 7));
        q.putNowait(msg('y', 3));
        expect(await drain(q)).toEqual(['1', '2', '3', '4', '5', 'x', 'y']);
      });

      it('getMany returns messages highest priority first, FIFO within a priority', async () => {
        const q = await filled({}, msg('a', 1), msg('b', 9), msg('c', 1), msg('d', 9), msg('e', 5));
        expect(ids(await q.getMany(4))).toEqual(['b', 'd', 'e', 'a']);
        expect(ids(await q.getMany(4))).toEqual(['c']);
      });
    });

    describe('invalid input changes nothing', () => {
      it.each([null, undefined, 42, 'text', true])('put(%s) rejects with TypeError', async (bad) => {
        const q = await filled({}, msg('a'));
        await expect(q.put(bad as any)).rejects.toThrow(TypeError);
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1 });
      });

      it.each([null, 42, 'text'])('putNowait(%s) throws TypeError', async (bad) => {
        const q = await filled({}, msg('a'));
        expect(() => q.putNowait(bad as any)).toThrow(TypeError);
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1 });
      });

      it.each(['5', null, true])('a priority of %s (not a number) is a TypeError', async (priority) => {
        const q = await create();
        const bad = { id: 'bad', priority } as any;
        await expect(q.put(bad)).rejects.toThrow(TypeError);
        expect(() => q.putNowait(bad)).toThrow(TypeError);
        await expect(q.putMany([bad])).rejects.toThrow(TypeError);
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual(ZERO_STATS);
      });

      it.each([Number.NaN, 1.5, -1, 256, Number.POSITIVE_INFINITY])('a priority of %s is a RangeError', async (priority) => {
        const q = await create();
        const bad = msg('bad', priority);
        await expect(q.put(bad)).rejects.toThrow(RangeError);
        expect(() => q.putNowait(bad)).toThrow(RangeError);
        await expect(q.putMany([bad])).rejects.toThrow(RangeError);
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual(ZERO_STATS);
      });

      it('a timeout that is not a number is a TypeError for every waiting member', async () => {
        const q = await filled({}, msg('a'));
        const timeout = '10' as any;
        await expect(q.get({ timeout })).rejects.toThrow(TypeError);
        await expect(q.getMany(1, { timeout })).rejects.toThrow(TypeError);
        await expect(q.put(msg('b'), { timeout })).rejects.toThrow(TypeError);
        await expect(q.putMany([msg('c')], { timeout })).rejects.toThrow(TypeError);
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1 });
        expect(await drain(q)).toEqual(['a']);
      });

      it.each([-1, Number.NaN])('a timeout of %s is a RangeError for every waiting member', async (timeout) => {
        const q = await filled({}, msg('a'));
        await expect(q.get({ timeout })).rejects.toThrow(RangeError);
        await expect(q.getMany(1, { timeout })).rejects.toThrow(RangeError);
        await expect(q.put(msg('b'), { timeout })).rejects.toThrow(RangeError);
        await expect(q.putMany([msg('c')], { timeout })).rejects.toThrow(RangeError);
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1 });
        expect(await drain(q)).toEqual(['a']);
      });

      it.each([0, -1, 1.5, Number.NaN])('getMany(%s) is a RangeError and takes nothing', async (max) => {
        const q = await filled({}, msg('a'), msg('b'));
        await expect(q.getMany(max)).rejects.toThrow(RangeError);
        expect(q.size).toBe(2);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 2 });
      });

      it('putMany with something other than an array is a TypeError', async () => {
        const q = await create();
        await expect(q.putMany(msg('a') as any)).rejects.toThrow(TypeError);
        await expect(q.putMany('ab' as any)).rejects.toThrow(TypeError);
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual(ZERO_STATS);
      });

      it.each([BLOCK, REJECT, DROP_OLDEST])('putMany with one bad message adds none of them (%s)', async (backpressure) => {
        const q = await create({ backpressure, maxSize: 10 });
        await expect(q.putMany([msg('a'), msg('b'), msg('bad', 300), msg('c')])).rejects.toThrow(RangeError);
        await expect(q.putMany([msg('a'), null as any])).rejects.toThrow(TypeError);
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual(ZERO_STATS);
      });

      it('putMany with a bad message drops nothing from a full DROP_OLDEST queue', async () => {
        const dropped: Msg[] = [];
        const q = await filled({ backpressure: DROP_OLDEST, maxSize: 2, onDrop: (m) => dropped.push(m) }, msg('a'), msg('b'));
        await expect(q.putMany([msg('c'), msg('bad', -3)])).rejects.toThrow(RangeError);
        expect(dropped).toEqual([]);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 2 });
        expect(await drain(q)).toEqual(['a', 'b']);
      });
    });

    describe('async members never throw synchronously', () => {
      const calls: [string, (q: TestQueue<Msg>) => Promise<unknown>, ErrorConstructor][] = [
        ['put(null)', (q) => q.put(null as any), TypeError],
        ['put with a bad priority', (q) => q.put(msg('a', 999)), RangeError],
        ['put with a bad timeout', (q) => q.put(msg('a'), { timeout: -5 }), RangeError],
        ['get with a bad timeout', (q) => q.get({ timeout: 'soon' as any }), TypeError],
        ['getMany(0)', (q) => q.getMany(0), RangeError],
        ['putMany(non-array)', (q) => q.putMany(42 as any), TypeError],
        ['putMany([null])', (q) => q.putMany([null as any]), TypeError],
      ];
      it.each(calls)('%s returns a rejected promise', async (_label, call, errorClass) => {
        const q = await create();
        let p: Promise<unknown> | undefined;
        expect(() => {
          p = call(q);
        }).not.toThrow();
        expect(p).toBeInstanceOf(Promise);
        await expect(p).rejects.toThrow(errorClass);
      });

      it('every async member returns a rejected promise on a closed queue', async () => {
        const q = await create();
        await q.close();
        const calls = [() => q.put(msg('a')), () => q.get(), () => q.putMany([msg('a')]), () => q.getMany(1)];
        for (const call of calls) {
          let p: Promise<unknown> | undefined;
          expect(() => {
            p = call();
          }).not.toThrow();
          expect(p).toBeInstanceOf(Promise);
          await expect(p).rejects.toThrow(QueueClosedError);
        }
      });
    });

    describe('waiting getters are served at insertion, in FIFO order', () => {
      it('a get on an empty queue waits until a message is put', async () => {
        const q = await create();
        const get = track(q.get());
        await sleep(SHORT);
        expect(get.status).toBe('pending');
        await q.put(msg('a'));
        expect((await get.promise).id).toBe('a');
        expect(q.size).toBe(0);
      });

      it('putNowait wakes a waiting get', async () => {
        const q = await create();
        const get = q.get();
        await flush(q);
        expect(q.putNowait(msg('a'))).toBe(true);
        expect((await get).id).toBe('a');
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1, dequeued: 1 });
      });

      it('putMany wakes waiting getters, one message each', async () => {
        const q = await create();
        const first = q.get();
        const second = q.get();
        await flush(q);
        await q.putMany([msg('a'), msg('b'), msg('c')]);
        expect((await first).id).toBe('a');
        expect((await second).id).toBe('b');
        expect(await drain(q)).toEqual(['c']);
      });

      it('waiting getters are served in the order they started waiting', async () => {
        const q = await create();
        const getters = [track(q.get()), track(q.get()), track(q.get())];
        await flush(q);
        q.putNowait(msg('a'));
        q.putNowait(msg('b'));
        await flush(q);
        expect(getters.map((g) => g.status)).toEqual(['fulfilled', 'fulfilled', 'pending']);
        q.putNowait(msg('c'));
        const got = await Promise.all(getters.map((g) => g.promise));
        expect(ids(got)).toEqual(['a', 'b', 'c']);
      });

      it('each insertion serves the waiting getter at once: putNowait(low); putNowait(high) gives it low', async () => {
        const q = await create();
        const get = q.get();
        await flush(q);
        q.putNowait(msg('low', 1));
        q.putNowait(msg('high', 200));
        expect((await get).id).toBe('low');
        expect(await drain(q)).toEqual(['high']);
      });

      it('a waiting getMany takes what is there at the first insertion', async () => {
        const q = await create();
        const many = q.getMany(5);
        await flush(q);
        q.putNowait(msg('a'));
        q.putNowait(msg('b'));
        expect(ids(await many)).toEqual(['a']);
        expect(q.size).toBe(1);
      });

      it('get and getMany waiters share one FIFO', async () => {
        const q = await create();
        const many = q.getMany(3);
        const one = q.get();
        await flush(q);
        q.putNowait(msg('a'));
        q.putNowait(msg('b'));
        expect(ids(await many)).toEqual(['a']);
        expect((await one).id).toBe('b');
      });

      it('get does not wait when a message is present', async () => {
        const q = await filled({}, msg('a', 1), msg('b', 2));
        expect((await q.get({ timeout: 0 })).id).toBe('b');
      });

      it('getMany does not wait for more messages than are present', async () => {
        const q = await filled({}, msg('a'), msg('b'));
        expect(ids(await q.getMany(10, { timeout: 0 }))).toEqual(['a', 'b']);
        expect(q.size).toBe(0);
      });
    });

    describe('get timeout', () => {
      it('rejects with QueueTimeoutError named TimeoutError after the timeout, in milliseconds', async () => {
        const q = await create();
        const start = performance.now();
        const error = await q.get({ timeout: SHORT }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(QueueTimeoutError);
        expect((error as Error).name).toBe('TimeoutError');
        expect(performance.now() - start).toBeGreaterThanOrEqual(SHORT - 2);
        expect(q.stats.timedOut).toBe(1);
      });

      it('getMany times out the same way', async () => {
        const q = await create();
        await expect(q.getMany(2, { timeout: SHORT })).rejects.toBeInstanceOf(QueueTimeoutError);
        expect(q.stats.timedOut).toBe(1);
      });

      it('a timed-out get takes nothing: a later message stays in the queue', async () => {
        const q = await create();
        await expect(q.get({ timeout: 5 })).rejects.toThrow(QueueTimeoutError);
        q.putNowait(msg('a'));
        expect(q.size).toBe(1);
        expect(await drain(q)).toEqual(['a']);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1, dequeued: 1, timedOut: 1 });
      });

      it('timeout 0 succeeds at once when a message is there', async () => {
        const q = await filled({}, msg('a'));
        expect((await q.get({ timeout: 0 })).id).toBe('a');
        expect(q.stats.timedOut).toBe(0);
      });

      it('timeout 0 on an empty queue times out at once', async () => {
        const q = await create();
        const get = track(q.get({ timeout: 0 }));
        const many = track(q.getMany(3, { timeout: 0 }));
        await flush(q);
        expect(get.status).toBe('rejected');
        expect(get.error).toBeInstanceOf(QueueTimeoutError);
        expect(many.error).toBeInstanceOf(QueueTimeoutError);
        expect(q.stats.timedOut).toBe(2);
        q.putNowait(msg('a'));
        expect(q.size).toBe(1);
      });

      it('a get served before its timeout is not counted as timed out later', async () => {
        const q = await create();
        const get = q.get({ timeout: SHORT });
        q.putNowait(msg('a'));
        expect((await get).id).toBe('a');
        await sleep(LONGER);
        expect(q.stats.timedOut).toBe(0);
        q.putNowait(msg('b'));
        expect(q.size).toBe(1);
      });

      it('timeout Infinity waits until a message comes', async () => {
        const q = await create();
        const get = track(q.get({ timeout: Number.POSITIVE_INFINITY }));
        await sleep(SHORT);
        expect(get.status).toBe('pending');
        q.putNowait(msg('a'));
        expect((await get.promise).id).toBe('a');
      });
    });

    describe('abort', () => {
      it('an already-aborted get rejects with the reason and takes nothing, even with a message there', async () => {
        const q = await filled({}, msg('a'));
        const signal = aborted();
        const error = await q.get({ signal }).catch((e: unknown) => e);
        expect(error).toBe(signal.reason);
        expect((error as Error).name).toBe('AbortError');
        await expect(q.getMany(1, { signal })).rejects.toBe(signal.reason);
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1 });
      });

      it('an already-aborted put rejects with the reason and adds nothing, even with room', async () => {
        const q = await create({ maxSize: 5 });
        const signal = aborted(new Error('stop'));
        await expect(q.put(msg('a'), { signal })).rejects.toBe(signal.reason);
        await expect(q.putMany([msg('b'), msg('c')], { signal })).rejects.toBe(signal.reason);
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual(ZERO_STATS);
      });

      it('aborting a waiting get rejects it with an AbortError and it takes nothing', async () => {
        const q = await create();
        const controller = new AbortController();
        const get = track(q.get({ signal: controller.signal }));
        await flush(q);
        controller.abort();
        await flush(q);
        expect(get.status).toBe('rejected');
        expect(get.error).toBe(controller.signal.reason);
        expect(get.error).toBeInstanceOf(DOMException);
        expect((get.error as DOMException).name).toBe('AbortError');
        q.putNowait(msg('a'));
        expect(q.size).toBe(1);
        expect(await drain(q)).toEqual(['a']);
        expect(q.stats.timedOut).toBe(0);
      });

      it('rejects with the exact reason given to abort()', async () => {
        const q = await create();
        const controller = new AbortController();
        const reason = { why: 'shutting down' };
        const get = q.get({ signal: controller.signal });
        controller.abort(reason);
        await expect(get).rejects.toBe(reason);
      });

      it('aborting a waiting getMany rejects it and it takes nothing', async () => {
        const q = await create();
        const controller = new AbortController();
        const many = q.getMany(3, { signal: controller.signal });
        controller.abort();
        await expect(many).rejects.toBe(controller.signal.reason);
        q.putNowait(msg('a'));
        expect(q.size).toBe(1);
      });

      it('an aborted getter does not take the next message: the getter behind it does', async () => {
        const q = await create();
        const controller = new AbortController();
        const first = track(q.get({ signal: controller.signal }));
        const second = q.get();
        await flush(q);
        controller.abort();
        q.putNowait(msg('a'));
        expect((await second).id).toBe('a');
        expect(first.status).toBe('rejected');
      });

      it('aborting a blocked put rejects it and nothing is added when room appears', async () => {
        const q = await filled({ maxSize: 1 }, msg('a'));
        const controller = new AbortController();
        const put = track(q.put(msg('b'), { signal: controller.signal }));
        await flush(q);
        controller.abort();
        await flush(q);
        expect(put.error).toBe(controller.signal.reason);
        expect((await q.get()).id).toBe('a');
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1, dequeued: 1 });
      });

      it('aborting after the operation completed changes nothing', async () => {
        const q = await filled({}, msg('a'));
        const controller = new AbortController();
        expect((await q.get({ signal: controller.signal })).id).toBe('a');
        await q.put(msg('b'), { signal: controller.signal });
        controller.abort();
        await flush(q);
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 2, dequeued: 1 });
      });
    });

    describe('BLOCK', () => {
      it('put on a full queue stays pending until a get makes room', async () => {
        const q = await filled({ maxSize: 2, backpressure: BLOCK }, msg('a'), msg('b'));
        const put = track(q.put(msg('c')));
        await sleep(SHORT);
        expect(put.status).toBe('pending');
        expect(q.size).toBe(2);
        expect((await q.get()).id).toBe('a');
        await flush(q);
        expect(put.status).toBe('fulfilled');
        expect(await drain(q)).toEqual(['b', 'c']);
      });

      it('putNowait on a full queue returns false, counts a rejection and adds nothing', async () => {
        const q = await filled({ maxSize: 1, backpressure: BLOCK }, msg('a'));
        expect(q.putNowait(msg('b'))).toBe(false);
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1, rejected: 1 });
      });

      it('blocked putters are admitted in FIFO order', async () => {
        const q = await filled({ maxSize: 1, backpressure: BLOCK }, msg('x'));
        const puts = [track(q.put(msg('p1'))), track(q.put(msg('p2'))), track(q.put(msg('p3')))];
        await flush(q);
        expect((await q.get()).id).toBe('x');
        await flush(q);
        expect(puts.map((p) => p.status)).toEqual(['fulfilled', 'pending', 'pending']);
        const got = [await q.get(), await q.get(), await q.get()];
        expect(ids(got)).toEqual(['p1', 'p2', 'p3']);
        await flush(q);
        expect(puts.map((p) => p.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      });

      it('getNowait admits a waiting putter synchronously, so the queue stays full', async () => {
        const q = await filled({ maxSize: 2, backpressure: BLOCK }, msg('a'), msg('b'));
        const put = track(q.put(msg('c')));
        await settle(q);
        expect(q.getNowait()?.id).toBe('a');
        expect(q.size).toBe(2);
        expect(q.isFull).toBe(true);
        expect(q.putNowait(msg('d'))).toBe(false);
        await flush(q);
        expect(put.status).toBe('fulfilled');
      });

      it('getMany admits as many waiting putters as it made room for', async () => {
        const q = await filled({ maxSize: 3, backpressure: BLOCK }, msg('a'), msg('b'), msg('c'));
        const puts = [track(q.put(msg('p1'))), track(q.put(msg('p2'))), track(q.put(msg('p3')))];
        expect(ids(await q.getMany(2))).toEqual(['a', 'b']);
        expect(q.size).toBe(3);
        await flush(q);
        expect(puts.map((p) => p.status)).toEqual(['fulfilled', 'fulfilled', 'pending']);
        expect(await drain(q)).toEqual(['c', 'p1', 'p2', 'p3']);
      });

      it('an admitted message takes its place by priority', async () => {
        const q = await filled({ maxSize: 2, backpressure: BLOCK }, msg('a', 5), msg('b', 5));
        const put = q.put(msg('urgent', 250));
        expect((await q.get()).id).toBe('a');
        await put;
        expect(await drain(q)).toEqual(['urgent', 'b']);
      });

      it('a put that arrives while putters wait queues behind them', async () => {
        const q = await filled({ maxSize: 1, backpressure: BLOCK }, msg('x'));
        const first = track(q.put(msg('first')));
        expect((await q.get()).id).toBe('x');
        const second = track(q.put(msg('second')));
        await flush(q);
        expect(first.status).toBe('fulfilled');
        expect(second.status).toBe('pending');
        expect(ids([await q.get(), await q.get()])).toEqual(['first', 'second']);
      });

      it('a put that times out rejects with QueueFullError and adds nothing', async () => {
        const q = await filled({ maxSize: 1, backpressure: BLOCK }, msg('a'));
        const start = performance.now();
        await expect(q.put(msg('late'), { timeout: SHORT })).rejects.toBeInstanceOf(QueueFullError);
        expect(performance.now() - start).toBeGreaterThanOrEqual(SHORT - 2);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1, timedOut: 1 });
        expect(await drain(q)).toEqual(['a']);
        expect(q.size).toBe(0);
      });

      it('put timeout 0 on a full queue times out at once', async () => {
        const q = await filled({ maxSize: 1, backpressure: BLOCK }, msg('a'));
        const put = track(q.put(msg('b'), { timeout: 0 }));
        await flush(q);
        expect(put.status).toBe('rejected');
        expect(put.error).toBeInstanceOf(QueueFullError);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1, timedOut: 1 });
        expect(await drain(q)).toEqual(['a']);
      });

      it('put timeout 0 succeeds when there is room', async () => {
        const q = await create({ maxSize: 1, backpressure: BLOCK });
        await q.put(msg('a'), { timeout: 0 });
        expect(q.size).toBe(1);
      });

      it('a put admitted before its timeout is not counted as timed out later', async () => {
        const q = await filled({ maxSize: 1, backpressure: BLOCK }, msg('a'));
        const put = q.put(msg('b'), { timeout: SHORT });
        expect((await q.get()).id).toBe('a');
        await put;
        await sleep(LONGER);
        expect(q.stats.timedOut).toBe(0);
        expect(await drain(q)).toEqual(['b']);
      });
    });

    describe('REJECT', () => {
      it('the 11th message into a queue of 10 is rejected with QueueFullError', async () => {
        const q = await create({ maxSize: 10, backpressure: REJECT });
        for (let i = 0; i < 10; i++) await q.put(msg(`m${i}`));
        await expect(q.put(msg('m10'))).rejects.toBeInstanceOf(QueueFullError);
        expect(q.size).toBe(10);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 10, rejected: 1 });
        expect(await drain(q)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
      });

      it('put on a full queue rejects at once, whatever its timeout', async () => {
        const q = await filled({ maxSize: 1, backpressure: REJECT }, msg('a'));
        const put = track(q.put(msg('b'), { timeout: 10_000 }));
        await flush(q);
        expect(put.status).toBe('rejected');
        expect(put.error).toBeInstanceOf(QueueFullError);
        expect(q.stats.timedOut).toBe(0);
      });

      it('putNowait on a full queue returns false and counts a rejection', async () => {
        const q = await filled({ maxSize: 1, backpressure: REJECT }, msg('a'));
        expect(q.putNowait(msg('b'))).toBe(false);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1, rejected: 1 });
      });

      it('putMany that does not fit rejects all of its messages', async () => {
        const q = await filled({ maxSize: 4, backpressure: REJECT }, msg('a'), msg('b'));
        await expect(q.putMany([msg('c'), msg('d'), msg('e')])).rejects.toBeInstanceOf(QueueFullError);
        expect(q.size).toBe(2);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 2, rejected: 3 });
        expect(await drain(q)).toEqual(['a', 'b']);
      });

      it('putMany that exactly fits is accepted', async () => {
        const q = await filled({ maxSize: 4, backpressure: REJECT }, msg('a'), msg('b'));
        await q.putMany([msg('c'), msg('d')]);
        expect(q.size).toBe(4);
        expect(await drain(q)).toEqual(['a', 'b', 'c', 'd']);
      });
    });

    describe('DROP_OLDEST', () => {
      async function dropQueue(maxSize: number) {
        const dropped: Msg[] = [];
        const q = await create({ maxSize, backpressure: DROP_OLDEST, onDrop: (m) => dropped.push(m) });
        return { q, dropped };
      }

      it('drops the longest-queued message even when it is the most urgent one', async () => {
        const { q, dropped } = await dropQueue(3);
        await q.put(msg('urgent', 255));
        await q.put(msg('low1', 0));
        await q.put(msg('low2', 0));
        await q.put(msg('new', 0));
        await settle(q);
        expect(ids(dropped)).toEqual(['urgent']);
        expect(await drain(q)).toEqual(['low1', 'low2', 'new']);
      });

      it('drops the longest-queued message even when more urgent ones came after it', async () => {
        const { q, dropped } = await dropQueue(3);
        q.putNowait(msg('old', 0));
        q.putNowait(msg('urgent', 255));
        q.putNowait(msg('mid', 128));
        q.putNowait(msg('new', 1));
        await settle(q);
        expect(ids(dropped)).toEqual(['old']);
        expect(await drain(q)).toEqual(['urgent', 'mid', 'new']);
      });

      it('the oldest is the earliest insertion still queued, whatever was taken before', async () => {
        const { q, dropped } = await dropQueue(3);
        q.putNowait(msg('a', 1));
        q.putNowait(msg('b', 10));
        q.putNowait(msg('c', 5));
        expect((await q.get()).id).toBe('b');
        q.putNowait(msg('d', 0));
        await settle(q);
        expect(dropped).toEqual([]);
        q.putNowait(msg('e', 0));
        q.putNowait(msg('f', 0));
        await settle(q);
        expect(ids(dropped)).toEqual(['a', 'c']);
        expect(await drain(q)).toEqual(['d', 'e', 'f']);
      });

      it('put and putNowait never fail for fullness', async () => {
        const { q } = await dropQueue(1);
        expect(q.putNowait(msg('a'))).toBe(true);
        expect(q.putNowait(msg('b'))).toBe(true);
        await q.put(msg('c'), { timeout: 0 });
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 3, dropped: 2 });
        expectBalanced(q);
        expect(await drain(q)).toEqual(['c']);
      });

      it('onDrop gets the evicted message once the put that evicted it is complete', async () => {
        const seen: { id: string; size: number; dropped: number }[] = [];
        const q = await create({
          maxSize: 2,
          backpressure: DROP_OLDEST,
          onDrop: (m) => seen.push({ id: m.id, size: q.size, dropped: q.stats.dropped }),
        });
        q.putNowait(msg('a'));
        q.putNowait(msg('b'));
        q.putNowait(msg('c'));
        await settle(q);
        expect(seen).toEqual([{ id: 'a', size: 2, dropped: 1 }]);
        expect(q.size).toBe(2);
      });

      it('a putMany larger than maxSize drops its own earliest messages', async () => {
        const { q, dropped } = await dropQueue(2);
        await q.putMany([msg('a'), msg('b'), msg('c'), msg('d')]);
        await settle(q);
        expect(ids(dropped)).toEqual(['a', 'b']);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 4, dropped: 2 });
        expect(await drain(q)).toEqual(['c', 'd']);
      });

      it('works without an onDrop callback', async () => {
        const q = await create({ maxSize: 1, backpressure: DROP_OLDEST });
        q.putNowait(msg('a'));
        await q.put(msg('b'));
        expect(q.stats.dropped).toBe(1);
        expect(await drain(q)).toEqual(['b']);
      });
    });

    describe('putMany under BLOCK', () => {
      it('inserts while there is room and waits for room for the rest', async () => {
        const q = await filled({ maxSize: 3, backpressure: BLOCK }, msg('x'));
        const batch = track(q.putMany([msg('a'), msg('b'), msg('c'), msg('d')]));
        await flush(q);
        expect(q.size).toBe(3);
        expect(batch.status).toBe('pending');
        expect((await q.get()).id).toBe('x');
        expect(q.size).toBe(3);
        await flush(q);
        expect(batch.status).toBe('pending');
        expect((await q.get()).id).toBe('a');
        await flush(q);
        expect(batch.status).toBe('fulfilled');
        expect(await drain(q)).toEqual(['b', 'c', 'd']);
      });

      it('a putMany that fits resolves at once', async () => {
        const q = await create({ maxSize: 3, backpressure: BLOCK });
        await q.putMany([msg('a'), msg('b'), msg('c')], { timeout: 0 });
        expect(q.size).toBe(3);
      });

      it('timeout rejects with QueueFullError whose accepted counts the inserted messages', async () => {
        const q = await filled({ maxSize: 3, backpressure: BLOCK }, msg('x'));
        const batch = track(q.putMany([msg('a'), msg('b'), msg('c'), msg('d'), msg('e')], { timeout: SHORT }));
        expect((await q.get()).id).toBe('x');
        await sleep(LONGER);
        expect(batch.status).toBe('rejected');
        expect(batch.error).toBeInstanceOf(QueueFullError);
        expect((batch.error as QueueFullError).accepted).toBe(3);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 4, dequeued: 1, timedOut: 1 });
        expect(await drain(q)).toEqual(['a', 'b', 'c']);
      });

      it('timeout 0 rejects at once with the count that fitted', async () => {
        const q = await filled({ maxSize: 3, backpressure: BLOCK }, msg('x'));
        const batch = track(q.putMany([msg('a'), msg('b'), msg('c')], { timeout: 0 }));
        await flush(q);
        expect(batch.error).toBeInstanceOf(QueueFullError);
        expect((batch.error as QueueFullError).accepted).toBe(2);
        expect(q.stats.timedOut).toBe(1);
        expect(await drain(q)).toEqual(['x', 'a', 'b']);
      });

      it('abort rejects with the reason and the inserted messages stay', async () => {
        const q = await create({ maxSize: 2, backpressure: BLOCK });
        const controller = new AbortController();
        const batch = track(q.putMany([msg('a'), msg('b'), msg('c')], { signal: controller.signal }));
        await flush(q);
        controller.abort();
        await flush(q);
        expect(batch.error).toBe(controller.signal.reason);
        expect(q.stats.timedOut).toBe(0);
        expect(await drain(q)).toEqual(['a', 'b']);
        expect(q.stats.enqueued).toBe(2);
      });

      it('a waiting putMany is one entry in the putter FIFO: a later put waits until it is all in', async () => {
        const q = await filled({ maxSize: 2, backpressure: BLOCK }, msg('x'), msg('y'));
        const batch = track(q.putMany([msg('a'), msg('b')]));
        const put = track(q.put(msg('c')));
        expect((await q.get()).id).toBe('x');
        await flush(q);
        expect([batch.status, put.status]).toEqual(['pending', 'pending']);
        expect((await q.get()).id).toBe('y');
        await flush(q);
        expect([batch.status, put.status]).toEqual(['fulfilled', 'pending']);
        expect((await q.get()).id).toBe('a');
        await flush(q);
        expect(put.status).toBe('fulfilled');
        expect(await drain(q)).toEqual(['b', 'c']);
      });
    });

    describe('getMany', () => {
      it('returns min(max, size) messages and leaves the rest', async () => {
        const q = await filled({}, msg('a'), msg('b'), msg('c'));
        expect(ids(await q.getMany(2))).toEqual(['a', 'b']);
        expect(q.size).toBe(1);
        expect(q.stats.dequeued).toBe(2);
      });

      it('getMany(1) returns an array of one', async () => {
        const q = await filled({}, msg('a'), msg('b'));
        expect(ids(await q.getMany(1))).toEqual(['a']);
      });

      it('waits on an empty queue and is served in FIFO order with gets', async () => {
        const q = await create();
        const one = q.get();
        const many = track(q.getMany(2));
        await flush(q);
        q.putNowait(msg('a'));
        await flush(q);
        expect(many.status).toBe('pending');
        q.putNowait(msg('b'));
        expect((await one).id).toBe('a');
        expect(ids(await many.promise)).toEqual(['b']);
      });
    });

    describe('clear', () => {
      it('removes every message and returns how many', async () => {
        const q = await filled({}, msg('a'), msg('b'), msg('c'));
        expect(q.clear()).toBe(3);
        expect(q.size).toBe(0);
        expect(q.isEmpty).toBe(true);
        expect(await getNowait(q)).toBeNull();
      });

      it('returns 0 on an empty queue', async () => {
        const q = await create();
        expect(q.clear()).toBe(0);
      });

      it('cleared messages count as neither dequeued nor dropped', async () => {
        const q = await filled({ backpressure: DROP_OLDEST, maxSize: 5 }, msg('a'), msg('b'));
        q.clear();
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 2 });
        expectBalanced(q, 2);
      });

      it('admits blocked putters in FIFO order', async () => {
        const q = await filled({ maxSize: 2, backpressure: BLOCK }, msg('a'), msg('b'));
        const puts = [track(q.put(msg('p1'))), track(q.put(msg('p2'))), track(q.put(msg('p3')))];
        await flush(q);
        expect(q.clear()).toBe(2);
        expect(q.size).toBe(2);
        await flush(q);
        expect(puts.map((p) => p.status)).toEqual(['fulfilled', 'fulfilled', 'pending']);
        expect(await drain(q)).toEqual(['p1', 'p2', 'p3']);
      });

      it('cleared messages are never delivered', async () => {
        const q = await filled({}, msg('a'), msg('b'));
        q.clear();
        q.putNowait(msg('c'));
        expect(await drain(q)).toEqual(['c']);
      });
    });

    describe('peek', () => {
      it('returns null on an empty queue', async () => {
        const q = await create();
        expect(await peek(q)).toBeNull();
      });

      it('returns the message the next get returns, without removing it', async () => {
        const q = await filled({}, msg('a', 1), msg('b', 9), msg('c', 9));
        expect((await peek(q))?.id).toBe('b');
        expect(q.size).toBe(3);
        expect((await peek(q))?.id).toBe('b');
        expect((await q.get()).id).toBe('b');
        expect((await peek(q))?.id).toBe('c');
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 3, dequeued: 1 });
      });
    });

    describe('close', () => {
      it('rejects waiting gets and getManys with QueueClosedError', async () => {
        const q = await create();
        const get = track(q.get());
        const many = track(q.getMany(2, { timeout: 10_000 }));
        await flush(q);
        await q.close();
        await nextTurn();
        expect(get.error).toBeInstanceOf(QueueClosedError);
        expect(many.error).toBeInstanceOf(QueueClosedError);
      });

      it('rejects blocked puts and putManys with QueueClosedError, adding nothing', async () => {
        const q = await filled({ maxSize: 1, backpressure: BLOCK }, msg('a'));
        const put = track(q.put(msg('b')));
        const batch = track(q.putMany([msg('c'), msg('d')]));
        await flush(q);
        await q.close();
        await nextTurn();
        expect(put.error).toBeInstanceOf(QueueClosedError);
        expect(batch.error).toBeInstanceOf(QueueClosedError);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1 });
      });

      it('discards held messages; size, maxSize, stats and closed stay readable', async () => {
        const q = await filled({ maxSize: 5 }, msg('a'), msg('b'));
        await q.get();
        await q.close();
        expect(q.closed).toBe(true);
        expect(q.size).toBe(0);
        expect(q.isEmpty).toBe(true);
        expect(q.maxSize).toBe(5);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 2, dequeued: 1 });
      });

      it('discarding on close is not a DROP_OLDEST drop', async () => {
        const dropped: Msg[] = [];
        const q = await filled({ maxSize: 5, backpressure: DROP_OLDEST, onDrop: (m) => dropped.push(m) }, msg('a'));
        await q.close();
        expect(dropped).toEqual([]);
        expect(q.stats.dropped).toBe(0);
      });

      it('later put, get, putMany and getMany reject with QueueClosedError', async () => {
        const q = await create();
        await q.close();
        await expect(q.put(msg('a'))).rejects.toBeInstanceOf(QueueClosedError);
        await expect(q.get()).rejects.toBeInstanceOf(QueueClosedError);
        await expect(q.putMany([msg('a')])).rejects.toBeInstanceOf(QueueClosedError);
        await expect(q.getMany(1)).rejects.toBeInstanceOf(QueueClosedError);
        expect(stats(q)).toEqual(ZERO_STATS);
      });

      it('later putNowait, getNowait, peek and clear throw QueueClosedError', async () => {
        const q = await create();
        await q.close();
        expect(() => q.putNowait(msg('a'))).toThrow(QueueClosedError);
        expect(() => q.getNowait()).toThrow(QueueClosedError);
        expect(() => q.peek()).toThrow(QueueClosedError);
        expect(() => q.clear()).toThrow(QueueClosedError);
        expect(stats(q)).toEqual(ZERO_STATS);
      });

      it('closing twice is a no-op', async () => {
        const q = await filled({}, msg('a'));
        await q.close();
        const before = stats(q);
        await expect(Promise.resolve().then(() => q.close())).resolves.toBeUndefined();
        expect(q.closed).toBe(true);
        expect(stats(q)).toEqual(before);
      });
    });

    describe('stats', () => {
      it('enqueued counts a message served straight to a waiting getter', async () => {
        const q = await create();
        const get = q.get();
        await q.put(msg('a'));
        await get;
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1, dequeued: 1 });
      });

      it('getMany counts every message it returns as dequeued', async () => {
        const q = await filled({}, msg('a'), msg('b'), msg('c'));
        await q.getMany(2);
        await q.get();
        expect(q.stats.dequeued).toBe(3);
      });

      it('a timed-out putMany counts one timed-out operation', async () => {
        const q = await filled({ maxSize: 1, backpressure: BLOCK }, msg('x'));
        await expect(q.putMany([msg('a'), msg('b'), msg('c')], { timeout: 5 })).rejects.toThrow(QueueFullError);
        expect(q.stats.timedOut).toBe(1);
        expect(q.stats.rejected).toBe(0);
      });

      it.each([BLOCK, REJECT, DROP_OLDEST])('size == enqueued - dequeued - dropped - cleared throughout (%s)', async (backpressure) => {
        const q = await create({ maxSize: 3, backpressure });
        let cleared = 0;
        const check = () => expectBalanced(q, cleared);
        for (const p of [5, 1, 9, 5, 7]) {
          q.putNowait(msg(`n${p}`, p));
          check();
        }
        await q.put(msg('p', 2), { timeout: 0 }).catch(() => {});
        check();
        await q.putMany([msg('m1'), msg('m2')], { timeout: 0 }).catch(() => {});
        check();
        await q.get();
        check();
        await q.getMany(2);
        check();
        q.putNowait(msg('q'));
        cleared += q.clear();
        check();
        q.putNowait(msg('r'));
        await getNowait(q);
        check();
        const s = q.stats;
        expect(s.enqueued + s.rejected + s.timedOut).toBeGreaterThan(0);
      });

      it('stats under each strategy after the same overflow', async () => {
        const overflow = async (backpressure: BackpressureStrategy) => {
          const q = await create({ maxSize: 2, backpressure });
          for (const id of ['a', 'b', 'c']) q.putNowait(msg(id));
          return stats(q);
        };
        expect(await overflow(BLOCK)).toEqual({ ...ZERO_STATS, enqueued: 2, rejected: 1 });
        expect(await overflow(REJECT)).toEqual({ ...ZERO_STATS, enqueued: 2, rejected: 1 });
        expect(await overflow(DROP_OLDEST)).toEqual({ ...ZERO_STATS, enqueued: 3, dropped: 1 });
      });
    });

    describe('hostile input', () => {
      it('a signal that is not an AbortSignal is a TypeError and leaves no waiter behind', async () => {
        const q = await create();
        const fake = { aborted: false } as unknown as AbortSignal;
        await expect(q.get({ signal: fake })).rejects.toThrow(TypeError);
        expect(q.putNowait(msg('a'))).toBe(true);
        expect(q.size).toBe(1);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 1 });
      });

      it('options are read once: a getter cannot swap the validated timeout', async () => {
        const q = await create();
        let reads = 0;
        const options = {
          get timeout() {
            reads++;
            return reads === 1 ? SHORT : -1;
          },
        };
        await expect(q.get(options)).rejects.toBeInstanceOf(QueueTimeoutError);
        expect(reads).toBe(1);
      });

      it('a thenable message is a TypeError (a promise cannot resolve to it)', async () => {
        const q = await create();
        const thenable = { ...msg('t'), then() {} } as Msg;
        await expect(q.put(thenable)).rejects.toThrow(TypeError);
        expect(() => q.putNowait(thenable)).toThrow(TypeError);
        expect(q.size).toBe(0);
      });

      it('a blocked putMany keeps its own copy of the batch', async () => {
        const q = await filled({ maxSize: 1 }, msg('x'));
        const batch = [msg('a'), msg('b')];
        const done = q.putMany(batch);
        batch.push(msg('late'));
        batch[0] = msg('swapped');
        expect(ids(await q.getMany(1))).toEqual(['x']);
        expect(ids(await q.getMany(1))).toEqual(['a']);
        expect(ids(await q.getMany(1))).toEqual(['b']);
        await done;
        expect(q.size).toBe(0);
      });

      it('onDrop closing the queue during a putMany leaves nothing in the closed queue', async () => {
        const q = await create({ maxSize: 1, backpressure: DROP_OLDEST, onDrop: () => void q.close() });
        await q.putMany([msg('a'), msg('b'), msg('c')]).catch(() => {});
        await settle(q).catch(() => {});
        expect(q.closed).toBe(true);
        expect(q.size).toBe(0);
      });
    });

    describe('large queues (hundreds of messages over all 256 priorities)', () => {
      /** n messages with seeded random priorities 0..255; `expected` is their priority-then-FIFO order. */
      function spread(n: number, seed: number, prefix = 'm'): { messages: Msg[]; expected: string[] } {
        const random = rng(seed);
        const messages = Array.from({ length: n }, (_, i) => msg(`${prefix}${i}`, randInt(random, 0, 255)));
        const expected = messages
          .map((m, i) => ({ m, i }))
          .sort((a, b) => b.m.priority! - a.m.priority! || a.i - b.i)
          .map(({ m }) => m.id);
        return { messages, expected };
      }

      it('600 messages come out of getMany in chunks of every size in exact priority, then FIFO, order', async () => {
        const q = await create({ maxSize: 1000 });
        const { messages, expected } = spread(600, 11);
        await q.putMany(messages.slice(0, 350));
        for (const m of messages.slice(350)) q.putNowait(m);
        const got: string[] = [];
        for (const size of [1, 37, 100, 5, 64, 200, 1000]) got.push(...ids(await q.getMany(size)).map(String));
        expect(got).toEqual(expected);
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 600, dequeued: 600 });
      });

      it('get, getNowait and peek follow the exact head of a queue of 500 while urgent messages keep arriving', async () => {
        const q = await create({ maxSize: 1000 });
        const { messages } = spread(500, 12);
        await q.putMany(messages);
        const model = messages.map((m, i) => ({ id: m.id, p: m.priority!, i }));
        const takeModel = (): string => {
          let best = 0;
          for (let j = 1; j < model.length; j++) if (model[j].p > model[best].p || (model[j].p === model[best].p && model[j].i < model[best].i)) best = j;
          return model.splice(best, 1)[0].id;
        };
        const random = rng(13);
        for (let round = 0; round < 40; round++) {
          const m = msg(`late${round}`, randInt(random, 200, 255));
          q.putNowait(m);
          model.push({ id: m.id, p: m.priority!, i: 1000 + round });
          const peeked = (await peek(q))?.id;
          const expectedHead = takeModel();
          expect(peeked).toBe(expectedHead);
          const viaGet = round % 2 === 0 ? (await q.get()).id : (await getNowait(q))?.id;
          expect(viaGet).toBe(expectedHead);
        }
        expect(q.size).toBe(model.length);
        const rest = ids(await q.getMany(1000));
        const expectedRest: string[] = [];
        while (model.length > 0) expectedRest.push(takeModel());
        expect(rest).toEqual(expectedRest);
      });

      it('DROP_OLDEST on a full queue of 300 evicts exactly the oldest, in order, whatever their priority', async () => {
        const dropped: Msg[] = [];
        const q = await create({ maxSize: 300, backpressure: DROP_OLDEST, onDrop: (m) => dropped.push(m) });
        const { messages } = spread(300, 14);
        await q.putMany(messages);
        const more = spread(180, 15, 'n').messages;
        await q.putMany(more.slice(0, 100));
        for (const m of more.slice(100)) q.putNowait(m);
        await settle(q);
        expect(ids(dropped)).toEqual(messages.slice(0, 180).map((m) => m.id));
        const rest = [...messages.slice(180), ...more];
        const expected = rest
          .map((m, i) => ({ m, i }))
          .sort((a, b) => b.m.priority! - a.m.priority! || a.i - b.i)
          .map(({ m }) => m.id);
        expect(ids(await q.getMany(300))).toEqual(expected);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: 480, dequeued: 300, dropped: 180 });
      });

      it('clear empties a queue of 500 and it keeps its order afterwards', async () => {
        const q = await create({ maxSize: 600 });
        await q.putMany(spread(500, 16).messages);
        expect(q.clear()).toBe(500);
        const { messages, expected } = spread(300, 17, 'k');
        await q.putMany(messages);
        expect(ids(await q.getMany(1000))).toEqual(expected);
      });
    });

    describe('bugs seen in other queue libraries, which this one must not have', () => {
      it('DROP_OLDEST does not evict the most urgent message when an older one is queued', async () => {
        const dropped: Msg[] = [];
        const q = await create({ maxSize: 2, backpressure: DROP_OLDEST, onDrop: (m) => dropped.push(m) });
        q.putNowait(msg('old-low', 3));
        q.putNowait(msg('urgent', 255));
        q.putNowait(msg('newest', 0));
        await settle(q);
        expect(ids(dropped)).toEqual(['old-low']);
        expect((await peek(q))?.id).toBe('urgent');
      });

      it('BLOCK really blocks: put on a full queue is still pending after a while', async () => {
        const q = await filled({ maxSize: 1 }, msg('a'));
        const put = track(q.put(msg('b')));
        await sleep(LONGER);
        expect(put.status).toBe('pending');
        expect(q.size).toBe(1);
        expect(q.stats.enqueued).toBe(1);
        await q.get();
        await flush(q);
        expect(put.status).toBe('fulfilled');
      });

      it('the put timeout is honoured', { timeout: 2_000 }, async () => {
        const q = await filled({ maxSize: 1 }, msg('a'));
        const put = track(q.put(msg('b'), { timeout: SHORT }));
        await sleep(LONGER * 2);
        expect(put.status).toBe('rejected');
        expect(put.error).toBeInstanceOf(QueueFullError);
      });

      it('putNowait wakes a get that is already waiting', { timeout: 2_000 }, async () => {
        const q = await create();
        const get = track(q.get());
        await sleep(5);
        q.putNowait(msg('a'));
        await flush(q);
        expect(get.status).toBe('fulfilled');
        expect(get.value?.id).toBe('a');
      });

      it('no lost wake-ups: many getters, messages arriving one by one at random moments', { timeout: 5_000 }, async () => {
        const q = await create({ maxSize: 4 });
        const n = 40;
        const getters = Array.from({ length: n }, () => q.get());
        const puts: Promise<void>[] = [];
        for (let i = 0; i < n; i++) {
          if (i % 3 === 0) q.putNowait(msg(`m${i}`, i % 7));
          else if (i % 3 === 1) puts.push(q.put(msg(`m${i}`, i % 7)));
          else setTimeout(() => void q.putMany([msg(`m${i}`, i % 7)]), i % 5);
          if (i % 4 === 0) await nextTurn();
        }
        await Promise.all(puts);
        const got = ids(await Promise.all(getters));
        expect([...got].sort()).toEqual(Array.from({ length: n }, (_, i) => `m${i}`).sort());
        expect(q.size).toBe(0);
        expect(stats(q)).toEqual({ ...ZERO_STATS, enqueued: n, dequeued: n });
      });

      it('no lost wake-ups: blocked putters are all admitted as consumers take messages', { timeout: 5_000 }, async () => {
        const q = await create({ maxSize: 2 });
        const n = 30;
        const puts = Array.from({ length: n }, (_, i) => q.put(msg(`m${i}`)));
        const got: Msg[] = [];
        for (let i = 0; i < n; i++) {
          if (i % 3 === 0) got.push(await q.get());
          else if (i % 3 === 1) got.push(...(await q.getMany(1)));
          else got.push((await getNowait(q))!);
        }
        await Promise.all(puts);
        expect(ids(got)).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
        expect(q.size).toBe(0);
      });
    });
  });
}
