/**
 * The device half of GpuMessageQueue: GPU buffers, pipelines, and the encoding of one
 * submission from a list of segments. Knows nothing of waiters or JS messages: it moves u32
 * records. See shaders/queue-*.wgsl for layout, phases and invariants.
 *
 * COST MODEL (measured on Mesa lavapipe; the dispatch choice is in shaders/queue-seg.wgsl)
 *   A submission is one writeBuffer (params records + every segment's upload), one command
 *   buffer, two copies into a pooled readback buffer (the outputs, then the globals) and one
 *   mapAsync. Params are bound as group 1
 *   at static offsets with cached bind groups: a dynamic uniform offset cost ~100 us per dispatch
 *   there. Each extra dispatch costs ~20-30 us; per-invocation work in big dispatches must stay
 *   O(1) (a 256-entry binary search in workgroup memory per invocation cost 9 ms per 128 Ki).
 */
import commonWgsl from '../../shaders/queue-common.wgsl';
import bindingsWgsl from '../../shaders/queue-bindings.wgsl';
import pushWgsl from '../../shaders/queue-push.wgsl';
import takeWgsl from '../../shaders/queue-take.wgsl';
import deviceWgsl from '../../shaders/queue-device.wgsl';
import segWgsl from '../../shaders/queue-seg.wgsl';

export const BUCKETS = 256;
export const CTL_WORDS = 32 + 12 * BUCKETS;
export const GLOBAL_WORDS = 32;
/** Largest number of pushes one segment carries (keeps every dispatch within 65535 x 65535 workgroups, and scratch bounded). */
export const SEG_CAP = 1 << 20;
const PARAM_STRIDE = 256; // minUniformBufferOffsetAlignment
const PARAM_WORDS = 24;
/** Segments with at most this many push + output items run their move inside seg_main (one dispatch). */
const SMALL_ITEMS = 2048;
/** Segments with at most this many pushes + pops run as one serial invocation (seg_tiny: no barriers). */
const TINY_ITEMS = 128;

export const G = {
  COUNT: 0, NEXTSEQ: 1, ENQ: 2, DEQ: 3, DROPPED: 4, FREETOP: 5, ERR: 6, CAP: 7, BSHIFT: 8, NB: 9, W: 10,
  PLANSEQ: 11, TOTAL: 12, INBOX: 13, AVAIL: 14, CLEARED: 15, BITMAP: 16, INBOX_CAP: 24, DEVPOPS: 25, DEVPUSHES: 26,
} as const;
export const F = { HEAD: 0, TAIL: 1, HEADBLK: 2, TAILBLK: 3 } as const;
export const bk = (f: number, k: number): number => 32 + f * BUCKETS + k;

export const QUEUE_WGSL = [commonWgsl, bindingsWgsl, pushWgsl, takeWgsl, deviceWgsl, segWgsl].join('\n');
const G_IND = 27;

interface Pipelines {
  layout: GPUBindGroupLayout;
  paramLayout: GPUBindGroupLayout;
  segMain: GPUComputePipeline;
  segMove: GPUComputePipeline;
  segTiny: GPUComputePipeline;
  pushRank: GPUComputePipeline;
  pushScan: GPUComputePipeline;
  pushScatter: GPUComputePipeline;
  takePlan: GPUComputePipeline;
  takeGather: GPUComputePipeline;
  dropSelect: GPUComputePipeline;
  devPrepare: GPUComputePipeline;
  devCommit: GPUComputePipeline;
}
const pipelineCache = new WeakMap<GPUDevice, Pipelines>();

