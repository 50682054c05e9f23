/**
 * ringkernel's demo page: a two-stage ring-kernel pipeline on the visitor's own GPU, driven from
 * the page, with its telemetry and device state live; and the GPU-vs-CPU benchmark as a chart.
 *
 * URL parameters:
 *   ?bench=quick      the benchmark's QUICK config (default): 7 rounds × 35 ms per case
 *   ?bench=tiny       a much smaller config (2 rounds × 10 ms) for the automated browser test
 *   ?bench=auto       start the benchmark by itself once the pipeline is up (QUICK);
 *                     combine with a size as ?bench=tiny,auto or ?bench=tiny&autorun=1
 *   ?autorun=1        the same as `auto`
 *   ?backend=cpu      skip WebGPU and run the pipeline on the CPU backend (what a browser
 *                     without WebGPU gets)
 *   ?stream=1         start the sensor stream at once (for screenshots and kiosks)
 *
 * Hooks for the automated browser test (test/browser.test.ts):
 *   document.body.dataset.backend  'gpu' | 'cpu', once the runtime exists
 *   document.body.dataset.ready    'true' once both kernels are launched and active
 *   globalThis.ringkernelDemo      { runtime, kernelIds } from then on
 *   element ids: see index.html (#send, #burst, #ask, #telemetry [data-kernel] [data-field], ...)
 */
import { GpuUnavailableError, RingKernelRuntime, acquireDevice, describeAdapter, requestAdapter, type AcquiredDevice, type AdapterReport } from 'ringkernel';
import { BENCH_CONFIGS, BenchPanel, type BenchConfigName } from './bench-panel.js';
import { AlertConsumer, EventLog, SentCounter, Stream, wireControls } from './controls.js';
import { byId, describeError, duration, setText, sleep } from './dom.js';
import { KernelCard, OutputsView, StateView } from './live-view.js';
import { FAILURES, KERNEL_IDS, SensorTraffic, decodeState, launchPipeline, type KernelId } from './pipeline.js';

declare global {
  /** The demo's runtime, for the browser test to compare the page's figures with. */
  var ringkernelDemo: { runtime: RingKernelRuntime; kernelIds: string[] } | undefined;
}

interface Options {
  bench: BenchConfigName;
  autorun: boolean;
  forceCpu: boolean;
  stream: boolean;
}

function readOptions(): Options {
  const q = new URLSearchParams(location.search);
  const benchWords = (q.get('bench') ?? '').toLowerCase().split(/[,+ ]/);
  const yes = (name: string): boolean => ['1', 'true', 'yes', 'on'].includes((q.get(name) ?? '').toLowerCase());
  return {
    // own keys only: `in` would also accept inherited names such as ?bench=toString
    bench: benchWords.find((w): w is BenchConfigName => Object.hasOwn(BENCH_CONFIGS, w)) ?? 'quick',
    autorun: benchWords.includes('auto') || yes('autorun'),
    forceCpu: q.get('backend') === 'cpu',
    stream: yes('stream'),
  };
}

// ------------------------------------------------------------------ boot
const REFRESH_MS = 250;

/** The boot banner: what is happening and for how long, since SwiftShader compiles slowly. */
class BootStatus {
  private readonly el = byId('boot');
  private readonly text = byId('boot-text');
  private readonly started = performance.now();
  private step = 'starting';
  private readonly timer = setInterval(() => this.render(), 100);

  set(step: string): void {
    this.step = step;
    this.render();
  }

  private render(): void {
    setText(this.text, `${this.step}… ${((performance.now() - this.started) / 1000).toFixed(1)} s`);
  }

  done(text: string, tone: 'good' | 'bad'): void {
    clearInterval(this.timer);
    this.el.className = `boot ${tone}`;
    setText(this.text, text);
  }

  get elapsedMs(): number {
    return performance.now() - this.started;
  }
}

function adapterName(info: AdapterReport): string {
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' · ') || 'unnamed adapter';
}

function showAdapter(info: AdapterReport): void {
  setText(byId('adapter'), adapterName(info));
  byId('backend-badge').textContent = 'WebGPU';
  byId('backend-badge').className = 'badge gpu';
  if (info.isSoftware) {
    showNote(
      'warn',
      'This is a software adapter: the "GPU" is emulated on your CPU, so kernels compile slowly and GPU figures measure the emulation, not graphics hardware.',
    );
  }
}

