/**
 * One submission built from steps: the unit in which ringkernel talks to the GPU.
 *
 * A step (a queue's host operations, a user kernel with its queues bound, a ring kernel's tick,
 * a head fetch) encodes its dispatches into one shared compute pass and asks for ranges of GPU
 * buffers to read back. `submit` then finishes one command buffer, submits it, copies all
 * requested ranges into one staging buffer and maps it once. Steps find their data at the word
 * offsets their `readback` calls returned.
 *
 * Error scopes cost about 20-25 us a submission each on the software adapter (their promises),
 * so the hot path has none: a rejected command buffer is detected by a sentinel (SubmitOptions),
 * and a buffer a step (or the staging) must create is made inside an `out-of-memory` scope of
 * its own, awaited with the submission, so only submissions that allocate pay for one.
 *
 * INVARIANTS
 *   - Readback copies are encoded after every dispatch of the submission: a range holds what the
 *     buffer contains once all steps ran, so steps must not reuse a range another step reads.
 *   - A submission the GPU rejects (an invalid command buffer, a failed allocation) rejects with
 *     GpuQueueError / GpuOutOfMemoryError and its readback is never decoded (Dawn drops an
 *     invalid command buffer and only reports it as an error: the staging buffer would hold
 *     stale data). A failed map rejects with DeviceLostError when the device is lost, else with
 *     GpuQueueError.
 *   - Staging buffers and host copies are pooled per device and reused.
 */
import { gpuErrorAsError } from './buffers.js';
import { DeviceLostError, GpuOutOfMemoryError, GpuQueueError } from './errors.js';
import { FAKE_TIMERS_MESSAGE, nextMacrotask, timersFaked } from '../platform/index.js';
import { profilerOf, TimedPasses } from './profile.js';
import { notify } from '../queue/notify.js';

export interface Readback {
  /** The words read back, valid until `release()`. A step reads its ranges at the offsets `readback` gave it. */
  readonly words: Uint32Array;
  /** Gives the host copy back to the pool: no view of `words` may be used afterwards. */
  release(): void;
}

/** What a step encodes with. */
export interface StepEncoder {
  readonly device: GPUDevice;
  /** The shared compute pass (begun on first use, and again after `commands()`). */
  pass(): GPUComputePassEncoder;
  /** The command encoder, with the shared pass ended: for copies between dispatches. */
  commands(): GPUCommandEncoder;
  /** Asks for `bytes` (a multiple of 4) of `src` from `offset`, copied after every dispatch; returns their word offset in `Readback.words`. */
  readback(src: GPUBuffer, offset: number, bytes: number): number;
  /** Number of dispatches encoded so far (for profiles and tests). */
  dispatches: number;
  /** The two words that mark this submission as run (its serial), or null when an error scope checks it ('scope'). */
  readonly serialWords: readonly [number, number] | null;
  /**
   * A step that has one of its dispatches write `serialWords` into a buffer range it reads back
   * says where they land (the word offset in `Readback.words`); the submission then needs no
   * sentinel write and copy of its own.
   */
  carrySerial(wordAt: number): void;
  /** Creates a buffer inside an `out-of-memory` scope that the submission awaits (it rejects with GpuOutOfMemoryError). */
  createBuffer(descriptor: GPUBufferDescriptor): GPUBuffer;
}

interface PendingCopy {
  src: GPUBuffer;
  offset: number;
  bytes: number;
  at: number;
}

/** Creates a buffer inside its own out-of-memory scope; the scope's result joins `scopes`. */
function allocate(device: GPUDevice, descriptor: GPUBufferDescriptor, scopes: Promise<GPUError | null>[]): GPUBuffer {
  device.pushErrorScope('out-of-memory');
  const buffer = device.createBuffer(descriptor);
  scopes.push(device.popErrorScope());
  return buffer;
}

