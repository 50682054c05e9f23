/**
 * One ring kernel on the GPU: its queues (GpuMessageQueues of its schemas' envelopes, owned by
 * the runtime, which submits their operations with its ticks), its device buffers, and the
 * encoding of its part of a tick (shaders/ring-tick.wgsl, its handler) and the reading of it.
 *
 * BUFFERS
 *   kctl     control block (RK_K_*: n, failures, events, 64-bit counters)
 *   work     emit records, per-input failure codes, events (handler-wgsl.ts: workLayout)
 *   replies  a terminal kernel's tagged outputs [position, priority, envelope words]
 *   state    the kernel's state (zero at launch)
 *   params   three Params records: rk_take, the large ingest, rk_settle / rk_small_ingest
 *   dummy    a 16-byte stand-in for the output queue's control block of a sink (bindings need a buffer)
 * Its output goes to its own output queue (terminal) or to its downstream kernel's input queue
 * (sendsTo), which is the same GpuMessageQueue: messages never leave the device between kernels.
 *
 * RECEIVERS  When a receive waits on a terminal kernel's output queue as a tick is encoded, the
 * tick ends by fetching that queue's head (up to MAX_HEAD messages, as many as the device holds:
 * queue-seg.wgsl's seg_tiny with only its head fetch, one invocation walking the non-empty
 * buckets from the bitmap, into the kernel's `head` buffer), after everything pushed into it.
 * Read back with the tick, it becomes the queue's head copy, so the waiting receive is answered
 * from the device's own records at once instead of by a second submission; the pop it makes goes
 * to the device with the next one. That seg_tiny pushes and pops nothing: of the queue's words it
 * writes only G_PLANSEQ and G_TOTAL, one plan's scratch, which every reader gets from its own
 * plan. Its Params record is the output queue's run record 0, which only runDeviceKernel would
 * otherwise write: a kernel's queues are never given to it.
 */
import { GpuMessageQueue } from '../../gpu/gpu-queue.js';
import { createBuffers } from '../../device/buffers.js';
import { submit, type StepEncoder } from '../../device/submission.js';
import { FLAG, G, PARAM_STRIDE, PARAM_WORDS, PF, RECORD_HEADER, readU64, writeU64, type ParamName } from '../../gpu/layout.js';
import { MAX_HEAD, paramGroup } from '../../gpu/storage.js';
import { viewsOf, type PackedBatch } from '../../gpu/packed.js';
import type { WaitOptions } from '../../queue/contract.js';
import type { MessageSchema } from '../../schema/define-message.js';
import type { BackendHooks, BackendKernel, KernelConfig, KernelCounters, KernelTickResult, Reply, TagEvent } from '../backend.js';
import { tagWord, type RingKernelDefinition } from '../kernel.js';
import { failureOfCode } from '../failures.js';
import { fusedPipeline, handlerPipeline, tickPipelines, TICK_BINDINGS, type HandlerPipeline, type TickPipelines } from './pipelines.js';
import { workLayout, type WorkLayout } from './handler-wgsl.js';
import { warmPipelines } from './warm.js';
import { EVENT_EMITS_MASK, EVENT_FAILED, EVENT_WORDS, HANDLER_WORKGROUP, K, KCTL_WORDS } from './kernel-layout.js';

/** A tick never takes more than this many messages through the serial small ingest. */
const SMALL_POSITIONS = 256;
/** Messages a fused small tick handles at most: its workgroup's invocations. */
const FUSED_MESSAGES = 256;
// (one copy moves the handler's key range into the ingest's Params: both in the same order)
if (K.KEYHI !== K.KEYLO + 1 || PF.keyHi !== PF.keyLo + 1) throw new Error('ringkernel: KEYLO/KEYHI and keyLo/keyHi must be adjacent, in that order');

type Envelope = Record<string, number | number[]> & { priority: number; rk_tag_lo: number; rk_tag_hi: number };