export function queuePipelines(device: GPUDevice): Pipelines {
  let p = pipelineCache.get(device);
  if (p) return p;
  const module = device.createShaderModule({ code: QUEUE_WGSL, label: 'ringkernel-queue' });
  const storage = (readOnly = false): GPUBindGroupLayoutEntry['buffer'] => ({ type: readOnly ? 'read-only-storage' : 'storage' });
  const layout = device.createBindGroupLayout({
    label: 'ringkernel-queue',
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: storage() },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: storage() },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: storage() },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: storage() },
      { binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: storage(true) },
      { binding: 5, visibility: GPUShaderStage.COMPUTE, buffer: storage() },
      { binding: 6, visibility: GPUShaderStage.COMPUTE, buffer: storage() },
    ],
  });
  const paramLayout = device.createBindGroupLayout({
    label: 'ringkernel-queue-params',
    entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', minBindingSize: PARAM_WORDS * 4 } }],
  });
  const pl = device.createPipelineLayout({ bindGroupLayouts: [layout, paramLayout] });
  const make = (entryPoint: string): GPUComputePipeline =>
    device.createComputePipeline({ layout: pl, compute: { module, entryPoint }, label: entryPoint });
  p = {
    layout,
    paramLayout,
    segMain: make('seg_main'),
    segMove: make('seg_move'),
    segTiny: make('seg_tiny'),
    pushRank: make('push_rank'),
    pushScan: make('push_scan'),
    pushScatter: make('push_scatter'),
    takePlan: make('take_plan'),
    takeGather: make('take_gather'),
    dropSelect: make('drop_select'),
    devPrepare: make('dev_prepare'),
    devCommit: make('dev_commit'),
  };
  pipelineCache.set(device, p);
  return p;
}

/** One device-side step: drop `dropExisting` oldest, push the uploaded records, then take `popCount` in priority order. */
export interface Segment {
  dropExisting: number;
  /**
   * Word offset in the submission's upload of this segment's 256 bucket counts, followed by its
   * pushCount records ((index << 8) | priority, W words) stably sorted by bucket, bucket 255 first
   * (see shaders/queue-seg.wgsl).
   */
  uploadOff: number;
  pushCount: number;
  seqSkip: number;
  popCount: number;
  popIsClear: boolean;
  popNeedsOutput: boolean;
}

export interface SegmentResult {
  /** [seq, priority, W words] records of the dropped messages (bucket order: sort by seq). */
  dropped: Uint32Array | null;
  popped: Uint32Array | null;
}

export interface SubmissionResult {
  segments: SegmentResult[];
  peek: Uint32Array | null;
  globals: Uint32Array;
  /** host copy of the readback that the views above share; give it back with `recycle` once decoded */
  host: Uint32Array;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export interface EngineOptions {
  maxSize: number;
  words: number;
  initialTicket?: number;
  initialSeq?: number;
  /** block size as a power of two exponent; default from maxSize */
  blockShift?: number;
  /** @internal largest upload/output binding in bytes (tests); never above the device's limits */
  maxBindingBytes?: number;
}

/** Params records one submission can need (<= 2 x 64 segments of <= 5 dispatch records, + peek). */
const MAX_PARAM_RECORDS = 2 * 64 * 5 + 2;

/** Timing counters (ms) for the profile: host encoding, submit, waiting for the map. */
export interface EngineProfile {
  submissions: number;
  dispatches: number;
  encodeMs: number;
  mapWaitMs: number;
  decodeMs: number;
}

export class QueueEngine {
  readonly device: GPUDevice;
  readonly words: number;
  readonly blockShift: number;
  readonly blockSize: number;
  readonly nBlocks: number;
  readonly slots: number;
  readonly bytes: number;
  /** largest inp/outb buffer in bytes (a storage binding; multiple of 4) */
  readonly bufferLimit: number;
  /** largest upload (Segment counts + records) one submit() may carry, in words */
  readonly maxUploadWords: number;
  /** largest drop + pop output one submit() may produce, in words (the peek is extra: <= 64 records) */
  readonly maxOutputWords: number;
  private readonly p: Pipelines;
  readonly ctl: GPUBuffer;
  readonly blk: GPUBuffer;
  readonly pool: GPUBuffer;
  readonly seqs: GPUBuffer;
  private inp: GPUBuffer;
  private outb: GPUBuffer;
  readonly scr: GPUBuffer;
  private params: GPUBuffer;
  private bindGroup: GPUBindGroup | null = null;
  private paramGroups: GPUBindGroup[] = [];
  private readonly seqOff: number;
  private readonly allocOff: number;
  private readonly planOff: number;
  private paramData = new Uint32Array((16 * PARAM_STRIDE) / 4);
  private readonly readbacks = new Map<number, GPUBuffer[]>();
  private destroyed = false;
  readonly profile: EngineProfile = { submissions: 0, dispatches: 0, encodeMs: 0, mapWaitMs: 0, decodeMs: 0 };

