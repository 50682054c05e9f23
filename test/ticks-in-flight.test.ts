/**
 * Ticks in flight (runtime option `ticksInFlight`, GPU backend): while messages keep arriving,
 * the next tick is submitted before the previous one is read back. Each test streams batches
 * into a 3-stage pipeline (x2, +10, x2) at a depth of 3, checks that ticks did overlap (onTick's
 * `ahead`: otherwise it would prove nothing), and checks every message against what a sequential
 * pipeline gives: each value once, right, and in priority-then-FIFO order per priority; the
 * device's counters exact. Lifecycle calls, requests, backpressure and device loss are
 * interleaved with the ticks in flight.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  DeviceLostError,
  KernelNotFoundError,
  KernelStateError,
  QueueFullError,
  RingKernelRuntime,
  acquireDevice,
  type RuntimeOptions,
  type TickTiming,
} from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';
import { addTen, counter, double, fanOut } from './runtime-kernels.js';

const DEPTH = 3;
/** what the three stages make of v */
const through = (v: number) => (v * 2 + 10) * 2;
const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Got {
  v: number;
  id: number;
  priority: number;
}

describe('ticksInFlight option', () => {
  it('is an integer from 1 to 8; anything else is a RangeError naming it', () => {
    for (const bad of [0, 9, 1.5, -1, Number.NaN, '2' as never]) {
      expect(() => new RingKernelRuntime({ backend: 'cpu', ticksInFlight: bad })).toThrow(/ticksInFlight must be an integer from 1 to 8/);
    }
    expect(() => new RingKernelRuntime({ backend: 'cpu', ticksInFlight: 8 })).not.toThrow();
  });

  it('the CPU backend runs one tick at a time whatever it says (its ticks run on the host)', async () => {
    const ahead: number[] = [];
    const rt = await RingKernelRuntime.create({ backend: 'cpu', ticksInFlight: DEPTH, onTick: (t) => ahead.push(t.ahead) });
    try {
      await launchPipeline(rt, 4096);
      const got = await stream(rt, { batches: 20, batch: 64 });
      expectSequential(got.received, got.sent);
      expect(ahead.length).toBeGreaterThan(0);
      expect(Math.max(...ahead)).toBe(0);
    } finally {
      await rt.shutdown();
    }
  });
});

