/** No WebGPU adapter could be found (no GPU driver, no software Vulkan). */
export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

/**
 * The GPU device behind a queue was lost (driver reset, `device.destroy()`, ...). Every
 * operation still pending rejects with this, and every later call refuses with it.
 */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  readonly reason: string | undefined;
  constructor(message = 'the GPU device was lost', reason?: string) {
    super(message);
    this.reason = reason;
  }
}
