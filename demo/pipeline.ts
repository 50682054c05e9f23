/**
 * The demo's pipeline: sensor readings → `calibrate` → `detect` → alerts for the page.
 *
 * - `calibrate` turns a raw reading into °C with a per-sensor gain and offset, and fails
 *   (rk_fail) on readings it cannot trust, so the page can show errors being counted.
 * - `detect` keeps per-sensor counters and a temperature histogram in device state (atomics:
 *   many invocations update it at once) and emits an Alert only at or above WARN — or for a
 *   reading flagged PROBE, which always gets an answer, so request/reply has something to return.
 *
 * Both kernels carry the same logic twice, in WGSL and in JavaScript, so the page works on the
 * CPU backend when the browser has no WebGPU.
 */
import { RingKernelRuntime, defineMessage, defineRingKernel, type LaunchConfig } from 'ringkernel';

export const SENSORS = 8;
/** Histogram bins per sensor: BIN_WIDTH °C each, from BIN_LOW; the last bin takes everything above. */
export const BINS = 16;
export const BIN_LOW = -40;
export const BIN_WIDTH = 10;
/** Raw readings outside this range are rejected by `calibrate` (failure code OUT_OF_RANGE). */
export const RAW_MIN = -50;
export const RAW_MAX = 150;
/** Alert levels, in calibrated °C. */
export const WARN = 80;
export const CRITICAL = 100;
/** Reading.flags bit: answer even when nothing is wrong (request/reply uses it). */
export const PROBE = 1;

/** Failure codes of `calibrate`, as telemetry's lastError shows them ("failed with code 2"). */
export const FAILURES: Record<number, string> = {
  1: 'not a number',
  2: `out of range ${RAW_MIN}..${RAW_MAX}`,
  3: `no such sensor (0..${SENSORS - 1})`,
};
const NOT_FINITE = 1, OUT_OF_RANGE = 2, NO_SENSOR = 3;

/** The failure code `calibrate` will give this reading, or 0 when it accepts it (to explain a missing reply). */
export function failureOf(m: { sensor: number; raw: number }): number {
  if (!Number.isFinite(m.raw)) return NOT_FINITE;
  if (m.sensor >= SENSORS) return NO_SENSOR;
  return m.raw < RAW_MIN || m.raw > RAW_MAX ? OUT_OF_RANGE : 0;
}

export const Reading = defineMessage({ name: 'Reading', fields: { sensor: 'u32', raw: 'f32', flags: 'u32' } });
export const Calibrated = defineMessage({ name: 'Calibrated', fields: { sensor: 'u32', celsius: 'f32', flags: 'u32' } });
export const Alert = defineMessage({ name: 'Alert', fields: { sensor: 'u32', celsius: 'f32', level: 'u32', seen: 'u32' } });
export type ReadingMsg = typeof Reading.type & { priority?: number };
export type AlertMsg = typeof Alert.type;

/** Level 0 is "ok" (only ever a reply to a probe), 1 warning, 2 critical. */
export const LEVELS = ['ok', 'warn', 'critical'] as const;

// ------------------------------------------------------------------ calibrate
/** gain and offset per sensor: computed rather than tabled, so WGSL and JS agree trivially. */
const gain = (sensor: number): number => Math.fround(1 + Math.fround(0.01 * sensor));
const offset = (sensor: number): number => Math.fround(Math.fround(0.5 * sensor) - 2);

