/**
 * The GPU backend: ring kernels as WGSL over GpuMessageQueues, one submission per tick.
 *
 * A tick's submission carries, in this order: the recorded host operations of every queue
 * (sends, receives, re-inserted replies: each queue's op log as one step), then the part of each
 * kernel to run, upstream first (gpu/kernel.ts), then the readback of every changed queue's
 * globals and each kernel's counters, events and replies; one map. Applied in the same order:
 * the queues' host operations resolve; each queue learns what the kernels took from and put
 * into it (its cumulative device-side pop and push counters, 64-bit, against what it last saw),
 * which serves waiting receivers and admits blocked senders; then the kernels' results.
 *
 * HEADS  Once a tick whose kernels push into an output queue is submitted, the host's copy of
 * that queue's head is forgotten: a receive answered from it would be popped on the device after
 * those pushes, which may be more urgent, and the device would take another message than the one
 * delivered. Likewise a head fetched by one tick is not adopted when a later tick in flight
 * pushes into that queue.
 *
 * TICKS IN FLIGHT  A tick may be submitted before the previous one is read back (the runtime
 * decides when: tick-loop.ts). Readbacks are applied in submission order, each queue's device
 * counters against the marks the previous readback left; once one fails, every later one fails
 * with it without being applied.
 */
import { sharedDevice } from '../../device/acquire.js';
import { onDeviceLost } from '../../device/lost.js';
import { DeviceLostError } from '../../device/errors.js';
import { submit } from '../../device/submission.js';
import type { GpuMessageQueue } from '../../gpu/gpu-queue.js';
import { G, GLOBAL_WORDS, readU64 } from '../../gpu/layout.js';
import type { Backend, BackendHooks, BackendKernel, KernelConfig, KernelTickResult, TickPlan, TickResult } from '../backend.js';
import type { RingKernelDefinition } from '../kernel.js';
import { GpuKernel, type KernelReadback } from './kernel.js';

interface QueueMark {
  pops: number;
  pushes: number;
}

export class GpuBackend implements Backend {
  readonly kind = 'gpu' as const;
  readonly overlaps = true;
  private device: GPUDevice | null = null;
  private hooks: BackendHooks | null = null;
  private readonly kernels = new Set<GpuKernel>();
  private readonly marks = new WeakMap<GpuMessageQueue<any>, QueueMark>();
  private unwatch: (() => void) | null = null;
  /** the queues each tick in flight runs kernels on, oldest first */
  private flying: Set<GpuMessageQueue<any>>[] = [];
  /** the last tick's readback applied (or failed): the next one waits for it */
  private applied: Promise<void> = Promise.resolve();
  /** why a tick's readback failed: the ticks after it fail with it */
  private failure: { error: unknown } | null = null;

  /** `profiled`: false for the runtime's private warm-up, whose submissions no profile shows (device/profile.ts) */
  constructor(
    private readonly given: GPUDevice | undefined,
    private readonly profiled = true,
  ) {}

  async start(hooks: BackendHooks): Promise<void> {
    this.hooks = hooks;
    this.device = this.given ?? (await sharedDevice()).device;
    this.unwatch = onDeviceLost(this.device, (reason) => hooks.lost(new DeviceLostError(`the GPU device was lost: ${reason}`, reason)));
  }

  async createKernel(id: string, def: RingKernelDefinition, config: KernelConfig, downstream: BackendKernel | null): Promise<BackendKernel> {
    const kernel = await GpuKernel.create(this.device!, id, def, config, downstream as GpuKernel | null, this.hooks!);
    const hooks = this.hooks!;
    for (const q of [kernel.input, kernel.output]) {
      if (q === null) continue;
      q.setOwner({ requestSubmit: () => hooks.requestTick() });
      this.marks.set(q, { pops: 0, pushes: 0 });
    }
    this.kernels.add(kernel);
    const dispose = kernel.dispose.bind(kernel);
    kernel.dispose = async (error: Error) => {
      this.kernels.delete(kernel);
      await dispose(error);
    };
    return kernel;
  }

