/**
 * The device memory of one GpuMessageQueue: its buffers, their sizes and initial state, the bind
 * groups over them, and the limits they impose on one submission. Knows nothing of messages or
 * waiters. Layout of every buffer: shaders/queue-common.wgsl.
 *
 * `QueueStorage.create` checks every buffer against the device's limits before allocating any
 * (a RangeError naming the limit) and allocates them inside error scopes, so a queue that
 * cannot exist fails at creation, never at first use.
 *
 * The upload (`inp`) and output (`outb`) buffers grow on demand up to `bufferLimit`; the op log
 * keeps every submission within `maxUploadWords` / `maxOutputWords`.
 */
import { checkBufferLimits, createBuffers, type BufferSpec } from '../device/buffers.js';
import type { StepEncoder } from '../device/submission.js';
import { BUCKETS, CTL_WORDS, F, G, NONE, PARAM_STRIDE, PARAM_WORDS, bk, writeU64 } from './layout.js';
import { queuePipelines, type QueuePipelines } from './pipelines.js';

/** Largest number of records one segment or one device-ordered push carries (keeps every dispatch within 65535 x 65535 workgroups, and scratch bounded). */
export const SEG_CAP = 1 << 20;
/** Params records one submission can need (<= 2 x 64 segments of <= 5 dispatch records, + a head fetch). */
export const MAX_PARAM_RECORDS = 2 * 64 * 5 + 2;
/** Most head records a submission fetches. */
export const MAX_HEAD = 64;
/** Word offset of the plan arrays' chunk table (PL_CHUNK in queue-seg.wgsl). */
const PLAN_CHUNK = 2320;

export interface StorageOptions {
  maxSize: number;
  /** payload words per message (0 in opaque mode: the sequence number identifies a message) */
  words: number;
  /** DROP_OLDEST needs scratch for the eviction's sequence lists */
  dropOldest: boolean;
  /** first ticket of every bucket (tests of u32 ticket wrap-around) */
  initialTicket?: number;
  /** first insertion sequence number, below 2^53 (tests of long-lived queues) */
  initialSeq?: number;
  /** block size as a power of two exponent; default from maxSize */
  blockShift?: number;
  /** largest upload/output binding in bytes (tests); never above the device's limits */
  maxBindingBytes?: number;
  /** what the queue is, for error messages */
  purpose: string;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Sizes of everything, from the options alone (nothing allocated). */
function plan(device: GPUDevice, o: StorageOptions) {
  const { maxSize, words } = o;
  let shift = o.blockShift;
  if (shift === undefined) {
    shift = 2;
    while (shift < 6 && 1 << (shift + 1) <= maxSize / 512) shift++;
  }
  const blockSize = 1 << shift;
  const nBlocks = Math.ceil(maxSize / blockSize) + 2 * BUCKETS;
  const slots = nBlocks * blockSize;
  const segN = Math.min(maxSize, SEG_CAP);
  // scratch: block tables at 0, eviction seq lists (2 words each) at seqOff, newly linked
  // blocks at allocOff, plan arrays at planOff; a device-ordered push uses ranks at 0 and chunk
  // histograms after them
  const seqOff = nBlocks + 3 * BUCKETS;
  const allocOff = seqOff + (o.dropOldest ? 2 * maxSize : 0) + 16;
  const planOff = allocOff + nBlocks + 16;
  const planWords = PLAN_CHUNK + Math.ceil(maxSize / BUCKETS) + 16;
  const scrWords = Math.max(segN + BUCKETS * Math.ceil(segN / BUCKETS), planOff + planWords) + 16;
  const bindingLimit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const bufferLimit = Math.floor(Math.min(bindingLimit, o.maxBindingBytes ?? Infinity) / 4) * 4;
  return { shift, blockSize, nBlocks, slots, seqOff, allocOff, planOff, scrWords, bufferLimit, segN };
}

export class QueueStorage {
  readonly device: GPUDevice;
  readonly maxSize: number;
  readonly words: number;
  readonly blockShift: number;
  readonly blockSize: number;
  readonly nBlocks: number;
  /** bytes of GPU memory held (storage buffers; upload, output and staging excluded) */
  readonly bytes: number;
  /** largest inp/outb buffer in bytes (a storage binding; multiple of 4) */
  readonly bufferLimit: number;
  /** largest upload (Params records excluded) one submission may carry, in words */
  readonly maxUploadWords: number;
  /** largest drop + pop output one submission may produce, in words (the head fetch is extra) */
  readonly maxOutputWords: number;
  readonly seqOff: number;
  /** record positions one device-ordered push can carry: its ranks sit at scratch 0, its chunk histograms from here */
  readonly ingestCapacity: number;
  readonly allocOff: number;
  readonly planOff: number;
  readonly p: QueuePipelines;
  readonly ctl: GPUBuffer;
  readonly blk: GPUBuffer;
  readonly pool: GPUBuffer;
  readonly seqs: GPUBuffer;
  readonly scr: GPUBuffer;
  /** upload of a host step (Params records at its start, bound as uniform), or a user kernel's inbox */
  inp: GPUBuffer;
  outb: GPUBuffer;
  /** Params records of device-side runs (constant per run shape) */
  private params: GPUBuffer;
  /** dispatch size of a device-ordered push, copied from ctl[G.IND] */
  readonly indirect: GPUBuffer;
  private bindGroup: GPUBindGroup | null = null;
  private inpParamGroups: GPUBindGroup[] = [];
  private runParamGroups: GPUBindGroup[] = [];
  private apiGroup: GPUBindGroup | null = null;
  private destroyed = false;

