import { DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY } from './contract.js';

/**
 * Checks a priority value and returns it as a bucket index. `undefined` means the default.
 * Throws TypeError for a non-number and RangeError for NaN, a fraction or a value outside 0..255.
 */
export function checkPriority(priority: unknown): number {
  if (priority === undefined) return DEFAULT_PRIORITY;
  if (typeof priority !== 'number') {
    throw new TypeError(`priority must be a number, got ${typeof priority}`);
  }
  // `p >>> 0 === p` is true exactly for integers in 0..2^32-1: one check for NaN, fractions and negatives.
  if (priority >>> 0 !== priority || priority > MAX_PRIORITY) {
    throw new RangeError(`priority must be an integer in ${MIN_PRIORITY}..${MAX_PRIORITY}, got ${priority}`);
  }
  return priority;
}

/** The bucket a queued message belongs to; throws for a non-object message or a bad priority. */
export function priorityOf(message: unknown): number {
  if (typeof message !== 'object' || message === null) {
    throw new TypeError(`a message must be an object, got ${message === null ? 'null' : typeof message}`);
  }
  // A promise cannot resolve to a thenable (it would adopt it), so `get` could never return one.
  if (typeof (message as { then?: unknown }).then === 'function') {
    throw new TypeError('a message must not be a thenable (it has a then() method)');
  }
  return checkPriority((message as { priority?: unknown }).priority);
}

export interface MessageMeta {
  /** Integer 0..255, higher is more urgent. Default 128. */
  priority?: number;
  /** Ties a reply to its request. */
  correlationId?: string;
}

/** What `message()` returns: the caller's fields plus a unique id, a checked priority and the correlation id. */
export type Message<F extends object = Record<string, unknown>> = F & {
  readonly id: string;
  readonly priority: number;
  readonly correlationId: string | undefined;
};

let nextId = 0;
const idPrefix = Date.now().toString(36);

/**
 * Builds a message: `fields` plus `id` (unique within the process), a validated `priority`
 * (default 128) and `correlationId`. Throws on a bad priority, like the queues do.
 */
export function message<F extends object>(fields: F, meta: MessageMeta = {}): Message<F> {
  if (typeof fields !== 'object' || fields === null) throw new TypeError('message fields must be an object');
  const priority = checkPriority(meta.priority !== undefined ? meta.priority : (fields as { priority?: unknown }).priority);
  const correlationId = meta.correlationId;
  if (correlationId !== undefined && typeof correlationId !== 'string') {
    throw new TypeError('correlationId must be a string');
  }
  return { ...fields, id: `${idPrefix}-${(nextId++).toString(36)}`, priority, correlationId };
}
