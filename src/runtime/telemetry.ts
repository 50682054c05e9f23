/**
 * Telemetry: what each kernel did, assembled from its backend's counters (counted on the device
 * for the GPU backend) and the runtime's own clock (ticks, their latency, time active).
 */
import type { KernelCounters } from './backend.js';
import type { KernelStateValue } from './state.js';

export interface TickLatency {
  count: number;
  minNs: number;
  maxNs: number;
  avgNs: number;
}

export interface KernelTelemetry {
  kernelId: string;
  state: KernelStateValue;
  messagesProcessed: number;
  messagesEmitted: number;
  /** messages DROP_OLDEST evicted from the input queue */
  messagesDropped: number;
  /** failures: rk_fail / ctx.fail calls and thrown exceptions (a failed message still counts as processed) */
  errors: number;
  lastError: string | null;
  inputDepth: number;
  outputDepth: number;
  /** bytes of GPU memory the kernel holds: its queues and its own buffers (0 on the CPU backend) */
  gpuBytes: number;
  /** ticks this kernel was dispatched in */
  ticks: number;
  uptimeMs: number;
  tickLatency: TickLatency;
  /** messages processed per second of time spent ACTIVE */
  throughput: number;
}

export interface RuntimeSummary {
  kernelCount: number;
  messagesProcessed: number;
  messagesDropped: number;
  errors: number;
  uptimeMs: number;
}

/** The runtime's own per-kernel clock. */
export class KernelClock {
  readonly launchedAt = performance.now();
  ticks = 0;
  private latencyCount = 0;
  private latencyMin = Infinity;
  private latencyMax = 0;
  private latencySum = 0;
  private activeMs = 0;
  private activeSince: number | null = null;

  tick(latencyNs: number): void {
    this.ticks++;
    this.latencyCount++;
    this.latencySum += latencyNs;
    if (latencyNs < this.latencyMin) this.latencyMin = latencyNs;
    if (latencyNs > this.latencyMax) this.latencyMax = latencyNs;
  }

  setActive(active: boolean): void {
    const now = performance.now();
    if (active && this.activeSince === null) this.activeSince = now;
    if (!active && this.activeSince !== null) {
      this.activeMs += now - this.activeSince;
      this.activeSince = null;
    }
  }

  snapshot(kernelId: string, state: KernelStateValue, counters: KernelCounters, inputDepth: number, outputDepth: number, gpuBytes: number): KernelTelemetry {
    const now = performance.now();
    const activeMs = this.activeMs + (this.activeSince !== null ? now - this.activeSince : 0);
    const n = this.latencyCount;
    return {
      kernelId,
      state,
      messagesProcessed: counters.processed,
      messagesEmitted: counters.emitted,
      messagesDropped: counters.dropped,
      errors: counters.errors,
      lastError: counters.lastError,
      inputDepth,
      outputDepth,
      gpuBytes,
      ticks: this.ticks,
      uptimeMs: now - this.launchedAt,
      tickLatency: {
        count: n,
        minNs: n === 0 ? 0 : this.latencyMin,
        maxNs: this.latencyMax,
        avgNs: n === 0 ? 0 : this.latencySum / n,
      },
      throughput: activeMs > 0 ? counters.processed / (activeMs / 1000) : 0,
    };
  }
}

const METRICS: [keyof KernelTelemetry | 'latency', string, 'counter' | 'gauge', string][] = [
  ['messagesProcessed', 'ringkernel_messages_processed_total', 'counter', 'Messages the kernel consumed and handled.'],
  ['messagesEmitted', 'ringkernel_messages_emitted_total', 'counter', 'Outputs the kernel emitted.'],
  ['messagesDropped', 'ringkernel_messages_dropped_total', 'counter', 'Messages DROP_OLDEST evicted from the kernel input queue.'],
  ['errors', 'ringkernel_errors_total', 'counter', 'Handler failures (rk_fail, ctx.fail, exceptions).'],
  ['ticks', 'ringkernel_ticks_total', 'counter', 'Ticks the kernel was dispatched in.'],
  ['inputDepth', 'ringkernel_input_depth', 'gauge', 'Messages waiting in the kernel input queue.'],
  ['outputDepth', 'ringkernel_output_depth', 'gauge', 'Messages waiting in the kernel output queue.'],
  ['gpuBytes', 'ringkernel_gpu_bytes', 'gauge', 'Bytes of GPU memory the kernel holds (its queues and buffers).'],
  ['throughput', 'ringkernel_throughput_messages_per_second', 'gauge', 'Messages processed per second while active.'],
  ['uptimeMs', 'ringkernel_uptime_milliseconds', 'gauge', 'Milliseconds since the kernel was launched.'],
];

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

/** The telemetry of every kernel in the Prometheus text exposition format (version 0.0.4). */
export function prometheusText(all: readonly KernelTelemetry[]): string {
  const lines: string[] = [];
  for (const [key, name, type, help] of METRICS) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const t of all) lines.push(`${name}{kernel="${label(t.kernelId)}"} ${num(t[key as keyof KernelTelemetry] as number)}`);
  }
  lines.push('# HELP ringkernel_tick_latency_nanoseconds Tick latency (submission to readback) of the ticks the kernel was in.', '# TYPE ringkernel_tick_latency_nanoseconds summary');
  for (const t of all) {
    const l = t.tickLatency;
    const k = `kernel="${label(t.kernelId)}"`;
    lines.push(`ringkernel_tick_latency_nanoseconds_sum{${k}} ${num(l.avgNs * l.count)}`, `ringkernel_tick_latency_nanoseconds_count{${k}} ${l.count}`);
  }
  lines.push('# HELP ringkernel_kernel_state The kernel lifecycle state (1 for the current one).', '# TYPE ringkernel_kernel_state gauge');
  for (const t of all) lines.push(`ringkernel_kernel_state{kernel="${label(t.kernelId)}",state="${t.state}"} 1`);
  return lines.join('\n') + '\n';
}
