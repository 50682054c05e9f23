/**
 * The CPU backend's check of a kernel's WGSL: where a WebGPU device is at hand, the handler the
 * GPU backend would run is compiled on it at launch, so WGSL that does not compile is refused on
 * both backends with the same KernelCompileError (its line and column in the kernel's `wgsl`).
 * The GPU code is loaded only then: without a device nothing of WebGPU is touched.
 */
import type { RingKernelDefinition } from './kernel.js';

export async function checkWgsl(device: GPUDevice, id: string, def: RingKernelDefinition, maxPerTick: number): Promise<void> {
  const { handlerPipeline } = await import('./gpu/pipelines.js');
  await handlerPipeline(device, id, def, maxPerTick);
}
