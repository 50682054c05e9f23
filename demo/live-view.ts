/**
 * The pipeline's live view: a card per kernel (lifecycle state, queue depths, counters, a
 * throughput sparkline), the device state of `detect` as a heat map, and the latest alerts.
 * Everything here only renders; main.ts decides when.
 */
import type { KernelTelemetry } from 'ringkernel';
import { duration, h, setText, si } from './dom.js';
import { BINS, BIN_LOW, BIN_WIDTH, CAPACITY, CRITICAL, LEVELS, SENSORS, WARN, type AlertMsg, type KernelId, type SensorStats } from './pipeline.js';

// ------------------------------------------------------------------ kernel cards
/** Counters shown as plain integers: the browser test reads these cells back. */
const INTEGER_FIELDS = [
  ['messagesProcessed', 'processed'],
  ['messagesEmitted', 'emitted'],
  ['messagesDropped', 'dropped'],
  ['errors', 'errors'],
  ['ticks', 'ticks'],
] as const;

const SPARK_POINTS = 60;

export class KernelCard {
  readonly root: HTMLElement;
  readonly toggle: HTMLButtonElement;
  private readonly fields = new Map<string, HTMLElement>();
  private readonly bars = new Map<'input' | 'output', HTMLElement>();
  private readonly stateBadge: HTMLElement;
  private readonly lastError: HTMLElement;
  private readonly spark: SVGPolylineElement;
  private readonly sparkLabel: HTMLElement;
  private readonly rates: number[] = [];
  private last: { processed: number; at: number } | null = null;

  /** `explain` turns a failure code into words ("failed with code 2" → "... (out of range)"). */
  constructor(readonly id: KernelId, signature: string, role: string, outputLabel: string, private readonly explain: (code: number) => string | undefined = () => undefined) {
    this.stateBadge = h('span', { class: 'state', 'data-field': 'state' }, 'launching');
    this.toggle = h('button', { id: `toggle-${id}`, class: 'small', disabled: true }, 'Deactivate');
    this.lastError = h('p', { class: 'last-error', 'data-field': 'lastError' }, 'no errors');
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', `0 0 ${SPARK_POINTS - 1} 30`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.classList.add('spark');
    this.spark = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    svg.append(this.spark);
    this.sparkLabel = h('span', { class: 'spark-label' }, '0 msgs/s now');

    const stats = h('dl', { class: 'stats' });
    for (const [field, label] of INTEGER_FIELDS) stats.append(this.stat(field, label, '0'));
    stats.append(
      this.stat('avgTickLatency', 'avg tick', '–'),
      // many messages per tick is the point of a ring kernel: one submission carries them all
      this.stat('perTick', 'msgs / tick', '–'),
      this.stat('throughput', 'avg msgs/s', '0'),
    );

    this.root = h(
      'article',
      { class: 'kernel', 'data-kernel': id },
      h('header', {}, h('h3', {}, id), this.stateBadge),
      h('p', { class: 'sig' }, signature),
      h('p', { class: 'role' }, role),
      this.queue('input', 'inputDepth', 'input queue', CAPACITY[id].input),
      this.queue('output', 'outputDepth', outputLabel, CAPACITY[id].output),
      stats,
      h('div', { class: 'spark-box' }, svg, this.sparkLabel),
      this.lastError,
      h('div', { class: 'actions' }, this.toggle),
    );
  }

  private stat(field: string, label: string, initial: string): HTMLElement {
    const dd = h('dd', { 'data-field': field }, initial);
    this.fields.set(field, dd);
    return h('div', {}, h('dt', {}, label), dd);
  }

  private queue(which: 'input' | 'output', field: string, label: string, capacity: number): HTMLElement {
    const fill = h('i');
    this.bars.set(which, fill);
    const depth = h('span', { 'data-field': field }, '0');
    this.fields.set(field, depth);
    return h('div', { class: 'queue' }, h('span', { class: 'q-label' }, label), h('div', { class: 'bar' }, fill), h('span', { class: 'q-depth' }, depth, ` / ${capacity}`));
  }

