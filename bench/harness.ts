/**
 * The measurement core: workload/case model, interleaved rounds, statistics.
 *
 * A workload runs every implementation ("case") side by side: each is warmed up and calibrated on a
 * throwaway instance, then all measured instances are built fresh and the runner alternates between
 * them round by round (rotating the starting case each round) and reports the median round. Alternating means slow drift of the
 * machine (thermal, other load, GC pressure) hits every implementation alike, which a single
 * sequential pass per implementation would not.
 */

/** How an implementation relates to the comparison; ratios are taken against the best of a kind. */
export type ImplKind = 'ringkernel' | 'heap' | 'sorted-array' | 'task-queue' | (string & {});

/** One implementation, prepared and ready to be timed inside one workload. */
export interface Case {
  /**
   * Performs exactly `opsPerCall` operations (e.g. 100 put+get pairs). The harness times each call,
   * so a call should be long enough to time (microseconds) and short enough to sample often.
   */
  call: () => void | Promise<void>;
  /** Whether `call` returns a promise that must be awaited. */
  async: boolean;
  opsPerCall: number;
  /** Frees what the case holds (GPU buffers, ...); the CPU cases just drop references. */
  dispose?: () => void | Promise<void>;
}

export type BuildPurpose = 'warmup' | 'measure';

/** An implementation in a workload: named up front (for `--only`), built only when the workload runs. */
export interface CaseSpec {
  /** Package or product name, e.g. 'ringkernel', 'heap-js'. */
  impl: string;
  /** Table label when one implementation has several rows in a workload, e.g. 'ringkernel putMany'. */
  label?: string;
  /** What exactly is called, e.g. 'putNowait/getNowait' or 'add/pop, async wrapper'. */
  variant: string;
  kind: ImplKind;
  /**
   * Builds the queue and its untimed state (prefill, preallocated messages). Returns a reason string
   * instead when the case cannot run here (too slow at this size, no device, ...).
   *
   * Called twice: first for a throwaway warm-up instance (`purpose` 'warmup', which may be smaller:
   * it only has to get the code optimized and give a rough speed), then for the measured instance,
   * which therefore starts from the same fresh state for every implementation.
   */
  build: (purpose: BuildPurpose) => Case | string | Promise<Case | string>;
}

/** How the ratio column of a workload is computed. */
export interface Baseline {
  /** Shown in the table header and stored in JSON, e.g. 'best heap'. */
  label: string;
  /** The kind whose fastest measured case is the reference (ratio = ops/s ÷ that case's ops/s). */
  kind: ImplKind;
}

export interface Workload {
  /** Stable identifier, used by `--only` and in JSON, e.g. 'sync-steady-1e5'. */
  id: string;
  /** One line for the table, e.g. 'sync put+get, steady size 1e5'. */
  title: string;
  /** What one operation is, e.g. 'pairs' (a put and a get) or 'msgs'. */
  unit: string;
  /** A sentence or two on what is timed, printed with the results. */
  description: string;
  /** Free-form parameters copied into every row (size, batch, ...). */
  params: Record<string, number | string>;
  baseline?: Baseline;
  /**
   * Run every case for the same number of operations per round, starting from freshly built,
   * identical state. Needed when the state evolves as the workload runs (a priority queue whose
   * random puts and max-first gets drift its contents towards low priorities): with equal counts every
   * implementation is measured on the same sequence of states. Without it each case runs for
   * `roundMs` of wall time.
   */
  equalOps?: boolean;
  cases: CaseSpec[];
  /** Figures others published for the same operation, printed under the table (never measured here). */
  references?: string[];
}

/** A figure that is not operations per second (CPU time while idle, ...): measured once, reported, usable by targets. */
export interface Measurement {
  id: string;
  title: string;
  description: string;
  run: (config: RunConfig) => Promise<MeasuredValue>;
}
export interface MeasuredValue {
  value: number;
  unit: string;
  /** how it was obtained, in a few words */
  detail: string;
}
export interface Measured extends MeasuredValue {
  group: string;
  id: string;
  title: string;
  description: string;
}

