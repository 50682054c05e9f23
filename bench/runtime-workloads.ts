/**
 * Runtime workload group for `ringkernel bench`: ring kernels on the GPU backend and on the CPU
 * backend, side by side in one run, with the raw WebGPU round trip as the floor.
 *
 *  - round trip: `sendAndReceive` through one kernel (+1), one request at a time; p50/p99 per
 *    round trip; the GPU's as a ratio to the floor; beside them one turn of the event loop (a
 *    setImmediate hop), the least any tick takes.
 *  - pipeline: three kernels (x2, +1, x2) chained with sendsTo, batches of B = 1 .. 64 Ki: each
 *    call sends a batch to the first stage and receives a batch from the last (one batch stays in
 *    flight, so the stages keep working); messages/s end to end, by objects (sendMany/receiveMany)
 *    and packed (sendManyPacked/receiveManyPacked).
 *  - stream (bench/streaming.ts): a producer sends batches of 1, 64 and 4 Ki continuously into the
 *    same pipeline while a consumer receives, for a fixed time: sustained messages/s and each
 *    message's send-to-receive latency, p50/p99.
 *  - idle: CPU time the process uses over 3 s with three active kernels and no messages.
 * PyDotCompute's published figures are printed as references (not measured here).
 * Targets (reported, never asserted): GPU round trip p50 <= 1.5x the floor; CPU backend round
 * trip p50 <= 5 us; pipeline at 64 Ki >= 10 M msgs/s on the GPU (packed) and within 2x its tick
 * floor (bench/tick-floor.ts: the least any 3-stage tick costs), and >= 4 M msgs/s on the
 * CPU backend (objects); stream of 4 Ki batches >= 10 M msgs/s on the GPU; idle CPU < 1% of one core.
 */
import { DEFAULT_TICKS_IN_FLIGHT, RingKernelRuntime, defineMessage, defineRingKernel } from 'ringkernel';
import type { Case, CaseSpec, Measured, Measurement, Row, TargetResult, Workload, WorkloadGroup } from './harness.js';
import { device, floorSpec } from './gpu-workloads.js';
import { streamDepthMeasurement, streamingMeasurement } from './streaming.js';
import { tickFloorSpec } from './tick-floor.js';
import { coldStartMeasurement } from './cold-start.js';

export const Item = defineMessage({ name: 'Item', fields: { v: 'u32', id: 'u32' } });
type Item = typeof Item.type;

export const plusOne = defineRingKernel({
  name: 'plusOne',
  input: Item,
  output: Item,
  wgsl: 'fn handle(m: Item, priority: u32) { rk_emit(Item(m.v + 1u, m.id), priority); }',
  cpu: (m, ctx) => {
    ctx.emit({ v: m.v + 1, id: m.id, priority: m.priority });
  },
});
export const times2 = defineRingKernel({
  name: 'times2',
  input: Item,
  output: Item,
  wgsl: 'fn handle(m: Item, priority: u32) { rk_emit(Item(m.v * 2u, m.id), priority); }',
  cpu: (m, ctx) => {
    ctx.emit({ v: m.v * 2, id: m.id, priority: m.priority });
  },
});

const BATCHES = [1, 64, 1024, 16384, 65536] as const;
const STREAM_BATCHES = [1, 64, 4096] as const;

/** The three stages of the pipeline and stream workloads, downstream first: a (x2) -> b (+1) -> c (x2). */
export async function launchPipeline(rt: RingKernelRuntime, size: number, maxMessagesPerTick?: number): Promise<void> {
  const config = { inputQueueSize: size, ...(maxMessagesPerTick === undefined ? {} : { maxMessagesPerTick }) };
  await rt.launch('c', times2, { ...config, outputQueueSize: size });
  await rt.launch('b', plusOne, { ...config, sendsTo: 'c' });
  await rt.launch('a', times2, { ...config, sendsTo: 'b' });
  for (const id of ['c', 'b', 'a']) await rt.activate(id);
}
const PUBLISHED_ROUND_TRIP = 'PyDotCompute, a Python library whose "ring kernels" are asyncio tasks on the host (no GPU): its own published actor round trip, p50 63 us, p99 131 us';
const PUBLISHED_THROUGHPUT = 'PyDotCompute, a Python library whose "ring kernels" are asyncio tasks on the host (no GPU): its own published 46-76 k msgs/s, +12% from 1 to 8 actors';

