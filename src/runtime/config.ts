/**
 * What a runtime and a launch take: the public options, their defaults and their checks (a
 * runtime's options resolved; a launch's turned into a backend's KernelConfig), and the
 * positive-integer check other calls share. Every check throws before anything changes.
 */
import type { KernelConfig } from './backend.js';
import type { RingKernelDefinition } from './kernel.js';

export interface RuntimeOptions {
  /** Where kernels run: 'gpu' (WebGPU, default) or 'cpu' (their JavaScript handlers). */
  backend?: 'gpu' | 'cpu';
  /**
   * GPU backend: the device to use (default: ringkernel's shared device). CPU backend: a device to
   * compile each kernel's WGSL on at launch, so that WGSL which would not compile is refused on
   * both backends (nothing runs on it; without one, the shared device if this process acquired it).
   */
  device?: GPUDevice;
  /** Telemetry (telemetry(), allTelemetry(), prometheus()); default true. */
  telemetry?: boolean;
  /**
   * Called after every tick that ran with where its host time went (profiles: `ringkernel bench
   * --profile`). It runs inside the tick: keep it short. An exception it throws is rethrown
   * outside the tick (queueMicrotask: an uncaught exception), never failing the tick.
   */
  onTick?: (timing: TickTiming) => void;
  /**
   * GPU backend: the most ticks in flight at once (1-8; default DEFAULT_TICKS_IN_FLIGHT, 2). While messages keep
   * arriving, the next tick is submitted before the previous one is read back, so the host plans,
   * encodes and delivers while the device works (tick-loop.ts, TICKS IN FLIGHT). 1: each tick is read back
   * before the next starts. The CPU backend's ticks run on the host: one at a time, whatever this says.
   */
  ticksInFlight?: number;
}

/** One tick's phases, as `performance.now()` milliseconds. */
export interface TickTiming {
  /** the tick began (its turn of the event loop came) */
  start: number;
  /** its plan was made: the backend begins (GPU: encodes, submits and waits for the readback) */
  planned: number;
  /** the backend returned: the queues and kernels have their results */
  ran: number;
  /** replies and events delivered: the tick is done */
  end: number;
  /** the kernels it ran, upstream first */
  kernels: string[];
  /** ticks that were in flight when it was submitted (0: the device had nothing else to do) */
  ahead: number;
}

export interface LaunchConfig {
  /** Capacity of the kernel's input queue. Default 4096. */
  inputQueueSize?: number;
  /** Capacity of its output queue, at least maxEmits. Default 4096. Only for a kernel whose outputs stay with it: refused with sendsTo. */
  outputQueueSize?: number;
  /** What a send to a full input queue does: 'block' (default), 'reject', 'drop' (evict the oldest). */
  backpressure?: 'block' | 'reject' | 'drop';
  /** Most messages one tick consumes. Default 65536; a tick never takes more than the input queue holds, so min(this, inputQueueSize) sizes the kernel's GPU buffers. */
  maxMessagesPerTick?: number;
  /** Another kernel whose input queue is this kernel's output queue (a pipeline on the device). */
  sendsTo?: string;
}

/** Ticks in flight by default (GPU backend): chosen by measurement (bench/RESULTS.md, "Ticks in flight"). */
export const DEFAULT_TICKS_IN_FLIGHT = 2;
const MAX_TICKS_IN_FLIGHT = 8;
const BACKPRESSURE = ['block', 'reject', 'drop'] as const;
/** Records of one tick's emits, at most (a device-ordered push: shaders/queue-push.wgsl). */
const MAX_TICK_OUTPUTS = 1 << 20;

export type ResolvedOptions = Required<Pick<RuntimeOptions, 'backend' | 'telemetry' | 'ticksInFlight'>> & Pick<RuntimeOptions, 'device' | 'onTick'>;