  async tick(plan: TickPlan): Promise<TickResult> {
    const device = this.device!;
    const queues = new Set<GpuMessageQueue<any>>();
    for (const k of this.kernels) for (const q of [k.input, k.output]) if (q !== null && q.hasWork) queues.add(q);
    const touched = new Set<GpuMessageQueue<any>>();
    for (const { kernel } of plan.kernels) for (const q of (kernel as GpuKernel).queues) touched.add(q);
    const changed = new Set<GpuMessageQueue<any>>([...queues, ...touched]);
    const built = submit(device, (e) => {
      const steps = [...queues].map((q) => [q, q.encodeStep(e)] as const);
      const kernels = plan.kernels.map(({ kernel, upperBound, taggedBound }) => [kernel as GpuKernel, (kernel as GpuKernel).encodeTick(e, upperBound, taggedBound)] as const);
      // (after every kernel: each output queue's head as the tick leaves it, for receives waiting on it)
      const heads = new Map<GpuMessageQueue<any>, { at: number; words: number }>();
      for (const [kernel] of kernels) {
        const head = kernel.encodeReceiveHead(e);
        if (head !== null) heads.set(kernel.output!, head);
      }
      const globals = [...changed].map((q) => [q, e.readback(q.storage.ctl, 0, GLOBAL_WORDS * 4)] as const);
      return { steps, kernels, globals, heads };
    }, { profile: this.profiled });
    const { steps, kernels, globals, heads } = built.value;
    for (const [kernel] of kernels) kernel.output?.forgetHead();
    this.flying.push(touched);
    const previous = this.applied;
    let appliedNow!: () => void;
    this.applied = new Promise((resolve) => (appliedNow = resolve));
    let rb;
    try {
      rb = await built.done;
      await previous;
      if (this.failure !== null) {
        rb.release();
        throw this.failure.error;
      }
    } catch (error) {
      this.failure ??= { error };
      for (const [q, p] of steps) if (p !== null) q.failStep(p, error);
      this.landed(touched, appliedNow);
      throw error;
    }
    // (this tick's queues that a later tick in flight pushes into: their fetched heads are stale)
    const later = new Set<GpuMessageQueue<any>>();
    for (const t of this.flying.slice(this.flying.indexOf(touched) + 1)) for (const q of t) later.add(q);
    try {
      const words = rb.words;
      for (const [q, p] of steps) if (p !== null) q.applyStep(p, words);
      const globalsOf = new Map<GpuMessageQueue<any>, Uint32Array>();
      for (const [q, at] of globals) globalsOf.set(q, words.subarray(at, at + GLOBAL_WORDS));
      for (const [q, g] of globalsOf) {
        if (!plan.kernels.some(({ kernel }) => (kernel as GpuKernel).queues.includes(q))) continue;
        const mark = this.marks.get(q)!;
        const pops = readU64(g, G.DEVPOPS);
        const pushes = readU64(g, G.DEVPUSHES);
        const dPops = pops - mark.pops;
        const dPushes = pushes - mark.pushes;
        mark.pops = pops;
        mark.pushes = pushes;
        const head = later.has(q) ? undefined : heads.get(q);
        q.applyDeviceRun(dPops, dPushes, g, head !== undefined ? words.subarray(head.at, head.at + head.words) : null);
      }
      const results = new Map<BackendKernel, KernelTickResult>();
      for (const [kernel, r] of kernels as readonly (readonly [GpuKernel, KernelReadback])[]) {
        results.set(kernel, kernel.readTick(words, r, kernel.output ? globalsOf.get(kernel.output) ?? null : null));
      }
      return { kernels: results };
    } finally {
      rb.release();
      this.landed(touched, appliedNow);
    }
  }

  private landed(touched: Set<GpuMessageQueue<any>>, appliedNow: () => void): void {
    this.flying = this.flying.filter((t) => t !== touched);
    appliedNow();
  }

  async dispose(): Promise<void> {
    this.unwatch?.();
    this.unwatch = null;
    this.hooks = null;
  }
}
