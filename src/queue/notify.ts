/**
 * Calling user callbacks (onDrop, profile listeners, onTick) from inside ringkernel's own work.
 */

/**
 * Calls a user callback after the caller's state is final. A throwing callback must not turn
 * completed work (a put, a submission, a tick) into a failed one, so its error is rethrown on its
 * own (queueMicrotask: an uncaught exception).
 */
export function notify<T>(callback: (value: T) => void, value: T): void {
  try {
    callback(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
