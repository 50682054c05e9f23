/**
 * RingKernelRuntime: the public API of ring kernels, a facade over the modules that share the
 * work: the kernels' records, lifecycle rules and sendsTo topology (kernels.ts, state.ts), launch
 * and terminate (lifecycle.ts), the options and launch checks (config.ts), when sends reach the queues (admission.ts), the tick
 * loop (tick-loop.ts over scheduler.ts), request/reply (requests.ts) and telemetry
 * (telemetry.ts). The backend (backend.ts) owns the queues and runs the ticks: `cpu` with
 * MessageQueues and the kernels' JavaScript handlers, `gpu` with GpuMessageQueues and the
 * kernels' WGSL, one submission per tick.
 *
 * RULES
 *   - Sends are admitted between ticks: a send made while a tick is in flight waits for its
 *     readback, so the queue's backpressure decides on the exact size (its timeout counts from
 *     the call; admission.ts). Receives are recorded at once.
 *   - A tick runs the ACTIVE kernels that can make progress, upstream first (tick-loop.ts, PLAN);
 *     with ticksInFlight > 1 the next may start before the previous is read back (tick-loop.ts,
 *     TICKS IN FLIGHT).
 *   - Every call checks its kernel id (KernelNotFoundError) and its state (KernelStateError)
 *     first, then its arguments (TypeError/RangeError), and changes nothing when it throws.
 */
import type { WaitOptions } from '../queue/contract.js';
import { readWait } from '../queue/waiters.js';
import { QueueTimeoutError } from '../queue/errors.js';
import type { PackedBatch } from '../gpu/packed.js';
import { SendAdmission } from './admission.js';
import type { Backend } from './backend.js';
import { positiveInteger, resolveOptions, type LaunchConfig, type ResolvedOptions, type RuntimeOptions } from './config.js';
import { KernelNotFoundError, KernelRouteError, KernelStalledError, KernelStateError, type StallReason } from './errors.js';
import type { RingKernelDefinition } from './kernel.js';
import { KernelTable, checkTransition, stateOf, type KernelRecord } from './kernels.js';
import { Requests } from './requests.js';
import type { TickScheduler } from './scheduler.js';
import { KernelState, type KernelStateValue } from './state.js';
import { prometheusText, type KernelTelemetry, type RuntimeSummary } from './telemetry.js';
import { TickLoop } from './tick-loop.js';
import { KernelHandle, type AnyFields, type HandleOf, type Output } from './handle.js';
import { Lifecycle } from './lifecycle.js';
import { CpuBackend } from './cpu/backend.js';
import { warmHostPaths, type WarmRuntime } from './warm-host.js';
import { sharedDeviceIfAcquired } from '../device/acquire.js';

export type { RuntimeOptions, TickTiming, LaunchConfig } from './config.js';
export { DEFAULT_TICKS_IN_FLIGHT } from './config.js';

/** The private runtimes that warm the host paths (warm-host.ts): their own launches do not wait for it. */
const hostWarmers = new WeakSet<RingKernelRuntime>();

export type { AnyFields, Input, Output } from './handle.js';

