/**
 * The CPU workload group: MessageQueue against stable heaps and p-queue, single thread.
 *
 *  - sync put+get pairs at a steady size (ping-pong on an empty queue, then 1e3, 1e5, 1e6 queued):
 *    each pair puts one message with a random priority and gets the highest one back, so the size
 *    stays constant and every operation works against a full-size structure;
 *  - the same pairs through the async API (`await put; await get`); heaps have no async API, so they
 *    appear wrapped in minimal `async` functions (the cheapest possible async heap queue), and
 *    p-queue appears as PQueue.add (one task per message);
 *  - batches: put n then get n (putMany/getMany for MessageQueue, loops for the rest) on a queue
 *    holding 1e4 messages.
 */
import {
  checkOrder,
  fastpriorityqueue,
  flatqueue,
  heapJs,
  newMsg,
  pqueueAdd,
  pqueuePriorityQueue,
  ringkernel,
  ringkernelLoop,
  tinyqueue,
  type Competitor,
  type Feed,
  type Handle,
  type Msg,
} from './competitors.js';
import type { Case, CaseSpec, Row, TargetResult, Workload, WorkloadGroup } from './harness.js';
import { DEFAULT_SEED, mulberry32, priorityTable } from './random.js';

/** Operations per timed call: enough to time reliably, small enough to sample latency often. */
const PAIRS_PER_CALL = 100;
const BATCH_BACKLOG = 10_000;
/**
 * Warm-up instances hold at most this many messages: enough to optimize the code and estimate the
 * speed roughly (the runner corrects the op count after each round), without building a second
 * million-message queue per implementation.
 */
const WARMUP_MAX_SIZE = 10_000;

const SYNC_IMPLS = [ringkernel, tinyqueue, heapJs, flatqueue, fastpriorityqueue, pqueuePriorityQueue];
const ASYNC_IMPLS = [ringkernel, tinyqueue, heapJs, flatqueue, fastpriorityqueue];
const BATCH_IMPLS = [ringkernel, ringkernelLoop, tinyqueue, heapJs, flatqueue, fastpriorityqueue, pqueuePriorityQueue];

const BEST_HEAP = { label: 'best heap', kind: 'heap' } as const;

/** `1e5` rather than `100000` in titles and ids. */
function sizeLabel(n: number): string {
  if (n === 0) return '0';
  const e = Math.log10(n);
  return Number.isInteger(e) ? `1e${e}` : String(n);
}

const prefillPriorities = new Map<number, Uint8Array>();

/**
 * Fresh messages for a prefill of `size`, with the same priorities for every implementation (and
 * every build) of a workload. The priorities are drawn once per size and cached: builds of 1e6
 * happen a dozen times per run.
 */
function prefillMessages(size: number): Msg[] {
  let prios = prefillPriorities.get(size);
  if (!prios) {
    const next = mulberry32(DEFAULT_SEED ^ size);
    prios = new Uint8Array(size);
    for (let i = 0; i < size; i++) prios[i] = Math.floor(next() * 256);
    prefillPriorities.set(size, prios);
  }
  const ms = new Array<Msg>(size);
  for (let i = 0; i < size; i++) ms[i] = newMsg(prios[i]);
  return ms;
}

function openPrefilled(c: Competitor, size: number, headroom: number): Handle {
  const h = c.create(size + headroom);
  const ms = prefillMessages(size);
  if (h.prefill) h.prefill(ms);
  else for (const m of ms) h.put(m);
  return h;
}

function feed(batch = 0): Feed {
  return {
    prios: priorityTable(DEFAULT_SEED),
    k: 0,
    spare: newMsg(0),
    batch: Array.from({ length: batch }, () => newMsg(0)),
  };
}

function pairsSpec(c: Competitor, mode: 'sync' | 'async', size: number): CaseSpec {
  return {
    impl: c.impl,
    variant: (mode === 'sync' ? c.api.sync : c.api.async) ?? '?',
    kind: c.kind,
    build(purpose): Case {
      const h = openPrefilled(c, purpose === 'warmup' ? Math.min(size, WARMUP_MAX_SIZE) : size, 16);
      const f = feed();
      const n = PAIRS_PER_CALL;
      return mode === 'sync'
        ? { call: h.syncPairs!.bind(h, f, n), async: false, opsPerCall: n }
        : { call: h.asyncPairs!.bind(h, f, n), async: true, opsPerCall: n };
    },
  };
}

function batchSpec(c: Competitor, batch: number): CaseSpec {
  return {
    impl: c.impl,
    // MessageQueue has two rows here: its batch API and the same queue driven one message at a time.
    label: c === ringkernel ? 'ringkernel putMany' : c === ringkernelLoop ? 'ringkernel loop' : undefined,
    variant: c.api.batch ?? '?',
    kind: c.kind,
    build(): Case {
      // The backlog is small enough that warm-up uses the full size too.
      const h = openPrefilled(c, BATCH_BACKLOG, batch + 16);
      const f = feed(batch);
      return { call: h.batch!.bind(h, f), async: h.batchAsync === true, opsPerCall: batch };
    },
  };
}

