/**
 * Streaming through a ring kernel pipeline: how ring kernels are used. A producer sends packed
 * batches continuously into three kernels chained with sendsTo (x2, +1, x2) while a consumer
 * receives continuously from the last one, for a fixed time; then the producer stops and the
 * consumer drains what is left. Reported: messages/s end to end (every message sent, received
 * and checked), and each message's send-to-receive latency, p50 and p99.
 *
 * The producer awaits each send (BLOCK backpressure, so a full pipeline slows it down instead of
 * dropping), and its next batch is sent while earlier ones are still in the pipeline: several
 * batches are in flight, unlike the pipeline workload's lock-step call.
 */
import type { RingKernelRuntime } from 'ringkernel';
import type { Measurement, MeasuredValue, RunConfig } from './harness.js';

/** The pipeline's stages, launched by the caller's runtime: `launch(rt, queueSize)` launches c, b, a (a sends to b sends to c). */
export type LaunchPipeline = (rt: RingKernelRuntime, queueSize: number) => Promise<void>;

/** Latency samples kept at most (every k-th message past that). */
const MAX_SAMPLES = 1 << 20;

export interface StreamResult {
  sent: number;
  received: number;
  /** messages whose value was not what the three stages make of it, or of a batch that came back incomplete, twice or permuted into another */
  wrong: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Streams batches of `batch` messages (Item { v, id }: v the index in its batch, id the batch)
 * for `durationMs`, then drains. Stage values: ((v * 2) + 1) * 2. `paced`: the producer sends one
 * batch per turn of the event loop (as one fed by I/O does) instead of as fast as its sends resolve.
 */
export async function stream(rt: RingKernelRuntime, batch: number, durationMs: number, paced = false): Promise<StreamResult> {
  const sentAt: number[] = [];
  // per batch: messages received and the sum of their indices (each batch must come back whole, once)
  const count: number[] = [];
  const indexSum: number[] = [];
  const words = new Uint32Array(batch * 2);
  for (let i = 0; i < batch; i++) words[i * 2] = i;
  const priorities = new Uint8Array(batch).fill(128);
  let sent = 0;
  let received = 0;
  let wrong = 0;
  let producing = true;
  const samples = new Float64Array(Math.min(MAX_SAMPLES, 1 << 16));
  let sampleBuf = samples;
  let nSamples = 0;
  let seen = 0;
  let stride = 1;
  const start = performance.now();
  let lastReceive = start;

  const produce = async (): Promise<void> => {
    for (let k = 0; performance.now() - start < durationMs; k++) {
      for (let i = 0; i < batch; i++) words[i * 2 + 1] = k;
      sentAt.push(performance.now());
      count.push(0);
      indexSum.push(0);
      await rt.sendManyPacked('a', words, priorities);
      sent += batch;
      if (paced) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    producing = false;
  };

  const consume = async (): Promise<void> => {
    while (producing || received < sent) {
      let got;
      try {
        got = await rt.receiveManyPacked('c', Math.max(4 * batch, 1024), { timeout: 10_000 });
      } catch {
        return; // nothing for 10 s: whatever is missing is reported as lost
      }
      const now = performance.now();
      lastReceive = now;
      for (let j = 0; j < got.count; j++) {
        const v = got.words[j * 2];
        const id = got.words[j * 2 + 1];
        const index = (v / 2 - 1) / 2;
        if (!Number.isInteger(index) || index < 0 || index >= batch || id >= sentAt.length) {
          wrong++;
          continue;
        }
        count[id]++;
        indexSum[id] += index;
        if (seen++ % stride === 0) {
          if (nSamples === sampleBuf.length) {
            if (sampleBuf.length < MAX_SAMPLES) {
              const grown = new Float64Array(sampleBuf.length * 2);
              grown.set(sampleBuf);
              sampleBuf = grown;
            } else {
              // keep every other sample and sample half as often from here on
              for (let s = 0; s < nSamples / 2; s++) sampleBuf[s] = sampleBuf[2 * s];
              nSamples = Math.floor(nSamples / 2);
              stride *= 2;
            }
          }
          sampleBuf[nSamples++] = now - sentAt[id];
        }
      }
      received += got.count;
    }
  };

  await Promise.all([produce(), consume()]);
  const whole = (batch * (batch - 1)) / 2;
  for (let k = 0; k < count.length; k++) if (count[k] !== 0 && (count[k] !== batch || indexSum[k] !== whole)) wrong += count[k];
  const sorted = sampleBuf.subarray(0, nSamples).sort();
  const pct = (p: number) => (nSamples === 0 ? NaN : sorted[Math.min(nSamples - 1, Math.floor(p * nSamples))]);
  return { sent, received, wrong, seconds: (lastReceive - start) / 1000, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

/** The stream as a bench measurement: one runtime of `backend`, its pipeline, one stream. */
export function streamingMeasurement(
  backend: 'gpu' | 'cpu',
  batch: number,
  runtime: () => Promise<RingKernelRuntime | string>,
  launch: LaunchPipeline,
): Measurement {
  return {
    id: `rt-stream-${backend}-${batch}`,
    title: `Ring kernel stream, 3 stages, batches of ${batch}, ${backend} backend`,
    description:
      `A producer sends batches of ${batch} (packed) continuously into three kernels chained with sendsTo (x2, +1, x2) while a consumer ` +
      'receives continuously from the last, for a fixed time; then it drains. Messages/s end to end, every one received and checked, ' +
      'and each message\'s send-to-receive latency.',
    async run(config: RunConfig): Promise<MeasuredValue> {
      const rt = await runtime();
      if (typeof rt === 'string') return { value: NaN, unit: 'M msgs/s', detail: rt };
      try {
        await launch(rt, Math.max(4096, 4 * batch));
        const r = await stream(rt, batch, config.quick ? 400 : 2000);
        const lost = r.sent - r.received;
        const accounted = lost === 0 && r.wrong === 0 ? 'every message received and checked' : `${lost} not received, ${r.wrong} wrong`;
        return {
          value: lost === 0 && r.wrong === 0 ? r.received / r.seconds / 1e6 : NaN,
          unit: 'M msgs/s',
          detail: `send-to-receive p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms; ${r.received} messages in ${r.seconds.toFixed(2)} s; ${accounted}`,
        };
      } finally {
        await rt.shutdown();
      }
    },
  };
}

/** Depths of ticks in flight the depth measurement compares. */
export const STREAM_DEPTHS = [1, 2, 3] as const;

/**
 * The GPU stream at each depth of ticks in flight (runtime option ticksInFlight), side by side:
 * the depths alternate, twice each (once with --quick), so a noisy moment of the machine does
 * not favour one. Value: the default depth's best round over depth 1's best round.
 */
export function streamDepthMeasurement(
  batch: number,
  paced: boolean,
  runtime: (ticksInFlight: number) => Promise<RingKernelRuntime | string>,
  launch: LaunchPipeline,
  defaultDepth: number,
): Measurement {
  const how = paced ? 'a paced producer (one batch per turn of the event loop)' : 'a producer as fast as its sends resolve';
  return {
    id: `rt-stream-${paced ? 'paced-' : ''}depth-${batch}`,
    title: `Ring kernel stream, 3 stages, batches of ${batch}, ${paced ? 'paced, ' : ''}gpu backend, by ticks in flight`,
    description:
      `The stream of rt-stream-gpu-${batch}, with ${how}, at ticksInFlight ${STREAM_DEPTHS.join(', ')}, alternated. ` +
      `Value: the best round's msgs/s at the default depth (${defaultDepth}) over the best round's at depth 1.`,
    async run(config: RunConfig): Promise<MeasuredValue> {
      const rounds = config.quick ? 1 : 2;
      const rates = new Map<number, number[]>();
      const latency = new Map<number, string>();
      for (let round = 0; round < rounds; round++) {
        for (const depth of STREAM_DEPTHS) {
          const rt = await runtime(depth);
          if (typeof rt === 'string') return { value: NaN, unit: 'x', detail: rt };
          try {
            await launch(rt, Math.max(4096, 4 * batch));
            const r = await stream(rt, batch, config.quick ? 300 : 1500, paced);
            if (r.sent !== r.received || r.wrong !== 0) return { value: NaN, unit: 'x', detail: `depth ${depth}: ${r.sent - r.received} not received, ${r.wrong} wrong` };
            rates.set(depth, [...(rates.get(depth) ?? []), r.received / r.seconds / 1e6]);
            latency.set(depth, `p50 ${r.p50Ms.toFixed(2)} / p99 ${r.p99Ms.toFixed(2)} ms`);
          } finally {
            await rt.shutdown();
          }
        }
      }
      const best = (d: number) => Math.max(...rates.get(d)!);
      const detail = STREAM_DEPTHS.map((d) => `depth ${d}: ${rates.get(d)!.map((x) => x.toFixed(3)).join(' / ')} M msgs/s (${latency.get(d)})`).join('; ');
      return { value: best(defaultDepth) / best(1), unit: 'x', detail };
    },
  };
}
