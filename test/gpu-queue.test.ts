import { expect, it } from 'vitest';
import {
  BackpressureStrategy,
  DeviceLostError,
  GpuMessageQueue,
  MessageQueue,
  QueueClosedError,
  acquireDevice,
  defineMessage,
  describeAdapter,
} from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';
import { randInt, rng } from './helpers.js';

interface M {
  id: number;
  priority?: number;
}
const idsOf = (ms: readonly (M | null)[]) => ms.map((m) => (m === null ? null : m.id));

/** Drives a GPU and a CPU queue with the same random batches and single ops; requires identical results. */
async function sameAsCpu(
  seed: number,
  options: { maxSize: number; backpressure: BackpressureStrategy; initialTicket?: number; initialSeq?: number },
  rounds: number,
  maxBatch: number,
  prioritySpread: number,
): Promise<GpuMessageQueue<M>> {
  const random = rng(seed);
  const gpuDrops: number[] = [];
  const cpuDrops: number[] = [];
  const g = await GpuMessageQueue.create<M>({ ...options, onDrop: (m) => gpuDrops.push(m.id) });
  const c = new MessageQueue<M>({ maxSize: options.maxSize, backpressure: options.backpressure, onDrop: (m) => cpuDrops.push(m.id) });
  let id = 0;
  for (let r = 0; r < rounds; r++) {
    const n = randInt(random, 0, maxBatch);
    const batch: M[] = [];
    for (let i = 0; i < n; i++) batch.push({ id: id++, priority: randInt(random, 0, prioritySpread - 1) * Math.floor(256 / prioritySpread) });
    if (options.backpressure === BackpressureStrategy.DROP_OLDEST) {
      await g.putMany(batch);
      await c.putMany(batch);
    } else {
      for (const m of batch) expect(g.putNowait(m)).toBe(c.putNowait(m));
    }
    // some singles in the same turn, mixing pushes and pops
    for (let k = randInt(random, 0, 4); k > 0; k--) {
      if (random() < 0.5) {
        const m = { id: id++, priority: randInt(random, 0, 255) };
        expect(g.putNowait(m)).toBe(c.putNowait(m));
      } else if (c.size > 0) {
        const [a, b] = await Promise.all([g.get(), c.get()]);
        expect(a.id).toBe(b.id);
      }
    }
    const take = randInt(random, 1, maxBatch);
    if (c.size > 0) {
      const [a, b] = await Promise.all([g.getMany(take), c.getMany(take)]);
      expect(idsOf(a)).toEqual(idsOf(b));
    }
    expect(g.size).toBe(c.size);
    await g.flush();
    expect(idsOf([g.peek()])).toEqual(idsOf([c.peek()]));
    if (random() < 0.3 && c.size > 0) expect(g.getNowait()?.id).toBe(c.getNowait()?.id);
    expect(gpuDrops).toEqual(cpuDrops);
  }
  const rest = g.size > 0 ? await g.getMany(g.size) : [];
  const cpuRest = c.size > 0 ? await c.getMany(c.size) : [];
  expect(idsOf(rest)).toEqual(idsOf(cpuRest));
  await g.flush();
  expect(g.stats).toEqual(c.stats);
  const dc = g.deviceCounters!;
  expect(dc.error).toBe(0);
  expect(dc.count).toBe(0);
  expect(g.hostTableSize).toBe(0);
  return g;
}

