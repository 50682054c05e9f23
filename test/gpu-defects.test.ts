/**
 * One test per defect found in the GPU queue by trying it (each failed before it was fixed):
 * validation errors taken for device loss, closed queues kept alive by the device, buffers
 * not checked against the limits or created outside an error scope, ages and handles that
 * wrap, device-side counters that wrap, an error word that did not break the queue, and
 * options checked after allocating.
 */
import { expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  BackpressureStrategy,
  DeviceLostError,
  GpuMessageQueue,
  GpuOutOfMemoryError,
  GpuQueueError,
  MessageQueue,
  acquireDevice,
  defineMessage,
  deviceApiWgsl,
  sharedDevice,
} from 'ringkernel';
import { G } from '../src/gpu/layout.js';
import { describeGpu, probeDevice } from './gpu-helpers.js';
import { nextTurn } from './helpers.js';

const Job = defineMessage({ name: 'Job', fields: { id: 'u32' } });
type Job = typeof Job.type;
const { DROP_OLDEST } = BackpressureStrategy;

/** A pipeline of a user kernel over one queue's device-side API (group 1) with a storage buffer of its own at group 0. */
function userKernel(q: GpuMessageQueue<Job>, body: string) {
  const device = q.device;
  const module = device.createShaderModule({
    code: `${deviceApiWgsl(Job, 1)}
@group(0) @binding(0) var<storage, read_write> outv: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
${body}
}`,
  });
  const layout0 = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } }] });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout0, q.deviceBindGroupLayout] }),
    compute: { module, entryPoint: 'main' },
  });
  const out = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
  const group0 = device.createBindGroup({ layout: layout0, entries: [{ binding: 0, resource: { buffer: out } }] });
  return { pipeline, group0, out };
}

