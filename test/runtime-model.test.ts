/**
 * The two backends against each other: random sequences of lifecycle calls, sends (single,
 * batches, requests), receives and timeouts, run on the CPU and on the GPU backend, must give
 * the same transcript (every call's outcome, every kernel's state and counts after each step).
 * `rt.idle()` after each step is the synchronisation point; the clock is virtual (fake timers
 * for setTimeout and performance only: setImmediate stays real, the WebGPU binding needs it).
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { RingKernelRuntime } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';
import { addTen, double, fanOut } from './runtime-kernels.js';

type Target = 'a' | 'f';
type Op =
  | { kind: 'send'; target: Target; v: number; priority: number; timeout: number | undefined }
  | { kind: 'sendMany'; target: Target; vs: number[]; priority: number; timeout: number | undefined }
  | { kind: 'request'; target: Target; v: number; priority: number; timeout: number | undefined }
  | { kind: 'receive'; from: 'b' | 'f'; max: number; timeout: number }
  | { kind: 'lifecycle'; call: 'activate' | 'deactivate' | 'reactivate'; target: 'a' | 'b' | 'f' }
  | { kind: 'relaunch' }
  | { kind: 'advance'; ms: number };

interface Scenario {
  backpressure: 'block' | 'reject' | 'drop';
  sizes: [number, number, number];
  ops: Op[];
}

const timeoutArb = fc.constantFrom<number | undefined>(undefined, 0, 15, 40);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('send' as const), target: fc.constantFrom<Target>('a', 'f'), v: fc.integer({ min: 0, max: 3 }), priority: fc.constantFrom(0, 7, 128, 255), timeout: timeoutArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('sendMany' as const),
      target: fc.constantFrom<Target>('a', 'f'),
      vs: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 6 }),
      priority: fc.constantFrom(0, 7, 128, 255),
      timeout: timeoutArb,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('request' as const), target: fc.constantFrom<Target>('a', 'f'), v: fc.integer({ min: 0, max: 3 }), priority: fc.constantFrom(0, 128, 255), timeout: timeoutArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('receive' as const), from: fc.constantFrom<'b' | 'f'>('b', 'f'), max: fc.integer({ min: 1, max: 5 }), timeout: fc.constantFrom(0, 15) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('lifecycle' as const), call: fc.constantFrom<'activate' | 'deactivate' | 'reactivate'>('activate', 'deactivate', 'reactivate'), target: fc.constantFrom<'a' | 'b' | 'f'>('a', 'b', 'f') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(5, 20, 50) }) },
  // terminate f (its waiting senders and receivers reject) and launch it again (LAUNCHED, empty)
  { weight: 1, arbitrary: fc.constant({ kind: 'relaunch' as const }) },
);
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  backpressure: fc.constantFrom<Scenario['backpressure']>('block', 'reject', 'drop'),
  sizes: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 3, max: 8 })), // (f: fanOut emits up to 3: a smaller output queue is refused at launch)
  ops: fc.array(opArb, { minLength: 1, maxLength: 25, size: 'max' }),
});

const outcome = (e: unknown): string => (e instanceof Error ? `${e.name}` : `value ${JSON.stringify(e)}`);

async function run(backend: 'cpu' | 'gpu', s: Scenario): Promise<unknown[]> {
  const rt = await RingKernelRuntime.create({ backend });
  const transcript: unknown[] = [];
  const settled: [number, string][] = [];
  const settle = async () => {
    await rt.idle();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  try {
    const [aSize, bSize, fSize] = s.sizes;
    await rt.launch('b', addTen, { inputQueueSize: bSize, outputQueueSize: bSize + 2 });
    await rt.launch('a', double, { inputQueueSize: aSize, backpressure: s.backpressure, sendsTo: 'b' });
    const launchF = () => rt.launch('f', fanOut, { inputQueueSize: fSize, outputQueueSize: fSize, backpressure: s.backpressure });
    await launchF();
    for (const id of ['b', 'a', 'f']) await rt.activate(id);
    let id = 0;
    for (const [i, op] of s.ops.entries()) {
      const track = (p: Promise<unknown>) =>
        p.then(
          (v) => settled.push([i, `ok ${JSON.stringify(v)}`]),
          (e: unknown) => settled.push([i, outcome(e)]),
        );
      switch (op.kind) {
        case 'send':
          void track(rt.send(op.target, { v: op.v, id: id++, priority: op.priority }, { timeout: op.timeout }));
          break;
        case 'sendMany':
          void track(rt.sendMany(op.target, op.vs.map((v) => ({ v, id: id++, priority: op.priority })), { timeout: op.timeout }));
          break;
        case 'request':
          void track(rt.sendAndReceive(op.target, { v: op.v, id: id++, priority: op.priority }, { timeout: op.timeout }));
          break;
        case 'receive':
          void track(rt.receiveMany(op.from, op.max, { timeout: op.timeout }));
          break;
        case 'lifecycle':
          void track(rt[op.call](op.target));
          break;
        case 'advance':
          await vi.advanceTimersByTimeAsync(op.ms);
          break;
        case 'relaunch':
          await track(rt.terminate('f').then(launchF));
          break;
      }
      await settle();
      const kernels = Object.fromEntries(
        ['a', 'b', 'f'].map((k) => {
          const t = rt.telemetry(k)!;
          return [k, [t.state, t.messagesProcessed, t.messagesEmitted, t.messagesDropped, t.errors, t.lastError, t.inputDepth, t.outputDepth]];
        }),
      );
      transcript.push({ step: i, settled: settled.splice(0).sort((x, y) => x[0] - y[0]), kernels });
    }
    // what is left, drained
    for (const id of ['a', 'b', 'f']) if (rt.state(id) !== 'active') await rt[rt.state(id) === 'launched' ? 'activate' : 'reactivate'](id);
    await settle();
    const left: unknown[] = [];
    for (const from of ['b', 'f']) left.push(await rt.receiveMany(from, 1000, { timeout: 0 }).catch(outcome));
    await settle(); // (what the room just made lets in is processed before the clock moves)
    await vi.advanceTimersByTimeAsync(100);
    await settle();
    transcript.push({ left, settled: settled.splice(0).sort((x, y) => x[0] - y[0]) });
    return transcript;
  } finally {
    await rt.shutdown();
  }
}

describeGpu('the CPU and GPU backends agree (random sequences of lifecycle calls, sends, receives, requests, timeouts)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('same transcripts', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const cpu = await run('cpu', scenario);
        const gpu = await run('gpu', scenario);
        expect(gpu).toEqual(cpu);
      }),
      { numRuns: Number(process.env.RINGKERNEL_RUNTIME_MODEL_RUNS ?? 40), seed: 2026 },
    );
  });
});

