/**
 * The tick loop: when a tick runs (scheduler.ts), what it plans (which kernels, each with an upper
 * bound of what it consumes and of the tagged messages among them), and what its results do
 * (telemetry clocks, replies and events to request/reply, the rest re-inserted).
 *
 * PLAN  The ACTIVE kernels that can make progress, upstream first (sendsTo order), so a message
 *   crosses a whole pipeline in one tick. A kernel is skipped when its input is empty (and no
 *   upstream kernel runs) or its output has no room for maxEmits outputs: a full pipeline stalls,
 *   and no tick runs until a receive makes room. A tick also runs for what was recorded on the
 *   queues (GPU: their op logs), of kernels on their way out too.
 *
 * TICKS IN FLIGHT (GPU backend, `ticksInFlight` > 1)  The next tick may be submitted before the
 * ones in flight are read back, only where the host's view that it plans from is safe to use
 * while the device still changes the queues:
 *   - Its bounds stay upper bounds: a kernel's input may also hold what in-flight ticks' upstream
 *     kernels emit (their bounds times maxEmits), its output room what in-flight ticks' downstream
 *     kernels take (their bounds). The device decides each tick's n from its own counts, as always.
 *   - The only host operations it carries are sends into the input of a kernel nothing sends to:
 *     there the host's size is never below the device's (ticks only take from it), so a send that
 *     fits the host's size, with nobody waiting before it, fits the device's too, and is admitted
 *     at once instead of at the readback (the answer the readback would give: accepted, nothing
 *     evicted). Every other send waits for the readback as before. A receive or a re-inserted reply
 *     waits for every tick in flight to land: the device's pop then follows everything pushed.
 *   - No request is tracked (its replies are re-inserted in tick order), no send is deferred or
 *     blocked (one admitted at a readback competes in the next take, by priority), and no lifecycle
 *     call waits for the ticks to settle; otherwise the ticks in flight drain first, and sends wait
 *     for the readback as at depth 1.
 *   - Only a send admitted while ticks fly starts a tick beside them; any other request (a
 *     receive, an activation) is served by the tick after them, as at depth 1.
 * Results land in submission order. The order of every queue is the device's, so it is what one
 * tick after another gives; what overlapping changes is only how many messages a tick finds.
 */
import { notify } from '../queue/notify.js';
import type { SendAdmission } from './admission.js';
import type { Backend, TickPlan } from './backend.js';
import type { TickTiming } from './config.js';
import type { KernelRecord, KernelTable } from './kernels.js';
import type { Requests } from './requests.js';
import { TickScheduler } from './scheduler.js';
import { KernelState } from './state.js';

/** What the tick loop asks of the runtime. */
export interface TickHost {
  readonly backend: Backend | null;
  readonly lostError: Error | null;
  readonly kernels: KernelTable;
  readonly requests: Requests;
  readonly admission: SendAdmission;
  readonly onTick: ((timing: TickTiming) => void) | undefined;
  readonly ticksInFlight: number;
  /** the backend failed: the runtime fails closed */
  lost(error: Error): void;
}

export class TickLoop {
  readonly scheduler: TickScheduler;
  /** each tick in flight's upper bounds of what its kernels consume, oldest first */
  private flyingBounds: Map<KernelRecord, number>[] = [];

  constructor(private readonly host: TickHost) {
    this.scheduler = new TickScheduler(
      (land) => this.runTick(land),
      (error) => host.lost(error),
      () => this.depth(),
      () => this.mayOverlap(),
    );
  }

  /** The most ticks in flight at once. */
  depth(): number {
    return this.host.backend?.overlaps === true ? this.host.ticksInFlight : 1;
  }

  /** Whether `count` messages sent to `r` are admitted at once although ticks are in flight, for a tick beside them (TICKS IN FLIGHT). */
  admitsAhead(r: KernelRecord, count: number): boolean {
    return this.depth() > 1 && r.kernel !== null && this.host.kernels.upstreamOf(r).length === 0 && r.kernel.fitsAhead(count) && this.mayOverlap();
  }

