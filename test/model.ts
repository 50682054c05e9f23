/**
 * Model-based testing of the queue contract.
 *
 * - `opsArb` generates sequences of operations (put, putNowait, putMany, get, getNowait,
 *   getMany, peek, clear, abort of a pending operation, advance of the clock), including
 *   invalid input, timeouts (0, finite, Infinity) and signals (already aborted, abortable).
 * - `runSequence(q, ops, settle, options)` runs a sequence on a real queue and returns a
 *   transcript: per step the result, the operations that settled, onDrop calls, size and
 *   stats; then the final contents (drained) and what close() did to operations left pending.
 * - `modelTranscript(scenario)` computes the transcript the contract prescribes, with a
 *   tiny obviously-correct model (an array scanned for the max (priority, -seq), FIFO waiter lists).
 *
 * Two backends run on the same scenario must produce equal transcripts, and each must equal the model's.
 * Time is virtual: `advance(ms)` is supplied by the caller (vitest fake timers for the CPU queue).
 */
import fc from 'fast-check';
import {
  BackpressureStrategy,
  QueueClosedError,
  QueueFullError,
  QueueTimeoutError,
  ZERO_STATS,
  drainIds,
  type Msg,
  type Queue,
  type QueueOptions,
  type QueueStats,
} from './helpers.js';

/** A priority as generated: a valid one, absent (128), or an invalid one. */
export type Prio = number | 'absent' | 'bad-range' | 'bad-type';
export type TimeoutSpec = number | 'none' | 'bad-type' | 'bad-range';
export type SignalSpec = 'none' | 'aborted' | 'abortable';

export type Op =
  | { kind: 'put'; priority: Prio; timeout: TimeoutSpec; signal: SignalSpec }
  | { kind: 'putNowait'; priority: Prio }
  | { kind: 'putMany'; priorities: Prio[]; timeout: TimeoutSpec; signal: SignalSpec }
  | { kind: 'get'; timeout: TimeoutSpec; signal: SignalSpec }
  | { kind: 'getMany'; max: number; timeout: TimeoutSpec; signal: SignalSpec }
  | { kind: 'getNowait' }
  | { kind: 'peek' }
  | { kind: 'clear' }
  /** Aborts the (pick mod n)-th of the n operations still pending with an abortable signal, oldest first. */
  | { kind: 'abort'; pick: number }
  | { kind: 'advance'; ms: number };

export interface Scenario {
  backpressure: BackpressureStrategy;
  maxSize: number;
  ops: Op[];
}

/** How an operation ended, in a form that compares across backends. */
export type Outcome =
  | { ok: string | string[] | null | boolean | number | undefined }
  | { err: string; accepted?: number };

export interface Step {
  i: number;
  kind: Op['kind'];
  /** The result of this step's operation: its outcome, or 'pending' for a waiting async member. */
  r: Outcome | 'pending';
  /** Earlier operations that settled during this step, by index. */
  settled: [number, Outcome][];
  /** Ids passed to onDrop during this step, in order. */
  drops: string[];
  size: number;
  stats: QueueStats;
}

export interface Transcript {
  steps: Step[];
  /** Everything left in the queue at the end, taken with getNowait (blocked putters get admitted meanwhile). */
  drained: string[];
  /** Operations that settled while draining, by index. */
  settledWhileDraining: [number, Outcome][];
  statsAfterDrain: QueueStats;
  /** Operations still pending at the end, rejected by close(). */
  settledByClose: [number, Outcome][];
}

const TIMEOUTS: TimeoutSpec[] = ['none', 0, 10, 25, Number.POSITIVE_INFINITY];

const prioArb: fc.Arbitrary<Prio> = fc.constantFrom<Prio>('absent', 0, 1, 128, 200, 255);
const badPrioArb: fc.Arbitrary<Prio> = fc.constantFrom<Prio>('bad-range', 'bad-type');
const timeoutArb: fc.Arbitrary<TimeoutSpec> = fc.constantFrom(...TIMEOUTS);
const badTimeoutArb: fc.Arbitrary<TimeoutSpec> = fc.constantFrom<TimeoutSpec>('bad-type', 'bad-range');
const signalArb: fc.Arbitrary<SignalSpec> = fc.constantFrom<SignalSpec>('none', 'none', 'abortable', 'aborted');

