/**
 * The CPU backend: each kernel's `cpu` handler over MessageQueues, with the tick semantics of
 * backend.ts (the GPU backend's, so the two agree message for message).
 *
 * Messages are stored as fresh copies of their schema's fields with their priority (a send
 * copies, as the GPU packs). A message's correlation tag, when it has one, is kept beside it
 * (a WeakMap keyed by that copy) and given to every output emitted while handling it. Numbers
 * are stored as WGSL stores them (numbers.ts): a sent message's and an emitted output's f32
 * fields rounded to 32 bits, an emitted output's integers wrapped to 32 bits, as on the GPU.
 *
 * HAND-OFF  Within a tick (synchronous: nothing else runs until it ends), a kernel's outputs for a
 * downstream kernel that runs later in the same tick and whose input queue is empty are handed to
 * it directly instead of going through that queue: it takes them as the queue would give them (by
 * priority, FIFO within: a stable sort of the handed outputs in the order they were emitted), and
 * what it does not take goes into the queue in emission order, as it would have (so DROP_OLDEST
 * later evicts by that order). The queue counts the taken ones as in and out; its room counts the
 * handed ones as queued, so room rules are unchanged.
 */
import { MessageQueue } from '../../queue/message-queue.js';
import type { WaitOptions } from '../../queue/contract.js';
import type { MessageSchema } from '../../schema/define-message.js';
import { viewsOf, type PackedBatch } from '../../gpu/packed.js';
import type { Backend, BackendHooks, BackendKernel, KernelConfig, KernelCounters, KernelTickResult, Reply, TagEvent, TickPlan, TickResult } from '../backend.js';
import type { KernelContext, RingKernelDefinition } from '../kernel.js';
import { failureOfCode, failureOfException } from '../failures.js';
import { storeAsWgsl, type StoreAsWgsl } from './numbers.js';

type Stored = { priority: number } & Record<string, unknown>;


class CpuKernel implements BackendKernel {
  readonly input: MessageQueue<Stored>;
  readonly output: MessageQueue<Stored> | null;
  readonly state: DataView | null;
  processed = 0;
  emitted = 0;
  errors = 0;
  lastError: string | null = null;
  /** outputs handed to this kernel by upstream kernels during the current tick (see HAND-OFF), in emission order */
  handed: Stored[] | null = null;
  /** whether this kernel runs later in the current tick (an upstream may hand it outputs) */
  runsLater = false;
  private readonly storeInput: StoreAsWgsl;
  private readonly storeOutput: StoreAsWgsl | null;

  constructor(
    readonly id: string,
    readonly def: RingKernelDefinition,
    readonly config: KernelConfig,
    readonly downstream: CpuKernel | null,
    hooks: BackendHooks,
    /** every stored message's correlation tag, when it has one (shared by the backend's kernels) */
    private readonly tags: WeakMap<object, number>,
  ) {
    this.input = new MessageQueue<Stored>({
      maxSize: config.inputQueueSize,
      backpressure: config.backpressure,
      onDrop: (m) => {
        const tag = this.tags.get(m);
        if (tag !== undefined) hooks.droppedTagged(this, tag);
      },
    });
    this.output = def.output !== undefined && downstream === null ? new MessageQueue<Stored>({ maxSize: config.outputQueueSize }) : null;
    this.state = def.state ? new DataView(new ArrayBuffer(def.state.bytes)) : null;
    this.storeInput = storeAsWgsl(def.input);
    this.storeOutput = def.output !== undefined ? storeAsWgsl(def.output) : null;
  }

  get inputSize(): number {
    return this.input.size;
  }
  get inputMaxSize(): number {
    return this.input.maxSize;
  }
  get outputSize(): number {
    return this.output?.size ?? 0;
  }
  get outputRoom(): number {
    if (this.downstream !== null) return this.downstream.input.maxSize - this.downstream.input.size - (this.downstream.handed?.length ?? 0);
    return this.output === null ? 0 : this.output.maxSize - this.output.size;
  }
  get hasHostWork(): boolean {
    return false;
  }
  get hasInputHostWork(): boolean {
    return false;
  }
  get hasOutputHostWork(): boolean {
    return false;
  }
  /** (never asked: the CPU backend's ticks run one at a time, on the host) */
  fitsAhead(_count: number): boolean {
    return false;
  }
  get hasWaitingSenders(): boolean {
    return this.input.hasWaitingPutters;
  }

  get gpuBytes(): number {
    return 0;
  }

  private stored(m: object, tag: number): Stored {
    // (checked by the runtime already: integers in range, so only the f32 fields change)
    const copy = this.storeInput(m);
    if (tag !== 0) this.tags.set(copy, tag);
    return copy;
  }