describeGpu('GpuMessageQueue: device structure', () => {
  it('one batch of 20 000 with 256 priorities comes out in exact priority order, FIFO within a priority (also within the batch)', async () => {
    const random = rng(99);
    const n = 20_000;
    const q = await GpuMessageQueue.create<M>({ maxSize: n });
    const sent: M[] = Array.from({ length: n }, (_, i) => ({ id: i, priority: randInt(random, 0, 255) }));
    await q.putMany(sent);
    const expected = [...sent].sort((a, b) => b.priority! - a.priority! || a.id - b.id).map((m) => m.id);
    const got = [...(await q.getMany(7000)), ...(await q.getMany(n))].map((m) => m.id);
    expect(got.findIndex((v, i) => v !== expected[i])).toBe(-1);
    await q.flush();
    expect(q.deviceCounters).toMatchObject({ count: 0, enqueued: n, dequeued: n, error: 0 });
    await q.close();
  });

  for (const backpressure of [BackpressureStrategy.BLOCK, BackpressureStrategy.DROP_OLDEST]) {
    it(`u32 tickets wrap around and 64-bit sequence numbers cross 2^32 (start near 2^32), ${backpressure}`, async () => {
      const g = await sameAsCpu(7, { maxSize: 300, backpressure, initialTicket: 2 ** 32 - 100, initialSeq: 2 ** 32 - 150 }, 40, 200, 8);
      expect(g.deviceCounters!.nextSeq).toBeGreaterThan(2 ** 32); // it crossed 2^32 (64-bit: no wrap)
      await g.close();
    });
  }

  // segments above the in-workgroup limit (2048 items) take the two-dispatch path: pops served
  // from the same batch's upload, pops of older messages through the chunk table, survivors scattered
  for (const backpressure of [BackpressureStrategy.BLOCK, BackpressureStrategy.DROP_OLDEST]) {
    it(`large mixed batches agree with the CPU queue, u32 wrap-around, ${backpressure}`, async () => {
      const g = await sameAsCpu(23, { maxSize: 9000, backpressure, initialTicket: 2 ** 32 - 3000, initialSeq: 2 ** 32 - 5000 }, 8, 7000, 256);
      await g.close();
    });
  }

  it('schema mode: a large putMany and getMany in one turn come out in exact order, half from the batch itself', async () => {
    const schema = defineMessage({ name: 'Big', fields: { id: 'u32', v: 'vec2<f32>' } });
    const q = await GpuMessageQueue.create<typeof schema.type>({ maxSize: 30_000, schema });
    const random = rng(5);
    const older = Array.from({ length: 6000 }, (_, i) => ({ id: i, v: [i, -i] as [number, number], priority: randInt(random, 0, 255) }));
    await q.putMany(older);
    await q.flush();
    const batch = Array.from({ length: 12_000 }, (_, i) => ({ id: 6000 + i, v: [i, 0.5] as [number, number], priority: randInt(random, 0, 255) }));
    void q.putMany(batch);
    const first = q.getMany(9000); // same submission: older messages and this batch's pushes
    const all = [...older, ...batch].sort((a, b) => b.priority - a.priority || a.id - b.id);
    const got = [...(await first), ...(await q.getMany(30_000))];
    expect(got.map((m) => m.id)).toEqual(all.map((m) => m.id));
    expect(got.map((m) => m.v)).toEqual(all.map((m) => m.v));
    expect(got.map((m) => m.priority)).toEqual(all.map((m) => m.priority));
    await q.flush();
    expect(q.deviceCounters).toMatchObject({ count: 0, enqueued: 18_000, dequeued: 18_000, error: 0 });
    await q.close();
  });

  it('many rounds of mixed batches agree with the CPU queue (DROP_OLDEST, few priorities, block size 4)', async () => {
    const g = await sameAsCpu(11, { maxSize: 37, backpressure: BackpressureStrategy.DROP_OLDEST }, 60, 90, 3);
    await g.close();
  });

  it('opaque mode releases every host-held message: dequeued, dropped and cleared', async () => {
    const q = await GpuMessageQueue.create<M>({ maxSize: 50, backpressure: BackpressureStrategy.DROP_OLDEST });
    await q.putMany(Array.from({ length: 120 }, (_, i) => ({ id: i, priority: i % 5 })));
    expect(q.hostTableSize).toBe(50);
    const got = q.get(); // device-resolved pop, unresolved while more drops happen
    q.putNowait({ id: 1000 });
    q.putNowait({ id: 1001 });
    await got;
    await q.getMany(10);
    await q.flush();
    expect(q.hostTableSize).toBe(q.size);
    q.clear();
    await q.flush();
    expect(q.hostTableSize).toBe(0);
    await q.putMany([{ id: 1 }, { id: 2 }]);
    const pending = q.getMany(1);
    q.clear(); // clear while a device pop is unresolved
    await pending;
    await q.flush();
    expect(q.hostTableSize).toBe(0);
    await q.close();
    expect(q.hostTableSize).toBe(0);
  });

  it('maxSize 1 000 000 with 64-byte messages fits the default limits (128 MiB per binding) and works', async () => {
    const { device } = await acquireDevice(); // default limits
    expect(device.limits.maxStorageBufferBindingSize).toBe(128 * 1024 * 1024);
    const schema = defineMessage({ fields: { a: 'vec4<u32>', b: 'vec4<f32>', c: 'vec4<f32>', d: 'vec4<u32>' } });
    expect(schema.size).toBe(64);
    const maxSize = 1_000_000;
    const q = await GpuMessageQueue.create<typeof schema.type>({ maxSize, schema, device });
    // O(maxSize x message size) + a small constant per priority, never 256 x maxSize
    expect(q.gpuBytes).toBeLessThan(maxSize * (64 + 4) * 1.2 + 64 * 1024 * 1024 * 0.1);
    const random = rng(5);
    const n = 1_000_000;
    const batch = Array.from({ length: n }, (_, i) => ({
      a: [i, 0, 0, 0] as [number, number, number, number],
      b: [0, 0, 0, 0] as [number, number, number, number],
      c: [0, 0, 0, 0] as [number, number, number, number],
      d: [0, 0, 0, i] as [number, number, number, number],
      priority: randInt(random, 0, 3) * 80,
    }));
    await q.putMany(batch);
    expect(q.isFull).toBe(true);
    const first = await q.getMany(1000);
    const expected = batch.filter((m) => m.priority === 240).slice(0, 1000).map((m) => m.a[0]);
    expect(first.map((m) => m.a[0])).toEqual(expected);
    expect(first.every((m) => m.d[3] === m.a[0])).toBe(true);
    expect(q.clear()).toBe(n - 1000);
    await q.flush();
    expect(q.deviceCounters).toMatchObject({ count: 0, error: 0 });
    await q.close();
    device.destroy();
  }, 180_000);
});

