/**
 * compareBackends: one kernel, or a sendsTo chain of kernels, run on the GPU and on the CPU
 * backend with the same messages, and compared: the outputs of the chain's end in order, each
 * kernel's counts (processed, emitted, dropped, errors, the last error) and each stateful
 * kernel's state bytes. `f32` fields of outputs may differ by `ulps` units in the last place
 * (default 0: equal, with -0 equal to +0 and NaN to NaN; an infinity only equals itself);
 * everything else must be equal. The first difference is named.
 *
 * Both runs send every message in one call, one tick at a time (ticksInFlight 1), with queues
 * sized to hold every message and every output, so nothing is dropped or refused by room alone:
 * what differs is what the kernels compute.
 */
import type { FieldLayout, MessageSchema } from '../schema/define-message.js';
import type { RingKernelDefinition } from './kernel.js';
import { RingKernelRuntime } from './runtime.js';

export interface CompareOptions {
  /** units in the last place an output's f32 field may differ by (a non-negative integer; default 0) */
  ulps?: number;
  /** the GPU backend's device (default: ringkernel's shared device) */
  device?: GPUDevice;
}

export interface CompareResult {
  equal: boolean;
  /** the first difference, in words, when there is one */
  difference?: string;
}

interface Run {
  outputs: Record<string, unknown>[];
  counts: { processed: number; emitted: number; dropped: number; errors: number; lastError: string | null }[];
  states: (Uint8Array | null)[];
}

export async function compareBackends(
  kernelOrChain: RingKernelDefinition | readonly RingKernelDefinition[],
  messages: readonly object[],
  options: CompareOptions = {},
): Promise<CompareResult> {
  const chain: readonly RingKernelDefinition[] = Array.isArray(kernelOrChain) ? kernelOrChain : [kernelOrChain as RingKernelDefinition];
  if (chain.length === 0) throw new RangeError('compareBackends: the chain has no kernel');
  for (const def of chain) {
    if (typeof def !== 'object' || def === null || def.inputEnvelope === undefined) throw new TypeError('compareBackends: every kernel must come from defineRingKernel()');
    if (def.cpu === undefined) throw new TypeError(`compareBackends: kernel ${def.name} has no cpu handler`);
  }
  if (!Array.isArray(messages)) throw new TypeError('compareBackends: messages must be an array');
  const { ulps = 0, device } = options;
  if (!Number.isSafeInteger(ulps) || ulps < 0) throw new RangeError(`compareBackends: ulps must be a non-negative integer, got ${String(ulps)}`);
  const gpu = await run('gpu', chain, messages, device);
  const cpu = await run('cpu', chain, messages, undefined);
  const difference = firstDifference(chain, gpu, cpu, ulps);
  return difference === null ? { equal: true } : { equal: false, difference };
}

async function run(backend: 'gpu' | 'cpu', chain: readonly RingKernelDefinition[], messages: readonly object[], device: GPUDevice | undefined): Promise<Run> {
  const rt = await RingKernelRuntime.create({ backend, ticksInFlight: 1, ...(device !== undefined ? { device } : {}) });
  try {
    // room for everything: stage k holds every message times what the stages before it can emit of each
    const sizes: number[] = [];
    let fan = 1;
    for (const def of chain) {
      sizes.push(Math.max(4096, messages.length * fan));
      fan *= Math.max(1, def.maxEmits);
    }
    const ids = chain.map((_, k) => `k${k}`);
    for (let k = chain.length - 1; k >= 0; k--) {
      const last = k === chain.length - 1;
      await rt.launch(ids[k], chain[k], {
        inputQueueSize: sizes[k],
        // (a tick's outputs are at most 2^20: larger inputs take several ticks, in the same order on both)
        maxMessagesPerTick: Math.floor(2 ** 20 / Math.max(1, chain[k].maxEmits)),
        ...(last ? { outputQueueSize: Math.max(4096, messages.length * fan) } : { sendsTo: ids[k + 1] }),
      });
    }
    for (let k = chain.length - 1; k >= 0; k--) await rt.activate(ids[k]);
    await rt.sendMany(ids[0], messages);
    await rt.idle();
    const end = ids[ids.length - 1];
    const outputs: Record<string, unknown>[] = [];
    if (chain[chain.length - 1].output !== undefined) {
      while (rt.telemetry(end)!.outputDepth > 0) outputs.push(...((await rt.receiveMany(end, 1 << 20)) as Record<string, unknown>[]));
    }
    const counts = ids.map((id) => {
      const t = rt.telemetry(id)!;
      return { processed: t.messagesProcessed, emitted: t.messagesEmitted, dropped: t.messagesDropped, errors: t.errors, lastError: t.lastError };
    });
    const states: (Uint8Array | null)[] = [];
    for (let k = 0; k < chain.length; k++) states.push(chain[k].state !== undefined ? new Uint8Array(await rt.readState(ids[k])) : null);
    return { outputs, counts, states };
  } finally {
    await rt.shutdown();
  }
}