/** A family of workloads that can be added to the CLI as one module (CPU queues, GPU queues, ...). */
export interface WorkloadGroup {
  name: string;
  title: string;
  /** Builds the workload list for this run (cheap: no queues are created here). */
  workloads: (config: RunConfig) => Workload[];
  /** Resolves to a reason when the whole group cannot run on this machine (no GPU, ...). */
  unavailable?: () => Promise<string | undefined>;
  /** Figures other than throughput, measured after the workloads. */
  measurements?: (config: RunConfig) => Measurement[];
  /** Performance goals of this group, evaluated against its rows and measurements; reported, never asserted. */
  targets?: (rows: readonly Row[], measured: readonly Measured[]) => TargetResult[];
  /** Lines for the report's header once the group is available (e.g. which GPU adapter ran it). */
  header?: () => string[];
}

/** Knobs that `--quick` and the full run set differently. */
export interface RunConfig {
  quick: boolean;
  /** Timed rounds per workload; the median round is reported. */
  rounds: number;
  /** Wall time each case is run per round. */
  roundMs: number;
  /** Warm-up time per case before calibration (lets V8 optimize the loop). */
  warmupMs: number;
  /** A case whose single call takes longer than this is skipped, with an estimate, rather than run. */
  maxCallMs: number;
}

/** One measured (or skipped) implementation in one workload: the unit of the table and of JSON. */
export interface Row {
  group: string;
  workload: string;
  title: string;
  params: Record<string, number | string>;
  implementation: string;
  /** What the table shows: the implementation, or its `label` when it has several rows. */
  label: string;
  variant: string;
  kind: ImplKind;
  unit: string;
  /** Median round's throughput in operations (units) per second; null when skipped. */
  opsPerSec: number | null;
  /** Median absolute deviation of the rounds, relative to the median (0.01 = 1%). */
  spread: number | null;
  /** Throughput of every timed round, in the order they ran. */
  rounds: number[];
  /** Per-operation latency percentiles in ns, from timed calls of `opsPerCall` ops (see `latencyNote`). */
  p50Ns: number | null;
  p99Ns: number | null;
  opsPerCall: number | null;
  /** Operations this case ran in its last timed round. */
  opsPerRound: number | null;
  /** ops/s ÷ the baseline's ops/s, when the workload has a baseline that was measured. */
  ratio: number | null;
  baseline: string | null;
  skipped: string | null;
  /** Anything about how this row was measured that differs from its workload's other rows. */
  note: string | null;
}

export interface TargetResult {
  target: string;
  /** The measured figure, formatted; 'not measured' when the rows needed were filtered out or skipped. */
  measured: string;
  met: boolean | null;
}

export const LATENCY_NOTE =
  'p50/p99 are per operation: each timed call runs a fixed batch of operations (usually 100) and its ' +
  'duration is divided by the batch size, because a single queue operation is shorter than the clock ' +
  'can resolve. So p99 shows the slow batches (GC pauses, array growth, O(n) inserts), not single ops.';

/** Progress callback: `detail` changes often (overwrite it), `milestone` marks a new workload. */
export type ProgressFn = (text: string, milestone: boolean) => void;

const now = (): number => performance.now();

/**
 * Calls `c.call` up to `calls` times, timing each call. Stops early once `limitMs` has passed, so
 * one pathological case cannot stretch a run. Returns the wall time of the loop and the calls made.
 */
async function timeCalls(
  c: Case,
  calls: number,
  samplesMs: number[] | null,
  limitMs = Infinity,
): Promise<{ ms: number; calls: number }> {
  const start = now();
  const deadline = start + limitMs;
  let t = start;
  let i = 0;
  // Two loops instead of one with a branch: the sync path must not await, since a microtask turn
  // per call would add to the sync cases' cost.
  if (c.async) {
    while (i < calls && t <= deadline) {
      await c.call();
      const end = now();
      samplesMs?.push(end - t);
      t = end;
      i++;
    }
  } else {
    while (i < calls && t <= deadline) {
      c.call();
      const end = now();
      samplesMs?.push(end - t);
      t = end;
      i++;
    }
  }
  return { ms: t - start, calls: i };
}