/** One operation. Invalid input comes alone (no signal, other fields valid), so its error is unambiguous. */
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('put' as const), priority: prioArb, timeout: timeoutArb, signal: signalArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('putNowait' as const), priority: prioArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('putMany' as const),
      priorities: fc.array(prioArb, { minLength: 1, maxLength: 4 }),
      timeout: timeoutArb,
      signal: signalArb,
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('get' as const), timeout: timeoutArb, signal: signalArb }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('getMany' as const), max: fc.integer({ min: 1, max: 4 }), timeout: timeoutArb, signal: signalArb }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'getNowait' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'peek' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(5, 10, 30) }) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant('put' as const), priority: badPrioArb, timeout: fc.constant<TimeoutSpec>('none'), signal: fc.constant<SignalSpec>('none') }),
      fc.record({ kind: fc.constant('put' as const), priority: prioArb, timeout: badTimeoutArb, signal: fc.constant<SignalSpec>('none') }),
      fc.record({ kind: fc.constant('putNowait' as const), priority: badPrioArb }),
      fc
        .tuple(fc.array(prioArb, { maxLength: 3 }), badPrioArb, fc.array(prioArb, { maxLength: 2 }))
        .map(([a, bad, b]) => ({ kind: 'putMany' as const, priorities: [...a, bad, ...b], timeout: 'none' as const, signal: 'none' as const })),
      fc.record({ kind: fc.constant('get' as const), timeout: badTimeoutArb, signal: fc.constant<SignalSpec>('none') }),
      fc.record({
        kind: fc.constant('getMany' as const),
        max: fc.constantFrom(0, -1, 1.5),
        timeout: fc.constant<TimeoutSpec>('none'),
        signal: fc.constant<SignalSpec>('none'),
      }),
    ),
  },
);

export const scenarioArb = (backpressure: BackpressureStrategy): fc.Arbitrary<Scenario> =>
  fc.record({
    backpressure: fc.constant(backpressure),
    // Small queues fill up often, so waiting putters, drops and rejections are common.
    maxSize: fc.oneof(fc.constant(1), fc.constant(2), fc.integer({ min: 1, max: 5 })),
    ops: fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' }),
  });

/** Any priority 0..255 (or absent): batches spread over many buckets. */
const widePrioArb: fc.Arbitrary<Prio> = fc.oneof({ weight: 1, arbitrary: fc.constant<Prio>('absent') }, { weight: 9, arbitrary: fc.integer({ min: 0, max: 255 }) });

/**
 * Operations on large queues: batches of up to 120 messages over all 256 priorities and getMany
 * of up to 150, so the queue holds hundreds of messages, far more than a GPU queue's head copy,
 * and ordering is decided by the device's storage, not by a host copy.
 */
export const largeOpArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('putMany' as const),
      priorities: fc.array(widePrioArb, { minLength: 1, maxLength: 120 }),
      timeout: timeoutArb,
      signal: signalArb,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), priority: widePrioArb, timeout: timeoutArb, signal: signalArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('putNowait' as const), priority: widePrioArb }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('getMany' as const), max: fc.integer({ min: 1, max: 150 }), timeout: timeoutArb, signal: signalArb }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), timeout: timeoutArb, signal: signalArb }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'getNowait' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'peek' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(5, 10, 30) }) },
);

export const largeScenarioArb = (backpressure: BackpressureStrategy): fc.Arbitrary<Scenario> =>
  fc.record({
    backpressure: fc.constant(backpressure),
    maxSize: fc.integer({ min: 80, max: 400 }),
    ops: fc.array(largeOpArb, { minLength: 4, maxLength: 30, size: 'max' }),
  });

// ---------------------------------------------------------------------------------------------
// Turning specs into arguments (shared by the runner and the model so message ids agree)