  update(t: KernelTelemetry, now: number): void {
    setText(this.stateBadge, t.state);
    this.stateBadge.dataset.state = t.state;
    this.root.dataset.state = t.state;
    for (const [field] of INTEGER_FIELDS) setText(this.fields.get(field)!, String(t[field]));
    setText(this.fields.get('inputDepth')!, String(t.inputDepth));
    setText(this.fields.get('outputDepth')!, String(t.outputDepth));
    setText(this.fields.get('avgTickLatency')!, t.tickLatency.count ? duration(t.tickLatency.avgNs / 1e6) : '–');
    setText(this.fields.get('throughput')!, si(t.throughput));
    setText(this.fields.get('perTick')!, t.ticks ? si(t.messagesProcessed / t.ticks) : '–');
    this.fields.get('errors')!.classList.toggle('bad', t.errors > 0);
    this.fields.get('messagesDropped')!.classList.toggle('warn', t.messagesDropped > 0);
    this.setBar('input', t.inputDepth / CAPACITY[this.id].input);
    this.setBar('output', t.outputDepth / CAPACITY[this.id].output);
    setText(this.lastError, t.lastError ? `last error: ${this.describe(t.lastError)}` : 'no errors');
    this.lastError.classList.toggle('bad', t.lastError !== null);
    this.sample(t.messagesProcessed, now);
  }

  private describe(lastError: string): string {
    const code = /code (\d+)/.exec(lastError);
    const words = code ? this.explain(Number(code[1])) : undefined;
    return words ? `${lastError} (${words})` : lastError;
  }

  private setBar(which: 'input' | 'output', fraction: number): void {
    const bar = this.bars.get(which)!;
    const pct = Math.min(100, fraction * 100);
    bar.style.width = `${pct}%`;
    // full queues are the interesting moment: colour them so the stall is visible at a glance
    bar.className = pct >= 95 ? 'full' : pct >= 60 ? 'high' : '';
  }

  /** The rate right now (processed since the previous sample), for the sparkline. */
  private sample(processed: number, now: number): void {
    if (this.last !== null && now > this.last.at) {
      this.rates.push(((processed - this.last.processed) * 1000) / (now - this.last.at));
      if (this.rates.length > SPARK_POINTS) this.rates.shift();
    }
    this.last = { processed, at: now };
    const peak = Math.max(0, ...this.rates);
    // the sparkline's scale has a floor of 10 msgs/s so a trickle does not fill the chart; the label shows the real peak
    const top = Math.max(10, peak);
    const offset = SPARK_POINTS - this.rates.length;
    this.spark.setAttribute('points', this.rates.map((r, i) => `${i + offset},${(29 - (r / top) * 27).toFixed(1)}`).join(' '));
    const rate = this.rates.at(-1) ?? 0;
    setText(this.sparkLabel, `${si(rate)} msgs/s now · peak ${si(peak)}`);
    this.root.classList.toggle('flowing', rate > 0);
  }

  /** The kernel left the runtime (device loss terminates every kernel): say so instead of freezing. */
  markGone(): void {
    setText(this.stateBadge, 'terminated');
    this.stateBadge.dataset.state = 'terminated';
    this.root.dataset.state = 'terminated';
    this.root.classList.remove('flowing');
  }
}

// ------------------------------------------------------------------ device state heat map
/** detect's device state: readings per sensor and temperature bin, plus per-sensor totals. */
export class StateView {
  private readonly cells: HTMLElement[][] = [];
  private readonly totals: Array<{ seen: HTMLElement; alerts: HTMLElement; max: HTMLElement }> = [];

