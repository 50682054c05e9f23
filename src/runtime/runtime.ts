/**
 * RingKernelRuntime: the public API of ring kernels. It owns what both backends share: the
 * kernels' lifecycle (state.ts), the checks of every call, the tick schedule (scheduler.ts),
 * request/reply (requests.ts) and telemetry (telemetry.ts). The backend (backend.ts) owns the
 * queues and runs the ticks: `cpu` with MessageQueues and the kernels' JavaScript handlers,
 * `gpu` with GpuMessageQueues and the kernels' WGSL, one submission per tick.
 *
 * RULES
 *   - Sends are admitted between ticks: a send made while a tick is in flight waits for its
 *     readback, so the queue's backpressure decides on the exact size (its timeout counts from
 *     the call). Receives are recorded at once.
 *   - A tick runs the ACTIVE kernels that can make progress, upstream first (sendsTo order), so
 *     a message crosses a whole pipeline in one tick. A kernel is skipped when its input is empty
 *     (and no upstream kernel runs) or its output has no room for maxEmits outputs: a full
 *     pipeline stalls, and no tick runs until a receive makes room.
 *   - Every call checks its kernel id (KernelNotFoundError) and its state (KernelStateError)
 *     first, then its arguments (TypeError/RangeError), and changes nothing when it throws.
 *
 * TICKS IN FLIGHT (GPU backend, `ticksInFlight` > 1)  The next tick may be submitted before the
 * ones in flight are read back, only where the host's view that it plans from is safe to use
 * while the device still changes the queues:
 *   - Its bounds stay upper bounds: a kernel's input may also hold what in-flight ticks' upstream
 *     kernels emit (their bounds times maxEmits), its output room what in-flight ticks' downstream
 *     kernels take (their bounds). The device decides each tick's n from its own counts, as always.
 *   - The only host operations it carries are sends into the input of a kernel nothing sends to:
 *     there the host's size is never below the device's (ticks only take from it), so a send that
 *     fits the host's size, with nobody waiting before it, fits the device's too, and is admitted
 *     at once instead of at the readback (the answer the readback would give: accepted, nothing
 *     evicted). Every other send waits for the readback as before. A receive or a re-inserted reply
 *     waits for every tick in flight to land: the device's pop then follows everything pushed.
 *   - No request is tracked (its replies are re-inserted in tick order), no send is deferred or
 *     blocked (one admitted at a readback competes in the next take, by priority), and no lifecycle
 *     call waits for the ticks to settle; otherwise the ticks in flight drain first, and sends wait
 *     for the readback as at depth 1.
 *   - Only a send admitted while ticks fly starts a tick beside them; any other request (a
 *     receive, an activation) is served by the tick after them, as at depth 1.
 * Results land in submission order. The order of every queue is the device's, so it is what one
 * tick after another gives; what overlapping changes is only how many messages a tick finds.
 */
import type { WaitOptions } from '../queue/contract.js';
import { readWait, type Wait } from '../queue/waiters.js';
import { QueueFullError } from '../queue/errors.js';
import type { PackedBatch } from '../gpu/packed.js';
import type { Backend, BackendKernel, KernelConfig, TickPlan } from './backend.js';
import { KernelAlreadyExistsError, KernelNotFoundError, KernelRouteError, KernelStateError } from './errors.js';
import { sameSchema, type RingKernelDefinition } from './kernel.js';
import { Requests } from './requests.js';
import { TickScheduler } from './scheduler.js';
import { KernelState, checkTransition, type KernelStateValue } from './state.js';
import { KernelClock, prometheusText, type KernelTelemetry, type RuntimeSummary } from './telemetry.js';
import { CpuBackend } from './cpu/backend.js';
import { warmHostPaths, type WarmRuntime } from './warm-host.js';
import { notify } from '../queue/notify.js';

/** The private runtimes that warm the host paths (warm-host.ts): their own launches do not wait for it. */
const hostWarmers = new WeakSet<RingKernelRuntime>();

export interface RuntimeOptions {
  /** Where kernels run: 'gpu' (WebGPU, default) or 'cpu' (their JavaScript handlers). */
  backend?: 'gpu' | 'cpu';
  /** GPU backend: the device to use (default: ringkernel's shared device). */
  device?: GPUDevice;
  /** Telemetry (telemetry(), allTelemetry(), prometheus()); default true. */
  telemetry?: boolean;
  /**
   * Called after every tick that ran with where its host time went (profiles: `ringkernel bench
   * --profile`). It runs inside the tick: keep it short. An exception it throws is rethrown
   * outside the tick (queueMicrotask: an uncaught exception), never failing the tick.
   */
  onTick?: (timing: TickTiming) => void;
  /**
   * GPU backend: the most ticks in flight at once (1-8; default DEFAULT_TICKS_IN_FLIGHT, 2). While messages keep
   * arriving, the next tick is submitted before the previous one is read back, so the host plans,
   * encodes and delivers while the device works (TICKS IN FLIGHT above). 1: each tick is read back
   * before the next starts. The CPU backend's ticks run on the host: one at a time, whatever this says.
   */
  ticksInFlight?: number;
}

/** One tick's phases, as `performance.now()` milliseconds. */
export interface TickTiming {
  /** the tick began (its turn of the event loop came) */
  start: number;
  /** its plan was made: the backend begins (GPU: encodes, submits and waits for the readback) */
  planned: number;
  /** the backend returned: the queues and kernels have their results */
  ran: number;
  /** replies and events delivered: the tick is done */
  end: number;
  /** the kernels it ran, upstream first */
  kernels: string[];
  /** ticks that were in flight when it was submitted (0: the device had nothing else to do) */
  ahead: number;
}

/** Fields of an output whose schema the caller did not name (`receive<typeof Res.type>(id)` names it). */
export type AnyFields = Record<string, any>;
/** An output as receive / receiveMany / sendAndReceive return it: the output schema's fields and its priority. */
export type Output<T extends object = AnyFields> = T & { priority: number };

