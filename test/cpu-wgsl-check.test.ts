/**
 * The CPU backend compiles each kernel's WGSL where a WebGPU device is at hand (the `device`
 * option, or the shared device once this process acquired it), so WGSL that does not compile is
 * refused on both backends alike; without one it loads nothing of WebGPU and cannot check.
 */
import { expect, it } from 'vitest';
import { KernelCompileError, RingKernelRuntime, acquireDevice, defineMessage, defineRingKernel, sharedDevice } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';

const N = defineMessage({ name: 'N', fields: { v: 'u32' } });
// a handler with the wrong name: it compiles nowhere
const broken = defineRingKernel({
  name: 'broken',
  input: N,
  output: N,
  wgsl: 'fn handel(m: N, priority: u32) {\n  rk_emit(m, priority);\n}',
  cpu: (m, ctx) => {
    ctx.emit(m);
  },
});
const fine = defineRingKernel({ name: 'fine', input: N, output: N, wgsl: 'fn handle(m: N, priority: u32) { rk_emit(N(m.v + 1u), priority); }', cpu: (m, ctx) => void ctx.emit({ v: m.v + 1, priority: m.priority }) });

it('without a device at hand the CPU backend cannot check WGSL: the broken kernel launches and runs its JavaScript (the first test of this file: nothing acquired the shared device yet)', async () => {
  const rt = await RingKernelRuntime.create({ backend: 'cpu' });
  try {
    await rt.launch('b', broken);
    await rt.activate('b');
    expect(await rt.sendAndReceive('b', { v: 3 })).toEqual({ v: 3, priority: 128 });
  } finally {
    await rt.shutdown();
  }
});

describeGpu('WGSL checked on the CPU backend', () => {
  it('with a device given, launch rejects WGSL that does not compile with the GPU backend\'s KernelCompileError, and leaves nothing behind', async () => {
    const { device } = await acquireDevice();
    const rt = await RingKernelRuntime.create({ backend: 'cpu', device });
    try {
      const e = await rt.launch('b', broken).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KernelCompileError);
      expect((e as KernelCompileError).message).toMatch(/handle/);
      expect(rt.kernelIds).toEqual([]);
      // the same kernel on the GPU backend fails the same way
      const gpu = await RingKernelRuntime.create({ backend: 'gpu', device });
      await expect(gpu.launch('b', broken)).rejects.toBeInstanceOf(KernelCompileError);
      await gpu.shutdown();
      // WGSL that compiles launches, and runs on the CPU
      await rt.launch('f', fine);
      await rt.activate('f');
      expect(await rt.sendAndReceive('f', { v: 1 })).toEqual({ v: 2, priority: 128 });
    } finally {
      await rt.shutdown();
      device.destroy();
    }
  });

  it('once the shared device is acquired in the process, a CPU runtime without a device checks on it', async () => {
    await sharedDevice();
    const rt = await RingKernelRuntime.create({ backend: 'cpu' });
    try {
      await expect(rt.launch('b', broken)).rejects.toBeInstanceOf(KernelCompileError);
      expect(rt.kernelIds).toEqual([]);
    } finally {
      await rt.shutdown();
    }
  });

  it('a device option that is not a device is a TypeError', () => {
    expect(() => new RingKernelRuntime({ backend: 'cpu', device: {} as never })).toThrow(/device must be a GPUDevice/);
  });
});
