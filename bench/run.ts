/**
 * `ringkernel bench`: throughput and latency of ringkernel's queues and ring kernels against the
 * alternatives, measured side by side in one run. Results go to stdout (table) and optionally to
 * a JSON file; progress goes to stderr. The command line is parsed by the package's program
 * (src/cli/main.ts), which calls `bench` here. With `browser`, the GPU group runs in headless
 * Chromium on the browser's own WebGPU (bench/browser-run.ts) and is reported the same way.
 */
import { accessSync, constants, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { cpuGroup } from './cpu-workloads.js';
import { gpuGroup, gpuThroughputSvg } from './gpu-workloads.js';
import { runtimeGroup } from './runtime-workloads.js';
import { formatProfile, tickProfile } from './profile.js';
import { LATENCY_NOTE, setGarbageCollector, type WorkloadGroup } from './harness.js';
import { formatReport, machineInfo, Progress, writeJson, type Report } from './report.js';
import { FULL, QUICK, UsageError, runSession, type SessionResult } from './session.js';
import { runInBrowser } from './browser-run.js';

export { UsageError };

/** Every workload group the CLI runs, in order. A new group is one module exporting a `WorkloadGroup`, added here. */
const GROUPS: readonly WorkloadGroup[] = [cpuGroup, gpuGroup, runtimeGroup];

export interface BenchOptions {
  quick: boolean;
  json: string | null;
  svg: string | null;
  only: string[] | null;
  /** Run the GPU group in headless Chromium instead of in this process. */
  browser: boolean;
  /** Instead of the workloads, profile GPU ticks (bench/profile.ts). */
  profile?: boolean;
}

/** Fails before a long run, not after it, when an output file could not be written. */
export function checkWritable(file: string, option: string): void {
  if (file.trim() === '') throw new UsageError(`${option} needs a file name`);
  const dir = dirname(resolve(file));
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${option} ${file}: directory ${dir} does not exist or is not writable`);
  }
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Node only exposes `gc` behind --expose-gc, which a bin script cannot pass to itself, so the
 * flag is set at run time and `gc` taken from a fresh context.
 */
function nodeGarbageCollector(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

/** Runs the benchmark. Throws UsageError for a bad `--only` (exit status 2). */
export async function bench(opts: BenchOptions): Promise<void> {
  const config = opts.quick ? QUICK : FULL;
  const started = performance.now();
  const machine = machineInfo(); // before the run, so the load average is the machine's, not ours
  const progress = new Progress();
  const update = (text: string, milestone: boolean): void => progress.update(text, milestone);
  const note = (text: string): void => {
    progress.done();
    process.stderr.write(`${text}\n`);
  };

  if (opts.profile === true) {
    const profile = await tickProfile(opts.quick, (text) => update(text, true));
    progress.done();
    process.stdout.write(formatProfile(profile));
    if (opts.json) {
      writeJson(opts.json, { tool: 'ringkernel bench --profile', version: packageVersion(), machine, ...profile, elapsedSeconds: (performance.now() - started) / 1000 });
      process.stderr.write(`wrote ${opts.json}\n`);
    }
    return;
  }
  let session: SessionResult;
  if (opts.browser) {
    const run = await runInBrowser(config, opts.only, update, note);
    session = run.session;
    machine.browser = run.browser;
    machine.browserClockNs = run.clockResolutionNs;
  } else {
    setGarbageCollector(nodeGarbageCollector());
    session = await runSession(GROUPS, config, opts.only, update, note);
  }
  progress.done();

  const report: Report = {
    tool: 'ringkernel bench',
    version: packageVersion(),
    machine,
    config: { ...config, only: opts.only?.join(',') ?? null },
    latencyNote: LATENCY_NOTE,
    ...session,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(formatReport(report));
  if (opts.json) {
    writeJson(opts.json, report);
    process.stderr.write(`wrote ${opts.json}\n`);
  }
  if (opts.svg) {
    const gpuRows = report.rows.filter((r) => r.group === gpuGroup.name);
    if (gpuRows.length === 0) throw new Error(`--svg ${opts.svg}: the GPU workloads did not run, so there is nothing to chart`);
    const platform = machine.browser ? `${machine.browser} (headless)` : `node ${machine.node}`;
    const headers = opts.browser ? report.groupHeaders : (gpuGroup.header?.() ?? []); // the browser ran the GPU group only
    writeFileSync(opts.svg, gpuThroughputSvg(gpuRows, [`${machine.date.slice(0, 10)} · ${machine.cpu}, ${machine.cores} cores · ${platform}`, ...headers]));
    process.stderr.write(`wrote ${opts.svg}\n`);
  }
}