/**
 * A case's round is cut off after this many times `roundMs`. If its operations were also this many
 * times slower than the round's median, it runs its own, smaller op count from then on (p-queue's
 * O(n) inserts are 100-1000x slower than the rest at large sizes).
 */
const SLOW_FACTOR = 8;

/** The call count that would make a round of `ms` last `targetMs`, changed by at most 4x per round. */
function retarget(calls: number, ms: number, targetMs: number): number {
  const ideal = (calls * targetMs) / Math.max(ms, 1e-6);
  return Math.max(1, Math.round(Math.min(calls * 4, Math.max(calls / 4, ideal))));
}

function tooSlow(c: Case, callMs: number, config: RunConfig): string {
  const perOp = (callMs * 1e6) / c.opsPerCall;
  return (
    `too slow here: one call of ${c.opsPerCall} ops took ${fmtMs(callMs)} (~${fmtNs(perOp)}/op); ` +
    `${config.rounds} rounds would take about ${fmtMs(callMs * config.rounds)} at minimum`
  );
}

/**
 * Warms a case up (V8 optimizes the loop) and returns the time of one call in ms, measured on the
 * latest, warmest stretch; or a reason to skip the case when a single call is too slow to bear.
 */
async function calibrate(c: Case, config: RunConfig): Promise<number | string> {
  let first = (await timeCalls(c, 1, null)).ms;
  // The first call may pay one-time costs (a browser's shader compiler builds a pipeline on its
  // first use, seconds on a software adapter): judge by the second.
  if (first > config.maxCallMs) first = (await timeCalls(c, 1, null)).ms;
  if (first > config.maxCallMs) return tooSlow(c, first, config);
  // A case this slow is already warm after one call (V8 replaces a long-running loop mid-way).
  if (first >= config.warmupMs) return first;
  let calls = 1;
  let elapsed = first;
  let batch = 1;
  while (elapsed < config.warmupMs || calls < 5) {
    elapsed += (await timeCalls(c, batch, null)).ms;
    calls += batch;
    batch = Math.min(batch * 2, 1 << 16);
  }
  // Two stretches, keep the faster: V8 may still be finishing an optimization (on a busy machine the
  // compiler thread competes for a core), and a too-slow estimate would make every round too short.
  const tail = Math.max(1, Math.min(calls >> 1, 1 << 14));
  const a = (await timeCalls(c, tail, null)).ms;
  const b = (await timeCalls(c, tail, null)).ms;
  return Math.max(Math.min(a, b), 1e-6) / tail;
}

interface Prepared {
  spec: CaseSpec;
  c: Case;
  perCallMs: number;
  callsPerRound: number;
  /** Operations and wall time of the latest round. */
  lastOps: number;
  lastMs: number;
  /** This case hit the round time limit and continued with its own, smaller op count. */
  ownCount: boolean;
  rounds: number[];
  samplesMs: number[];
}

/**
 * Runs one workload: builds every case, warms each up, then times `config.rounds` interleaved rounds.
 * Returns one row per case (skipped ones included, with their reason).
 */