/**
 * `adapter`: what to say of WebGPU: 'named' (the kernels did not launch on an adapter already
 * shown: keep naming it), 'none' (no adapter), or the name of one found but not used (?backend=cpu).
 */
function showCpuFallback(reason: string, adapter: 'named' | 'none' | { unused: string }): void {
  byId('backend-badge').textContent = 'CPU backend';
  byId('backend-badge').className = 'badge cpu';
  if (adapter === 'none') setText(byId('adapter'), 'no WebGPU adapter');
  else if (adapter !== 'named') setText(byId('adapter'), `WebGPU adapter not used: ${adapter.unused}`);
  setText(byId('runs-on'), 'This page runs them on ringkernel’s CPU backend (their JavaScript handlers), not on your GPU.');
  showNote(
    'bad',
    `Running on ringkernel’s CPU backend, not the GPU: ${reason.replace(/\.$/, '')}. The same kernels run as their JavaScript handlers, with the same queues, lifecycle and telemetry.`,
  );
}

/** The adapter a page opened with ?backend=cpu would have had, by name, or 'none' (no device is created). */
async function unusedAdapter(): Promise<'none' | { unused: string }> {
  try {
    const adapter = await requestAdapter();
    return { unused: adapterName(describeAdapter(adapter)) };
  } catch {
    return 'none';
  }
}

function showNote(tone: 'warn' | 'bad', text: string): void {
  const note = byId('adapter-note');
  note.hidden = false;
  note.className = `note ${tone}`;
  note.textContent = text;
}

/**
 * A runtime with the pipeline launched and active: on the GPU when the browser has WebGPU and
 * the kernels launch there, else on the CPU backend, saying why.
 */
async function startPipeline(opts: Options, boot: BootStatus): Promise<RingKernelRuntime> {
  let reason = 'the page was opened with ?backend=cpu';
  let adapter: 'named' | 'none' | { unused: string } = 'none';
  if (!opts.forceCpu) {
    let acquired: AcquiredDevice | null = null;
    boot.set('requesting a WebGPU adapter');
    try {
      acquired = await acquireDevice();
    } catch (error) {
      reason = error instanceof GpuUnavailableError ? error.message : describeError(error);
    }
    if (acquired !== null) {
      showAdapter(acquired.info);
      watchDeviceLoss(acquired);
      const rt = await startOnGpu(acquired, boot).catch((error: unknown) => {
        reason = `the kernels did not launch on the GPU: ${describeError(error)}`;
        acquired.device.destroy(); // ours alone: nothing else uses it once the runtime is gone
        return null;
      });
      if (rt !== null) return rt;
      adapter = 'named';
    }
  } else {
    adapter = await unusedAdapter();
  }
  showCpuFallback(reason, adapter);
  const rt = await RingKernelRuntime.create({ backend: 'cpu' });
  document.body.dataset.backend = 'cpu';
  await launchPipeline(rt, (step) => boot.set(`${step} on the CPU backend`));
  return rt;
}

async function startOnGpu(acquired: AcquiredDevice, boot: BootStatus): Promise<RingKernelRuntime> {
  const rt = await RingKernelRuntime.create({ backend: 'gpu', device: acquired.device });
  document.body.dataset.backend = 'gpu';
  const slow = acquired.info.isSoftware ? ' (a software adapter compiles slowly)' : '';
  try {
    await launchPipeline(rt, (step) => boot.set(`${step} on the GPU${slow}`));
    return rt;
  } catch (error) {
    await rt.shutdown().catch(() => undefined);
    throw error;
  }
}

function watchDeviceLoss(acquired: AcquiredDevice): void {
  void acquired.device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    showNote('bad', `The GPU device was lost (${info.message || info.reason}): every kernel was terminated. Reload the page to start again.`);
  });
}

