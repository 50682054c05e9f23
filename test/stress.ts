/**
 * Stress run with an exact account: many async producers and consumers on one queue, random
 * priorities, random short timeouts and aborts, putNowait/getNowait/putMany/getMany/peek/clear
 * mixed in. Afterwards every message id must have exactly one fate:
 *   entered the queue (put resolved, putNowait true, putMany resolved or within `accepted`), and then
 *     delivered (get/getNowait/getMany, exactly once), dropped (onDrop), drained at the end, or cleared;
 *   or never entered: rejected (putNowait false / QueueFullError under REJECT), timed out or aborted
 *   while waiting (BLOCK), already-aborted signal.
 * Nothing lost, nothing duplicated, and the queue's stats agree with the account.
 *
 * `runStress(make, settle, config)` is backend-agnostic; it returns the account and throws
 * (via expect) on the first inconsistency.
 */
import { expect } from 'vitest';
import {
  BackpressureStrategy,
  QueueClosedError,
  QueueFullError,
  QueueTimeoutError,
  drainIds,
  nextTurn,
  randInt,
  rng,
  sleep,
  type Msg,
  type Queue,
  type QueueOptions,
  type QueueStats,
} from './helpers.js';

export interface StressConfig {
  backpressure: BackpressureStrategy;
  maxSize: number;
  producers: number;
  consumers: number;
  /** Messages each producer brings. */
  messagesPerProducer: number;
  seed: number;
  /** Largest putMany batch (default 4); large batches fill a large queue. */
  batch?: number;
  /** Priorities over all of 0..255 instead of four levels. */
  widePriorities?: boolean;
}

export interface StressAccount {
  produced: number;
  entered: number;
  delivered: number;
  dropped: number;
  drained: number;
  cleared: number;
  rejected: number;
  notEntered: number;
  timedOutOps: number;
  stats: QueueStats;
}

type StressQueue = Queue<Msg> & { close(): void | Promise<void> };

