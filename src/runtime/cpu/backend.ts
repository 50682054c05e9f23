/**
 * The CPU backend: each kernel's `cpu` handler over MessageQueues, with the tick semantics of
 * backend.ts (the GPU backend's, so the two agree message for message).
 *
 * Messages are stored as fresh copies of their schema's fields with their priority (a send
 * copies, as the GPU packs). A message's correlation tag, when it has one, is kept beside it
 * (a WeakMap keyed by that copy) and given to every output emitted while handling it. Numbers
 * are JavaScript numbers: an f32 field is not rounded to 32 bits as on the GPU.
 */
import { MessageQueue } from '../../queue/message-queue.js';
import type { WaitOptions } from '../../queue/contract.js';
import type { MessageSchema } from '../../schema/define-message.js';
import { viewsOf, type PackedBatch } from '../../gpu/packed.js';
import type { Backend, BackendHooks, BackendKernel, KernelConfig, KernelCounters, KernelTickResult, Reply, TagEvent, TickPlan, TickResult } from '../backend.js';
import type { KernelContext, RingKernelDefinition } from '../kernel.js';
import { failureOfCode, failureOfException } from '../failures.js';

type Stored = { priority: number } & Record<string, unknown>;


class CpuKernel implements BackendKernel {
  readonly input: MessageQueue<Stored>;
  readonly output: MessageQueue<Stored> | null;
  readonly state: DataView | null;
  processed = 0;
  emitted = 0;
  errors = 0;
  lastError: string | null = null;

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
    if (this.downstream !== null) return this.downstream.input.maxSize - this.downstream.input.size;
    return this.output === null ? 0 : this.output.maxSize - this.output.size;
  }
  get hasHostWork(): boolean {
    return false;
  }
  get gpuBytes(): number {
    return 0;
  }

  private stored(m: object, tag: number): Stored {
    const copy = this.def.input.copy(m) as Stored;
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
    const n = Math.min(this.input.size, this.config.maxMessagesPerTick, room);
    const taken = this.input.takeQuietly(n);
    const outputs: Stored[] = [];
    const events: TagEvent[] = [];
    const outSchema = def.output as MessageSchema<object> | undefined;
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
        outSchema!.check(out);
        const copy = outSchema!.copy(out) as Stored;
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
    const target = this.downstream !== null ? this.downstream.input : this.output;
    if (target !== null && direct.length > 0) target.insertQuietly(direct, direct.map((o) => o.priority));
    return { consumed: n, replies, events };
  }

  /** After the whole tick: receivers served, blocked senders admitted. */
  wake(): void {
    this.output?.wake();
    this.input.wake();
  }
}

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
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
    for (const { kernel, taggedBound } of plan.kernels) kernels.set(kernel, (kernel as CpuKernel).tick(taggedBound > 0));
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
