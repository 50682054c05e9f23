/**
 * A device of the user's own (`device` option) from the `webgpu` package: the `GPU` object that
 * `create([])` returned must stay referenced for as long as the device is used. Dawn's Node
 * binding ties the device's event processing to it, and once it is garbage-collected the process
 * aborts ("The futex facility returned an unexpected error code", std::system_error, or SIGSEGV),
 * with the device still in use; ringkernel cannot see that object from the device, so it cannot
 * hold it for the user. The unsafe pattern is Dawn's to fix and crashes only as often as the
 * collector runs, so it is not asserted here; the documented safe pattern is, under forced
 * collections, in a child process started with --expose-gc.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describeGpu } from './gpu-helpers.js';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** The README's pattern: the GPU object lives in a module-level const, next to the device. */
const safePattern = `
import { create, globals } from 'webgpu';
import { GpuMessageQueue, RingKernelRuntime, defineMessage, defineRingKernel } from 'ringkernel';

Object.assign(globalThis, globals);
const gpu = create([]); // kept: the device below is only valid while this object is alive
const device = await (await gpu.requestAdapter()).requestDevice();

const collect = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 5)); // a turn, so Dawn's event loop runs too
  }
};
await collect();

const q = await GpuMessageQueue.create({ device, maxSize: 16 });
for (let i = 0; i < 10; i++) await q.put({ n: i, priority: i % 3 });
await collect();
const order = [];
for (let i = 0; i < 10; i++) order.push((await q.get()).n);
await q.close();
await collect();

const Num = defineMessage({ name: 'Num', fields: { v: 'i32' } });
const double = defineRingKernel({
  name: 'double', input: Num, output: Num,
  wgsl: 'fn handle(m: Num, priority: u32) { rk_emit(Num(m.v * 2), priority); }',
});
const rt = await RingKernelRuntime.create({ backend: 'gpu', device });
await rt.launch('double', double);
await rt.activate('double');
let sum = 0;
for (let v = 1; v <= 10; v++) {
  sum += (await rt.sendAndReceive('double', { v })).v;
  await collect();
}
await rt.shutdown();
device.destroy();
await collect();
console.log(JSON.stringify({ order, sum }));
`;

describeGpu("a device of the user's own", () => {
  it('with the GPU object kept referenced, it survives forced garbage collections and the process exits cleanly', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', safePattern], {
      cwd: repo,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.error).toBeUndefined();
    expect({ status: r.status, signal: r.signal }, r.stderr).toEqual({ status: 0, signal: null });
    expect(JSON.parse(r.stdout)).toEqual({
      order: [2, 5, 8, 1, 4, 7, 0, 3, 6, 9], // priority 2 first, FIFO within a priority
      sum: 110,
    });
  });
});