class Encoding implements StepEncoder {
  dispatches = 0;
  serialAt = -1;
  readonly copies: PendingCopy[] = [];
  readonly memoryScopes: Promise<GPUError | null>[] = [];
  words = 0;
  private open: GPUComputePassEncoder | null = null;
  readonly encoder: GPUCommandEncoder;
  /** a profile with timestamps is on: every dispatch gets a timed pass of its own (profile.ts) */
  readonly timed: TimedPasses | null;
  constructor(
    readonly device: GPUDevice,
    readonly serialWords: readonly [number, number] | null,
    timestamps: boolean,
  ) {
    this.encoder = device.createCommandEncoder({ label: 'ringkernel' });
    this.timed = timestamps ? new TimedPasses(this.encoder, device) : null;
  }
  carrySerial(wordAt: number): void {
    if (this.serialWords !== null) this.serialAt = wordAt;
  }
  pass(): GPUComputePassEncoder {
    if (this.timed !== null) return this.timed as unknown as GPUComputePassEncoder;
    this.open ??= this.encoder.beginComputePass();
    return this.open;
  }
  commands(): GPUCommandEncoder {
    this.endPass();
    return this.encoder;
  }
  endPass(): void {
    if (this.open !== null) {
      this.open.end();
      this.open = null;
    }
  }
  createBuffer(descriptor: GPUBufferDescriptor): GPUBuffer {
    return allocate(this.device, descriptor, this.memoryScopes);
  }
  readback(src: GPUBuffer, offset: number, bytes: number): number {
    const at = this.words;
    if (bytes > 0) {
      this.copies.push({ src, offset, bytes, at });
      this.words += bytes / 4;
    }
    return at;
  }
}

/** How long a failed map waits for `device.lost` before it is taken for a failure of its own. */
const LOSS_GRACE_MS = 25;

/**
 * What a failed map means: DeviceLostError when the device is lost, else GpuQueueError — a
 * failed map alone says nothing about the device. `device.lost` can follow the failed map by a
 * few turns of the event loop (Dawn in Node) or by a message from the GPU process (a browser,
 * milliseconds), so this waits at least 8 turns and LOSS_GRACE_MS; a failure is rare, the wait
 * costs nothing otherwise. (Bounded in turns too, in case the clock is faked.)
 */
async function mapFailure(device: GPUDevice, error: unknown): Promise<DeviceLostError | GpuQueueError> {
  let lost = false;
  void device.lost.then(() => {
    lost = true;
  });
  const start = performance.now();
  for (let turn = 0; !lost && turn < 100_000 && (turn < 8 || performance.now() - start < LOSS_GRACE_MS); turn++) {
    await new Promise<void>((resolve) => nextMacrotask(resolve));
  }
  const failure = lost
    ? new DeviceLostError(`the GPU device was lost while reading back a submission: ${String(error)}`)
    : new GpuQueueError(`ringkernel: reading back a submission failed: ${String(error)}`);
  (failure as { cause?: unknown }).cause = error;
  return failure;
}

/** Submission counters per device (profiles and tests: "one submission per tick"). */
export interface SubmissionStats {
  submissions: number;
  dispatches: number;
}
const stats = new WeakMap<GPUDevice, SubmissionStats>();
export function submissionStats(device: GPUDevice): SubmissionStats {
  let s = stats.get(device);
  if (s === undefined) stats.set(device, (s = { submissions: 0, dispatches: 0 }));
  return s;
}

export interface SubmitOptions {
  /**
   * How a command buffer the GPU rejects is detected. 'sentinel' (default): the command buffer
   * ends by copying a 64-bit submission serial (written just before) into the readback; a
   * rejected command buffer never copies it, so a stale serial means "rejected", and the GPU's
   * message comes from the device's uncaptured-error event. 'scope': a validation error scope
   * around the encoding, whose error is the rejection's cause; it costs about 25 us a submission
   * on the software adapter (the scope's promise), so it is kept for work of the user's (a user
   * kernel run), whose errors must be reported exactly.
   */
  detect?: 'sentinel' | 'scope';
  /** false: never profiled (profile.ts), whatever profiler is on (the runtime's private warm-up). Default true. */
  profile?: boolean;
}

interface Sentinel {
  buffer: GPUBuffer;
  /** the serial's two words, reused for its writeBuffer */
  words: Uint32Array;
  serial: number;
  /** the device's first uncaptured error since the last submission began (sentinel-checked submissions use no scope) */
  lastError: GPUError | null;
}
const sentinels = new WeakMap<GPUDevice, Sentinel>();

