/**
 * The GPU queue against the CPU queue and the model: the same random operation sequences
 * (fast-check scenarios, virtual time) must give identical transcripts, in every configuration
 * of gpu-configs.ts, on small queues (waiting and backpressure everywhere) and on large ones
 * (hundreds of messages over all priorities: the device's ordering, not a host copy).
 * Only timers and the clock are faked: setImmediate stays real, because the WebGPU binding
 * resolves its promises through it.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { BackpressureStrategy, GpuMessageQueue, MessageQueue, type QueueOptions } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';
import type { Msg } from './helpers.js';
import { largeScenarioArb, modelTranscript, runScenario, scenarioArb } from './model.js';
import { runStress } from './stress.js';
import { ALL_CONFIGS, VERIFIED_CONFIGS, flushOf } from './gpu-configs.js';

const makeCpu = async (options: QueueOptions<Msg>) => new MessageQueue<Msg>(options);
const noSettle = async () => {};
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms).then(() => undefined);
const RUNS = Number(process.env.RINGKERNEL_GPU_MODEL_RUNS ?? 40);
const LARGE_RUNS = Number(process.env.RINGKERNEL_GPU_MODEL_RUNS ?? 12);
const STRATEGIES = [BackpressureStrategy.BLOCK, BackpressureStrategy.REJECT, BackpressureStrategy.DROP_OLDEST];

describeGpu('GpuMessageQueue = MessageQueue = model (random sequences, identical transcripts)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  for (const backpressure of STRATEGIES) {
    for (const config of ALL_CONFIGS) {
      it(`${backpressure}, ${config.name}, small queues`, { timeout: 120_000 }, async () => {
        await fc.assert(
          fc.asyncProperty(scenarioArb(backpressure), async (scenario) => {
            const cpu = await runScenario(makeCpu, scenario, noSettle, advance);
            const gpu = await runScenario(config.make, scenario, flushOf, advance);
            expect(gpu).toEqual(cpu);
            expect(gpu).toEqual(modelTranscript(scenario));
          }),
          { numRuns: RUNS, seed: 424242 + backpressure.length },
        );
      });
    }
    for (const config of VERIFIED_CONFIGS) {
      it(`${backpressure}, ${config.name}, large queues (hundreds of messages, 256 priorities)`, { timeout: 120_000 }, async () => {
        await fc.assert(
          fc.asyncProperty(largeScenarioArb(backpressure), async (scenario) => {
            const cpu = await runScenario(makeCpu, scenario, noSettle, advance);
            const gpu = await runScenario(config.make, scenario, flushOf, advance);
            expect(gpu).toEqual(cpu);
            expect(gpu).toEqual(modelTranscript(scenario));
          }),
          { numRuns: LARGE_RUNS, seed: 777 + backpressure.length },
        );
      });
    }
  }
});

describeGpu('GpuMessageQueue under stress (timeouts, aborts, clears): every message accounted for exactly once', () => {
  for (const backpressure of STRATEGIES) {
    for (const config of VERIFIED_CONFIGS) {
      for (const { maxSize, seed, batch, widePriorities, messagesPerProducer } of [
        { maxSize: 1, seed: 1, messagesPerProducer: 100 },
        { maxSize: 32, seed: 3, messagesPerProducer: 100 },
        // far above the head copy: batches over all priorities fill it, the device orders them
        { maxSize: 300, seed: 5, batch: 80, widePriorities: true, messagesPerProducer: 400 },
      ]) {
        it(`${backpressure}, ${config.name}, maxSize ${maxSize}, 8 producers, 6 consumers`, { timeout: 60_000 }, async () => {
          let q: Awaited<ReturnType<typeof config.make>> | undefined;
          const account = await runStress(
            async (options) => (q = await config.make(options)),
            flushOf as never,
            { backpressure, maxSize, producers: 8, consumers: 6, messagesPerProducer, seed, batch, widePriorities },
          );
          expect(account.delivered).toBeGreaterThan(0);
          // (a queue of 300 that REJECT or DROP_OLDEST keep full never leaves a consumer waiting)
          if (maxSize < 100 || backpressure === BackpressureStrategy.BLOCK) expect(account.timedOutOps).toBeGreaterThan(0);
          if (backpressure === BackpressureStrategy.BLOCK) expect(account.notEntered).toBeGreaterThan(0);
          if (backpressure === BackpressureStrategy.REJECT) expect(account.rejected).toBeGreaterThan(0);
          if (backpressure === BackpressureStrategy.DROP_OLDEST) expect(account.dropped).toBeGreaterThan(0);
          if (q instanceof GpuMessageQueue) expect(q.hostTableSize).toBe(0);
        });
      }
    }
  }
});
