/**
 * The benchmark card: runs the benchmark's GPU group (GpuMessageQueue against MessageQueue and
 * the raw WebGPU round trip, bench/gpu-workloads.ts) in this page, with the same harness and
 * session as `ringkernel bench`, then draws messages/s against batch size and tabulates the rows.
 */
import { gpuGroup, gpuThroughputSvg } from '../bench/gpu-workloads.js';
import type { Row, RunConfig, TargetResult } from '../bench/harness.js';
import { QUICK, runSession, type SessionResult } from '../bench/session.js';
import { byId, describeError, duration, h, setText, si } from './dom.js';

/** `?bench=tiny` (the automated test): two 10 ms rounds per case, a few seconds in all. */
export const BENCH_CONFIGS: Record<'quick' | 'tiny', RunConfig> = {
  quick: QUICK,
  tiny: { quick: true, rounds: 2, roundMs: 10, warmupMs: 10, maxCallMs: 1000 },
};
export type BenchConfigName = keyof typeof BENCH_CONFIGS;

/** The implementations the table shows, as columns, in this order (those that ran); the chart has the other floors. */
const COLUMNS: Array<{ kind: string; name: string }> = [
  { kind: 'ringkernel-gpu', name: 'GpuMessageQueue' },
  { kind: 'ringkernel-gpu-packed', name: 'GPU, packed' },
  { kind: 'ringkernel', name: 'MessageQueue (CPU)' },
  { kind: 'floor', name: 'WebGPU round trip' },
];

export interface BenchHooks {
  /**
   * Called before a run starts and after it ends: the page pauses its own GPU traffic meanwhile.
   * The run starts once what it returns settles (GPU work already in flight has finished).
   */
  onRunning(running: boolean): void | Promise<void>;
}

export class BenchPanel {
  private readonly button = byId<HTMLButtonElement>('bench-run');
  private readonly status = byId('bench-status');
  private readonly progress = byId('bench-progress');
  private readonly chart = byId('bench-chart');
  private readonly table = byId('bench-table');
  private readonly targets = byId('bench-targets');
  private running = false;

  constructor(private readonly configName: BenchConfigName, private readonly hooks: BenchHooks) {
    const c = BENCH_CONFIGS[configName];
    setText(byId('bench-config'), `${configName}: ${c.rounds} rounds × ${c.roundMs} ms per case, ${c.warmupMs} ms warm-up`);
    this.button.addEventListener('click', () => void this.run());
  }

  /** Runs the GPU group once; never rejects (the status line says what went wrong). */
  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.button.disabled = true;
    const started = performance.now();
    this.setProgress(0);
    setText(this.status, 'starting: acquiring a device for the benchmark…');
    try {
      await this.hooks.onRunning(true);
      const session = await runSession([gpuGroup], BENCH_CONFIGS[this.configName], null, (text, milestone) => this.onProgress(text, milestone));
      const elapsed = duration(performance.now() - started);
      if (session.rows.length === 0) {
        const why = session.skippedGroups.map((s) => s.reason).join('; ') || 'nothing was measured';
        setText(this.status, `error: the GPU benchmark cannot run here: ${why}`);
        return;
      }
      this.show(session);
      this.setProgress(1);
      const measured = session.rows.filter((r) => r.opsPerSec !== null).length;
      setText(this.status, `${session.workloads.length} workloads, ${measured} of ${session.rows.length} cases measured in ${elapsed} · done`);
    } catch (error) {
      setText(this.status, `error: ${describeError(error)}`);
      this.progress.classList.add('failed');
    } finally {
      this.running = false;
      this.button.disabled = false;
      void Promise.resolve(this.hooks.onRunning(false)).catch(() => undefined);
    }
  }

  /** The harness reports "[i/n] group title" at each workload (milestone) and details in between. */
  private onProgress(text: string, milestone: boolean): void {
    setText(this.status, `running ${text}`);
    const m = milestone ? /\[(\d+)\/(\d+)\]/.exec(text) : null;
    if (m) this.setProgress((Number(m[1]) - 1) / Number(m[2]));
  }

  private setProgress(fraction: number): void {
    this.progress.classList.remove('failed');
    // (full at once when done: the bar is never caught short of its end by the eye or a screenshot)
    this.progress.classList.toggle('complete', fraction >= 1);
    this.progress.style.setProperty('--done', `${(fraction * 100).toFixed(1)}%`);
  }

  private show(session: SessionResult): void {
    const c = BENCH_CONFIGS[this.configName];
    const header = [...session.groupHeaders, `in this browser, ${this.configName} run (${c.rounds} rounds × ${c.roundMs} ms), ${new Date().toLocaleString()}`];
    // gpuThroughputSvg builds the SVG from our own rows and escapes its text: safe to insert
    this.chart.innerHTML = gpuThroughputSvg(session.rows, header);
    this.table.replaceChildren(rowsTable(session.rows));
    this.targets.replaceChildren(...session.targets.map(targetItem));
  }
}

/** One line per workload, one column per implementation: msgs/s, or p50 for the latency case. */
function rowsTable(rows: readonly Row[]): HTMLElement {
  const workloads = [...new Set(rows.map((r) => r.workload))];
  const columns = COLUMNS.filter((c) => rows.some((r) => r.kind === c.kind));
  const head = h('tr', {}, h('th', {}, 'batch'), ...columns.map((c) => h('th', {}, c.name)));
  const body = workloads.map((w) => {
    const inW = rows.filter((r) => r.workload === w);
    const latency = w === 'gpu-latency';
    const batch = Number(inW[0]?.params.batch ?? 0);
    const label = latency ? '1 (p50 latency)' : batch >= 1024 ? `${batch / 1024} Ki` : String(batch);
    return h('tr', {}, h('th', {}, label), ...columns.map((c) => rowCell(inW.find((r) => r.kind === c.kind), latency)));
  });
  return h('table', {}, h('thead', {}, head), h('tbody', {}, ...body));
}

function rowCell(row: Row | undefined, latency: boolean): HTMLElement {
  if (row === undefined) return h('td', { class: 'none' }, '');
  if (row.opsPerSec === null) return h('td', { class: 'none', title: row.skipped ?? '' }, 'skipped');
  const text = latency && row.p50Ns !== null ? duration(row.p50Ns / 1e6) : `${si(row.opsPerSec)}/s`;
  const spread = row.spread !== null ? ` ±${(row.spread * 100).toFixed(0)}%` : '';
  return h('td', { title: `${row.label}: ${row.variant}${spread}` }, text);
}

function targetItem(t: TargetResult): HTMLElement {
  const mark = t.met === null ? '–' : t.met ? '✓' : '✗';
  const tone = t.met === null ? 'unknown' : t.met ? 'met' : 'missed';
  return h('li', { class: tone }, h('span', { class: 'mark' }, mark), h('span', {}, t.target), h('span', { class: 'measured' }, t.measured));
}