let gcFn: (() => void) | undefined;
function gc(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

describeGpu('GPU queue defects, each with the test that found it', () => {
  it('a user kernel run the GPU rejects (a destroyed buffer: a validation error) rejects that run with GpuQueueError; the queue is unchanged and usable', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 100, schema: Job });
    await q.putMany([{ id: 1, priority: 5 }, { id: 2, priority: 9 }, { id: 3, priority: 1 }]);
    const { pipeline, group0, out } = userKernel(q, '  var m: Job; var p: u32; if (i == 0u && rk_try_pop(&m, &p)) { outv[0] = m.id; }');
    out.destroy(); // the user's own buffer: the submission is invalid, the device is fine
    const error = await q
      .runDeviceKernel((pass, group) => {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group0);
        pass.setBindGroup(1, group);
        pass.dispatchWorkgroups(1);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuQueueError);
    expect((error as Error).message).toMatch(/rejected the device kernel run \(the queues are unchanged\)/);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(((error as Error).cause as Error).message).toMatch(/destroyed/i);
    // unchanged and usable: the whole command buffer was dropped, so the kernel popped nothing
    expect(q.size).toBe(3);
    expect((await q.getMany(3)).map((m) => m.id)).toEqual([2, 1, 3]);
    q.putNowait({ id: 4 });
    expect((await q.get()).id).toBe(4);
    await q.flush();
    expect(q.deviceCounters).toMatchObject({ count: 0, error: 0 });
    await q.close();
  });

  it('a device kernel run that runs out of memory growing the queue buffers rejects with GpuOutOfMemoryError; the queue is unchanged and usable', async () => {
    const { device: real } = await acquireDevice();
    const probe = probeDevice(real);
    const q = await GpuMessageQueue.create<Job>({ maxSize: 1 << 16, schema: Job, device: probe.device });
    await q.putMany([{ id: 1, priority: 5 }, { id: 2, priority: 9 }, { id: 3, priority: 1 }]);
    await q.flush();
    const { pipeline, group0, out } = userKernel(q, '  var m: Job; var p: u32; if (i == 0u && rk_try_pop(&m, &p)) { outv[0] = m.id; }');
    const popOne = (pass: GPUComputePassEncoder, group: GPUBindGroup): void => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group0);
      pass.setBindGroup(1, group);
      pass.dispatchWorkgroups(1);
    };
    probe.failScope('out-of-memory', 'injected: no memory');
    // an inbox of 64 Ki records grows the queue's input buffer: that allocation fails
    const error = await q.runDeviceKernel(popOne, { inboxCapacity: 1 << 16 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuOutOfMemoryError);
    expect((error as Error).message).toMatch(/injected: no memory/);
    // unchanged and usable: nothing ran, and the queue still has its own buffers
    expect(q.brokenBy).toBeNull();
    expect(q.size).toBe(3);
    await q.runDeviceKernel(popOne, { inboxCapacity: 1 << 16 });
    expect(q.size).toBe(2);
    expect((await q.getMany(2)).map((m) => m.id)).toEqual([1, 3]);
    await q.flush();
    expect(q.deviceCounters).toMatchObject({ count: 0, error: 0 });
    out.destroy();
    await q.close();
    real.destroy();
  });

  it('a closed queue is garbage: nothing of it stays reachable from the shared device', async () => {
    const { device } = await sharedDevice();
    let collected = 0;
    const registry = new FinalizationRegistry(() => collected++);
    const N = 6;
    const make = async (): Promise<void> => {
      // (in its own function, so no local of the test keeps the queue)
      const q = await GpuMessageQueue.create<Job>({ maxSize: 65536, schema: Job, device });
      const words = new Uint32Array(65536);
      await q.putManyPacked(words, new Uint8Array(65536).fill(3));
      await q.getMany(10);
      await q.close();
      registry.register(q, 'queue');
    };
    for (let i = 0; i < N; i++) await make();
    for (let round = 0; round < 20 && collected < N; round++) {
      gc();
      await nextTurn();
    }
    expect(collected).toBe(N);
  });

  it('create checks every buffer against the device limits: RangeError naming the limit, nothing allocated', async () => {
    const { device: real } = await acquireDevice(); // default limits: 128 MiB per storage binding
    const probe = probeDevice(real);
    // opaque mode: 33 M messages fit the pool (no payload) but not the sequence numbers and the scratch
    await expect(GpuMessageQueue.create({ maxSize: 33_000_000, device: probe.device })).rejects.toThrow(
      /rk-seqs.* needs a \d+-byte storage binding; the device's maxStorageBufferBindingSize is 134217728/,
    );
    const Big = defineMessage({ fields: { a: 'vec4<u32>', b: 'vec4<u32>', c: 'vec4<u32>', d: 'vec4<u32>' } });
    await expect(GpuMessageQueue.create({ maxSize: 4_000_000, schema: Big, device: probe.device })).rejects.toThrow(/rk-pool.*maxStorageBufferBindingSize/);
    expect(probe.created).toEqual([]);
    real.destroy();
  });

  it('create makes its buffers inside error scopes: out of memory rejects create (not the first put) and frees what was made', async () => {
    const { device: real } = await acquireDevice();
    const probe = probeDevice(real);
    probe.failScope('out-of-memory', 'injected: no memory');
    const error = await GpuMessageQueue.create({ maxSize: 1000, schema: Job, device: probe.device }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuOutOfMemoryError);
    expect((error as Error).message).toMatch(/out of memory for rk-ctl .*injected: no memory/);
    expect(probe.created.length).toBeGreaterThan(0);
    expect(probe.created.every((b) => probe.destroyed.has(b))).toBe(true);
    real.destroy();
  });

  it('options are checked before anything is allocated', async () => {
    const { device: real } = await acquireDevice();
    const probe = probeDevice(real);
    const bad: [object, RegExp][] = [
      [{ prefetch: 65 }, /prefetch must be an integer 0..64/],
      [{ prefetch: -1 }, /prefetch/],
      [{ prefetch: 1.5 }, /prefetch/],
      [{ verify: 'yes' }, /verify must be a boolean/],
      [{ schema: { words: 'x' } }, /schema must be a message schema/],
      [{ initialSeq: 2 ** 53 }, /initialSeq/],
      [{ maxSize: 0 }, /maxSize/],
    ];
    for (const [options, message] of bad) {
      await expect(GpuMessageQueue.create({ ...options, device: probe.device } as never)).rejects.toThrow(message);
    }
    expect(probe.created).toEqual([]);
    const q = await GpuMessageQueue.create<Job>({ maxSize: 10, schema: Job, device: probe.device });
    const before = probe.created.length;
    for (const inboxCapacity of [Number.NaN, 0, -1, 2.5, Infinity]) {
      await expect(q.runDeviceKernel(() => undefined, { inboxCapacity })).rejects.toThrow(/inboxCapacity must be a positive integer/);
    }
    expect(probe.created.length).toBe(before);
    await q.close();
    real.destroy();
  });

  for (const [base, label] of [
    [2 ** 32 - 5, 'near 2^32'],
    [2 ** 53 - 2 ** 34, 'near 2^53'],
  ] as const) {
    for (const prefetch of [0, 32]) {
      it(`DROP_OLDEST evicts the oldest message although more than 2^32 sequence numbers passed since it came (${label}, prefetch ${prefetch}, verified)`, async () => {
        const gpuDrops: number[] = [];
        const cpuDrops: number[] = [];
        const g = await GpuMessageQueue.create<Job>({ maxSize: 3, schema: Job, backpressure: DROP_OLDEST, initialSeq: base, prefetch, verify: true, onDrop: (m) => gpuDrops.push(m.id) });
        const c = new MessageQueue<Job>({ maxSize: 3, backpressure: DROP_OLDEST, onDrop: (m) => cpuDrops.push(m.id) });
        for (const q of [g, c]) q.putNowait({ id: 1, priority: 0 }); // the one that stays
        g.advanceSequence(2 ** 32 - 2); // as if 4 billion messages went through
        await g.flush();
        for (const q of [g, c]) {
          q.putNowait({ id: 2, priority: 200 });
          q.putNowait({ id: 3, priority: 100 });
          q.putNowait({ id: 4, priority: 50 }); // full: evicts the oldest, message 1 (its u32 age would be 1, the youngest)
          q.putNowait({ id: 5, priority: 50 }); // then message 2
        }
        await g.flush();
        expect(cpuDrops).toEqual([1, 2]);
        expect(gpuDrops).toEqual(cpuDrops);
        expect((await g.getMany(3)).map((m) => m.id)).toEqual([3, 4, 5]);
        await g.flush();
        expect(g.deviceCounters!.nextSeq).toBe(base + 1 + (2 ** 32 - 2) + 4);
        await g.close();
      });
    }
  }

  it('evictions the device reports are given to onDrop in eviction order even when their sequence numbers are more than 2^31 apart', async () => {
    const drops: number[] = [];
    const q = await GpuMessageQueue.create<Job>({ maxSize: 2, schema: Job, backpressure: DROP_OLDEST, prefetch: 0, onDrop: (m) => drops.push(m.id) });
    q.putNowait({ id: 1, priority: 9 });
    q.advanceSequence(2 ** 31 + 10);
    q.putNowait({ id: 2, priority: 1 });
    await q.flush();
    // one submission, two evictions: the device lists them by bucket (2 before 1), onDrop must see 1, 2
    q.putNowait({ id: 3 });
    q.putNowait({ id: 4 });
    await q.flush();
    expect(drops).toEqual([1, 2]);
    await q.close();
  });

  it('skips of sequence numbers made in one turn add up past 2^32 exactly (each segment skips at most a u32)', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 200, schema: Job, prefetch: 0, verify: true });
    q.putNowait({ id: 1, priority: 1 });
    q.advanceSequence(2 ** 32 - 1);
    q.advanceSequence(2 ** 32 - 1);
    q.advanceSequence(5);
    q.putNowait({ id: 2, priority: 1 });
    await q.flush();
    expect(q.deviceCounters!.nextSeq).toBe(2 + 2 * (2 ** 32 - 1) + 5);
    expect((await q.getMany(2)).map((m) => m.id)).toEqual([1, 2]);
    await q.close();
  });

  it('skips in one turn beyond what one submission has segments and parameter records for: what is recorded goes first', async () => {
    // small bindings, nearly filled by one batch: the parameter records have a fixed budget beside it
    const q = await GpuMessageQueue.create<Job>({ maxSize: 1 << 17, schema: Job, prefetch: 0, verify: true, maxBindingBytes: 1 << 20 });
    const batch = Array.from({ length: 110_000 }, (_, id) => ({ id, priority: id % 7 }));
    const put = q.putMany(batch);
    for (let i = 0; i < 1000; i++) q.advanceSequence(2 ** 32 - 1); // each needs a segment of its own
    q.putNowait({ id: 999_999, priority: 0 });
    await put;
    await q.flush();
    expect(q.brokenBy).toBeNull();
    expect(q.deviceCounters!.nextSeq).toBe(110_000 + 1000 * (2 ** 32 - 1) + 1);
    expect(q.size).toBe(110_001);
    await q.close();
  });

  it('opaque messages are told apart by their 64-bit sequence number: none collide across 2^32 (no wrapping handles)', async () => {
    const q = await GpuMessageQueue.create<{ id: number; priority?: number }>({ maxSize: 100, initialSeq: 2 ** 32 - 3, verify: true });
    const sent = Array.from({ length: 6 }, (_, i) => ({ id: i, priority: 10 }));
    for (const m of sent.slice(0, 3)) q.putNowait(m);
    q.advanceSequence(2 ** 32 - 1);
    for (const m of sent.slice(3)) q.putNowait(m);
    const got = await q.getMany(6);
    expect(got).toEqual(sent);
    expect(got.every((m, i) => m === sent[i])).toBe(true);
    await q.flush();
    expect(q.hostTableSize).toBe(0);
    await q.close();
  });

  it('device-side API counters saturate: a kernel that keeps trying to pop from an empty queue or push into a full one changes nothing', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 4, schema: Job });
    const { pipeline, group0 } = userKernel(
      q,
      `  if (i != 0u) { return; }
  var m: Job; var p: u32;
  var pops = 0u; var pushes = 0u;
  for (var k = 0u; k < 100000u; k++) {
    if (rk_try_pop(&m, &p)) { pops++; }
    if (rk_try_push(Job(k), 7u)) { pushes++; }
  }
  outv[0] = pops; outv[1] = pushes;`,
    );
    q.putNowait({ id: 9 });
    const r = await q.runDeviceKernel((pass, group) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group0);
      pass.setBindGroup(1, group);
      pass.dispatchWorkgroups(1);
    });
    // one message to pop, room for three pushes; 99 999 failed attempts of each
    expect(r).toEqual({ popped: 1, pushed: 3 });
    const c = q.deviceCounters!;
    expect(c.avail).toBe(0); // it was not decremented 99 999 more times
    expect(c.inbox).toBe(3); // nor incremented
    expect((await q.getMany(3)).map((m) => m.id)).toEqual([0, 1, 2]);
    await q.close();
  });

  it('a device error word during a user kernel run fails the queue closed; the run rejects and its pops and pushes are not half-applied', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 10, schema: Job });
    await q.putMany([{ id: 1 }, { id: 2 }]);
    const { pipeline, group0 } = userKernel(q, '  if (i == 0u) { atomicOr(&rk_ctl[RK_G_ERR], RK_ERR_UNDERFLOW); }');
    const error = await q
      .runDeviceKernel((pass, group) => {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group0);
        pass.setBindGroup(1, group);
        pass.dispatchWorkgroups(1);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuQueueError);
    expect((error as Error).message).toMatch(/device invariant violated/);
    expect(q.size).toBe(0);
    expect(() => q.putNowait({ id: 3 })).toThrow(GpuQueueError);
    await expect(q.get()).rejects.toBeInstanceOf(GpuQueueError);
    await q.close();
  });

  it('a submission whose device error word is set rejects its pops instead of resolving them', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 200, schema: Job, prefetch: 0 });
    await q.putMany(Array.from({ length: 100 }, (_, i) => ({ id: i })));
    await q.flush();
    q.device.queue.writeBuffer(q.storage.ctl, G.ERR * 4, new Uint32Array([4])); // ERR_UNDERFLOW in the error word
    const outcome = await q.getMany(50).then(
      () => 'resolved',
      (e: unknown) => e,
    );
    expect(outcome).toBeInstanceOf(GpuQueueError);
    expect((outcome as Error).message).toMatch(/device invariant violated: underflow/);
    expect(q.stats.dequeued).toBe(0);
    await q.close();
  });

  it("a submission's staging buffer is destroyed, not leaked or reused, when its map fails", async () => {
    const { device: real } = await acquireDevice();
    const probe = probeDevice(real);
    const q = await GpuMessageQueue.create<Job>({ maxSize: 100, schema: Job, device: probe.device, prefetch: 0 });
    q.putNowait({ id: 1 });
    await q.flush();
    q.putNowait({ id: 2 }); // (the fetched head is gone: the get below is the device's)
    probe.failMap();
    const failed = await q.getMany(2).catch((e: unknown) => e);
    // a failed map says nothing about the device, which is fine: not device loss
    expect(failed).toBeInstanceOf(GpuQueueError);
    expect(failed).not.toBeInstanceOf(DeviceLostError);
    const staging = probe.created.filter((b) => (b.usage & GPUBufferUsage.MAP_READ) !== 0);
    expect(staging.length).toBeGreaterThan(0);
    // every staging buffer is either back in use by a later submission or destroyed: the failed one is destroyed
    expect(staging.some((b) => probe.destroyed.has(b))).toBe(true);
    await q.close();
    real.destroy();
  });
});