/** Where a kernel's tick results are in the submission's readback. */
export interface KernelReadback {
  /** the host's upper bound of the messages the tick consumes (what its dispatches were sized for) */
  bound: number;
  kctlAt: number;
  eventsAt: number;
  eventWords: number;
  repliesAt: number;
  replyWords: number;
}

export class GpuKernel implements BackendKernel {
  readonly input: GpuMessageQueue<Envelope>;
  /** its own output queue (a terminal kernel with an output) */
  readonly output: GpuMessageQueue<Envelope> | null;
  private readonly device: GPUDevice;
  private readonly work: WorkLayout;
  private readonly b: Record<'kctl' | 'work' | 'replies' | 'state' | 'params' | 'dummy' | 'head', GPUBuffer>;
  private readonly handler: HandlerPipeline;
  private readonly tp: TickPipelines;
  private readonly groups: {
    take: GPUBindGroup[];
    handler: GPUBindGroup;
    ingest: GPUBindGroup[];
    settle: GPUBindGroup[];
    small: GPUBindGroup[];
    /** the output queue's group with `outb` = the head buffer (a terminal kernel) */
    head: GPUBindGroup | null;
    /** the fused small tick's groups (fused-wgsl.ts), where the device runs it */
    fused: GPUBindGroup[] | null;
  };
  readonly fused: HandlerPipeline | null;
  /** word offsets of the input and output schemas' fields (the rest is padding) */
  private readonly inputFieldWords: readonly number[];
  private readonly outputFieldWords: readonly number[];
  private cumulative: KernelCounters = { processed: 0, emitted: 0, dropped: 0, errors: 0, lastError: null };

  static async create(device: GPUDevice, id: string, def: RingKernelDefinition, config: KernelConfig, downstream: GpuKernel | null, hooks: BackendHooks): Promise<GpuKernel> {
    const handler = await handlerPipeline(device, id, def, config.maxMessagesPerTick);
    const fused = await fusedPipeline(device, def, config.maxMessagesPerTick);
    const made: GpuMessageQueue<Envelope>[] = [];
    try {
      const input = await GpuMessageQueue.create<Envelope>({
        device,
        schema: def.inputEnvelope as never,
        maxSize: config.inputQueueSize,
        backpressure: config.backpressure,
        prefetch: 0,
        onDrop: (m) => {
          const tag = m.rk_tag_lo + m.rk_tag_hi * 2 ** 32; // the (lo, hi) pair, as readU64 reads it
          if (tag !== 0) hooks.droppedTagged(kernel, tag);
        },
      });
      made.push(input);
      const output =
        def.output !== undefined && downstream === null
          ? await GpuMessageQueue.create<Envelope>({ device, schema: def.outputEnvelope as never, maxSize: config.outputQueueSize, prefetch: 0 })
          : null;
      if (output) made.push(output);
      const work = workLayout(def, config.maxMessagesPerTick);
      const terminal = def.output !== undefined && downstream === null;
      const S = GPUBufferUsage.STORAGE;
      const buffers = await createBuffers(device, {
        kctl: { label: `rk-${id}-ctl`, size: KCTL_WORDS * 4, usage: S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, binding: 'storage' },
        work: { label: `rk-${id}-work`, size: work.words * 4, usage: S | GPUBufferUsage.COPY_SRC, binding: 'storage', purpose: `maxMessagesPerTick ${config.maxMessagesPerTick} x maxEmits ${def.maxEmits}` },
        replies: { label: `rk-${id}-replies`, size: terminal ? work.positions * (work.recordWords + 1) * 4 : 16, usage: S | GPUBufferUsage.COPY_SRC, binding: 'storage' },
        state: { label: `rk-${id}-state`, size: def.state?.bytes ?? 16, usage: S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, binding: 'storage' },
        params: { label: `rk-${id}-params`, size: 3 * PARAM_STRIDE, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, binding: 'uniform' },
        dummy: { label: `rk-${id}-dummy`, size: 16, usage: S, binding: 'storage' },
        head: { label: `rk-${id}-head`, size: output !== null ? MAX_HEAD * (output.storage.words + RECORD_HEADER) * 4 : 16, usage: S | GPUBufferUsage.COPY_SRC, binding: 'storage' },
      });
      let kernel: GpuKernel;
      try {
        kernel = new GpuKernel(device, id, def, config, downstream, input, output, work, buffers, handler, fused);
        if (def.state) await kernel.checkStateBinding();
        // (its handler's control block is still zero: the warm-up dispatch of the handler does nothing)
        await warmPipelines(device, handler.pipeline, kernel.groups.handler, kernel.buffers(), kernel.fused === null ? null : { pipeline: kernel.fused, state: def.state ? buffers.state : null });
      } catch (error) {
        for (const b of Object.values(buffers)) b.destroy();
        throw error;
      }
      return kernel;
    } catch (error) {
      for (const q of made) await q.close();
      throw error;
    }
  }

