/**
 * The GPU queue against the CPU queue and the model: the same random operation sequences
 * (fast-check scenarios, virtual time) must give identical transcripts, in both payload modes.
 * Only timers and the clock are faked: setImmediate stays real, because the WebGPU binding
 * resolves its promises through it.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { BackpressureStrategy, GpuMessageQueue, MessageQueue, type Queue, type QueueOptions } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';
import type { Msg } from './helpers.js';
import { modelTranscript, runScenario, scenarioArb } from './model.js';
import { runStress } from './stress.js';
import { SchemaAdapter } from './gpu-schema-adapter.js';

const flushOf = async (q: Queue<Msg>) => {
  await (q as unknown as { flush(): Promise<void> }).flush();
};
const makeCpu = async (options: QueueOptions<Msg>) => new MessageQueue<Msg>(options);
const makeOpaque = (options: QueueOptions<Msg>) => GpuMessageQueue.create<Msg>(options);
const makeSchema = (options: QueueOptions<Msg>) => SchemaAdapter.create(options);
const noSettle = async () => {};
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms).then(() => undefined);
const RUNS = Number(process.env.RINGKERNEL_GPU_MODEL_RUNS ?? 60);

describeGpu('GpuMessageQueue = MessageQueue = model (random sequences, identical transcripts)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  for (const backpressure of [BackpressureStrategy.BLOCK, BackpressureStrategy.REJECT, BackpressureStrategy.DROP_OLDEST]) {
    for (const [mode, make] of [
      ['opaque', makeOpaque],
      ['schema', makeSchema],
    ] as const) {
      it(`${backpressure}, ${mode} payloads`, { timeout: 120_000 }, async () => {
        await fc.assert(
          fc.asyncProperty(scenarioArb(backpressure), async (scenario) => {
            const cpu = await runScenario(makeCpu, scenario, noSettle, advance);
            const gpu = await runScenario(make as never, scenario, flushOf, advance);
            expect(gpu).toEqual(cpu);
            expect(gpu).toEqual(modelTranscript(scenario));
          }),
          { numRuns: RUNS, seed: 424242 + backpressure.length },
        );
      });
    }
  }
});

describeGpu('GpuMessageQueue under stress (timeouts, aborts, clears): every message accounted for exactly once', () => {
  for (const backpressure of [BackpressureStrategy.BLOCK, BackpressureStrategy.REJECT, BackpressureStrategy.DROP_OLDEST]) {
    for (const { maxSize, seed } of [
      { maxSize: 1, seed: 1 },
      { maxSize: 32, seed: 3 },
    ]) {
      it(`${backpressure}, maxSize ${maxSize}, 8 producers, 6 consumers`, { timeout: 60_000 }, async () => {
        let gpu: GpuMessageQueue<Msg> | undefined;
        const account = await runStress(
          async (options) => (gpu = await GpuMessageQueue.create<Msg>(options)),
          flushOf as never,
          { backpressure, maxSize, producers: 8, consumers: 6, messagesPerProducer: 100, seed },
        );
        expect(account.delivered).toBeGreaterThan(0);
        expect(account.timedOutOps).toBeGreaterThan(0);
        if (backpressure === BackpressureStrategy.BLOCK) expect(account.notEntered).toBeGreaterThan(0);
        if (backpressure === BackpressureStrategy.REJECT) expect(account.rejected).toBeGreaterThan(0);
        if (backpressure === BackpressureStrategy.DROP_OLDEST) expect(account.dropped).toBeGreaterThan(0);
        expect(gpu!.hostTableSize).toBe(0);
      });
    }
  }
});
