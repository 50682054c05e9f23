/**
 * When ticks run. A tick is requested whenever work may have appeared (a send, a receive, an
 * activation, a blocked sender admitted); it starts at the end of the current turn of the event
 * loop, so everything sent in one turn goes into one tick. A tick that finds nothing to do ends
 * the loop, and nothing runs (no timer, no polling) until the next request.
 *
 * TICKS IN FLIGHT  A tick is in flight from its submission until its readback lands. With a
 * depth of 1, one tick runs at a time: a request made while it runs makes the next one start as
 * soon as it is done. With a depth d > 1, a request for new work (a send admitted while ticks fly)
 * made while fewer than d ticks are in flight starts the next one at once when `mayOverlap()`
 * says the host's view allows it (tick-loop.ts, TICKS IN FLIGHT), so the host plans and encodes
 * while the device works. Results land in
 * submission order. Nobody waiting for `settled()` is kept waiting by new ticks: while someone
 * waits, no tick starts beside a running one, so the running ones drain.
 */
import { nextMacrotask } from '../platform/index.js';

/** One tick: `land()` once its submission is read back (before its results are delivered); resolves with whether it did anything. */
export type TickRun = (land: () => void) => Promise<boolean>;

export class TickScheduler {
  private scheduled = false;
  /** ticks started and not done */
  private running = 0;
  /** ticks started whose submission is not read back yet */
  private flying = 0;
  private again = false;
  private idleWaiters: (() => void)[] = [];
  /** waiting for a tick that starts after they asked */
  private nextWaiters: (() => void)[] = [];
  private doneWaiters: (() => void)[] = [];

  /**
   * `tick` runs one tick; a tick that throws ends the loop and goes to `failed` (the runtime
   * fails closed). `depth()` is the most ticks in flight at once; `mayOverlap()` whether a tick
   * may start now beside the ones in flight.
   */
  constructor(
    private readonly tick: TickRun,
    private readonly failed: (error: Error) => void,
    private readonly depth: () => number = () => 1,
    private readonly mayOverlap: () => boolean = () => false,
  ) {}

  /** Ticks whose submission is in flight (started and not yet read back). */
  get inFlight(): number {
    return this.flying;
  }

  /**
   * Asks for a tick. `overlap`: the request brings work that the ticks in flight do not carry (a
   * send admitted while they fly), so a tick may start beside them; any other request made while
   * a tick runs (a receive, an activation) is served by the next tick after them, as at depth 1.
   */
  request(overlap = false): void {
    if (this.running > 0 && !(overlap && this.canOverlap())) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    nextMacrotask(() => this.start());
  }

  private canOverlap(): boolean {
    return this.flying === this.running && this.flying < this.depth() && this.doneWaiters.length === 0 && this.mayOverlap();
  }

  private start(): void {
    this.scheduled = false;
    // (the view may have changed since the request: a receive recorded, a lifecycle call waiting)
    if (this.running > 0 && !this.canOverlap()) {
      this.again = true;
      return;
    }
    this.running++;
    this.flying++;
    let landed = false;
    const land = (): void => {
      if (landed) return;
      landed = true;
      this.flying--;
    };
    const next = this.nextWaiters;
    this.nextWaiters = [];
    let run: Promise<boolean>;
    try {
      run = this.tick(land);
    } catch (error) {
      run = Promise.reject(error);
    }
    run.then(
      (didWork) => this.finish(land, next, didWork),
      (error: unknown) => {
        this.failed(error instanceof Error ? error : new Error(String(error)));
        this.finish(land, next, false);
      },
    );
  }

  private finish(land: () => void, next: (() => void)[], didWork: boolean): void {
    land();
    this.running--;
    if (this.running === 0) {
      const done = this.doneWaiters;
      this.doneWaiters = [];
      for (const w of done) w();
    }
    for (const w of next) w();
    // (an earlier tick done while later ones run: the last one to finish decides what follows,
    // when the host's view is exact again)
    if (didWork) this.again = true;
    if (this.running > 0) return;
    if (this.again) {
      this.again = false;
      this.request();
      return;
    }
    if (this.scheduled) return;
    const idle = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of idle) w();
  }

  /** Resolves once no tick runs or is due: everything that could be processed was. */
  idle(): Promise<void> {
    if (this.running === 0 && !this.scheduled) {
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

  /** Resolves once no tick runs (those in flight are done; none starts beside them meanwhile). */
  settled(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.doneWaiters.push(resolve));
  }
}