describeGpu('ticks in flight (GPU backend, depth 3)', () => {
  const open: RingKernelRuntime[] = [];
  afterEach(async () => {
    for (const rt of open.splice(0)) await rt.shutdown();
  });
  const ahead: number[] = [];
  async function runtime(options: RuntimeOptions = {}): Promise<RingKernelRuntime> {
    ahead.length = 0;
    const rt = await RingKernelRuntime.create({ backend: 'gpu', ticksInFlight: DEPTH, onTick: (t: TickTiming) => ahead.push(t.ahead), ...options });
    open.push(rt);
    return rt;
  }
  const overlapped = () => Math.max(0, ...ahead);

  it('a stream with random priorities: every message once, right, in priority-then-FIFO order per priority; exact counters', async () => {
    const rt = await runtime();
    await launchPipeline(rt, 4096);
    const got = await stream(rt, { batches: 60, batch: 48, priority: (k, i) => (k * 7 + i * 13) % 5 * 60 });
    expect(overlapped()).toBeGreaterThanOrEqual(1);
    expect(overlapped()).toBeLessThanOrEqual(DEPTH - 1);
    expectSequential(got.received, got.sent);
    await rt.idle();
    for (const id of ['a', 'b', 'c']) {
      const t = rt.telemetry(id)!;
      expect(t.messagesProcessed).toBe(got.sent.length);
      expect(t.messagesEmitted).toBe(got.sent.length);
      expect(t.inputDepth).toBe(0);
      expect(t.errors).toBe(0);
    }
  });

  it('the same stream at depth 1 never overlaps and gives the same answer', async () => {
    const rt = await runtime({ ticksInFlight: 1 });
    await launchPipeline(rt, 4096);
    const got = await stream(rt, { batches: 30, batch: 48, priority: (k, i) => (k + i) % 3 * 100 });
    expect(overlapped()).toBe(0);
    expectSequential(got.received, got.sent);
  });

  it('requests made while two ticks are in flight get their own replies; the stream around them stays whole and in order', async () => {
    const rt = await runtime();
    await launchPipeline(rt, 4096);
    const received: Got[] = [];
    const consumer = consume(rt, received);
    const sent: Got[] = [];
    const replies: Promise<unknown>[] = [];
    for (let round = 0; round < 4; round++) {
      sent.push(...(await produceUntilOverlap(rt, 32, round * 500)));
      replies.push(rt.sendAndReceive('a', { v: 1_000_000 + round, id: 9_000_000 + round }));
    }
    const answers = await Promise.all(replies);
    expect(answers).toEqual([0, 1, 2, 3].map((round) => ({ v: through(1_000_000 + round), id: 9_000_000 + round, priority: 128 })));
    while (received.length < sent.length) await macrotask();
    expectSequential(received, sent);
    expect(rt.trackedRequests).toBe(0);
    await rt.shutdown();
    expect(await consumer).toBeInstanceOf(KernelStateError);
  });

  it('readState while a producer keeps ticks in flight: the ticks drain first (the next one starts with none in flight), it resolves while the producer still sends, and counts exactly', async () => {
    const ticks: TickTiming[] = [];
    const rt = await runtime({ onTick: (t) => ticks.push(t) });
    await rt.launch('n', counter, { inputQueueSize: 1 << 14 });
    await rt.activate('n');
    let batches = 0;
    let sentCount = 0;
    let stateAt = -1;
    let read: Uint32Array | null = null;
    const producer = (async () => {
      for (; batches < 600; batches++) {
        const b = makeBatch(batches, 8, () => 128).map((m) => ({ ...m, v: 1 }));
        await rt.sendMany('n', b);
        sentCount += b.length;
        await macrotask();
      }
    })();
    while (rt.inFlightTicks < 2 && batches < 600) await macrotask();
    expect(rt.inFlightTicks).toBeGreaterThanOrEqual(2);
    const sentBefore = sentCount;
    const asked = performance.now();
    read = new Uint32Array(await rt.readState('n'));
    stateAt = batches;
    await producer;
    expect(stateAt).toBeLessThan(600);
    expect(read[0]).toBeGreaterThanOrEqual(Math.min(sentBefore, 8));
    expect(read[0]).toBeLessThanOrEqual(sentCount);
    // (every tick reported: onTick runs as a tick ends, and the last ones may still run as the producer ends)
    await rt.idle();
    // (none starts beside the ones in flight while it waits, or the producer could keep them going)
    const next = ticks.filter((t) => t.start > asked).sort((x, y) => x.start - y.start)[0];
    expect(next).toBeDefined();
    expect(next!.ahead).toBe(0);
    const final = new Uint32Array(await rt.readState('n'));
    expect([final[0], final[1]]).toEqual([sentCount, sentCount]);
    expect(rt.telemetry('n')!.messagesProcessed).toBe(sentCount);
  });

  it('a chain with per-tick limits and fan-out (maxEmits 3) under overlap: every output once, right, in order', async () => {
    const rt = await runtime();
    await rt.launch('c', addTen, { inputQueueSize: 96, outputQueueSize: 4096, maxMessagesPerTick: 40 });
    await rt.launch('f', fanOut, { inputQueueSize: 64, sendsTo: 'c', maxMessagesPerTick: 12 });
    await rt.launch('a', double, { inputQueueSize: 4096, sendsTo: 'f', maxMessagesPerTick: 24 });
    for (const id of ['c', 'f', 'a']) await rt.activate(id);
    const received: Got[] = [];
    const consumer = consume(rt, received);
    // v = 1: a makes 2, f emits two copies (v 0 and 1), c adds 10
    const sent: Got[] = [];
    for (let k = 0; k < 80; k++) {
      const b = makeBatch(k, 6, (kk, i) => (kk + i) % 3 * 90).map((m) => ({ ...m, v: 1 }));
      await rt.sendMany('a', b);
      sent.push(...b);
      await macrotask();
    }
    while (received.length < sent.length * 2) await macrotask();
    await rt.idle();
    expect(overlapped()).toBeGreaterThanOrEqual(1);
    expect(received.length).toBe(sent.length * 2);
    const seen = new Map<number, number[]>();
    const lastAt = new Map<number, number>();
    const at = new Map(sent.map((m, i) => [m.id, i]));
    for (const r of received) {
      seen.set(r.id, [...(seen.get(r.id) ?? []), r.v]);
      const s = sent[at.get(r.id)!];
      expect(r.priority).toBe(s.priority);
      // per priority, inputs in the order sent, each input's two outputs in emit order
      const key = at.get(r.id)! * 2 + (r.v - 10);
      expect(key).toBeGreaterThan(lastAt.get(r.priority) ?? -1);
      lastAt.set(r.priority, key);
    }
    for (const m of sent) expect(seen.get(m.id)).toEqual([10, 11]);
    for (const id of ['a', 'f', 'c']) expect(rt.telemetry(id)!.inputDepth).toBe(0);
    expect(rt.telemetry('f')).toMatchObject({ messagesProcessed: sent.length, messagesEmitted: sent.length * 2 });
    await rt.shutdown();
    expect(await consumer).toBeInstanceOf(KernelStateError);
  });

  it('deactivate with ticks in flight resolves once none of them is: nothing more is processed until reactivate, then everything, in order', async () => {
    const rt = await runtime();
    await launchPipeline(rt, 1 << 14);
    const received: Got[] = [];
    const consumer = consume(rt, received);
    const sent = await produceUntilOverlap(rt, 32);
    await rt.deactivate('a');
    expect(rt.inFlightTicks).toBe(0);
    const frozen = rt.telemetry('a')!.messagesProcessed;
    for (let k = 5000; k < 5010; k++) {
      const b = makeBatch(k, 32, () => 128);
      await rt.sendMany('a', b);
      sent.push(...b);
      await macrotask();
    }
    await rt.idle();
    expect(rt.telemetry('a')!.messagesProcessed).toBe(frozen);
    expect(rt.telemetry('a')!.inputDepth).toBe(sent.length - frozen);
    await rt.reactivate('a');
    while (received.length < sent.length) await macrotask();
    expectSequential(received, sent);
    await rt.shutdown();
    expect(await consumer).toBeInstanceOf(KernelStateError);
  });

  it('terminate with ticks in flight: what was received is right and once, later sends and the waiting receive reject, nothing hangs', async () => {
    const rt = await runtime();
    await launchPipeline(rt, 4096);
    const received: Got[] = [];
    const consumer = consume(rt, received);
    const sent = await produceUntilOverlap(rt, 32);
    // upstream first, the ticks still in flight
    await Promise.all([rt.terminate('a'), rt.terminate('b'), rt.terminate('c')]);
    expect(await consumer).toBeInstanceOf(KernelStateError);
    await expect(rt.send('a', { v: 1, id: 1 })).rejects.toBeInstanceOf(KernelNotFoundError);
    expectSubsequence(received, sent);
    expect(rt.kernelIds).toEqual([]);
  });

  it('shutdown with ticks in flight: every pending operation settles, nothing hangs', async () => {
    const rt = await runtime();
    await launchPipeline(rt, 4096);
    const received: Got[] = [];
    const consumer = consume(rt, received);
    const sent = await produceUntilOverlap(rt, 32);
    const late = rt.sendMany('a', makeBatch(9999, 32, () => 128)).catch((error: unknown) => error);
    await rt.shutdown();
    expect(await consumer).toBeInstanceOf(KernelStateError);
    const lateResult = await late;
    expect(lateResult === undefined || lateResult instanceof KernelStateError).toBe(true);
    expectSubsequence(received, sent);
    expect(rt.trackedRequests).toBe(0);
    expect(rt.inFlightTicks).toBe(0);
  });

  it('REJECT and DROP_OLDEST at the head during the stream: every message delivered once, or rejected, or dropped', async () => {
    for (const backpressure of ['reject', 'drop'] as const) {
      const rt = await runtime();
      await rt.launch('c', double);
      await rt.launch('b', addTen, { sendsTo: 'c' });
      await rt.launch('a', double, { sendsTo: 'b', inputQueueSize: 64, backpressure, maxMessagesPerTick: 16 });
      for (const id of ['c', 'b', 'a']) await rt.activate(id);
      const accepted: Got[] = [];
      let rejected = 0;
      const received: Got[] = [];
      const consumer = consume(rt, received);
      for (let k = 0; k < 40; k++) {
        const batch = makeBatch(k, 24, () => 128);
        try {
          await rt.sendMany('a', batch);
          accepted.push(...batch);
        } catch (error) {
          expect(error).toBeInstanceOf(QueueFullError);
          rejected += batch.length;
        }
        await macrotask();
      }
      await rt.idle();
      const dropped = rt.telemetry('a')!.messagesDropped;
      while (received.length < accepted.length - dropped) await macrotask();
      if (backpressure === 'reject') {
        expect(rejected).toBeGreaterThan(0);
        expect(dropped).toBe(0);
      } else {
        expect(rejected).toBe(0);
        expect(dropped).toBeGreaterThan(0);
      }
      expect(received.length + dropped).toBe(accepted.length);
      expectSubsequence(received, accepted);
      expect(rt.telemetry('a')!.messagesProcessed).toBe(received.length);
      await rt.shutdown();
      expect(await consumer).toBeInstanceOf(KernelStateError);
    }
  });

  for (const depth of [1, DEPTH]) {
    it(`a consumer taking a few at a time while the next tick pushes more urgent outputs gets each message once (depth ${depth}; review finding)`, async () => {
      // the host's head copy of the output, fetched for a waiting receive, still holds messages
      // when a later tick pushes more urgent ones: a receive answered from it would pop another
      // message on the device than the one it delivered
      const rt = await runtime({ ticksInFlight: depth });
      await rt.launch('c', double, { inputQueueSize: 4096, outputQueueSize: 4096 });
      await rt.activate('c');
      const received: Got[] = [];
      const consumer = (async () => {
        for (;;) {
          received.push(...((await rt.receiveMany('c', 2)) as Got[]));
          await macrotask();
        }
      })().catch((error: unknown) => error);
      const sent: Got[] = [];
      for (let k = 0; k < 30; k++) {
        const batch = makeBatch(k, 16, () => Math.min(255, k * 8));
        await rt.sendMany('c', batch);
        sent.push(...batch);
        await macrotask();
      }
      for (let turns = 0; received.length < sent.length && turns < 20_000; turns++) await macrotask();
      await rt.shutdown();
      const ended = await consumer;
      expect(ended instanceof KernelStateError || ended instanceof KernelNotFoundError).toBe(true);
      const ids = received.map((m) => m.id);
      expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
      expect(received.length).toBe(sent.length);
      for (const r of received) expect(r.v).toBe(r.id * 2);
    });
  }

  it('device loss with ticks in flight: every pending operation rejects with DeviceLostError, nothing hangs', async () => {
    const { device } = await acquireDevice();
    const rt = await runtime({ device });
    await launchPipeline(rt, 4096);
    const received: Got[] = [];
    const consumer = consume(rt, received);
    const sent = await produceUntilOverlap(rt, 32);
    const late = rt.sendMany('a', makeBatch(9999, 32, () => 128)).catch((error: unknown) => error);
    device.destroy();
    expect(await consumer).toBeInstanceOf(DeviceLostError);
    const lateResult = await late;
    expect(lateResult === undefined || lateResult instanceof DeviceLostError).toBe(true);
    await expect(rt.send('a', { v: 1, id: 1 })).rejects.toBeInstanceOf(DeviceLostError);
    expect(rt.kernelIds).toEqual([]);
    expectSubsequence(received, sent);
  });
});

