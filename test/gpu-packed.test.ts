/** GpuMessageQueue.putManyPacked / getManyPacked: the putMany/getMany contract over packed words. */
import { expect, it } from 'vitest';
import { BackpressureStrategy, GpuMessageQueue, MessageQueue, QueueClosedError, QueueFullError, QueueTimeoutError, defineMessage } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';
import { randInt, rng } from './helpers.js';

// id@0 (padding 1..3), v@16..18, k@19: 8 words per message
const schema = defineMessage({ name: 'Pk', fields: { id: 'u32', v: 'vec3<f32>', k: 'i32' } });
type Pk = typeof schema.type;
const W = schema.words;
const views = (u: Uint32Array) => ({ u, f: new Float32Array(u.buffer, u.byteOffset, u.length), i: new Int32Array(u.buffer, u.byteOffset, u.length) });
const mk = (id: number, priority: number): Pk => ({ id, v: [Math.fround(id / 7), -id, 0.5], k: 5 - id * 3, priority });
/** messages as packed words + priorities (schema.pack layout) */
function pack(ms: readonly Pk[]): { words: Uint32Array; priorities: Uint8Array } {
  const words = new Uint32Array(ms.length * W);
  const v = views(words);
  ms.forEach((m, j) => schema.pack(m, v.u, v.f, v.i, j * W));
  return { words, priorities: Uint8Array.from(ms, (m) => m.priority ?? 128) };
}
function unpack(b: { count: number; words: Uint32Array; priorities: Uint8Array }): Pk[] {
  expect(b.words.length).toBe(b.count * W);
  expect(b.priorities.length).toBe(b.count);
  const v = views(b.words);
  return Array.from({ length: b.count }, (_, j) => schema.unpack(v.u, v.f, v.i, j * W, b.priorities[j]));
}
const ids = (ms: readonly { id: number }[]) => ms.map((m) => m.id);

