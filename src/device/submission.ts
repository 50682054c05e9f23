/**
 * One submission built from steps: the unit in which ringkernel talks to the GPU.
 *
 * A step (a queue's host operations, a user kernel with its queues bound, a ring kernel's tick,
 * a head fetch) encodes its dispatches into one shared compute pass and asks for ranges of GPU
 * buffers to read back. `submit` then runs every step's encoding inside `validation` and
 * `out-of-memory` error scopes, finishes one command buffer, submits it, copies all requested
 * ranges into one staging buffer and maps it once. Steps find their data at the word offsets
 * their `readback` calls returned.
 *
 * INVARIANTS
 *   - Readback copies are encoded after every dispatch of the submission: a range holds what the
 *     buffer contains once all steps ran, so steps must not reuse a range another step reads.
 *   - A submission the GPU rejects (a validation or out-of-memory error) rejects with
 *     GpuQueueError / GpuOutOfMemoryError and its readback is never decoded (Dawn drops an
 *     invalid command buffer and only reports it through the scope: the staging buffer would
 *     hold zeros). A failed map rejects with DeviceLostError.
 *   - Staging buffers and host copies are pooled per device and reused.
 */
import { gpuErrorAsError } from './buffers.js';
import { DeviceLostError, GpuOutOfMemoryError, GpuQueueError } from './errors.js';
import { FAKE_IMMEDIATE_MESSAGE, immediateFaked } from './immediate.js';

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
}

interface PendingCopy {
  src: GPUBuffer;
  offset: number;
  bytes: number;
  at: number;
}

class Encoding implements StepEncoder {
  dispatches = 0;
  readonly copies: PendingCopy[] = [];
  words = 0;
  private open: GPUComputePassEncoder | null = null;
  readonly encoder: GPUCommandEncoder;
  constructor(readonly device: GPUDevice) {
    this.encoder = device.createCommandEncoder({ label: 'ringkernel' });
  }
  pass(): GPUComputePassEncoder {
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
  readback(src: GPUBuffer, offset: number, bytes: number): number {
    const at = this.words;
    if (bytes > 0) {
      this.copies.push({ src, offset, bytes, at });
      this.words += bytes / 4;
    }
    return at;
  }
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

/**
 * Builds one submission: `build` encodes every step (synchronously) and returns what the caller
 * needs afterwards; `done` resolves with the readback once the GPU ran it. Throws (nothing
 * submitted) when `build` throws or setImmediate is faked.
 */
export function submit<T>(device: GPUDevice, build: (e: StepEncoder) => T): { value: T; done: Promise<Readback> } {
  if (immediateFaked()) throw new Error(FAKE_IMMEDIATE_MESSAGE);
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let value: T;
  let enc: Encoding;
  let staging: GPUBuffer | null = null;
  let totalBytes = 0;
  try {
    enc = new Encoding(device);
    value = build(enc);
    enc.endPass();
    totalBytes = enc.words * 4;
    if (totalBytes > 0) {
      staging = takeStaging(device, totalBytes);
      for (const c of enc.copies) enc.encoder.copyBufferToBuffer(c.src, c.offset, staging, c.at * 4, c.bytes);
    }
    device.queue.submit([enc.encoder.finish()]);
  } catch (error) {
    void device.popErrorScope().catch(() => undefined);
    void device.popErrorScope().catch(() => undefined);
    if (staging !== null) giveStaging(device, staging);
    throw error;
  }
  const s = submissionStats(device);
  s.submissions++;
  s.dispatches += enc.dispatches;
  // (the map first: it is what the caller waits for; the scopes only confirm the submission was valid)
  const mapped = staging === null ? Promise.resolve() : staging.mapAsync(GPUMapMode.READ, 0, totalBytes);
  const validation = device.popErrorScope();
  const memory = device.popErrorScope();
  const done = Promise.all([validation, memory, mapped.then(() => true, (error: unknown) => error)]).then(([v, m, map]) => {
    const gpuError = v ?? m;
    if (gpuError !== null) {
      if (staging !== null) {
        if (map === true) staging.unmap();
        giveStaging(device, staging, map !== true);
      }
      const cause = gpuErrorAsError(gpuError);
      if (m !== null) throw new GpuOutOfMemoryError(`ringkernel: the GPU ran out of memory for a submission: ${gpuError.message}`, { cause });
      throw new GpuQueueError(`ringkernel: the GPU rejected a submission: ${gpuError.message}`, { cause });
    }
    if (map !== true) {
      if (staging !== null) giveStaging(device, staging, true);
      const lost = new DeviceLostError(`the GPU device was lost while reading back a submission: ${String(map)}`);
      (lost as { cause?: unknown }).cause = map;
      throw lost;
    }
    const words = takeHost(device, totalBytes / 4);
    if (staging !== null) {
      words.set(new Uint32Array(staging.getMappedRange(0, totalBytes)));
      staging.unmap();
      giveStaging(device, staging);
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
function takeStaging(device: GPUDevice, bytes: number): GPUBuffer {
  const size = Math.max(bytes, Math.min(nextPow2(bytes), Math.floor(device.limits.maxBufferSize / 4) * 4));
  const buf = poolsOf(device).staging.get(size)?.pop();
  return buf ?? device.createBuffer({ label: 'ringkernel-readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
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