declare global {
  // Node 20 has Symbol.asyncDispose; TypeScript declares it only with lib esnext.disposable, so
  // the public declarations say so themselves (as @types/node does) for consumers without it.
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

export class RingKernelRuntime {
  private readonly options: ResolvedOptions;
  private backend: Backend | null = null;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private startedAt = 0;
  private readonly kernels = new KernelTable();
  private readonly requests = new Requests();
  private readonly admission: SendAdmission;
  private readonly ticks: TickLoop;
  private readonly scheduler: TickScheduler;
  private readonly lifecycle: Lifecycle;
  private lostError: Error | null = null;

  /** `new RingKernelRuntime(options)`, then `start()`; or `RingKernelRuntime.create(options)`. */
  constructor(options: RuntimeOptions = {}) {
    this.options = resolveOptions(options);
    // (the modules see the runtime's current backend and loss through these, never a copy)
    const rt = this;
    this.ticks = new TickLoop({
      get backend() {
        return rt.backend;
      },
      get lostError() {
        return rt.lostError;
      },
      kernels: this.kernels,
      requests: this.requests,
      get admission() {
        return rt.admission;
      },
      onTick: this.options.onTick,
      ticksInFlight: this.options.ticksInFlight,
      lost: (error) => this.onLost(error),
    });
    this.scheduler = this.ticks.scheduler;
    this.admission = new SendAdmission({
      inFlight: () => this.scheduler.inFlight,
      admitsAhead: (r, count) => this.ticks.admitsAhead(r, count),
      request: (overlap) => this.scheduler.request(overlap),
      isLive: (r) => this.kernels.find(r.id) === r,
    });
    this.lifecycle = new Lifecycle({
      backendKind: this.options.backend,
      get backend() {
        return rt.backend;
      },
      get lostError() {
        return rt.lostError;
      },
      kernels: this.kernels,
      requests: this.requests,
      admission: this.admission,
      scheduler: this.scheduler,
      start: () => this.start(),
      warm: () => this.warmHost(),
      wgslDevice: () => (this.options.backend === 'cpu' ? (this.options.device ?? sharedDeviceIfAcquired()) : null),
    });
  }

  /** GPU: the host paths warmed once per process, so the first launch's requests cost what later ones do; null when there is nothing to wait for. */
  private warmHost(): Promise<void> | null {
    if (this.options.backend !== 'gpu' || hostWarmers.has(this)) return null;
    return warmHostPaths(() => {
      const warm = new RingKernelRuntime({ backend: 'gpu', device: this.options.device });
      hostWarmers.add(warm);
      return warm as unknown as WarmRuntime;
    });
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
      for (const r of this.kernels.upstreamFirst([...this.kernels.values()])) {
        if (this.kernels.find(r.id) !== r) continue;
        // a kernel a terminate() of the caller's is taking down: that one finishes first, so the
        // kernels downstream of it may be terminated after it
        if (r.terminating !== null) await r.terminating.catch(() => undefined);
        else await this.lifecycle.terminate(r, 'the runtime was shut down').catch(() => undefined);
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
  /**
   * Launches a kernel (LAUNCHED: it takes messages, processes none until activated). Starts the
   * runtime if needed. Resolves with a handle typed by the kernel's schemas (handle.ts); the
   * string-id calls work the same.
   */
  launch<D extends RingKernelDefinition>(id: string, def: D, config: LaunchConfig = {}): Promise<HandleOf<D>> {
    try {
      return this.lifecycle.launch(id, def, config).then(() => new KernelHandle(this, id) as HandleOf<D>);
    } catch (error) {
      return Promise.reject(error);
    }
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
    const under = this.lostError === null && typeof id === 'string' ? this.kernels.find(id) : undefined;
    if (under?.terminating) return under.terminating; // one under way: this call is the same terminate
    const r = this.record(id, 'terminate');
    await this.lifecycle.terminate(r, 'the kernel was terminated');
  }

  /** Launches and activates a kernel, runs `body`, and terminates the kernel (and any that send to it) afterwards, even when `body` throws. */
  async kernelScope<R>(id: string, def: RingKernelDefinition, config: LaunchConfig, body: () => R | Promise<R>): Promise<R> {
    await this.launch(id, def, config);
    // (this kernel, not the id: a body may terminate it and launch another of the same id)
    const r = this.kernels.find(id);
    if (r === undefined) throw this.lostError ?? new KernelNotFoundError(id); // (lost, or terminated, as launch resolved)
    try {
      await this.activate(id);
      return await body();
    } finally {
      await this.lifecycle.terminateWithUpstream(r);
    }
  }

  /** The kernel's lifecycle state (throws KernelNotFoundError for an unknown or terminated kernel). */
  state(id: string): KernelStateValue {
    return stateOf(this.kernels.get(id));
  }

  // ---------------------------------------------------------------- messages
  /** Into the kernel's input queue, with the queue's backpressure. */
  send(id: string, message: object, options?: WaitOptions): Promise<void> {
    try {
      const r = this.record(id, 'send');
      const wait = readWait(options);
      r.def.input.check(message);
      return this.admission.admit(r, wait, 'send', [message], 1, (ms, w) => r.kernel!.send(ms[0], 0, w));
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
      return this.admission.admit(r, wait, 'sendMany', messages, messages.length, (ms, w) => r.kernel!.sendMany(ms, w));
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
      return this.admission.admit(r, wait, 'sendManyPacked', [], p.length, (_, o) => r.kernel!.sendManyPacked(w, p, o));
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
      const { tag, reply } = this.requests.open(id, this.kernels.chainEnd(r).id, wait);
      this.admission.admit(r, wait, 'sendAndReceive', [message], 1, (ms, w) => r.kernel!.send(ms[0], tag, w)).catch((error: unknown) => this.requests.sendFailed(tag, error));
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

  /** Resolves once nothing more can be processed (no tick running or due), stalled or not (see drain). */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  /**
   * Resolves once every message sent so far has been processed through its chain and nothing
   * more can run (the chains' last outputs may wait in their output queues for receive). Where a
   * kernel still holds messages that nothing will process until someone acts — it is not active,
   * or its outputs have no room because nobody receives — rejects with KernelStalledError naming
   * the kernel furthest down its chain that stalls, and why, instead of resolving. `timeout` (ms):
   * rejects with a TimeoutError when that is not so by then.
   */
  async drain(options: { timeout?: number } = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) throw new TypeError('drain: options must be an object');
    const { timeout = Infinity } = options;
    if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) throw new RangeError(`drain: timeout must be a non-negative number of ms, got ${String(timeout)}`);
    if (this.lostError) throw this.lostError;
    if (timeout === Infinity) await this.idle();
    else {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new QueueTimeoutError(`drain: not drained within ${timeout} ms`)), Math.min(timeout, 2 ** 31 - 1));
      });
      try {
        await Promise.race([this.idle(), expired]);
      } finally {
        clearTimeout(timer);
      }
    }
    if (this.lostError) throw this.lostError;
    const holding = this.kernels.upstreamFirst([...this.kernels.values()]).filter((r) => r.kernel !== null && stateOf(r) !== KernelState.TERMINATING && (r.kernel.inputSize > 0 || r.kernel.hasWaitingSenders));
    // (the one furthest down a chain is the cause: the kernels before it wait for its room)
    const r = holding.at(-1);
    if (r === undefined) return;
    const k = r.kernel!;
    const held = `${k.inputSize} message${k.inputSize === 1 ? ' waits' : 's wait'} in its input${k.hasWaitingSenders ? ', and senders wait for room in it' : ''}`;
    const stall = (reason: StallReason, why: string) => new KernelStalledError(r.id, reason, k.inputSize, k.hasWaitingSenders, `drain: kernel '${r.id}' ${why}`);
    if (r.state === KernelState.DEACTIVATED) throw stall('deactivated', `is deactivated: ${held}`);
    if (r.state !== KernelState.ACTIVE) throw stall('not-active', `is not active (${stateOf(r)}): ${held}`);
    const where =
      r.config.sendsTo !== undefined
        ? `'${r.config.sendsTo}''s input queue has room for ${k.outputRoom} of the ${r.def.maxEmits} outputs a message may make`
        : k.outputRoom === 0
          ? `its output queue is full (${k.outputSize} outputs nobody received)`
          : `its output queue has room for ${k.outputRoom} of the ${r.def.maxEmits} outputs a message may make (${k.outputSize} outputs nobody received)`;
    throw stall('output-full', `has no room for its outputs: ${where}; ${held}`);
  }

  /**
   * A terminal kernel's outputs as they come (priority, then FIFO), one receive each: `for await
   * (const out of rt.outputs(id, { signal }))`. It ends when the kernel is terminated (or the
   * runtime shut down) or the signal aborts; an output is taken from the queue only when the loop
   * asks for it, so leaving the loop loses nothing. Checks the id and state now, like receive.
   */
  outputs<T extends object = AnyFields>(id: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<Output<T>, void, undefined> {
    const record = this.receivable(id);
    if (typeof options !== 'object' || options === null) throw new TypeError('outputs: options must be an object');
    const { signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('outputs: signal must be an AbortSignal');
    return this.outputLoop<T>(record, signal);
  }

  private async *outputLoop<T extends object>(record: KernelRecord, signal: AbortSignal | undefined): AsyncGenerator<Output<T>, void, undefined> {
    const id = record.id;
    for (;;) {
      // (this kernel's outputs only: not those of another launched later under the same id)
      if (signal?.aborted || this.kernels.find(id) !== record) return;
      let out: Output<T>;
      try {
        out = await this.receive<T>(id, signal !== undefined ? { signal } : undefined);
      } catch (error) {
        if (signal?.aborted) return;
        // terminated, or the runtime shut down: the stream of outputs ended
        if (error instanceof KernelStateError || error instanceof KernelNotFoundError) return;
        throw error;
      }
      yield out;
    }
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
    const r = this.kernels.get(id);
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

  /** The kernel, if `operation` is allowed in its state. */
  private record(id: string, operation: 'activate' | 'deactivate' | 'reactivate' | 'terminate' | 'send' | 'receive'): KernelRecord {
    if (this.lostError) throw this.lostError;
    const r = this.kernels.get(id);
    // (a terminate called while the kernel was still launching: it is on its way out already)
    checkTransition(id, stateOf(r), operation);
    return r;
  }

  private receivable(id: string): KernelRecord {
    const r = this.record(id, 'receive');
    if (r.def.output === undefined) throw new KernelRouteError(id, `kernel '${id}' is a sink: it has no outputs to receive`);
    if (r.config.sendsTo !== undefined) {
      throw new KernelRouteError(id, `kernel '${id}' sends its outputs to '${r.config.sendsTo}': receive from '${this.kernels.chainEnd(r).id}', the end of its chain`);
    }
    return r;
  }

  private stateful(id: string): KernelRecord {
    if (this.lostError) throw this.lostError;
    const r = this.kernels.get(id);
    if (r.kernel === null || stateOf(r) === KernelState.TERMINATING) throw new KernelStateError(id, stateOf(r), 'send', 'its state is not available');
    if (r.def.state === undefined) throw new TypeError(`kernel '${id}' has no state (define it with state: { type, bytes })`);
    return r;
  }

  /** The backend failed (device lost): every kernel is gone, every pending operation rejects with `error`. */
  private onLost(error: Error): void {
    if (this.lostError !== null) return;
    this.lostError = error;
    this.admission.rejectAll(error);
    this.requests.rejectAll(error);
    for (const r of this.kernels.values()) {
      r.state = KernelState.TERMINATED;
      r.clock.setActive(false);
      r.kernel?.rejectWaiters(error, error);
      // (best effort: on a lost device this frees nothing, on a live one it frees the buffers)
      r.kernel?.dispose(error).catch(() => undefined);
    }
    this.kernels.clear();
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