  constructor(root: HTMLElement) {
    const table = h('div', { class: 'heat', style: `grid-template-columns: 2.2rem repeat(${BINS}, 1fr) 3.6rem 3rem 3.8rem` });
    table.append(h('span', { class: 'corner' }));
    for (let b = 0; b < BINS; b++) {
      const lo = BIN_LOW + b * BIN_WIDTH;
      const tone = lo >= CRITICAL ? 'crit' : lo >= WARN ? 'warn' : '';
      table.append(h('span', { class: `col-head ${tone}`, title: `${lo} to ${lo + BIN_WIDTH} °C` }, b % 2 === 0 ? String(lo) : ''));
    }
    table.append(h('span', { class: 'col-head num' }, 'seen'), h('span', { class: 'col-head num' }, 'alerts'), h('span', { class: 'col-head num' }, 'max °C'));
    for (let s = 0; s < SENSORS; s++) {
      table.append(h('span', { class: 'row-head' }, `S${s}`));
      const row: HTMLElement[] = [];
      for (let b = 0; b < BINS; b++) {
        const lo = BIN_LOW + b * BIN_WIDTH;
        const cell = h('span', { class: lo >= CRITICAL ? 'cell t-crit' : lo >= WARN ? 'cell t-warn' : 'cell' });
        row.push(cell);
        table.append(cell);
      }
      this.cells.push(row);
      const totals = { seen: h('span', { class: 'num' }, '0'), alerts: h('span', { class: 'num' }, '0'), max: h('span', { class: 'num' }, '–') };
      this.totals.push(totals);
      table.append(totals.seen, totals.alerts, totals.max);
    }
    root.replaceChildren(table);
  }

  update(stats: SensorStats[]): void {
    // log scale: a handful of warnings must stay visible next to thousands of normal readings
    const top = Math.max(1, ...stats.flatMap((s) => s.histogram));
    stats.forEach((s, i) => {
      s.histogram.forEach((count, b) => {
        const cell = this.cells[i][b];
        const heat = count === 0 ? 0 : 0.15 + 0.85 * (Math.log1p(count) / Math.log1p(top));
        cell.style.setProperty('--heat', heat.toFixed(3));
        cell.title = `sensor ${i}, ${BIN_LOW + b * BIN_WIDTH}..${BIN_LOW + (b + 1) * BIN_WIDTH} °C: ${count}`;
      });
      const t = this.totals[i];
      setText(t.seen, String(s.seen));
      setText(t.alerts, String(s.alerts));
      setText(t.max, s.max === null ? '–' : s.max.toFixed(1));
      t.alerts.classList.toggle('warn', s.alerts > 0);
    });
  }
}

// ------------------------------------------------------------------ latest outputs
const SHOWN_OUTPUTS = 12;

export interface ShownAlert extends AlertMsg {
  priority: number;
  at: Date;
}

/** The newest alerts the page received from the end of the chain, newest first. */
export class OutputsView {
  private readonly recent: ShownAlert[] = [];
  private dirty = false;
  received = 0;
  private readonly levelCounts = [0, 0, 0];

  constructor(private readonly list: HTMLElement, private readonly summary: HTMLElement) {
    list.replaceChildren(h('li', { class: 'empty' }, 'No alerts yet: send a reading of 80 °C or more.'));
  }

  add(alerts: ReadonlyArray<AlertMsg & { priority: number }>): void {
    const at = new Date();
    // a batch arrives most urgent first: it goes on top in that order, above older batches
    this.recent.unshift(...alerts.slice(0, SHOWN_OUTPUTS).map((a) => ({ ...a, at })));
    this.recent.length = Math.min(this.recent.length, SHOWN_OUTPUTS);
    for (const a of alerts) this.levelCounts[a.level] = (this.levelCounts[a.level] ?? 0) + 1;
    this.received += alerts.length;
    this.dirty ||= alerts.length > 0;
  }

  /** Rebuilds the list only when something arrived since the last render. */
  render(): void {
    if (!this.dirty) return;
    this.dirty = false;
    setText(this.summary, `${this.received} received · ${this.levelCounts[2]} critical · ${this.levelCounts[1]} warn`);
    this.list.replaceChildren(...this.recent.map((a) => alertItem(a)));
  }
}

export function alertItem(a: ShownAlert): HTMLElement {
  const level = LEVELS[a.level] ?? `level ${a.level}`;
  return h(
    'li',
    { class: `alert ${level}`, title: `reading #${a.seen} of sensor ${a.sensor} (counted in detect's device state)` },
    h('span', { class: 'time' }, a.at.toLocaleTimeString([], { hour12: false })),
    h('span', { class: `level ${level}` }, level),
    h('span', { class: 'sensor' }, `S${a.sensor}`),
    h('span', { class: 'celsius' }, `${a.celsius.toFixed(1)} °C`),
    h('span', { class: 'prio', title: 'priority' }, `p${a.priority}`),
  );
}