type Backend = 'gpu' | 'cpu';

async function runtime(backend: Backend, ticksInFlight?: number): Promise<RingKernelRuntime | string> {
  if (backend === 'cpu') return RingKernelRuntime.create({ backend });
  try {
    return await RingKernelRuntime.create({ backend, device: (await device()).device, ...(ticksInFlight === undefined ? {} : { ticksInFlight }) });
  } catch (error) {
    return `no WebGPU device: ${(error as Error).message}`;
  }
}

function roundTripSpec(backend: Backend): CaseSpec {
  return {
    impl: 'ringkernel',
    label: backend === 'gpu' ? 'RingKernelRuntime, gpu' : 'RingKernelRuntime, cpu',
    variant: `${backend} backend: await sendAndReceive(k, msg) through one kernel (+1)`,
    kind: backend === 'gpu' ? 'ringkernel-gpu' : 'ringkernel',
    async build(): Promise<Case | string> {
      const rt = await runtime(backend);
      if (typeof rt === 'string') return rt;
      await rt.launch('k', plusOne, { inputQueueSize: 64, outputQueueSize: 64 });
      await rt.activate('k');
      const m = { v: 1, id: 0 };
      return {
        async: true,
        opsPerCall: 1,
        async call() {
          const r = (await rt.sendAndReceive('k', m)) as Item;
          if (r.v !== 2) throw new Error('wrong reply');
        },
        dispose: () => rt.shutdown(),
      };
    },
  };
}

/**
 * The CPU backend's floor: one turn of the event loop (a setImmediate hop), which every tick
 * takes so that everything sent in one turn goes into one tick.
 */
const eventLoopFloorSpec: CaseSpec = {
  impl: 'event-loop floor',
  variant: 'await new Promise((r) => setImmediate(r)): one turn of the event loop, as a tick takes',
  kind: 'event-loop-floor',
  async build(): Promise<Case> {
    const hop = (resolve: () => void) => setImmediate(resolve);
    return {
      async: true,
      opsPerCall: 1,
      call: () => new Promise<void>(hop),
    };
  },
};

/** A three-stage pipeline (x2, +1, x2) moving one batch per call, with one more in flight. */
function pipelineSpec(backend: Backend, batch: number, packed: boolean): CaseSpec {
  const api = packed ? 'sendManyPacked + receiveManyPacked' : 'sendMany + receiveMany';
  return {
    impl: 'ringkernel',
    label: `${backend}${packed ? ', packed' : ''}`,
    variant: `${backend} backend, 3 stages (sendsTo): ${api} of ${batch}, one batch in flight`,
    kind: `ringkernel-${backend}${packed ? '-packed' : ''}`,
    async build(): Promise<Case | string> {
      const rt = await runtime(backend);
      if (typeof rt === 'string') return rt;
      const size = Math.max(64, 2 * batch);
      await launchPipeline(rt, size, Math.max(batch, 1024));
      const messages: Item[] = Array.from({ length: batch }, (_, i) => ({ v: i, id: i, priority: (i * 37) & 255 }));
      const words = new Uint32Array(batch * Item.words);
      const priorities = new Uint8Array(batch);
      messages.forEach((m, i) => {
        words[i * Item.words] = m.v;
        words[i * Item.words + 1] = m.id;
        priorities[i] = m.priority!;
      });
      const send = () => (packed ? rt.sendManyPacked('a', words, priorities) : rt.sendMany('a', messages));
      const receive = async (): Promise<number> => {
        let got = 0;
        while (got < batch) got += packed ? (await rt.receiveManyPacked('c', batch - got)).count : (await rt.receiveMany('c', batch - got)).length;
        return got;
      };
      await send();
      return {
        async: true,
        opsPerCall: batch,
        async call() {
          void send();
          if ((await receive()) !== batch) throw new Error('lost messages');
        },
        async dispose() {
          await receive();
          await rt.shutdown();
        },
      };
    },
  };
}

