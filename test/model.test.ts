import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { BackpressureStrategy, MessageQueue, type QueueOptions } from 'ringkernel';
import type { Msg } from './helpers.js';
import { modelTranscript, runScenario, scenarioArb, type Scenario } from './model.js';

const make = async (options: QueueOptions<Msg>) => new MessageQueue<Msg>(options);
const noSettle = async () => {};
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms).then(() => undefined);

describe('MessageQueue against the model (random operation sequences, virtual time)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('the model itself: a scripted sequence gives the transcript the contract prescribes', async () => {
    const scenario: Scenario = {
      backpressure: BackpressureStrategy.BLOCK,
      maxSize: 1,
      ops: [
        { kind: 'get', timeout: 'none', signal: 'none' }, // 0: waits
        { kind: 'putNowait', priority: 1 }, // 1: m0 goes straight to op 0
        { kind: 'putNowait', priority: 200 }, // 2: m1 stays
        { kind: 'put', priority: 'absent', timeout: 10, signal: 'none' }, // 3: m2 blocks
        { kind: 'advance', ms: 10 }, // 4: op 3 times out
        { kind: 'put', priority: 5, timeout: 'none', signal: 'abortable' }, // 5: m3 blocks
        { kind: 'getNowait' }, // 6: m1, admits m3
        { kind: 'peek' }, // 7: m3
      ],
    };
    const model = modelTranscript(scenario);
    expect(model.steps.map((s) => s.r)).toEqual([
      'pending',
      { ok: true },
      { ok: true },
      'pending',
      { ok: 10 },
      'pending',
      { ok: 'm1' },
      { ok: 'm3' },
    ]);
    expect(model.steps[1].settled).toEqual([[0, { ok: 'm0' }]]);
    expect(model.steps[4].settled).toEqual([[3, { err: 'QueueFullError', accepted: 0 }]]);
    expect(model.steps[6].settled).toEqual([[5, { ok: undefined }]]);
    expect(model.drained).toEqual(['m3']);
    expect(model.statsAfterDrain).toEqual({ enqueued: 3, dequeued: 3, dropped: 0, rejected: 0, timedOut: 1 });
    const actual = await runScenario(make, scenario, noSettle, advance);
    expect(actual).toEqual(model);
  });

  for (const backpressure of [BackpressureStrategy.BLOCK, BackpressureStrategy.REJECT, BackpressureStrategy.DROP_OLDEST]) {
    it(`matches the model under ${backpressure}`, async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb(backpressure), async (scenario) => {
          const actual = await runScenario(make, scenario, noSettle, advance);
          expect(actual).toEqual(modelTranscript(scenario));
        }),
        { numRuns: 300 },
      );
    });
  }
});
