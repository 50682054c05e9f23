/**
 * Device loss, watched once per device.
 *
 * Every GPU object of ringkernel must learn when its device is lost, and none may be kept
 * alive by the device after it is closed: a `device.lost.then(() => queue.onLost())` per queue
 * would keep every queue ever made on a shared device reachable for the device's whole life.
 * So each device gets one `lost` handler, which calls the listeners registered *now*; an object
 * removes its listener when it closes and is then unreachable from the device.
 *
 * Loss is known only from `device.lost`: an error's text ("destroyed buffer ...") says nothing
 * about the device (a validation error can name a destroyed buffer of the caller's).
 */
export type LossListener = (reason: string) => void;

const listeners = new WeakMap<GPUDevice, Set<LossListener>>();
const lostDevices = new WeakMap<GPUDevice, string>();

/** Calls `listener` once if `device` is lost; returns the function that unregisters it. */
export function onDeviceLost(device: GPUDevice, listener: LossListener): () => void {
  const known = lostDevices.get(device);
  if (known !== undefined) {
    queueMicrotask(() => listener(known));
    return () => undefined;
  }
  let set = listeners.get(device);
  if (set === undefined) {
    const created = new Set<LossListener>();
    set = created;
    listeners.set(device, created);
    void device.lost.then((info) => {
      const reason = info.message || String(info.reason);
      lostDevices.set(device, reason);
      const now = [...created];
      created.clear();
      for (const l of now) l(reason);
    });
  }
  const own = set;
  own.add(listener);
  return () => {
    own.delete(listener);
  };
}

/** Whether `device.lost` has resolved (as seen by this module; listeners run in the same turn). */
export function isDeviceLost(device: GPUDevice): boolean {
  return lostDevices.has(device);
}

/** @internal number of live listeners on a device (tests: closed objects must not stay registered) */
export function lossListenerCount(device: GPUDevice): number {
  return listeners.get(device)?.size ?? 0;
}
