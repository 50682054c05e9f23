/**
 * One benchmark session, on any platform: picks the workloads (`--only`), runs them round by
 * round, then the groups' one-off measurements and targets. Node (bench/run.ts) and the page
 * that `bench --browser` drives in Chromium (bench/browser-entry.ts) both run this; what comes
 * back is plain data, so it crosses from the page to Node as JSON.
 */
import {
  collectGarbage,
  runWorkload,
  type CaseSpec,
  type Measured,
  type ProgressFn,
  type Row,
  type RunConfig,
  type TargetResult,
  type Workload,
  type WorkloadGroup,
} from './harness.js';

export const QUICK: RunConfig = { quick: true, rounds: 7, roundMs: 35, warmupMs: 100, maxCallMs: 1000 };
export const FULL: RunConfig = { quick: false, rounds: 15, roundMs: 150, warmupMs: 300, maxCallMs: 5000 };

/** A problem with the command line: the program prints it with the usage hint and exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type WorkloadInfo = Pick<Workload, 'id' | 'title' | 'unit' | 'description' | 'params' | 'references'> & { group: string };

export interface SessionResult {
  workloads: WorkloadInfo[];
  rows: Row[];
  measured: Measured[];
  targets: TargetResult[];
  skippedGroups: Array<{ group: string; reason: string }>;
  /** Header lines the groups that ran added (the GPU adapter, ...). */
  groupHeaders: string[];
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
function plan(all: Array<{ group: WorkloadGroup; workload: Workload }>, only: string[] | null, measurements: string[]): { planned: Planned[]; matched: string } {
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
  const measured = measurements.filter((m) => hits(m));
  if (planned.length === 0 && measured.length === 0) {
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
    matched: `--only ${only.join(',')}: implementations matched: ${list(impls)}; workloads matched: ${list(workloads)}${measured.length > 0 ? `; measurements matched: ${measured.length}` : ''}`,
  };
}

/** Whether `--only` can match anything of `group`: a workload, one of its cases, or a measurement. */
function wanted(group: WorkloadGroup, config: RunConfig, only: string[] | null): boolean {
  if (only === null) return true;
  const hits = (text: string): boolean => only.some((n) => text.toLowerCase().includes(n));
  const workloadHit = group.workloads(config).some((w) => hits(`${group.name} ${w.id} ${w.title}`) || w.cases.some((c) => hits(c.impl)));
  return workloadHit || (group.measurements?.(config) ?? []).some((m) => hits(`${group.name} ${m.id} ${m.title}`));
}

/** Runs the groups' workloads and measurements. Throws UsageError for an `--only` that matches nothing. */
export async function runSession(
  groups: readonly WorkloadGroup[],
  config: RunConfig,
  only: string[] | null,
  progress: ProgressFn,
  /** Says a line that stays (what `--only` matched), before the run. */
  note: (text: string) => void = (text) => progress(text, true),
): Promise<SessionResult> {
  const skippedGroups: SessionResult['skippedGroups'] = [];
  const available: Array<{ group: WorkloadGroup; workload: Workload }> = [];
  for (const group of groups) {
    // a group --only cannot match is not even asked whether it can run (the GPU group would
    // acquire a device, and a CPU-only run would load Dawn for nothing)
    if (!wanted(group, config, only)) continue;
    const reason = await group.unavailable?.();
    if (reason) {
      skippedGroups.push({ group: group.name, reason });
      continue;
    }
    for (const workload of group.workloads(config)) available.push({ group, workload });
  }
  const measurementNames = groups.filter((g) => wanted(g, config, only)).flatMap((g) => (g.measurements?.(config) ?? []).map((m) => `${g.name} ${m.id} ${m.title}`));
  const { planned, matched } = plan(available, only, measurementNames);
  if (matched) note(matched); // before a run of minutes, not after it

  const rows: Row[] = [];
  for (const [i, p] of planned.entries()) {
    // Start each workload from a clean heap: the previous one may have left millions of messages.
    collectGarbage();
    const prefix = `[${i + 1}/${planned.length}] ${p.group.name}`;
    const n = p.specs.length;
    progress(`${prefix} ${p.workload.title} (${n} implementation${n === 1 ? '' : 's'})`, true);
    rows.push(...(await runWorkload(p.group.name, p.workload, p.specs, config, (t, m) => progress(`${prefix} ${t}`, m))));
  }
  const ran = groups.filter((g) => wanted(g, config, only) && !skippedGroups.some((s) => s.group === g.name));
  const measured: Measured[] = [];
  for (const group of ran) {
    for (const m of group.measurements?.(config) ?? []) {
      if (only && !only.some((n) => `${group.name} ${m.id} ${m.title}`.toLowerCase().includes(n))) continue;
      progress(`${group.name} ${m.title}`, true);
      collectGarbage();
      measured.push({ group: group.name, id: m.id, title: m.title, description: m.description, ...(await m.run(config)) });
    }
  }
  const targets: TargetResult[] = ran.flatMap(
    (g) => g.targets?.(rows.filter((r) => r.group === g.name), measured.filter((m) => m.group === g.name)) ?? [],
  );
  return {
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
  };
}