function priorityValue(p: Prio): unknown {
  if (p === 'bad-range') return 300;
  if (p === 'bad-type') return '7';
  return p;
}
function makeMessage(id: string, p: Prio): Msg {
  return p === 'absent' ? { id } : ({ id, priority: priorityValue(p) } as Msg);
}
function timeoutValue(t: TimeoutSpec): number | undefined {
  if (t === 'none') return undefined;
  if (t === 'bad-type') return '10' as unknown as number;
  if (t === 'bad-range') return -1;
  return t;
}
/** Message ids are assigned in op order: m0, m1, ... over every message an op brings (valid or not). */
function messageIds(ops: readonly Op[]): string[][] {
  let n = 0;
  return ops.map((op) => {
    if (op.kind === 'put' || op.kind === 'putNowait') return [`m${n++}`];
    if (op.kind === 'putMany') return op.priorities.map(() => `m${n++}`);
    return [];
  });
}

function outcomeOfError(error: unknown, abortReason: unknown): Outcome {
  if (abortReason !== undefined && error === abortReason) return { err: 'abort' };
  if (error instanceof QueueFullError) return { err: 'QueueFullError', accepted: error.accepted };
  if (error instanceof QueueTimeoutError) return { err: 'QueueTimeoutError' };
  if (error instanceof QueueClosedError) return { err: 'QueueClosedError' };
  if (error instanceof TypeError) return { err: 'TypeError' };
  if (error instanceof RangeError) return { err: 'RangeError' };
  return { err: `unexpected ${String((error as Error)?.name)}: ${String((error as Error)?.message ?? error)}` };
}
function outcomeOfValue(value: unknown): Outcome {
  if (Array.isArray(value)) return { ok: value.map((m: Msg) => m.id) };
  if (value !== null && typeof value === 'object') return { ok: (value as Msg).id };
  return { ok: value as null | boolean | number | undefined };
}

// ---------------------------------------------------------------------------------------------
// The runner

export interface RunOptions {
  /** The queue's onDrop must push into this array (see `runScenario`). */
  drops?: Msg[];
  /** Moves the clock forward by ms and lets due timers fire (e.g. vi.advanceTimersByTimeAsync). */
  advance: (ms: number) => Promise<void>;
}

type Settle<T extends object> = (q: Queue<T>) => Promise<void>;