export async function runWorkload(
  group: string,
  w: Workload,
  specs: readonly CaseSpec[],
  config: RunConfig,
  progress: ProgressFn,
): Promise<Row[]> {
  const skipped = new Map<CaseSpec, string>();
  const prepared: Prepared[] = [];
  try {
    // Warm-up and calibration on throwaway instances, one case at a time (no timing is kept).
    const estimates = new Map<CaseSpec, number>();
    for (const spec of specs) {
      progress(`${w.title}: warming up ${spec.impl}`, false);
      const warm = await spec.build('warmup');
      if (typeof warm === 'string') {
        skipped.set(spec, warm);
        continue;
      }
      const perCallMs = await calibrate(warm, config);
      await warm.dispose?.();
      if (typeof perCallMs === 'string') skipped.set(spec, perCallMs);
      else estimates.set(spec, perCallMs);
    }

    // The measured instances, all built fresh from the same seed (V8 keeps the optimized code).
    for (const [spec, perCallMs] of estimates) {
      progress(`${w.title}: building ${spec.impl}`, false);
      const built = await spec.build('measure');
      if (typeof built === 'string') {
        skipped.set(spec, built);
        continue;
      }
      const callsPerRound = Math.max(1, Math.round(config.roundMs / perCallMs));
      prepared.push({ spec, c: built, perCallMs, callsPerRound, lastOps: 0, lastMs: 0, ownCount: false, rounds: [], samplesMs: [] });
    }

    if (w.equalOps && prepared.length > 0) {
      // Every case runs the same operation count per round, so all see the same sequence of states.
      const common = Math.max(1, Math.round(config.roundMs / median(prepared.map((p) => p.perCallMs))));
      for (const p of prepared) p.callsPerRound = common;
    }

    const limitMs = SLOW_FACTOR * config.roundMs;
    for (let r = 0; r < config.rounds; r++) {
      const cut: Array<{ p: Prepared; missing: number }> = [];
      const perOpMs: number[] = [];
      // Rotate the start so no implementation always runs first (right after the previous workload
      // or right after a GC-heavy neighbour).
      const order = prepared.map((_, k) => prepared[(k + r) % prepared.length]);
      for (const p of order) {
        progress(`${w.title}: round ${r + 1}/${config.rounds} ${p.spec.impl}`, false);
        const { ms, calls } = await timeCalls(p.c, p.callsPerRound, p.samplesMs, limitMs);
        if (ms / calls > config.maxCallMs) {
          skipped.set(p.spec, tooSlow(p.c, ms / calls, config));
          prepared.splice(prepared.indexOf(p), 1);
          await p.c.dispose?.();
          continue;
        }
        p.rounds.push((calls * p.c.opsPerCall * 1000) / ms);
        p.lastOps = calls * p.c.opsPerCall;
        p.lastMs = ms;
        perOpMs.push(ms / (calls * p.c.opsPerCall));
        if (calls < p.callsPerRound) cut.push({ p, missing: p.callsPerRound - calls });
      }
      const medianPerOp = median(perOpMs);
      for (const { p, missing } of cut) {
        if (p.lastMs / p.lastOps > SLOW_FACTOR * medianPerOp) {
          // Far slower than the rest (p-queue's O(n) inserts at large sizes): it continues with its
          // own, smaller count, so on other states, and its row says so.
          p.ownCount = true;
          p.callsPerRound = Math.max(1, Math.round((config.roundMs * p.lastOps) / p.c.opsPerCall / p.lastMs));
        } else {
          // Cut by a hiccup (GC, machine load, a low first estimate): catch up untimed so its state
          // stays in step with the others.
          await timeCalls(p.c, missing, null);
        }
      }
      // Calibration is rough (warm-up instances are smaller, the machine may be busy): steer the
      // counts so the median case's round lasts about `roundMs`. With equalOps, all non-outlier
      // cases keep sharing one count.
      const shared = prepared.filter((p) => w.equalOps && !p.ownCount);
      if (shared.length > 0) {
        const next = retarget(shared[0].callsPerRound, median(shared.map((p) => p.lastMs)), config.roundMs);
        for (const p of shared) p.callsPerRound = next;
      }
      for (const p of prepared) if (!shared.includes(p)) p.callsPerRound = retarget(p.callsPerRound, p.lastMs, config.roundMs);
    }
  } finally {
    for (const p of prepared) await p.c.dispose?.();
  }

  const rows: Row[] = specs.map((spec) => {
    const p = prepared.find((x) => x.spec === spec);
    const base: Row = {
      group,
      workload: w.id,
      title: w.title,
      params: w.params,
      implementation: spec.impl,
      label: spec.label ?? spec.impl,
      variant: spec.variant,
      kind: spec.kind,
      unit: w.unit,
      opsPerSec: null,
      spread: null,
      rounds: [],
      p50Ns: null,
      p99Ns: null,
      opsPerCall: null,
      opsPerRound: null,
      ratio: null,
      baseline: null,
      skipped: skipped.get(spec) ?? (p ? null : 'not run'),
      note: null,
    };
    if (!p) return base;
    const perOpNs = Float64Array.from(p.samplesMs, (ms) => (ms * 1e6) / p.c.opsPerCall).sort();
    const med = median(p.rounds);
    return {
      ...base,
      opsPerSec: med,
      spread: median(p.rounds.map((x) => Math.abs(x - med))) / med,
      rounds: p.rounds,
      p50Ns: quantile(perOpNs, 0.5),
      p99Ns: quantile(perOpNs, 0.99),
      opsPerCall: p.c.opsPerCall,
      opsPerRound: p.lastOps,
      note:
        p.ownCount && w.equalOps
          ? `over ${SLOW_FACTOR}x slower than the median, so it ran its own op count (${p.lastOps} in the ` +
            'last round) and was timed on different queue states than the others'
          : null,
    };
  });
  applyBaseline(rows, w.baseline);
  return rows;
}