  private constructor(
    device: GPUDevice,
    readonly id: string,
    readonly def: RingKernelDefinition,
    readonly config: KernelConfig,
    readonly downstream: GpuKernel | null,
    input: GpuMessageQueue<Envelope>,
    output: GpuMessageQueue<Envelope> | null,
    work: WorkLayout,
    buffers: GpuKernel['b'],
    handler: HandlerPipeline,
    fused: HandlerPipeline | null,
  ) {
    this.device = device;
    this.input = input;
    this.output = output;
    this.work = work;
    this.b = buffers;
    this.handler = handler;
    this.fused = this.outQueueOf(downstream, output) !== null ? fused : null;
    this.tp = tickPipelines(device);
    this.inputFieldWords = fieldWords(def.input);
    this.outputFieldWords = def.output ? fieldWords(def.output) : [];
    this.writeParams();
    this.groups = this.makeGroups();
    if (output !== null) {
      // the output queue's run record 0 (it never runs a user kernel): no push, no pop, a fetch of up to MAX_HEAD
      const record = new Uint32Array(PARAM_STRIDE / 4);
      record[PF.flags] = FLAG.HEAD;
      record[PF.peekN] = MAX_HEAD;
      record[PF.peekOff] = 0;
      output.storage.writeRunParams(record);
    }
  }

  /**
   * Whether the compiled handler accepts the state buffer: the device checks a binding against
   * the size of its WGSL type at each dispatch, so a dispatch encoded and never submitted asks it (for any type, a struct with layout attributes too) before a tick could fail on it.
   */
  private async checkStateBinding(): Promise<void> {
    const d = this.device;
    d.pushErrorScope('validation');
    const encoder = d.createCommandEncoder({ label: `rk-${this.id}-state-check` });
    const pass = encoder.beginComputePass();
    pass.setPipeline(this.handler.pipeline);
    pass.setBindGroup(0, this.groups.handler);
    pass.dispatchWorkgroups(1);
    pass.end();
    encoder.finish(); // (dropped: only the validation is wanted)
    const error = await d.popErrorScope();
    if (error !== null) {
      throw new RangeError(`launch('${this.id}'): state.bytes ${this.def.state!.bytes} does not hold the state type ${this.def.state!.type}: ${error.message}`);
    }
  }

  /** Every GPU buffer of this kernel and its own queues. */
  private buffers(): GPUBuffer[] {
    const out: GPUBuffer[] = Object.values(this.b);
    for (const q of [this.input, this.output]) if (q !== null) out.push(...q.storage.buffers);
    return out;
  }

  /** The queue this kernel's outputs go into: its own, or its downstream kernel's input. */
  private get outQueue(): GpuMessageQueue<Envelope> | null {
    return this.outQueueOf(this.downstream, this.output);
  }
  private outQueueOf(downstream: GpuKernel | null, output: GpuMessageQueue<Envelope> | null): GpuMessageQueue<Envelope> | null {
    return downstream !== null ? downstream.input : output;
  }

