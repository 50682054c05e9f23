/**
 * Errors of the device layer, shared by every GPU-backed part of ringkernel (queues, runtime).
 */

/** No WebGPU adapter could be found (no GPU driver, no software Vulkan). */
export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

/**
 * The GPU device was lost (driver reset, `device.destroy()`, ...). Every operation still
 * pending rejects with this, and every later call refuses with it.
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
 * The GPU refused work of ringkernel's, or ringkernel could not trust what the GPU returned:
 * a submission rejected by validation, buffers it could not allocate, a device answer that
 * disagrees with the host. `cause` is the underlying error (for a GPU error, a `GPUError`
 * turned into an `Error` with the GPU's message).
 *
 * For a GpuMessageQueue whose own submission failed, or whose device answer failed
 * verification, the queue fails closed: every pending and waiting operation rejects with this,
 * `size` reads 0, and every later call refuses with it; `close()` still frees the buffers. A
 * user kernel run (`runDeviceKernel`) that the GPU rejects rejects only that run: the GPU
 * dropped the whole command buffer, so the queues it touched are unchanged and stay usable.
 */
export class GpuQueueError extends Error {
  override name = 'GpuQueueError';
}

/** The GPU had no memory for a buffer ringkernel asked for (an `out-of-memory` GPU error). */
export class GpuOutOfMemoryError extends Error {
  override name = 'GpuOutOfMemoryError';
}