/**
 * Fills `ratio`/`baseline`: each row against the fastest measured row of the baseline kind. The
 * ratio is the median of per-round ratios: the cases of one round ran back to back, so a round that
 * was slow for the whole machine is slow for both sides and cancels out.
 */
function applyBaseline(rows: Row[], baseline: Baseline | undefined): void {
  if (!baseline) return;
  let best: Row | undefined;
  for (const r of rows) {
    if (r.kind === baseline.kind && r.opsPerSec !== null && (!best || r.opsPerSec > best.opsPerSec!)) best = r;
  }
  if (!best) return;
  for (const r of rows) {
    r.baseline = `${baseline.label} (${best.implementation})`;
    if (r.opsPerSec === null) continue;
    r.ratio =
      r.rounds.length === best.rounds.length
        ? median(r.rounds.map((x, i) => x / best.rounds[i]))
        : r.opsPerSec / best.opsPerSec!;
  }
}

export function median(xs: readonly number[]): number {
  return quantile(Float64Array.from(xs).sort(), 0.5);
}

/** Nearest-rank quantile of an ascending array (NaN when empty). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  if (q === 0.5 && sorted.length % 2 === 0) {
    const i = sorted.length / 2;
    return (sorted[i - 1] + sorted[i]) / 2;
  }
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

let garbageCollector: (() => void) | null = null;

/** Installs the platform's way to force a full GC (Node: bench/run.ts). */
export function setGarbageCollector(collect: (() => void) | null): void {
  garbageCollector = collect;
}

/**
 * Runs a full GC between workloads so the previous workload's million-message queues are not
 * collected in the middle of the next one's timing: the installed collector, else a global `gc`
 * (a browser started with `--js-flags=--expose-gc`), else nothing.
 */
export function collectGarbage(): void {
  (garbageCollector ?? (globalThis as { gc?: () => void }).gc)?.();
}

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '-';
  // Thresholds sit just below the next unit so rounding never prints '1000 ns'.
  if (ns < 9.95) return `${ns.toFixed(1)} ns`;
  if (ns < 999.5) return `${ns.toFixed(0)} ns`;
  if (ns < 9995) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns < 999_950) return `${(ns / 1e3).toFixed(1)} µs`;
  return fmtMs(ns / 1e6);
}

export function fmtMs(ms: number): string {
  if (ms < 0.99995) return fmtNs(ms * 1e6);
  if (ms < 9.995) return `${ms.toFixed(2)} ms`;
  if (ms < 999.5) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1e3).toFixed(1)} s`;
}
