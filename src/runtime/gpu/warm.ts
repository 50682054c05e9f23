/**
 * Warm at launch: every compute pipeline a kernel's ticks use has run once before `launch`
 * resolves, so a kernel's first request costs what later ones do.
 *
 * Some drivers compile a pipeline when it is first dispatched, not when it is created (the software
 * adapter, lavapipe: creating one takes ~2 ms, its first dispatch 20-30 ms, and a tick uses a dozen
 * of them), and `createComputePipelineAsync` does not move that work. So each pipeline not yet run
 * on the device is dispatched once, one workgroup, all in one submission at the launch:
 *  - the tick's and the queue's pipelines (one set per device) against scratch buffers of zeros,
 *    with zero parameters: every entry point then finds nothing to do (no messages, no operations),
 *    and whatever it writes lands in the scratch buffers, destroyed afterwards;
 *  - the kernel's handler against the kernel's own bind group: its control block is still zero, so
 *    every invocation returns at once (the handler runs only below the count rk_take wrote).
 * Nothing a queue or kernel holds is read or changed; the submission is awaited
 * (onSubmittedWorkDone), and its validation errors are reported as an internal error.
 */
import { PARAM_STRIDE, PARAM_WORDS } from '../../gpu/layout.js';
import { queuePipelines } from '../../gpu/pipelines.js';
import { tickPipelines, TICK_BINDINGS, type HandlerPipeline } from './pipelines.js';
import { FUSED_STORAGE_BUFFERS } from './fused-wgsl.js';
import { FAKE_TIMERS_MESSAGE, timersFaked } from '../../platform/index.js';

/** Pipelines already run once, per device. */
const warmed = new WeakMap<GPUDevice, WeakSet<GPUComputePipeline>>();

/** Big enough for every binding's minimum size (the queue's and the tick's control blocks and tables). */
const SCRATCH_BYTES = 1 << 16;
/** Storage bindings of the widest layout (the queue's group 0). */
const SCRATCH_BUFFERS = 7;

interface WarmDispatch {
  pipeline: GPUComputePipeline;
  /** the bind groups, or how to make them from the scratch buffers */
  groups: readonly GPUBindGroup[] | ((scratch: Scratch) => GPUBindGroup[]);
}
interface Scratch {
  /** a queue's bindings (group 0) */
  storage: GPUBuffer[];
  /** a kernel's bindings (the tick's group 2: distinct buffers, writable bindings must not alias) */
  kernel: GPUBuffer[];
  /** the fused tick's storage bindings, all distinct */
  fused: GPUBuffer[];
  params: GPUBuffer;
}

/** Buffers one touch dispatch binds. */
const TOUCH_BINDINGS = 8;
const touchLayouts = new WeakMap<GPUDevice, { layout: GPUBindGroupLayout; pipeline: GPUComputePipeline }>();

