/**
 * Shared gate for GPU test files. GPU tests FAIL when no adapter exists (GpuMessageQueue.create
 * rejects with GpuUnavailableError saying what to install), unless RINGKERNEL_SKIP_GPU=1 is set:
 * then they are skipped and a loud notice is printed, so a skipped GPU run is never mistaken
 * for a passing one.
 */
import { describe } from 'vitest';

export const SKIP_GPU = process.env.RINGKERNEL_SKIP_GPU === '1';
let noticed = false;

/** `describe` for GPU tests: runs them, or (RINGKERNEL_SKIP_GPU=1 only) skips them loudly. */
export function describeGpu(name: string, body: () => void): void {
  if (SKIP_GPU) {
    if (!noticed) {
      noticed = true;
      const bar = '!'.repeat(78);
      console.warn(`\n${bar}\n!!! RINGKERNEL_SKIP_GPU=1: GPU TESTS ARE SKIPPED, NOT PASSED. GpuMessageQueue is UNTESTED in this run.\n${bar}\n`);
    }
    describe.skip(name, body);
    return;
  }
  describe(name, body);
}

/** A GPUDevice seen through a proxy that counts buffers and can make error scopes report a GPU error. */
export interface DeviceProbe {
  device: GPUDevice;
  created: GPUBuffer[];
  destroyed: Set<GPUBuffer>;
  /**
   * the next popErrorScope of this filter reports an error with this message (once); for
   * 'out-of-memory', the buffers created inside that scope are also made unusable (destroyed
   * behind the code's back, not counted in `destroyed`), as a failed allocation's would be
   */
  failScope(filter: GPUErrorFilter, message: string): void;
  /** the next mapAsync of a MAP_READ buffer rejects (once) */
  failMap(): void;
  /** command buffers submitted through device.queue */
  readonly submissions: number;
}

export function probeDevice(real: GPUDevice): DeviceProbe {
  const created: GPUBuffer[] = [];
  const destroyed = new Set<GPUBuffer>();
  const scopes: { filter: GPUErrorFilter; createdAt: number }[] = [];
  const realDestroy = new Map<GPUBuffer, () => void>();
  const failing = new Map<GPUErrorFilter, string>();
  let mapFails = false;
  let submissions = 0;
  const queue = new Proxy(real.queue, {
    get(target, key) {
      if (key === 'submit') {
        return (buffers: GPUCommandBuffer[]) => {
          submissions++;
          target.submit(buffers);
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const device = new Proxy(real, {
    get(target, key) {
      if (key === 'queue') return queue;
      if (key === 'createBuffer') {
        return (desc: GPUBufferDescriptor) => {
          const buffer = target.createBuffer(desc);
          created.push(buffer);
          const destroy = buffer.destroy.bind(buffer);
          realDestroy.set(buffer, destroy);
          const mapAsync = buffer.mapAsync.bind(buffer);
          Object.defineProperty(buffer, 'destroy', { value: () => (destroyed.add(buffer), destroy()) });
          Object.defineProperty(buffer, 'mapAsync', {
            value: (...args: Parameters<GPUBuffer['mapAsync']>) => {
              if (mapFails && (desc.usage & GPUBufferUsage.MAP_READ) !== 0) {
                mapFails = false;
                return Promise.reject(new Error('injected map failure'));
              }
              return mapAsync(...args);
            },
          });
          return buffer;
        };
      }
      if (key === 'pushErrorScope') {
        return (filter: GPUErrorFilter) => {
          scopes.push({ filter, createdAt: created.length });
          target.pushErrorScope(filter);
        };
      }
      if (key === 'popErrorScope') {
        return () => {
          const { filter, createdAt } = scopes.pop()!;
          const popped = target.popErrorScope();
          const injected = failing.get(filter);
          if (injected === undefined) return popped;
          failing.delete(filter);
          if (filter === 'out-of-memory') for (const b of created.slice(createdAt)) realDestroy.get(b)!();
          return popped.then(() => (filter === 'out-of-memory' ? new GPUOutOfMemoryError(injected) : new GPUValidationError(injected)));
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    device,
    created,
    destroyed,
    failScope: (filter, message) => failing.set(filter, message),
    failMap: () => {
      mapFails = true;
    },
    get submissions() {
      return submissions;
    },
  };
}
