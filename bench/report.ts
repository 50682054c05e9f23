/** Output: machine description, the results table (stdout), JSON, and the progress line (stderr). */
import { arch, availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { fmtNs, LATENCY_NOTE, type Measured, type Row, type RunConfig, type TargetResult, type Workload } from './harness.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  v8: string;
  date: string;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  loadAverage: number;
  /** The browser the GPU group ran in (`bench --browser`), e.g. 'HeadlessChrome/156.0.8078.73'. */
  browser?: string;
  /** The page's clock step in ns: timed calls shorter than it read as 0 in p50/p99. */
  browserClockNs?: number;
}

export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    v8: process.versions.v8,
    date: new Date().toISOString(),
    loadAverage: Math.round(loadavg()[0] * 100) / 100,
  };
}

/** Everything the JSON file holds; `rows` is the same list the table is printed from. */
export interface Report {
  tool: string;
  version: string;
  machine: MachineInfo;
  config: RunConfig & { only: string | null };
  /** How p50/p99 were measured (the harness's LATENCY_NOTE). */
  latencyNote: string;
  workloads: Array<Pick<Workload, 'id' | 'title' | 'unit' | 'description' | 'params' | 'references'> & { group: string }>;
  rows: Row[];
  measured: Measured[];
  targets: TargetResult[];
  skippedGroups: Array<{ group: string; reason: string }>;
  /** Header lines the groups that ran added (the GPU adapter, ...). */
  groupHeaders: string[];
  elapsedSeconds: number;
}

export function writeJson(file: string, report: Report | object): void {
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** A rate in the SI prefix that fits it, three significant digits: `4.60 k`, `170 k`, `2.91 M`, `512`. */
export function fmtRate(perSec: number): string {
  if (!Number.isFinite(perSec)) return String(perSec);
  for (const [scale, prefix] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    // (rounded first: 999_600 reads 1.00 M, not 1000 k)
    if (Number((perSec / scale).toPrecision(3)) >= 1) return `${(perSec / scale).toPrecision(3)} ${prefix}`;
  }
  return perSec >= 1 ? perSec.toPrecision(3) : perSec.toPrecision(2);
}

/** Renders the whole report as text for stdout. */
export function formatReport(report: Report): string {
  const m = report.machine;
  const out: string[] = [];
  out.push(`ringkernel ${report.version} bench${report.config.quick ? ' --quick' : ''}`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}`);
  out.push(`node ${m.node} (V8 ${m.v8}), ${m.date}, load average ${m.loadAverage} at start`);
  if (m.browser) {
    out.push(`browser: ${m.browser}, headless; the GPU group ran in the page, on the browser's WebGPU`);
    out.push(`         the page's clock steps by ${fmtNs(m.browserClockNs ?? NaN)}: p50/p99 of calls shorter than that read as 0`);
  }
  out.push(
    `method: ${report.config.rounds} interleaved rounds of ~${report.config.roundMs} ms per implementation ` +
      `(after ${report.config.warmupMs} ms warm-up);`,
  );
  out.push(
    '        equal op counts per round where a workload says so; median round reported, ± = median abs. deviation of rounds;',
  );
  out.push(
    '        ratios are medians of per-round ratios (the cases of a round run back to back, so machine noise cancels)',
  );
  for (const line of report.groupHeaders) out.push(line);
  if (report.config.only) out.push(`filter: --only ${report.config.only}`);
  out.push('');

  const legend = new Map<string, string>();
  for (const w of report.workloads) {
    const rows = report.rows.filter((r) => r.workload === w.id && r.group === w.group);
    if (rows.length === 0) continue;
    const unit = w.unit;
    out.push(`== ${w.title}`);
    out.push(...wrap(w.description, 100, '   ', '   '));
    const labels = rows.map((r) => r.label);
    const width = Math.max(14, ...labels.map((l) => l.length)) + 2;
    const baseline = rows.find((r) => r.baseline)?.baseline;
    const ratioHead = baseline ? `x vs ${baseline}` : 'ratio';
    const rateWidth = Math.max(12, unit.length + 4);
    out.push(
      `   ${pad('implementation', width)}${pad(`${unit}/s`, rateWidth, true)}${pad('±', 7, true)}` +
        `${pad('p50/op', 11, true)}${pad('p99/op', 11, true)}   ${ratioHead}`,
    );
    rows.forEach((r, i) => {
      legend.set(`${r.implementation}|${r.variant}`, `${r.implementation}: ${r.variant}`);
      const label = pad(labels[i], width);
      if (r.opsPerSec === null) {
        out.push(`   ${label}skipped: ${r.skipped}`);
        return;
      }
      const rate = fmtRate(r.opsPerSec);
      const spread = r.spread === null ? '-' : `${(r.spread * 100).toFixed(1)}%`;
      const ratio = r.ratio === null ? '-' : `${r.ratio < 0.1 ? r.ratio.toPrecision(2) : r.ratio.toFixed(2)}x`;
      out.push(
        `   ${label}${pad(rate, rateWidth, true)}${pad(spread, 7, true)}` +
          `${pad(fmtNs(r.p50Ns ?? NaN), 11, true)}${pad(fmtNs(r.p99Ns ?? NaN), 11, true)}   ${ratio}`,
      );
    });
    for (const r of rows) if (r.note) out.push(`   note: ${r.label}: ${r.note}`);
    for (const ref of w.references ?? []) out.push(...wrap(`reference (published, not measured here): ${ref}`, 100, '   ', '     '));
    out.push('');
  }

  for (const m of report.measured) {
    out.push(`== ${m.title}`);
    out.push(...wrap(m.description, 100, '   ', '   '));
    out.push(`   ${m.value.toPrecision(3)} ${m.unit} (${m.detail})`);
    out.push('');
  }

  if (report.skippedGroups.length > 0) {
    for (const s of report.skippedGroups) out.push(`group ${s.group} skipped: ${s.reason}`);
    out.push('');
  }

  out.push('what each implementation calls:');
  for (const line of [...legend.values()].sort()) out.push(`  ${line}`);
  out.push('');
  out.push(...wrap(`latency: ${LATENCY_NOTE}`, 100, '', '  '));
  out.push('');

  // (an --only run reports the targets it measured; the others would all read 'not measured')
  const targets = report.config.only ? report.targets.filter((t) => t.met !== null) : report.targets;
  if (targets.length > 0) {
    out.push('targets (reported, not asserted):');
    for (const t of targets) {
      const verdict = t.met === null ? 'n/a   ' : t.met ? 'MET   ' : 'MISSED';
      out.push(`  ${verdict} ${t.target}: ${t.measured}`);
    }
    out.push('');
  }
  out.push(`total time ${report.elapsedSeconds.toFixed(1)} s`);
  return out.join('\n') + '\n';
}

