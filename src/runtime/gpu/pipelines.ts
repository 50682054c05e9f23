/**
 * The GPU backend's compute pipelines: the tick's own entry points (shaders/ring-tick.wgsl, one
 * module per device) and each kernel's handler (its WGSL compiled at launch, with the compiler's
 * messages mapped to the kernel's own lines).
 */
import tickWgsl from '../../../shaders/ring-tick.wgsl';
import commonWgsl from '../../../shaders/queue-common.wgsl';
import { PARAM_WORDS, layoutWgsl } from '../../gpu/layout.js';
import { KernelCompileError } from '../errors.js';
import type { RingKernelDefinition } from '../kernel.js';
import { handlerWgsl } from './handler-wgsl.js';
import { FUSED_STORAGE_BUFFERS, fusedWgsl } from './fused-wgsl.js';
import { kernelLayoutWgsl } from './kernel-layout.js';

export const TICK_WGSL = [layoutWgsl(), kernelLayoutWgsl(), commonWgsl, tickWgsl].join('\n');

/**
 * The tick's entry points. Their layouts are 'auto' (each pipeline binds only what it uses, so
 * none needs more than 8 storage buffers); BINDINGS lists what each uses, per group.
 */
export interface TickPipelines {
  take: GPUComputePipeline;
  settle: GPUComputePipeline;
  smallIngest: GPUComputePipeline;
}
/** group -> bindings each entry point uses (a bind group must have exactly these). */
export const TICK_BINDINGS = {
  take: { 0: [0, 1, 6], 2: [0, 2] },
  settle: { 0: [0, 4], 2: [0] },
  smallIngest: { 0: [0, 1, 2, 3, 4, 5], 2: [0] },
} as const;

const tickCache = new WeakMap<GPUDevice, TickPipelines>();

export function tickPipelines(device: GPUDevice): TickPipelines {
  let p = tickCache.get(device);
  if (p === undefined) {
    const module = device.createShaderModule({ code: TICK_WGSL, label: 'ringkernel-tick' });
    const make = (entryPoint: string) => device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint }, label: entryPoint });
    p = { take: make('rk_take'), settle: make('rk_settle'), smallIngest: make('rk_small_ingest') };
    tickCache.set(device, p);
  }
  return p;
}

export interface HandlerPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** the fused tick's group 1 (its two Params records) */
  paramsLayout?: GPUBindGroupLayout;
}

/** Pipelines made per device, kernel definition and messages per tick. */
type KernelPipelineCache<T> = WeakMap<GPUDevice, WeakMap<RingKernelDefinition, Map<number, Promise<T>>>>;

/**
 * The cached pipeline for (device, def, maxPerTick), or `make()`'s; a `make()` that rejects is
 * forgotten (a later launch tries again), and `onError` says what this call gets instead: it
 * rethrows, or returns a value.
 */
function cachedPipeline<T>(cache: KernelPipelineCache<T>, device: GPUDevice, def: RingKernelDefinition, maxPerTick: number, make: () => Promise<T>, onError: (error: unknown) => T): Promise<T> {
  let byDef = cache.get(device);
  if (byDef === undefined) cache.set(device, (byDef = new WeakMap()));
  let byTick = byDef.get(def);
  if (byTick === undefined) byDef.set(def, (byTick = new Map()));
  let p = byTick.get(maxPerTick);
  if (p === undefined) {
    const entries = byTick;
    p = make().catch((error: unknown) => {
      entries.delete(maxPerTick);
      return onError(error);
    });
    byTick.set(maxPerTick, p);
  }
  return p;
}

const handlerCache: KernelPipelineCache<HandlerPipeline> = new WeakMap();

/** The kernel's handler pipeline (cached per device, definition and messages per tick); rejects with KernelCompileError when its WGSL does not compile. */
export function handlerPipeline(device: GPUDevice, id: string, def: RingKernelDefinition, maxPerTick: number): Promise<HandlerPipeline> {
  return cachedPipeline(handlerCache, device, def, maxPerTick, () => compileHandler(device, id, def, maxPerTick), (error) => {
    throw error;
  });
}

