/**
 * Buffer creation that fails where it should: before allocation when a buffer exceeds the
 * device's limits (a RangeError naming the limit), and at creation, not at first use, when the
 * GPU cannot allocate it (buffers are made inside `out-of-memory` and `validation` error
 * scopes, and nothing is kept when either reports an error).
 */
import { GpuOutOfMemoryError, GpuQueueError } from './errors.js';

/** How a buffer will be bound, which decides the limit its size is checked against. */
export type BindingKind = 'storage' | 'uniform' | 'none';

export interface BufferSpec {
  label: string;
  size: number;
  usage: GPUBufferUsageFlags;
  /** The binding it will be used as (the whole buffer): checked against that binding limit too. Default 'none'. */
  binding?: BindingKind;
  /** What the buffer is for, in the error message, e.g. `maxSize 33554432 with opaque payloads`. */
  purpose?: string;
}

/** Throws a RangeError naming the limit when `spec` cannot exist on `device`. */
export function checkBufferLimits(device: GPUDevice, spec: BufferSpec): void {
  const { limits } = device;
  const what = `buffer '${spec.label}'${spec.purpose ? ` (${spec.purpose})` : ''}`;
  if (!Number.isSafeInteger(spec.size) || spec.size < 0) throw new RangeError(`${what}: invalid size ${spec.size}`);
  if (spec.size > limits.maxBufferSize) {
    throw new RangeError(`${what} needs ${spec.size} bytes; the device's maxBufferSize is ${limits.maxBufferSize}`);
  }
  if (spec.binding === 'storage' && spec.size > limits.maxStorageBufferBindingSize) {
    throw new RangeError(
      `${what} needs a ${spec.size}-byte storage binding; the device's maxStorageBufferBindingSize is ${limits.maxStorageBufferBindingSize}`,
    );
  }
  if (spec.binding === 'uniform' && spec.size > limits.maxUniformBufferBindingSize) {
    throw new RangeError(
      `${what} needs a ${spec.size}-byte uniform binding; the device's maxUniformBufferBindingSize is ${limits.maxUniformBufferBindingSize}`,
    );
  }
}

/** Buffers are at least this large (a zero-sized binding is invalid) and a multiple of 4 bytes. */
const MIN_BYTES = 16;
export const bufferBytes = (size: number): number => Math.max(MIN_BYTES, Math.ceil(size / 4) * 4);

/**
 * Creates every buffer of `specs` or none: checks all against the limits first, then creates
 * them inside error scopes and waits for the scopes. On an error every buffer made is destroyed
 * and the promise rejects (GpuOutOfMemoryError, or GpuQueueError for a validation error).
 */
export async function createBuffers<K extends string>(device: GPUDevice, specs: Record<K, BufferSpec>): Promise<Record<K, GPUBuffer>> {
  const entries = Object.entries(specs) as [K, BufferSpec][];
  for (const [, spec] of entries) checkBufferLimits(device, { ...spec, size: bufferBytes(spec.size) });
  const made: Partial<Record<K, GPUBuffer>> = {};
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let thrown: unknown;
  try {
    for (const [key, spec] of entries) {
      made[key] = device.createBuffer({ label: spec.label, size: bufferBytes(spec.size), usage: spec.usage });
    }
  } catch (error) {
    thrown = error;
  }
  // (both popped before any await: scopes are a stack on the device, shared by concurrent creates)
  const scopes = [device.popErrorScope(), device.popErrorScope()];
  const [validation, memory] = await Promise.all(scopes);
  if (thrown !== undefined || validation !== null || memory !== null) {
    for (const b of Object.values(made) as GPUBuffer[]) b.destroy();
    const labels = entries.map(([, s]) => `${s.label} (${bufferBytes(s.size)} bytes)`).join(', ');
    if (memory !== null) {
      throw new GpuOutOfMemoryError(`the GPU is out of memory for ${labels}: ${memory.message}`, { cause: gpuErrorAsError(memory) });
    }
    if (validation !== null) {
      throw new GpuQueueError(`the GPU refused to create ${labels}: ${validation.message}`, { cause: gpuErrorAsError(validation) });
    }
    throw thrown;
  }
  return made as Record<K, GPUBuffer>;
}

/** A GPUError (not an Error subclass in every implementation) as an Error with the GPU's message. */
export function gpuErrorAsError(error: GPUError): Error {
  const e = new Error(error.message);
  e.name = error.constructor?.name && error.constructor.name !== 'Object' ? error.constructor.name : 'GPUError';
  return e;
}