// ------------------------------------------------------------------ live view
interface Live {
  rt: RingKernelRuntime;
  cards: Map<KernelId, KernelCard>;
  state: StateView;
  outputs: OutputsView;
  received: HTMLElement;
  prometheus: HTMLElement;
  /** alerts received at the previous refresh */
  lastReceived: number;
  /**
   * Set while the in-page benchmark runs: the refresh then skips readState (a GPU readback
   * four times a second would skew the benchmark's figures) and keeps only the host-side
   * telemetry, outputs and Prometheus text, which touch no GPU.
   */
  gpuPaused: boolean;
  /** the refresh in progress, if any (the benchmark waits for its readback to finish) */
  current: Promise<void> | null;
}

/** Telemetry, device state and outputs, a few times a second; one refresh at a time. */
async function refreshLoop(live: Live, log: EventLog): Promise<never> {
  let reported = false;
  for (;;) {
    const started = performance.now();
    try {
      live.current = refresh(live);
      await live.current;
    } catch (error) {
      // keep refreshing (the next one may work), but say it once rather than four times a second
      if (!reported) log.add(`live view: ${describeError(error)}`, 'bad');
      reported = true;
    } finally {
      live.current = null;
    }
    await sleep(Math.max(50, REFRESH_MS - (performance.now() - started)));
  }
}

async function refresh(live: Live): Promise<void> {
  const now = performance.now();
  for (const [id, card] of live.cards) {
    if (!live.rt.kernelIds.includes(id)) {
      card.markGone();
      syncToggle(card, 'terminated');
      continue;
    }
    const t = live.rt.telemetry(id);
    if (t === null) continue;
    card.update(t, now);
    syncToggle(card, t.state);
  }
  try {
    if (!live.gpuPaused && live.rt.kernelIds.includes('detect')) live.state.update(decodeState(await live.rt.readState('detect')));
  } catch {
    // the device went away between the check and the read: the loss note says so
  }
  live.outputs.render();
  setText(live.received, String(live.outputs.received));
  markFlow(live);
  // the samples only: the # HELP / # TYPE comments would take most of the small panel
  setText(live.prometheus, live.rt.prometheus().split('\n').filter((line) => line !== '' && !line.startsWith('#')).join('\n'));
}

/** Animates the arrows into stages that moved messages since the previous refresh. */
function markFlow(live: Live): void {
  const received = live.outputs.received;
  for (const arrow of document.querySelectorAll<HTMLElement>('#telemetry .arrow')) {
    const flow = arrow.dataset.flow;
    const moving = flow === 'outputs' ? received > live.lastReceived : live.cards.get(flow as KernelId)?.root.classList.contains('flowing') === true;
    arrow.classList.toggle('flowing', moving);
  }
  live.lastReceived = received;
}

/** The lifecycle button follows the kernel's state (the visitor may click while a change runs). */
function syncToggle(card: KernelCard, state: string): void {
  if (card.toggle.dataset.busy === 'true') return;
  const label = state === 'active' ? 'Deactivate' : state === 'deactivated' ? 'Reactivate' : state;
  setText(card.toggle, label);
  card.toggle.disabled = state !== 'active' && state !== 'deactivated';
}

function wireLifecycle(rt: RingKernelRuntime, cards: Map<KernelId, KernelCard>, log: EventLog): void {
  const consequences: Record<KernelId, [string, string]> = {
    calibrate: ['readings queue up in its input queue (it drops the oldest when full)', 'its backlog drains, most urgent first'],
    detect: [
      'calibrate fills detect’s input queue, then stalls: readings wait in calibrate’s input queue, which drops the oldest once it is full (counted in DROPPED)',
      'the backlog drains through detect',
    ],
  };
  for (const [id, card] of cards) {
    card.toggle.addEventListener('click', () => {
      const active = rt.state(id) === 'active';
      card.toggle.dataset.busy = 'true';
      card.toggle.disabled = true;
      (active ? rt.deactivate(id) : rt.reactivate(id))
        .then(
          () => log.add(`${id} ${active ? 'deactivated' : 'reactivated'}: ${consequences[id][active ? 0 : 1]}`, active ? 'warn' : 'good'),
          (error: unknown) => log.add(`${active ? 'deactivate' : 'reactivate'} ${id} failed: ${describeError(error)}`, 'bad'),
        )
        .finally(() => {
          delete card.toggle.dataset.busy;
          syncToggle(card, rt.kernelIds.includes(id) ? rt.state(id) : 'terminated');
        });
    });
  }
}