/** Greedy word wrap: `first` prefixes the first line, `rest` the others. */
function wrap(text: string, width: number, first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(' ')) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else line = empty ? line + word : `${line} ${word}`;
    empty = false;
  }
  if (!empty) lines.push(line);
  return lines;
}

/**
 * The progress line on stderr. On a TTY it is one line rewritten in place; otherwise (CI logs) only
 * milestones are printed, one per line, so the log stays short.
 */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private lastWidth = 0;
  private lastDraw = 0;

  constructor(private readonly started = Date.now()) {}

  update(text: string, milestone: boolean): void {
    const line = `[${((Date.now() - this.started) / 1000).toFixed(0).padStart(3)} s] ${text}`;
    if (!this.tty) {
      if (milestone) process.stderr.write(line + '\n');
      return;
    }
    // Redrawing on every round would cost more terminal time than the fast cases take; 20 Hz is plenty.
    const now = Date.now();
    if (!milestone && now - this.lastDraw < 50) return;
    this.lastDraw = now;
    const cols = process.stderr.columns || 100;
    const shown = line.length >= cols ? line.slice(0, cols - 1) : line;
    process.stderr.write(`\r${shown}${' '.repeat(Math.max(0, this.lastWidth - shown.length))}`);
    this.lastWidth = shown.length;
  }

  /** Clears the TTY line so the table starts on a clean line. */
  done(): void {
    if (this.tty && this.lastWidth > 0) process.stderr.write(`\r${' '.repeat(this.lastWidth)}\r`);
    this.lastWidth = 0;
  }
}