function firstDifference(chain: readonly RingKernelDefinition[], gpu: Run, cpu: Run, ulps: number): string | null {
  const name = (k: number) => `kernel ${k} (${chain[k].name})`;
  for (let k = 0; k < chain.length; k++) {
    const g = gpu.counts[k];
    const c = cpu.counts[k];
    for (const key of ['processed', 'emitted', 'dropped', 'errors', 'lastError'] as const) {
      if (g[key] !== c[key]) return `${name(k)}: ${key} ${show(g[key])} on the gpu backend, ${show(c[key])} on the cpu backend`;
    }
  }
  const schema = chain[chain.length - 1].output;
  if (schema !== undefined) {
    const what = `outputs of ${name(chain.length - 1)}`;
    const n = Math.min(gpu.outputs.length, cpu.outputs.length);
    for (let j = 0; j < n; j++) {
      const d = outputDifference(schema, gpu.outputs[j], cpu.outputs[j], ulps);
      if (d !== null) return `${what}: output ${j}: ${d}`;
    }
    if (gpu.outputs.length !== cpu.outputs.length) return `${what}: ${gpu.outputs.length} on the gpu backend, ${cpu.outputs.length} on the cpu backend`;
  }
  for (let k = 0; k < chain.length; k++) {
    const g = gpu.states[k];
    const c = cpu.states[k];
    if (g === null || c === null) continue;
    for (let b = 0; b < g.length; b++) {
      if (g[b] !== c[b]) return `state of ${name(k)}: byte ${b}: 0x${hex(g[b])} on the gpu backend, 0x${hex(c[b])} on the cpu backend`;
    }
  }
  return null;
}

function outputDifference(schema: MessageSchema<any>, g: Record<string, unknown>, c: Record<string, unknown>, ulps: number): string | null {
  if (g.priority !== c.priority) return `priority ${show(g.priority)} on the gpu backend, ${show(c.priority)} on the cpu backend`;
  for (const f of schema.fields) {
    const gv = g[f.name];
    const cv = c[f.name];
    const gs = Array.isArray(gv) ? gv : [gv];
    const cs = Array.isArray(cv) ? cv : [cv];
    for (let e = 0; e < Math.max(gs.length, cs.length); e++) {
      if (!same(f, gs[e], cs[e], ulps)) {
        const at = f.array || f.components > 1 ? `${f.name}[${e}]` : f.name;
        const finite = f.scalar === 'f32' && Number.isFinite(gs[e]) && Number.isFinite(cs[e]);
        return `field ${at}: ${show(gs[e])} on the gpu backend, ${show(cs[e])} on the cpu backend${finite ? ` (${ulpDistance(gs[e] as number, cs[e] as number)} ulps apart)` : ''}`;
      }
    }
  }
  return null;
}

function same(f: FieldLayout, a: unknown, b: unknown, ulps: number): boolean {
  if (f.scalar !== 'f32' || typeof a !== 'number' || typeof b !== 'number') return a === b;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  // (an infinity is not one unit from the largest float: an overflow is a difference)
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return ulpDistance(a, b) <= ulps;
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** The f32 values between a and b, as the bits order them (-0 and +0 are 0 apart). */
function ulpDistance(a: number, b: number): number {
  const ordered = (x: number): number => {
    f32[0] = x;
    const bits = i32[0];
    // (negative floats' bits run backwards: fold them so the order is the numbers')
    return bits < 0 ? -0x80000000 - bits : bits;
  };
  return Math.abs(ordered(a) - ordered(b));
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
