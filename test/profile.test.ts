/**
 * Profiles: profileSubmissions reports each submission's phases and, with timestamp queries,
 * each dispatch by its pipeline; the runtime's onTick reports each tick's phases; profiling
 * changes no result. And `bench --profile`'s tables come from ticks that ran (bench/profile.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RingKernelRuntime, acquireDevice, defineMessage, defineRingKernel, profileSubmissions, type SubmissionTiming, type TickTiming } from 'ringkernel';
import { formatProfile, tickProfile } from '../bench/profile.js';
import { describeGpu, probeDevice } from './gpu-helpers.js';
import { submit as submitSteps, type StepEncoder } from '../src/device/submission.js';
import { profileSubmissions as profileDeviceSubmissions } from '../src/device/profile.js';

const Num = defineMessage({ name: 'Num', fields: { v: 'u32' } });
const inc = defineRingKernel({
  name: 'inc',
  input: Num,
  output: Num,
  wgsl: 'fn handle(m: Num, priority: u32) { rk_emit(Num(m.v + 1u), priority); }',
  cpu: (m, ctx) => {
    ctx.emit({ v: m.v + 1, priority: m.priority });
  },
});

describeGpu('profiles', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = (await acquireDevice({ features: ['timestamp-query'] })).device;
  });
  afterAll(() => device.destroy());

  it('the device has timestamp queries where the adapter has them (the software adapter does)', () => {
    expect(device.features.has('timestamp-query')).toBe(true);
  });

  it("the runtime's private warm-up at the first launch is not profiled", async () => {
    const subs: SubmissionTiming[] = [];
    const stop = profileSubmissions(device, (t) => subs.push(t));
    const rt = await RingKernelRuntime.create({ device });
    try {
      await rt.launch('first', inc); // the process's first GPU launch: the host paths are warmed here
      expect(subs).toEqual([]);
      await rt.activate('first');
      expect(await rt.sendAndReceive('first', { v: 1 })).toEqual({ v: 2, priority: 128 });
      expect(subs.length).toBeGreaterThanOrEqual(1); // (what the user does is)
    } finally {
      stop();
      await rt.shutdown();
    }
  });

  it('a profile or onTick listener that throws fails nothing: the error is rethrown outside, the work goes on', async () => {
    // (the rethrown errors are uncaught exceptions: caught here instead of by the test runner)
    const caught: unknown[] = [];
    const runner = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', (e) => caught.push(e));
    const rt = await RingKernelRuntime.create({
      device,
      onTick: () => {
        throw new Error('tick listener');
      },
    });
    const stop = profileSubmissions(device, () => {
      throw new Error('profile listener');
    });
    try {
      await rt.launch('k', inc);
      await rt.activate('k');
      for (let v = 0; v < 3; v++) expect(await rt.sendAndReceive('k', { v })).toEqual({ v: v + 1, priority: 128 });
      await rt.sendMany('k', [{ v: 10 }, { v: 20 }]);
      expect(await rt.receiveMany('k', 2)).toEqual([{ v: 11, priority: 128 }, { v: 21, priority: 128 }]);
      expect(rt.telemetry('k')).toMatchObject({ state: 'active', messagesProcessed: 5, errors: 0 });
      await new Promise((r) => setTimeout(r, 10));
      const messages = caught.map((e) => (e as Error).message);
      expect(messages).toContain('tick listener');
      expect(messages).toContain('profile listener');
    } finally {
      stop();
      await rt.shutdown();
      process.removeAllListeners('uncaughtException');
      for (const l of runner) process.on('uncaughtException', l);
    }
  });

  it('a profiled tick reports its dispatches by pipeline with GPU times, its phases in order, and the same reply', async () => {
    const subs: SubmissionTiming[] = [];
    const ticks: TickTiming[] = [];
    const rt = await RingKernelRuntime.create({ device, onTick: (t) => ticks.push(t) });
    try {
      await rt.launch('k', inc);
      await rt.activate('k');
      expect(await rt.sendAndReceive('k', { v: 41 })).toEqual({ v: 42, priority: 128 });
      ticks.length = 0;
      const stop = profileSubmissions(device, (t) => subs.push(t));
      expect(await rt.sendAndReceive('k', { v: 7 })).toEqual({ v: 8, priority: 128 });
      stop();
      expect(await rt.sendAndReceive('k', { v: 1 })).toEqual({ v: 2, priority: 128 }); // not profiled
      expect(subs).toHaveLength(1);
      const s = subs[0];
      expect(s.start).toBeLessThanOrEqual(s.encoded);
      expect(s.encoded).toBeLessThanOrEqual(s.submitted);
      expect(s.submitted).toBeLessThanOrEqual(s.mapped);
      expect(s.mapped).toBeLessThanOrEqual(s.read);
      const labels = s.dispatches!.map((d) => d.label);
      // a request is a small tick: take, handler and ingest fused in one dispatch (this device binds 16 storage buffers)
      expect(labels).toContain('rk_fused');
      expect(labels.indexOf('seg_tiny')).toBeLessThan(labels.indexOf('rk_fused'));
      for (const d of s.dispatches!) {
        expect(d.gpuNs).not.toBeNull();
        expect(d.gpuNs!).toBeGreaterThanOrEqual(0);
        expect(d.workgroups).toBeGreaterThanOrEqual(1);
      }
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      for (const t of ticks) {
        expect(t.kernels).toEqual(['k']);
        expect(t.start).toBeLessThanOrEqual(t.planned);
        expect(t.planned).toBeLessThanOrEqual(t.ran);
        expect(t.ran).toBeLessThanOrEqual(t.end);
      }
      // the profiled submission ran inside a tick's backend phase
      expect(ticks.some((t) => s.start >= t.planned && s.read <= t.ran)).toBe(true);
    } finally {
      await rt.shutdown();
    }
  });

  it('a profiled submission that fails frees its query set and resolve buffer; one without a dispatch makes neither', async () => {
    const probe = probeDevice(device);
    const querySets: { destroyed: boolean }[] = [];
    const d = new Proxy(probe.device, {
      get(target, key) {
        if (key === 'createQuerySet') {
          return (desc: GPUQuerySetDescriptor) => {
            const qs = target.createQuerySet(desc);
            const record = { destroyed: false };
            querySets.push(record);
            const destroy = qs.destroy.bind(qs);
            Object.defineProperty(qs, 'destroy', { value: () => ((record.destroyed = true), destroy()) });
            return qs;
          };
        }
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const module = d.createShaderModule({ code: '@group(0) @binding(0) var<storage, read_write> b: array<u32>; @compute @workgroup_size(1) fn main() { b[0] += 1u; }' });
    const pipeline = d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: 'probe-inc' });
    const buf = d.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const group = d.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
    const subs: SubmissionTiming[] = [];
    const stop = profileDeviceSubmissions(d, (t) => subs.push(t), { timestamps: true });
    try {
      const dispatchOnce = (e: StepEncoder) => {
        const pass = e.pass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(1);
        return e.readback(buf, 0, 16);
      };
      // a good one: timed, and everything freed after its readback
      const ok = submitSteps(d, dispatchOnce);
      (await ok.done).release();
      expect(subs.at(-1)!.dispatches!.map((x) => x.label)).toEqual(['probe-inc']);
      // a failed map: no listener call, and nothing left behind
      probe.failMap();
      const failed = submitSteps(d, dispatchOnce);
      await expect(failed.done).rejects.toThrow();
      expect(subs).toHaveLength(1);
      // no dispatch: no query set at all
      const none = submitSteps(d, (e) => e.readback(buf, 0, 16));
      (await none.done).release();
      expect(querySets).toHaveLength(2);
      expect(querySets.every((q) => q.destroyed)).toBe(true);
      const resolves = probe.created.filter((b) => b.label === 'ringkernel-profile-resolve');
      expect(resolves).toHaveLength(2);
      expect(resolves.every((b) => probe.destroyed.has(b))).toBe(true);
    } finally {
      stop();
      buf.destroy();
    }
  });

  it('timestamps are refused on a device without the feature, and a profile without them reports no dispatches', async () => {
    const plain = (await acquireDevice()).device;
    try {
      expect(plain.features.has('timestamp-query')).toBe(false);
      expect(() => profileSubmissions(plain, () => undefined, { timestamps: true })).toThrow(RangeError);
      const subs: SubmissionTiming[] = [];
      const stop = profileSubmissions(plain, (t) => subs.push(t));
      const rt = await RingKernelRuntime.create({ device: plain });
      try {
        await rt.launch('k', inc);
        await rt.activate('k');
        expect(await rt.sendAndReceive('k', { v: 2 })).toEqual({ v: 3, priority: 128 });
      } finally {
        stop();
        await rt.shutdown();
      }
      expect(subs.length).toBeGreaterThanOrEqual(1);
      expect(subs.every((s) => s.dispatches === null)).toBe(true);
    } finally {
      plain.destroy();
    }
  });

  it('onTick must be a function, and reports CPU ticks too', async () => {
    expect(() => new RingKernelRuntime({ onTick: 3 as never })).toThrow(TypeError);
    const ticks: TickTiming[] = [];
    const rt = await RingKernelRuntime.create({ backend: 'cpu', onTick: (t) => ticks.push(t) });
    try {
      await rt.launch('k', inc);
      await rt.activate('k');
      expect(await rt.sendAndReceive('k', { v: 9 })).toEqual({ v: 10, priority: 128 });
      expect(ticks.length).toBeGreaterThanOrEqual(1);
      expect(ticks[0].kernels).toEqual(['k']);
    } finally {
      await rt.shutdown();
    }
  });

  it('bench --profile: every case comes from ticks that ran, with their dispatches timed', async () => {
    const report = await tickProfile(true, () => undefined);
    expect(report.timestamps).toBe(true);
    expect(report.profiles.map((p) => `${p.stages}x${p.batch}`)).toEqual(['1x1', '1x1024', '1x65536', '3x1', '3x1024', '3x65536']);
    for (const p of report.profiles) {
      expect(p.rounds).toBeGreaterThanOrEqual(1);
      // three stages have three takes and three handlers: fused in one dispatch each for a small tick
      const fused = p.dispatches.filter((d) => d.label === 'rk_fused').length;
      expect(fused).toBe(p.batch === 1 ? p.stages : 0);
      expect(p.dispatches.filter((d) => d.label === 'rk_take')).toHaveLength(p.stages - fused);
      expect(p.dispatches.filter((d) => d.label.startsWith('ringkernel-'))).toHaveLength(p.stages - fused);
      expect(p.gpuUs).not.toBeNull();
      expect(Number.isFinite(p.host.tick)).toBe(true);
    }
    // 64 Ki messages: the handler runs 64 Ki invocations
    const big = report.profiles.find((p) => p.stages === 1 && p.batch === 65536)!;
    // (the device's clock moved: 64 Ki messages through a handler take more than one of its ticks)
    expect(big.gpuUs!).toBeGreaterThan(0);
    expect(big.dispatches.find((d) => d.label === 'ringkernel-times2')!.workgroups * 64).toBeGreaterThanOrEqual(65536);
    expect(formatProfile(report)).toMatch(/3 stages, batch 65536: \d+ dispatches/);
  }, 60_000);
});
