/**
 * What the visitor drives: single readings with a chosen priority, bursts, a steady stream, a
 * request/reply round trip, the page's alert consumer, and clearing detect's device state.
 * Every call into the runtime is caught here: a failure is shown on the page, never left as an
 * unhandled rejection.
 */
import { NoReplyError, type RingKernelRuntime } from 'ringkernel';
import { byId, describeError, duration, h, setText } from './dom.js';
import type { OutputsView } from './live-view.js';
import { FAILURES, LEVELS, PROBE, SensorTraffic, emptyState, failureOf, type AlertMsg, type ReadingMsg } from './pipeline.js';

const FIRST = 'calibrate';
const LAST = 'detect';
const MAX_BURST = 10_000;

/** A short narrative of what happened, newest first: why a queue fills is not obvious from bars alone. */
export class EventLog {
  private static readonly SHOWN = 7;
  constructor(private readonly list: HTMLElement) {}

  add(text: string, tone: 'info' | 'good' | 'warn' | 'bad' = 'info'): void {
    const time = new Date().toLocaleTimeString([], { hour12: false });
    this.list.prepend(h('li', { class: tone }, h('span', { class: 'time' }, time), h('span', {}, text)));
    while (this.list.children.length > EventLog.SHOWN) this.list.lastElementChild!.remove();
  }
}

/** Counts what the page sent, for the pipeline's source node. */
export class SentCounter {
  total = 0;
  constructor(private readonly el: HTMLElement) {}
  add(n: number): void {
    this.total += n;
    setText(this.el, String(this.total));
  }
}

// ------------------------------------------------------------------ the alert consumer
/**
 * The page's receive loop at the end of the chain. Pausing it aborts the pending receive, so
 * alerts pile up in detect's output queue and, once it is full, the whole pipeline stalls:
 * end-to-end backpressure the visitor can watch.
 */
export class AlertConsumer {
  private pending: AbortController | null = null;
  /** the receive loop is running */
  private running = false;
  /** the visitor wants alerts received (the toggle) */
  private wanted = false;
  /** which loop is current: a loop whose receive resolved just as it was stopped must not carry on beside a new one */
  private generation = 0;
  /** held off by the in-page benchmark: a receive reads the device's output queue back */
  private paused = false;

  constructor(
    private readonly rt: RingKernelRuntime,
    private readonly outputs: OutputsView,
    private readonly onStop: (error: unknown) => void,
  ) {}

  /** Whether the page receives alerts (as the toggle shows it; also while paused for the benchmark). */
  get active(): boolean {
    return this.wanted;
  }

  start(): void {
    this.wanted = true;
    this.sync();
  }

  stop(): void {
    this.wanted = false;
    this.sync();
  }

  /** The benchmark pauses receiving, like the stream: its figures should not include the demo's readbacks. */
  pause(paused: boolean): void {
    this.paused = paused;
    this.sync();
  }

  private sync(): void {
    const run = this.wanted && !this.paused;
    if (run && !this.running) {
      this.running = true;
      void this.loop(++this.generation);
    } else if (!run && this.running) {
      this.running = false;
      this.pending?.abort();
      this.pending = null;
    }
  }

  private async loop(generation: number): Promise<void> {
    while (this.running && generation === this.generation) {
      const ctrl = new AbortController();
      this.pending = ctrl;
      try {
        const alerts = await this.rt.receiveMany<AlertMsg>(LAST, 256, { signal: ctrl.signal });
        this.outputs.add(alerts);
      } catch (error) {
        if (ctrl.signal.aborted || generation !== this.generation) return; // paused (a later start() runs its own loop)
        this.running = false;
        this.wanted = false;
        this.onStop(error);
        return;
      }
    }
  }
}

// ------------------------------------------------------------------ the stream
/** Sends generated readings at a steady rate in 10 sends a second, while switched on and not paused. */
export class Stream {
  private timer: ReturnType<typeof setInterval> | null = null;
  private owed = 0;
  private inFlight = 0;
  private paused = false;
  rate = 200;

