/**
 * The platform layer for browsers (and any runtime with `navigator.gpu` and no Node): WebGPU is
 * `navigator.gpu`, and the next macrotask is a MessageChannel message — `setTimeout(0)` would be
 * clamped to 4 ms once nested, which a tick loop hits at once.
 *
 * Exports the same names as `node.ts`, which the browser build replaces with this module.
 */
import { GpuUnavailableError } from '../device/errors.js';

export const PLATFORM = 'browser';

export const INSTALL_HINT =
  'WebGPU needs a browser that has it enabled (Chrome or Edge 113+, Safari 26+, Firefox 141+ on Windows), a page served ' +
  'from https or localhost (a secure context), and a GPU the browser does not block; or use the CPU backend.';

export async function loadWebGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  throw new GpuUnavailableError(`this page has no WebGPU (navigator.gpu). ${INSTALL_HINT}`);
}

/**
 * The part of a MessageChannel used here (typed structurally: this module is compiled with Node's
 * types too). `ref`/`unref` exist where the host counts open handles (Node, when this build is
 * run there, e.g. in a jsdom test environment): the port holds the process open only while a
 * batch is waiting, never after.
 */
interface Channel {
  port1: { onmessage: ((event: unknown) => void) | null; ref?(): void; unref?(): void };
  port2: { postMessage(message: unknown): void };
}

const pending: Array<() => void> = [];
let channel: Channel | undefined;

function runPending(): void {
  // only those queued before this message: callbacks they queue wait for the next one
  const batch = pending.splice(0);
  for (const fn of batch) {
    try {
      fn();
    } catch (error) {
      queueMicrotask(() => {
        throw error; // reported as uncaught, as setImmediate would; the rest of the batch still runs
      });
    }
  }
  if (pending.length === 0) channel!.port1.unref?.();
}

/** Runs `fn` in a later macrotask: one MessageChannel message per batch of callbacks. */
export function nextMacrotask(fn: () => void): void {
  if (channel === undefined) {
    channel = new MessageChannel() as unknown as Channel;
    channel.port1.onmessage = runPending; // assigning onmessage also starts the port
  }
  pending.push(fn);
  if (pending.length === 1) {
    channel.port1.ref?.();
    channel.port2.postMessage(null);
  }
}

export const FAKE_TIMERS_MESSAGE: string = 'ringkernel: the scheduling primitive was replaced';

/** A MessageChannel cannot be faked by timer libraries; nothing to detect in a browser. */
export const timersFaked = (): boolean => false;