export const calibrate = defineRingKernel({
  name: 'calibrate',
  input: Reading,
  output: Calibrated,
  wgsl: /* wgsl */ `
    fn handle(m: Reading, priority: u32) {
      // NaN and infinities have an all-ones exponent; tested on the bits because WGSL compilers
      // may assume floats are finite and fold a (x != x) test away
      if ((bitcast<u32>(m.raw) & 0x7f800000u) == 0x7f800000u) { rk_fail(${NOT_FINITE}u); return; }
      if (m.sensor >= ${SENSORS}u) { rk_fail(${NO_SENSOR}u); return; }
      if (m.raw < ${RAW_MIN}.0 || m.raw > ${RAW_MAX}.0) { rk_fail(${OUT_OF_RANGE}u); return; }
      let gain = 1.0 + 0.01 * f32(m.sensor);
      let offset = 0.5 * f32(m.sensor) - 2.0;
      rk_emit(Calibrated(m.sensor, m.raw * gain + offset, m.flags), priority);
    }`,
  cpu: (m, ctx) => {
    if (!Number.isFinite(m.raw)) return ctx.fail(NOT_FINITE);
    if (m.sensor >= SENSORS) return ctx.fail(NO_SENSOR);
    if (m.raw < RAW_MIN || m.raw > RAW_MAX) return ctx.fail(OUT_OF_RANGE);
    const celsius = Math.fround(Math.fround(m.raw * gain(m.sensor)) + offset(m.sensor));
    ctx.emit({ sensor: m.sensor, celsius, flags: m.flags, priority: m.priority });
  },
});

// ------------------------------------------------------------------ detect
/**
 * detect's state, u32 words: per sensor how many readings it saw, how many raised an alert and
 * the hottest reading (°C × 10 + 1000, so it is a non-negative integer atomicMax can keep), then
 * the SENSORS × BINS histogram, row by sensor.
 */
export const STATE = { seen: 0, alerts: SENSORS, max: 2 * SENSORS, histogram: 3 * SENSORS } as const;
const STATE_WORDS = 3 * SENSORS + SENSORS * BINS;
const MAX_SCALE = 10, MAX_BIAS = 1000;
/** Alerts outrank ordinary traffic: critical ones leave the queue first. */
const WARN_PRIORITY = 200, CRITICAL_PRIORITY = 255;

export const detect = defineRingKernel({
  name: 'detect',
  input: Calibrated,
  output: Alert,
  state: { type: `array<atomic<u32>, ${STATE_WORDS}>`, bytes: 4 * STATE_WORDS },
  wgsl: /* wgsl */ `
    fn handle(m: Calibrated, priority: u32) {
      let s = min(m.sensor, ${SENSORS - 1}u);
      let seen = atomicAdd(&rk_state[${STATE.seen}u + s], 1u) + 1u;
      atomicMax(&rk_state[${STATE.max}u + s], u32(clamp(m.celsius * ${MAX_SCALE}.0 + ${MAX_BIAS}.0, 0.0, 1e6)));
      let bin = u32(clamp((m.celsius - (${BIN_LOW}.0)) / ${BIN_WIDTH}.0, 0.0, ${BINS - 1}.0));
      atomicAdd(&rk_state[${STATE.histogram}u + s * ${BINS}u + bin], 1u);
      var level = 0u;
      var p = priority;
      if (m.celsius >= ${CRITICAL}.0) { level = 2u; p = ${CRITICAL_PRIORITY}u; }
      else if (m.celsius >= ${WARN}.0) { level = 1u; p = max(priority, ${WARN_PRIORITY}u); }
      if (level > 0u) { atomicAdd(&rk_state[${STATE.alerts}u + s], 1u); }
      if (level > 0u || (m.flags & ${PROBE}u) != 0u) { rk_emit(Alert(s, m.celsius, level, seen), p); }
    }`,
  cpu: (m, ctx) => {
    const st = ctx.state;
    const add = (word: number, n = 1): number => {
      const v = st.getUint32(4 * word, true) + n;
      st.setUint32(4 * word, v >>> 0, true);
      return v;
    };
    const s = Math.min(m.sensor, SENSORS - 1);
    const seen = add(STATE.seen + s);
    const fixed = Math.trunc(Math.min(Math.max(m.celsius * MAX_SCALE + MAX_BIAS, 0), 1e6));
    if (fixed > st.getUint32(4 * (STATE.max + s), true)) st.setUint32(4 * (STATE.max + s), fixed, true);
    const bin = Math.trunc(Math.min(Math.max((m.celsius - BIN_LOW) / BIN_WIDTH, 0), BINS - 1));
    add(STATE.histogram + s * BINS + bin);
    let level = 0;
    let priority = m.priority;
    if (m.celsius >= CRITICAL) [level, priority] = [2, CRITICAL_PRIORITY];
    else if (m.celsius >= WARN) [level, priority] = [1, Math.max(priority, WARN_PRIORITY)];
    if (level > 0) add(STATE.alerts + s);
    if (level > 0 || (m.flags & PROBE) !== 0) ctx.emit({ sensor: s, celsius: m.celsius, level, seen, priority });
  },
});

