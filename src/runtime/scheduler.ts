/**
 * When ticks run. A tick is requested whenever work may have appeared (a send, a receive, an
 * activation, a blocked sender admitted); it runs at the end of the current turn of the event
 * loop, so everything sent in one turn goes into one tick. One tick at a time: a request made
 * while a tick runs makes the next one start as soon as this one is done. A tick that finds
 * nothing to do ends the loop, and nothing runs (no timer, no polling) until the next request.
 */
import { nextMacrotask } from '../platform/index.js';

export class TickScheduler {
  private scheduled = false;
  private running = false;
  /** the running tick's submission is read back (its results are being delivered) */
  private landed = false;
  private again = false;
  private idleWaiters: (() => void)[] = [];
  /** waiting for a tick that starts after they asked */
  private nextWaiters: (() => void)[] = [];
  private doneWaiters: (() => void)[] = [];

  /**
   * `tick` runs one tick; it resolves with whether it did anything (then another may be
   * needed). A tick that throws ends the loop and goes to `failed` (the runtime fails closed).
   */
  constructor(
    private readonly tick: () => Promise<boolean>,
    private readonly failed: (error: Error) => void,
  ) {}

  /** Whether a tick's submission is in flight (running and not yet read back). */
  get inFlight(): boolean {
    return this.running && !this.landed;
  }

  /** The running tick's readback arrived: sends may go straight to the queues again (the next tick carries them). */
  land(): void {
    this.landed = true;
  }

  request(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    nextMacrotask(() => void this.loop());
  }

  private async loop(): Promise<void> {
    this.scheduled = false;
    this.running = true;
    this.landed = false;
    const next = this.nextWaiters;
    this.nextWaiters = [];
    let didWork = false;
    try {
      didWork = await this.tick();
    } catch (error) {
      this.failed(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.running = false;
      const done = this.doneWaiters;
      this.doneWaiters = [];
      for (const w of done) w();
      for (const w of next) w();
    }
    if (didWork || this.again) {
      this.again = false;
      this.request();
      return;
    }
    const idle = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of idle) w();
  }

  /** Resolves once no tick runs or is due: everything that could be processed was. */
  idle(): Promise<void> {
    if (!this.running && !this.scheduled) {
      // one more look: a tick may be needed for work recorded without a request
      return new Promise((resolve) => {
        this.idleWaiters.push(resolve);
        this.request();
      });
    }
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves once a tick that starts after this call is done (requesting one). */
  nextTick(): Promise<void> {
    return new Promise((resolve) => {
      this.nextWaiters.push(resolve);
      this.request();
    });
  }

  /** Resolves once the tick in flight (if any) is done. */
  settled(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.doneWaiters.push(resolve));
  }
}
