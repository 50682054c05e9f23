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

/**
 * A submission of a GpuMessageQueue failed on the GPU (e.g. a validation error) or its result
 * could not be applied, so host and device may disagree about the queue's contents. The queue
 * fails closed, as on device loss: every pending and waiting operation rejects with this,
 * `size` reads 0, and every later call refuses with it; `close()` still frees the buffers.
 * `cause` is the underlying error.
 */
export class GpuQueueError extends Error {
  override name = 'GpuQueueError';
}
