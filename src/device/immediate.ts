/**
 * WebGPU's Node binding (Dawn) resolves `mapAsync` and `onSubmittedWorkDone` through the
 * *global* setImmediate: with it faked (e.g. `vi.useFakeTimers()` with its defaults) a readback
 * never resolves. ringkernel schedules its own work with the real setImmediate, captured here
 * at load, and refuses to submit while the global one is faked, with an error that says so.
 */
export const realSetImmediate: typeof setImmediate = globalThis.setImmediate;

export const FAKE_IMMEDIATE_MESSAGE =
  "ringkernel: setImmediate is faked; WebGPU's Node binding resolves mapAsync through it: fake only setTimeout/setInterval " +
  "(e.g. vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }))";

/** True while the global setImmediate is not the one captured at load (a fake timer library replaced it). */
export const immediateFaked = (): boolean => typeof setImmediate === 'function' && globalThis.setImmediate !== realSetImmediate;