  send(message: object, tag: number, wait: WaitOptions | undefined): Promise<void> {
    return this.input.put(this.stored(message, tag), wait);
  }
  sendMany(messages: readonly object[], wait: WaitOptions | undefined): Promise<void> {
    return this.input.putMany(messages.map((m) => this.stored(m, 0)), wait);
  }
  sendManyPacked(words: Uint32Array, priorities: Uint8Array, wait: WaitOptions | undefined): Promise<void> {
    const schema = this.def.input;
    const v = viewsOf(words);
    const W = schema.words;
    const messages = Array.from(priorities, (p, j) => schema.unpack(v.u, v.f, v.i, j * W, p) as Stored);
    return this.input.putMany(messages, wait);
  }
  receive(wait: WaitOptions | undefined): Promise<object> {
    return this.output!.get(wait);
  }
  receiveMany(max: number, wait: WaitOptions | undefined): Promise<object[]> {
    return this.output!.getMany(max, wait);
  }
  async receiveManyPacked(max: number, wait: WaitOptions | undefined): Promise<PackedBatch> {
    const got = await this.output!.getMany(max, wait);
    const schema = this.def.output!;
    const W = schema.words;
    const words = new Uint32Array(got.length * W);
    const v = viewsOf(words);
    const priorities = new Uint8Array(got.length);
    got.forEach((m, j) => {
      schema.pack(m, v.u, v.f, v.i, j * W);
      priorities[j] = m.priority;
    });
    return { count: got.length, words, priorities };
  }
  reinsert(replies: readonly Reply[]): void {
    // (as on the GPU: room was left for them; a closed queue means the kernel is being terminated)
    this.output!.putMany(replies.map((r) => r.raw as Stored)).catch(() => undefined);
  }
  rejectWaiters(sendError: Error, receiveError: Error): void {
    this.input.failWaiters(sendError, receiveError);
    this.output?.failWaiters(sendError, receiveError);
  }
  counters(): KernelCounters {
    return { processed: this.processed, emitted: this.emitted, dropped: this.input.stats.dropped, errors: this.errors, lastError: this.lastError };
  }
  async readState(): Promise<ArrayBuffer> {
    return this.state!.buffer.slice(0) as ArrayBuffer;
  }
  async writeState(bytes: ArrayBuffer | ArrayBufferView): Promise<void> {
    const src = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    new Uint8Array(this.state!.buffer).set(src);
  }
  async dispose(_error: Error): Promise<void> {
    this.input.close();
    this.output?.close();
  }