export async function runStress(
  make: (options: QueueOptions<Msg>) => Promise<StressQueue>,
  settle: (q: StressQueue) => Promise<void>,
  config: StressConfig,
): Promise<StressAccount> {
  const { backpressure, maxSize, producers, consumers, messagesPerProducer, seed, batch: maxBatch = 4, widePriorities = false } = config;
  const random = rng(seed);
  const droppedIds: string[] = [];
  const q = await make({ maxSize, backpressure, onDrop: (m) => droppedIds.push(m.id) });

  const entered = new Set<string>();
  const rejected = new Set<string>();
  const notEntered = new Set<string>();
  const delivered: string[] = [];
  const peeked = new Set<string>();
  let cleared = 0;
  let timedOutOps = 0;
  let produced = 0;
  const unexpected: string[] = [];

  const note = (set: Set<string>, ms: readonly Msg[]) => {
    for (const m of ms) {
      if (entered.has(m.id) || rejected.has(m.id) || notEntered.has(m.id)) unexpected.push(`${m.id} has two producer outcomes`);
      set.add(m.id);
    }
  };
  const randomTimeout = (): number | undefined => {
    const r = random();
    if (r < 0.25) return undefined;
    if (r < 0.4) return 0;
    return randInt(random, 1, 12);
  };
  /** A signal for one operation: none, already aborted, or aborted after a short random delay. */
  const randomSignal = (): AbortSignal | undefined => {
    const r = random();
    if (r < 0.75) return undefined;
    const c = new AbortController();
    if (r < 0.8) c.abort();
    else setTimeout(() => c.abort(), randInt(random, 0, 10));
    return c.signal;
  };
  const isAbort = (e: unknown) => (e as Error)?.name === 'AbortError';

  const producer = async (p: number) => {
    let k = 0;
    while (k < messagesPerProducer) {
      const r = random();
      if (r < 0.02) {
        cleared += q.clear();
        continue;
      }
      if (r < 0.1) await nextTurn();
      else if (r < 0.13) await sleep(randInt(random, 0, 3));
      const next = (): Msg => {
        produced++;
        return { id: `p${p}-${k++}`, priority: widePriorities ? randInt(random, 0, 255) : randInt(random, 0, 3) * 85 };
      };
      const kind = random();
      if (kind < 0.35) {
        const m = next();
        if (q.putNowait(m)) note(entered, [m]);
        else note(rejected, [m]);
      } else if (kind < 0.75) {
        const m = next();
        const timeout = randomTimeout();
        const signal = randomSignal();
        try {
          await q.put(m, { timeout, signal });
          note(entered, [m]);
        } catch (e) {
          if (isAbort(e)) note(notEntered, [m]);
          else if (e instanceof QueueFullError && backpressure === BackpressureStrategy.REJECT) note(rejected, [m]);
          else if (e instanceof QueueFullError && backpressure === BackpressureStrategy.BLOCK) {
            timedOutOps++;
            note(notEntered, [m]);
          } else unexpected.push(`put ${m.id}: ${String(e)}`);
        }
      } else {
        const batch = Array.from({ length: Math.min(randInt(random, 1, maxBatch), messagesPerProducer - k) }, next);
        // No signal here: an aborted putMany does not say how many of its messages went in.
        const timeout = randomTimeout();
        try {
          await q.putMany(batch, { timeout });
          note(entered, batch);
        } catch (e) {
          if (e instanceof QueueFullError && backpressure === BackpressureStrategy.REJECT) note(rejected, batch);
          else if (e instanceof QueueFullError && backpressure === BackpressureStrategy.BLOCK) {
            timedOutOps++;
            note(entered, batch.slice(0, e.accepted));
            note(notEntered, batch.slice(e.accepted));
          } else unexpected.push(`putMany ${batch[0].id}..: ${String(e)}`);
        }
      }
    }
  };

  let producing = true;
  const consumer = async () => {
    while (producing) {
      const r = random();
      if (r < 0.1) await nextTurn();
      try {
        if (r < 0.3) {
          await settle(q);
          const m = q.getNowait();
          if (m !== null) delivered.push(m.id);
        } else if (r < 0.35) {
          await settle(q);
          const m = q.peek();
          if (m !== null) peeked.add(m.id);
        } else if (r < 0.75) {
          // Always bounded, so consumers stop soon after the producers.
          const m = await q.get({ timeout: randomTimeout() ?? 15, signal: randomSignal() });
          delivered.push(m.id);
        } else {
          const ms = await q.getMany(randInt(random, 1, 5), { timeout: randomTimeout() ?? 15, signal: randomSignal() });
          if (ms.length === 0) unexpected.push('getMany returned an empty array');
          for (const m of ms) delivered.push(m.id);
        }
      } catch (e) {
        if (e instanceof QueueTimeoutError) timedOutOps++;
        else if (!isAbort(e)) unexpected.push(`consumer: ${String(e)}`);
      }
    }
  };

  const consuming = Array.from({ length: consumers }, () => consumer());
  await Promise.all(Array.from({ length: producers }, (_, p) => producer(p)));
  producing = false;
  await Promise.all(consuming);
  // A last burst with no consumer left, so the final drain has something to find.
  for (let k = 0; k < maxSize + 2; k++) {
    produced++;
    const m = { id: `final-${k}`, priority: randInt(random, 0, 255) };
    if (q.putNowait(m)) note(entered, [m]);
    else note(rejected, [m]);
  }

  // Everything has settled: count what the queue still holds, then drain it.
  const statsBefore = { ...q.stats };
  const sizeBefore = q.size;
  const drained = await drainIds(q, settle);
  const stats = { ...q.stats };
  await q.close();
  expect(q.closed).toBe(true);
  // Late aborts (timers set for operations that already finished) must be harmless.
  await sleep(12);

  expect(unexpected).toEqual([]);
  expect(entered.size + rejected.size + notEntered.size).toBe(produced);
  expect(produced).toBe(producers * messagesPerProducer + maxSize + 2);

  // Delivered exactly once; dropped, delivered and drained are disjoint; all of them had entered.
  expect(new Set(delivered).size).toBe(delivered.length);
  const seen = [...delivered, ...droppedIds, ...drained];
  expect(new Set(seen).size).toBe(seen.length);
  expect(seen.filter((id) => !entered.has(id))).toEqual([]);
  expect([...peeked].filter((id) => !entered.has(id))).toEqual([]);
  // What entered and was never seen again was removed by clear(): exactly as many as clear() reported.
  const seenSet = new Set(seen);
  const unseen = [...entered].filter((id) => !seenSet.has(id));
  expect(unseen.length).toBe(cleared);

  // Stats agree with the account.
  expect(sizeBefore).toBe(drained.length);
  expect(sizeBefore).toBe(statsBefore.enqueued - statsBefore.dequeued - statsBefore.dropped - cleared);
  expect(q.size).toBe(0);
  expect(stats).toEqual({
    enqueued: entered.size,
    dequeued: delivered.length + drained.length,
    dropped: droppedIds.length,
    rejected: rejected.size,
    timedOut: timedOutOps,
  });
  if (backpressure === BackpressureStrategy.DROP_OLDEST) expect(rejected.size).toBe(0);
  if (backpressure !== BackpressureStrategy.DROP_OLDEST) expect(droppedIds).toEqual([]);
  await expect(q.get()).rejects.toBeInstanceOf(QueueClosedError);

  return {
    produced,
    entered: entered.size,
    delivered: delivered.length,
    dropped: droppedIds.length,
    drained: drained.length,
    cleared,
    rejected: rejected.size,
    notEntered: notEntered.size,
    timedOutOps,
    stats,
  };
}
