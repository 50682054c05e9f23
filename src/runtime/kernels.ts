/**
 * The runtime's kernels: one record per kernel id (its definition, configuration, lifecycle
 * state, backend kernel and clock), the operations each state allows, and the topology of
 * sendsTo chains (who sends to whom, upstream-first order), rebuilt when a kernel comes or goes.
 */
import type { BackendKernel, KernelConfig } from './backend.js';
import { KernelNotFoundError, KernelStateError, type KernelOperation } from './errors.js';
import type { RingKernelDefinition } from './kernel.js';
import { KernelState, type KernelStateValue } from './state.js';
import type { KernelClock } from './telemetry.js';

export interface KernelRecord {
  id: string;
  def: RingKernelDefinition;
  config: KernelConfig;
  state: KernelStateValue;
  kernel: BackendKernel | null;
  clock: KernelClock;
  launching: Promise<unknown> | null;
  /** its terminate, once one began */
  terminating: Promise<void> | null;
}

/** A kernel's state as callers see it: TERMINATING from the moment a terminate of it is under way. */
export function stateOf(r: KernelRecord): KernelStateValue {
  return r.terminating !== null && r.state !== KernelState.TERMINATED ? KernelState.TERMINATING : r.state;
}

/** The states each operation is allowed in. */
const ALLOWED: Record<Exclude<KernelOperation, 'launch'>, readonly KernelStateValue[]> = {
  activate: [KernelState.LAUNCHED],
  deactivate: [KernelState.ACTIVE],
  reactivate: [KernelState.DEACTIVATED],
  terminate: [KernelState.CREATED, KernelState.LAUNCHED, KernelState.ACTIVE, KernelState.DEACTIVATED],
  send: [KernelState.LAUNCHED, KernelState.ACTIVE, KernelState.DEACTIVATED],
  receive: [KernelState.ACTIVE, KernelState.DEACTIVATED],
};

/** Throws KernelStateError unless `operation` is allowed in `state`. */
export function checkTransition(kernelId: string, state: KernelStateValue, operation: Exclude<KernelOperation, 'launch'>): void {
  if (!ALLOWED[operation].includes(state)) throw new KernelStateError(kernelId, state, operation);
}

export interface Topology {
  /** every kernel after every kernel that sends to it (launch order among equals) */
  order: KernelRecord[];
  upstream: Map<KernelRecord, KernelRecord[]>;
}

export class KernelTable {
  private readonly byId = new Map<string, KernelRecord>();
  private topologyCache: Topology | null = null;

  get size(): number {
    return this.byId.size;
  }
  values(): IterableIterator<KernelRecord> {
    return this.byId.values();
  }
  /** The record under `id`, if any. */
  find(id: string): KernelRecord | undefined {
    return this.byId.get(id);
  }
  has(id: string): boolean {
    return this.byId.has(id);
  }
  add(record: KernelRecord): void {
    this.byId.set(record.id, record);
    this.topologyCache = null;
  }
  /** Removes a record (if it is still the one under its id). */
  forget(record: KernelRecord): void {
    if (this.byId.get(record.id) !== record) return;
    this.byId.delete(record.id);
    this.topologyCache = null;
  }
  clear(): void {
    this.byId.clear();
    this.topologyCache = null;
  }

  /** The record of `id`, or KernelNotFoundError. */
  get(id: string): KernelRecord {
    if (typeof id !== 'string') throw new TypeError('kernel id must be a string');
    const r = this.byId.get(id);
    if (r === undefined) throw new KernelNotFoundError(id);
    return r;
  }

  /** The kernel `id` may send to: launched and not on its way out. */
  downstreamFor(id: string, sendsTo: string): KernelRecord {
    const downstream = this.byId.get(sendsTo);
    if (downstream === undefined) throw new KernelNotFoundError(sendsTo, ` to send to (launch '${id}' with sendsTo: '${sendsTo}')`);
    if (downstream.kernel === null || downstream.terminating !== null || downstream.state === KernelState.TERMINATING || downstream.state === KernelState.TERMINATED) {
      throw new KernelStateError(sendsTo, stateOf(downstream), 'launch', `kernel '${id}' cannot send to it`);
    }
    return downstream;
  }

  topology(): Topology {
    if (this.topologyCache !== null) return this.topologyCache;
    const records = [...this.byId.values()];
    const upstream = new Map<KernelRecord, KernelRecord[]>(records.map((r) => [r, records.filter((u) => u.config.sendsTo === r.id)]));
    // each kernel after every kernel that sends to it (launch order among equals)
    const depth = new Map<KernelRecord, number>();
    const depthOf = (r: KernelRecord): number => {
      let d = depth.get(r);
      if (d !== undefined) return d;
      d = 0;
      for (const u of upstream.get(r)!) d = Math.max(d, depthOf(u) + 1);
      depth.set(r, d);
      return d;
    };
    const order = records.map((r, i) => ({ r, i, d: depthOf(r) })).sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.r);
    return (this.topologyCache = { order, upstream });
  }

  upstreamOf(r: KernelRecord): KernelRecord[] {
    return this.topology().upstream.get(r) ?? [];
  }

  /** `records` ordered so that each comes after every kernel that sends to it (launch order among equals). */
  upstreamFirst(records: readonly KernelRecord[]): KernelRecord[] {
    const wanted = new Set(records);
    return this.topology().order.filter((r) => wanted.has(r));
  }

  /** The last kernel of `r`'s sendsTo chain (r itself when it sends to none). */
  chainEnd(r: KernelRecord): KernelRecord {
    let end = r;
    for (let next = r.config.sendsTo === undefined ? undefined : this.byId.get(r.config.sendsTo); next !== undefined; next = next.config.sendsTo === undefined ? undefined : this.byId.get(next.config.sendsTo)) end = next;
    return end;
  }
}