describeGpu('GpuMessageQueue: schema mode', () => {
  const schema = defineMessage({ name: 'Particle', fields: { id: 'u32', mass: 'f32', pos: 'vec3<f32>', charge: 'i32', vel: 'vec2<f32>' } });

  it('lays the struct out by WGSL rules and the WGSL compiles', async () => {
    expect(schema.fields.map((f) => [f.name, f.offset])).toEqual([
      ['id', 0],
      ['mass', 4],
      ['pos', 16],
      ['charge', 28],
      ['vel', 32],
    ]);
    expect(schema.size).toBe(48);
    expect(schema.align).toBe(16);
    const { device } = await acquireDevice();
    const module = device.createShaderModule({
      code: `${schema.wgsl}\n@group(0) @binding(0) var<storage, read_write> xs: array<Particle>;\n@compute @workgroup_size(1) fn main() { xs[0].pos.y = xs[0].mass; }`,
    });
    const info = await module.getCompilationInfo();
    expect(info.messages.filter((m) => m.type === 'error')).toEqual([]);
    device.destroy();
  });

  it('round-trips every field through the device', async () => {
    const q = await GpuMessageQueue.create<typeof schema.type>({ maxSize: 10, schema });
    const m = { id: 4294967295, mass: 1.5, pos: [1, -2, 3.25] as [number, number, number], charge: -7, vel: [0.5, 8] as [number, number], priority: 9 };
    await q.put(m);
    await q.put({ ...m, id: 1, priority: 10 });
    expect(await q.getMany(2)).toEqual([{ ...m, id: 1, priority: 10 }, m]);
    await q.close();
  });

  it('refuses messages that do not fit, with clear errors, and enqueues nothing', async () => {
    const q = await GpuMessageQueue.create<typeof schema.type>({ maxSize: 10, schema });
    const good = { id: 1, mass: 1, pos: [0, 0, 0] as [number, number, number], charge: 0, vel: [0, 0] as [number, number] };
    expect(() => q.putNowait({ ...good, mass: undefined } as never)).toThrow(/missing field mass/);
    expect(() => q.putNowait({ ...good, id: 'x' } as never)).toThrow(TypeError);
    expect(() => q.putNowait({ ...good, id: -1 })).toThrow(RangeError);
    expect(() => q.putNowait({ ...good, id: 2 ** 32 })).toThrow(/u32/);
    expect(() => q.putNowait({ ...good, id: NaN })).toThrow(RangeError);
    expect(() => q.putNowait({ ...good, charge: 1.5 })).toThrow(RangeError);
    expect(() => q.putNowait({ ...good, pos: [1, 2] as never })).toThrow(/3 components/);
    expect(() => q.putNowait({ ...good, priority: 256 })).toThrow(RangeError);
    await expect(q.putMany([good, { ...good, vel: [0, 'a'] as never }])).rejects.toThrow(TypeError);
    await expect(q.put({ ...good, id: 1.5 })).rejects.toThrow(RangeError);
    expect(q.size).toBe(0);
    expect(q.stats.enqueued).toBe(0);
    await q.close();
  });
});

