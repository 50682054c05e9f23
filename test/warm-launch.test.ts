/**
 * Warm at launch: every compute pipeline a kernel's ticks dispatch later was dispatched (so, on a
 * driver that compiles lazily, compiled) before its launch resolved. Checked on a device whose
 * command encoders record each dispatch's pipeline; timings are the benchmark's
 * (`rt-cold-start-gpu`), never a test's. And the warm-up leaves nothing behind: no message, no
 * count, no state of any queue or kernel changed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RingKernelRuntime, acquireDevice, defineMessage, defineRingKernel } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';

const Num = defineMessage({ name: 'Num', fields: { v: 'u32' } });
const Acc = { type: 'array<atomic<u32>, 4>', bytes: 16 } as const;
const addInto = defineRingKernel({
  name: 'warmAddInto',
  input: Num,
  output: Num,
  state: Acc,
  wgsl: 'fn handle(m: Num, priority: u32) { atomicAdd(&rk_state[0], m.v); rk_emit(Num(m.v * 3u), priority); }',
  cpu: (m, ctx) => {
    ctx.state.setUint32(0, ctx.state.getUint32(0, true) + m.v, true);
    ctx.emit({ v: m.v * 3, priority: m.priority });
  },
});
const twice = defineRingKernel({
  name: 'warmTwice',
  input: Num,
  output: Num,
  maxEmits: 2,
  wgsl: 'fn handle(m: Num, priority: u32) { rk_emit(m, priority); rk_emit(Num(m.v + 1u), priority); }',
  cpu: (m, ctx) => {
    ctx.emit(m);
    ctx.emit({ v: m.v + 1, priority: m.priority });
  },
});

/** A device whose compute passes record the pipeline of every dispatch into `dispatched`. */
function recordingDevice(real: GPUDevice, dispatched: Set<GPUComputePipeline>): GPUDevice {
  const bind = <T extends object>(target: T, key: PropertyKey): unknown => {
    const value = Reflect.get(target, key, target);
    return typeof value === 'function' ? value.bind(target) : value;
  };
  const pass = (p: GPUComputePassEncoder): GPUComputePassEncoder => {
    let current: GPUComputePipeline | null = null;
    return new Proxy(p, {
      get(target, key) {
        if (key === 'setPipeline') return (pipeline: GPUComputePipeline) => ((current = pipeline), target.setPipeline(pipeline));
        if (key === 'dispatchWorkgroups' || key === 'dispatchWorkgroupsIndirect') {
          return (...args: never[]) => {
            if (current !== null) dispatched.add(current);
            return (target[key] as (...a: never[]) => void)(...args);
          };
        }
        return bind(target, key);
      },
    });
  };
  const encoder = (e: GPUCommandEncoder): GPUCommandEncoder =>
    new Proxy(e, {
      get(target, key) {
        if (key === 'beginComputePass') return (d?: GPUComputePassDescriptor) => pass(target.beginComputePass(d));
        return bind(target, key);
      },
    });
  return new Proxy(real, {
    get(target, key) {
      if (key === 'createCommandEncoder') return (d?: GPUCommandEncoderDescriptor) => encoder(target.createCommandEncoder(d));
      return bind(target, key);
    },
  });
}

describeGpu('warm at launch', () => {
  let real: GPUDevice;
  beforeAll(async () => {
    real = (await acquireDevice()).device;
    // the host paths' warm-up (once per process, warm-host.ts) runs real ticks: done here, on the
    // real device, so that what the recording device sees at launch is the pipelines' warm-up alone
    const rt = await RingKernelRuntime.create({ device: real });
    await rt.launch('host-warm', twice, { inputQueueSize: 8, outputQueueSize: 16 });
    await rt.shutdown();
  });
  afterAll(() => real.destroy());

  it('every pipeline the ticks dispatch afterwards ran before launch resolved, and the warm-up changed nothing', async () => {
    const dispatched = new Set<GPUComputePipeline>();
    const device = recordingDevice(real, dispatched);
    const rt = await RingKernelRuntime.create({ device });
    try {
      // a pipeline on the device: sink <- twice (sendsTo), and a stateful terminal kernel
      await rt.launch('sink', addInto, { inputQueueSize: 8192, outputQueueSize: 16384 });
      await rt.launch('twice', twice, { inputQueueSize: 4096, sendsTo: 'sink' });
      await rt.launch('acc', addInto, { inputQueueSize: 64, outputQueueSize: 64, backpressure: 'drop' });
      const atLaunch = new Set(dispatched);
      expect(atLaunch.size).toBeGreaterThan(0);
      // nothing the warm-up did is visible
      for (const id of ['sink', 'twice', 'acc']) {
        const t = rt.telemetry(id)!;
        expect([t.messagesProcessed, t.messagesEmitted, t.messagesDropped, t.errors, t.inputDepth, t.outputDepth]).toEqual([0, 0, 0, 0, 0, 0]);
      }
      expect([...new Uint32Array(await rt.readState('acc'))]).toEqual([0, 0, 0, 0]);
      for (const id of ['sink', 'twice', 'acc']) await rt.activate(id);

      dispatched.clear();
      // small and large ticks, requests, drops, a chain whose ingest is device-ordered
      expect(await rt.sendAndReceive('acc', { v: 5 })).toEqual({ v: 15, priority: 128 });
      await rt.sendMany('twice', Array.from({ length: 3000 }, (_, v) => ({ v, priority: v % 7 })));
      let got = 0;
      while (got < 6000) got += (await rt.receiveMany('sink', 6000)).length;
      await rt.sendMany('acc', Array.from({ length: 200 }, () => ({ v: 1 })));
      await rt.idle();
      while (rt.telemetry('acc')!.outputDepth > 0) await rt.receiveMany('acc', 64);
      expect(dispatched.size).toBeGreaterThan(0);
      const cold = [...dispatched].filter((p) => !atLaunch.has(p)).map((p) => p.label);
      expect(cold).toEqual([]);
      // and the kernels did the work (the warm-up added nothing to it)
      expect(rt.telemetry('sink')!.messagesProcessed).toBe(6000);
      expect(new Uint32Array(await rt.readState('sink'))[0]).toBe(3000 * 2999 + 3000);
    } finally {
      await rt.shutdown();
    }
  }, 120_000);
});
