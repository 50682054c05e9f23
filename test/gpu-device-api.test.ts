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
