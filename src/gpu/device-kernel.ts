/**
 * User kernels that pop from and push to GpuMessageQueues on the device, through the WGSL
 * device-side API (device-api.ts). One run is one submission: for every queue `dev_prepare`,
 * then the user's dispatches with every queue's bind group, then for every queue `dev_commit`,
 * the ingest of its inbox and a head fetch; one readback. Afterwards each queue learns how many
 * messages the kernel popped and pushed (size, stats, waiters).
 *
 * Each queue's pending host operations are flushed first, in their own submission: if the GPU
 * then rejects the run (a validation error in the user's encoding), it dropped the whole
 * command buffer, so the queues are exactly as before the run: the run rejects with
 * GpuQueueError (the GPU's error as `cause`) and the queues stay usable. Only `device.lost` is loss.
 */
import { DeviceLostError, GpuQueueError } from '../device/errors.js';
import { submit } from '../device/submission.js';
import { encodeRunCommit, encodeRunPrepare, inboxRecords, runInputBytes, runOutputBytes, type RunReadback } from './device-run.js';
import type { GpuMessageQueue } from './gpu-queue.js';
import { G, GLOBAL_WORDS, RECORD_HEADER } from './layout.js';

export interface DeviceKernelOptions {
  /** Most pushes the kernel may make into each queue in this run (default min(maxSize, 65536)); a positive integer. */
  inboxCapacity?: number;
}

export interface DeviceKernelResult {
  popped: number;
  pushed: number;
}

function checkInbox(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`inboxCapacity must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Runs a user kernel over several queues in one submission. `encode(pass, groups)` sets the
 * user's pipeline and bind groups (`groups[i]` is queue i's, to set at the group its WGSL was
 * generated for; layout `queues[i].deviceBindGroupLayout`) and dispatches. Resolves with what
 * the kernel popped from and pushed into each queue. Schema mode only; all queues on one
 * device. Other calls on the queues throw or reject until the promise settles.
 */
export async function runDeviceKernel<const Q extends readonly GpuMessageQueue<any>[]>(
  queues: Q,
  encode: (pass: GPUComputePassEncoder, groups: { readonly [K in keyof Q]: GPUBindGroup }) => void,
  options: DeviceKernelOptions = {},
): Promise<{ -readonly [K in keyof Q]: DeviceKernelResult }> {
  if (!Array.isArray(queues) || queues.length === 0) throw new TypeError('runDeviceKernel needs at least one GpuMessageQueue');
  if (typeof encode !== 'function') throw new TypeError('encode must be a function (pass, groups) => void');
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const requested = checkInbox(options.inboxCapacity);
  if (new Set(queues).size !== queues.length) throw new RangeError('a queue appears twice in one run');
  const device = queues[0].device;
  for (const q of queues) {
    q.assertRunnable();
    if (q.device !== device) throw new RangeError('all queues of one run must share one GPUDevice');
  }
  // busy from the call on: an operation recorded while the flushes below run would reach the
  // device after the kernel although the host applied it before
  for (const q of queues) q.setDeviceBusy(true);
  try {
    for (const q of queues) await q.flush();
    const inboxes = queues.map((q) => inboxRecords(q.storage, requested ?? Math.min(q.maxSize, 65536)));
    // buffers the run needs are allocated first, and awaited: out of memory leaves every queue as it was
    for (const [i, q] of queues.entries()) {
      if (q.closed || q.brokenBy) break;
      await q.storage.reserve('inp', runInputBytes(q.storage, inboxes[i]));
      await q.storage.reserve('outb', runOutputBytes(q.storage, q.runHeadCount));
    }
    for (const q of queues) {
      if (q.closed) throw new Error('a queue was closed while its device kernel run waited');
      if (q.brokenBy) throw q.brokenBy;
    }
    // (a validation scope: the user's encoding may be invalid, and its error is the run's cause)
    const built = submit(
      device,
      (e): RunReadback[] => {
        queues.forEach((q, i) => encodeRunPrepare(e, q.storage, inboxes[i], q.runHeadCount));
        const pass = e.commands().beginComputePass({ label: 'ringkernel-user-kernel' });
        // (one group per queue, in the queues' order: the tuple the caller's types promise)
        encode(pass, queues.map((q) => q.storage.deviceApiGroup()) as unknown as { readonly [K in keyof Q]: GPUBindGroup });
        pass.end();
        return queues.map((q) => encodeRunCommit(e, q.storage, q.runHeadCount));
      },
      { detect: 'scope' },
    );
    let rb;
    try {
      rb = await built.done;
    } catch (error) {
      if (error instanceof DeviceLostError) throw error;
      // the GPU dropped the whole command buffer: the queues are unchanged
      throw new GpuQueueError(`ringkernel: the GPU rejected the device kernel run (the queues are unchanged): ${(error as Error).message}`, {
        cause: (error as Error).cause ?? error,
      });
    }
    try {
      // every queue learns what the run did, even when one of them reports a violated invariant
      // (that one breaks; the others stay in step with their device state)
      let firstError: unknown = null;
      const results = queues.map((q, i) => {
        const r = built.value[i];
        const globals = rb.words.subarray(r.globalsAt, r.globalsAt + GLOBAL_WORDS);
        const head = r.headCount > 0 ? rb.words.subarray(r.headAt, r.headAt + r.headCount * (q.words + RECORD_HEADER)) : null;
        const popped = globals[G.RUN_POPS];
        const pushed = globals[G.RUN_PUSHES];
        q.setDeviceBusy(false);
        try {
          q.applyDeviceRun(popped, pushed, globals, head);
        } catch (error) {
          firstError ??= error;
        }
        return { popped, pushed };
      });
      if (firstError !== null) throw firstError;
      return results as unknown as { -readonly [K in keyof Q]: DeviceKernelResult };
    } finally {
      rb.release();
    }
  } finally {
    for (const q of queues) q.setDeviceBusy(false);
  }
}
