/**
 * `ringkernel bench --profile`: where a GPU tick's time goes, per dispatch and per host phase.
 *
 * For a tick at batch 1, 1 Ki and 64 Ki through 1 stage (x2) and 3 stages (x2, +1, x2; sendsTo),
 * on a device with timestamp queries: each round sends one packed batch and receives it, so each
 * round is one tick of the whole batch. Reported, as medians over the rounds:
 *  - each dispatch of the tick in order: its pipeline, workgroups and GPU time (timestamp queries;
 *    each dispatch in a pass of its own while profiling: device/profile.ts);
 *  - the host phases: plan (the tick's turn to its plan), encode (the steps, bind groups and
 *    dispatches), submit (finish, readback copies, queue.submit, the map request), wait (until the
 *    map resolves: the GPU's run and the callback), deliver (the readback read, queues, kernels,
 *    replies), and the whole tick.
 * The timestamp clock is the adapter's: on the software adapter one tick of it is 65.5 µs, so short
 * dispatches read 0 or 65.5 µs and only their sums over many dispatches mean much.
 */
import { RingKernelRuntime, acquireDevice, profileSubmissions, describeAdapter, type SubmissionTiming, type TickTiming } from 'ringkernel';
import { launchPipeline, times2 } from './runtime-workloads.js';

export interface DispatchProfile {
  label: string;
  workgroups: number;
  gpuUs: number | null;
}
export interface TickProfile {
  stages: 1 | 3;
  batch: number;
  rounds: number;
  dispatches: DispatchProfile[];
  /** host phases, median µs */
  host: { plan: number; encode: number; submit: number; wait: number; deliver: number; tick: number };
  /** sum of the dispatches' median GPU times, µs */
  gpuUs: number | null;
  /** median time of a whole round (send, tick, receive), µs */
  roundUs: number;
  /** ticks per round: the one that runs the kernels, and those that only carry host operations (a receive's take from the output queue) */
  ticksPerRound: number;
  /** median time of the ticks that ran no kernel, µs */
  hostTickUs: number;
}
export interface ProfileReport {
  adapter: string;
  timestamps: boolean;
  profiles: TickProfile[];
}

const BATCHES = [1, 1024, 65536] as const;

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function profileOne(device: GPUDevice, stages: 1 | 3, batch: number, rounds: number): Promise<TickProfile> {
  const ticks: TickTiming[] = [];
  const subs: SubmissionTiming[] = [];
  let recording = false;
  const rt = await RingKernelRuntime.create({ backend: 'gpu', device, onTick: (t) => recording && ticks.push(t) });
  try {
    const size = Math.max(batch, 64);
    if (stages === 3) await launchPipeline(rt, size);
    else {
      await rt.launch('a', times2, { inputQueueSize: size, outputQueueSize: size });
      await rt.activate('a');
    }
    const last = stages === 3 ? 'c' : 'a';
    const words = new Uint32Array(batch * 2);
    for (let i = 0; i < batch; i++) words[2 * i] = i;
    const priorities = new Uint8Array(batch).fill(128);
    const expect = stages === 3 ? (v: number) => (v * 2 + 1) * 2 : (v: number) => v * 2;
    let expectedSum = 0;
    for (let i = 0; i < batch; i++) expectedSum += expect(i);
    const round = async (): Promise<void> => {
      await rt.sendManyPacked('a', words, priorities);
      let got = 0;
      let sum = 0;
      while (got < batch) {
        const b = await rt.receiveManyPacked(last, batch - got);
        for (let j = 0; j < b.count; j++) sum += b.words[2 * j];
        got += b.count;
      }
      if (sum !== expectedSum) throw new Error(`profile: the batch came back wrong (sum ${sum}, expected ${expectedSum})`);
    };
    for (let w = 0; w < 3; w++) await round(); // compiled and warm
    const stop = profileSubmissions(device, (t) => recording && subs.push(t));
    const roundUs: number[] = [];
    try {
      recording = true;
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        await round();
        roundUs.push((performance.now() - t0) * 1000);
      }
      recording = false;
    } finally {
      stop();
    }
    // each tick's submission: the one that began while the tick's backend ran
    const phases = { plan: [] as number[], encode: [] as number[], submit: [] as number[], wait: [] as number[], deliver: [] as number[], tick: [] as number[] };
    const shapes = new Map<string, SubmissionTiming[]>();
    const hostTicks: number[] = [];
    for (const t of ticks) {
      if (t.kernels.length === 0) hostTicks.push((t.end - t.start) * 1000);
      const s = subs.find((x) => x.start >= t.planned && x.start <= t.ran);
      if (s === undefined) continue;
      // only the ticks that ran the whole batch through every stage (a round may add a tick for what is left)
      if (t.kernels.length !== stages) continue;
      phases.plan.push((t.planned - t.start) * 1000);
      phases.encode.push((s.encoded - t.planned) * 1000);
      phases.submit.push((s.submitted - s.encoded) * 1000);
      phases.wait.push((s.mapped - s.submitted) * 1000);
      phases.deliver.push((t.end - s.mapped) * 1000);
      phases.tick.push((t.end - t.start) * 1000);
      const key = (s.dispatches ?? []).map((d) => `${d.label}:${d.workgroups}`).join(',');
      shapes.set(key, [...(shapes.get(key) ?? []), s]);
    }
    // the shape most ticks had (the full batch's)
    let best: SubmissionTiming[] = [];
    for (const list of shapes.values()) if (list.length > best.length) best = list;
    const dispatches: DispatchProfile[] = (best[0]?.dispatches ?? []).map((d, i) => {
      const times = best.map((s) => s.dispatches![i].gpuNs).filter((x): x is number => x !== null);
      return { label: d.label, workgroups: d.workgroups, gpuUs: times.length > 0 ? median(times) / 1000 : null };
    });
    const timed = dispatches.every((d) => d.gpuUs !== null) && dispatches.length > 0;
    return {
      stages,
      batch,
      rounds: phases.tick.length,
      dispatches,
      host: {
        plan: median(phases.plan),
        encode: median(phases.encode),
        submit: median(phases.submit),
        wait: median(phases.wait),
        deliver: median(phases.deliver),
        tick: median(phases.tick),
      },
      gpuUs: timed ? dispatches.reduce((a, d) => a + d.gpuUs!, 0) : null,
      roundUs: median(roundUs),
      ticksPerRound: ticks.length / rounds,
      hostTickUs: median(hostTicks),
    };
  } finally {
    await rt.shutdown();
  }
}

