/**
 * The streaming benchmark accounts for every message: what the producer sent during the run is
 * what the consumer received and checked (a stream that lost or mangled messages would report
 * a rate of nothing). Behaviour only: the rates are the benchmark's.
 */
import { describe, expect, it } from 'vitest';
import { RingKernelRuntime, defineMessage, defineRingKernel } from 'ringkernel';
import { stream } from '../bench/streaming.js';
import { describeGpu } from './gpu-helpers.js';

const Item = defineMessage({ name: 'Item', fields: { v: 'u32', id: 'u32' } });
const times2 = defineRingKernel({ name: 'times2', input: Item, output: Item, wgsl: 'fn handle(m: Item, p: u32) { rk_emit(Item(m.v * 2u, m.id), p); }', cpu: (m, ctx) => void ctx.emit({ v: m.v * 2, id: m.id, priority: m.priority }) });
const plusOne = defineRingKernel({ name: 'plusOne', input: Item, output: Item, wgsl: 'fn handle(m: Item, p: u32) { rk_emit(Item(m.v + 1u, m.id), p); }', cpu: (m, ctx) => void ctx.emit({ v: m.v + 1, id: m.id, priority: m.priority }) });
const plusTwo = defineRingKernel({ name: 'plusTwo', input: Item, output: Item, wgsl: 'fn handle(m: Item, p: u32) { rk_emit(Item(m.v + 2u, m.id), p); }', cpu: (m, ctx) => void ctx.emit({ v: m.v + 2, id: m.id, priority: m.priority }) });
/** Makes every message's index 0 or 1: each value on its own is valid, only the batch's checksum shows the batch is not what was sent. */
const clampIndex = defineRingKernel({ name: 'clampIndex', input: Item, output: Item, wgsl: 'fn handle(m: Item, p: u32) { rk_emit(Item(min(m.v, 2u) + 1u, m.id), p); }', cpu: (m, ctx) => void ctx.emit({ v: Math.min(m.v, 2) + 1, id: m.id, priority: m.priority }) });

async function pipeline(backend: 'cpu' | 'gpu', middle = plusOne): Promise<RingKernelRuntime> {
  const rt = await RingKernelRuntime.create({ backend });
  await rt.launch('c', times2, { inputQueueSize: 512, outputQueueSize: 512 });
  await rt.launch('b', middle, { inputQueueSize: 512, sendsTo: 'c' });
  await rt.launch('a', times2, { inputQueueSize: 512, sendsTo: 'b' });
  for (const id of ['c', 'b', 'a']) await rt.activate(id);
  return rt;
}

function suite(backend: 'cpu' | 'gpu'): void {
  it(`${backend}: every message sent during the stream is received and checked; latencies are ordered`, { timeout: 60_000 }, async () => {
    const rt = await pipeline(backend);
    try {
      const r = await stream(rt, 64, 150);
      expect(r.sent).toBeGreaterThan(0);
      expect(r.received).toBe(r.sent);
      expect(r.wrong).toBe(0);
      expect(r.p50Ms).toBeLessThanOrEqual(r.p99Ms);
      expect(rt.telemetry('c')!.messagesProcessed).toBe(r.sent);
    } finally {
      await rt.shutdown();
    }
  });

  it(`${backend}: the check can fail: a pipeline that computes something else is reported wrong`, { timeout: 60_000 }, async () => {
    for (const middle of [plusTwo, clampIndex]) {
      const rt = await pipeline(backend, middle);
      try {
        const r = await stream(rt, 64, 50);
        expect(r.received).toBe(r.sent);
        expect(r.wrong, middle.name).toBe(r.received);
      } finally {
        await rt.shutdown();
      }
    }
  });
}

describe('bench stream (cpu backend)', () => suite('cpu'));
describeGpu('bench stream (gpu backend)', () => suite('gpu'));