  /** Whether a tick may start now beside the ones in flight (TICKS IN FLIGHT). */
  private mayOverlap(): boolean {
    const h = this.host;
    if (h.backend === null || h.lostError !== null || h.requests.live > 0 || h.admission.waiting > 0) return false;
    for (const r of h.kernels.values()) {
      const k = r.kernel;
      if (k === null) continue;
      if (k.hasOutputHostWork || k.hasWaitingSenders) return false;
      if (k.hasInputHostWork && h.kernels.upstreamOf(r).length > 0) return false;
    }
    return true;
  }

  /**
   * One tick: the kernels that can make progress and every queue's recorded host operations;
   * false when there was nothing to do. `land()` once its submission is read back.
   */
  private async runTick(land: () => void): Promise<boolean> {
    const h = this.host;
    const backend = h.backend;
    if (backend === null || h.lostError !== null) return false;
    const start = h.onTick !== undefined ? performance.now() : 0;
    const ahead = this.flyingBounds;
    // (sends deferred for an exact view: only when no tick is in flight, which mayOverlap ensures otherwise)
    if (ahead.length === 0) h.admission.apply();
    const { order, upstream } = h.kernels.topology();
    const plan: TickPlan = { kernels: [] };
    const bound = new Map<KernelRecord, number>();
    // tagged messages a kernel can meet: every live one, times what upstream kernels can make of each
    const fanout = new Map<KernelRecord, number>();
    let hostWork = false;
    for (const r of order) {
      if (r.kernel === null) continue;
      // (a kernel on its way out runs no more, but what was recorded on its queues is carried out)
      if (r.kernel.hasHostWork) hostWork = true;
      if (r.state === KernelState.TERMINATING) continue;
      const ups = upstream.get(r)!;
      let f = 1;
      for (const u of ups) f = Math.max(f, (fanout.get(u) ?? 1) * u.def.maxEmits);
      fanout.set(r, f);
      if (r.state !== KernelState.ACTIVE) continue;
      const k = r.kernel!;
      let incoming = 0;
      for (const u of ups) incoming += (bound.get(u) ?? 0) * u.def.maxEmits;
      // ticks in flight may still push into its input and take from the queue its outputs go to
      const down = r.config.sendsTo !== undefined ? h.kernels.find(r.config.sendsTo) : undefined;
      let freed = 0;
      for (const b of ahead) {
        for (const u of ups) incoming += (b.get(u) ?? 0) * u.def.maxEmits;
        if (down !== undefined) freed += b.get(down) ?? 0;
      }
      const available = k.inputSize + incoming;
      const room = k.def.maxEmits > 0 ? Math.floor((k.outputRoom + freed) / k.def.maxEmits) : Infinity;
      const ub = Math.min(r.config.maxMessagesPerTick, available, room);
      if (ub <= 0) continue;
      bound.set(r, ub);
      plan.kernels.push({ kernel: k, upperBound: ub, taggedBound: Math.min(ub, h.requests.live * f) });
    }
    if (plan.kernels.length === 0 && !hostWork) return false;
    const t0 = performance.now();
    const inFlightBefore = ahead.length;
    this.flyingBounds = [...ahead, bound];
    const landed = (): void => {
      this.flyingBounds = this.flyingBounds.filter((b) => b !== bound);
      land();
    };
    let result;
    try {
      result = await backend.tick(plan);
    } catch (error) {
      landed();
      h.lost(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    const latencyNs = (performance.now() - t0) * 1e6;
    // from here on the queues are exact again (unless later ticks are in flight): sends made while
    // the results are delivered (a caller's next request) are admitted at once and ride on the next tick
    landed();
    if (h.lostError !== null) return false; // (an earlier tick failed: everything was rejected with it)
    for (const { kernel } of plan.kernels) {
      const r = h.kernels.find(kernel.id);
      if (r !== undefined) r.clock.tick(latencyNs);
      const res = result.kernels.get(kernel);
      if (res === undefined) continue;
      const toReceive = h.requests.onTick(kernel.id, kernel.downstream?.id ?? null, res.events, res.replies);
      if (toReceive.length > 0) kernel.reinsert(toReceive);
    }
    if (h.onTick !== undefined) {
      notify(h.onTick, {
        start,
        planned: t0,
        ran: t0 + latencyNs / 1e6,
        end: performance.now(),
        kernels: plan.kernels.map(({ kernel }) => kernel.id),
        ahead: inFlightBefore,
      });
    }
    return true;
  }
}