/** Runs `ops` on `q` and returns the transcript. Closes `q` at the end. */
export async function runSequence(q: Queue<Msg>, ops: readonly Op[], settle: Settle<Msg>, options: RunOptions): Promise<Transcript> {
  const drops = options.drops ?? [];
  const idsOf = messageIds(ops);
  const state: { done: boolean; reported: boolean; outcome?: Outcome; controller?: AbortController }[] = [];
  const flush = async () => {
    await settle(q);
    for (let k = 0; k < 20; k++) await Promise.resolve();
  };
  const collect = (upTo: number): [number, Outcome][] => {
    const out: [number, Outcome][] = [];
    for (let j = 0; j < upTo; j++) {
      const s = state[j];
      if (s?.done && !s.reported) {
        s.reported = true;
        out.push([j, s.outcome!]);
      }
    }
    return out;
  };
  const launch = (i: number, signalSpec: SignalSpec, call: (signal: AbortSignal | undefined) => Promise<unknown>) => {
    const s: (typeof state)[number] = { done: false, reported: false };
    state[i] = s;
    let signal: AbortSignal | undefined;
    if (signalSpec !== 'none') {
      s.controller = new AbortController();
      if (signalSpec === 'aborted') s.controller.abort();
      signal = s.controller.signal;
    }
    let p: Promise<unknown>;
    try {
      p = call(signal);
    } catch (error) {
      p = Promise.reject(new Error(`threw synchronously: ${String(error)}`));
    }
    p.then(
      (v) => Object.assign(s, { done: true, outcome: outcomeOfValue(v) }),
      (e) => Object.assign(s, { done: true, outcome: outcomeOfError(e, s.controller?.signal.reason) }),
    );
  };
  const sync = (i: number, call: () => unknown) => {
    let outcome: Outcome;
    try {
      outcome = outcomeOfValue(call());
    } catch (error) {
      outcome = outcomeOfError(error, undefined);
    }
    state[i] = { done: true, reported: false, outcome };
  };

  const steps: Step[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const dropsBefore = drops.length;
    const opIds = idsOf[i];
    switch (op.kind) {
      case 'put':
        launch(i, op.signal, (signal) => q.put(makeMessage(opIds[0], op.priority), { timeout: timeoutValue(op.timeout), signal }));
        break;
      case 'putMany':
        launch(i, op.signal, (signal) =>
          q.putMany(
            op.priorities.map((p, k) => makeMessage(opIds[k], p)),
            { timeout: timeoutValue(op.timeout), signal },
          ),
        );
        break;
      case 'get':
        launch(i, op.signal, (signal) => q.get({ timeout: timeoutValue(op.timeout), signal }));
        break;
      case 'getMany':
        launch(i, op.signal, (signal) => q.getMany(op.max, { timeout: timeoutValue(op.timeout), signal }));
        break;
      case 'putNowait':
        sync(i, () => q.putNowait(makeMessage(opIds[0], op.priority)));
        break;
      case 'getNowait':
        await settle(q);
        sync(i, () => q.getNowait());
        break;
      case 'peek':
        await settle(q);
        sync(i, () => q.peek());
        break;
      case 'clear':
        sync(i, () => q.clear());
        break;
      case 'abort': {
        const abortable = state.filter((s) => s !== undefined && !s.done && s.controller !== undefined && !s.controller.signal.aborted);
        if (abortable.length > 0) abortable[op.pick % abortable.length].controller!.abort();
        state[i] = { done: true, reported: false, outcome: { ok: abortable.length } };
        break;
      }
      case 'advance':
        await options.advance(op.ms);
        state[i] = { done: true, reported: false, outcome: { ok: op.ms } };
        break;
    }
    await flush();
    const own = state[i];
    const r: Outcome | 'pending' = own.done ? own.outcome! : 'pending';
    own.reported = own.done;
    steps.push({
      i,
      kind: op.kind,
      r,
      settled: collect(i),
      drops: drops.slice(dropsBefore).map((m) => m.id),
      size: q.size,
      stats: { ...q.stats },
    });
  }

  const drained = await drainIds(q, settle);
  await flush();
  const settledWhileDraining = collect(ops.length);
  const statsAfterDrain = { ...q.stats };
  await q.close();
  await flush();
  const settledByClose = collect(ops.length);
  return { steps, drained, settledWhileDraining, statsAfterDrain, settledByClose };
}

/** Builds a queue for the scenario with `make`, wires onDrop, runs the ops and returns the transcript. */
export async function runScenario(
  make: (options: QueueOptions<Msg>) => Promise<Queue<Msg>>,
  scenario: Scenario,
  settle: Settle<Msg>,
  advance: (ms: number) => Promise<void>,
): Promise<Transcript> {
  const drops: Msg[] = [];
  const q = await make({ maxSize: scenario.maxSize, backpressure: scenario.backpressure, onDrop: (m) => drops.push(m) });
  return runSequence(q, scenario.ops, settle, { drops, advance });
}

// ---------------------------------------------------------------------------------------------
// The model

interface Item {
  id: string;
  priority: number;
  seq: number;
}
interface Getter {
  op: number;
  max: number | null; // null: a get
  deadline: number;
  abortable: boolean;
}
interface Putter {
  op: number;
  items: { id: string; priority: number }[];
  done: number;
  many: boolean;
  deadline: number;
  abortable: boolean;
}

