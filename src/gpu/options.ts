/**
 * GpuMessageQueue's options, and their check: everything is validated before anything is
 * allocated (a device acquired, a buffer created).
 */
import type { QueueOptions } from '../queue/contract.js';
import { resolveQueueOptions } from '../queue/backpressure.js';
import type { MessageSchema } from '../schema/define-message.js';
import { HEAD_MAX } from './head-copy.js';

export interface GpuQueueOptions<T> extends QueueOptions<T> {
  /** Fixed-layout payloads stored on the device; without it, any object (opaque mode). */
  schema?: MessageSchema<T & object>;
  /** Device to use; default: one shared device acquired on first use. */
  device?: GPUDevice;
  /**
   * How many of the most urgent messages each submission fetches and the host keeps current for
   * getNowait/peek, 0..64. Default 32. 0: the host keeps no copy of the head: every get,
   * getMany, getNowait and peek is answered by the device (getNowait/peek from the head a
   * flush fetched; they return null until one did).
   */
  prefetch?: number;
  /**
   * Check every answer the host gave from its own copy (a pop from the head copy, an eviction
   * it named, a peek) against the device, and the device's size and sequence number against the
   * host's; a disagreement fails the queue closed with GpuQueueError. Default false.
   */
  verify?: boolean;
  /** @internal first ticket of every bucket (tests of u32 ticket wrap-around) */
  initialTicket?: number;
  /** @internal first insertion sequence number, below 2^53 (tests of long-lived queues) */
  initialSeq?: number;
  /** @internal largest upload/output buffer of one submission in bytes (tests); default and maximum: the device's limits */
  maxBindingBytes?: number;
}

export interface ResolvedGpuOptions {
  maxSize: number;
  backpressure: string;
  prefetch: number;
  verify: boolean;
}

/** Checks every option (the shared ones through resolveQueueOptions); throws TypeError/RangeError naming the option. */
export function resolveGpuOptions<T>(options: GpuQueueOptions<T>): ResolvedGpuOptions {
  const { maxSize, backpressure } = resolveQueueOptions(options);
  const { schema, device, prefetch = 32, verify = false, initialSeq, initialTicket, maxBindingBytes } = options;
  if (schema !== undefined && (typeof schema !== 'object' || schema === null || typeof schema.pack !== 'function' || !Number.isInteger(schema.words))) {
    throw new TypeError('schema must be a message schema from defineMessage()');
  }
  if (device !== undefined && (typeof device !== 'object' || device === null || typeof (device as GPUDevice).createBuffer !== 'function')) {
    throw new TypeError('device must be a GPUDevice');
  }
  if (typeof prefetch !== 'number' || !Number.isInteger(prefetch) || prefetch < 0 || prefetch > HEAD_MAX) {
    throw new RangeError(`prefetch must be an integer 0..${HEAD_MAX}, got ${String(prefetch)}`);
  }
  if (typeof verify !== 'boolean') throw new TypeError(`verify must be a boolean, got ${typeof verify}`);
  if (initialSeq !== undefined && (!Number.isSafeInteger(initialSeq) || initialSeq < 0)) {
    throw new RangeError(`initialSeq must be an integer 0..2^53 - 1, got ${String(initialSeq)}`);
  }
  if (initialTicket !== undefined && (!Number.isInteger(initialTicket) || initialTicket < 0 || initialTicket > 0xffffffff)) {
    throw new RangeError(`initialTicket must be a u32, got ${String(initialTicket)}`);
  }
  if (maxBindingBytes !== undefined && (!Number.isSafeInteger(maxBindingBytes) || maxBindingBytes < 4096)) {
    throw new RangeError(`maxBindingBytes must be an integer >= 4096, got ${String(maxBindingBytes)}`);
  }
  return { maxSize, backpressure, prefetch, verify };
}
