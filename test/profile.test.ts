/**
 * Profiles: profileSubmissions reports each submission's phases and, with timestamp queries,
 * each dispatch by its pipeline; the runtime's onTick reports each tick's phases; profiling
 * changes no result. And `bench --profile`'s tables come from ticks that ran (bench/profile.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RingKernelRuntime, acquireDevice, defineMessage, defineRingKernel, profileSubmissions, type SubmissionTiming, type TickTiming } from 'ringkernel';
import { formatProfile, tickProfile } from '../bench/profile.js';
import { describeGpu } from './gpu-helpers.js';

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
      expect(labels).toContain('rk_take');
      expect(labels).toContain('ringkernel-inc');
      expect(labels.indexOf('rk_take')).toBeLessThan(labels.indexOf('ringkernel-inc'));
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
      // three stages have three takes and three handlers
      expect(p.dispatches.filter((d) => d.label === 'rk_take')).toHaveLength(p.stages);
      expect(p.dispatches.filter((d) => d.label.startsWith('ringkernel-'))).toHaveLength(p.stages);
      expect(p.gpuUs).not.toBeNull();
      expect(Number.isFinite(p.host.tick)).toBe(true);
    }
    // 64 Ki messages: the handler runs 64 Ki invocations
    const big = report.profiles.find((p) => p.stages === 1 && p.batch === 65536)!;
    expect(big.dispatches.find((d) => d.label === 'ringkernel-times2')!.workgroups * 64).toBeGreaterThanOrEqual(65536);
    expect(formatProfile(report)).toMatch(/3 stages, batch 65536: \d+ dispatches/);
  }, 60_000);
});