/** The transcript the contract prescribes for a scenario. */
export function modelTranscript(scenario: Scenario): Transcript {
  const { backpressure, maxSize, ops } = scenario;
  const idsOf = messageIds(ops);
  let items: Item[] = [];
  let seq = 0;
  let now = 0;
  let getters: Getter[] = [];
  let putters: Putter[] = [];
  const stats: QueueStats = { ...ZERO_STATS };
  const settledNow: [number, Outcome][] = [];
  let drops: string[] = [];
  /** Ops still pending, oldest first, with whether they are abortable. */
  const pending = new Map<number, { abortable: boolean }>();

  const settle = (op: number, outcome: Outcome) => {
    pending.delete(op);
    settledNow.push([op, outcome]);
  };
  const headIndex = () => {
    let best = 0;
    for (let k = 1; k < items.length; k++) {
      const a = items[k];
      const b = items[best];
      if (a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)) best = k;
    }
    return best;
  };
  const takeOne = (): string => {
    const [m] = items.splice(headIndex(), 1);
    stats.dequeued++;
    return m.id;
  };
  const take = (max: number): string[] => {
    const out: string[] = [];
    while (out.length < max && items.length > 0) out.push(takeOne());
    return out;
  };
  /** Inserts, then serves waiting getters in FIFO order. */
  const insert = (id: string, priority: number) => {
    items.push({ id, priority, seq: seq++ });
    stats.enqueued++;
    while (getters.length > 0 && items.length > 0) {
      const g = getters.shift()!;
      settle(g.op, { ok: g.max === null ? takeOne() : take(g.max) });
    }
  };
  const dropOldest = () => {
    let oldest = 0;
    for (let k = 1; k < items.length; k++) if (items[k].seq < items[oldest].seq) oldest = k;
    const [m] = items.splice(oldest, 1);
    stats.dropped++;
    drops.push(m.id);
  };
  /** Lets blocked putters in, in FIFO order, while there is room. */
  const admit = () => {
    while (putters.length > 0 && items.length < maxSize) {
      const p = putters[0];
      while (p.done < p.items.length && items.length < maxSize) {
        const it = p.items[p.done++];
        insert(it.id, it.priority);
      }
      if (p.done < p.items.length) return;
      putters.shift();
      settle(p.op, { ok: undefined });
    }
  };
  const validPriority = (p: Prio): number | Outcome => {
    if (p === 'bad-range') return { err: 'RangeError' };
    if (p === 'bad-type') return { err: 'TypeError' };
    return p === 'absent' ? 128 : p;
  };
  const timeoutError = (t: TimeoutSpec): Outcome | undefined =>
    t === 'bad-type' ? { err: 'TypeError' } : t === 'bad-range' ? { err: 'RangeError' } : undefined;
  const deadlineOf = (t: TimeoutSpec) => (typeof t === 'number' ? now + t : Number.POSITIVE_INFINITY);
  const putFullError = (p: Putter): Outcome => ({ err: 'QueueFullError', accepted: p.many ? p.done : 0 });

  /** Returns the op's own outcome, or 'pending'. */
  const step = (i: number, op: Op): Outcome | 'pending' => {
    const opIds = idsOf[i];
    switch (op.kind) {
      case 'put':
      case 'putMany': {
        const prios = op.kind === 'put' ? [op.priority] : op.priorities;
        const checked = prios.map(validPriority);
        const bad = checked.find((c) => typeof c !== 'number');
        if (bad !== undefined) return bad as Outcome;
        const te = timeoutError(op.timeout);
        if (te) return te;
        if (op.signal === 'aborted') return { err: 'abort' };
        const batch = checked.map((priority, k) => ({ id: opIds[k], priority: priority as number }));
        if (backpressure === BackpressureStrategy.REJECT) {
          if (items.length + batch.length > maxSize) {
            stats.rejected += batch.length;
            return { err: 'QueueFullError', accepted: 0 };
          }
          for (const it of batch) insert(it.id, it.priority);
          return { ok: undefined };
        }
        if (backpressure === BackpressureStrategy.DROP_OLDEST) {
          for (const it of batch) {
            if (items.length >= maxSize) dropOldest();
            insert(it.id, it.priority);
          }
          return { ok: undefined };
        }
        const p: Putter = {
          op: i,
          items: batch,
          done: 0,
          many: op.kind === 'putMany',
          deadline: deadlineOf(op.timeout),
          abortable: op.signal === 'abortable',
        };
        if (putters.length > 0 && items.length < maxSize) throw new Error('model invariant: putters wait only on a full queue');
        while (p.done < batch.length && items.length < maxSize) {
          const it = batch[p.done++];
          insert(it.id, it.priority);
        }
        if (p.done === batch.length) return { ok: undefined };
        if (op.timeout === 0) {
          stats.timedOut++;
          return putFullError(p);
        }
        putters.push(p);
        pending.set(i, { abortable: p.abortable });
        return 'pending';
      }
      case 'putNowait': {
        const priority = validPriority(op.priority);
        if (typeof priority !== 'number') return priority;
        if (items.length >= maxSize) {
          if (backpressure !== BackpressureStrategy.DROP_OLDEST) {
            stats.rejected++;
            return { ok: false };
          }
          dropOldest();
        }
        insert(opIds[0], priority);
        return { ok: true };
      }
      case 'get':
      case 'getMany': {
        const max = op.kind === 'getMany' ? op.max : null;
        if (max !== null && !(Number.isInteger(max) && max >= 1)) return { err: 'RangeError' };
        const te = timeoutError(op.timeout);
        if (te) return te;
        if (op.signal === 'aborted') return { err: 'abort' };
        if (items.length > 0) {
          const out: Outcome = { ok: max === null ? takeOne() : take(max) };
          admit();
          return out;
        }
        if (op.timeout === 0) {
          stats.timedOut++;
          return { err: 'QueueTimeoutError' };
        }
        getters.push({ op: i, max, deadline: deadlineOf(op.timeout), abortable: op.signal === 'abortable' });
        pending.set(i, { abortable: op.signal === 'abortable' });
        return 'pending';
      }
      case 'getNowait': {
        if (items.length === 0) return { ok: null };
        const id = takeOne();
        admit();
        return { ok: id };
      }
      case 'peek':
        return { ok: items.length === 0 ? null : items[headIndex()].id };
      case 'clear': {
        const n = items.length;
        items = [];
        admit();
        return { ok: n };
      }
      case 'abort': {
        const abortable = [...pending.entries()].filter(([, p]) => p.abortable).map(([j]) => j);
        if (abortable.length > 0) {
          const j = abortable[op.pick % abortable.length];
          getters = getters.filter((g) => g.op !== j);
          putters = putters.filter((p) => p.op !== j);
          settle(j, { err: 'abort' });
        }
        return { ok: abortable.length };
      }
      case 'advance': {
        now += op.ms;
        const expired = getters.filter((g) => g.deadline <= now);
        getters = getters.filter((g) => g.deadline > now);
        for (const g of expired) {
          stats.timedOut++;
          settle(g.op, { err: 'QueueTimeoutError' });
        }
        const expiredPutters = putters.filter((p) => p.deadline <= now);
        putters = putters.filter((p) => p.deadline > now);
        for (const p of expiredPutters) {
          stats.timedOut++;
          settle(p.op, putFullError(p));
        }
        return { ok: op.ms };
      }
    }
  };

  const steps: Step[] = [];
  for (let i = 0; i < ops.length; i++) {
    // `pending` is keyed by op index; insertion order = start order, as the runner's scan.
    settledNow.length = 0;
    drops = [];
    const r = step(i, ops[i]);
    const settled = [...settledNow].sort((a, b) => a[0] - b[0]);
    const own = settled.findIndex(([j]) => j === i);
    let result = r;
    if (own >= 0) {
      // Settled within its own step (e.g. a getMany served by... its own op cannot; kept for safety).
      result = settled[own][1];
      settled.splice(own, 1);
    }
    steps.push({ i, kind: ops[i].kind, r: result, settled, drops, size: items.length, stats: { ...stats } });
  }
  settledNow.length = 0;
  const drained: string[] = [];
  while (items.length > 0) {
    drained.push(takeOne());
    admit();
  }
  const settledWhileDraining = [...settledNow].sort((a, b) => a[0] - b[0]);
  const statsAfterDrain = { ...stats };
  settledNow.length = 0;
  for (const j of pending.keys()) settle(j, { err: 'QueueClosedError' });
  const settledByClose = [...settledNow].sort((a, b) => a[0] - b[0]);
  return { steps, drained, settledWhileDraining, statsAfterDrain, settledByClose };
}
