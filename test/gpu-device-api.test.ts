import { expect, it } from 'vitest';
import { GpuMessageQueue, defineMessage, deviceApiWgsl } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';
import { randInt, rng } from './helpers.js';

const schema = defineMessage({ name: 'Job', fields: { value: 'u32', weight: 'f32' } });
type Job = typeof schema.type;

/** Builds a user kernel: the device API at group 1, the user's output buffer at group 0. */
function userKernel(q: GpuMessageQueue<Job>, body: string, workgroupSize: number) {
  const device = q.device;
  const code = `${deviceApiWgsl(schema, 1)}
@group(0) @binding(0) var<storage, read_write> outv: array<u32>;
@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
${body}
}`;
  const module = device.createShaderModule({ code });
  const outLayout = device.createBindGroupLayout({
    entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } }],
  });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [outLayout, q.deviceBindGroupLayout] }),
    compute: { module, entryPoint: 'main' },
  });
  return { module, pipeline, outLayout };
}

async function runKernel(q: GpuMessageQueue<Job>, body: string, invocations: number, outWords: number, workgroupSize = 64) {
  const device = q.device;
  const { module, pipeline, outLayout } = userKernel(q, body, workgroupSize);
  const info = await module.getCompilationInfo();
  expect(info.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual([]);
  const out = device.createBuffer({ size: outWords * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const rb = device.createBuffer({ size: outWords * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const outGroup = device.createBindGroup({ layout: outLayout, entries: [{ binding: 0, resource: { buffer: out } }] });
  const result = await q.runDeviceKernel((pass, group) => {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, outGroup);
    pass.setBindGroup(1, group);
    pass.dispatchWorkgroups(Math.ceil(invocations / workgroupSize));
  });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(out, 0, rb, 0, outWords * 4);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const data = new Uint32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  out.destroy();
  rb.destroy();
  return { result, data };
}

function filled(n: number, seed: number): Job[] {
  const random = rng(seed);
  return Array.from({ length: n }, (_, i) => ({ value: i, weight: i * 0.25, priority: randInt(random, 0, 9) * 25 }));
}
const order = (a: Job, b: Job) => b.priority! - a.priority! || a.value - b.value;

describeGpu('device-side API (WGSL rk_try_pop / rk_try_push inside a user kernel)', () => {
  it('one invocation pops N messages in exact priority order and writes them out', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 500, schema });
    const jobs = filled(400, 1);
    await q.putMany(jobs);
    const N = 150;
    const body = `
  if (i != 0u) { return; }
  for (var j = 0u; j < ${N}u; j++) {
    var m: Job;
    var p: u32;
    if (!rk_try_pop(&m, &p)) { outv[j * 3u] = 0xffffffffu; continue; }
    outv[j * 3u] = m.value;
    outv[j * 3u + 1u] = p;
    outv[j * 3u + 2u] = bitcast<u32>(m.weight);
  }`;
    const { result, data } = await runKernel(q, body, 1, N * 3);
    expect(result).toEqual({ popped: N, pushed: 0 });
    const expected = [...jobs].sort(order);
    const got = Array.from({ length: N }, (_, j) => data[j * 3]);
    expect(got).toEqual(expected.slice(0, N).map((m) => m.value));
    expect(Array.from({ length: N }, (_, j) => data[j * 3 + 1])).toEqual(expected.slice(0, N).map((m) => m.priority));
    const f = new Float32Array(data.buffer);
    expect(Array.from({ length: N }, (_, j) => f[j * 3 + 2])).toEqual(expected.slice(0, N).map((m) => m.weight));
    // the host sees the pops: size, stats, and the rest in order
    expect(q.size).toBe(400 - N);
    expect(q.stats.dequeued).toBe(N);
    expect((await q.getMany(1000)).map((m) => m.value)).toEqual(expected.slice(N).map((m) => m.value));
    await q.flush();
    expect(q.deviceCounters).toMatchObject({ count: 0, dequeued: 400, error: 0 });
    await q.close();
  });

  it('many invocations popping at once take exactly the most urgent messages; the rest report empty', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 500, schema });
    const jobs = filled(300, 2);
    await q.putMany(jobs);
    const inv = 1000; // more pops than messages
    const body = `
  if (i >= ${inv}u) { return; }
  var m: Job;
  var p: u32;
  if (rk_try_pop(&m, &p)) { outv[i * 2u] = 1u; outv[i * 2u + 1u] = m.value; } else { outv[i * 2u] = 2u; }`;
    const { result, data } = await runKernel(q, body, inv, inv * 2);
    expect(result).toEqual({ popped: 300, pushed: 0 });
    const ok = [];
    let empty = 0;
    for (let i = 0; i < inv; i++) {
      if (data[i * 2] === 1) ok.push(data[i * 2 + 1]);
      else if (data[i * 2] === 2) empty++;
    }
    expect(empty).toBe(inv - 300);
    expect(ok.sort((a, b) => a - b)).toEqual(jobs.map((m) => m.value));
    expect(q.size).toBe(0);
    await q.close();
  });

  it('pushes from a kernel enter the queue after the dispatch; pushes past the room report full; a waiting getter is served', async () => {
    const q = await GpuMessageQueue.create<Job>({ maxSize: 100, schema });
    await q.putMany(filled(40, 3));
    const inv = 256;
    const body = `
  if (i >= ${inv}u) { return; }
  let ok = rk_try_push(Job(1000u + i, f32(i) * 0.5), (i % 4u) * 60u);
  outv[i] = select(0u, 1u, ok);`;
    const { result, data } = await runKernel(q, body, inv, inv);
    expect(result).toEqual({ popped: 0, pushed: 60 });
    expect(Array.from(data).filter((v) => v === 1).length).toBe(60);
    expect(q.size).toBe(100);
    expect(q.isFull).toBe(true);
    expect(q.stats.enqueued).toBe(100);
    const all = await q.getMany(100);
    // priority order; the pushed ones are exactly those whose invocation reported success
    for (let j = 1; j < all.length; j++) expect(all[j - 1].priority!).toBeGreaterThanOrEqual(all[j].priority!);
    const pushed = all.filter((m) => m.value >= 1000).map((m) => m.value - 1000).sort((a, b) => a - b);
    expect(pushed).toEqual([...Array(inv).keys()].filter((i) => data[i] === 1));
    for (const m of all) if (m.value >= 1000) expect(m.weight).toBe((m.value - 1000) * 0.5);
    // a getter waiting on the empty queue is served by a device-side push
    const waiting = q.get();
    await runKernel(q, `  if (i == 0u) { outv[0] = select(0u, 1u, rk_try_push(Job(7u, 1.0), 200u)); }`, 1, 1);
    expect(await waiting).toEqual({ value: 7, weight: 1, priority: 200 });
    await q.close();
  });
});

