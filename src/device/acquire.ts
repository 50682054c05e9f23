/**
 * Device acquisition: the one place that finds a WebGPU implementation and an adapter.
 * Uses `navigator.gpu` when the runtime has it (browsers, Deno), else, in Node, the `webgpu`
 * npm package (Dawn): see src/platform/. Reports what the adapter is, including whether it is a software one.
 */
import { GpuUnavailableError } from './errors.js';
import { INSTALL_HINT, loadWebGpu } from '../platform/index.js';

export interface AdapterReport {
  vendor: string;
  architecture: string;
  description: string;
  device: string;
  /** True when the adapter is a software rasteriser (llvmpipe / lavapipe / SwiftShader / WARP ...). */
  isSoftware: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: AdapterReport;
}

let gpuPromise: Promise<GPU> | undefined;

export function gpuApi(): Promise<GPU> {
  gpuPromise ??= loadWebGpu().catch((error: unknown) => {
    gpuPromise = undefined;
    throw error;
  });
  return gpuPromise;
}

const SOFTWARE = /software|llvmpipe|lavapipe|swiftshader|warp|cpu/i;

export function describeAdapter(adapter: GPUAdapter): AdapterReport {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description ?? '';
  const device = info?.device ?? '';
  const isSoftware =
    SOFTWARE.test(architecture) || SOFTWARE.test(description) || SOFTWARE.test(device) ||
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { vendor, architecture, description, device, isSoftware };
}

/** Finds an adapter or throws GpuUnavailableError saying what to install. */
export async function requestAdapter(options?: GPURequestAdapterOptions): Promise<GPUAdapter> {
  const gpu = await gpuApi();
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) throw new GpuUnavailableError(`WebGPU found no adapter. ${INSTALL_HINT}`);
  return adapter;
}

/**
 * Storage buffers per shader stage ringkernel asks for where the adapter has them: a kernel
 * over two queues through the device-side API binds 8 (4 per queue) plus its own; the spec's
 * default is 8.
 */
export const WANTED_STORAGE_BUFFERS_PER_STAGE = 16;

/**
 * A new device. `limits: 'adapter'` asks for the adapter's largest storage binding and buffer
 * sizes; the default asks for the spec defaults (128 MiB per storage binding, 256 MiB per
 * buffer). Either way it asks for up to WANTED_STORAGE_BUFFERS_PER_STAGE storage buffers per
 * shader stage, as many as the adapter has. `features`: optional features to enable where the
 * adapter has them (e.g. 'timestamp-query' for profiles); `device.features` says which it got.
 */
export async function acquireDevice(options: { limits?: 'default' | 'adapter'; features?: readonly GPUFeatureName[] } = {}): Promise<AcquiredDevice> {
  const adapter = await requestAdapter();
  const requiredLimits: Record<string, number> = {};
  const storageBuffers = Math.min(adapter.limits.maxStorageBuffersPerShaderStage, WANTED_STORAGE_BUFFERS_PER_STAGE);
  if (storageBuffers > 8) requiredLimits.maxStorageBuffersPerShaderStage = storageBuffers;
  if (options.limits === 'adapter') {
    requiredLimits.maxStorageBufferBindingSize = adapter.limits.maxStorageBufferBindingSize;
    requiredLimits.maxBufferSize = adapter.limits.maxBufferSize;
  }
  const requiredFeatures = (options.features ?? []).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  return { device, adapter, info: describeAdapter(adapter) };
}

let shared: Promise<AcquiredDevice> | undefined;
/** the shared device once acquired (and not lost): what the CPU backend checks WGSL on */
let sharedReady: GPUDevice | null = null;

/** The shared device if something in this process acquired it already, else null (never acquires one). */
export function sharedDeviceIfAcquired(): GPUDevice | null {
  return sharedReady;
}

/** The process-wide device queues use when none is given; replaced after it is lost. */
export function sharedDevice(): Promise<AcquiredDevice> {
  if (shared === undefined) {
    const p = acquireDevice();
    shared = p;
    p.then(
      (acq) => {
        if (shared === p) sharedReady = acq.device;
        void acq.device.lost.then(() => {
          if (shared === p) shared = undefined;
          if (sharedReady === acq.device) sharedReady = null;
        });
      },
      () => {
        if (shared === p) shared = undefined;
      },
    );
  }
  return shared;
}

const infos = new WeakMap<GPUDevice, AdapterReport>();
export function rememberInfo(device: GPUDevice, info: AdapterReport): void {
  infos.set(device, info);
}
export function deviceInfo(device: GPUDevice): AdapterReport | undefined {
  return infos.get(device);
}