  /**
   * One tick of this kernel (backend.ts, TICK). `tagged`: tagged messages may be in flight (the
   * plan's taggedBound > 0); when none can be, the tag lookups are skipped (a WeakMap lookup per
   * message costs about a third of a small tick).
   */
  tick(tagged: boolean): KernelTickResult {
    const def = this.def;
    const maxEmits = def.maxEmits;
    const room = maxEmits > 0 ? Math.floor(this.outputRoom / maxEmits) : Infinity;
    const handed = this.handed;
    this.handed = null;
    this.runsLater = false;
    let n: number;
    let taken: Stored[];
    if (handed === null) {
      n = Math.min(this.input.size, this.config.maxMessagesPerTick, room);
      taken = this.input.takeQuietly(n);
    } else {
      // (the input queue was empty when the hand-off began, and nothing else can fill it in a tick)
      const order = byPriority(handed);
      n = Math.min(handed.length, this.config.maxMessagesPerTick, room);
      this.input.countPassedThrough(n);
      if (order === null) {
        taken = n < handed.length ? handed.slice(0, n) : handed;
        if (n < handed.length) this.input.insertQuietly(handed.slice(n), handed.slice(n).map((m) => m.priority));
      } else {
        taken = new Array<Stored>(n);
        for (let i = 0; i < n; i++) taken[i] = handed[order[i]];
        if (n < handed.length) {
          // the rest go in as they were emitted: the queue orders them, and DROP_OLDEST's age is emission order
          const took = new Uint8Array(handed.length);
          for (let i = 0; i < n; i++) took[order[i]] = 1;
          const rest = handed.filter((_, i) => took[i] === 0);
          this.input.insertQuietly(rest, rest.map((m) => m.priority));
        }
      }
    }
    const outputs: Stored[] = [];
    const events: TagEvent[] = [];
    const outSchema = def.output as MessageSchema<object> | undefined;
    const storeOutput = this.storeOutput!;
    let emits = 0;
    let tag = 0;
    let failure: string | null = null;
    const tags = this.tags;
    const ctx: KernelContext<object> = {
      emit: (out: object): boolean => {
        if (emits >= maxEmits) return false;
        // a priority above 255 counts as 255, as rk_emit's does (other bad priorities still throw)
        const p = (out as { priority?: unknown }).priority;
        if (typeof p === 'number' && Number.isInteger(p) && p > 255) out = { ...out, priority: 255 };
        // as the GPU stores it (integers wrapped, f32 rounded), then checked: what cannot be stored throws
        const copy = storeOutput(out);
        outSchema!.check(copy);
        if (tag !== 0) tags.set(copy, tag);
        outputs.push(copy);
        emits++;
        return true;
      },
      fail: (code: number): void => {
        if (typeof code !== 'number' || code >>> 0 !== code) throw new RangeError(`ctx.fail: code must be a u32, got ${String(code)}`);
        this.errors++;
        this.lastError = failure = failureOfCode(code);
      },
      state: this.state ?? new DataView(new ArrayBuffer(0)),
    };
    const handler = def.cpu!;
    for (let i = 0; i < n; i++) {
      const m = taken[i];
      emits = 0;
      failure = null;
      tag = tagged ? tags.get(m) ?? 0 : 0;
      try {
        handler(m as never, ctx as never);
      } catch (error) {
        this.errors++;
        this.lastError = failure = failureOfException(error);
      }
      if (tag !== 0) events.push({ tag, emits, failure });
    }
    this.processed += n;
    this.emitted += outputs.length;
    const replies: Reply[] = [];
    let direct = outputs;
    if (this.downstream === null && events.length > 0) {
      // a terminal kernel's tagged outputs are replies (request/reply), in output order
      direct = [];
      for (const o of outputs) {
        const t = tags.get(o);
        if (t === undefined) direct.push(o);
        else replies.push({ tag: t, message: o, raw: o });
      }
    }
    const d = this.downstream;
    if (d !== null && direct.length > 0 && d.runsLater && (d.handed !== null || d.input.size === 0)) {
      if (d.handed === null) d.handed = direct;
      else for (const o of direct) d.handed.push(o);
    } else {
      const target = d !== null ? d.input : this.output;
      if (target !== null && direct.length > 0) target.insertQuietly(direct, direct.map((o) => o.priority));
    }
    return { consumed: n, replies, events };
  }

  /** After the whole tick: receivers served, blocked senders admitted. */
  wake(): void {
    this.output?.wake();
    this.input.wake();
  }
}

/**
 * The order in which a queue would give `messages` back: indices by priority, most urgent first,
 * in emission order within a priority (a stable counting sort); null when all share one priority
 * (then it is their own order).
 */
function byPriority(messages: readonly Stored[]): Uint32Array | null {
  const first = messages[0].priority;
  let same = true;
  for (let i = 1; i < messages.length && same; i++) same = messages[i].priority === first;
  if (same) return null;
  const starts = new Uint32Array(257);
  for (const m of messages) starts[255 - m.priority + 1]++;
  for (let p = 1; p <= 256; p++) starts[p] += starts[p - 1];
  const order = new Uint32Array(messages.length);
  for (let i = 0; i < messages.length; i++) order[starts[255 - messages[i].priority]++] = i;
  return order;
}

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly overlaps = false;
  private hooks: BackendHooks | null = null;
  private readonly tags = new WeakMap<object, number>();

  async start(hooks: BackendHooks): Promise<void> {
    this.hooks = hooks;
  }

  async createKernel(id: string, def: RingKernelDefinition, config: KernelConfig, downstream: BackendKernel | null): Promise<BackendKernel> {
    return new CpuKernel(id, def, config, downstream as CpuKernel | null, this.hooks!, this.tags);
  }

  async tick(plan: TickPlan): Promise<TickResult> {
    const kernels = new Map<BackendKernel, KernelTickResult>();
    // (the plan is upstream first: a kernel's downstream, when it runs, runs after it)
    for (const { kernel } of plan.kernels) (kernel as CpuKernel).runsLater = true;
    try {
      for (const { kernel, taggedBound } of plan.kernels) kernels.set(kernel, (kernel as CpuKernel).tick(taggedBound > 0));
    } finally {
      for (const { kernel } of plan.kernels) {
        const k = kernel as CpuKernel;
        k.runsLater = false;
        if (k.handed !== null) {
          // (only when a tick failed part-way: what was handed goes where it would have been)
          k.input.insertQuietly(k.handed, k.handed.map((m) => m.priority));
          k.handed = null;
        }
      }
    }
    for (const { kernel } of plan.kernels) {
      const k = kernel as CpuKernel;
      k.wake();
      k.downstream?.wake();
    }
    return { kernels };
  }

  async dispose(): Promise<void> {
    this.hooks = null;
  }
}