/** Receives from 'c' into `received` until a receive rejects (terminate, shutdown, loss); resolves with that error. */
function consume(rt: RingKernelRuntime, received: Got[]): Promise<unknown> {
  return (async () => {
    for (;;) received.push(...((await rt.receiveMany('c', 4096)) as Got[]));
  })().catch((error: unknown) => error);
}

async function launchPipeline(rt: RingKernelRuntime, queueSize: number): Promise<void> {
  await rt.launch('c', double, { inputQueueSize: queueSize, outputQueueSize: queueSize });
  await rt.launch('b', addTen, { sendsTo: 'c', inputQueueSize: queueSize });
  await rt.launch('a', double, { sendsTo: 'b', inputQueueSize: queueSize });
  for (const id of ['c', 'b', 'a']) await rt.activate(id);
}

/**
 * Sends batches (one per turn, priority 128) until, right after a send, at least two ticks are in
 * flight; returns what it sent. The caller's lifecycle call then meets them in flight.
 */
async function produceUntilOverlap(rt: RingKernelRuntime, batch: number, from = 0): Promise<Got[]> {
  const sent: Got[] = [];
  for (let k = from; k < from + 400; k++) {
    const b = makeBatch(k, batch, () => 128);
    await rt.sendMany('a', b);
    sent.push(...b);
    await macrotask();
    if (rt.inFlightTicks >= 2) return sent;
  }
  throw new Error('two ticks were never in flight at once');
}

