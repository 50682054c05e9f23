/**
 * Request/reply: `sendAndReceive` tags its message with a correlation tag, unique for the
 * runtime's life (53-bit, never reused); every output emitted while handling a tagged message
 * carries its tag, through every stage of a pipeline. A terminal kernel's tagged outputs come
 * back as replies (backend.ts): the first reply to a request resolves it; further replies, and
 * replies nobody waits for any more (the caller timed out or aborted), go to `receive`.
 *
 * To reject a request as soon as it can have no reply (not after a timeout), each request
 * counts its *live* messages per kernel, i.e. where they wait: 1 in the first kernel's input
 * when sent; a non-terminal kernel consuming one with k emits moves it on as k messages in the
 * next kernel's input; a terminal kernel consuming one (its outputs become replies), DROP_OLDEST
 * evicting one, or the kernel holding it being terminated takes it away. A request whose live
 * count reaches 0 without a reply rejects (NoReplyError; KernelStateError when its kernel was
 * terminated). A request stays tracked after its caller gave up, until its live count is 0, so
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
  /** live messages by the kernel whose input queue holds them */
  liveAt: Map<string, number>;
  /** the caller still waits */
  waiting: boolean;
  resolve: (message: object) => void;
  reject: (error: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Why a request's last live message is gone: the error its caller gets. */
type Gone = (e: PendingRequest) => Error;

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
      entry = { kernelId, chainEnd, live: 1, liveAt: new Map([[kernelId, 1]]), waiting: true, resolve, reject };
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
   * Kernel `kernelId`'s tick: its tagged consumptions (their outputs went into `next`'s input,
   * or, `next` null, became replies), then its replies. Returns the replies that go to `receive`.
   */
  onTick(kernelId: string, next: string | null, events: readonly TagEvent[], replies: readonly Reply[]): Reply[] {
    for (const ev of events) {
      const e = this.pending.get(ev.tag);
      if (e === undefined) continue;
      this.move(e, kernelId, -1);
      if (next !== null) this.move(e, next, ev.emits);
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
    for (const ev of events) {
      const reason = `its message was processed by '${kernelId}' and produced no output${ev.failure !== null ? ` (it ${ev.failure})` : ''}`;
      this.retire(ev.tag, (e) => new NoReplyError(e.kernelId, reason, kernelId, ev.failure));
    }
    return toReceive;
  }

  /** A tagged message was evicted from `kernelId`'s input by DROP_OLDEST before it was processed. */
  dropped(kernelId: string, tag: number): void {
    const e = this.pending.get(tag);
    if (e === undefined) return;
    this.move(e, kernelId, -1);
    const reason = `its message was dropped from '${kernelId}''s input queue (DROP_OLDEST) before it was processed`;
    this.retire(tag, (r) => new NoReplyError(r.kernelId, reason, kernelId, null));
  }

  /**
   * Kernel `kernelId` was terminated: the messages its input queue held are gone. A request with
   * none left anywhere rejects with `error`; one whose messages already went downstream is still
   * answered there.
   */
  kernelTerminated(kernelId: string, error: Error): void {
    for (const [tag, e] of this.pending) {
      const here = e.liveAt.get(kernelId);
      if (here === undefined) continue;
      this.move(e, kernelId, -here);
      this.retire(tag, () => error);
    }
  }

  private move(e: PendingRequest, kernelId: string, delta: number): void {
    const at = (e.liveAt.get(kernelId) ?? 0) + delta;
    if (at > 0) e.liveAt.set(kernelId, at);
    else e.liveAt.delete(kernelId);
    e.live += delta;
    this.live += delta;
  }

  /** Forgets a request with no live message left; rejects it (`gone`) if its caller still waits. */
  private retire(tag: number, gone: Gone): void {
    const e = this.pending.get(tag);
    if (e === undefined || e.live > 0) return;
    this.pending.delete(tag);
    this.live -= e.live;
    if (e.waiting) {
      e.waiting = false;
      this.disarm(e);
      e.reject(gone(e));
    }
  }

  /** Rejects every waiting request (the backend failed); tracking stops. */
  rejectAll(error: Error): void {
    for (const e of this.pending.values()) {
      if (!e.waiting) continue;
      e.waiting = false;
      this.disarm(e);
      e.reject(error);
    }
    this.pending.clear();
    this.live = 0;
  }

  /** Requests still tracked (tests: none is left behind). */
  get tracked(): number {
    return this.pending.size;
  }
}