/** CPU time (user + system) the process spends over `ms` with three active, idle kernels, in % of one core. */
function idleMeasurement(backend: Backend): Measurement {
  return {
    id: `rt-idle-${backend}`,
    title: `Ring kernels idle, ${backend} backend: CPU time over 3 s`,
    description: 'Three active kernels in a pipeline, no messages: CPU time (user + system) the whole process used over 3 s, in % of one core.',
    async run() {
      const rt = await runtime(backend);
      if (typeof rt === 'string') return { value: NaN, unit: '% of one core', detail: rt };
      try {
        await rt.launch('c', times2);
        await rt.launch('b', plusOne, { sendsTo: 'c' });
        await rt.launch('a', times2, { sendsTo: 'b' });
        for (const id of ['c', 'b', 'a']) await rt.activate(id);
        await rt.sendAndReceive('a', { v: 1, id: 1 }); // everything compiled and warm
        await rt.idle();
        const ticks = rt.telemetry('a')!.ticks;
        const ms = 3000;
        const before = process.cpuUsage();
        await new Promise((resolve) => setTimeout(resolve, ms));
        const used = process.cpuUsage(before);
        const percent = ((used.user + used.system) / 1000 / ms) * 100;
        return { value: percent, unit: '% of one core', detail: `${((used.user + used.system) / 1000).toFixed(1)} ms of CPU in ${ms} ms; ${rt.telemetry('a')!.ticks - ticks} ticks ran` };
      } finally {
        await rt.shutdown();
      }
    },
  };
}

const fmtUs = (ns: number) => `${(ns / 1000).toFixed(1)} us`;
const fmtRateM = (perSec: number) => `${(perSec / 1e6).toFixed(2)} M`;