async function compileHandler(device: GPUDevice, id: string, def: RingKernelDefinition, maxPerTick: number): Promise<HandlerPipeline> {
  const src = handlerWgsl(def, maxPerTick);
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    { binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
  ];
  if (def.state) entries.push({ binding: 5, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
  // Every GPU call inside one validation scope, popped at once: a scope is a stack entry of the
  // device, so one left open across an await would catch another launch's errors.
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: src.code, label: `ringkernel-${def.name}` });
  const layout = device.createBindGroupLayout({ label: `ringkernel-${def.name}`, entries });
  const pipeline = device.createComputePipeline({
    label: `ringkernel-${def.name}`,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: 'rk_main' },
  });
  const scope = device.popErrorScope();
  const [info, error] = await Promise.all([module.getCompilationInfo(), scope]);
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    // the compiler's first error, located in the kernel's own wgsl when it is there
    const first = errors[0];
    const inUser = first.lineNum >= src.userLine && first.lineNum < src.userLine + src.userLines;
    const line = inUser ? first.lineNum - src.userLine + 1 : 0;
    const where = inUser ? `line ${line}, column ${first.linePos} of its wgsl` : `code ringkernel generated around its wgsl (module line ${first.lineNum})`;
    const source = inUser ? `\n  ${def.wgsl.split('\n')[line - 1]?.trim() ?? ''}` : '';
    throw new KernelCompileError(id, `kernel '${id}' (${def.name}): WGSL error at ${where}: ${first.message}${source}`, line, inUser ? first.linePos : 0);
  }
  if (error !== null) {
    throw new KernelCompileError(id, `kernel '${id}' (${def.name}): the GPU refused its pipeline: ${error.message}`, 0, 0);
  }
  return { pipeline, layout };
}

const fusedCache: KernelPipelineCache<HandlerPipeline | null> = new WeakMap();

/**
 * The kernel's fused small tick (fused-wgsl.ts), cached like its handler; null where the device
 * binds too few storage buffers per stage or the module does not compile (the kernel's own names
 * may collide with the queue's): its ticks are then not fused. A module that does not compile is
 * kept as null; a failure to compile at all (a lost device) is not kept; an internal error escapes.
 */
export function fusedPipeline(device: GPUDevice, def: RingKernelDefinition, maxPerTick: number): Promise<HandlerPipeline | null> {
  const needed = FUSED_STORAGE_BUFFERS + (def.state ? 1 : 0);
  if (def.output === undefined || device.limits.maxStorageBuffersPerShaderStage < needed) return Promise.resolve(null);
  return cachedPipeline(fusedCache, device, def, maxPerTick, () => compileFused(device, def, maxPerTick), (error) => {
    if (error instanceof Error && /internal error/.test(error.message)) throw error;
    return null;
  });
}

async function compileFused(device: GPUDevice, def: RingKernelDefinition, maxPerTick: number): Promise<HandlerPipeline | null> {
  // (an assembly that fails is a bug of ringkernel's: it throws, as any internal error)
  const code = fusedWgsl(def, maxPerTick).code;
  const storage = (binding: number): GPUBindGroupLayoutEntry => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
  const entries: GPUBindGroupLayoutEntry[] = Array.from({ length: FUSED_STORAGE_BUFFERS }, (_, b) => storage(b));
  if (def.state) entries.push(storage(11));
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code, label: `ringkernel-fused-${def.name}` });
  const layout = device.createBindGroupLayout({ label: `ringkernel-fused-${def.name}`, entries });
  const params = device.createBindGroupLayout({
    label: 'ringkernel-fused-params',
    entries: [0, 1].map((binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' as const, minBindingSize: PARAM_WORDS * 4 } })),
  });
  const pipeline = device.createComputePipeline({
    label: 'rk_fused',
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout, params] }),
    compute: { module, entryPoint: 'rk_fused' },
  });
  const scope = device.popErrorScope();
  const [info, error] = await Promise.all([module.getCompilationInfo(), scope]);
  if (error !== null || info.messages.some((m) => m.type === 'error')) return null;
  return { pipeline, layout, paramsLayout: params };
}
