/**
 * `ringkernel bench`: throughput and latency of ringkernel's queues and ring kernels against the
 * alternatives, measured side by side in one run. Results go to stdout (table) and optionally to
 * a JSON file; progress goes to stderr. The command line is parsed by the package's program
 * (src/cli/main.ts), which calls `bench` here.
 */
import { accessSync, constants, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cpuGroup } from './cpu-workloads.js';
import { gpuGroup, gpuThroughputSvg } from './gpu-workloads.js';
import { runtimeGroup } from './runtime-workloads.js';
import {
  collectGarbage,
  LATENCY_NOTE,
  runWorkload,
  type CaseSpec,
  type Measured,
  type Row,
  type RunConfig,
  type TargetResult,
  type Workload,
  type WorkloadGroup,
} from './harness.js';
import { formatReport, machineInfo, Progress, writeJson, type Report } from './report.js';

/** Every workload group the CLI runs, in order. A new group is one module exporting a `WorkloadGroup`, added here. */
const GROUPS: readonly WorkloadGroup[] = [cpuGroup, gpuGroup, runtimeGroup];

const QUICK: RunConfig = { quick: true, rounds: 7, roundMs: 35, warmupMs: 100, maxCallMs: 1000 };
const FULL: RunConfig = { quick: false, rounds: 15, roundMs: 150, warmupMs: 300, maxCallMs: 5000 };

/** A problem with the command line: the program prints it with the usage hint and exits with 2. */
export class UsageError extends Error {}

export interface BenchOptions {
  quick: boolean;
  json: string | null;
  svg: string | null;
  only: string[] | null;
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

interface Planned {
  group: WorkloadGroup;
  workload: Workload;
  specs: CaseSpec[];
}

/**
 * Applies `--only`: a case runs if its workload (group name, id or title) or its implementation
 * name contains one of the names. Returns the plan and a sentence saying what matched.
 */
function plan(all: Array<{ group: WorkloadGroup; workload: Workload }>, only: string[] | null): { planned: Planned[]; matched: string } {
  if (!only) return { planned: all.map((x) => ({ ...x, specs: x.workload.cases })), matched: '' };
  const hits = (text: string): boolean => only.some((n) => text.toLowerCase().includes(n));
  const impls = new Set<string>();
  const workloads = new Set<string>();
  const planned: Planned[] = [];
  for (const { group, workload } of all) {
    const wHit = hits(`${group.name} ${workload.id} ${workload.title}`);
    if (wHit) workloads.add(workload.id);
    const specs = workload.cases.filter((s) => {
      const iHit = hits(s.impl);
      if (iHit) impls.add(s.impl);
      return wHit || iHit;
    });
    if (specs.length > 0) planned.push({ group, workload, specs });
  }
  if (planned.length === 0) {
    const allImpls = [...new Set(all.flatMap((x) => x.workload.cases.map((s) => s.impl)))];
    throw new UsageError(
      `--only ${only.join(',')} matched nothing.\n` +
        `  implementations: ${allImpls.join(', ')}\n` +
        `  workloads: ${all.map((x) => x.workload.id).join(', ')}`,
    );
  }
  const list = (s: Set<string>): string => (s.size ? [...s].join(', ') : 'none');
  return {
    planned,
    matched: `--only ${only.join(',')}: implementations matched: ${list(impls)}; workloads matched: ${list(workloads)}`,
  };
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs the benchmark. Throws UsageError for a bad `--only` (exit status 2). */
export async function bench(opts: BenchOptions): Promise<void> {
  const config = opts.quick ? QUICK : FULL;
  const started = performance.now();
  const machine = machineInfo(); // before the run, so the load average is the machine's, not ours
  const progress = new Progress();
  const skippedGroups: Report['skippedGroups'] = [];

  const available: Array<{ group: WorkloadGroup; workload: Workload }> = [];
  for (const group of GROUPS) {
    const reason = await group.unavailable?.();
    if (reason) {
      skippedGroups.push({ group: group.name, reason });
      continue;
    }
    for (const workload of group.workloads(config)) available.push({ group, workload });
  }
  const { planned, matched } = plan(available, opts.only);
  if (matched) process.stderr.write(matched + '\n');

  const rows: Row[] = [];
  for (const [i, p] of planned.entries()) {
    // Start each workload from a clean heap: the previous one may have left millions of messages.
    collectGarbage();
    const prefix = `[${i + 1}/${planned.length}] ${p.group.name}`;
    const n = p.specs.length;
    progress.update(`${prefix} ${p.workload.title} (${n} implementation${n === 1 ? '' : 's'})`, true);
    rows.push(...(await runWorkload(p.group.name, p.workload, p.specs, config, (t, m) => progress.update(`${prefix} ${t}`, m))));
  }
  const ran = GROUPS.filter((g) => !skippedGroups.some((s) => s.group === g.name));
  const measured: Measured[] = [];
  for (const group of ran) {
    for (const m of group.measurements?.(config) ?? []) {
      if (opts.only && !opts.only.some((n) => `${group.name} ${m.id} ${m.title}`.toLowerCase().includes(n))) continue;
      progress.update(`${group.name} ${m.title}`, true);
      collectGarbage();
      measured.push({ group: group.name, id: m.id, title: m.title, description: m.description, ...(await m.run(config)) });
    }
  }
  progress.done();

  const targets: TargetResult[] = ran.flatMap(
    (g) => g.targets?.(rows.filter((r) => r.group === g.name), measured.filter((m) => m.group === g.name)) ?? [],
  );
  const report: Report = {
    tool: 'ringkernel bench',
    version: packageVersion(),
    machine,
    config: { ...config, only: opts.only?.join(',') ?? null },
    latencyNote: LATENCY_NOTE,
    workloads: planned.map(({ group, workload: w }) => ({
      group: group.name,
      id: w.id,
      title: w.title,
      unit: w.unit,
      description: w.description,
      params: w.params,
      references: w.references,
    })),
    rows,
    measured,
    targets,
    skippedGroups,
    groupHeaders: ran.flatMap((g) => g.header?.() ?? []),
    elapsedSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(formatReport(report));
  if (opts.json) {
    writeJson(opts.json, report);
    process.stderr.write(`wrote ${opts.json}\n`);
  }
  if (opts.svg) {
    const gpuRows = rows.filter((r) => r.group === gpuGroup.name);
    if (gpuRows.length === 0) throw new Error(`--svg ${opts.svg}: the GPU workloads did not run, so there is nothing to chart`);
    writeFileSync(opts.svg, gpuThroughputSvg(gpuRows, [`${machine.date.slice(0, 10)} · ${machine.cpu}, ${machine.cores} cores · node ${machine.node}`, ...(gpuGroup.header?.() ?? [])]));
    process.stderr.write(`wrote ${opts.svg}\n`);
  }
}

