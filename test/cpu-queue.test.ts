import { describe, expect, it } from 'vitest';
import { MessageQueue } from 'ringkernel';
import { queueContract } from './contract.js';
import { rng, randInt, type Msg } from './helpers.js';

queueContract('MessageQueue', async (options) => new MessageQueue(options));

describe('MessageQueue (CPU only)', () => {
  it('100 000 messages with random priorities come out in exact priority, then FIFO, order', () => {
    const n = 100_000;
    const random = rng(12345);
    const q = new MessageQueue<Msg & { seq: number }>({ maxSize: n });
    const sent: { id: string; priority: number; seq: number }[] = [];
    for (let i = 0; i < n; i++) {
      const m = { id: `m${i}`, priority: randInt(random, 0, 255), seq: i };
      sent.push(m);
      expect(q.putNowait(m)).toBe(true);
    }
    expect(q.isFull).toBe(true);
    const expected = [...sent].sort((a, b) => b.priority - a.priority || a.seq - b.seq).map((m) => m.id);
    const got: string[] = [];
    for (let m = q.getNowait(); m !== null; m = q.getNowait()) got.push(m.id);
    expect(got.length).toBe(n);
    // Compare in one go but report the first difference compactly.
    const firstDiff = got.findIndex((id, i) => id !== expected[i]);
    expect(firstDiff).toBe(-1);
    expect(q.stats).toEqual({ enqueued: n, dequeued: n, dropped: 0, rejected: 0, timedOut: 0 });
    q.close();
  });

  it('interleaved puts and gets of random priorities keep exact order (against a sorted model)', () => {
    const random = rng(777);
    const q = new MessageQueue<Msg & { seq: number }>({ maxSize: 50_000 });
    let model: { id: string; priority: number; seq: number }[] = [];
    let seq = 0;
    for (let round = 0; round < 2_000; round++) {
      const puts = randInt(random, 0, 20);
      for (let i = 0; i < puts; i++) {
        const m = { id: `m${seq}`, priority: randInt(random, 0, 7) * 30, seq: seq++ };
        q.putNowait(m);
        model.push(m);
      }
      model.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
      const gets = randInt(random, 0, 20);
      for (let i = 0; i < gets; i++) {
        const m = q.getNowait();
        const e = model.shift();
        expect(m?.id ?? null).toBe(e?.id ?? null);
      }
      expect(q.size).toBe(model.length);
    }
    q.close();
  });

  it('large rings that drain and refill (their arrays handed from one priority to the next) keep priority and FIFO order', async () => {
    for (const backpressure of ['block', 'drop'] as const) {
      const q = new MessageQueue<{ id: number; priority: number }>({ maxSize: 100_000, backpressure });
      let next = 0;
      const model: { id: number; priority: number }[] = [];
      // rounds of large batches at changing priorities, some drained whole, some half, so a drained
      // ring's arrays go to the next ring that grows while other large rings still hold messages
      for (const [priorities, take] of [[[3], 1], [[7, 3], 0.5], [[200], 1], [[3, 200, 9], 0.5], [[9], 1], [[1, 2], 0.5]] as const) {
        const batch = priorities.flatMap((priority) => Array.from({ length: 9000 }, () => ({ id: next++, priority })));
        await q.putMany(batch);
        model.push(...batch);
        model.sort((x, y) => y.priority - x.priority || x.id - y.id);
        const n = Math.floor(q.size * take);
        expect(await q.getMany(n)).toEqual(model.splice(0, n));
      }
      expect(await q.getMany(q.size)).toEqual(model);
    }
  });

  it('maxSize 1e7 does not cost memory up front: twenty such queues are cheap to build and use', () => {
    globalThis.gc?.();
    const used = () => {
      const u = process.memoryUsage();
      return u.heapUsed + u.arrayBuffers + u.external;
    };
    const before = used();
    const queues: MessageQueue<Msg>[] = [];
    for (let i = 0; i < 20; i++) {
      const q = new MessageQueue<Msg>({ maxSize: 1e7 });
      for (let p = 0; p < 256; p++) q.putNowait({ id: `q${i}-${p}`, priority: p });
      expect(q.getNowait()?.id).toBe(`q${i}-255`);
      queues.push(q);
      // 64 MiB for all twenty: preallocating even one slot per maxSize (80 MB a queue) fails at once.
      expect(used() - before).toBeLessThan(64 * 2 ** 20);
    }
    expect(queues.every((q) => q.maxSize === 1e7 && q.size === 255)).toBe(true);
    for (const q of queues) q.close();
  });

  it('a large queue fills to its maxSize exactly and then refuses', () => {
    const q = new MessageQueue<Msg>({ maxSize: 20_000, backpressure: 'reject' });
    for (let i = 0; i < 20_000; i++) expect(q.putNowait({ id: `m${i}`, priority: i % 256 })).toBe(true);
    expect(q.putNowait({ id: 'over' })).toBe(false);
    expect(q.size).toBe(20_000);
    expect(q.stats.rejected).toBe(1);
    q.close();
  });
});