  constructor(
    private readonly rt: RingKernelRuntime,
    private readonly traffic: SensorTraffic,
    private readonly sent: SentCounter,
    private readonly onError: (error: unknown) => void,
  ) {}

  get on(): boolean {
    return this.timer !== null;
  }

  set(on: boolean): void {
    if (on && this.timer === null) this.timer = setInterval(() => this.tick(), 100);
    if (!on && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** The benchmark pauses the stream: its figures should not include the demo's traffic. */
  pause(paused: boolean): void {
    this.paused = paused;
  }

  private tick(): void {
    if (this.paused) return;
    // Capped at one second's worth of the chosen rate: while sends are held back (two in flight
    // on a slow device) the debt would otherwise grow without bound and go out as one huge
    // burst once the device catches up. The stream is meant to be steady: a device that cannot
    // keep up gets at most a second's readings at once and simply sends fewer in all.
    this.owed = Math.min(this.owed + this.rate / 10, this.rate);
    const n = Math.floor(this.owed);
    // a send can wait for the tick in flight; do not pile sends up behind a slow device
    if (n === 0 || this.inFlight >= 2) return;
    this.owed -= n;
    const batch = Array.from({ length: n }, () => this.traffic.next(true));
    this.inFlight++;
    this.rt
      .sendMany(FIRST, batch)
      .then(() => this.sent.add(n))
      .catch((error: unknown) => {
        this.set(false);
        this.onError(error);
      })
      .finally(() => this.inFlight--);
  }
}

// ------------------------------------------------------------------ the form
export interface ControlDeps {
  rt: RingKernelRuntime;
  traffic: SensorTraffic;
  sent: SentCounter;
  log: EventLog;
  stream: Stream;
  consumer: AlertConsumer;
}

/** The reading the form describes, or a sentence saying what is wrong with it. */
function readForm(): ReadingMsg | string {
  const sensor = Number(byId<HTMLSelectElement>('sensor').value);
  const text = byId<HTMLInputElement>('value').value.trim();
  // NaN is a legitimate (bad) reading to send on purpose; anything else unparsable is a typo
  const raw = /^nan$/i.test(text) ? NaN : text === '' ? NaN : Number(text);
  if (Number.isNaN(raw) && !/^nan$/i.test(text)) return `"${text}" is not a number (type NaN to send one on purpose)`;
  const prioText = byId<HTMLInputElement>('priority').value.trim();
  const priority = Number(prioText);
  if (prioText === '' || !Number.isInteger(priority) || priority < 0 || priority > 255) return 'priority must be an integer from 0 to 255';
  return { sensor, raw, flags: 0, priority };
}

const describeReading = (m: ReadingMsg): string => `S${m.sensor} raw ${m.raw} p${m.priority}`;

export function wireControls(d: ControlDeps): void {
  const formNote = byId('form-note');
  const note = (text: string, bad = false): void => {
    setText(formNote, text);
    formNote.classList.toggle('bad', bad);
  };
  const failed = (what: string) => (error: unknown) => {
    note(`${what} failed: ${describeError(error)}`, true);
    d.log.add(`${what} failed: ${describeError(error)}`, 'bad');
  };

  byId('send').addEventListener('click', () => {
    const m = readForm();
    if (typeof m === 'string') return note(m, true);
    const code = failureOf(m);
    note(code ? `sent; calibrate will reject it: ${FAILURES[code]}` : `sent ${describeReading(m)}`);
    d.rt.send(FIRST, m).then(() => {
      d.sent.add(1);
      d.log.add(`sent ${describeReading(m)}`);
    }, failed('send'));
  });

  byId('burst').addEventListener('click', () => {
    const input = byId<HTMLInputElement>('burst-size');
    const n = Math.max(1, Math.min(MAX_BURST, Math.floor(Number(input.value) || 0)));
    input.value = String(n);
    const batch = Array.from({ length: n }, () => d.traffic.next(true));
    // one sendMany: one turn of the event loop, so the whole burst goes to the device in one tick
    d.rt.sendMany(FIRST, batch).then(() => {
      d.sent.add(n);
      d.log.add(`burst of ${n} readings, random sensors and priorities`);
    }, failed('burst'));
  });

  byId('ask').addEventListener('click', () => void ask(d, note));

  for (const chip of document.querySelectorAll<HTMLButtonElement>('[data-raw]')) {
    chip.addEventListener('click', () => {
      byId<HTMLInputElement>('value').value = chip.dataset.raw!;
      note(chip.title);
    });
  }

  wireToggle('stream-toggle', d.stream.on, (on) => {
    d.stream.set(on);
    d.log.add(on ? `stream on: ${d.stream.rate} readings/s` : 'stream off');
  });
  byId<HTMLSelectElement>('stream-rate').addEventListener('change', (e) => {
    d.stream.rate = Number((e.target as HTMLSelectElement).value);
  });
  d.stream.rate = Number(byId<HTMLSelectElement>('stream-rate').value);

  wireToggle('consume-toggle', d.consumer.active, (on) => {
    if (on) d.consumer.start();
    else d.consumer.stop();
    d.log.add(
      on ? 'page receives alerts again: the backlog drains' : 'page stopped receiving: alerts pile up in detect’s output queue, then everything upstream stalls',
      on ? 'good' : 'warn',
    );
  });

  byId('clear-state').addEventListener('click', () => {
    d.rt.writeState(LAST, emptyState()).then(() => d.log.add('detect’s device state cleared (writeState)'), failed('clear'));
  });
}

/** An on/off button (aria-pressed), starting in `initial`. */
export function wireToggle(id: string, initial: boolean, onChange: (on: boolean) => void): void {
  const button = byId<HTMLButtonElement>(id);
  button.setAttribute('aria-pressed', String(initial));
  button.addEventListener('click', () => {
    const on = button.getAttribute('aria-pressed') !== 'true';
    button.setAttribute('aria-pressed', String(on));
    onChange(on);
  });
}

/** Request/reply: the reading goes through both kernels on the device and its alert comes back to this call. */
async function ask(d: ControlDeps, note: (text: string, bad?: boolean) => void): Promise<void> {
  const out = byId('ask-result');
  const button = byId<HTMLButtonElement>('ask');
  const m = readForm();
  if (typeof m === 'string') return note(m, true);
  const probe = { ...m, flags: PROBE };
  button.disabled = true;
  out.className = 'pending';
  const waitingOn = ['calibrate', 'detect'].filter((id) => d.rt.state(id) !== 'active');
  setText(out, waitingOn.length ? `waiting: ${waitingOn.join(' and ')} ${waitingOn.length > 1 ? 'are' : 'is'} deactivated, so the request waits in the queue…` : 'waiting for the reply…');
  const started = performance.now();
  try {
    const reply = await d.rt.sendAndReceive<AlertMsg>(FIRST, probe, { timeout: 120_000 });
    const rtt = duration(performance.now() - started);
    d.sent.add(1);
    const level = LEVELS[reply.level] ?? `level ${reply.level}`;
    out.className = `ok ${level}`;
    setText(out, `reply: S${reply.sensor} ${reply.celsius.toFixed(1)} °C, ${level}, reading #${reply.seen} of S${reply.sensor}, priority ${reply.priority} · round trip ${rtt}`);
    d.log.add(`request/reply: ${reply.celsius.toFixed(1)} °C ${level} in ${rtt}`, 'good');
  } catch (error) {
    const rtt = duration(performance.now() - started);
    const code = failureOf(m);
    out.className = 'bad';
    if (error instanceof NoReplyError) {
      d.sent.add(1);
      const why = code ? `calibrate rejected the reading (code ${code}: ${FAILURES[code]})` : error.message;
      setText(out, `no reply: ${why} · known after ${rtt}`);
    } else {
      setText(out, `error: ${describeError(error)} · after ${rtt}`);
    }
    d.log.add(`request/reply: no reply (${code ? FAILURES[code] : describeError(error)})`, 'warn');
  } finally {
    button.disabled = false;
  }
}
