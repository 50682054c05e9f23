/** Raised (as a rejection, or thrown by synchronous members) when a queue cannot take a message. */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
  /**
   * How many messages of the call were enqueued before it failed. Always 0 for `put`;
   * for `putMany` under BLOCK, the messages before this index are in the queue (or were
   * delivered) and the rest were not enqueued.
   */
  readonly accepted: number;
  constructor(message = 'queue is full', accepted = 0) {
    super(message);
    this.accepted = accepted;
  }
}

/**
 * A `get`/`getMany` that waited past its timeout. Its `name` is `'TimeoutError'`, like the
 * reason of `AbortSignal.timeout()`, so one `err.name === 'TimeoutError'` check covers both.
 */
export class QueueTimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(message = 'timed out waiting for a message') {
    super(message);
  }
}

/** Every call on a closed queue, and every operation still waiting when it closed, fails with this. */
export class QueueClosedError extends Error {
  override name = 'QueueClosedError';
  constructor(message = 'queue is closed') {
    super(message);
  }
}