/**
 * A serial's two words: its low 32 bits, and its high bits XOR a constant. Staging buffers are
 * reused, so a dropped command buffer leaves older words where the serial should be: an older
 * serial never matches, and other stale words (a message's) match both only by a 2^-32 chance.
 */
const SERIAL_SALT = 0x9e3779b9;
function serialWords(serial: number): [number, number] {
  return [serial % 4294967296, (Math.floor(serial / 4294967296) ^ SERIAL_SALT) >>> 0];
}
function sentinelOf(device: GPUDevice, scopes: Promise<GPUError | null>[]): Sentinel {
  let s = sentinels.get(device);
  if (s === undefined) {
    const created: Sentinel = {
      buffer: allocate(device, { label: 'ringkernel-serial', size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST }, scopes),
      words: new Uint32Array(2),
      serial: 0,
      lastError: null,
    };
    // the first error since the submission began: later ones follow from it ("invalid due to a previous error")
    device.addEventListener('uncapturederror', (event) => {
      created.lastError ??= (event as GPUUncapturedErrorEvent).error;
    });
    sentinels.set(device, (s = created));
  }
  return s;
}

/**
 * Builds one submission: `build` encodes every step (synchronously) and returns what the caller
 * needs afterwards; `done` resolves with the readback once the GPU ran it. Throws (nothing
 * submitted) when `build` throws or setImmediate is faked.
 */
export function submit<T>(device: GPUDevice, build: (e: StepEncoder) => T, options: SubmitOptions = {}): { value: T; done: Promise<Readback> } {
  if (timersFaked()) throw new Error(FAKE_TIMERS_MESSAGE);
  const profiler = options.profile === false ? undefined : profilerOf(device);
  const scoped = options.detect === 'scope';
  if (scoped) device.pushErrorScope('validation');
  let value: T;
  let enc!: Encoding;
  let staging: GPUBuffer | null = null;
  let totalBytes = 0;
  let serialAt = -1;
  let expected: [number, number] | null = null;
  let sentinel: Sentinel | null = null;
  const memoryScopes: Promise<GPUError | null>[] = [];
  const start = profiler !== undefined ? performance.now() : 0;
  let encoded = 0;
  let timedAt = -1;
  try {
    if (!scoped) {
      sentinel = sentinelOf(device, memoryScopes);
      expected = serialWords(++sentinel.serial);
      sentinel.lastError = null;
    }
    enc = new Encoding(device, expected, profiler?.timestamps === true);
    enc.memoryScopes.push(...memoryScopes);
    value = build(enc);
    if (profiler !== undefined) encoded = performance.now();
    if (sentinel !== null) {
      serialAt = enc.serialAt;
      if (serialAt < 0) {
        // no step carries the serial: write it, and copy it back after everything else
        const words = sentinel.words;
        words[0] = expected![0];
        words[1] = expected![1];
        device.queue.writeBuffer(sentinel.buffer, 0, words);
        serialAt = enc.readback(sentinel.buffer, 0, 8);
      }
    }
    enc.endPass();
    if (enc.timed !== null) timedAt = enc.timed.resolve((d) => enc.createBuffer(d), (src, offset, bytes) => enc.readback(src, offset, bytes));
    totalBytes = enc.words * 4;
    if (totalBytes > 0) {
      staging = takeStaging(device, totalBytes, enc.memoryScopes);
      for (const c of enc.copies) enc.encoder.copyBufferToBuffer(c.src, c.offset, staging, c.at * 4, c.bytes);
    }
    device.queue.submit([enc.encoder.finish()]);
  } catch (error) {
    if (scoped) void device.popErrorScope().catch(() => undefined);
    if (staging !== null) giveStaging(device, staging);
    enc?.timed?.dispose();
    throw error;
  }
  const s = submissionStats(device);
  s.submissions++;
  s.dispatches += enc.dispatches;
  // (the map first: it is what the caller waits for; the scopes only confirm the submission was valid)
  const mapped = staging === null ? Promise.resolve() : staging.mapAsync(GPUMapMode.READ, 0, totalBytes);
  const submitted = profiler !== undefined ? performance.now() : 0;
  let mappedAt = 0;
  const validation = scoped ? device.popErrorScope() : Promise.resolve(null);
  const memory =
    enc.memoryScopes.length === 0 ? Promise.resolve(null) : Promise.all(enc.memoryScopes).then((errors) => errors.find((e) => e !== null) ?? null);
  const done = Promise.all([validation, memory, mapped.then(() => true as const, (error: unknown) => mapFailure(device, error))]).then(([v, m, map]) => {
    const fail = (error: Error, broken: boolean): never => {
      enc.timed?.dispose();
      if (staging !== null) {
        if (map === true) staging.unmap();
        giveStaging(device, staging, broken || map !== true);
      }
      throw error;
    };
    if (m !== null) fail(new GpuOutOfMemoryError(`ringkernel: the GPU ran out of memory for a submission: ${m.message}`, { cause: gpuErrorAsError(m) }), false);
    if (v !== null) fail(new GpuQueueError(`ringkernel: the GPU rejected a submission: ${v.message}`, { cause: gpuErrorAsError(v) }), false);
    if (map !== true) fail(map, true);
    if (profiler !== undefined) mappedAt = performance.now();
    if (staging === null) {
      enc.timed?.dispose();
      if (profiler !== undefined) notify(profiler.listener, { start, encoded, submitted, mapped: mappedAt, read: mappedAt, dispatches: null });
      return { words: new Uint32Array(0), release: () => undefined };
    }
    const mappedWords = new Uint32Array(staging.getMappedRange(0, totalBytes));
    if (sentinel !== null && (mappedWords[serialAt] !== expected![0] || mappedWords[serialAt + 1] !== expected![1])) {
      // the command buffer never ran: the GPU rejected it
      const gpuError = sentinel.lastError;
      const message = gpuError?.message ?? 'the command buffer was dropped';
      fail(new GpuQueueError(`ringkernel: the GPU rejected a submission: ${message}`, { cause: gpuError ? gpuErrorAsError(gpuError) : undefined }), false);
    }
    const words = takeHost(device, totalBytes / 4);
    words.set(mappedWords);
    staging.unmap();
    giveStaging(device, staging);
    if (profiler !== undefined) {
      const dispatches = enc.timed !== null ? enc.timed.read(words, timedAt) : null;
      notify(profiler.listener, { start, encoded, submitted, mapped: mappedAt, read: performance.now(), dispatches });
    }
    let released = false;
    return {
      words,
      release: () => {
        if (released) return;
        released = true;
        giveHost(device, words);
      },
    };
  });
  return { value, done };
}