describeGpu('device-side API over several queues in one shader', () => {
  it('a user kernel pops from one queue and pushes to another (different schemas), in one submission', async () => {
    const { acquireDevice, runDeviceKernel } = await import('ringkernel');
    const { probeDevice } = await import('./gpu-helpers.js');
    const Task = defineMessage({ name: 'Task', fields: { id: 'u32', x: 'f32' } });
    const Done = defineMessage({ name: 'Done', fields: { id: 'u32', y: 'f32', by: 'u32' } });
    const { device: real } = await acquireDevice();
    const probe = probeDevice(real);
    const device = probe.device;
    const input = await GpuMessageQueue.create<typeof Task.type>({ maxSize: 1000, schema: Task, device });
    const output = await GpuMessageQueue.create<typeof Done.type>({ maxSize: 1000, schema: Done, device });
    const tasks = Array.from({ length: 300 }, (_, i) => ({ id: i, x: i / 2, priority: (i * 13) % 256 }));
    await input.putMany(tasks);
    await Promise.all([input.flush(), output.flush()]);
    const code = `${deviceApiWgsl([
      { schema: Task, group: 1, prefix: 'in_' },
      { schema: Done, group: 2, prefix: 'out_' },
    ])}
@group(0) @binding(0) var<storage, read_write> unused: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  var t: Task;
  var p: u32;
  if (in_try_pop(&t, &p)) {
    // the most urgent tasks, one per invocation; each becomes one Done, one priority lower
    out_try_push(Done(t.id, t.x * 2.0, gid.x), max(p, 1u) - 1u);
  }
}`;
    const module = device.createShaderModule({ code });
    const info = await module.getCompilationInfo();
    expect(info.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual([]);
    const layout0 = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } }] });
    const pipeline = device.createComputePipeline({
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout0, input.deviceBindGroupLayout, output.deviceBindGroupLayout] }),
      compute: { module, entryPoint: 'main' },
    });
    const scratch = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    const group0 = device.createBindGroup({ layout: layout0, entries: [{ binding: 0, resource: { buffer: scratch } }] });
    const before = probe.submissions;
    const [popped, pushed] = await runDeviceKernel([input, output], (pass, [inGroup, outGroup]) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group0);
      pass.setBindGroup(1, inGroup);
      pass.setBindGroup(2, outGroup);
      pass.dispatchWorkgroups(2); // 128 invocations: the 128 most urgent tasks
    });
    expect(probe.submissions - before).toBe(1);
    expect(popped).toEqual({ popped: 128, pushed: 0 });
    expect(pushed).toEqual({ popped: 0, pushed: 128 });
    expect(input.size).toBe(172);
    expect(output.size).toBe(128);
    const urgent = [...tasks].sort((a, b) => b.priority - a.priority || a.id - b.id);
    const done = await output.getMany(128);
    expect(done.map((d) => d.id).sort((a, b) => a - b)).toEqual(urgent.slice(0, 128).map((t) => t.id).sort((a, b) => a - b));
    for (const d of done) {
      expect(d.y).toBe(d.id); // x * 2 = id
      expect(d.priority).toBe(Math.max(tasks[d.id].priority, 1) - 1);
    }
    expect((await input.getMany(172)).map((t) => t.id)).toEqual(urgent.slice(128).map((t) => t.id));
    await input.close();
    await output.close();
    real.destroy();
  });

  it('refuses two queues at one group or with one prefix, and a queue twice in one run', async () => {
    const A = defineMessage({ name: 'A', fields: { v: 'u32' } });
    expect(() => deviceApiWgsl([{ schema: A, group: 1 }, { schema: A, group: 1, prefix: 'b_' }])).toThrow(/bind group 1/);
    expect(() => deviceApiWgsl([{ schema: A, group: 1, prefix: 'x_' }, { schema: A, group: 2, prefix: 'x_' }])).toThrow(/prefix 'x_'/);
    expect(() => deviceApiWgsl([{ schema: A, group: 1, prefix: '9bad' }])).toThrow(/prefix/);
    const { runDeviceKernel } = await import('ringkernel');
    const q = await GpuMessageQueue.create<typeof A.type>({ maxSize: 4, schema: A });
    await expect(runDeviceKernel([q, q], () => undefined)).rejects.toThrow(/twice/);
    await q.close();
  });
});
