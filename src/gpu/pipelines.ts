/**
 * The queue's WGSL program and its compute pipelines, built once per device: the constants
 * generated from layout.ts, then shaders/queue-*.wgsl, as one module.
 */
import commonWgsl from '../../shaders/queue-common.wgsl';
import pushWgsl from '../../shaders/queue-push.wgsl';
import takeWgsl from '../../shaders/queue-take.wgsl';
import deviceWgsl from '../../shaders/queue-device.wgsl';
import segWgsl from '../../shaders/queue-seg.wgsl';
import { PARAM_WORDS, layoutWgsl } from './layout.js';

export const QUEUE_WGSL = [layoutWgsl(), commonWgsl, pushWgsl, takeWgsl, deviceWgsl, segWgsl].join('\n');

const ENTRY_POINTS = [
  'seg_main',
  'seg_move',
  'seg_tiny',
  'push_rank',
  'push_scan',
  'push_scatter',
  'take_plan',
  'take_gather',
  'drop_select',
  'dev_prepare',
  'dev_commit',
] as const;
export type EntryPoint = (typeof ENTRY_POINTS)[number];

export interface QueuePipelines {
  /** group 0: ctl, blk, pool, seqs, inp (read-only), outb, scr */
  layout: GPUBindGroupLayout;
  /** group 1: one Params record (uniform) */
  paramLayout: GPUBindGroupLayout;
  /** the four bindings a user kernel's device-side API sees: ctl, blk, pool, inbox */
  deviceApiLayout: GPUBindGroupLayout;
  pipeline: Record<EntryPoint, GPUComputePipeline>;
}

const cache = new WeakMap<GPUDevice, QueuePipelines>();

export function queuePipelines(device: GPUDevice): QueuePipelines {
  const known = cache.get(device);
  if (known) return known;
  const module = device.createShaderModule({ code: QUEUE_WGSL, label: 'ringkernel-queue' });
  const entry = (binding: number, type: GPUBufferBindingType): GPUBindGroupLayoutEntry => ({
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type },
  });
  const layout = device.createBindGroupLayout({
    label: 'ringkernel-queue',
    entries: [0, 1, 2, 3, 4, 5, 6].map((b) => entry(b, b === 4 ? 'read-only-storage' : 'storage')),
  });
  const paramLayout = device.createBindGroupLayout({
    label: 'ringkernel-queue-params',
    entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', minBindingSize: PARAM_WORDS * 4 } }],
  });
  const deviceApiLayout = device.createBindGroupLayout({
    label: 'ringkernel-device-api',
    entries: [0, 1, 2, 3].map((b) => entry(b, 'storage')),
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout, paramLayout] });
  const pipeline = {} as Record<EntryPoint, GPUComputePipeline>;
  for (const name of ENTRY_POINTS) {
    pipeline[name] = device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint: name }, label: name });
  }
  const p: QueuePipelines = { layout, paramLayout, deviceApiLayout, pipeline };
  cache.set(device, p);
  return p;
}
