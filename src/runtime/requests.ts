/**
 * Request/reply: `sendAndReceive` tags its message with a correlation tag, unique for the
 * runtime's life (53-bit, never reused); every output emitted while handling a tagged message
 * carries its tag, through every stage of a pipeline. A terminal kernel's tagged outputs come
 * back as replies (backend.ts): the first reply to a request resolves it; further replies, and
 * replies nobody waits for any more (the caller timed out or aborted), go to `receive`.
 *
 * To reject a request as soon as it can have no reply (not after a timeout), each request
 * counts its *live* messages: 1 when sent; a non-terminal kernel consuming one with k emits adds
 * k - 1; a terminal kernel consuming one (its outputs become replies) or DROP_OLDEST evicting
 * one subtracts 1. A request whose live count reaches 0 without a reply rejects with
 * NoReplyError. A request stays tracked after its caller gave up, until its live count is 0, so
 * the number of tagged messages in flight stays exact (the GPU backend sizes readbacks by it).
 */
import { QueueTimeoutError } from '../queue/errors.js';
import type { Wait } from '../queue/waiters.js';
import type { Reply, TagEvent } from './backend.js';
import { NoReplyError } from './errors.js';

interface PendingRequest {
  kernelId: string;
  /** the last kernel of its sendsTo chain, where its replies come from */
  chainEnd: string;
  live: number;
  /** the caller still waits */
  waiting: boolean;
  resolve: (message: object) => void;
  reject: (error: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class Requests {
  private next = 1;
  private readonly pending = new Map<number, PendingRequest>();
  /** tagged messages in flight, over all requests */
  live = 0;

  /** A new request to `kernelId` (whose chain ends at `chainEnd`): its tag and the promise of its reply. */
  open(kernelId: string, chainEnd: string, wait: Wait | undefined): { tag: number; reply: Promise<object> } {
    const tag = this.next++;
    let entry!: PendingRequest;
    const reply = new Promise<object>((resolve, reject) => {
      entry = { kernelId, chainEnd, live: 1, waiting: true, resolve, reject };
    });
    this.pending.set(tag, entry);
    this.live++;
    if (wait?.timeout !== undefined && wait.timeout !== Infinity) {
      const timeout = wait.timeout;
      entry.timer = setTimeout(() => this.giveUp(tag, new QueueTimeoutError(`no reply within ${timeout} ms`)), Math.min(timeout, 2 ** 31 - 1));
    }
    if (wait?.signal !== undefined) {
      const signal = wait.signal;
      entry.signal = signal;
      entry.onAbort = () => this.giveUp(tag, signal.reason);
      signal.addEventListener('abort', entry.onAbort, { once: true });
    }
    return { tag, reply };
  }

  /** The request's message never entered the queue (its send failed): it rejects with the send's error. */
  sendFailed(tag: number, error: unknown): void {
    const e = this.pending.get(tag);
    if (e === undefined) return;
    this.disarm(e);
    this.pending.delete(tag);
    this.live -= e.live;
    if (e.waiting) e.reject(error);
  }

  /** The caller stops waiting (timeout, abort); the request stays tracked until its messages are gone. */
  private giveUp(tag: number, error: unknown): void {
    const e = this.pending.get(tag);
    if (e === undefined || !e.waiting) return;
    e.waiting = false;
    this.disarm(e);
    e.reject(error);
  }

  private disarm(e: PendingRequest): void {
    if (e.timer !== undefined) clearTimeout(e.timer);
    if (e.onAbort !== undefined) e.signal!.removeEventListener('abort', e.onAbort);
    e.timer = undefined;
    e.onAbort = undefined;
  }

  /**
   * One kernel's tick: its tagged consumptions, then (a terminal kernel) its replies. Returns
   * the replies that go to `receive` instead.
   */
  onTick(terminal: boolean, events: readonly TagEvent[], replies: readonly Reply[]): Reply[] {
    for (const ev of events) {
      const e = this.pending.get(ev.tag);
      if (e === undefined) continue;
      const delta = terminal ? -1 : ev.emits - 1;
      e.live += delta;
      this.live += delta;
    }
    const toReceive: Reply[] = [];
    for (const r of replies) {
      const e = this.pending.get(r.tag);
      if (e !== undefined && e.waiting) {
        e.waiting = false;
        this.disarm(e);
        e.resolve(r.message);
      } else {
        toReceive.push(r);
      }
    }
    for (const ev of events) this.retire(ev.tag, 'its message was processed and produced no output');
    return toReceive;
  }

  /** A tagged message was evicted by DROP_OLDEST before it was processed. */
  dropped(tag: number): void {
    const e = this.pending.get(tag);
    if (e === undefined) return;
    e.live--;
    this.live--;
    this.retire(tag, 'its message was dropped from the input queue (DROP_OLDEST) before it was processed');
  }

  /** Forgets a request with no live message left; rejects it if its caller still waits. */
  private retire(tag: number, reason: string): void {
    const e = this.pending.get(tag);
    if (e === undefined || e.live > 0) return;
    this.pending.delete(tag);
    this.live -= e.live;
    if (e.waiting) {
      e.waiting = false;
      this.disarm(e);
      e.reject(new NoReplyError(e.kernelId, reason));
    }
  }

  /** Rejects the waiting requests sent to `kernelId` (terminated) or, without an id, all of them; tracking stops. */
  rejectAll(error: Error, kernelId?: string): void {
    for (const [tag, e] of this.pending) {
      if (kernelId !== undefined && e.kernelId !== kernelId) continue;
      if (e.waiting) {
        e.waiting = false;
        this.disarm(e);
        e.reject(error);
      }
      if (kernelId === undefined) {
        this.pending.delete(tag);
        this.live -= e.live;
      }
    }
  }

  /**
   * The last kernel of a chain was terminated: every kernel before it already was, so the
   * requests routed through it have no message left anywhere. They stop being tracked (the ones
   * still waiting were rejected when their kernel was terminated).
   */
  forgetChainEnd(kernelId: string): void {
    for (const [tag, e] of this.pending) {
      if (e.chainEnd !== kernelId) continue;
      this.pending.delete(tag);
      this.live -= e.live;
      if (e.waiting) {
        e.waiting = false;
        this.disarm(e);
        e.reject(new NoReplyError(e.kernelId, `kernel '${kernelId}' was terminated`));
      }
    }
  }

  /** Requests still tracked (tests: none is left behind). */
  get tracked(): number {
    return this.pending.size;
  }
}