/** Profiles every (stages, batch) case; `quick`: fewer rounds. */
export async function tickProfile(quick: boolean, progress: (text: string) => void): Promise<ProfileReport> {
  const acquired = await acquireDevice({ features: ['timestamp-query'] });
  const { device } = acquired;
  const report: ProfileReport = {
    adapter: adapterLine(describeAdapter(acquired.adapter)),
    timestamps: device.features.has('timestamp-query'),
    profiles: [],
  };
  try {
    for (const stages of [1, 3] as const) {
      for (const batch of BATCHES) {
        progress(`profile: ${stages} stage${stages > 1 ? 's' : ''}, batch ${batch}`);
        const rounds = quick ? 5 : batch >= 65536 ? 15 : 40;
        report.profiles.push(await profileOne(device, stages, batch, rounds));
      }
    }
  } finally {
    device.destroy();
  }
  return report;
}

function adapterLine(a: ReturnType<typeof describeAdapter>): string {
  return [a.vendor, a.architecture, a.device, a.description].filter((x) => x !== '').join(' / ') + (a.isSoftware ? ' (software)' : '');
}

const us = (x: number | null): string => (x === null || Number.isNaN(x) ? '—' : x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);

/** The profile as text tables. */
export function formatProfile(r: ProfileReport): string {
  const lines: string[] = [];
  lines.push(`ringkernel bench --profile: a GPU tick per dispatch and per host phase (medians)`);
  lines.push(`adapter: ${r.adapter}; timestamp queries: ${r.timestamps ? 'yes' : 'no (GPU times not measured)'}`);
  lines.push('');
  lines.push('host phases of the tick that runs the kernels: plan | encode | submit | wait (GPU + map) | deliver | whole tick;');
  lines.push('GPU: sum of its dispatches; round: send + every tick + receive; ticks: per round; host tick: one without kernels (a receive)');
  lines.push('   stages    batch   rounds     plan   encode   submit       wait  deliver       tick        GPU      round  ticks  host tick');
  for (const p of r.profiles) {
    const h = p.host;
    lines.push(
      `   ${String(p.stages).padStart(6)} ${String(p.batch).padStart(8)} ${String(p.rounds).padStart(8)} ${us(h.plan).padStart(8)} ${us(h.encode).padStart(8)} ${us(h.submit).padStart(8)} ${us(h.wait).padStart(10)} ${us(h.deliver).padStart(8)} ${us(h.tick).padStart(10)} ${us(p.gpuUs).padStart(10)} ${us(p.roundUs).padStart(10)} ${p.ticksPerRound.toFixed(1).padStart(6)} ${us(p.hostTickUs).padStart(10)}`,
    );
  }
  for (const p of r.profiles) {
    lines.push('');
    lines.push(`${p.stages} stage${p.stages > 1 ? 's' : ''}, batch ${p.batch}: ${p.dispatches.length} dispatches, GPU ${us(p.gpuUs)}`);
    p.dispatches.forEach((d, i) => lines.push(`   ${String(i + 1).padStart(3)}  ${d.label.padEnd(24)} ${String(d.workgroups).padStart(8)} workgroups ${us(d.gpuUs).padStart(10)}`));
  }
  return lines.join('\n') + '\n';
}