export interface SensorStats {
  seen: number;
  alerts: number;
  /** hottest reading in °C, or null before the first one */
  max: number | null;
  histogram: number[];
}

/** detect's state, as read back from the device, per sensor. */
export function decodeState(bytes: ArrayBuffer): SensorStats[] {
  const w = new Uint32Array(bytes);
  return Array.from({ length: SENSORS }, (_, s) => ({
    seen: w[STATE.seen + s],
    alerts: w[STATE.alerts + s],
    max: w[STATE.seen + s] === 0 ? null : (w[STATE.max + s] - MAX_BIAS) / MAX_SCALE,
    histogram: Array.from(w.subarray(STATE.histogram + s * BINS, STATE.histogram + (s + 1) * BINS)),
  }));
}

export const emptyState = (): Uint32Array => new Uint32Array(STATE_WORDS);

// ------------------------------------------------------------------ launch
/** Kernel ids in pipeline order (the page sends to the first and receives from the last). */
export const KERNEL_IDS = ['calibrate', 'detect'] as const;
export type KernelId = (typeof KERNEL_IDS)[number];

/**
 * Queue capacities. Small on purpose: with the page's alert consumer paused or a kernel
 * deactivated, the visitor sees the queues fill within seconds, the pipeline stall end to end,
 * and the first stage start dropping its oldest readings (sensor data: the newest matters most).
 */
export const CONFIG: Record<KernelId, LaunchConfig> = {
  calibrate: { inputQueueSize: 2048, backpressure: 'drop', sendsTo: 'detect' },
  detect: { inputQueueSize: 1024, outputQueueSize: 512, backpressure: 'block' },
};

/** Queue capacities for the bars: a kernel that sends to another has that kernel's input as its output queue. */
export const CAPACITY: Record<KernelId, { input: number; output: number }> = {
  calibrate: { input: 2048, output: 1024 },
  detect: { input: 1024, output: 512 },
};

/** Launches and activates the pipeline, downstream first: `sendsTo` needs its target launched. */
export async function launchPipeline(rt: RingKernelRuntime, onStep: (text: string) => void): Promise<void> {
  onStep('compiling detect');
  await rt.launch('detect', detect, CONFIG.detect);
  onStep('compiling calibrate');
  await rt.launch('calibrate', calibrate, CONFIG.calibrate);
  onStep('activating');
  await rt.activate('detect');
  await rt.activate('calibrate');
}

// ------------------------------------------------------------------ traffic
/**
 * Plausible sensor traffic: each sensor wanders around its own base temperature, sensor 6 runs
 * hot enough to warn now and then, rare spikes go critical, and about 2% of readings are
 * garbage (NaN, or far out of range) for `calibrate` to reject.
 */
const BASE_TEMPS = [21, 34, 48, 62, 40, 27, 74, 55];

export class SensorTraffic {
  private readonly temps = [...BASE_TEMPS];

  next(randomPriority: boolean): ReadingMsg {
    const sensor = Math.floor(Math.random() * SENSORS);
    const base = BASE_TEMPS[sensor];
    // mean-reverting random walk
    this.temps[sensor] += (base - this.temps[sensor]) * 0.05 + gauss() * 2.5;
    let raw = this.temps[sensor] + gauss() * 3;
    const roll = Math.random();
    if (roll < 0.01) raw = NaN;
    else if (roll < 0.02) raw = 400 + Math.random() * 600;
    else if (roll < 0.03) raw = 100 + Math.random() * 30; // a spike
    return { sensor, raw: Math.round(raw * 10) / 10, flags: 0, priority: randomPriority ? Math.floor(Math.random() * 256) : 128 };
  }
}

function gauss(): number {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}