describeGpu('GpuMessageQueue packed batches', () => {
  it('round trip: putManyPacked/getManyPacked agree with putMany/getMany of the same messages (device and cache paths)', async () => {
    const random = rng(7);
    for (const n of [5, 3000]) {
      const ms = Array.from({ length: n }, (_, i) => mk(i, randInt(random, 0, 255)));
      const { words, priorities } = pack(ms);
      const a = await GpuMessageQueue.create<Pk>({ maxSize: 4096, schema });
      const b = await GpuMessageQueue.create<Pk>({ maxSize: 4096, schema });
      const c = await GpuMessageQueue.create<Pk>({ maxSize: 4096, schema });
      await a.putManyPacked(words, priorities);
      await b.putMany(ms);
      await c.putManyPacked(words, priorities);
      const objs = await a.getMany(n); // packed in, objects out
      const packedOut = await b.getManyPacked(n); // objects in, packed out
      const both = await c.getManyPacked(n + 10); // packed both ways; min(max, size)
      expect(packedOut.count).toBe(n);
      expect(both.count).toBe(n);
      expect(unpack(packedOut)).toEqual(objs);
      expect(unpack(both)).toEqual(objs);
      // the fields' words are exactly the given ones (padding words carry no meaning)
      const byId = new Map(ms.map((m, j) => [m.id, j]));
      for (let j = 0; j < n; j += Math.max(1, Math.floor(n / 50))) {
        const src = byId.get(both.words[j * W])!;
        for (const k of [0, 4, 5, 6, 7]) expect(both.words[j * W + k]).toBe(words[src * W + k]);
        expect(both.priorities[j]).toBe(priorities[src]);
      }
      expect(ids(objs)).toEqual(ids(ms.slice().sort((x, y) => y.priority! - x.priority! || x.id - y.id)));
      for (const q of [a, b, c]) {
        expect(q.size).toBe(0);
        expect(q.stats).toMatchObject({ enqueued: n, dequeued: n });
        await q.flush();
        expect(q.deviceCounters!.error).toBe(0);
        await q.close();
      }
    }
    // bit patterns of f32/i32 fields pass unchanged through the device (NaN payload, -0, negative i32)
    const q = await GpuMessageQueue.create<Pk>({ maxSize: 200, schema, prefetch: 1 });
    const words = new Uint32Array(100 * W);
    for (let j = 0; j < 100; j++) words.set([j, 0, 0, 0, 0x7fc01234 + j, 0x80000000, 0xffffffff, 0x80000000 + j], j * W);
    await q.putManyPacked(words, new Uint8Array(100).fill(9));
    await q.flush();
    const got = await q.getManyPacked(100);
    for (let j = 0; j < 100; j++) for (const k of [0, 4, 5, 6, 7]) expect(got.words[j * W + k]).toBe(words[j * W + k]);
    await q.close();
  });

  it('results larger than one submission are split and joined (packed)', async () => {
    const N = 12000;
    const q = await GpuMessageQueue.create<Pk>({ maxSize: N, schema, maxBindingBytes: 256 * 1024 });
    const ms = Array.from({ length: N }, (_, i) => mk(i, i % 5));
    const { words, priorities } = pack(ms);
    void q.putManyPacked(words, priorities);
    const got = await q.getManyPacked(N);
    expect(ids(unpack(got))).toEqual(ids(ms.slice().sort((x, y) => y.priority! - x.priority! || x.id - y.id)));
    await q.flush();
    expect(q.deviceCounters!.error).toBe(0);
    await q.close();
  });

  for (const backpressure of [BackpressureStrategy.BLOCK, BackpressureStrategy.REJECT, BackpressureStrategy.DROP_OLDEST]) {
    it.each([1, 2, 3])(`mixed packed and object calls in one turn agree with MessageQueue (${backpressure}, seed %i)`, async (seed) => {
      const random = rng(backpressure.length * 1000 + seed);
      const seen: unknown[] = [];
      const maxSize = 300;
      const gDrops: number[] = [];
      const cDrops: number[] = [];
      const g = await GpuMessageQueue.create<Pk>({ maxSize, backpressure, schema, onDrop: (m) => gDrops.push(m.id) });
      const c = new MessageQueue<Pk>({ maxSize, backpressure, onDrop: (m) => cDrops.push(m.id) });
      let id = 0;
      const batch = (n: number) => Array.from({ length: n }, () => mk(id++, randInt(random, 0, 7) * 32));
      const outcome = (p: Promise<unknown>): Promise<unknown> =>
        p.then(
          (v) => (v === undefined ? 'ok' : Array.isArray(v) ? ids(v as Pk[]) : 'count' in (v as object) ? ids(unpack(v as never)) : (v as Pk).id),
          (e: Error) => `${e.name}: ${e.message}`,
        );
      for (let round = 0; round < 25; round++) {
        const gp: Promise<unknown>[] = [];
        const cp: Promise<unknown>[] = [];
        for (let k = randInt(random, 2, 10); k > 0; k--) {
          const r = random();
          if (r < 0.3) {
            const ms = batch(randInt(random, 0, 120));
            const { words, priorities } = pack(ms);
            gp.push(outcome(g.putManyPacked(words, priorities, { timeout: 0 })));
            words.fill(0xdead); // the caller may reuse its arrays at once
            priorities.fill(1);
            cp.push(outcome(c.putMany(ms, { timeout: 0 })));
          } else if (r < 0.45) {
            const ms = batch(randInt(random, 0, 120));
            gp.push(outcome(g.putMany(ms, { timeout: 0 })));
            cp.push(outcome(c.putMany(ms, { timeout: 0 })));
          } else if (r < 0.55) {
            const m = batch(1)[0];
            expect(g.putNowait(m)).toBe(c.putNowait(m));
          } else if (r < 0.75) {
            const max = randInt(random, 1, 150);
            if (c.size === 0) continue;
            gp.push(outcome(g.getManyPacked(max)));
            cp.push(outcome(c.getMany(max)));
          } else if (r < 0.9) {
            const max = randInt(random, 1, 150);
            if (c.size === 0) continue;
            gp.push(outcome(g.getMany(max)));
            cp.push(outcome(c.getMany(max)));
          } else if (c.size > 0) {
            gp.push(outcome(g.get()));
            cp.push(outcome(c.get()));
          }
          expect(g.size).toBe(c.size);
        }
        const results = await Promise.all(gp);
        expect(results).toEqual(await Promise.all(cp));
        seen.push(...results);
        // onDrop of an eviction the device reports runs after the readback: a prefix until flushed
        expect(gDrops).toEqual(cDrops.slice(0, gDrops.length));
        if (round % 3 === 2) {
          await g.flush();
          expect(gDrops).toEqual(cDrops);
        }
        expect(g.size).toBe(c.size);
        expect(g.stats).toEqual(c.stats);
      }
      const rest = c.size;
      if (rest > 0) expect(ids(unpack(await g.getManyPacked(rest)))).toEqual(ids(await c.getMany(rest)));
      await g.flush();
      expect(g.deviceCounters!.error).toBe(0);
      expect(gDrops).toEqual(cDrops);
      if (backpressure === BackpressureStrategy.DROP_OLDEST) expect(cDrops.length).toBeGreaterThan(0);
      else expect(seen.some((x) => typeof x === 'string' && x.startsWith('QueueFullError'))).toBe(true);
      expect(seen.filter((x) => Array.isArray(x) && x.length > 64).length).toBeGreaterThan(0);
      await g.close();
    });
  }

  it('backpressure: REJECT all-or-nothing, BLOCK waits/times out/aborts, DROP_OLDEST onDrop gets unpacked objects', async () => {
    // REJECT
    const r = await GpuMessageQueue.create<Pk>({ maxSize: 10, schema, backpressure: BackpressureStrategy.REJECT });
    const p8 = pack(Array.from({ length: 8 }, (_, i) => mk(i, 5)));
    await r.putManyPacked(p8.words, p8.priorities);
    const p3 = pack([mk(100, 1), mk(101, 1), mk(102, 1)]);
    await expect(r.putManyPacked(p3.words, p3.priorities)).rejects.toThrow(QueueFullError);
    expect(r.size).toBe(8);
    expect(r.stats).toMatchObject({ enqueued: 8, rejected: 3 });
    await r.close();

    // BLOCK: partial then timeout; then a waiting batch admitted by getManyPacked
    const b = await GpuMessageQueue.create<Pk>({ maxSize: 4, schema });
    const p5 = pack(Array.from({ length: 5 }, (_, i) => mk(i, 200 - i)));
    await b.putManyPacked(p5.words.subarray(0, 2 * W), p5.priorities.subarray(0, 2));
    const timedOut = b.putManyPacked(p5.words.subarray(2 * W), p5.priorities.subarray(2), { timeout: 20 });
    await expect(timedOut).rejects.toMatchObject({ name: 'QueueFullError', accepted: 2 });
    expect(b.size).toBe(4);
    expect(b.stats.timedOut).toBe(1);
    const more = pack([mk(50, 255), mk(51, 0), mk(52, 255)]);
    const waiting = b.putManyPacked(more.words, more.priorities);
    more.words.fill(0); // copied: the waiting part is unaffected
    more.priorities.fill(0);
    const first = await b.getManyPacked(3); // frees 3: the waiting batch goes in
    await waiting;
    expect(ids(unpack(first))).toEqual([0, 1, 2]);
    expect(ids(unpack(await b.getManyPacked(10)))).toEqual([50, 52, 3, 51]);
    // abort before and while waiting
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(b.putManyPacked(p5.words, p5.priorities, { signal: ac.signal })).rejects.toThrow('stop');
    expect(b.size).toBe(0);
    await b.putManyPacked(p5.words.subarray(0, 4 * W), p5.priorities.subarray(0, 4));
    const ac2 = new AbortController();
    const aborted = b.putManyPacked(p5.words, p5.priorities, { signal: ac2.signal });
    ac2.abort(new Error('later'));
    await expect(aborted).rejects.toThrow('later');
    expect(b.size).toBe(4);
    await b.getManyPacked(4);
    // waiting getter served by a later packed put; getter timeout
    const getter = b.getManyPacked(10);
    const p1 = pack([mk(77, 3)]);
    await b.putManyPacked(p1.words, p1.priorities);
    expect(unpack(await getter)).toEqual([mk(77, 3)]);
    await expect(b.getManyPacked(1, { timeout: 10 })).rejects.toThrow(QueueTimeoutError);
    expect(b.stats).toMatchObject({ timedOut: 2, enqueued: 2 + 2 + 3 + 4 + 1, dequeued: 2 + 2 + 3 + 4 + 1 });
    await b.close();

    // DROP_OLDEST: onDrop receives unpacked objects, oldest first, same as the CPU queue
    const gd: Pk[] = [];
    const cd: Pk[] = [];
    const d = await GpuMessageQueue.create<Pk>({ maxSize: 50, schema, backpressure: BackpressureStrategy.DROP_OLDEST, onDrop: (m) => gd.push(m) });
    const c = new MessageQueue<Pk>({ maxSize: 50, backpressure: BackpressureStrategy.DROP_OLDEST, onDrop: (m) => cd.push(m) });
    const a1 = Array.from({ length: 40 }, (_, i) => mk(i, i % 3));
    const a2 = Array.from({ length: 100 }, (_, i) => mk(1000 + i, i % 4));
    await d.putManyPacked(pack(a1).words, pack(a1).priorities);
    await c.putMany(a1);
    const gotG = d.getManyPacked(5);
    const gotC = c.getMany(5);
    await d.putManyPacked(pack(a2).words, pack(a2).priorities);
    await c.putMany(a2);
    expect(ids(unpack(await gotG))).toEqual(ids(await gotC));
    await d.flush();
    expect(gd).toEqual(cd);
    expect(gd.length).toBe(40 - 5 + 100 - 50);
    expect(gd[0]).toEqual(a1.find((m) => m.id === gd[0].id));
    expect(ids(unpack(await d.getManyPacked(50)))).toEqual(ids(await c.getMany(50)));
    expect(d.stats).toEqual(c.stats);
    await d.close();
  });

  it('refuses bad input with nothing changed; opaque mode needs a schema', async () => {
    const q = await GpuMessageQueue.create<Pk>({ maxSize: 100, schema });
    const good = pack([mk(1, 1), mk(2, 2)]);
    await expect(q.putManyPacked(good.words.subarray(1), good.priorities)).rejects.toThrow(RangeError);
    await expect(q.putManyPacked(new Uint32Array(3 * W), good.priorities)).rejects.toThrow(/words.length must be/);
    await expect(q.putManyPacked(new Int32Array(2 * W) as never, good.priorities)).rejects.toThrow(TypeError);
    await expect(q.putManyPacked(Array.from(good.words) as never, good.priorities)).rejects.toThrow(TypeError);
    await expect(q.putManyPacked(good.words, [1, 2] as never)).rejects.toThrow(TypeError);
    await expect(q.putManyPacked(good.words, new Uint8ClampedArray([1, 2]) as never)).rejects.toThrow(TypeError);
    await expect(q.putManyPacked(good.words, new Uint16Array([1, 300]) as never)).rejects.toThrow(TypeError);
    await expect(q.getManyPacked(0)).rejects.toThrow(RangeError);
    await expect(q.getManyPacked(1.5)).rejects.toThrow(RangeError);
    expect(q.size).toBe(0);
    expect(q.stats).toEqual({ enqueued: 0, dequeued: 0, dropped: 0, rejected: 0, timedOut: 0 });
    await q.putManyPacked(new Uint32Array(0), new Uint8Array(0));
    expect(q.size).toBe(0);
    await q.putManyPacked(good.words, good.priorities);
    expect(ids(unpack(await q.getManyPacked(5)))).toEqual([2, 1]);
    await q.close();
    await expect(q.putManyPacked(good.words, good.priorities)).rejects.toThrow(QueueClosedError);
    await expect(q.getManyPacked(1)).rejects.toThrow(QueueClosedError);

    const o = await GpuMessageQueue.create<{ id: number }>({ maxSize: 10 });
    await expect(o.putManyPacked(new Uint32Array(1), new Uint8Array(1))).rejects.toThrow(/needs a schema/);
    await expect(o.putManyPacked(new Uint32Array(1), new Uint8Array(1))).rejects.toThrow(TypeError);
    await expect(o.getManyPacked(1)).rejects.toThrow(/needs a schema/);
    expect(o.size).toBe(0);
    await o.close();
  });
});
