/**
 * The GPU queue's answers are the device's: with `prefetch: 0` they come from the device's
 * readback, and with `verify: true` every answer the host gives from its own copies is checked
 * against the device. Corrupting the device's memory shows both: a device-answered queue
 * returns the corrupted messages, and a verifying queue fails closed.
 */
import { expect, it } from 'vitest';
import { GpuMessageQueue, GpuQueueError, defineMessage } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';

const Job = defineMessage({ name: 'Job', fields: { id: 'u32', weight: 'f32' } });
type Job = typeof Job.type;
const jobs = (n: number): Job[] => Array.from({ length: n }, (_, i) => ({ id: i, weight: i / 4, priority: (i * 7) % 256 }));
const byPriority = (ms: Job[]) => ms.slice().sort((a, b) => b.priority! - a.priority! || a.id - b.id);

/** Overwrites every message slot of the queue on the device with a pattern no put wrote. */
function corruptPool(q: GpuMessageQueue<any>): void {
  const garbage = new Uint32Array(q.storage.pool.size / 4).fill(0xdeadbeef);
  q.device.queue.writeBuffer(q.storage.pool, 0, garbage);
}

describeGpu('proving the device', () => {
  it('prefetch 0: get, getMany, getNowait and peek return what the device holds (a corrupted pool comes back corrupted)', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 100, schema: Job, prefetch: 0 });
    await q.putMany(jobs(20));
    await q.flush(); // (fetches the head: one message, read before the corruption)
    corruptPool(q);
    q.putNowait({ id: 7777, weight: 0, priority: 0 }); // a push empties the fetched head: the host keeps no copy
    const one = await q.get();
    const many = await q.getMany(5);
    await q.flush();
    const peeked = q.peek();
    const taken = q.getNowait();
    for (const m of [one, ...many, peeked!, taken!]) expect(m.id).toBe(0xdeadbeef);
    await q.close();
  });

  it('prefetch 0: getNowait and peek return null until a flush fetched the head, and the head after it', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 100, schema: Job, prefetch: 0 });
    await q.putMany(jobs(30));
    expect(q.peek()).toBeNull();
    expect(q.getNowait()).toBeNull();
    await q.flush();
    const expected = byPriority(jobs(30));
    expect(q.peek()?.id).toBe(expected[0].id);
    expect(q.getNowait()?.id).toBe(expected[0].id);
    expect(q.getNowait()).toBeNull(); // the fetched head is used up: the host keeps no copy
    q.putNowait({ id: 99, weight: 0, priority: 255 });
    await q.flush();
    expect(q.getNowait()?.id).toBe(99);
    expect(q.size).toBe(29);
    await q.close();
  });

  it('verify: answers from the host copy are checked; a corrupted pool fails the queue closed with GpuQueueError', async () => {
    for (const verify of [false, true]) {
      const q = await GpuMessageQueue.create<Job>({ maxSize: 100, schema: Job, verify });
      await q.putMany(jobs(10)); // all of them in the host's head copy
      await q.flush();
      corruptPool(q);
      // answered by the host at once, from its copy (the device is asked to confirm only when verifying)
      const got = await q.getMany(5);
      expect(got.map((m) => m.id)).toEqual(byPriority(jobs(10)).slice(0, 5).map((m) => m.id));
      if (!verify) {
        await q.flush(); // nothing checks the host's answer: the corruption goes unnoticed
        expect(q.size).toBe(5);
      } else {
        const error = await q.flush().then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(GpuQueueError);
        expect((error as Error).message).toMatch(/verify: the device disagrees with the host: .*payload word 0/);
        expect(q.size).toBe(0);
        expect(() => q.getNowait()).toThrow(GpuQueueError);
        await expect(q.get()).rejects.toBeInstanceOf(GpuQueueError);
      }
      await q.close();
    }
  });

  it('verify: a corrupted sequence number (opaque mode) and a corrupted size are caught', async () => {
    const q = await GpuMessageQueue.create<{ id: number; priority?: number }>({ maxSize: 100, verify: true });
    await q.putMany(Array.from({ length: 10 }, (_, i) => ({ id: i, priority: i })));
    await q.flush();
    const seqs = new Uint32Array(q.storage.seqs.size / 4);
    for (let i = 0; i < seqs.length; i += 2) seqs[i] = 12345; // (lo, hi) pairs: every slot holds message #12345
    q.device.queue.writeBuffer(q.storage.seqs, 0, seqs);
    const got = await q.getMany(3); // from the host's copy: the table of opaque messages
    expect(got.map((m) => m.id)).toEqual([9, 8, 7]);
    const error = await q.flush().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuQueueError);
    expect((error as Error).message).toMatch(/#12345/);
    await q.close();

    const r = await GpuMessageQueue.create<Job>({ maxSize: 100, schema: Job, verify: true });
    await r.putMany(jobs(10));
    await r.flush();
    r.device.queue.writeBuffer(r.storage.ctl, 0, new Uint32Array([7])); // COUNT is word 0
    r.putNowait({ id: 50, weight: 1 });
    await expect(r.flush()).rejects.toThrow(/verify: .*size 8 on the device, 11 expected/);
    await r.close();
  });
});
