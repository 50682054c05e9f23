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

/**
 * For an adapter-less WebGPU: the `webgpu` package loaded, so what is missing is a Vulkan driver
 * (dawn.node opens libvulkan only when it looks for adapters).
 */
export const INSTALL_HINT =
  'Install a Vulkan driver: a GPU vendor driver, or Mesa >= 24 lavapipe (software), e.g. on Debian 12: ' +
  '`apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` (Debian 12 needs bookworm-backports: ' +
  'its own Mesa 22 lavapipe lacks features Dawn requires).';

const PACKAGE = "WebGPU is unavailable: the optional 'webgpu' package (Dawn's Node binding)";

/**
 * Says why `import('webgpu')` failed. Only a missing package warrants "install it"; anything
 * else (no prebuilt binary for this platform, a native part that does not load) is a broken
 * install, and the load error says which.
 */
function packageFailure(error: unknown): GpuUnavailableError {
  const missing = (error as { code?: unknown })?.code === 'ERR_MODULE_NOT_FOUND' && /package 'webgpu'/.test(String(error));
  const cause = missing
    ? `${PACKAGE} is not installed (npm install webgpu), or use the CPU backend`
    : `${PACKAGE} failed to load on ${process.platform}-${process.arch}; reinstall it (npm install webgpu), or use the CPU backend`;
  return new GpuUnavailableError(`${cause}. Load error: ${String(error)}`, { cause: error });
}

/** `navigator.gpu` where the runtime has one (Deno, Node with a WebGPU global), else Dawn's binding. */
export async function loadWebGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp'; // lavapipe prints an error line without it
  let mod: { create: (flags: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (error) {
    throw packageFailure(error);
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