/** Batch k of `size` messages: ids k * 1000 + i, values the ids. */
function makeBatch(k: number, size: number, priority: (k: number, i: number) => number): Got[] {
  return Array.from({ length: size }, (_, i) => ({ v: k * 1000 + i, id: k * 1000 + i, priority: priority(k, i) }));
}

/**
 * A producer that sends `batches` batches, one per turn of the event loop (so ticks start between
 * them, and later ones while earlier ones are in flight), and a consumer receiving until it has
 * them all; `onBatch(k)` runs before batch k is sent.
 */
async function stream(
  rt: RingKernelRuntime,
  o: { batches: number; batch: number; priority?: (k: number, i: number) => number; onBatch?: (k: number) => unknown },
): Promise<{ sent: Got[]; received: Got[] }> {
  const sent: Got[] = [];
  const received: Got[] = [];
  const total = o.batches * o.batch;
  const consumer = (async () => {
    while (received.length < total) received.push(...((await rt.receiveMany('c', 4096, { timeout: 30_000 })) as Got[]));
  })();
  for (let k = 0; k < o.batches; k++) {
    await o.onBatch?.(k);
    const batch = makeBatch(k, o.batch, o.priority ?? (() => 128));
    await rt.sendMany('a', batch);
    sent.push(...batch);
    await macrotask();
  }
  await consumer;
  return { sent, received };
}

/** Every sent message received once, through the three stages, and per priority in the order sent. */
function expectSequential(received: readonly Got[], sent: readonly Got[]): void {
  expect(received.length).toBe(sent.length);
  expectSubsequence(received, sent);
}

/**
 * What was received is right and once, and per priority in the order it was sent (a pipeline
 * keeps FIFO within a priority end to end); a message may be missing (terminated, dropped, lost).
 */
function expectSubsequence(received: readonly Got[], sent: readonly Got[]): void {
  const byId = new Map(sent.map((m, at) => [m.id, { m, at }]));
  const seen = new Set<number>();
  const lastAt = new Map<number, number>();
  for (const r of received) {
    const s = byId.get(r.id);
    expect(s, `received id ${r.id} was never sent`).toBeDefined();
    expect(seen.has(r.id), `id ${r.id} received twice`).toBe(false);
    seen.add(r.id);
    expect(r.v).toBe(through(s!.m.v));
    expect(r.priority).toBe(s!.m.priority);
    const before = lastAt.get(r.priority) ?? -1;
    expect(s!.at, `id ${r.id} overtook an earlier message of priority ${r.priority}`).toBeGreaterThan(before);
    lastAt.set(r.priority, s!.at);
  }
}