export interface LaunchConfig {
  /** Capacity of the kernel's input queue. Default 4096. */
  inputQueueSize?: number;
  /** Capacity of its output queue, at least maxEmits. Default 4096. Only for a kernel whose outputs stay with it: refused with sendsTo. */
  outputQueueSize?: number;
  /** What a send to a full input queue does: 'block' (default), 'reject', 'drop' (evict the oldest). */
  backpressure?: 'block' | 'reject' | 'drop';
  /** Most messages one tick consumes. Default 65536; a tick never takes more than the input queue holds, so min(this, inputQueueSize) sizes the kernel's GPU buffers. */
  maxMessagesPerTick?: number;
  /** Another kernel whose input queue is this kernel's output queue (a pipeline on the device). */
  sendsTo?: string;
}

declare global {
  // Node 20 has Symbol.asyncDispose; TypeScript declares it only with lib esnext.disposable, so
  // the public declarations say so themselves (as @types/node does) for consumers without it.
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

const BACKPRESSURE = ['block', 'reject', 'drop'] as const;
/** Ticks in flight by default (GPU backend): chosen by measurement (bench/RESULTS.md, "Ticks in flight"). */
export const DEFAULT_TICKS_IN_FLIGHT = 2;
const MAX_TICKS_IN_FLIGHT = 8;
/** Records of one tick's emits, at most (a device-ordered push: shaders/queue-push.wgsl). */
const MAX_TICK_OUTPUTS = 1 << 20;

interface KernelRecord {
  id: string;
  def: RingKernelDefinition;
  config: KernelConfig;
  state: KernelStateValue;
  kernel: BackendKernel | null;
  clock: KernelClock;
  launching: Promise<unknown> | null;
  /** its terminate, once one began */
  terminating: Promise<void> | null;
}

interface Topology {
  order: KernelRecord[];
  upstream: Map<KernelRecord, KernelRecord[]>;
}

type SendOperation = 'send' | 'sendMany' | 'sendManyPacked' | 'sendAndReceive';

interface DeferredSend {
  record: KernelRecord;
  wait: Wait | undefined;
  since: number;
  op: SendOperation;
  run: (wait: WaitOptions | undefined) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
  onAbort?: () => void;
}

function disarm(d: DeferredSend): void {
  if (d.timer !== undefined) clearTimeout(d.timer);
  if (d.onAbort !== undefined) d.wait!.signal!.removeEventListener('abort', d.onAbort);
  d.timer = undefined;
  d.onAbort = undefined;
}

/** A queue's QueueFullError as the runtime reports it: the operation and the kernel named, one wording on both backends. */
function namedFull(op: SendOperation, r: KernelRecord, error: unknown): unknown {
  if (!(error instanceof QueueFullError)) return error;
  const id = r.id;
  if (op === 'send' || op === 'sendAndReceive') {
    return new QueueFullError(
      /timed out/.test(error.message)
        ? `${op}('${id}'): kernel '${id}''s input queue stayed full until the timeout`
        : `${op}('${id}'): kernel '${id}''s input queue is full (inputQueueSize ${r.config.inputQueueSize}, backpressure '${r.config.backpressure}')`,
    );
  }
  return new QueueFullError(`${op}('${id}'): kernel '${id}''s input queue: ${error.message}`, error.accepted);
}

/** A kernel's state as callers see it: TERMINATING from the moment a terminate of it is under way. */
function stateOf(r: KernelRecord): KernelStateValue {
  return r.terminating !== null && r.state !== KernelState.TERMINATED ? KernelState.TERMINATING : r.state;
}

/** A kernel sending to `downstream` needs room there for one message's maxEmits outputs, or it could never run. */
function checkRoom(id: string, def: RingKernelDefinition, downstream: KernelRecord): void {
  if (downstream.config.inputQueueSize < def.maxEmits) {
    throw new RangeError(
      `launch('${id}'): maxEmits ${def.maxEmits} needs room for ${def.maxEmits} outputs per message, but '${downstream.id}''s inputQueueSize is ${downstream.config.inputQueueSize}: no message could ever be processed`,
    );
  }
}

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${String(value)}`);
  return value;
}

export class RingKernelRuntime {
  private readonly options: Required<Pick<RuntimeOptions, 'backend' | 'telemetry' | 'ticksInFlight'>> & Pick<RuntimeOptions, 'device' | 'onTick'>;
  private backend: Backend | null = null;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private startedAt = 0;
  private readonly kernels = new Map<string, KernelRecord>();
  private readonly requests = new Requests();
  private readonly scheduler = new TickScheduler(
    (land) => this.runTick(land),
    (error) => this.onLost(error),
    () => this.depth(),
    () => this.mayOverlap(),
  );
  /** each tick in flight's upper bounds of what its kernels consume, oldest first */
  private flyingBounds: Map<KernelRecord, number>[] = [];
  private deferred: DeferredSend[] = [];
  /** who sends to whom, and the upstream-first order of every kernel; rebuilt when kernels come or go */
  private topologyCache: Topology | null = null;
  private lostError: Error | null = null;

  /** `new RingKernelRuntime(options)`, then `start()`; or `RingKernelRuntime.create(options)`. */
  constructor(options: RuntimeOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { backend = 'gpu', device, telemetry = true, onTick, ticksInFlight = DEFAULT_TICKS_IN_FLIGHT } = options;
    if (backend !== 'gpu' && backend !== 'cpu') throw new RangeError(`backend must be 'gpu' or 'cpu', got ${String(backend)}`);
    if (typeof telemetry !== 'boolean') throw new TypeError('telemetry must be a boolean');
    if (device !== undefined && backend !== 'gpu') throw new TypeError("device is an option of the 'gpu' backend");
    if (onTick !== undefined && typeof onTick !== 'function') throw new TypeError('onTick must be a function');
    if (typeof ticksInFlight !== 'number' || !Number.isInteger(ticksInFlight) || ticksInFlight < 1 || ticksInFlight > MAX_TICKS_IN_FLIGHT) {
      throw new RangeError(`ticksInFlight must be an integer from 1 to ${MAX_TICKS_IN_FLIGHT}, got ${String(ticksInFlight)}`);
    }
    this.options = { backend, device, telemetry, onTick, ticksInFlight };
  }

  /** A started runtime. */
  static async create(options: RuntimeOptions = {}): Promise<RingKernelRuntime> {
    const rt = new RingKernelRuntime(options);
    await rt.start();
    return rt;
  }

  /** Acquires the backend (GPU: the device). Idempotent. */
  start(): Promise<void> {
    // (a start during shutdown starts again once the shutdown is done, not before it)
    if (this.stopping !== null) return this.stopping.then(() => this.start());
    // (a runtime whose device was lost stays lost until it is shut down: then it may start afresh)
    if (this.lostError !== null && this.starting !== null) return Promise.reject(this.lostError);
    this.starting ??= (async () => {
      // (cleared before, not after: a loss the backend reports while it starts must stick)
      this.lostError = null;
      const backend: Backend = this.options.backend === 'cpu' ? new CpuBackend() : await loadGpuBackend(this.options.device, !hostWarmers.has(this));
      await backend.start({
        requestTick: () => this.scheduler.request(),
        droppedTagged: (kernel, tag) => this.requests.dropped(kernel.id, tag),
        lost: (error) => this.onLost(error),
      });
      if (this.lostError !== null) {
        await backend.dispose();
        throw this.lostError;
      }
      this.backend = backend;
      this.startedAt = performance.now();
    })().catch((error: unknown) => {
      this.starting = null;
      throw error;
    });
    return this.starting;
  }

  /** Terminates every kernel (upstream first), then releases the backend. `await using rt = ...` does this too. */
  shutdown(): Promise<void> {
    // one shutdown at a time: a second call waits for the first instead of releasing the
    // backend under the kernels the first one is still terminating
    this.stopping ??= this.stop().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private async stop(): Promise<void> {
    if (this.starting === null) {
      this.lostError = null; // (a loss during a start that failed: nothing is held, a later start is a fresh one)
      return;
    }
    await this.starting.catch(() => undefined);
    // until none is left: a launch that was under way when this began is terminated too
    for (let pass = 0; this.kernels.size > 0 && pass < 8; pass++) {
      for (const r of this.upstreamFirst([...this.kernels.values()])) {
        if (this.kernels.get(r.id) !== r) continue;
        // a kernel a terminate() of the caller's is taking down: that one finishes first, so the
        // kernels downstream of it may be terminated after it
        if (r.terminating !== null) await r.terminating.catch(() => undefined);
        else await this.terminateRecord(r, 'the runtime was shut down').catch(() => undefined);
      }
    }
    await this.scheduler.settled();
    const backend = this.backend;
    this.backend = null;
    this.starting = null;
    this.lostError = null; // (what was lost went with the backend: a later start is a fresh one)
    await backend?.dispose();
  }

  /** `await using rt = await RingKernelRuntime.create()` shuts the runtime down at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  get isActive(): boolean {
    return this.backend !== null && this.lostError === null;
  }

  /** Ids of the launched kernels, in launch order. */
  get kernelIds(): string[] {
    return [...this.kernels.values()].filter((r) => r.state !== KernelState.CREATED).map((r) => r.id);
  }

  // ---------------------------------------------------------------- lifecycle
  /** Launches a kernel (LAUNCHED: it takes messages, processes none until activated). Starts the runtime if needed. */
  async launch(id: string, def: RingKernelDefinition, config: LaunchConfig = {}): Promise<void> {
    if (typeof id !== 'string' || id === '') throw new TypeError('kernel id must be a non-empty string');
    if (typeof def !== 'object' || def === null || def.inputEnvelope === undefined) throw new TypeError(`launch('${id}'): the kernel must come from defineRingKernel()`);
    const cfg = this.resolveConfig(id, def, config);
    if (this.kernels.has(id)) throw new KernelAlreadyExistsError(id);
    if (this.options.backend === 'cpu' && def.cpu === undefined) {
      throw new TypeError(`kernel '${id}' (${def.name}) has no cpu handler: it cannot run on the 'cpu' backend`);
    }
    if (this.lostError) throw this.lostError;
    if (cfg.sendsTo !== undefined) {
      const downstream = this.downstreamFor(id, cfg.sendsTo);
      if (def.output === undefined) throw new TypeError(`kernel '${id}' is a sink: it has no outputs to send to '${cfg.sendsTo}'`);
      if (!sameSchema(def.output, downstream.def.input)) {
        throw new TypeError(`kernel '${id}' emits ${def.output.name} but '${cfg.sendsTo}' consumes ${downstream.def.input.name}: sendsTo needs the same schema`);
      }
      checkRoom(id, def, downstream);
    }
    await this.start();
    if (this.options.backend === 'gpu' && !hostWarmers.has(this)) {
      await warmHostPaths(() => {
        const warm = new RingKernelRuntime({ backend: 'gpu', device: this.options.device });
        hostWarmers.add(warm);
        return warm as unknown as WarmRuntime;
      });
    }
    // (the world may have changed while the backend started)
    if (this.lostError) throw this.lostError;
    const backend = this.backend;
    if (backend === null) throw new Error(`launch('${id}'): the runtime was shut down while it started`);
    if (this.kernels.has(id)) throw new KernelAlreadyExistsError(id);
    const downstream = cfg.sendsTo !== undefined ? this.downstreamFor(id, cfg.sendsTo) : undefined;
    if (downstream !== undefined) checkRoom(id, def, downstream);
    const record: KernelRecord = { id, def, config: cfg, state: KernelState.CREATED, kernel: null, clock: new KernelClock(), launching: null, terminating: null };
    this.kernels.set(id, record);
    this.topologyCache = null;
    const creating = backend.createKernel(id, def, cfg, downstream?.kernel ?? null);
    record.launching = creating;
    let kernel: BackendKernel;
    try {
      kernel = await creating;
    } catch (error) {
      this.forget(record);
      throw error;
    } finally {
      record.launching = null;
    }
    if (this.kernels.get(id) !== record || this.lostError !== null || this.backend !== backend) {
      // the device was lost (or the runtime shut down) while the kernel was created: free it, refuse
      this.forget(record);
      const error = this.lostError ?? new Error(`launch('${id}'): the runtime was shut down while the kernel was created`);
      await kernel.dispose(error).catch(() => undefined);
      throw error;
    }
    record.kernel = kernel;
    record.state = KernelState.LAUNCHED;
  }

  /** The kernel `id` may send to: launched and not on its way out. */
  private downstreamFor(id: string, sendsTo: string): KernelRecord {
    const downstream = this.kernels.get(sendsTo);
    if (downstream === undefined) throw new KernelNotFoundError(sendsTo, ` to send to (launch '${id}' with sendsTo: '${sendsTo}')`);
    if (downstream.kernel === null || downstream.terminating !== null || downstream.state === KernelState.TERMINATING || downstream.state === KernelState.TERMINATED) {
      throw new KernelStateError(sendsTo, stateOf(downstream), 'launch', `kernel '${id}' cannot send to it`);
    }
    return downstream;
  }

  /** Removes a record (if it is still the one under its id). */
  private forget(record: KernelRecord): void {
    if (this.kernels.get(record.id) !== record) return;
    this.kernels.delete(record.id);
    this.topologyCache = null;
  }

  private resolveConfig(id: string, def: RingKernelDefinition, config: LaunchConfig): KernelConfig {
    if (typeof config !== 'object' || config === null) throw new TypeError(`launch('${id}'): config must be an object`);
    const { inputQueueSize = 4096, outputQueueSize = 4096, backpressure = 'block', maxMessagesPerTick = 65536, sendsTo } = config;
    positiveInteger(inputQueueSize, `launch('${id}'): inputQueueSize`);
    positiveInteger(outputQueueSize, `launch('${id}'): outputQueueSize`);
    positiveInteger(maxMessagesPerTick, `launch('${id}'): maxMessagesPerTick`);
    if (!BACKPRESSURE.includes(backpressure)) throw new RangeError(`launch('${id}'): backpressure must be one of 'block', 'reject', 'drop', got ${String(backpressure)}`);
    // a tick takes at most what the input queue holds: that, not the option, sizes the kernel's buffers
    const perTick = Math.min(maxMessagesPerTick, inputQueueSize);
    if (perTick * Math.max(1, def.maxEmits) > MAX_TICK_OUTPUTS) {
      throw new RangeError(`launch('${id}'): min(maxMessagesPerTick, inputQueueSize) * maxEmits must be at most ${MAX_TICK_OUTPUTS}, got ${perTick} * ${def.maxEmits}`);
    }
    if (sendsTo !== undefined && (typeof sendsTo !== 'string' || sendsTo === '')) throw new TypeError(`launch('${id}'): sendsTo must be a kernel id`);
    if (sendsTo === id) throw new RangeError(`launch('${id}'): a kernel cannot send to itself`);
    if (sendsTo !== undefined && config.outputQueueSize !== undefined) {
      throw new TypeError(`launch('${id}'): outputQueueSize is for a kernel whose outputs stay with it; with sendsTo its outputs go into '${sendsTo}''s input queue (size that with its inputQueueSize)`);
    }
    if (sendsTo === undefined && def.output !== undefined && outputQueueSize < def.maxEmits) {
      throw new RangeError(`launch('${id}'): maxEmits ${def.maxEmits} needs room for ${def.maxEmits} outputs per message, but outputQueueSize is ${outputQueueSize}: no message could ever be processed`);
    }
    return { inputQueueSize, outputQueueSize, backpressure, maxMessagesPerTick: perTick, sendsTo };
  }

  /** LAUNCHED -> ACTIVE. */
  async activate(id: string): Promise<void> {
    const r = this.record(id, 'activate');
    r.state = KernelState.ACTIVE;
    r.clock.setActive(true);
    this.scheduler.request();
  }

  /** ACTIVE -> DEACTIVATED: messages queue up, none is processed (resolves once no tick that includes it is in flight). */
  async deactivate(id: string): Promise<void> {
    const r = this.record(id, 'deactivate');
    r.state = KernelState.DEACTIVATED;
    r.clock.setActive(false);
    await this.scheduler.settled();
  }

  /** DEACTIVATED -> ACTIVE. */
  async reactivate(id: string): Promise<void> {
    const r = this.record(id, 'reactivate');
    r.state = KernelState.ACTIVE;
    r.clock.setActive(true);
    this.scheduler.request();
  }

  /**
   * Any state -> TERMINATED: the kernel is removed, its waiting senders and receivers reject,
   * and its queues and GPU buffers are freed. Refused while another kernel sends to it.
   */
  async terminate(id: string): Promise<void> {
    const under = this.lostError === null && typeof id === 'string' ? this.kernels.get(id) : undefined;
    if (under?.terminating) return under.terminating; // one under way: this call is the same terminate
    const r = this.record(id, 'terminate');
    await this.terminateRecord(r, 'the kernel was terminated');
  }

  /** terminate(); `why` ends the message of what it rejects. */
  private terminateRecord(r: KernelRecord, why: string): Promise<void> {
    if (r.terminating !== null) return r.terminating; // (a second terminate joins the first)
    const upstream = this.upstreamOf(r);
    const live = upstream.find((u) => u.terminating === null);
    if (live !== undefined) {
      return Promise.reject(new KernelStateError(r.id, stateOf(r), 'terminate', `kernel '${live.id}' sends to it (terminate it first)`));
    }
    // kernels sending to it that are on their way out: this terminate follows theirs
    const after = upstream.map((u) => u.terminating!.catch(() => undefined));
    r.terminating = after.length === 0 ? this.takeDown(r, why) : Promise.all(after).then(() => this.takeDown(r, why));
    return r.terminating;
  }

  private async takeDown(r: KernelRecord, why: string): Promise<void> {
    const id = r.id;
    if (r.launching !== null) await r.launching.catch(() => undefined);
    // (its launch failed, or the runtime lost its device: there is nothing left to take down,
    // and the id may already be another kernel's)
    if (this.kernels.get(id) !== r) return;
    r.state = KernelState.TERMINATING;
    r.clock.setActive(false);
    try {
      await this.scheduler.settled();
      // sends made before terminate that waited for that tick's readback are made now (no send is
      // admitted to a kernel on its way out, so every one of them was made before); the flush
      // below carries them out
      this.applyDeferred((d) => d.record === r);
      // Operations the caller made before terminate are carried out first, as they would be at
      // once on the CPU: a receive of an output that is there gets it (GPU queues record operations
      // until the next submission; discarding them would lose that output).
      while (r.kernel !== null && r.kernel.hasHostWork && this.backend !== null && this.lostError === null) await this.scheduler.nextTick();
      const sendGone = new KernelStateError(id, KernelState.TERMINATED, 'send', `${why} while the operation waited`);
      const receiveGone = new KernelStateError(id, KernelState.TERMINATED, 'receive', `${why} while the operation waited`);
      // the requests whose messages this kernel held are gone with them; those already downstream are answered there
      this.requests.kernelTerminated(id, new KernelStateError(id, KernelState.TERMINATED, 'send', `${why}: the request's message was still in its input queue`));
      r.kernel?.rejectWaiters(sendGone, receiveGone);
      await r.kernel?.dispose(receiveGone);
    } finally {
      r.state = KernelState.TERMINATED;
      this.forget(r);
    }
  }

  /** Launches and activates a kernel, runs `body`, and terminates the kernel (and any that send to it) afterwards, even when `body` throws. */
  async kernelScope<R>(id: string, def: RingKernelDefinition, config: LaunchConfig, body: () => R | Promise<R>): Promise<R> {
    await this.launch(id, def, config);
    // (this kernel, not the id: a body may terminate it and launch another of the same id)
    const r = this.kernels.get(id);
    if (r === undefined) throw this.lostError ?? new KernelNotFoundError(id); // (lost, or terminated, as launch resolved)
    try {
      await this.activate(id);
      return await body();
    } finally {
      await this.terminateWithUpstream(r);
    }
  }

  /**
   * Terminates `r` and every kernel that sends to it, upstream first. Every terminate is begun in
   * this turn (so from now on no kernel can start sending to one of them); each follows those of
   * the kernels sending to it.
   */
  private terminateWithUpstream(r: KernelRecord): Promise<void> {
    if (this.kernels.get(r.id) !== r) return Promise.resolve();
    if (r.terminating !== null) return r.terminating;
    const upstream = this.upstreamOf(r).map((u) => this.terminateWithUpstream(u));
    return Promise.all([...upstream, this.terminateRecord(r, 'the kernel was terminated')]).then(() => undefined);
  }

  /** The last kernel of `r`'s sendsTo chain (r itself when it sends to none). */
  private chainEnd(r: KernelRecord): KernelRecord {
    let end = r;
    for (let next = r.config.sendsTo === undefined ? undefined : this.kernels.get(r.config.sendsTo); next !== undefined; next = next.config.sendsTo === undefined ? undefined : this.kernels.get(next.config.sendsTo)) end = next;
    return end;
  }

  /** The kernel's lifecycle state (throws KernelNotFoundError for an unknown or terminated kernel). */
  state(id: string): KernelStateValue {
    return stateOf(this.get(id));
  }

  // ---------------------------------------------------------------- messages
  /** Into the kernel's input queue, with the queue's backpressure. */
  send(id: string, message: object, options?: WaitOptions): Promise<void> {
    try {
      const r = this.record(id, 'send');
      const wait = readWait(options);
      r.def.input.check(message);
      return this.admit(r, wait, 'send', [message], 1, (ms, w) => r.kernel!.send(ms[0], 0, w));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Several messages, in order, as `putMany` does (REJECT: all or nothing). Every message is checked before any is sent. */
  sendMany(id: string, messages: readonly object[], options?: WaitOptions): Promise<void> {
    try {
      const r = this.record(id, 'send');
      if (!Array.isArray(messages)) throw new TypeError('sendMany expects an array of messages');
      const wait = readWait(options);
      for (const m of messages) r.def.input.check(m);
      return this.admit(r, wait, 'sendMany', messages, messages.length, (ms, w) => r.kernel!.sendMany(ms, w));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** sendMany with the messages as the input schema's words and a Uint8Array of priorities (GpuMessageQueue's packed batches). */
  sendManyPacked(id: string, words: Uint32Array, priorities: Uint8Array, options?: WaitOptions): Promise<void> {
    try {
      const r = this.record(id, 'send');
      const W = r.def.input.words;
      if (!(words instanceof Uint32Array)) throw new TypeError('sendManyPacked expects words as a Uint32Array');
      if (!(priorities instanceof Uint8Array)) throw new TypeError('sendManyPacked expects priorities as a Uint8Array');
      if (words.length !== priorities.length * W) {
        throw new RangeError(`sendManyPacked: words.length must be priorities.length * ${r.def.input.name}.words = ${priorities.length} * ${W}, got ${words.length}`);
      }
      const wait = readWait(options);
      // copied now: the caller may reuse its arrays while the send waits
      const w = words.slice();
      const p = priorities.slice();
      return this.admit(r, wait, 'sendManyPacked', [], p.length, (_, o) => r.kernel!.sendManyPacked(w, p, o));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The next output (priority, then FIFO), waiting while there is none. */
  receive<T extends object = AnyFields>(id: string, options?: WaitOptions): Promise<Output<T>> {
    try {
      const r = this.receivable(id);
      const wait = readWait(options);
      const p = r.kernel!.receive(wait);
      this.scheduler.request();
      return p as Promise<Output<T>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** min(max, available) outputs in priority order; waits only while there is none. */
  receiveMany<T extends object = AnyFields>(id: string, max: number, options?: WaitOptions): Promise<Output<T>[]> {
    try {
      const r = this.receivable(id);
      positiveInteger(max, 'max');
      const wait = readWait(options);
      const p = r.kernel!.receiveMany(max, wait);
      this.scheduler.request();
      return p as Promise<Output<T>[]>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** receiveMany as the output schema's words: `{ count, words, priorities }`. */
  receiveManyPacked(id: string, max: number, options?: WaitOptions): Promise<PackedBatch> {
    try {
      const r = this.receivable(id);
      positiveInteger(max, 'max');
      const wait = readWait(options);
      const p = r.kernel!.receiveManyPacked(max, wait);
      this.scheduler.request();
      return p;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends `message` and resolves with the first output produced for it at the end of the
   * kernel's sendsTo chain (not also delivered to `receive`). Rejects with NoReplyError as soon
   * as the message was processed (or dropped) without producing an output; `timeout` and
   * `signal` cover the whole operation.
   */
  sendAndReceive<T extends object = AnyFields>(id: string, message: object, options?: WaitOptions): Promise<Output<T>> {
    try {
      const r = this.record(id, 'send');
      const wait = readWait(options);
      r.def.input.check(message);
      if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
      const { tag, reply } = this.requests.open(id, this.chainEnd(r).id, wait);
      this.admit(r, wait, 'sendAndReceive', [message], 1, (ms, w) => r.kernel!.send(ms[0], tag, w)).catch((error: unknown) => this.requests.sendFailed(tag, error));
      return reply as Promise<Output<T>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** @internal ticks submitted and not yet read back (tests: a lifecycle call made while several are in flight) */
  get inFlightTicks(): number {
    return this.scheduler.inFlight;
  }

  /** @internal requests still tracked (tests: terminate and shutdown leave none behind) */
  get trackedRequests(): number {
    return this.requests.tracked;
  }

  /** Resolves once nothing more can be processed (no tick running or due). */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  // ---------------------------------------------------------------- state, telemetry
  /** A copy of the kernel's state. */
  async readState(id: string): Promise<ArrayBuffer> {
    const r = this.stateful(id);
    await this.scheduler.settled();
    return r.kernel!.readState();
  }

  /** Overwrites the kernel's state (exactly `state.bytes` bytes); ticks after this see it. */
  async writeState(id: string, bytes: ArrayBuffer | ArrayBufferView): Promise<void> {
    const r = this.stateful(id);
    const length = bytes instanceof ArrayBuffer ? bytes.byteLength : ArrayBuffer.isView(bytes) ? bytes.byteLength : -1;
    if (length < 0) throw new TypeError('writeState expects an ArrayBuffer or a typed array');
    if (length !== r.def.state!.bytes) throw new RangeError(`writeState('${id}'): the state is ${r.def.state!.bytes} bytes, got ${length}`);
    await this.scheduler.settled();
    await r.kernel!.writeState(bytes);
  }

  /** The kernel's telemetry, or null when telemetry is off. */
  telemetry(id: string): KernelTelemetry | null {
    const r = this.get(id);
    if (!this.options.telemetry) return null;
    return this.snapshot(r);
  }

  /** Every kernel's telemetry by id ({} when telemetry is off). */
  allTelemetry(): Record<string, KernelTelemetry> {
    const out: Record<string, KernelTelemetry> = {};
    if (!this.options.telemetry) return out;
    for (const r of this.kernels.values()) if (r.kernel !== null) out[r.id] = this.snapshot(r);
    return out;
  }

  /** Totals over the live kernels. */
  summary(): RuntimeSummary {
    let messagesProcessed = 0;
    let messagesDropped = 0;
    let errors = 0;
    let kernelCount = 0;
    for (const r of this.kernels.values()) {
      if (r.kernel === null) continue;
      kernelCount++;
      const c = r.kernel.counters();
      messagesProcessed += c.processed;
      messagesDropped += c.dropped;
      errors += c.errors;
    }
    return { kernelCount, messagesProcessed, messagesDropped, errors, uptimeMs: this.backend ? performance.now() - this.startedAt : 0 };
  }

  /** The telemetry in the Prometheus text exposition format ('' when telemetry is off). */
  prometheus(): string {
    if (!this.options.telemetry) return '';
    return prometheusText(Object.values(this.allTelemetry()));
  }

  private snapshot(r: KernelRecord): KernelTelemetry {
    const k = r.kernel;
    if (k === null) return r.clock.snapshot(r.id, stateOf(r), { processed: 0, emitted: 0, dropped: 0, errors: 0, lastError: null }, 0, 0, 0); // still launching
    const outputDepth = k.downstream ? k.downstream.inputSize : k.outputSize;
    return r.clock.snapshot(r.id, stateOf(r), k.counters(), k.inputSize, outputDepth, k.gpuBytes);
  }

  // ---------------------------------------------------------------- internals
  private get(id: string): KernelRecord {
    if (typeof id !== 'string') throw new TypeError('kernel id must be a string');
    const r = this.kernels.get(id);
    if (r === undefined) throw new KernelNotFoundError(id);
    return r;
  }

  /** The kernel, if `operation` is allowed in its state. */
  private record(id: string, operation: 'activate' | 'deactivate' | 'reactivate' | 'terminate' | 'send' | 'receive'): KernelRecord {
    if (this.lostError) throw this.lostError;
    const r = this.get(id);
    // (a terminate called while the kernel was still launching: it is on its way out already)
    checkTransition(id, stateOf(r), operation);
    return r;
  }

  private receivable(id: string): KernelRecord {
    const r = this.record(id, 'receive');
    if (r.def.output === undefined) throw new KernelRouteError(id, `kernel '${id}' is a sink: it has no outputs to receive`);
    if (r.config.sendsTo !== undefined) {
      throw new KernelRouteError(id, `kernel '${id}' sends its outputs to '${r.config.sendsTo}': receive from '${this.chainEnd(r).id}', the end of its chain`);
    }
    return r;
  }

  private stateful(id: string): KernelRecord {
    if (this.lostError) throw this.lostError;
    const r = this.get(id);
    if (r.kernel === null || stateOf(r) === KernelState.TERMINATING) throw new KernelStateError(id, stateOf(r), 'send', 'its state is not available');
    if (r.def.state === undefined) throw new TypeError(`kernel '${id}' has no state (define it with state: { type, bytes })`);
    return r;
  }

  /**
   * A send now, or (a tick in flight) once the tick is read back, with what is left of its
   * timeout. While it waits for the readback its timeout and signal count: either rejects it on
   * time, and its message is then not sent. (A timeout of 0 is decided at the readback: before
   * it the room is not known.)
   */
  private admit(
    record: KernelRecord,
    wait: Wait | undefined,
    op: SendOperation,
    messages: readonly object[],
    count: number,
    send: (messages: readonly object[], wait: WaitOptions | undefined) => Promise<void>,
  ): Promise<void> {
    if (wait?.signal?.aborted) return Promise.reject(wait.signal.reason);
    if (this.deferred.length === 0) {
      const flying = this.scheduler.inFlight > 0;
      if (!flying || this.admitsAhead(record, count)) {
        const p = send(messages, wait).catch((error: unknown) => Promise.reject(namedFull(op, record, error)));
        this.scheduler.request(flying);
        return p;
      }
    }
    // the messages as they are now (checked already): the caller may change its objects while the send waits
    const kept = messages.map((m) => record.def.input.copy(m));
    const run = (w: WaitOptions | undefined): Promise<void> => send(kept, w);
    return new Promise<void>((resolve, reject) => {
      const d: DeferredSend = { record, wait, since: performance.now(), run, resolve: resolve as (v: unknown) => void, reject, op };
      const timeout = wait?.timeout;
      if (timeout !== undefined && timeout > 0 && timeout !== Infinity) {
        d.timer = setTimeout(() => this.giveUpDeferred(d, new QueueFullError(`${op}('${record.id}'): not admitted within ${timeout} ms (a tick was in flight)`)), Math.min(timeout, 2 ** 31 - 1));
      }
      const signal = wait?.signal;
      if (signal !== undefined) {
        d.onAbort = () => this.giveUpDeferred(d, signal.reason);
        signal.addEventListener('abort', d.onAbort, { once: true });
      }
      this.deferred.push(d);
    });
  }

  /** Whether `count` messages sent to `r` are admitted at once although ticks are in flight, for a tick beside them (TICKS IN FLIGHT). */
  private admitsAhead(r: KernelRecord, count: number): boolean {
    return this.depth() > 1 && r.kernel !== null && this.upstreamOf(r).length === 0 && r.kernel.fitsAhead(count) && this.mayOverlap();
  }

  /** The most ticks in flight at once. */
  private depth(): number {
    return this.backend?.overlaps === true ? this.options.ticksInFlight : 1;
  }

  /** Whether a tick may start now beside the ones in flight (TICKS IN FLIGHT). */
  private mayOverlap(): boolean {
    if (this.backend === null || this.lostError !== null || this.requests.live > 0 || this.deferred.length > 0) return false;
    for (const r of this.kernels.values()) {
      const k = r.kernel;
      if (k === null) continue;
      if (k.hasOutputHostWork || k.hasWaitingSenders) return false;
      if (k.hasInputHostWork && this.upstreamOf(r).length > 0) return false;
    }
    return true;
  }

  private giveUpDeferred(d: DeferredSend, error: unknown): void {
    const at = this.deferred.indexOf(d);
    if (at < 0) return;
    this.deferred.splice(at, 1);
    disarm(d);
    d.reject(error);
  }

  /** Makes the deferred sends (those `which` picks), in order; call it when no tick is in flight. */
  private applyDeferred(which: (d: DeferredSend) => boolean = () => true): void {
    const list = this.deferred.filter(which);
    if (list.length === 0) return;
    this.deferred = this.deferred.filter((d) => !which(d));
    for (const d of list) {
      disarm(d);
      if (this.kernels.get(d.record.id) !== d.record || d.record.kernel === null) {
        d.reject(new KernelStateError(d.record.id, KernelState.TERMINATED, 'send', 'the kernel was terminated while the send waited'));
        continue;
      }
      const w = d.wait;
      if (w?.signal?.aborted) {
        d.reject(w.signal.reason);
        continue;
      }
      let wait: WaitOptions | undefined = w;
      if (w?.timeout !== undefined && w.timeout !== Infinity) wait = { signal: w.signal, timeout: Math.max(0, w.timeout - (performance.now() - d.since)) };
      // (one send failing, even synchronously, rejects that send only)
      let sent: Promise<unknown>;
      try {
        sent = d.run(wait);
      } catch (error) {
        sent = Promise.reject(error);
      }
      sent.then(d.resolve, (error: unknown) => d.reject(namedFull(d.op, d.record, error)));
    }
    this.scheduler.request();
  }

  private topology(): Topology {
    if (this.topologyCache !== null) return this.topologyCache;
    const records = [...this.kernels.values()];
    const upstream = new Map<KernelRecord, KernelRecord[]>(records.map((r) => [r, records.filter((u) => u.config.sendsTo === r.id)]));
    // each kernel after every kernel that sends to it (launch order among equals)
    const depth = new Map<KernelRecord, number>();
    const depthOf = (r: KernelRecord): number => {
      let d = depth.get(r);
      if (d !== undefined) return d;
      d = 0;
      for (const u of upstream.get(r)!) d = Math.max(d, depthOf(u) + 1);
      depth.set(r, d);
      return d;
    };
    const order = records.map((r, i) => ({ r, i, d: depthOf(r) })).sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.r);
    return (this.topologyCache = { order, upstream });
  }

  private upstreamOf(r: KernelRecord): KernelRecord[] {
    return this.topology().upstream.get(r) ?? [];
  }

  /** `records` ordered so that each comes after every kernel that sends to it (launch order among equals). */
  private upstreamFirst(records: readonly KernelRecord[]): KernelRecord[] {
    const wanted = new Set(records);
    return this.topology().order.filter((r) => wanted.has(r));
  }

  /**
   * One tick: the kernels that can make progress and every queue's recorded host operations;
   * false when there was nothing to do. `land()` once its submission is read back.
   */
  private async runTick(land: () => void): Promise<boolean> {
    const backend = this.backend;
    if (backend === null || this.lostError !== null) return false;
    const start = this.options.onTick !== undefined ? performance.now() : 0;
    const ahead = this.flyingBounds;
    // (sends deferred for an exact view: only when no tick is in flight, which mayOverlap ensures otherwise)
    if (ahead.length === 0) this.applyDeferred();
    const { order, upstream } = this.topology();
    const plan: TickPlan = { kernels: [] };
    const bound = new Map<KernelRecord, number>();
    // tagged messages a kernel can meet: every live one, times what upstream kernels can make of each
    const fanout = new Map<KernelRecord, number>();
    let hostWork = false;
    for (const r of order) {
      if (r.kernel === null) continue;
      // (a kernel on its way out runs no more, but what was recorded on its queues is carried out)
      if (r.kernel.hasHostWork) hostWork = true;
      if (r.state === KernelState.TERMINATING) continue;
      const ups = upstream.get(r)!;
      let f = 1;
      for (const u of ups) f = Math.max(f, (fanout.get(u) ?? 1) * u.def.maxEmits);
      fanout.set(r, f);
      if (r.state !== KernelState.ACTIVE) continue;
      const k = r.kernel!;
      let incoming = 0;
      for (const u of ups) incoming += (bound.get(u) ?? 0) * u.def.maxEmits;
      // ticks in flight may still push into its input and take from the queue its outputs go to
      const down = r.config.sendsTo !== undefined ? this.kernels.get(r.config.sendsTo) : undefined;
      let freed = 0;
      for (const b of ahead) {
        for (const u of ups) incoming += (b.get(u) ?? 0) * u.def.maxEmits;
        if (down !== undefined) freed += b.get(down) ?? 0;
      }
      const available = k.inputSize + incoming;
      const room = k.def.maxEmits > 0 ? Math.floor((k.outputRoom + freed) / k.def.maxEmits) : Infinity;
      const ub = Math.min(r.config.maxMessagesPerTick, available, room);
      if (ub <= 0) continue;
      bound.set(r, ub);
      plan.kernels.push({ kernel: k, upperBound: ub, taggedBound: Math.min(ub, this.requests.live * f) });
    }
    if (plan.kernels.length === 0 && !hostWork) return false;
    const t0 = performance.now();
    const inFlightBefore = ahead.length;
    this.flyingBounds = [...ahead, bound];
    const landed = (): void => {
      this.flyingBounds = this.flyingBounds.filter((b) => b !== bound);
      land();
    };
    let result;
    try {
      result = await backend.tick(plan);
    } catch (error) {
      landed();
      this.onLost(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    const latencyNs = (performance.now() - t0) * 1e6;
    // from here on the queues are exact again (unless later ticks are in flight): sends made while
    // the results are delivered (a caller's next request) are admitted at once and ride on the next tick
    landed();
    if (this.lostError !== null) return false; // (an earlier tick failed: everything was rejected with it)
    for (const { kernel } of plan.kernels) {
      const r = this.kernels.get(kernel.id);
      if (r !== undefined) r.clock.tick(latencyNs);
      const res = result.kernels.get(kernel);
      if (res === undefined) continue;
      const toReceive = this.requests.onTick(kernel.id, kernel.downstream?.id ?? null, res.events, res.replies);
      if (toReceive.length > 0) kernel.reinsert(toReceive);
    }
    if (this.options.onTick !== undefined) {
      notify(this.options.onTick, {
        start,
        planned: t0,
        ran: t0 + latencyNs / 1e6,
        end: performance.now(),
        kernels: plan.kernels.map(({ kernel }) => kernel.id),
        ahead: inFlightBefore,
      });
    }
    return true;
  }

  /** The backend failed (device lost): every kernel is gone, every pending operation rejects with `error`. */
  private onLost(error: Error): void {
    if (this.lostError !== null) return;
    this.lostError = error;
    for (const d of this.deferred) {
      disarm(d);
      d.reject(error);
    }
    this.deferred = [];
    this.requests.rejectAll(error);
    for (const r of this.kernels.values()) {
      r.state = KernelState.TERMINATED;
      r.clock.setActive(false);
      r.kernel?.rejectWaiters(error, error);
      // (best effort: on a lost device this frees nothing, on a live one it frees the buffers)
      r.kernel?.dispose(error).catch(() => undefined);
    }
    this.kernels.clear();
    this.topologyCache = null;
  }

}

// Where the platform has no Symbol.asyncDispose (browsers before it shipped) and no polyfill ran
// before this module, the method above was keyed "undefined". Key it where `await using` lowered
// by esbuild looks then: Symbol.for('Symbol.asyncDispose').
if (typeof Symbol.asyncDispose !== 'symbol') {
  const proto = RingKernelRuntime.prototype as unknown as Record<PropertyKey, unknown>;
  Object.defineProperty(proto, Symbol.for('Symbol.asyncDispose'), { value: proto['undefined'], writable: true, configurable: true });
  delete proto['undefined'];
}

/** The GPU backend, loaded on first use (the CPU backend never touches WebGPU). */
async function loadGpuBackend(device: GPUDevice | undefined, profiled: boolean): Promise<Backend> {
  const { GpuBackend } = await import('./gpu/backend.js');
  return new GpuBackend(device, profiled);
}
