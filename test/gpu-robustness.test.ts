/** GpuMessageQueue at its edges: buffer limits, runDeviceKernel exclusivity, fake timers, onDrop order, copies, device loss, WGSL names. */
import { expect, it, vi } from 'vitest';
import { BackpressureStrategy, DeviceLostError, GpuMessageQueue, GpuQueueError, MessageQueue, acquireDevice, defineMessage } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';

const schema4 = defineMessage({ name: 'Rec', fields: { id: 'u32', v: 'vec3<f32>' } });
type Rec = { id: number; v: number[]; priority?: number };
const rec = (id: number): Rec => ({ id, v: [id, 1, 2], priority: id % 5 });
/** expected ids of one batch after priority order (high first), FIFO within a priority */
const expectedOrder = (ids: number[]) => ids.slice().sort((a, b) => (b % 5) - (a % 5) || a - b);
const realTimeout = (ms: number) => new Promise<'HANG'>((r) => (globalThis as any).__realSetTimeout(() => r('HANG'), ms));
(globalThis as any).__realSetTimeout ??= globalThis.setTimeout;

/**
 * Makes the queue's next submissions invalid (a params bind group on a buffer below its
 * minBindingSize, as an oversized binding would be), so the GPU rejects them. Returns the undo.
 */
function sabotageSubmissions(q: GpuMessageQueue<any>): () => void {
  const storage = q.storage as any;
  const tiny = q.device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM });
  const layout = q.storage.p.paramLayout;
  const original = storage.inpParamGroup;
  storage.inpParamGroup = () => q.device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: tiny } }] });
  return () => {
    storage.inpParamGroup = original;
  };
}

/** A no-op user kernel (an empty pipeline), for runDeviceKernel. */
function noopKernel(device: GPUDevice): (pass: GPUComputePassEncoder) => void {
  const module = device.createShaderModule({ code: '@compute @workgroup_size(1) fn main() { }' });
  const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [] }), compute: { module, entryPoint: 'main' } });
  return (pass) => {
    pass.setPipeline(pipeline);
    pass.dispatchWorkgroups(1);
  };
}