  private writeParams(): void {
    const out = this.outQueue;
    const terminal = this.output !== null;
    const words = new Uint32Array((3 * PARAM_STRIDE) / 4);
    const set = (r: number, fields: Partial<Record<ParamName, number>>): void => {
      for (const key in fields) words[(r * PARAM_STRIDE) / 4 + PF[key as ParamName]] = fields[key as ParamName]!;
    };
    const hasOut = out !== null ? FLAG.HAS_OUTPUT : 0;
    const divert = terminal ? FLAG.DIVERT : 0;
    const tagOff = this.def.outputEnvelope ? tagWord(this.def.outputEnvelope) : 0;
    set(0, { perTick: this.config.maxMessagesPerTick, emits: this.def.maxEmits, flags: hasOut, tableOff: 0 });
    set(1, { flags: FLAG.DEVICE_N | divert | FLAG.ONE_KEY, inOff: 0, rankOff: 0, histOff: out?.storage.ingestCapacity ?? 0, tagOff, outCap: this.work.positions, outOff: 0 });
    set(2, { flags: hasOut | divert, inOff: 0, emits: this.def.maxEmits, tagOff, outCap: this.work.positions, outOff: 0, failOff: this.work.failOff });
    this.device.queue.writeBuffer(this.b.params, 0, words);
  }

  private makeGroups(): GpuKernel['groups'] {
    const d = this.device;
    const I = this.input.storage;
    const O = this.outQueue?.storage ?? null;
    const buf = (b: GPUBuffer) => ({ buffer: b });
    const group = (pipeline: GPUComputePipeline, g: number, bindings: readonly number[], pick: (binding: number) => GPUBuffer): GPUBindGroup =>
      d.createBindGroup({ layout: pipeline.getBindGroupLayout(g), entries: bindings.map((binding) => ({ binding, resource: buf(pick(binding)) })) });
    // a queue's group-0 bindings, with inp = the work buffer and outb = the replies (a sink has no queue: a dummy control block)
    const queueBuffer = (s: typeof I | null, binding: number): GPUBuffer => {
      if (binding === 4) return this.b.work;
      if (binding === 5) return this.b.replies;
      if (s === null) return this.b.dummy;
      return [s.ctl, s.blk, s.pool, s.seqs, this.b.work, this.b.replies, s.scr][binding];
    };
    const kernelBuffer = (binding: number): GPUBuffer => (binding === 0 ? this.b.kctl : (O?.ctl ?? this.b.dummy));
    // (the tick's pipelines have 'auto' layouts: each needs its own group for the params record)
    const params = (pipeline: GPUComputePipeline, r: number): GPUBindGroup =>
      d.createBindGroup({ layout: pipeline.getBindGroupLayout(1), entries: [{ binding: 0, resource: { buffer: this.b.params, offset: r * PARAM_STRIDE, size: PARAM_WORDS * 4 } }] });
    const tp = this.tp;
    const handlerEntries: GPUBindGroupEntry[] = [I.ctl, I.scr, I.pool, this.b.kctl, this.b.work].map((b, binding) => ({ binding, resource: buf(b) }));
    if (this.def.state) handlerEntries.push({ binding: 5, resource: buf(this.b.state) });
    return {
      take: [group(tp.take, 0, TICK_BINDINGS.take[0], (b) => queueBuffer(I, b)), params(tp.take, 0), group(tp.take, 2, TICK_BINDINGS.take[2], kernelBuffer)],
      handler: d.createBindGroup({ layout: this.handler.layout, entries: handlerEntries }),
      ingest: O ? [O.groupWith(this.b.work, this.b.replies), paramGroup(d, O.p, this.b.params, 1)] : [],
      settle: [group(tp.settle, 0, TICK_BINDINGS.settle[0], (b) => queueBuffer(O, b)), params(tp.settle, 2), group(tp.settle, 2, TICK_BINDINGS.settle[2], kernelBuffer)],
      small: [group(tp.smallIngest, 0, TICK_BINDINGS.smallIngest[0], (b) => queueBuffer(O, b)), params(tp.smallIngest, 2), group(tp.smallIngest, 2, TICK_BINDINGS.smallIngest[2], kernelBuffer)],
      head: this.output !== null ? this.output.storage.groupWith(this.b.work, this.b.head) : null,
      fused: this.fused !== null && O !== null ? this.fusedGroups(this.fused, O) : null,
    };
  }

