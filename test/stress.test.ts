import { describe, expect, it } from 'vitest';
import { BackpressureStrategy, MessageQueue, type QueueOptions } from 'ringkernel';
import type { Msg } from './helpers.js';
import { runStress } from './stress.js';

const make = async (options: QueueOptions<Msg>) => new MessageQueue<Msg>(options);
const noSettle = async () => {};

describe('MessageQueue under stress: every message accounted for exactly once', () => {
  const cases = [
    { maxSize: 1, seed: 1 },
    { maxSize: 4, seed: 2 },
    { maxSize: 32, seed: 3 },
  ];
  for (const backpressure of [BackpressureStrategy.BLOCK, BackpressureStrategy.REJECT, BackpressureStrategy.DROP_OLDEST]) {
    for (const { maxSize, seed } of cases) {
      it(`${backpressure}, maxSize ${maxSize}, 8 producers, 6 consumers`, { timeout: 20_000 }, async () => {
        const account = await runStress(make, noSettle, {
          backpressure,
          maxSize,
          producers: 8,
          consumers: 6,
          messagesPerProducer: 150,
          seed,
        });
        // The run must have exercised the interesting paths, not just passed messages through.
        expect(account.delivered).toBeGreaterThan(0);
        expect(account.timedOutOps).toBeGreaterThan(0);
        expect(account.drained).toBeGreaterThan(0);
        if (process.env.STRESS_VERBOSE) console.log(backpressure, maxSize, account);
        if (backpressure === BackpressureStrategy.BLOCK) expect(account.notEntered).toBeGreaterThan(0);
        if (backpressure === BackpressureStrategy.REJECT) expect(account.rejected).toBeGreaterThan(0);
        if (backpressure === BackpressureStrategy.DROP_OLDEST) expect(account.dropped).toBeGreaterThan(0);
      });
    }
  }
});