describeGpu('GpuMessageQueue: device acquisition and loss', () => {
  it('reports the adapter and classifies software adapters', async () => {
    const { info } = await acquireDevice();
    expect(typeof info.vendor).toBe('string');
    expect(typeof info.architecture).toBe('string');
    expect(typeof info.description).toBe('string');
    const fake = (architecture: string, description: string) => ({ info: { vendor: 'x', architecture, description, device: '' } }) as unknown as GPUAdapter;
    expect(describeAdapter(fake('llvm', 'llvmpipe (LLVM 19.1.7, 256 bits)')).isSoftware).toBe(true);
    expect(describeAdapter(fake('', 'lavapipe')).isSoftware).toBe(true);
    expect(describeAdapter(fake('rdna-3', 'AMD Radeon RX 7900')).isSoftware).toBe(false);
  });

  it('device lost: every pending operation rejects with DeviceLostError, nothing hangs, later calls refuse', async () => {
    const { device } = await acquireDevice();
    // One device, three queues, so that each kind of pending operation is really pending when it is lost.
    const full = await GpuMessageQueue.create<M>({ maxSize: 1, device });
    // Schema mode, 200 messages, a one-message head fetch: the host holds at most the first 64
    // (its head copy), so a getMany of 100 can only be answered by the device.
    const Id = defineMessage({ name: 'Id', fields: { id: 'u32' } });
    const deep = await GpuMessageQueue.create<{ id: number }>({ maxSize: 300, device, prefetch: 1, schema: Id });
    const empty = await GpuMessageQueue.create<M>({ maxSize: 4, device });
    full.putNowait({ id: 0 });
    await deep.putMany(Array.from({ length: 200 }, (_, i) => ({ id: i })));
    await Promise.all([full.flush(), deep.flush()]);

    const blockedPut = full.put({ id: 1 }); // the queue is full: a waiting putter
    const onDevice = deep.getMany(100); // only the head is on the host: the device must answer
    const waitingGet = empty.get(); // the queue is empty: a waiting getter
    const flushing = deep.flush();
    device.destroy();
    const settled = await Promise.allSettled([blockedPut, onDevice, waitingGet, flushing]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    for (const s of settled) expect((s as PromiseRejectedResult).reason).toBeInstanceOf(DeviceLostError);
    expect(deep.size).toBe(0);
    expect(deep.stats.dequeued).toBe(0);
    for (const other of [full, empty]) await other.close();
    const q = deep;
    // later calls refuse
    await expect(q.put({ id: 7 })).rejects.toBeInstanceOf(DeviceLostError);
    await expect(q.get()).rejects.toBeInstanceOf(DeviceLostError);
    expect(() => q.putNowait({ id: 8 })).toThrow(DeviceLostError);
    expect(() => q.getNowait()).toThrow(DeviceLostError);
    await q.close();
    await expect(q.get()).rejects.toBeInstanceOf(QueueClosedError);
  });
});