  /** Every buffer it holds now (`inp` and `outb` may be replaced as they grow). */
  get buffers(): GPUBuffer[] {
    return [this.ctl, this.blk, this.pool, this.seqs, this.scr, this.inp, this.outb, this.params, this.indirect];
  }

  /** Checks every buffer against the device's limits, then allocates them in error scopes. */
  static async create(device: GPUDevice, options: StorageOptions): Promise<QueueStorage> {
    const sz = plan(device, options);
    const W = options.words;
    const S = GPUBufferUsage.STORAGE;
    const why = options.purpose;
    const minUpload = (MAX_PARAM_RECORDS * PARAM_STRIDE) / 4 + 2 * BUCKETS + W + 1;
    if (sz.bufferLimit / 4 < minUpload + 64 * (W + 2)) {
      throw new RangeError(`a ${sz.bufferLimit}-byte binding limit is too small for ${W * 4}-byte messages (${why})`);
    }
    const specs = {
      ctl: { label: 'rk-ctl', size: CTL_WORDS * 4, usage: S | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, binding: 'storage', purpose: why },
      blk: { label: 'rk-blk', size: 2 * sz.nBlocks * 4, usage: S | GPUBufferUsage.COPY_DST, binding: 'storage', purpose: why },
      pool: { label: 'rk-pool', size: sz.slots * W * 4, usage: S | GPUBufferUsage.COPY_DST, binding: 'storage', purpose: why },
      seqs: { label: 'rk-seqs', size: sz.slots * 8, usage: S | GPUBufferUsage.COPY_DST, binding: 'storage', purpose: why },
      scr: { label: 'rk-scratch', size: sz.scrWords * 4, usage: S, binding: 'storage', purpose: why },
      inp: { label: 'rk-in', size: 4096, usage: S | GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM, binding: 'storage', purpose: why },
      outb: { label: 'rk-out', size: 4096, usage: S | GPUBufferUsage.COPY_SRC, binding: 'storage', purpose: why },
      params: { label: 'rk-params', size: PARAM_STRIDE * 4, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, binding: 'uniform', purpose: why },
      indirect: { label: 'rk-indirect', size: 16, usage: GPUBufferUsage.INDIRECT | GPUBufferUsage.COPY_DST, purpose: why },
    } as const;
    const buffers = await createBuffers(device, specs);
    return new QueueStorage(device, options, sz, buffers);
  }

