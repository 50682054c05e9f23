/**
 * What the runtime asks of a backend (cpu/backend.ts, gpu/backend.ts). The runtime owns the
 * lifecycle, the checks, the tick schedule, request/reply and telemetry; a backend owns the
 * queues and runs ticks, with the same semantics on both:
 *
 * TICK  For the kernels it is given, upstream first: kernel K takes
 *   n = min(input size, maxMessagesPerTick, floor(room in its output / maxEmits)) messages, the
 *   most urgent ones (priority, then FIFO), runs its handler on each in that order, and puts the
 *   outputs into its output in the order of the inputs that produced them (each input's emits in
 *   emit order). A terminal kernel's outputs that carry a correlation tag are not put into its
 *   output queue but returned as replies, in that order. Every consumed message that carries a
 *   tag is reported as an event (tag, emits). Then the output queues' waiting receivers are
 *   served (the most urgent output first) and the input queues' blocked senders admitted.
 *   Replies the runtime does not take (a request's further outputs, a reply whose caller gave
 *   up) are put back into the output queue after that (`reinsert`): they come after the tick's
 *   other outputs of the same priority.
 */
import type { PackedBatch } from '../gpu/packed.js';
import type { WaitOptions } from '../queue/contract.js';
import type { RingKernelDefinition } from './kernel.js';

/** A kernel's launch configuration, checked (config.ts, resolveLaunchConfig). */
export interface KernelConfig {
  inputQueueSize: number;
  outputQueueSize: number;
  backpressure: 'block' | 'reject' | 'drop';
  maxMessagesPerTick: number;
  sendsTo: string | undefined;
}

/** A reply: a tagged output of a terminal kernel, in output order. */
export interface Reply {
  tag: number;
  /** the output as `receive` would return it (fields and priority) */
  message: object;
  /** the backend's own form, for `reinsert` */
  raw: unknown;
}

/** A consumed message that carried a tag: how many outputs its handler emitted. */
export interface TagEvent {
  tag: number;
  emits: number;
  /** the handler's failure for this message ('failed with code 7', 'threw …'), or null */
  failure: string | null;
}

export interface KernelTickResult {
  consumed: number;
  replies: Reply[];
  events: TagEvent[];
}

/** Cumulative counts of one kernel (the GPU backend counts them on the device). */
export interface KernelCounters {
  processed: number;
  emitted: number;
  dropped: number;
  errors: number;
  lastError: string | null;
}

/** One kernel as a backend runs it. */
export interface BackendKernel {
  readonly id: string;
  readonly def: RingKernelDefinition;
  readonly config: KernelConfig;
  /** the kernel its outputs go to (sendsTo), or null */
  readonly downstream: BackendKernel | null;
  readonly inputSize: number;
  readonly inputMaxSize: number;
  /** its own output queue's size (0 for a sink or a kernel that sends to another) */
  readonly outputSize: number;
  /** room for outputs: in its own output queue, or in the downstream kernel's input */
  readonly outputRoom: number;
  /** bytes of GPU memory the kernel holds: its queues and its own buffers (0 on the CPU backend) */
  readonly gpuBytes: number;
  /** has host operations recorded that a tick must carry (GPU: the queues' op logs) */
  readonly hasHostWork: boolean;
  /** the same, of its input queue alone */
  readonly hasInputHostWork: boolean;
  /** the same, of its own output queue alone */
  readonly hasOutputHostWork: boolean;
  /**
   * Whether a send of `count` messages is taken without waiting or evicting by the host's view
   * alone (nobody waiting before it, room for all in the host's size): with ticks in flight that
   * only take from this input, it is then taken on the device too (tick-loop.ts, TICKS IN FLIGHT).
   */
  fitsAhead(count: number): boolean;
  /** has senders waiting for room in its input (BLOCK) */
  readonly hasWaitingSenders: boolean;

  send(message: object, tag: number, wait: WaitOptions | undefined): Promise<void>;
  sendMany(messages: readonly object[], wait: WaitOptions | undefined): Promise<void>;
  sendManyPacked(words: Uint32Array, priorities: Uint8Array, wait: WaitOptions | undefined): Promise<void>;
  receive(wait: WaitOptions | undefined): Promise<object>;
  receiveMany(max: number, wait: WaitOptions | undefined): Promise<object[]>;
  receiveManyPacked(max: number, wait: WaitOptions | undefined): Promise<PackedBatch>;
  /** Puts replies back into the output queue (further outputs of a request, replies nobody waits for). */
  reinsert(replies: readonly Reply[]): void;
  /** Rejects the kernel's waiting senders (`sendError`) and receivers (`receiveError`). */
  rejectWaiters(sendError: Error, receiveError: Error): void;
  counters(): KernelCounters;
  readState(): Promise<ArrayBuffer>;
  writeState(bytes: ArrayBuffer | ArrayBufferView): Promise<void>;
  /** Frees everything the kernel holds (its queues; GPU buffers); operations still recorded reject with `error`. */
  dispose(error: Error): Promise<void>;
}

export interface TickPlan {
  /**
   * Kernels to run, upstream first, each with an upper bound of what it can consume this tick
   * and of the tagged messages among them (request/reply).
   */
  kernels: { kernel: BackendKernel; upperBound: number; taggedBound: number }[];
}

export interface TickResult {
  kernels: Map<BackendKernel, KernelTickResult>;
}

export interface BackendHooks {
  /** The backend has host work for a tick (a GPU queue recorded an operation). */
  requestTick(): void;
  /** A message carrying a tag left an input queue without being processed (DROP_OLDEST). */
  droppedTagged(kernel: BackendKernel, tag: number): void;
  /** The device was lost: everything fails with `error`. */
  lost(error: Error): void;
}

export interface Backend {
  readonly kind: 'cpu' | 'gpu';
  /** whether a tick may be submitted before the previous one is read back (GPU: results are applied in submission order) */
  readonly overlaps: boolean;
  start(hooks: BackendHooks): Promise<void>;
  /** Creates a kernel's queues and device objects (GPU: compiles its WGSL). Leaves nothing behind when it throws. */
  createKernel(id: string, def: RingKernelDefinition, config: KernelConfig, downstream: BackendKernel | null): Promise<BackendKernel>;
  /** Runs one tick (GPU: one submission). */
  tick(plan: TickPlan): Promise<TickResult>;
  dispose(): Promise<void>;
}