// ---------------------------------------------------------------- pools
interface Pools {
  staging: Map<number, GPUBuffer[]>;
  host: Uint32Array[];
}
const pools = new WeakMap<GPUDevice, Pools>();
function poolsOf(device: GPUDevice): Pools {
  let p = pools.get(device);
  if (p === undefined) pools.set(device, (p = { staging: new Map(), host: [] }));
  return p;
}
function nextPow2(n: number): number {
  let p = 256;
  while (p < n) p *= 2;
  return p;
}
function takeStaging(device: GPUDevice, bytes: number, scopes: Promise<GPUError | null>[]): GPUBuffer {
  const size = Math.max(bytes, Math.min(nextPow2(bytes), Math.floor(device.limits.maxBufferSize / 4) * 4));
  const buf = poolsOf(device).staging.get(size)?.pop();
  return buf ?? allocate(device, { label: 'ringkernel-readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }, scopes);
}
function giveStaging(device: GPUDevice, buf: GPUBuffer, broken = false): void {
  const list = poolsOf(device).staging;
  let l = list.get(buf.size);
  if (broken || (l !== undefined && l.length >= 4)) {
    buf.destroy();
    return;
  }
  if (l === undefined) list.set(buf.size, (l = []));
  l.push(buf);
}
function takeHost(device: GPUDevice, words: number): Uint32Array {
  const host = poolsOf(device).host;
  for (let i = host.length - 1; i >= 0; i--) {
    if (host[i].length >= words) return host.splice(i, 1)[0].subarray(0, words);
  }
  // (a fresh array per submission costs page faults on every large readback)
  return new Uint32Array(nextPow2(words)).subarray(0, words);
}
function giveHost(device: GPUDevice, words: Uint32Array): void {
  const host = poolsOf(device).host;
  if (host.length < 4) host.push(new Uint32Array(words.buffer));
}
