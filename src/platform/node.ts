/**
 * The platform layer for Node.js: WebGPU comes from the `webgpu` package (Dawn's Node binding),
 * and the next macrotask is the real `setImmediate`.
 *
 * The browser build replaces this module with `browser.ts` (scripts/build.mjs), which exports
 * the same names; test/platform.test.ts checks that the two agree. Nothing else in `src/`
 * touches a Node built-in or `process`, so the browser bundle carries neither.
 */
import { GpuUnavailableError } from '../device/errors.js';

export const PLATFORM = 'node';

export const INSTALL_HINT =
  'Install a Vulkan driver: a GPU vendor driver, or Mesa >= 24 lavapipe (software), e.g. on Debian 12: ' +
  '`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (Debian 12 needs bookworm-backports: ' +
  'its own Mesa 22 lavapipe lacks features Dawn requires). Then make sure the `webgpu` npm package is installed.';

/** `navigator.gpu` where the runtime has one (Deno, Node with a WebGPU global), else Dawn's binding. */
export async function loadWebGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp'; // lavapipe prints an error line without it
  let mod: { create: (flags: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (error) {
    throw new GpuUnavailableError(`no navigator.gpu and the 'webgpu' package failed to load (${String(error)}). ${INSTALL_HINT}`);
  }
  Object.assign(globalThis, mod.globals);
  return mod.create([]);
}

/**
 * Dawn's Node binding resolves `mapAsync` and `onSubmittedWorkDone` through the *global*
 * setImmediate: with it faked (e.g. `vi.useFakeTimers()` with its defaults) a readback never
 * resolves. ringkernel schedules its own work with the real setImmediate, captured here at
 * load, and refuses to submit while the global one is faked, with an error that says so.
 */
const realSetImmediate: typeof setImmediate = globalThis.setImmediate;

/** Runs `fn` in a later turn of the event loop, after pending I/O callbacks. */
export function nextMacrotask(fn: () => void): void {
  realSetImmediate(fn);
}

export const FAKE_TIMERS_MESSAGE =
  "ringkernel: setImmediate is faked; WebGPU's Node binding resolves mapAsync through it: fake only setTimeout/setInterval " +
  "(e.g. vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }))";

/** True while the global setImmediate is not the one captured at load (a fake timer library replaced it). */
export const timersFaked = (): boolean => typeof setImmediate === 'function' && globalThis.setImmediate !== realSetImmediate;