  private constructor(
    device: GPUDevice,
    options: StorageOptions,
    sz: ReturnType<typeof plan>,
    b: Record<'ctl' | 'blk' | 'pool' | 'seqs' | 'scr' | 'inp' | 'outb' | 'params' | 'indirect', GPUBuffer>,
  ) {
    this.device = device;
    this.p = queuePipelines(device);
    this.maxSize = options.maxSize;
    this.words = options.words;
    this.blockShift = sz.shift;
    this.blockSize = sz.blockSize;
    this.nBlocks = sz.nBlocks;
    this.seqOff = sz.seqOff;
    this.ingestCapacity = sz.segN;
    this.allocOff = sz.allocOff;
    this.planOff = sz.planOff;
    this.bufferLimit = sz.bufferLimit;
    this.maxUploadWords = this.bufferLimit / 4 - (MAX_PARAM_RECORDS * PARAM_STRIDE) / 4;
    this.maxOutputWords = this.bufferLimit / 4 - MAX_HEAD * (this.words + 2);
    ({ ctl: this.ctl, blk: this.blk, pool: this.pool, seqs: this.seqs, scr: this.scr, inp: this.inp, outb: this.outb, params: this.params, indirect: this.indirect } = b);
    this.bytes = this.ctl.size + this.blk.size + this.pool.size + this.seqs.size + this.scr.size;

    // initial state: every bucket owns block k (empty, head == tail), the rest are free
    const ctl = new Uint32Array(CTL_WORDS);
    const t0 = (options.initialTicket ?? 0) >>> 0;
    const seq = options.initialSeq ?? 0;
    writeU64(ctl, G.NEXTSEQ, seq);
    ctl[G.CAP] = options.maxSize;
    ctl[G.BSHIFT] = sz.shift;
    ctl[G.NB] = sz.nBlocks;
    ctl[G.W] = options.words;
    ctl[G.FREETOP] = sz.nBlocks - BUCKETS;
    for (let k = 0; k < BUCKETS; k++) {
      ctl[bk(F.HEAD, k)] = t0;
      ctl[bk(F.TAIL, k)] = t0;
      ctl[bk(F.HEADBLK, k)] = k;
      ctl[bk(F.TAILBLK, k)] = k;
    }
    device.queue.writeBuffer(this.ctl, 0, ctl);
    const blk = new Uint32Array(2 * sz.nBlocks);
    blk.fill(NONE, 0, sz.nBlocks);
    for (let i = 0; i < sz.nBlocks - BUCKETS; i++) blk[sz.nBlocks + i] = BUCKETS + i;
    device.queue.writeBuffer(this.blk, 0, blk);
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Grows `inp` or `outb` to hold `bytes` (bind groups over it are rebuilt on next use); `e` allocates it inside its submission's out-of-memory scope. */
  ensure(which: 'inp' | 'outb', bytes: number, e: StepEncoder): void {
    if (this[which].size >= bytes) return;
    const spec = this.growth(which, bytes);
    checkBufferLimits(this.device, spec);
    this.replace(which, e.createBuffer(spec));
  }

  /**
   * Grows `inp` or `outb` ahead of a submission and waits for the allocation: out of memory
   * rejects (GpuOutOfMemoryError) and leaves the queue with the buffers it had. A device kernel
   * run reserves first, so its failure cannot leave the queue without a usable buffer.
   */
  async reserve(which: 'inp' | 'outb', bytes: number): Promise<void> {
    if (this[which].size >= bytes) return;
    const made = await createBuffers(this.device, { [which]: this.growth(which, bytes) });
    if (this.destroyed) {
      made[which].destroy(); // the queue was closed while the allocation was checked
      return;
    }
    if (this[which].size >= bytes) made[which].destroy(); // grown meanwhile
    else this.replace(which, made[which]);
  }

  private growth(which: 'inp' | 'outb', bytes: number): BufferSpec & { binding: 'storage' } {
    if (bytes > this.bufferLimit) {
      throw new RangeError(`ringkernel: a ${bytes}-byte ${which} buffer exceeds the ${this.bufferLimit}-byte binding limit (internal error)`);
    }
    return {
      label: `rk-${which}`,
      size: Math.min(nextPow2(bytes), this.bufferLimit),
      usage:
        which === 'inp'
          ? GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM
          : GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
      binding: 'storage',
    };
  }

  private replace(which: 'inp' | 'outb', buffer: GPUBuffer): void {
    this[which].destroy();
    this[which] = buffer;
    this.bindGroup = null;
    this.apiGroup = null;
    if (which === 'inp') this.inpParamGroups = [];
  }

  /** Group 0 of the queue's own pipelines. */
  group(): GPUBindGroup {
    this.bindGroup ??= this.device.createBindGroup({
      layout: this.p.layout,
      entries: [this.ctl, this.blk, this.pool, this.seqs, this.inp, this.outb, this.scr].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    return this.bindGroup;
  }

  /** Group 0 over this queue with other `inp`/`outb` buffers (a ring kernel's emits and replies). */
  groupWith(inp: GPUBuffer, outb: GPUBuffer): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.p.layout,
      entries: [this.ctl, this.blk, this.pool, this.seqs, inp, outb, this.scr].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /** The bind group a user kernel's device-side API sees (ctl, blk, pool, inbox). */
  deviceApiGroup(): GPUBindGroup {
    this.apiGroup ??= this.device.createBindGroup({
      layout: this.p.deviceApiLayout,
      entries: [this.ctl, this.blk, this.pool, this.inp].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    return this.apiGroup;
  }

  /** Group 1 for the Params record at slot `i` at the start of `inp` (a host step's records). */
  inpParamGroup(i: number): GPUBindGroup {
    return (this.inpParamGroups[i] ??= paramGroup(this.device, this.p, this.inp, i));
  }

  /** Group 1 for record `i` of the device-run params buffer; `write` replaces its records. */
  runParamGroup(i: number): GPUBindGroup {
    return (this.runParamGroups[i] ??= paramGroup(this.device, this.p, this.params, i));
  }
  writeRunParams(records: Uint32Array): void {
    this.device.queue.writeBuffer(this.params, 0, records);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of [this.ctl, this.blk, this.pool, this.seqs, this.scr, this.inp, this.outb, this.params, this.indirect]) b.destroy();
    this.bindGroup = null;
    this.apiGroup = null;
    this.inpParamGroups = [];
    this.runParamGroups = [];
  }
}

/** A bind group for one Params record at a static offset (dynamic uniform offsets cost ~100 us per dispatch on lavapipe). */
export function paramGroup(device: GPUDevice, p: QueuePipelines, buffer: GPUBuffer, i: number): GPUBindGroup {
  return device.createBindGroup({
    layout: p.paramLayout,
    entries: [{ binding: 0, resource: { buffer, offset: i * PARAM_STRIDE, size: PARAM_WORDS * 4 } }],
  });
}

/** Params records built on the host: `add()` a record, `set` its fields. */
export class ParamRecords {
  data = new Uint32Array((16 * PARAM_STRIDE) / 4);
  count = 0;
  reset(): void {
    this.count = 0;
  }
  add(): number {
    const r = this.count++;
    const words = PARAM_STRIDE / 4;
    if ((r + 1) * words > this.data.length) {
      const bigger = new Uint32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data.fill(0, r * words, r * words + PARAM_WORDS);
    return r;
  }
  set(r: number, field: number, v: number): void {
    this.data[(r * PARAM_STRIDE) / 4 + field] = v;
  }
  get(r: number, field: number): number {
    return this.data[(r * PARAM_STRIDE) / 4 + field];
  }
  /** words the records occupy (PARAM_STRIDE bytes each) */
  get words(): number {
    return (this.count * PARAM_STRIDE) / 4;
  }
}