/** A pipeline that does nothing, over TOUCH_BINDINGS read-only storage buffers (an explicit layout: the shader needs none of them). */
function touchPipeline(device: GPUDevice): { layout: GPUBindGroupLayout; pipeline: GPUComputePipeline } {
  let t = touchLayouts.get(device);
  if (t === undefined) {
    const layout = device.createBindGroupLayout({
      label: 'ringkernel-touch',
      entries: Array.from({ length: TOUCH_BINDINGS }, (_, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' as const } })),
    });
    const module = device.createShaderModule({ label: 'ringkernel-touch', code: '@compute @workgroup_size(1) fn rk_touch() {}' });
    const pipeline = device.createComputePipeline({ label: 'rk_touch', layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'rk_touch' } });
    touchLayouts.set(device, (t = { layout, pipeline }));
  }
  return t;
}

/**
 * Runs once every pipeline of `handler` (with its own `group`) and the device's tick and queue
 * pipelines not yet run on `device`; and binds every buffer of `touch` (those with STORAGE usage)
 * in a dispatch that does nothing, so that what the implementation does on a buffer's first use
 * (WebGPU zero-initializes buffers, lazily: Dawn clears one in the first submission that uses it,
 * and the memory's pages are first touched then) happens here, not in the kernel's first tick.
 */
export async function warmPipelines(
  device: GPUDevice,
  handler: GPUComputePipeline,
  group: GPUBindGroup,
  touch: readonly GPUBuffer[] = [],
  fused: { pipeline: HandlerPipeline; state: GPUBuffer | null } | null = null,
): Promise<void> {
  let done = warmed.get(device);
  if (done === undefined) warmed.set(device, (done = new WeakSet()));
  const todo: WarmDispatch[] = [];
  const touched = touch.filter((b) => (b.usage & GPUBufferUsage.STORAGE) !== 0);
  if (touched.length > 0) {
    const t = touchPipeline(device);
    for (let i = 0; i < touched.length; i += TOUCH_BINDINGS) {
      const chunk = touched.slice(i, i + TOUCH_BINDINGS);
      while (chunk.length < TOUCH_BINDINGS) chunk.push(chunk[0]);
      todo.push({ pipeline: t.pipeline, groups: [device.createBindGroup({ layout: t.layout, entries: chunk.map((buffer, binding) => ({ binding, resource: { buffer } })) })] });
    }
  }
  if (!done.has(handler)) todo.push({ pipeline: handler, groups: [group] });
  const q = queuePipelines(device);
  for (const pipeline of Object.values(q.pipeline)) {
    if (done.has(pipeline)) continue;
    todo.push({
      pipeline,
      groups: (s) => [
        device.createBindGroup({ layout: q.layout, entries: s.storage.map((buffer, binding) => ({ binding, resource: { buffer } })) }),
        device.createBindGroup({ layout: q.paramLayout, entries: [{ binding: 0, resource: { buffer: s.params, size: PARAM_WORDS * 4 } }] }),
      ],
    });
  }
  if (fused !== null && !done.has(fused.pipeline.pipeline)) {
    // the fused tick on scratch buffers of zeros (its take finds nothing), with the kernel's own
    // state buffer for the state binding (its size is the state type's; the handler never runs)
    const f = fused.pipeline;
    todo.push({
      pipeline: f.pipeline,
      groups: (s) => {
        const storage = fused.state !== null ? [...s.fused, fused.state] : s.fused;
        return [
          device.createBindGroup({ layout: f.layout, entries: storage.map((buffer, binding) => ({ binding, resource: { buffer } })) }),
          device.createBindGroup({ layout: f.paramsLayout!, entries: [0, 1].map((binding) => ({ binding, resource: { buffer: s.params, size: PARAM_WORDS * 4 } })) }),
        ];
      },
    });
  }
  const tp = tickPipelines(device);
  for (const name of ['take', 'settle', 'smallIngest'] as const) {
    const pipeline = tp[name];
    if (done.has(pipeline)) continue;
    const bindings = TICK_BINDINGS[name];
    todo.push({
      pipeline,
      groups: (s) => [
        device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: bindings[0].map((binding) => ({ binding, resource: { buffer: s.storage[binding] } })) }),
        device.createBindGroup({ layout: pipeline.getBindGroupLayout(1), entries: [{ binding: 0, resource: { buffer: s.params, size: PARAM_WORDS * 4 } }] }),
        device.createBindGroup({ layout: pipeline.getBindGroupLayout(2), entries: bindings[2].map((binding) => ({ binding, resource: { buffer: s.kernel[binding] } })) }),
      ],
    });
  }
  if (todo.length === 0) return;
  // (its completion comes through the event loop's setImmediate: with that faked it would never come)
  if (timersFaked()) throw new Error(FAKE_TIMERS_MESSAGE);
  let scratch: Scratch | null = null;
  const buffers = (n: number) => Array.from({ length: n }, () => device.createBuffer({ label: 'ringkernel-warm', size: SCRATCH_BYTES, usage: GPUBufferUsage.STORAGE }));
  const scratchOf = (): Scratch =>
    (scratch ??= {
      storage: buffers(SCRATCH_BUFFERS),
      kernel: buffers(3),
      fused: buffers(FUSED_STORAGE_BUFFERS),
      params: device.createBuffer({ label: 'ringkernel-warm-params', size: PARAM_STRIDE, usage: GPUBufferUsage.UNIFORM }),
    });
  device.pushErrorScope('validation');
  try {
    const encoder = device.createCommandEncoder({ label: 'ringkernel-warm' });
    const pass = encoder.beginComputePass();
    for (const w of todo) {
      pass.setPipeline(w.pipeline);
      const groups = typeof w.groups === 'function' ? w.groups(scratchOf()) : w.groups;
      groups.forEach((g, i) => pass.setBindGroup(i, g));
      pass.dispatchWorkgroups(1);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
  } finally {
    const error = device.popErrorScope();
    try {
      await device.queue.onSubmittedWorkDone();
    } finally {
      const s = scratch as Scratch | null;
      if (s !== null) for (const b of [...s.storage, ...s.kernel, ...s.fused, s.params]) b.destroy();
    }
    const e = await error;
    if (e !== null) throw new Error(`ringkernel: warming the tick's pipelines failed (internal error): ${e.message}`);
  }
  for (const w of todo) done.add(w.pipeline);
}