  private fusedGroups(fused: HandlerPipeline, O: NonNullable<GpuMessageQueue<Envelope>['storage']>): GPUBindGroup[] {
    const I = this.input.storage;
    const storage = [I.ctl, I.blk, I.pool, I.scr, this.b.kctl, this.b.work, O.ctl, O.blk, O.pool, O.seqs, this.b.replies];
    if (this.def.state) storage.push(this.b.state);
    const d = this.device;
    return [
      d.createBindGroup({ label: `rk-${this.id}-fused`, layout: fused.layout, entries: storage.map((buffer, binding) => ({ binding, resource: { buffer } })) }),
      d.createBindGroup({
        label: `rk-${this.id}-fused-params`,
        layout: fused.paramsLayout!,
        entries: [0, 2].map((r, binding) => ({ binding, resource: { buffer: this.b.params, offset: r * PARAM_STRIDE, size: PARAM_WORDS * 4 } })),
      }),
    ];
  }

  // ---------------------------------------------------------------- sizes
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
    const q = this.outQueue;
    return q === null ? 0 : q.maxSize - q.size;
  }
  get gpuBytes(): number {
    let bytes = this.input.gpuBytes + (this.output?.gpuBytes ?? 0);
    for (const b of Object.values(this.b)) bytes += b.size;
    return bytes;
  }
  get hasHostWork(): boolean {
    return this.input.hasWork || (this.output?.hasWork ?? false);
  }
  get hasInputHostWork(): boolean {
    return this.input.hasWork;
  }
  get hasOutputHostWork(): boolean {
    return this.output?.hasWork ?? false;
  }
  fitsAhead(count: number): boolean {
    return !this.hasWaitingSenders && this.input.size + count <= this.input.maxSize;
  }
  get hasWaitingSenders(): boolean {
    return this.input.hasWaitingPutters;
  }
  /** The queues this kernel's tick changes. */
  get queues(): GpuMessageQueue<Envelope>[] {
    const out = this.outQueue;
    return out !== null ? [this.input, out] : [this.input];
  }

  // ---------------------------------------------------------------- messages
  /** Packs `messages` (checked) into envelope words with `tag`. */
  private envelopes(messages: readonly object[], tag: number): { words: Uint32Array; priorities: Uint8Array } {
    const schema = this.def.input;
    const W = this.def.inputEnvelope.words;
    const words = new Uint32Array(messages.length * W);
    const priorities = new Uint8Array(messages.length);
    const v = viewsOf(words);
    const t = tagWord(this.def.inputEnvelope);
    for (let j = 0; j < messages.length; j++) {
      priorities[j] = schema.check(messages[j]);
      schema.pack(messages[j], v.u, v.f, v.i, j * W);
      if (tag !== 0) {
        writeU64(words, j * W + t, tag);
      }
    }
    return { words, priorities };
  }

  send(message: object, tag: number, wait: WaitOptions | undefined): Promise<void> {
    const { words, priorities } = this.envelopes([message], tag);
    return this.input.putManyPacked(words, priorities, wait);
  }
  sendMany(messages: readonly object[], wait: WaitOptions | undefined): Promise<void> {
    const { words, priorities } = this.envelopes(messages, 0);
    return this.input.putManyPacked(words, priorities, wait);
  }
  sendManyPacked(words: Uint32Array, priorities: Uint8Array, wait: WaitOptions | undefined): Promise<void> {
    const W = this.def.input.words;
    const E = this.def.inputEnvelope.words;
    const n = priorities.length;
    const env = new Uint32Array(n * E);
    // only the fields' words: a padding word of the schema may be the envelope's tag word, and
    // what the caller left in it must not make the message a request's
    const used = this.inputFieldWords;
    for (let j = 0, s = 0, d = 0; j < n; j++, s += W, d += E) for (let k = 0; k < used.length; k++) env[d + used[k]] = words[s + used[k]];
    return this.input.putManyPacked(env, priorities, wait);
  }
  receive(wait: WaitOptions | undefined): Promise<object> {
    return this.output!.get(wait).then(stripTag);
  }
  receiveMany(max: number, wait: WaitOptions | undefined): Promise<object[]> {
    return this.output!.getMany(max, wait).then((ms) => ms.map(stripTag));
  }
  async receiveManyPacked(max: number, wait: WaitOptions | undefined): Promise<PackedBatch> {
    const got = await this.output!.getManyPacked(max, wait);
    const W = this.def.output!.words;
    const E = this.def.outputEnvelope!.words;
    const words = new Uint32Array(got.count * W);
    // (the tag may sit in the schema's padding: padding stays zero, as the CPU backend packs it)
    const used = this.outputFieldWords;
    for (let j = 0, s = 0, d = 0; j < got.count; j++, s += E, d += W) for (let k = 0; k < used.length; k++) words[d + used[k]] = got.words[s + used[k]];
    return { count: got.count, words, priorities: got.priorities };
  }
  reinsert(replies: readonly Reply[]): void {
    const E = this.def.outputEnvelope!.words;
    const words = new Uint32Array(replies.length * E);
    const priorities = new Uint8Array(replies.length);
    replies.forEach((r, j) => {
      const raw = r.raw as { words: Uint32Array; priority: number };
      words.set(raw.words, j * E);
      priorities[j] = raw.priority;
    });
    // (room was left for them: diverted replies took none; a rejection means the queue is
    // closed or broken, and the runtime is then failing closed or terminating this kernel)
    this.output!.putManyPacked(words, priorities).catch(() => undefined);
  }
  rejectWaiters(sendError: Error, receiveError: Error): void {
    this.input.failWaiters(sendError, receiveError);
    this.output?.failWaiters(sendError, receiveError);
  }
  counters(): KernelCounters {
    // (evictions of messages that never reached the device are counted by the host alone)
    return { ...this.cumulative, dropped: this.input.stats.dropped };
  }

  async readState(): Promise<ArrayBuffer> {
    const bytes = this.def.state!.bytes;
    const built = submit(this.device, (e) => e.readback(this.b.state, 0, bytes));
    const rb = await built.done;
    try {
      return rb.words.slice(built.value, built.value + bytes / 4).buffer;
    } finally {
      rb.release();
    }
  }
  async writeState(bytes: ArrayBuffer | ArrayBufferView): Promise<void> {
    const data = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.device.queue.writeBuffer(this.b.state, 0, data);
  }

  async dispose(error: Error): Promise<void> {
    for (const q of [this.input, this.output]) {
      if (q === null) continue;
      q.abandonPending(error);
      await q.close();
    }
    for (const b of Object.values(this.b)) b.destroy();
  }

  // ---------------------------------------------------------------- a tick
  /**
   * Encodes this kernel's part of a tick: rk_take, the handler, the ingest (serial when the
   * outputs fit SMALL_POSITIONS), rk_settle; asks for its control block, its events and replies
   * (`taggedBound`: tagged messages it can consume at most).
   */
  encodeTick(e: StepEncoder, upperBound: number, taggedBound: number): KernelReadback {
    const g = this.groups;
    const tp = this.tp;
    const pass = e.pass();
    const positions = upperBound * this.def.maxEmits;
    if (g.fused !== null && upperBound <= FUSED_MESSAGES && positions <= SMALL_POSITIONS) {
      // take, handle and ingest in one workgroup (fused-wgsl.ts)
      pass.setPipeline(this.fused!.pipeline);
      pass.setBindGroup(0, g.fused[0]);
      pass.setBindGroup(1, g.fused[1]);
      pass.dispatchWorkgroups(1);
      e.dispatches++;
      return this.readbacks(e, upperBound, taggedBound);
    }
    setGroups(pass, tp.take, g.take);
    pass.dispatchWorkgroups(1);
    // (direct dispatches sized by the host's bound: an indirect one cost ~0.3 ms, about six direct ones, on the software adapter)
    pass.setPipeline(this.handler.pipeline);
    pass.setBindGroup(0, g.handler);
    pass.dispatchWorkgroups(Math.ceil(upperBound / HANDLER_WORKGROUP));
    e.dispatches += 2;
    if (this.outQueue === null) {
      // a sink: nothing to ingest
      setGroups(pass, tp.settle, g.settle);
      pass.dispatchWorkgroups(1);
      e.dispatches++;
    } else if (positions <= SMALL_POSITIONS) {
      setGroups(pass, tp.smallIngest, g.small);
      pass.dispatchWorkgroups(1);
      e.dispatches++;
    } else {
      // the handler's key range into the ingest's Params record: a uniform, so the push's phases
      // may skip their rank pass around its barriers when every position has one key
      e.commands().copyBufferToBuffer(this.b.kctl, K.KEYLO * 4, this.b.params, PARAM_STRIDE + PF.keyLo * 4, 8);
      const pass = e.pass();
      const qp = this.outQueue.storage.p.pipeline;
      pass.setBindGroup(0, g.ingest[0]);
      pass.setBindGroup(1, g.ingest[1]);
      const workgroups = Math.ceil(positions / 256);
      // (x within the device's limit; the shaders linearize (x, y) with num_workgroups)
      const x = Math.min(workgroups, this.device.limits.maxComputeWorkgroupsPerDimension);
      pass.setPipeline(qp.push_rank);
      pass.dispatchWorkgroups(x, Math.ceil(workgroups / x));
      pass.setPipeline(qp.push_scan);
      pass.dispatchWorkgroups(1);
      pass.setPipeline(qp.push_scatter);
      pass.dispatchWorkgroups(x, Math.ceil(workgroups / x));
      setGroups(pass, tp.settle, g.settle);
      pass.dispatchWorkgroups(1);
      e.dispatches += 4;
    }
    return this.readbacks(e, upperBound, taggedBound);
  }

  /** Asks for the kernel's control block, its events and its replies. */
  private readbacks(e: StepEncoder, upperBound: number, taggedBound: number): KernelReadback {
    const eventWords = EVENT_WORDS * taggedBound;
    const replyWords = this.output !== null ? taggedBound * this.def.maxEmits * (this.work.recordWords + 1) : 0;
    return {
      bound: upperBound,
      kctlAt: e.readback(this.b.kctl, 0, KCTL_WORDS * 4),
      eventsAt: e.readback(this.b.work, this.work.eventOff * 4, eventWords * 4),
      eventWords,
      repliesAt: e.readback(this.b.replies, 0, replyWords * 4),
      replyWords,
    };
  }

  /**
   * After every kernel of the tick: when a receive waits on this kernel's output queue, fetches
   * the queue's head (see RECEIVERS); returns where it is in the readback, or null.
   */
  encodeReceiveHead(e: StepEncoder): { at: number; words: number } | null {
    const out = this.output;
    if (out === null || this.groups.head === null || !out.hasWaitingGetters) return null;
    const s = out.storage;
    const pass = e.pass();
    pass.setBindGroup(0, this.groups.head);
    pass.setBindGroup(1, s.runParamGroup(0));
    pass.setPipeline(s.p.pipeline.seg_tiny);
    pass.dispatchWorkgroups(1);
    e.dispatches++;
    const words = MAX_HEAD * (s.words + RECORD_HEADER);
    return { at: e.readback(this.b.head, 0, words * 4), words };
  }

  /** Reads this kernel's part of a tick's readback (`outGlobals`: its output queue's globals, for the replies' count). */
  readTick(words: Uint32Array, r: KernelReadback, outGlobals: Uint32Array | null): KernelTickResult {
    const k = words.subarray(r.kctlAt, r.kctlAt + KCTL_WORDS);
    const w64 = (i: number) => readU64(k, i);
    this.cumulative = {
      processed: w64(K.PROCESSED),
      emitted: w64(K.EMITTED),
      dropped: 0,
      errors: w64(K.ERRORS),
      lastError: k[K.HASLAST] !== 0 ? failureOfCode(k[K.LASTCODE]) : null,
    };
    const consumed = k[K.N];
    if (consumed > r.bound) throw new Error(`ringkernel: kernel '${this.id}' took ${consumed} messages on the device, more than the ${r.bound} its tick was sized for (internal error)`);
    const events: TagEvent[] = [];
    const nEvents = Math.min(k[K.EVENTS], r.eventWords / EVENT_WORDS);
    if (k[K.EVENTS] > r.eventWords / EVENT_WORDS) throw new Error(`ringkernel: kernel '${this.id}' met ${k[K.EVENTS]} tagged messages, more than the ${r.eventWords / EVENT_WORDS} read back (internal error)`);
    for (let j = 0; j < nEvents; j++) {
      const o = r.eventsAt + EVENT_WORDS * j;
      const flags = words[o + 2];
      events.push({ tag: readU64(words, o), emits: flags & EVENT_EMITS_MASK, failure: (flags & EVENT_FAILED) !== 0 ? failureOfCode(words[o + 3]) : null });
    }
    const replies: Reply[] = [];
    if (this.output !== null && outGlobals !== null) {
      const S = this.work.recordWords; // priority + envelope words
      const n = outGlobals[G.REPLY_N];
      if (n * (S + 1) > r.replyWords) throw new Error(`ringkernel: kernel '${this.id}' diverted ${n} replies, more than the ${r.replyWords / (S + 1)} read back (internal error)`);
      const recs: { pos: number; o: number }[] = [];
      for (let j = 0; j < n; j++) recs.push({ pos: words[r.repliesAt + j * (S + 1)], o: r.repliesAt + j * (S + 1) + 1 });
      recs.sort((a, b) => a.pos - b.pos);
      const schema = this.def.output!;
      const E = this.def.outputEnvelope!.words;
      const t = tagWord(this.def.outputEnvelope!);
      for (const { o } of recs) {
        const priority = words[o];
        const env = words.slice(o + 1, o + 1 + E);
        const v = viewsOf(env);
        replies.push({ tag: readU64(env, t), message: schema.unpack(v.u, v.f, v.i, 0, priority), raw: { words: env, priority } });
      }
    }
    return { consumed, replies, events };
  }
}

/** The word offsets a schema's fields occupy, in order (its padding words are left out). */
function fieldWords(schema: MessageSchema<any>): number[] {
  const words: number[] = [];
  for (const f of schema.fields) for (let w = f.offset / 4; w < (f.offset + f.size) / 4; w++) words.push(w);
  return words;
}

function setGroups(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, groups: readonly GPUBindGroup[]): void {
  pass.setPipeline(pipeline);
  groups.forEach((group, i) => pass.setBindGroup(i, group));
}

/** An envelope as `receive` returns it: the schema's fields and the priority, without the tag. */
function stripTag(env: Envelope): object {
  const { rk_tag_lo: _lo, rk_tag_hi: _hi, ...message } = env;
  return message;
}