export const runtimeGroup: WorkloadGroup = {
  name: 'runtime',
  title: 'Ring kernels: the GPU and CPU backends side by side, against the raw WebGPU round trip',
  workloads(): Workload[] {
    const out: Workload[] = [
      {
        id: 'rt-roundtrip',
        title: 'Ring kernel request/reply: sendAndReceive through one kernel',
        unit: 'round trips',
        description: 'One request at a time: await sendAndReceive(k, msg), k adds 1. Ratio: floor round trips/s (the GPU round trip against one writeBuffer + dispatch + copy + map). The event-loop floor is one setImmediate hop: every tick waits for the end of the turn that sent.',
        params: { batch: 1 },
        baseline: { label: 'floor', kind: 'floor' },
        cases: [roundTripSpec('gpu'), roundTripSpec('cpu'), floorSpec(1), eventLoopFloorSpec],
        references: [PUBLISHED_ROUND_TRIP],
      },
    ];
    for (const batch of BATCHES) {
      out.push({
        id: `rt-pipeline-${batch}`,
        title: `Ring kernel pipeline, 3 stages, batch ${batch}`,
        unit: 'msgs',
        description: `Each call sends ${batch} messages to the first of three kernels (x2, +1, x2; sendsTo) and receives ${batch} from the last; one batch stays in flight. A message counts once, end to end. Ratio: the tick floor (one upload, three dispatches of ${batch} invocations reading and writing ${batch} records, one readback: the least any 3-stage tick costs on this device).`,
        params: { batch },
        baseline: { label: 'tick floor', kind: 'tick-floor' },
        cases: [pipelineSpec('gpu', batch, false), pipelineSpec('gpu', batch, true), pipelineSpec('cpu', batch, false), pipelineSpec('cpu', batch, true), tickFloorSpec(batch, 3)],
        references: batch === 65536 ? [PUBLISHED_THROUGHPUT] : undefined,
      });
    }
    return out;
  },
  measurements(): Measurement[] {
    const streams = STREAM_BATCHES.flatMap((batch) => (['gpu', 'cpu'] as const).map((backend) => streamingMeasurement(backend, batch, () => runtime(backend), launchPipeline)));
    const depthOf = (batch: number, paced: boolean) => streamDepthMeasurement(batch, paced, (d) => runtime('gpu', d), launchPipeline, DEFAULT_TICKS_IN_FLIGHT);
    const depths = [depthOf(64, true), depthOf(1024, true), depthOf(4096, false)];
    return [...streams, ...depths, coldStartMeasurement, idleMeasurement('gpu'), idleMeasurement('cpu')];
  },
  header() {
    return ['runtime: ring kernels on the gpu backend (WebGPU, the adapter above) and on the cpu backend (the kernels\' JavaScript handlers)'];
  },
  targets(rows: readonly Row[], measured: readonly Measured[]): TargetResult[] {
    const row = (workload: string, kind: string) => rows.find((r) => r.workload === workload && r.kind === kind && r.opsPerSec !== null);
    const out: TargetResult[] = [];
    const gpu = row('rt-roundtrip', 'ringkernel-gpu');
    const floor = row('rt-roundtrip', 'floor');
    const t1 = 'GPU sendAndReceive p50 <= 1.5x floor p50';
    out.push(
      gpu?.p50Ns && floor?.p50Ns
        ? { target: t1, measured: `${fmtUs(gpu.p50Ns)} vs floor ${fmtUs(floor.p50Ns)} = ${(gpu.p50Ns / floor.p50Ns).toFixed(2)}x`, met: gpu.p50Ns <= 1.5 * floor.p50Ns }
        : { target: t1, measured: 'not measured', met: null },
    );
    const cpu = row('rt-roundtrip', 'ringkernel');
    const t2 = 'CPU backend sendAndReceive p50 <= 5 us';
    const hop = row('rt-roundtrip', 'event-loop-floor');
    const hopNote = hop?.p50Ns ? ` (one event-loop turn: ${fmtUs(hop.p50Ns)})` : '';
    out.push(cpu?.p50Ns ? { target: t2, measured: `${fmtUs(cpu.p50Ns)}${hopNote}`, met: cpu.p50Ns <= 5000 } : { target: t2, measured: 'not measured', met: null });
    for (const [kind, what, goal] of [
      ['ringkernel-gpu-packed', 'GPU (packed)', 10e6],
      ['ringkernel-cpu', 'CPU backend (objects)', 4e6],
    ] as const) {
      const r = row('rt-pipeline-65536', kind);
      const t = `3-stage pipeline at 64Ki, ${what} >= ${goal / 1e6} M msgs/s`;
      out.push(r ? { target: t, measured: `${(r.opsPerSec! / 1e6).toFixed(2)} M msgs/s`, met: r.opsPerSec! >= goal } : { target: t, measured: 'not measured', met: null });
    }
    const packed = row('rt-pipeline-65536', 'ringkernel-gpu-packed');
    const tickFloor = row('rt-pipeline-65536', 'tick-floor');
    const tf = '3-stage pipeline at 64Ki, GPU (packed) within 2x its tick floor';
    out.push(
      packed && tickFloor
        ? { target: tf, measured: `${(tickFloor.opsPerSec! / packed.opsPerSec!).toFixed(2)}x the tick floor's time (${fmtRateM(packed.opsPerSec!)} vs ${fmtRateM(tickFloor.opsPerSec!)} msgs/s)`, met: packed.opsPerSec! * 2 >= tickFloor.opsPerSec! }
        : { target: tf, measured: 'not measured', met: null },
    );
    const stream = measured.find((m) => m.id === 'rt-stream-gpu-4096');
    const ts = 'stream through 3 stages, batches of 4 Ki, GPU >= 10 M msgs/s sustained';
    out.push(stream && Number.isFinite(stream.value) ? { target: ts, measured: `${stream.value.toPrecision(3)} M msgs/s (${stream.detail})`, met: stream.value >= 10 } : { target: ts, measured: stream?.detail ?? 'not measured', met: null });
    const cold = measured.find((m) => m.id === 'rt-cold-start-gpu');
    const tc = 'first GPU sendAndReceive after launch, shader cache disabled, <= 3x the warm p50';
    out.push(cold && Number.isFinite(cold.value) ? { target: tc, measured: `${cold.value.toFixed(2)}x (${cold.detail})`, met: cold.value <= 3 } : { target: tc, measured: cold?.detail ?? 'not measured', met: null });
    for (const m of measured) {
      if (!m.id.startsWith('rt-idle')) continue;
      const t = `${m.title.replace(': CPU time over 3 s', '')}: CPU < 1% of one core`;
      out.push(Number.isFinite(m.value) ? { target: t, measured: `${m.value.toFixed(2)}% (${m.detail})`, met: m.value < 1 } : { target: t, measured: m.detail, met: null });
    }
    return out;
  },
};