function buildCards(): Map<KernelId, KernelCard> {
  const cards = new Map<KernelId, KernelCard>([
    ['calibrate', new KernelCard('calibrate', 'Reading → Calibrated', 'raw → °C per sensor; rk_fail on NaN or out of range', 'output → detect', (code) => FAILURES[code])],
    ['detect', new KernelCard('detect', 'Calibrated → Alert', 'histogram in device state (atomics); emits ≥ 80 °C', 'output queue')],
  ]);
  for (const id of KERNEL_IDS) byId(`slot-${id}`).replaceWith(cards.get(id)!.root);
  return cards;
}

// ------------------------------------------------------------------ main
async function main(boot: BootStatus): Promise<void> {
  const opts = readOptions();
  const log = new EventLog(byId('log'));
  const cards = buildCards();
  const outputs = new OutputsView(byId('outputs'), byId('outputs-summary'));
  const state = new StateView(byId('heat'));

  let stream: Stream | null = null;
  let consumer: AlertConsumer | null = null;
  let live: Live | null = null;
  const bench = new BenchPanel(opts.bench, {
    // everything the page submits to the GPU stops while the benchmark measures: the stream, the
    // alert consumer's receives and the device-state readback (the telemetry display goes on: it
    // reads host-side counters only)
    onRunning: async (running) => {
      stream?.pause(running);
      consumer?.pause(running);
      setText(byId('stream-note'), running && stream?.on ? 'paused while the benchmark runs' : '');
      setText(byId('state-note'), running ? 'not read while the benchmark runs' : '');
      if (live === null) return;
      live.gpuPaused = running;
      // a readback already in flight finishes before the benchmark starts measuring
      if (running) await live.current?.catch(() => undefined);
    },
  });

  let rt: RingKernelRuntime;
  try {
    rt = await startPipeline(opts, boot);
  } catch (error) {
    boot.done(`The pipeline could not start: ${describeError(error)}`, 'bad');
    if (opts.autorun) void bench.run();
    return;
  }
  const backend = document.body.dataset.backend;
  boot.done(`Pipeline up on the ${backend === 'gpu' ? 'GPU' : 'CPU backend'}: both kernels launched and active in ${duration(boot.elapsedMs)}.`, 'good');
  log.add(`calibrate → detect launched and active (${backend}) in ${duration(boot.elapsedMs)}`, 'good');

  const traffic = new SensorTraffic();
  const sent = new SentCounter(byId('sent-count'));
  consumer = new AlertConsumer(rt, outputs, (error) => {
    log.add(`receiving alerts stopped: ${describeError(error)}`, 'bad');
    byId('consume-toggle').setAttribute('aria-pressed', 'false');
  });
  stream = new Stream(rt, traffic, sent, (error) => {
    log.add(`stream stopped: ${describeError(error)}`, 'bad');
    byId('stream-toggle').setAttribute('aria-pressed', 'false');
  });
  consumer.start();
  if (opts.stream) {
    stream.set(true);
    log.add(`stream on (?stream=1): ${stream.rate} readings/s`);
  }
  wireControls({ rt, traffic, sent, log, stream, consumer });
  wireLifecycle(rt, cards, log);
  for (const b of document.querySelectorAll<HTMLButtonElement>('.needs-runtime')) b.disabled = false;

  live = { rt, cards, state, outputs, received: byId('recv-count'), prometheus: byId('prometheus'), lastReceived: 0, gpuPaused: false, current: null };
  await refresh(live);
  globalThis.ringkernelDemo = { runtime: rt, kernelIds: [...KERNEL_IDS] };
  document.body.dataset.ready = 'true';
  void refreshLoop(live, log);

  if (opts.autorun) void bench.run();
}

// a module script runs after the document is parsed: every element index.html declares exists
const boot = new BootStatus();
main(boot).catch((error: unknown) => {
  // main handles what it expects (no WebGPU, a failed launch); anything else is a bug worth seeing on the page
  boot.done(`The demo failed: ${describeError(error)}`, 'bad');
});
