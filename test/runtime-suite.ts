/**
 * The ring kernel runtime's behaviour, as one backend-agnostic suite: `runtimeSuite('cpu')` and
 * `runtimeSuite('gpu')` run the same tests. Timing is never asserted; `rt.idle()` (nothing more
 * can be processed) is the synchronisation point.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  BackpressureStrategy,
  KernelAlreadyExistsError,
  KernelHandle,
  KernelNotFoundError,
  KernelRouteError,
  KernelStalledError,
  KernelState,
  KernelStateError,
  NoReplyError,
  QueueFullError,
  QueueTimeoutError,
  RingKernelRuntime,
  defineMessage,
  defineRingKernel,
} from 'ringkernel';
import { OP, Num, addTen, compute, counter, double, fanOut, numeric, picky, shuffle } from './runtime-kernels.js';

const req = (values: number[], op: number, priority?: number) => ({
  values: [...values, ...Array(8 - values.length).fill(0)],
  count: values.length,
  op,
  ...(priority === undefined ? {} : { priority }),
});
const num = (v: number, id: number, priority?: number) => ({ v, id, ...(priority === undefined ? {} : { priority }) });

export function runtimeSuite(backend: 'cpu' | 'gpu'): void {
  describe(`RingKernelRuntime (${backend} backend)`, () => {
    const open: RingKernelRuntime[] = [];
    afterEach(async () => {
      for (const rt of open.splice(0)) await rt.shutdown();
    });
    async function runtime(options: { telemetry?: boolean } = {}): Promise<RingKernelRuntime> {
      const rt = await RingKernelRuntime.create({ backend, ...options });
      open.push(rt);
      return rt;
    }

    describe('lifecycle', () => {
      it('launch, activate, deactivate, reactivate, terminate: each state in turn; kernelIds in launch order', async () => {
        const rt = await runtime();
        expect(rt.isActive).toBe(true);
        expect(rt.kernelIds).toEqual([]);
        await rt.launch('b', addTen);
        await rt.launch('a', double, { sendsTo: 'b' });
        expect(rt.kernelIds).toEqual(['b', 'a']);
        expect(rt.state('a')).toBe(KernelState.LAUNCHED);
        await rt.activate('a');
        expect(rt.state('a')).toBe('active');
        await rt.deactivate('a');
        expect(rt.state('a')).toBe(KernelState.DEACTIVATED);
        await rt.reactivate('a');
        expect(rt.state('a')).toBe(KernelState.ACTIVE);
        await rt.terminate('a');
        expect(rt.kernelIds).toEqual(['b']);
        expect(() => rt.state('a')).toThrow(KernelNotFoundError);
        await rt.terminate('b');
        expect(rt.kernelIds).toEqual([]);
      });

      it('KernelState values are the lower-case names', () => {
        expect(KernelState).toEqual({
          CREATED: 'created',
          LAUNCHED: 'launched',
          ACTIVE: 'active',
          DEACTIVATED: 'deactivated',
          TERMINATING: 'terminating',
          TERMINATED: 'terminated',
        });
      });

      it('every illegal transition rejects with KernelStateError naming the kernel, its state and the operation', async () => {
        const rt = await runtime();
        await rt.launch('k', double);
        const refuse = async (p: Promise<unknown>, state: string, operation: string) => {
          const e = (await p.then(() => null, (x: unknown) => x)) as KernelStateError;
          expect(e).toBeInstanceOf(KernelStateError);
          expect([e.kernelId, e.state, e.operation]).toEqual(['k', state, operation]);
          expect(e.message).toBe(`Cannot ${operation} kernel 'k' from state '${state}'`);
        };
        await refuse(rt.deactivate('k'), 'launched', 'deactivate');
        await refuse(rt.reactivate('k'), 'launched', 'reactivate');
        await refuse(rt.receive('k'), 'launched', 'receive');
        await rt.activate('k');
        await refuse(rt.activate('k'), 'active', 'activate');
        await refuse(rt.reactivate('k'), 'active', 'reactivate');
        await rt.deactivate('k');
        await refuse(rt.activate('k'), 'deactivated', 'activate');
        await refuse(rt.deactivate('k'), 'deactivated', 'deactivate');
        await expect(rt.send('k', num(1, 1))).resolves.toBeUndefined(); // send: LAUNCHED, ACTIVE, DEACTIVATED
        await expect(rt.receive('k', { timeout: 0 })).rejects.toBeInstanceOf(QueueTimeoutError); // receive: ACTIVE, DEACTIVATED
      });

      it('an unknown or terminated kernel is KernelNotFoundError everywhere; a second launch is KernelAlreadyExistsError', async () => {
        const rt = await runtime();
        await rt.launch('gone', counter);
        await rt.terminate('gone');
        for (const id of ['x', 'gone']) {
          for (const call of [
            () => rt.activate(id),
            () => rt.deactivate(id),
            () => rt.reactivate(id),
            () => rt.terminate(id),
            () => rt.send(id, num(1, 1)),
            () => rt.sendMany(id, []),
            () => rt.receive(id),
            () => rt.receiveMany(id, 1),
            () => rt.sendAndReceive(id, num(1, 1)),
            () => rt.readState(id),
          ]) {
            await expect(call()).rejects.toBeInstanceOf(KernelNotFoundError);
          }
          expect(() => rt.state(id)).toThrow(KernelNotFoundError);
          expect(() => rt.telemetry(id)).toThrow(KernelNotFoundError);
        }
        await rt.launch('k', double);
        await expect(rt.launch('k', addTen)).rejects.toBeInstanceOf(KernelAlreadyExistsError);
        expect(rt.kernelIds).toEqual(['k']);
      });

      it('launch starts a runtime that was not started; shutdown terminates every kernel (upstream first)', async () => {
        const rt = new RingKernelRuntime({ backend });
        open.push(rt);
        expect(rt.isActive).toBe(false);
        await rt.launch('end', addTen);
        await rt.launch('mid', double, { sendsTo: 'end' });
        await rt.launch('head', double, { sendsTo: 'mid' });
        expect(rt.isActive).toBe(true);
        await rt.shutdown();
        expect(rt.isActive).toBe(false);
        expect(rt.kernelIds).toEqual([]);
      });

      it('terminating a kernel another one sends to is refused (KernelStateError, terminate)', async () => {
        const rt = await runtime();
        await rt.launch('b', addTen);
        await rt.launch('a', double, { sendsTo: 'b' });
        const e = (await rt.terminate('b').catch((x: unknown) => x)) as KernelStateError;
        expect(e).toBeInstanceOf(KernelStateError);
        expect(e.operation).toBe('terminate');
        expect(e.message).toMatch(/kernel 'a' sends to it/);
        expect(rt.kernelIds).toEqual(['b', 'a']);
      });

      it('bad configuration rejects launch with a clear error and leaves nothing behind', async () => {
        const rt = await runtime();
        await rt.launch('b', addTen);
        for (const [config, error] of [
          [{ inputQueueSize: 0 }, RangeError],
          [{ outputQueueSize: 1.5 }, RangeError],
          [{ maxMessagesPerTick: -1 }, RangeError],
          [{ inputQueueSize: Number.NaN }, RangeError],
          [{ backpressure: 'lifo' }, RangeError],
          [{ sendsTo: 'nowhere' }, KernelNotFoundError],
        ] as const) {
          await expect(rt.launch('a', double, config as never)).rejects.toBeInstanceOf(error);
        }
        // sendsTo a kernel whose input schema is not this kernel's output
        const Other = defineMessage({ name: 'Other', fields: { x: 'f32' } });
        const sinkOfOther = defineRingKernel({ name: 'sinkOfOther', input: Other, wgsl: 'fn handle(msg: Other, priority: u32) { }', cpu: () => undefined });
        await rt.launch('other', sinkOfOther);
        await expect(rt.launch('a', double, { sendsTo: 'other' })).rejects.toThrow(/emits Num but 'other' consumes Other/);
        expect(rt.kernelIds).toEqual(['b', 'other']);
        await rt.launch('a', double, { sendsTo: 'b' }); // the id is free
      });

      it('kernelScope launches and activates, runs the body, and terminates even when it throws', async () => {
        const rt = await runtime();
        const result = await rt.kernelScope('k', double, {}, async () => {
          expect(rt.state('k')).toBe('active');
          return (await rt.sendAndReceive('k', num(21, 1))) as Num;
        });
        expect(result).toEqual({ v: 42, id: 1, priority: 128 });
        expect(rt.kernelIds).toEqual([]);
        await expect(
          rt.kernelScope('k', double, {}, async () => {
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(rt.kernelIds).toEqual([]);
      });

      it('terminate rejects the kernel\'s waiting senders and receivers with KernelStateError', async () => {
        const rt = await runtime();
        await rt.launch('k', double, { inputQueueSize: 1 });
        await rt.send('k', num(1, 1));
        const blockedSend = rt.send('k', num(2, 2)); // full, not active: waits
        await rt.activate('k');
        await rt.deactivate('k');
        await rt.idle();
        const waitingReceive = rt.receive('k'); // (the first output may or may not be there yet)
        const second = rt.receive('k');
        const third = rt.receive('k');
        await rt.terminate('k');
        const outcomes = await Promise.allSettled([blockedSend, waitingReceive, second, third]);
        const rejected = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
        expect(rejected.length).toBeGreaterThanOrEqual(2);
        for (const r of rejected) {
          expect(r.reason).toBeInstanceOf(KernelStateError);
          expect((r.reason as KernelStateError).state).toBe('terminated');
        }
      });

      it('requests whose messages die with their chain stop being tracked: terminate the chain and none is left', async () => {
        const rt = await runtime();
        await rt.launch('b', addTen);
        await rt.launch('a', double, { sendsTo: 'b' });
        await rt.activate('a'); // b stays LAUNCHED: a's outputs wait in b's input queue
        const requests = [1, 2, 3].map((i) => rt.sendAndReceive('a', num(i, i)));
        await rt.idle();
        expect(rt.telemetry('a')!.messagesProcessed).toBe(3);
        expect(rt.trackedRequests).toBe(3);
        await rt.terminate('a');
        expect(rt.trackedRequests).toBe(3); // their messages still wait in b: b would answer them
        await rt.terminate('b');
        for (const r of await Promise.allSettled(requests)) {
          expect(r.status).toBe('rejected');
          expect((r as PromiseRejectedResult).reason).toBeInstanceOf(KernelStateError);
        }
        expect(rt.trackedRequests).toBe(0);
      });

      it('launch refuses to send to a kernel that is being terminated, and leaves nothing behind', async () => {
        const rt = await runtime();
        await rt.launch('b', addTen);
        const terminating = rt.terminate('b');
        expect(rt.state('b')).toBe(KernelState.TERMINATING);
        const refused = await rt.launch('a', double, { sendsTo: 'b' }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(KernelStateError);
        expect((refused as Error).message).toMatch(/'b'.*'terminating'.*cannot send to it/);
        await terminating;
        expect(rt.kernelIds).toEqual([]);
      });
    });

    describe('messages', () => {
      it('send then receive: the compute service gives exact sums, means, maxima and minima', async () => {
        const rt = await runtime();
        await rt.launch('compute', compute, { inputQueueSize: 64, outputQueueSize: 64 });
        await rt.activate('compute');
        const cases: [number[], number, number][] = [
          [[1, 2, 3, 4], OP.SUM, 10],
          [[1, 2, 3, 4], OP.MEAN, 2.5],
          [[5, -3, 8.5, 2], OP.MAX, 8.5],
          [[5, -3, 8.5, 2], OP.MIN, -3],
          [[1, 2, 3, 4, 5, 6, 7, 8], OP.SUM, 36],
          [[-0.5], OP.MEAN, -0.5],
        ];
        for (const [values, op, expected] of cases) {
          expect(await rt.sendAndReceive('compute', req(values, op))).toEqual({ result: expected, priority: 128 });
        }
        // the same through send / receive, priorities kept and ordered
        await rt.sendMany('compute', cases.map(([values, op], i) => req(values, op, i * 10)));
        await rt.idle();
        const out = (await rt.receiveMany('compute', 100)) as { result: number; priority: number }[];
        expect(out).toEqual(cases.map(([, , expected], i) => ({ result: expected, priority: i * 10 })).reverse());
      });

      it('100 concurrent sendAndReceive calls each get the reply to their own message', async () => {
        const rt = await runtime();
        await rt.launch('k', double, { inputQueueSize: 256 });
        await rt.activate('k');
        const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => rt.sendAndReceive('k', num(i, 1000 + i, (i * 37) % 256))));
        replies.forEach((r, i) => expect(r).toEqual({ v: 2 * i, id: 1000 + i, priority: (i * 37) % 256 }));
        // none of them also went to receive
        await rt.idle();
        await expect(rt.receive('k', { timeout: 0 })).rejects.toBeInstanceOf(QueueTimeoutError);
      });

      it('numbers as WGSL stores them: f32 fields rounded to 32 bits, integer results wrapped; the same bits on both backends', async () => {
        const rt = await runtime();
        await rt.launch('num', numeric);
        await rt.activate('num');
        const f = Math.fround;
        const inputs = [
          { a: 0.1, b: 0.2, n: 1, u: 1, xs: [1, 2] },
          { a: 1e-7, b: 3.3333333, n: 70_000, u: 2 ** 20 + 3, xs: [0.7, -5.1] },
          { a: -123.456, b: 7.5e10, n: -40_000, u: 0xffffffff, xs: [1e30, 3.14159] },
          { a: 16777217, b: 0.5, n: 2 ** 31 - 1, u: 2 ** 31, xs: [-0, 2 ** -140] },
        ];
        const want = inputs.map((m) => ({
          sum: f(f(m.a) + f(m.b)),
          prod: f(f(m.a) * f(m.b)),
          scaled: (m.n * 65536) | 0,
          mixed: (m.u * 4096 + 7) >>> 0,
          xs: [f(f(m.xs[0]) / 3), f(f(m.xs[1]) / 3)],
          priority: 128,
        }));
        // (the example: 0.1 + 0.2 in f32)
        expect(want[0].sum).toBe(0.30000001192092896);
        await rt.sendMany('num', inputs);
        await rt.idle();
        expect(await rt.receiveMany('num', 10)).toEqual(want);
        expect(rt.telemetry('num')).toMatchObject({ messagesProcessed: 4, messagesEmitted: 4, errors: 0, lastError: null });
      });

      it('a request whose message produced no output rejects at once with NoReplyError (not a timeout); a failed handler is counted', async () => {
        const rt = await runtime();
        await rt.launch('p', picky);
        await rt.activate('p');
        const e = await rt.sendAndReceive('p', num(-7, 1), { timeout: 60_000 }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(NoReplyError);
        expect((e as Error).name).not.toBe('TimeoutError');
        expect(rt.telemetry('p')).toMatchObject({ messagesProcessed: 1, messagesEmitted: 0, errors: 1, lastError: 'failed with code 7' });
        expect(await rt.sendAndReceive('p', num(3, 2))).toEqual({ v: 3, id: 2, priority: 128 });
      });

      it('a reply that arrives after its caller timed out goes to receive; the caller gets a TimeoutError', async () => {
        const rt = await runtime();
        await rt.launch('k', double);
        // not active: the message waits, the request times out
        const e = await rt.sendAndReceive('k', num(4, 9), { timeout: 20 }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(QueueTimeoutError);
        expect((e as Error).name).toBe('TimeoutError');
        await rt.activate('k');
        expect(await rt.receive('k')).toEqual({ v: 8, id: 9, priority: 128 });
      });

      it('further outputs of a request go to receive, in order; rk_emit refuses past maxEmits', async () => {
        const rt = await runtime();
        await rt.launch('f', fanOut, { inputQueueSize: 16, outputQueueSize: 64 });
        await rt.activate('f');
        expect(await rt.sendAndReceive('f', num(3, 5))).toEqual({ v: 0, id: 5, priority: 128 });
        await rt.idle();
        expect(await rt.receiveMany('f', 10)).toEqual([num(1, 5, 128), num(2, 5, 128)]);
        // outputs in input order (each input's emits in emit order), across many inputs of one priority
        await rt.sendMany('f', [num(2, 1), num(0, 2), num(3, 3), num(1, 4)]);
        await rt.idle();
        expect(await rt.receiveMany('f', 10)).toEqual([num(0, 1, 128), num(1, 1, 128), num(0, 3, 128), num(1, 3, 128), num(2, 3, 128), num(0, 4, 128)]);
        expect(rt.telemetry('f')!.errors).toBe(0); // the fourth emit was refused each time
      });

      it('messages that do not fit the schema (an array of the wrong length too) are refused and nothing is sent', async () => {
        const rt = await runtime();
        await rt.launch('c', compute);
        await expect(rt.send('c', { values: [1, 2], count: 2, op: 0 })).rejects.toBeInstanceOf(RangeError);
        await expect(rt.send('c', { values: Array(8).fill(0), count: -1, op: 0 })).rejects.toBeInstanceOf(RangeError);
        await expect(rt.send('c', { values: Array(8).fill(0), op: 0 } as never)).rejects.toBeInstanceOf(TypeError);
        await expect(rt.sendMany('c', [req([1], 0), { ...req([1], 0), priority: 300 }])).rejects.toBeInstanceOf(RangeError);
        await expect(rt.sendManyPacked('c', new Uint32Array(3), new Uint8Array(1))).rejects.toBeInstanceOf(RangeError);
        expect(rt.telemetry('c')!.inputDepth).toBe(0);
      });

      it('receive on a kernel that sends to another rejects naming the end of its chain; on a sink, that it has no outputs', async () => {
        const rt = await runtime();
        await rt.launch('end', addTen);
        await rt.launch('mid', double, { sendsTo: 'end' });
        await rt.launch('head', double, { sendsTo: 'mid' });
        await rt.launch('sink', counter);
        for (const id of ['head', 'mid', 'end', 'sink']) await rt.activate(id);
        const e = await rt.receive('head').catch((x: unknown) => x);
        expect(e).toBeInstanceOf(KernelRouteError);
        expect((e as Error).message).toMatch(/receive from 'end', the end of its chain/);
        await expect(rt.receive('sink')).rejects.toThrow(/'sink' is a sink/);
      });

      it('packed batches: sendManyPacked and receiveManyPacked move the schemas\' words', async () => {
        const rt = await runtime();
        await rt.launch('k', double, { inputQueueSize: 100, outputQueueSize: 100 });
        await rt.activate('k');
        const n = 50;
        const words = new Uint32Array(n * Num.words);
        const priorities = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          words[i * Num.words] = i - 20; // i32 as its bits
          words[i * Num.words + 1] = i;
          priorities[i] = i % 3;
        }
        await rt.sendManyPacked('k', words, priorities);
        await rt.idle();
        const got = await rt.receiveManyPacked('k', 100);
        expect(got.count).toBe(n);
        const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (b % 3) - (a % 3) || a - b);
        expect(Array.from(got.priorities)).toEqual(order.map((i) => i % 3));
        const i32 = new Int32Array(got.words.buffer);
        expect(Array.from({ length: n }, (_, j) => got.words[j * Num.words + 1])).toEqual(order);
        expect(Array.from({ length: n }, (_, j) => i32[j * Num.words])).toEqual(order.map((i) => 2 * (i - 20)));
      });
    });

    describe('pipelines, state, backpressure', () => {
      /** What a sequence of chunked receives must return: every message by priority, most urgent first, FIFO (by id here) within one. */
      const urgentFirst = (ms: { v: number; id: number; priority: number }[]) => [...ms].sort((x, y) => y.priority - x.priority || x.id - y.id);
      async function receiveInChunks(rt: RingKernelRuntime, id: string, chunk: number, total: number) {
        const got: { v: number; id: number; priority: number }[] = [];
        while (got.length < total) {
          await rt.idle();
          got.push(...((await rt.receiveMany(id, chunk)) as typeof got));
        }
        return got;
      }

      it('a stage takes the most urgent of what the stage before emitted in the same tick, FIFO within a priority, and queues the rest in that order', async () => {
        const rt = await runtime();
        // the last stage can keep only 7 outputs: each tick it takes the 7 most urgent of its input
        await rt.launch('last', addTen, { inputQueueSize: 256, outputQueueSize: 7 });
        await rt.launch('mid', double, { inputQueueSize: 256, maxMessagesPerTick: 50, sendsTo: 'last' });
        await rt.launch('mix', shuffle, { inputQueueSize: 256, sendsTo: 'mid' });
        for (const id of ['last', 'mid', 'mix']) await rt.activate(id);
        const sent = Array.from({ length: 200 }, (_, id) => num(id, id));
        await rt.sendMany('mix', sent);
        const got = await receiveInChunks(rt, 'last', 7, 200);
        const model = urgentFirst(sent.map((m) => ({ v: m.v * 2 + 10, id: m.id, priority: (m.id * 37) % 64 })));
        expect(got).toEqual(model);
        expect(rt.telemetry('mid')).toMatchObject({ messagesProcessed: 200, inputDepth: 0 });
      });

      it('what a stage does not take of the stage before\'s outputs waits in emission order: DROP_OLDEST later evicts the first emitted, not the least urgent', async () => {
        const rt = await runtime();
        await rt.launch('last', addTen, { inputQueueSize: 3, outputQueueSize: 1, backpressure: 'drop' });
        await rt.launch('mix', shuffle, { sendsTo: 'last' });
        for (const id of ['last', 'mix']) await rt.activate(id);
        // priorities (id * 37) % 64: id 0 -> 0, id 1 -> 37, id 2 -> 10; 'last' keeps one output, so it takes id 1
        await rt.sendMany('mix', [num(0, 0), num(1, 1), num(2, 2)]);
        await rt.idle();
        expect(rt.telemetry('last')).toMatchObject({ messagesProcessed: 1, inputDepth: 2, outputDepth: 1 });
        await rt.send('last', num(10, 10));
        await rt.send('last', num(11, 11)); // full: evicts the oldest, id 0 (emitted before id 2)
        const got = await receiveInChunks(rt, 'last', 1, 4);
        expect(got.map((m) => m.id)).toEqual([1, 10, 11, 2]);
        expect(rt.telemetry('last')!.messagesDropped).toBe(1);
      });

      it('large batches through a stage keep priority and FIFO order: chunks of one priority, chunks of mixed ones, a partial last chunk', async () => {
        const rt = await runtime();
        await rt.launch('out', addTen, { inputQueueSize: 4096, outputQueueSize: 8192 });
        await rt.launch('src', double, { inputQueueSize: 4096, sendsTo: 'out' });
        await rt.launch('mixOut', addTen, { inputQueueSize: 4096, outputQueueSize: 8192 });
        await rt.launch('mix', shuffle, { inputQueueSize: 4096, sendsTo: 'mixOut' });
        for (const id of ['out', 'src', 'mixOut', 'mix']) await rt.activate(id);
        // runs of 700 at one priority: whole 256-position chunks of one priority, and chunks where two runs meet
        const runs = Array.from({ length: 3000 }, (_, id) => num(id, id, 200 - Math.floor(id / 700) * 50));
        const mixed = Array.from({ length: 2999 }, (_, id) => num(id, id));
        await Promise.all([rt.sendMany('src', runs), rt.sendMany('mix', mixed)]);
        await rt.idle();
        expect(await receiveInChunks(rt, 'out', 3000, 3000)).toEqual(urgentFirst(runs.map((m) => ({ v: m.v * 2 + 10, id: m.id, priority: m.priority! }))));
        expect(await receiveInChunks(rt, 'mixOut', 2999, 2999)).toEqual(urgentFirst(mixed.map((m) => ({ v: m.v + 10, id: m.id, priority: (m.id * 37) % 64 }))));
      });

      it('large batches whose every emit position has one priority (and ones that leave slots empty, or are requests) keep FIFO and lose nothing', async () => {
        const rt = await runtime();
        await rt.launch('out', addTen, { inputQueueSize: 4096, outputQueueSize: 8192 });
        await rt.launch('src', double, { inputQueueSize: 4096, sendsTo: 'out' });
        await rt.launch('fan', fanOut, { inputQueueSize: 4096, outputQueueSize: 8192 });
        for (const id of ['out', 'src', 'fan']) await rt.activate(id);
        // 1500 at one priority through two stages: every chunk of both ingests has one key
        const flat = Array.from({ length: 1500 }, (_, id) => num(id, id, 77));
        await rt.sendMany('src', flat);
        await rt.idle();
        expect(await receiveInChunks(rt, 'out', 1500, 1500)).toEqual(flat.map((m) => ({ v: m.v * 2 + 10, id: m.id, priority: 77 })));
        // three outputs per input, all at one priority; then two per input (an empty slot each)
        for (const copies of [3, 2]) {
          const fan = Array.from({ length: 400 }, (_, id) => num(copies, id, 9));
          await rt.sendMany('fan', fan);
          await rt.idle();
          const want = fan.flatMap((m) => Array.from({ length: copies }, (_, c) => ({ v: c, id: m.id, priority: 9 })));
          expect(await receiveInChunks(rt, 'fan', 2000, want.length)).toEqual(want);
        }
        // 600 requests at one priority in one tick: their replies are diverted, none is pushed
        const replies = await Promise.all(Array.from({ length: 600 }, (_, i) => rt.sendAndReceive('src', num(i, 5000 + i, 30))));
        replies.forEach((r, i) => expect(r).toEqual({ v: 2 * i + 10, id: 5000 + i, priority: 30 }));
        await rt.idle();
        expect(rt.telemetry('out')!.outputDepth).toBe(0);
        expect(rt.telemetry('fan')).toMatchObject({ messagesProcessed: 800, messagesEmitted: 2000, errors: 0 });
      });

      it('two stages sending to one: its input holds both batches in the order the stages run (launch order), FIFO within a priority', async () => {
        const rt = await runtime();
        await rt.launch('sink', addTen, { inputQueueSize: 512, outputQueueSize: 5 });
        await rt.launch('first', shuffle, { sendsTo: 'sink' });
        await rt.launch('second', shuffle, { sendsTo: 'sink' });
        for (const id of ['sink', 'first', 'second']) await rt.activate(id);
        const one = Array.from({ length: 120 }, (_, id) => num(id, id));
        const two = Array.from({ length: 120 }, (_, i) => num(i, 120 + i));
        await Promise.all([rt.sendMany('second', two), rt.sendMany('first', one)]);
        const got = await receiveInChunks(rt, 'sink', 5, 240);
        expect(got).toEqual(urgentFirst([...one, ...two].map((m) => ({ v: m.v + 10, id: m.id, priority: (m.id * 37) % 64 }))));
      });

      it('a two-stage pipeline (x2, then +10) turns 5 into 20; request/reply crosses it', async () => {
        const rt = await runtime();
        await rt.launch('add', addTen);
        await rt.launch('dbl', double, { sendsTo: 'add' });
        await rt.activate('add');
        await rt.activate('dbl');
        expect(await rt.sendAndReceive('dbl', num(5, 1))).toEqual({ v: 20, id: 1, priority: 128 });
        await rt.sendMany('dbl', [num(1, 2, 3), num(2, 3, 9)]);
        await rt.idle();
        expect(await rt.receiveMany('add', 5)).toEqual([num(14, 3, 9), num(12, 2, 3)]);
        expect(rt.telemetry('dbl')).toMatchObject({ messagesProcessed: 3, messagesEmitted: 3, outputDepth: 0 });
        expect(rt.telemetry('add')).toMatchObject({ messagesProcessed: 3, messagesEmitted: 3 });
      });

      it('deactivate: sends queue up and nothing is processed; reactivate: all of them, in priority then FIFO order', async () => {
        const rt = await runtime();
        await rt.launch('k', double, { inputQueueSize: 100, outputQueueSize: 100 });
        await rt.activate('k');
        await rt.deactivate('k');
        const sent = Array.from({ length: 40 }, (_, i) => num(i, i, [5, 200, 5, 17][i % 4]));
        for (const m of sent.slice(0, 20)) await rt.send('k', m);
        await rt.sendMany('k', sent.slice(20));
        await rt.idle();
        expect(rt.telemetry('k')).toMatchObject({ messagesProcessed: 0, inputDepth: 40, outputDepth: 0 });
        await rt.reactivate('k');
        await rt.idle();
        const got = (await rt.receiveMany('k', 100)) as Num[];
        const expected = [...sent].sort((a, b) => b.priority! - a.priority! || a.id - b.id);
        expect(got.map((m) => m.id)).toEqual(expected.map((m) => m.id));
        expect(got.map((m) => m.v)).toEqual(expected.map((m) => 2 * m.v));
      });

      it('a stateful kernel: atomic counters in its state; readState gives exact totals, writeState overwrites', async () => {
        const rt = await runtime();
        await rt.launch('c', counter, { inputQueueSize: 1000 });
        await rt.activate('c');
        const n = 500;
        await rt.sendMany('c', Array.from({ length: n }, (_, i) => num(i, i + 1)));
        await rt.idle();
        const s = new Uint32Array(await rt.readState('c'));
        expect(Array.from(s)).toEqual([n, (n * (n - 1)) / 2, n, 0]);
        await rt.writeState('c', new Uint32Array([100, 0, 0, 0]));
        await rt.send('c', num(1, 1));
        await rt.idle();
        expect(Array.from(new Uint32Array(await rt.readState('c')))).toEqual([101, 1, 1, 0]);
        await expect(rt.writeState('c', new Uint32Array(3))).rejects.toBeInstanceOf(RangeError);
      });

      for (const backpressure of [BackpressureStrategy.BLOCK, BackpressureStrategy.REJECT, BackpressureStrategy.DROP_OLDEST]) {
        it(`backpressure through a full 3-stage pipeline (${backpressure}): every queue fills and stays bounded; every message delivered, rejected or dropped, nothing else`, async () => {
          const rt = await runtime();
          await rt.launch('c', addTen, { inputQueueSize: 4, outputQueueSize: 6 });
          await rt.launch('b', double, { inputQueueSize: 4, sendsTo: 'c' });
          await rt.launch('a', double, { inputQueueSize: 5, backpressure, sendsTo: 'b' });
          for (const id of ['c', 'b', 'a']) await rt.activate(id);
          const depths = () => [rt.telemetry('a')!.inputDepth, rt.telemetry('b')!.inputDepth, rt.telemetry('c')!.inputDepth, rt.telemetry('c')!.outputDepth];
          const N = 60;
          const fate = new Map<number, string>();
          const sends: Promise<void>[] = [];
          // waves of 10 sends, each in one turn of the event loop, nobody receiving: no timeouts to race ticks
          for (let wave = 0; wave < 6; wave++) {
            for (let i = wave * 10; i < wave * 10 + 10; i++) {
              sends.push(
                rt.send('a', num(i, i)).then(
                  () => undefined,
                  (e: unknown) => {
                    expect(e).toBeInstanceOf(QueueFullError);
                    fate.set(i, 'rejected');
                  },
                ),
              );
            }
            await rt.idle();
            // no queue overflows; once the pipeline is full every queue is (5 + 4 + 4 + 6 = 19 messages)
            depths().forEach((d, q) => expect(d, `after wave ${wave}, queue ${q}`).toBeLessThanOrEqual([5, 4, 4, 6][q]));
            if (wave === 5 || (wave >= 1 && backpressure === BackpressureStrategy.BLOCK)) expect(depths(), `after wave ${wave}`).toEqual([5, 4, 4, 6]);
          }
          // drain from the end: each receive makes room that the pipeline (and blocked senders) fill again
          for (;;) {
            const out = (await rt.receiveMany('c', 3, { timeout: 0 }).catch(() => [])) as Num[];
            if (out.length === 0) break;
            for (const m of out) {
              expect(m.v).toBe(4 * m.id + 10);
              expect(fate.has(m.id)).toBe(false);
              fate.set(m.id, 'delivered');
            }
            await rt.idle();
          }
          await Promise.all(sends);
          expect(depths()).toEqual([0, 0, 0, 0]);
          const dropped = rt.telemetry('a')!.messagesDropped;
          const counts = { delivered: 0, rejected: 0 } as Record<string, number>;
          for (const f of fate.values()) counts[f]++;
          expect(counts.delivered + counts.rejected + dropped).toBe(N);
          for (const id of ['a', 'b', 'c']) expect(rt.telemetry(id)!.messagesProcessed, id).toBe(counts.delivered);
          if (backpressure === BackpressureStrategy.BLOCK) expect([counts.delivered, counts.rejected, dropped]).toEqual([N, 0, 0]);
          if (backpressure === BackpressureStrategy.REJECT) expect([counts.rejected, dropped]).toEqual([N - counts.delivered, 0]);
          if (backpressure === BackpressureStrategy.DROP_OLDEST) expect([counts.rejected, dropped]).toEqual([0, N - counts.delivered]);
          expect(counts.delivered).toBeGreaterThanOrEqual(19);
        });
      }
    });

    describe('handles', () => {
      it('launch resolves with a handle whose calls are the runtime\'s with its id', async () => {
        const rt = await runtime();
        const add = await rt.launch('add', addTen);
        const dbl = await rt.launch('dbl', double, { sendsTo: 'add' });
        expect(add).toBeInstanceOf(KernelHandle);
        expect([add.id, dbl.id]).toEqual(['add', 'dbl']);
        expect(add.state()).toBe(KernelState.LAUNCHED);
        await add.activate();
        await dbl.activate();
        expect(await dbl.sendAndReceive(num(5, 1))).toEqual(num(20, 1, 128));
        await dbl.sendMany([num(1, 2, 3), num(2, 3, 9)]);
        await dbl.send(num(3, 4, 1));
        await rt.drain();
        expect(await add.receiveMany(5)).toEqual([num(14, 3, 9), num(12, 2, 3), num(16, 4, 1)]);
        expect(dbl.telemetry()).toMatchObject({ kernelId: 'dbl', messagesProcessed: 4 });
        await dbl.deactivate();
        expect(rt.state('dbl')).toBe(KernelState.DEACTIVATED);
        await dbl.terminate();
        expect(() => dbl.state()).toThrow(KernelNotFoundError);
        await expect(dbl.send(num(1, 1))).rejects.toBeInstanceOf(KernelNotFoundError);
      });
    });

    describe('drain and outputs', () => {
      it('drain resolves once every message went through its chain; the outputs wait for receive', async () => {
        const rt = await runtime();
        await rt.launch('add', addTen, { outputQueueSize: 500 });
        await rt.launch('dbl', double, { sendsTo: 'add' });
        for (const id of ['add', 'dbl']) await rt.activate(id);
        await rt.sendMany('dbl', Array.from({ length: 300 }, (_, i) => num(i, i)));
        await rt.drain();
        expect(rt.telemetry('dbl')!.inputDepth).toBe(0);
        expect(rt.telemetry('add')).toMatchObject({ inputDepth: 0, outputDepth: 300, messagesProcessed: 300 });
        await rt.drain({ timeout: 1000 }); // (nothing to do: at once)
      });

      it('drain rejects naming the stalled kernel and why: an output nobody receives, a deactivated kernel, one never activated', async () => {
        const rt = await runtime();
        await rt.launch('add', addTen, { outputQueueSize: 5 });
        await rt.launch('dbl', double, { sendsTo: 'add', inputQueueSize: 64 });
        for (const id of ['add', 'dbl']) await rt.activate(id);
        await rt.sendMany('dbl', Array.from({ length: 20 }, (_, i) => num(i, i)));
        const full = await rt.drain().catch((e: unknown) => e);
        expect(full).toBeInstanceOf(KernelStalledError);
        expect(full).toMatchObject({ kernelId: 'add', reason: 'output-full', waiting: rt.telemetry('add')!.inputDepth });
        expect((full as Error).message).toMatch(/^drain: kernel 'add' has no room for its outputs: its output queue is full \(5 outputs nobody received\); \d+ messages? waits? in its input$/);
        // receiving everything unblocks it
        const got: unknown[] = [];
        while (got.length < 20) got.push(...(await rt.receiveMany('add', 5)));
        await rt.drain();
        await rt.deactivate('dbl');
        await rt.send('dbl', num(1, 99));
        await expect(rt.drain()).rejects.toMatchObject({ name: 'KernelStalledError', kernelId: 'dbl', reason: 'deactivated', waiting: 1, message: "drain: kernel 'dbl' is deactivated: 1 message waits in its input" });
        await rt.launch('idle', addTen);
        await rt.send('idle', num(1, 1));
        await expect(rt.drain()).rejects.toMatchObject({ kernelId: 'idle', reason: 'not-active' });
        await expect(rt.drain({ timeout: -1 })).rejects.toThrow(RangeError);
      });

      it('outputs(): a for-await loop over a kernel\'s outputs in priority order; leaving it loses nothing; terminate and abort end it', async () => {
        const rt = await runtime();
        await rt.launch('k', double);
        await rt.activate('k');
        expect(() => rt.outputs('nope')).toThrow(KernelNotFoundError);
        await rt.sendMany('k', Array.from({ length: 12 }, (_, i) => num(i, i, i * 10)));
        await rt.idle();
        const seen: number[] = [];
        for await (const out of rt.outputs<{ v: number; id: number }>('k')) {
          seen.push(out.id);
          if (seen.length === 10) break;
        }
        expect(seen).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
        expect((await rt.receiveMany<{ v: number; id: number }>('k', 5)).map((m) => m.id)).toEqual([1, 0]);
        // a loop waiting for outputs: abort ends it, and so does terminate
        const controller = new AbortController();
        const aborted = (async () => {
          const ids: number[] = [];
          for await (const out of rt.outputs<{ id: number }>('k', { signal: controller.signal })) ids.push(out.id);
          return ids;
        })();
        await rt.send('k', num(5, 50));
        await rt.idle();
        await new Promise((r) => setTimeout(r, 20));
        controller.abort();
        expect(await aborted).toEqual([50]);
        const ended = (async () => {
          const ids: number[] = [];
          for await (const out of rt.outputs<{ id: number }>('k')) ids.push(out.id);
          return ids;
        })();
        await rt.send('k', num(6, 60));
        await rt.idle();
        await new Promise((r) => setTimeout(r, 20));
        await rt.terminate('k');
        expect(await ended).toEqual([60]);
      });
    });

    describe('telemetry', () => {
      it('counts what happened: processed, emitted, errors and the last error, depths, ticks', async () => {
        const rt = await runtime();
        await rt.launch('p', picky, { inputQueueSize: 100, outputQueueSize: 100 });
        await rt.activate('p');
        await rt.sendMany('p', [num(1, 1), num(-3, 2), num(4, 3), num(-5, 4), num(6, 5)]);
        await rt.idle();
        const t = rt.telemetry('p')!;
        expect(t).toMatchObject({
          kernelId: 'p',
          state: 'active',
          messagesProcessed: 5,
          messagesEmitted: 3,
          messagesDropped: 0,
          errors: 2,
          lastError: 'failed with code 5',
          inputDepth: 0,
          outputDepth: 3,
        });
        expect(t.ticks).toBeGreaterThan(0);
        expect(t.tickLatency.count).toBe(t.ticks);
        expect(t.tickLatency.minNs).toBeGreaterThan(0);
        expect(t.tickLatency.maxNs).toBeGreaterThanOrEqual(t.tickLatency.minNs);
        expect(t.uptimeMs).toBeGreaterThan(0);
        expect(t.throughput).toBeGreaterThan(0);
        expect(Object.keys(rt.allTelemetry())).toEqual(['p']);
        expect(rt.allTelemetry().p.messagesProcessed).toBe(5);
        expect(rt.summary()).toMatchObject({ kernelCount: 1, messagesProcessed: 5, messagesDropped: 0, errors: 2 });
        const text = rt.prometheus();
        expect(text).toMatch(/^# HELP ringkernel_messages_processed_total /m);
        expect(text).toContain('ringkernel_messages_processed_total{kernel="p"} 5');
        expect(text).toContain('ringkernel_errors_total{kernel="p"} 2');
        expect(text).toContain('ringkernel_kernel_state{kernel="p",state="active"} 1');
        // no tick runs while nothing is pending
        const ticks = rt.telemetry('p')!.ticks;
        await new Promise((r) => setTimeout(r, 50));
        await rt.idle();
        expect(rt.telemetry('p')!.ticks).toBe(ticks);
      });

      it('telemetry: false turns it off', async () => {
        const rt = await runtime({ telemetry: false });
        await rt.launch('p', picky);
        expect(rt.telemetry('p')).toBeNull();
        expect(rt.allTelemetry()).toEqual({});
        expect(rt.prometheus()).toBe('');
      });
    });
  });
}