describeGpu('GpuMessageQueue at its edges', () => {
  it('one-turn submissions larger than the buffer limit are split (schema, opaque, DROP_OLDEST) and deliver exact results', async () => {
    const N = 20000;
    const limit = 256 * 1024; // far below what N messages per turn need
    for (const opaque of [false, true]) {
      const q = await GpuMessageQueue.create<Rec>({ maxSize: N, maxBindingBytes: limit, ...(opaque ? {} : { schema: schema4 }) });
      const gets: Promise<Rec[]>[] = [];
      for (let r = 0; r < 3; r++) {
        void q.putMany(Array.from({ length: N }, (_, i) => rec(r * N + i)));
        gets.push(q.getMany(N));
      }
      const res = await Promise.all(gets);
      res.forEach((ms, r) => {
        const ids = Array.from({ length: N }, (_, i) => r * N + i);
        expect(ms.map((m) => m.id)).toEqual(expectedOrder(ids));
        if (!opaque) expect(ms[7].v).toEqual([ms[7].id, 1, 2]);
      });
      await q.flush();
      expect(q.deviceCounters!.error).toBe(0);
      await q.close();
    }
    // DROP_OLDEST: a full queue, evictions the host cannot name, and a getMany, in one turn
    const M = 8000;
    const drops: number[] = [];
    const q = await GpuMessageQueue.create<Rec>({ maxSize: M, schema: schema4, maxBindingBytes: limit, backpressure: BackpressureStrategy.DROP_OLDEST, onDrop: (m) => drops.push(m.id) });
    await q.putMany(Array.from({ length: M }, (_, i) => rec(i)));
    await q.flush();
    void q.putMany(Array.from({ length: M }, (_, i) => rec(M + i)));
    const got = await q.getMany(M);
    await q.flush();
    expect(drops).toEqual(Array.from({ length: M }, (_, i) => i));
    expect(got.map((m) => m.id)).toEqual(expectedOrder(Array.from({ length: M }, (_, i) => M + i)));
    await q.close();
  });

  it('a submission the GPU rejects (validation error) rejects its operations instead of decoding a zero-filled readback', async () => {
    for (const opaque of [false, true]) {
      const q = await GpuMessageQueue.create<Rec>({ maxSize: 1000, ...(opaque ? {} : { schema: schema4 }) });
      for (let i = 0; i < 200; i++) q.putNowait(rec(i + 1));
      await q.flush();
      const restore = sabotageSubmissions(q);
      const outcome = await q.getMany(150).then(
        (ms) => `resolved ${ms.slice(0, 3).map((m) => m.id)}`,
        (e: Error) => e.message,
      );
      restore();
      expect(outcome).toMatch(/GPU rejected a submission/);
      // fail closed: host and device may disagree now, so the queue is broken (as on device loss)
      expect(q.size).toBe(0);
      expect(q.isEmpty).toBe(true);
      await expect(q.flush()).rejects.toBeInstanceOf(GpuQueueError);
      const err = await q.get().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GpuQueueError);
      expect((err as Error).message).toMatch(/broken.*GPU rejected a submission/);
      expect((err as Error).cause).toBeInstanceOf(Error);
      await expect(q.put(rec(1))).rejects.toBe(err);
      await expect(q.putMany([rec(2), rec(3)])).rejects.toBe(err);
      await expect(q.getMany(5)).rejects.toBe(err);
      expect(() => q.putNowait(rec(4))).toThrow(GpuQueueError);
      expect(() => q.getNowait()).toThrow(GpuQueueError);
      expect(() => q.peek()).toThrow(GpuQueueError);
      expect(() => q.clear()).toThrow(GpuQueueError);
      if (!opaque) await expect(q.putManyPacked(new Uint32Array(4), new Uint8Array(1))).rejects.toBe(err);
      expect(q.size).toBe(0);
      expect(q.gpuBytes).toBeGreaterThan(0);
      await q.close();
      expect(q.closed).toBe(true);
      expect(q.hostTableSize).toBe(0);
      expect(() => q.putNowait(rec(5))).toThrow(/closed/);
    }
  });

  it('a rejected submission is caught whichever way its serial travels: carried by seg_tiny in the globals, or written and copied on its own', async () => {
    for (const [what, n, ownWrite] of [
      ['a put + get (seg_tiny carries the serial)', 1, false],
      ['a batch of 500 (no seg_tiny: the serial is written and copied)', 500, true],
    ] as const) {
      const q = await GpuMessageQueue.create<Rec>({ maxSize: 1000, schema: schema4, prefetch: 0 });
      const queue = q.device.queue;
      const writeBuffer = queue.writeBuffer;
      const written: string[] = [];
      queue.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, ...rest: unknown[]) {
        written.push(buffer.label);
        return (writeBuffer as (...a: unknown[]) => undefined).call(this, buffer, ...rest);
      } as GPUQueue['writeBuffer'];
      try {
        // a healthy submission first: the serial's path is the one this case is about
        await q.putMany(Array.from({ length: n }, (_, i) => rec(i + 1)));
        expect((await q.getMany(n)).length, what).toBe(n);
        expect(written.includes('ringkernel-serial'), what).toBe(ownWrite);
        written.length = 0;
        const restore = sabotageSubmissions(q);
        const put = q.putMany(Array.from({ length: n }, (_, i) => rec(i + 1)));
        const got = q.getMany(n).then(
          () => 'resolved',
          (e: unknown) => e,
        );
        await put.catch(() => undefined);
        const err = await got;
        restore();
        expect(written.includes('ringkernel-serial'), what).toBe(ownWrite);
        expect(err, what).toBeInstanceOf(GpuQueueError);
        expect((err as Error).message).toMatch(/GPU rejected a submission/);
      } finally {
        queue.writeBuffer = writeBuffer;
      }
      await q.close();
    }
  });

  it('a rejected submission also rejects waiting putters and the operations recorded with it', async () => {
    const q = await GpuMessageQueue.create<Rec>({ maxSize: 200, schema: schema4 });
    await q.putMany(Array.from({ length: 200 }, (_, i) => rec(i + 1))); // more than the host caches
    await q.flush();
    const restore = sabotageSubmissions(q);
    const first = q.getMany(150); // resolved by the device
    void q.putMany(Array.from({ length: 150 }, (_, i) => rec(300 + i))); // full again
    const blocked = q.put(rec(7)); // waits
    const flushed = q.flush().catch((e: unknown) => e);
    const e1 = await first.catch((e: unknown) => e);
    restore();
    expect(e1).toBeInstanceOf(GpuQueueError);
    await expect(blocked).rejects.toBe(e1);
    expect(await flushed).toBe(e1);
    expect(q.size).toBe(0);
    expect(() => q.putNowait(rec(8))).toThrow(e1 as Error);
    await q.close();
  });

  it('runDeviceKernel makes the queue busy at once: calls during its flush throw, none is applied out of order', async () => {
    const schema = defineMessage({ name: 'Job', fields: { value: 'u32' } });
    const q = await GpuMessageQueue.create<{ value: number; priority?: number }>({ maxSize: 10, schema });
    q.putNowait({ value: 1, priority: 10 });
    q.putNowait({ value: 2, priority: 5 });
    await q.flush();
    const run = q.runDeviceKernel(noopKernel(q.device));
    expect(() => q.peek()).toThrow(/device kernel is running/);
    expect(() => q.getNowait()).toThrow(/device kernel is running/);
    await expect(q.get()).rejects.toThrow(/device kernel is running/);
    expect(await run).toEqual({ popped: 0, pushed: 0 });
    expect(q.size).toBe(2);
    expect((await q.getMany(2)).map((m) => m.value)).toEqual([1, 2]);
    await q.close();
  });

  it('default vi.useFakeTimers(): the queue fails closed with a clear error instead of hanging or losing the messages it popped', async () => {
    const q = await GpuMessageQueue.create<{ id: number; priority?: number }>({ maxSize: 200 });
    for (let i = 0; i < 100; i++) q.putNowait({ id: i, priority: i % 3 });
    await q.flush();
    vi.useFakeTimers();
    let out: unknown;
    try {
      const p = q.getMany(100).then(
        (v) => v.length,
        (e: Error) => e.message,
      ); // more than the cache: device-resolved
      out = await Promise.race([p, realTimeout(3000)]);
    } finally {
      vi.useRealTimers();
    }
    expect(out).toMatch(/setImmediate is faked; WebGPU's Node binding resolves mapAsync through it: fake only setTimeout\/setInterval/);
    // The host had already taken the 100 messages out of its view for that getMany: replaying
    // the pop later would empty the device while nobody got them. So the queue is closed, loudly.
    expect(q.brokenBy).toBeInstanceOf(GpuQueueError);
    expect(q.brokenBy!.message).toMatch(/setImmediate is faked.*The queue is closed: nothing was sent to the device/);
    await expect(q.get()).rejects.toBe(q.brokenBy);
    expect(() => q.putNowait({ id: 7 })).toThrow(q.brokenBy!);
    await q.close();
  });

  it('default vi.useFakeTimers() with nothing waiting for the device: puts are kept for later and flush says why it cannot finish', async () => {
    const q = await GpuMessageQueue.create<{ id: number; priority?: number }>({ maxSize: 200, prefetch: 0 });
    q.putNowait({ id: 1, priority: 1 });
    await q.flush();
    vi.useFakeTimers();
    let flushed: unknown;
    try {
      q.putNowait({ id: 2, priority: 9 });
      await q.put({ id: 3, priority: 5 });
      flushed = await q.flush().then(
        () => 'resolved',
        (e: Error) => e.message,
      );
    } finally {
      vi.useRealTimers();
    }
    expect(flushed).toMatch(/setImmediate is faked/);
    expect(q.brokenBy).toBeNull(); // nothing was lost, so nothing was closed
    expect(q.size).toBe(3);
    expect((await q.getMany(3)).map((m) => m.id)).toEqual([2, 3, 1]);
    await q.flush();
    expect(q.deviceCounters).toMatchObject({ count: 0, error: 0 });
    await q.close();
  });

  it('onDrop order: a drop the host names waits behind an earlier one the device reports', async () => {
    const schema = defineMessage({ name: 'Job', fields: { value: 'u32' } });
    const drops: number[] = [];
    const cdrops: number[] = [];
    const q = await GpuMessageQueue.create<{ value: number }>({ maxSize: 4, schema, backpressure: BackpressureStrategy.DROP_OLDEST, prefetch: 1, onDrop: (m) => drops.push(m.value) });
    const c = new MessageQueue<{ value: number }>({ maxSize: 4, backpressure: BackpressureStrategy.DROP_OLDEST, onDrop: (m) => cdrops.push(m.value) });
    const both = (f: (x: GpuMessageQueue<{ value: number }> | MessageQueue<{ value: number }>) => unknown) => {
      f(q);
      f(c);
    };
    both((x) => x.putMany([0, 1, 2, 3].map((value) => ({ value }))));
    await q.runDeviceKernel(noopKernel(q.device)); // the host now caches 1 of 4
    both((x) => x.putNowait({ value: 4 })); // evicts 0: reported by the device
    both((x) => x.clear());
    both((x) => x.putMany([5, 6, 7, 8].map((value) => ({ value }))));
    both((x) => x.putNowait({ value: 9 })); // evicts 5: named by the host at once
    await q.flush();
    expect(cdrops).toEqual([0, 5]);
    expect(drops).toEqual([0, 5]);
    await q.close();
  });

  it('schema mode: get returns a new unpacked object, also when served from the host cache', async () => {
    const schema = defineMessage({ name: 'Job', fields: { value: 'u32' } });
    const q = await GpuMessageQueue.create<{ value: number; extra?: string }>({ maxSize: 200, schema });
    const m = { value: 1, extra: 'x' };
    q.putNowait(m);
    const a = await q.get();
    expect(a).not.toBe(m);
    expect(a).toEqual({ value: 1, priority: 128 });
    const m2 = { value: 5 };
    q.putNowait(m2);
    m2.value = 6; // a mutation after put does not reach the queued message
    expect(q.peek()).toEqual({ value: 5, priority: 128 });
    expect(await q.get()).toEqual({ value: 5, priority: 128 });
    await q.close();
  });

  it('device loss: size reads 0 and pops that reject are not counted as dequeued', async () => {
    for (const opaque of [false, true]) {
      const { device } = await acquireDevice();
      const q = await GpuMessageQueue.create<{ id: number; priority?: number }>({ maxSize: 200, device, ...(opaque ? {} : { schema: defineMessage({ fields: { id: 'u32' } }) }) });
      for (let i = 0; i < 150; i++) q.putNowait({ id: i, priority: i % 7 });
      await q.flush();
      const g = q.getMany(100);
      device.destroy();
      await expect(g).rejects.toBeInstanceOf(DeviceLostError);
      expect(q.size).toBe(0);
      expect(q.isEmpty).toBe(true);
      expect(q.stats.dequeued).toBe(0);
      expect(q.stats.enqueued).toBe(150);
    }
  });

  it('defineMessage rejects WGSL keywords and reserved words as field or struct names', () => {
    for (const name of ['let', 'fn', 'var', 'struct', 'loop', 'override', 'self', 'type']) {
      expect(() => defineMessage({ fields: { [name]: 'u32' } })).toThrow(new RegExp(`'${name}' is a WGSL keyword or reserved word`));
    }
    expect(() => defineMessage({ name: 'struct', fields: { a: 'u32' } })).toThrow(/schema name 'struct' is a WGSL keyword/);
    expect(() => defineMessage({ name: 'Ok', fields: { letter: 'u32', fnx: 'f32' } })).not.toThrow();
  });
});
