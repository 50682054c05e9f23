/**
 * When a send reaches its kernel's input queue. With no tick in flight, at once: the queue's
 * backpressure decides on the exact size. With ticks in flight, once every one of them is read
 * back (only then is the room exact), in the order the sends were made, unless the tick loop
 * admits it ahead (tick-loop.ts, TICKS IN FLIGHT). A send that waits takes its messages as they
 * were at the call, and its timeout and signal count from the call: either rejects it on time,
 * and its message is then not sent (a timeout of 0 is decided at the readback: before it the
 * room is not known).
 */
import type { WaitOptions } from '../queue/contract.js';
import { QueueFullError } from '../queue/errors.js';
import type { Wait } from '../queue/waiters.js';
import { KernelStateError } from './errors.js';
import type { KernelRecord } from './kernels.js';
import { KernelState } from './state.js';

export type SendOperation = 'send' | 'sendMany' | 'sendManyPacked' | 'sendAndReceive';

interface DeferredSend {
  record: KernelRecord;
  wait: Wait | undefined;
  since: number;
  op: SendOperation;
  run: (wait: WaitOptions | undefined) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
  onAbort?: () => void;
}

function disarm(d: DeferredSend): void {
  if (d.timer !== undefined) clearTimeout(d.timer);
  if (d.onAbort !== undefined) d.wait!.signal!.removeEventListener('abort', d.onAbort);
  d.timer = undefined;
  d.onAbort = undefined;
}

/** A queue's QueueFullError as the runtime reports it: the operation and the kernel named, one wording on both backends. */
function namedFull(op: SendOperation, r: KernelRecord, error: unknown): unknown {
  if (!(error instanceof QueueFullError)) return error;
  const id = r.id;
  if (op === 'send' || op === 'sendAndReceive') {
    return new QueueFullError(
      /timed out/.test(error.message)
        ? `${op}('${id}'): kernel '${id}''s input queue stayed full until the timeout`
        : `${op}('${id}'): kernel '${id}''s input queue is full (inputQueueSize ${r.config.inputQueueSize}, backpressure '${r.config.backpressure}')`,
    );
  }
  return new QueueFullError(`${op}('${id}'): kernel '${id}''s input queue: ${error.message}`, error.accepted);
}

/** What admission asks of the runtime. */
export interface AdmissionHost {
  /** ticks in flight (not yet read back) */
  inFlight(): number;
  /** whether `count` messages to `r` are admitted now although ticks are in flight */
  admitsAhead(r: KernelRecord, count: number): boolean;
  /** asks for a tick; `overlap`: the request brings work the ticks in flight do not carry */
  request(overlap: boolean): void;
  /** whether `r` is still the live record of its id */
  isLive(r: KernelRecord): boolean;
}

export class SendAdmission {
  private deferred: DeferredSend[] = [];

  constructor(private readonly host: AdmissionHost) {}

  /** Sends waiting for the ticks in flight to be read back. */
  get waiting(): number {
    return this.deferred.length;
  }

  /** A send now, or once the ticks in flight are read back (see above). */
  admit(
    record: KernelRecord,
    wait: Wait | undefined,
    op: SendOperation,
    messages: readonly object[],
    count: number,
    send: (messages: readonly object[], wait: WaitOptions | undefined) => Promise<void>,
  ): Promise<void> {
    if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
    if (this.deferred.length === 0) {
      const flying = this.host.inFlight() > 0;
      if (!flying || this.host.admitsAhead(record, count)) {
        const p = send(messages, wait).catch((error: unknown) => Promise.reject(namedFull(op, record, error)));
        this.host.request(flying);
        return p;
      }
    }
    // the messages as they are now (checked already): the caller may change its objects while the send waits
    const kept = messages.map((m) => record.def.input.copy(m));
    const run = (w: WaitOptions | undefined): Promise<void> => send(kept, w);
    return new Promise<void>((resolve, reject) => {
      const d: DeferredSend = { record, wait, since: performance.now(), run, resolve: resolve as (v: unknown) => void, reject, op };
      const timeout = wait?.timeout;
      if (timeout !== undefined && timeout > 0 && timeout !== Infinity) {
        d.timer = setTimeout(() => this.giveUp(d, new QueueFullError(`${op}('${record.id}'): not admitted within ${timeout} ms (a tick was in flight)`)), Math.min(timeout, 2 ** 31 - 1));
      }
      const signal = wait?.signal;
      if (signal !== undefined) {
        d.onAbort = () => this.giveUp(d, signal.reason);
        signal.addEventListener('abort', d.onAbort, { once: true });
      }
      this.deferred.push(d);
    });
  }

  private giveUp(d: DeferredSend, error: unknown): void {
    const at = this.deferred.indexOf(d);
    if (at < 0) return;
    this.deferred.splice(at, 1);
    disarm(d);
    d.reject(error);
  }

  /** Makes the deferred sends (those `which` picks), in order; call it when no tick is in flight. */
  apply(which: (record: KernelRecord) => boolean = () => true): void {
    const list = this.deferred.filter((d) => which(d.record));
    if (list.length === 0) return;
    this.deferred = this.deferred.filter((d) => !which(d.record));
    for (const d of list) {
      disarm(d);
      if (!this.host.isLive(d.record) || d.record.kernel === null) {
        d.reject(new KernelStateError(d.record.id, KernelState.TERMINATED, 'send', 'the kernel was terminated while the send waited'));
        continue;
      }
      const w = d.wait;
      if (w?.signal?.aborted) {
        d.reject(w.signal.reason);
        continue;
      }
      let wait: WaitOptions | undefined = w;
      if (w?.timeout !== undefined && w.timeout !== Infinity) wait = { signal: w.signal, timeout: Math.max(0, w.timeout - (performance.now() - d.since)) };
      // (one send failing, even synchronously, rejects that send only)
      let sent: Promise<unknown>;
      try {
        sent = d.run(wait);
      } catch (error) {
        sent = Promise.reject(error);
      }
      sent.then(d.resolve, (error: unknown) => d.reject(namedFull(d.op, d.record, error)));
    }
    this.host.request(false);
  }

  /** Rejects every deferred send with `error` (the device was lost). */
  rejectAll(error: Error): void {
    for (const d of this.deferred) {
      disarm(d);
      d.reject(error);
    }
    this.deferred = [];
  }
}