  constructor(device: GPUDevice, readonly options: EngineOptions) {
    this.device = device;
    this.p = queuePipelines(device);
    const { maxSize, words } = options;
    this.words = words;
    let shift = options.blockShift;
    if (shift === undefined) {
      shift = 2;
      while (shift < 6 && 1 << (shift + 1) <= maxSize / 512) shift++;
    }
    this.blockShift = shift;
    this.blockSize = 1 << shift;
    this.nBlocks = Math.ceil(maxSize / this.blockSize) + 2 * BUCKETS;
    this.slots = this.nBlocks * this.blockSize;
    const limit = device.limits.maxStorageBufferBindingSize;
    this.bufferLimit = Math.floor(Math.min(limit, device.limits.maxBufferSize, options.maxBindingBytes ?? Infinity) / 4) * 4;
    this.maxUploadWords = this.bufferLimit / 4 - (MAX_PARAM_RECORDS * PARAM_STRIDE) / 4;
    this.maxOutputWords = this.bufferLimit / 4 - 64 * (words + 2);
    if (this.maxUploadWords < 2 * BUCKETS + words + 1 || this.maxOutputWords < words + 2) {
      throw new RangeError(`a ${this.bufferLimit}-byte buffer limit is too small for ${words * 4}-byte messages`);
    }
    const poolBytes = this.slots * words * 4;
    if (poolBytes > limit) {
      throw new RangeError(
        `maxSize ${maxSize} with ${words * 4}-byte messages needs a ${poolBytes}-byte storage binding; this device allows ${limit}`,
      );
    }
    const segN = Math.min(maxSize, SEG_CAP);
    // scratch: block table at 0, drop seq lists at seqOff, allocated-block lists at allocOff;
    // the inbox ingest (push_rank/push_scan) uses ranks at 0 and chunk histograms after them
    this.seqOff = this.nBlocks + 3 * BUCKETS;
    this.allocOff = this.seqOff + maxSize + 16;
    this.planOff = this.allocOff + this.nBlocks + 16;
    const planWords = 2320 + Math.ceil(maxSize / BUCKETS) + 16; // PL_CHUNK + chunk table
    const scrWords = Math.max(segN + BUCKETS * Math.ceil(segN / BUCKETS), this.planOff + planWords) + 16;
    const S = GPUBufferUsage.STORAGE;
    const mk = (label: string, size: number, usage: number): GPUBuffer => device.createBuffer({ label, size: Math.max(16, size), usage });
    this.ctl = mk('rk-ctl', CTL_WORDS * 4, S | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.blk = mk('rk-blk', 2 * this.nBlocks * 4, S | GPUBufferUsage.COPY_DST);
    this.pool = mk('rk-pool', poolBytes, S);
    this.seqs = mk('rk-seqs', this.slots * 4, S);
    this.scr = mk('rk-scratch', scrWords * 4, S);
    // inp also serves the params records of submit() (uniform, at static offsets before the upload)
    this.inp = mk('rk-in', 4096, S | GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM);
    this.outb = mk('rk-out', 4096, S | GPUBufferUsage.COPY_SRC);
    this.params = mk('rk-params', PARAM_STRIDE * 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.bytes = CTL_WORDS * 4 + 2 * this.nBlocks * 4 + poolBytes + this.slots * 4 + scrWords * 4;

    // initial state: every bucket owns block k (empty, head == tail), the rest are free
    const ctl = new Uint32Array(CTL_WORDS);
    const t0 = (options.initialTicket ?? 0) >>> 0;
    ctl[G.NEXTSEQ] = (options.initialSeq ?? 0) >>> 0;
    ctl[G.CAP] = maxSize;
    ctl[G.BSHIFT] = shift;
    ctl[G.NB] = this.nBlocks;
    ctl[G.W] = words;
    ctl[G.FREETOP] = this.nBlocks - BUCKETS;
    for (let k = 0; k < BUCKETS; k++) {
      ctl[bk(F.HEAD, k)] = t0;
      ctl[bk(F.TAIL, k)] = t0;
      ctl[bk(F.HEADBLK, k)] = k;
      ctl[bk(F.TAILBLK, k)] = k;
    }
    device.queue.writeBuffer(this.ctl, 0, ctl);
    const blk = new Uint32Array(2 * this.nBlocks);
    blk.fill(0xffffffff, 0, this.nBlocks);
    for (let i = 0; i < this.nBlocks - BUCKETS; i++) blk[this.nBlocks + i] = BUCKETS + i;
    device.queue.writeBuffer(this.blk, 0, blk);
  }

  private ensure(which: 'inp' | 'outb' | 'params', bytes: number): void {
    const buf = this[which];
    if (buf.size >= bytes) return;
    if (bytes > this.bufferLimit) {
      throw new RangeError(`ringkernel: a ${bytes}-byte ${which} buffer exceeds the ${this.bufferLimit}-byte binding limit (internal error)`);
    }
    const size = Math.min(nextPow2(bytes), this.bufferLimit);
    const usage =
      which === 'inp'
        ? GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM
        : which === 'outb'
          ? GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC
          : GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    buf.destroy();
    this[which] = this.device.createBuffer({ label: `rk-${which}`, size, usage });
    if (which === 'params') this.paramGroups = [];
    else this.bindGroup = null;
    if (which === 'inp') this.inpParamGroups = [];
  }

  /** Bind group 1 for params record `i` of submit(), which live at the start of inp. */
  private inpParamGroup(i: number): GPUBindGroup {
    return this.cachedParamGroup(this.inpParamGroups, this.inp, i);
  }
  private inpParamGroups: GPUBindGroup[] = [];
  private staging = new Uint32Array(1024);

  /** Bind group 1 for params record `i` (static offset; cached until the params buffer grows). */
  private paramGroup(i: number): GPUBindGroup {
    return this.cachedParamGroup(this.paramGroups, this.params, i);
  }

  /** Bind group 1 for the params record at slot `i` of `buffer`, created once and kept in `cache` (emptied when the buffer is replaced). */
  private cachedParamGroup(cache: GPUBindGroup[], buffer: GPUBuffer, i: number): GPUBindGroup {
    let g = cache[i];
    if (g) return g;
    g = this.device.createBindGroup({
      layout: this.p.paramLayout,
      entries: [{ binding: 0, resource: { buffer, offset: i * PARAM_STRIDE, size: PARAM_WORDS * 4 } }],
    });
    cache[i] = g;
    return g;
  }

  private group(): GPUBindGroup {
    if (this.bindGroup) return this.bindGroup;
    const b = (buffer: GPUBuffer) => ({ buffer });
    this.bindGroup = this.device.createBindGroup({
      layout: this.p.layout,
      entries: [
        { binding: 0, resource: b(this.ctl) },
        { binding: 1, resource: b(this.blk) },
        { binding: 2, resource: b(this.pool) },
        { binding: 3, resource: b(this.seqs) },
        { binding: 4, resource: b(this.inp) },
        { binding: 5, resource: b(this.outb) },
        { binding: 6, resource: b(this.scr) },
      ],
    });
    return this.bindGroup;
  }

  private takeReadback(bytes: number): GPUBuffer {
    // a readback buffer is no binding, but stays within maxBufferSize
    const size = Math.max(bytes, Math.min(nextPow2(Math.max(bytes, 256)), Math.floor(this.device.limits.maxBufferSize / 4) * 4));
    const list = this.readbacks.get(size);
    const buf = list?.pop();
    if (buf) return buf;
    return this.device.createBuffer({ label: 'rk-readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }
  private giveReadback(buf: GPUBuffer): void {
    if (this.destroyed) return buf.destroy();
    let list = this.readbacks.get(buf.size);
    if (!list) this.readbacks.set(buf.size, (list = []));
    if (list.length < 4) list.push(buf);
    else buf.destroy();
  }

  /**
   * Encodes and submits the segments (in order), then a fetch of the `peekCount` most urgent
   * messages; resolves with the outputs once the readback is mapped. `upload` holds every
   * segment's counts and records (Segment.uploadOff).
   */
  submit(segments: readonly Segment[], upload: Uint32Array | null, peekCount: number, deviceSizeAtStart: number): Promise<SubmissionResult> {
    return this.scoped(() => this.submitScoped(segments, upload, peekCount, deviceSizeAtStart));
  }

  /**
   * Runs `body` (which encodes and submits) inside a validation error scope: the result rejects
   * when the GPU refused any of it (Dawn drops an invalid command buffer and only logs), so no
   * readback of a submission that never ran is decoded.
   */
  private scoped<R>(body: () => Promise<R>): Promise<R> {
    const device = this.device;
    device.pushErrorScope('validation');
    let result: Promise<R>;
    try {
      result = body();
    } catch (error) {
      void device.popErrorScope().catch(() => undefined);
      throw error;
    }
    const scope = device.popErrorScope();
    return Promise.all([scope, result]).then(
      ([error, r]) => {
        if (error) throw new Error(`ringkernel: the GPU rejected a submission: ${error.message}`);
        return r;
      },
      (error: unknown) => {
        // surface the validation error (the cause) rather than a follow-on failure
        return scope.then(
          (e) => {
            throw e ? new Error(`ringkernel: the GPU rejected a submission: ${e.message}`) : error;
          },
          () => {
            throw error;
          },
        );
      },
    );
  }

  private submitScoped(segments: readonly Segment[], upload: Uint32Array | null, peekCount: number, deviceSizeAtStart: number): Promise<SubmissionResult> {
    const t0 = performance.now();
    const W = this.words;
    const R = W + 2;
    // layout of the outputs
    let outWords = 0;
    const nSeg = segments.length;
    const dropOut = new Array<number>(nSeg);
    const popOut = new Array<number>(nSeg);
    for (let i = 0; i < nSeg; i++) {
      const s = segments[i];
      dropOut[i] = outWords;
      outWords += s.dropExisting * R;
      popOut[i] = outWords;
      if (s.popNeedsOutput) outWords += s.popCount * R;
    }
    const peekOut = outWords;
    outWords += peekCount * R;
    const globalsOut = outWords;
    const totalOut = outWords + GLOBAL_WORDS;

    this.ensure('outb', Math.max(outWords * 4, 16));

    // dispatch list with params records
    const plan = this.plan;
    plan.length = 0;
    let nRec = 0;
    const p = this.p;
    const rec = (): number => {
      const r = nRec++;
      if ((r + 1) * PARAM_STRIDE > this.paramData.byteLength) {
        const bigger = new Uint32Array(this.paramData.length * 2);
        bigger.set(this.paramData);
        this.paramData = bigger;
      }
      this.paramData.fill(0, (r * PARAM_STRIDE) / 4, (r * PARAM_STRIDE) / 4 + PARAM_WORDS);
      return r;
    };
    const set = (r: number, field: keyof typeof PF, v: number): void => {
      this.paramData[(r * PARAM_STRIDE) / 4 + PF[field]] = v;
    };
    const dispatch = (pipeline: GPUComputePipeline, threads: number, r: number): void => {
      const wgs = Math.max(1, Math.ceil(threads / 256));
      const x = Math.min(wgs, 65535);
      plan.push({ pipeline, x, y: Math.ceil(wgs / x), rec: r });
    };
    const tableOff = 0;
    const seqOff = this.seqOff;
    let devSize = deviceSizeAtStart;
    let lastMain = -1; // params record of the last seg_main whose move ran inside it
    for (let i = 0; i < nSeg; i++) {
      const s = segments[i];
      lastMain = -1;
      if (s.dropExisting > 0) {
        const e = s.dropExisting;
        let r = rec();
        set(r, 'n', e), set(r, 'mode', 2), set(r, 'seqOff', seqOff);
        dispatch(p.takePlan, 1, r);
        const limit = Math.min(256 * e, devSize);
        r = rec();
        set(r, 'mode', 1), set(r, 'seqOff', seqOff), set(r, 'limit', limit);
        dispatch(p.takeGather, limit, r);
        r = rec();
        set(r, 'n', e), set(r, 'seqOff', seqOff);
        dispatch(p.dropSelect, 1, r);
        r = rec();
        set(r, 'outOff', dropOut[i]), set(r, 'limit', e);
        dispatch(p.takeGather, e, r);
        devSize -= e;
      }
      const n = s.pushCount;
      const K = s.popCount;
      if (n > 0 || K > 0 || s.seqSkip > 0) {
        const kOut = s.popNeedsOutput ? K : 0;
        const kOld = Math.min(kOut, devSize); // pops that can hit messages present before the segment
        const items = n + kOld;
        const tiny = n + K <= TINY_ITEMS;
        const small = items <= SMALL_ITEMS;
        const r = rec();
        set(r, 'n', n), set(r, 'popK', K), set(r, 'kOut', kOut), set(r, 'kOld', kOld), set(r, 'seqSkip', s.seqSkip);
        set(r, 'inOff', s.uploadOff + BUCKETS), set(r, 'cntOff', s.uploadOff), set(r, 'outOff', popOut[i]);
        set(r, 'tableOff', tableOff), set(r, 'allocOff', this.allocOff), set(r, 'planOff', this.planOff);
        set(r, 'flags', (s.popIsClear ? 1 : 0) | (small ? 8 : 0));
        if (tiny && n > 0) {
          // the pushed priorities' range, so seg_tiny visits only those buckets
          let lo = BUCKETS - 1;
          let hi = 0;
          for (let k = 0; k < BUCKETS; k++) {
            if (upload![s.uploadOff + k] !== 0) {
              if (k < lo) lo = k;
              hi = k;
            }
          }
          set(r, 'kLo', lo), set(r, 'kHi', hi);
        }
        if (tiny) dispatch(p.segTiny, 1, r);
        else dispatch(p.segMain, 1, r);
        if (!small && !tiny) dispatch(p.segMove, items, r);
        else lastMain = r;
        devSize += n - K;
      }
    }
    if (peekCount > 0) {
      let r = lastMain;
      if (r < 0) {
        r = rec();
        set(r, 'tableOff', tableOff), set(r, 'allocOff', this.allocOff), set(r, 'planOff', this.planOff);
        dispatch(p.segTiny, 1, r);
      }
      set(r, 'flags', this.paramData[(r * PARAM_STRIDE) / 4 + PF.flags] | 16);
      set(r, 'peekN', peekCount), set(r, 'peekOff', peekOut);
    }
    // one upload: the params records, then the segments' counts and records (offsets shifted)
    const base = (nRec * PARAM_STRIDE) / 4;
    const upWords = upload === null ? 0 : upload.length;
    for (let r = 0; r < nRec; r++) {
      this.paramData[(r * PARAM_STRIDE) / 4 + PF.inOff] += base;
      this.paramData[(r * PARAM_STRIDE) / 4 + PF.cntOff] += base;
    }
    if (nRec > 0) {
      const total = base + upWords;
      if (this.staging.length < total) this.staging = new Uint32Array(nextPow2(total));
      const st = this.staging;
      st.set(this.paramData.subarray(0, base));
      if (upWords > 0) st.set(upload!, base);
      this.ensure('inp', total * 4);
      this.device.queue.writeBuffer(this.inp, 0, st.buffer, 0, total * 4);
    }

    const bg = this.group();
    const enc = this.device.createCommandEncoder();
    if (plan.length > 0) {
      const pass = enc.beginComputePass();
      pass.setBindGroup(0, bg);
      let last: GPUComputePipeline | null = null;
      let lastRec = -1;
      for (const d of plan) {
        if (d.pipeline !== last) pass.setPipeline((last = d.pipeline));
        if (d.rec !== lastRec) pass.setBindGroup(1, this.inpParamGroup((lastRec = d.rec)));
        pass.dispatchWorkgroups(d.x, d.y);
      }
      pass.end();
    }
    const bytes = totalOut * 4;
    const rb = this.takeReadback(bytes);
    if (outWords > 0) enc.copyBufferToBuffer(this.outb, 0, rb, 0, outWords * 4);
    enc.copyBufferToBuffer(this.ctl, 0, rb, globalsOut * 4, GLOBAL_WORDS * 4);
    this.device.queue.submit([enc.finish()]);
    this.profile.submissions++;
    this.profile.dispatches += plan.length;
    const t1 = performance.now();
    this.profile.encodeMs += t1 - t0;
    return rb.mapAsync(GPUMapMode.READ, 0, bytes).then(
      () => {
        const t2 = performance.now();
        this.profile.mapWaitMs += t2 - t1;
        // copy into a reused host buffer (a fresh one per submission costs page faults here)
        let host = this.hostPool.pop();
        if (host === undefined || host.length < totalOut) host = new Uint32Array(nextPow2(totalOut));
        host.set(new Uint32Array(rb.getMappedRange(0, bytes)));
        const data = host;
        rb.unmap();
        this.giveReadback(rb);
        const result: SubmissionResult = {
          host,
          segments: segments.map((s, i) => ({
            dropped: s.dropExisting > 0 ? data.subarray(dropOut[i], dropOut[i] + s.dropExisting * R) : null,
            popped: s.popNeedsOutput && s.popCount > 0 ? data.subarray(popOut[i], popOut[i] + s.popCount * R) : null,
          })),
          peek: peekCount > 0 ? data.subarray(peekOut, peekOut + peekCount * R) : null,
          globals: data.subarray(globalsOut, globalsOut + GLOBAL_WORDS),
        };
        this.profile.decodeMs += performance.now() - t2;
        return result;
      },
      (error: unknown) => {
        if (!this.destroyed) {
          try {
            rb.destroy();
          } catch {
            /* ignore */
          }
        }
        throw error;
      },
    );
  }

  private hostPool: Uint32Array[] = [];
  /** Takes back the host buffer of a decoded SubmissionResult (its views must not be used afterwards). */
  recycle(result: SubmissionResult): void {
    if (this.hostPool.length < 4) this.hostPool.push(result.host);
  }

  private readonly plan: { pipeline: GPUComputePipeline; x: number; y: number; rec: number }[] = [];

  private indirect: GPUBuffer | null = null;
  private deviceLayout: GPUBindGroupLayout | null = null;

  /** Layout of the bind group a user kernel gets (bindings 0..3 of shaders/device-api.wgsl). */
  deviceBindGroupLayout(): GPUBindGroupLayout {
    this.deviceLayout ??= this.device.createBindGroupLayout({
      label: 'ringkernel-device-api',
      entries: [0, 1, 2, 3].map((binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' as const } })),
    });
    return this.deviceLayout;
  }

  /**
   * One submission: dev_prepare, the user's dispatches (`encode`), dev_commit, ingest of the
   * inbox (push phases, size from the device), and a peek of up to `peekCount`. Resolves with
   * the peek records and the globals (DEVPOPS, DEVPUSHES).
   */
  runDevice(
    encode: (pass: GPUComputePassEncoder, group: GPUBindGroup) => void,
    inboxCapacity: number,
    peekCount: number,
  ): Promise<{ peek: Uint32Array; globals: Uint32Array }> {
    return this.scoped(() => this.runDeviceScoped(encode, inboxCapacity, peekCount));
  }

  private runDeviceScoped(
    encode: (pass: GPUComputePassEncoder, group: GPUBindGroup) => void,
    inboxCapacity: number,
    peekCount: number,
  ): Promise<{ peek: Uint32Array; globals: Uint32Array }> {
    const W = this.words;
    const R = W + 2;
    // (the inbox lives in inp: it is also capped by the binding limit)
    const cap = Math.max(1, Math.min(inboxCapacity, SEG_CAP, this.options.maxSize, Math.floor(this.bufferLimit / 4 / (W + 1))));
    this.ensure('inp', cap * (W + 1) * 4);
    this.ensure('outb', Math.max(peekCount * R * 4, 16));
    this.ensure('params', 4 * PARAM_STRIDE);
    this.indirect ??= this.device.createBuffer({ label: 'rk-indirect', size: 16, usage: GPUBufferUsage.INDIRECT | GPUBufferUsage.COPY_DST });
    const params = new Uint32Array((4 * PARAM_STRIDE) / 4);
    const pg = (i: number) => this.paramGroup(i);
    const put = (i: number, f: Partial<Record<keyof typeof PF, number>>) => {
      for (const [k, v] of Object.entries(f)) params[(i * PARAM_STRIDE) / 4 + PF[k as keyof typeof PF]] = v;
    };
    put(0, { n: cap });
    put(1, { flags: 2, inOff: 0, rankOff: 0, histOff: cap });
    put(2, { n: peekCount, mode: 1, flags: 4, tableOff: 0 });
    // (the ingest's push_rank/push_scan/push_scatter read ranks and histograms from scratch)
    put(3, { mode: 0, tableOff: 0, outOff: 0, limit: peekCount });
    this.device.queue.writeBuffer(this.params, 0, params);
    const userGroup = this.device.createBindGroup({
      layout: this.deviceBindGroupLayout(),
      entries: [this.ctl, this.blk, this.pool, this.inp].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const bg = this.group();
    const enc = this.device.createCommandEncoder();
    let pass = enc.beginComputePass();
    pass.setBindGroup(0, bg);
    pass.setBindGroup(1, pg(0));
    pass.setPipeline(this.p.devPrepare);
    pass.dispatchWorkgroups(1);
    pass.end();
    pass = enc.beginComputePass();
    encode(pass, userGroup);
    pass.end();
    pass = enc.beginComputePass();
    pass.setBindGroup(0, bg);
    pass.setBindGroup(1, pg(0));
    pass.setPipeline(this.p.devCommit);
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(this.ctl, G_IND * 4, this.indirect, 0, 12);
    pass = enc.beginComputePass();
    pass.setBindGroup(0, bg);
    pass.setBindGroup(1, pg(1));
    pass.setPipeline(this.p.pushRank);
    pass.dispatchWorkgroupsIndirect(this.indirect, 0);
    pass.setPipeline(this.p.pushScan);
    pass.dispatchWorkgroups(1);
    pass.setPipeline(this.p.pushScatter);
    pass.dispatchWorkgroupsIndirect(this.indirect, 0);
    if (peekCount > 0) {
      pass.setBindGroup(1, pg(2));
      pass.setPipeline(this.p.takePlan);
      pass.dispatchWorkgroups(1);
      pass.setBindGroup(1, pg(3));
      pass.setPipeline(this.p.takeGather);
      pass.dispatchWorkgroups(Math.ceil(peekCount / 256));
    }
    pass.end();
    const outWords = peekCount * R;
    const bytes = (outWords + GLOBAL_WORDS) * 4;
    const rb = this.takeReadback(bytes);
    if (outWords > 0) enc.copyBufferToBuffer(this.outb, 0, rb, 0, outWords * 4);
    enc.copyBufferToBuffer(this.ctl, 0, rb, outWords * 4, GLOBAL_WORDS * 4);
    this.device.queue.submit([enc.finish()]);
    return rb.mapAsync(GPUMapMode.READ, 0, bytes).then(() => {
      const data = new Uint32Array(rb.getMappedRange(0, bytes).slice(0));
      rb.unmap();
      this.giveReadback(rb);
      return { peek: data.subarray(0, outWords), globals: data.subarray(outWords, outWords + GLOBAL_WORDS) };
    });
  }

  destroy(): void {
    if (this.destroyed) return;
    this.indirect?.destroy();
    this.destroyed = true;
    for (const b of [this.ctl, this.blk, this.pool, this.seqs, this.scr, this.inp, this.outb, this.params]) b.destroy();
    for (const list of this.readbacks.values()) for (const b of list) b.destroy();
    this.readbacks.clear();
  }
}

const PF = {
  n: 0, mode: 1, inOff: 2, outOff: 3, rankOff: 4, histOff: 5, tableOff: 6, seqOff: 7, nChunks: 8, seqSkip: 9, flags: 10, limit: 11,
  popK: 12, kOut: 13, cntOff: 14, allocOff: 15, peekN: 16, peekOff: 17, kOld: 18, planOff: 19, kLo: 20, kHi: 21,
} as const;
