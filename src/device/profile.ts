/**
 * Profiles of submissions: where a submission's host time goes (encode, submit, wait for the
 * map, read) and, on a device created with the 'timestamp-query' feature, each dispatch's GPU
 * time.
 *
 * Off unless `profileSubmissions` is called for a device: then a submission costs one WeakMap
 * lookup more. With timestamps, each dispatch is encoded in a compute pass of its own whose
 * beginning and end write a timestamp (WebGPU times passes, not dispatches); the pipeline and bind
 * groups set before it are replayed into that pass. A pass boundary orders storage accesses as the
 * shared pass does, so the work is the same; what changes is a little encoding time per dispatch,
 * which is why this is a profile and not the hot path. The timestamps are resolved into a buffer
 * read back with the submission's other ranges: no submission of their own.
 *
 * Timestamps are as fine as the adapter's clock: on the software adapter (lavapipe) a tick of it
 * is 65.5 µs, so a short dispatch reads 0 or one tick; sum many dispatches to compare.
 */

/** One dispatch of a profiled submission. */
export interface DispatchTiming {
  /** the label of its pipeline */
  label: string;
  /** its workgroups (x * y * z; 0 for an indirect dispatch) */
  workgroups: number;
  /** GPU time between its pass's beginning and end, in ns (null past the query set's capacity) */
  gpuNs: number | null;
}

/** Where one submission's time went; `performance.now()` milliseconds. */
export interface SubmissionTiming {
  /** when its steps began to encode */
  start: number;
  /** its steps encoded (the build callback returned) */
  encoded: number;
  /** the command buffer finished and submitted, the map requested */
  submitted: number;
  /** the map resolved (the GPU ran it and the staging buffer is readable) */
  mapped: number;
  /** its readback copied to the host */
  read: number;
  /** each dispatch in order, with GPU times when the device has timestamp queries; null otherwise */
  dispatches: DispatchTiming[] | null;
}

export type SubmissionListener = (timing: SubmissionTiming) => void;

/** The most dispatches of one submission that get timestamps (two queries each). */
export const MAX_TIMED_DISPATCHES = 512;

interface Profiler {
  listener: SubmissionListener;
  timestamps: boolean;
}
const profilers = new WeakMap<GPUDevice, Profiler>();

/**
 * Calls `listener` after every submission ringkernel makes on `device`, with its timing; with
 * `timestamps` (default: when the device has the 'timestamp-query' feature) each dispatch's GPU
 * time too. Returns the function that stops it. One profiler per device: a second call replaces it.
 * The listener runs as the submission is read back: an exception it throws is rethrown outside
 * (queueMicrotask: an uncaught exception), never failing the submission. The runtime's private
 * warm-up at the first launch (src/runtime/warm-host.ts) is not profiled.
 */
export function profileSubmissions(device: GPUDevice, listener: SubmissionListener, options: { timestamps?: boolean } = {}): () => void {
  const has = device.features.has('timestamp-query');
  if (options.timestamps === true && !has) throw new RangeError("profileSubmissions: timestamps need a device created with the 'timestamp-query' feature");
  const profiler: Profiler = { listener, timestamps: options.timestamps ?? has };
  profilers.set(device, profiler);
  return () => {
    if (profilers.get(device) === profiler) profilers.delete(device);
  };
}

/** @internal The device's profiler, when one is on. */
export function profilerOf(device: GPUDevice): Profiler | undefined {
  return profilers.get(device);
}


/**
 * @internal A compute pass encoder that puts each dispatch in a pass of its own, timed by two
 * timestamp queries. It is what `StepEncoder.pass()` returns while a profiler with timestamps is on.
 */
export class TimedPasses {
  readonly dispatches: DispatchTiming[] = [];
  /** made at the first dispatch (a submission without one needs none) */
  private querySet: GPUQuerySet | null = null;
  private pipeline: GPUComputePipeline | null = null;
  private readonly groups: (GPUBindGroup | null)[] = [];
  private resolved: GPUBuffer | null = null;

  constructor(
    private readonly encoder: GPUCommandEncoder,
    private readonly device: GPUDevice,
  ) {}

  setPipeline(pipeline: GPUComputePipeline): void {
    this.pipeline = pipeline;
  }
  setBindGroup(index: number, group: GPUBindGroup | null): void {
    this.groups[index] = group;
  }
  dispatchWorkgroups(x: number, y = 1, z = 1): void {
    this.run(x * y * z, (pass) => pass.dispatchWorkgroups(x, y, z));
  }
  dispatchWorkgroupsIndirect(buffer: GPUBuffer, offset: number): void {
    this.run(0, (pass) => pass.dispatchWorkgroupsIndirect(buffer, offset));
  }
  end(): void {
    // (each dispatch's pass is ended as it is encoded)
  }

  private run(workgroups: number, dispatch: (pass: GPUComputePassEncoder) => void): void {
    const i = this.dispatches.length;
    const timed = i < MAX_TIMED_DISPATCHES;
    if (timed) this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_TIMED_DISPATCHES, label: 'ringkernel-profile' });
    const pass = this.encoder.beginComputePass(
      timed ? { timestampWrites: { querySet: this.querySet!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } } : {},
    );
    pass.setPipeline(this.pipeline!);
    this.groups.forEach((group, index) => {
      if (group !== undefined) pass.setBindGroup(index, group);
    });
    dispatch(pass);
    pass.end();
    this.dispatches.push({ label: this.pipeline!.label, workgroups, gpuNs: null });
  }

  /** Resolves the queries into a buffer that `readback` copies; returns the readback's word offset (or -1 with no dispatch). */
  resolve(createBuffer: (d: GPUBufferDescriptor) => GPUBuffer, readback: (src: GPUBuffer, offset: number, bytes: number) => number): number {
    const n = Math.min(this.dispatches.length, MAX_TIMED_DISPATCHES);
    if (n === 0 || this.querySet === null) return -1;
    const bytes = 2 * n * 8;
    const resolved = (this.resolved = createBuffer({ label: 'ringkernel-profile-resolve', size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }));
    this.encoder.resolveQuerySet(this.querySet, 0, 2 * n, resolved, 0);
    return readback(resolved, 0, bytes);
  }

  /** Fills in the GPU times from the read-back words (`at`: resolve's offset). */
  read(words: Uint32Array, at: number): DispatchTiming[] {
    if (at >= 0) {
      const n = Math.min(this.dispatches.length, MAX_TIMED_DISPATCHES);
      const ns = (w: number) => words[at + 2 * w] + words[at + 2 * w + 1] * 2 ** 32;
      for (let i = 0; i < n; i++) this.dispatches[i].gpuNs = Math.max(0, ns(2 * i + 1) - ns(2 * i));
    }
    this.dispose();
    return this.dispatches;
  }

  /** Frees the query set and the resolve buffer (also when the submission failed or was never made). */
  dispose(): void {
    this.querySet?.destroy();
    this.resolved?.destroy();
    this.querySet = null;
    this.resolved = null;
  }
}