/** The runtime's options, checked, with their defaults. */
export function resolveOptions(options: RuntimeOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { backend = 'gpu', device, telemetry = true, onTick, ticksInFlight = DEFAULT_TICKS_IN_FLIGHT } = options;
  if (backend !== 'gpu' && backend !== 'cpu') throw new RangeError(`backend must be 'gpu' or 'cpu', got ${String(backend)}`);
  if (typeof telemetry !== 'boolean') throw new TypeError('telemetry must be a boolean');
  if (device !== undefined && (typeof device !== 'object' || device === null || typeof (device as { createShaderModule?: unknown }).createShaderModule !== 'function')) {
    throw new TypeError('device must be a GPUDevice');
  }
  if (onTick !== undefined && typeof onTick !== 'function') throw new TypeError('onTick must be a function');
  if (typeof ticksInFlight !== 'number' || !Number.isInteger(ticksInFlight) || ticksInFlight < 1 || ticksInFlight > MAX_TICKS_IN_FLIGHT) {
    throw new RangeError(`ticksInFlight must be an integer from 1 to ${MAX_TICKS_IN_FLIGHT}, got ${String(ticksInFlight)}`);
  }
  return { backend, device, telemetry, onTick, ticksInFlight };
}

/** A launch's configuration, checked, with its defaults. */
export function resolveLaunchConfig(id: string, def: RingKernelDefinition, config: LaunchConfig): KernelConfig {
  if (typeof config !== 'object' || config === null) throw new TypeError(`launch('${id}'): config must be an object`);
  const { inputQueueSize = 4096, outputQueueSize = 4096, backpressure = 'block', maxMessagesPerTick = 65536, sendsTo } = config;
  positiveInteger(inputQueueSize, `launch('${id}'): inputQueueSize`);
  positiveInteger(outputQueueSize, `launch('${id}'): outputQueueSize`);
  positiveInteger(maxMessagesPerTick, `launch('${id}'): maxMessagesPerTick`);
  if (!BACKPRESSURE.includes(backpressure)) throw new RangeError(`launch('${id}'): backpressure must be one of 'block', 'reject', 'drop', got ${String(backpressure)}`);
  // a tick takes at most what the input queue holds: that, not the option, sizes the kernel's buffers
  const perTick = Math.min(maxMessagesPerTick, inputQueueSize);
  if (perTick * Math.max(1, def.maxEmits) > MAX_TICK_OUTPUTS) {
    throw new RangeError(`launch('${id}'): min(maxMessagesPerTick, inputQueueSize) * maxEmits must be at most ${MAX_TICK_OUTPUTS}, got ${perTick} * ${def.maxEmits}`);
  }
  if (sendsTo !== undefined && (typeof sendsTo !== 'string' || sendsTo === '')) throw new TypeError(`launch('${id}'): sendsTo must be a kernel id`);
  if (sendsTo === id) throw new RangeError(`launch('${id}'): a kernel cannot send to itself`);
  if (sendsTo !== undefined && config.outputQueueSize !== undefined) {
    throw new TypeError(`launch('${id}'): outputQueueSize is for a kernel whose outputs stay with it; with sendsTo its outputs go into '${sendsTo}''s input queue (size that with its inputQueueSize)`);
  }
  if (sendsTo === undefined && def.output !== undefined && outputQueueSize < def.maxEmits) {
    throw new RangeError(`launch('${id}'): maxEmits ${def.maxEmits} needs room for ${def.maxEmits} outputs per message, but outputQueueSize is ${outputQueueSize}: no message could ever be processed`);
  }
  return { inputQueueSize, outputQueueSize, backpressure, maxMessagesPerTick: perTick, sendsTo };
}

/** A kernel sending to `downstream` needs room there for one message's maxEmits outputs, or it could never run. */
export function checkRoom(id: string, def: RingKernelDefinition, downstream: { id: string; config: KernelConfig }): void {
  if (downstream.config.inputQueueSize < def.maxEmits) {
    throw new RangeError(
      `launch('${id}'): maxEmits ${def.maxEmits} needs room for ${def.maxEmits} outputs per message, but '${downstream.id}''s inputQueueSize is ${downstream.config.inputQueueSize}: no message could ever be processed`,
    );
  }
}

export function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${String(value)}`);
  return value;
}