function pairsWorkload(mode: 'sync' | 'async', size: number, impls: readonly Competitor[]): Workload {
  const pingpong = size === 0;
  const calls = mode === 'sync' ? 'putNowait+getNowait (or push+pop)' : '`await put(m); await get()`';
  return {
    id: `${mode}-${pingpong ? 'pingpong' : `steady-${sizeLabel(size)}`}`,
    title: `${mode} put+get, ${pingpong ? 'ping-pong (size 0 <-> 1)' : `steady size ${sizeLabel(size)}`}`,
    unit: 'pairs',
    description:
      (pingpong
        ? `${calls} pairs on an empty queue: the fixed cost of one put and one get.`
        : `Queue prefilled with ${size} messages (random priorities 0..255); each pair puts one with a ` +
          `random priority and gets the highest one, so the size stays ${size}. Max-first gets drift ` +
          `the contents towards low priorities as the run goes on; every implementation runs the same ` +
          `pairs from the same start, so all are timed on the same states.`) +
      (mode === 'async'
        ? ' Heaps have no async API: their rows wrap push/pop in minimal async functions (no waiting, no ' +
          'backpressure), the cheapest async heap queue one could write.'
        : ''),
    params: { size, mode },
    baseline: BEST_HEAP,
    equalOps: true,
    cases: impls.map((c) => pairsSpec(c, mode, size)),
  };
}

function batchWorkload(batch: number): Workload {
  return {
    id: `batch-${batch}`,
    title: `batch of ${batch}: put ${batch} then get ${batch}, backlog ${sizeLabel(BATCH_BACKLOG)}`,
    unit: 'msgs',
    description:
      `Queue holds ${BATCH_BACKLOG} messages; each step puts ${batch} messages with random priorities ` +
      `and gets ${batch} back. Rate = messages/s (one message = one put and one get).`,
    params: { batch, size: BATCH_BACKLOG },
    baseline: BEST_HEAP,
    equalOps: true,
    cases: BATCH_IMPLS.map((c) => batchSpec(c, batch)),
  };
}

function findRingkernel(rows: readonly Row[], workload: string): Row | undefined {
  return rows.find((r) => r.workload === workload && r.kind === 'ringkernel' && r.opsPerSec !== null);
}

function ratioTarget(rows: readonly Row[], workload: string, label: string, min: number): TargetResult {
  const target = `${label}: ringkernel >= ${min}x best stable heap`;
  const r = findRingkernel(rows, workload);
  if (!r || r.ratio === null) return { target, measured: 'not measured', met: null };
  const mops = (r.opsPerSec! / 1e6).toFixed(2);
  return { target, measured: `${r.ratio.toFixed(2)}x (${mops} M pairs/s vs ${r.baseline})`, met: r.ratio >= min };
}

export const cpuGroup: WorkloadGroup = {
  name: 'cpu',
  title: 'CPU: MessageQueue vs stable heaps and p-queue (single thread)',
  // Quick and full runs use the same workloads; only rounds and timings (RunConfig) differ.
  workloads(): Workload[] {
    // The order check is cheap and guards against a comparator bug flattering a competitor.
    const prios = priorityTable(DEFAULT_SEED + 1);
    for (const c of [...SYNC_IMPLS, ringkernelLoop]) {
      const problem = checkOrder(c, prios);
      if (problem) throw new Error(`order check failed: ${problem}`);
    }
    return [
      pairsWorkload('sync', 0, SYNC_IMPLS),
      pairsWorkload('sync', 1e3, SYNC_IMPLS),
      pairsWorkload('sync', 1e5, SYNC_IMPLS),
      pairsWorkload('sync', 1e6, SYNC_IMPLS),
      pairsWorkload('async', 0, [...ASYNC_IMPLS, pqueueAdd]),
      pairsWorkload('async', 1e3, ASYNC_IMPLS),
      batchWorkload(64),
      batchWorkload(1024),
    ];
  },
  targets(rows) {
    const asyncTarget = 'async put+get, steady size 1e3: ringkernel >= 5 M pairs/s';
    const a = findRingkernel(rows, 'async-steady-1e3');
    return [
      ratioTarget(rows, 'sync-steady-1e3', 'sync put+get, steady size 1e3', 2),
      ratioTarget(rows, 'sync-steady-1e5', 'sync put+get, steady size 1e5', 4),
      a
        ? { target: asyncTarget, measured: `${(a.opsPerSec! / 1e6).toFixed(2)} M pairs/s`, met: a.opsPerSec! >= 5e6 }
        : { target: asyncTarget, measured: 'not measured', met: null },
    ];
  },
};
