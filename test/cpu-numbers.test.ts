/**
 * The CPU backend stores numbers as WGSL does (src/runtime/cpu/numbers.ts), and still refuses
 * what no GPU buffer could hold: each case below is what the CPU backend alone decides.
 */
import { describe, expect, it } from 'vitest';
import { RingKernelRuntime, defineMessage, defineRingKernel } from 'ringkernel';

const V = defineMessage({ name: 'V', fields: { n: 'i32', xs: 'vec2<f32>' } });

describe('CPU backend numbers', () => {
  it('typed arrays in a message or an output become fresh plain arrays, rounded: a buffer reused by the caller or the handler changes nothing', async () => {
    const scratch = new Float32Array(2);
    const k = defineRingKernel({
      name: 'twice',
      input: V,
      output: V,
      maxEmits: 2,
      wgsl: 'fn handle(m: V, priority: u32) { rk_emit(m, priority); rk_emit(m, priority); }',
      cpu: (m, ctx) => {
        scratch[0] = m.xs[0];
        scratch[1] = 1;
        ctx.emit({ n: m.n, xs: scratch as never, priority: m.priority });
        scratch[1] = 2;
        ctx.emit({ n: m.n, xs: scratch as never, priority: m.priority });
      },
    });
    const rt = await RingKernelRuntime.create({ backend: 'cpu' });
    try {
      await rt.launch('k', k);
      await rt.activate('k');
      const buf = new Float64Array([0.1, 0.2]);
      await rt.send('k', { n: 1, xs: buf as never });
      buf[0] = 999;
      await rt.idle();
      const out = await rt.receiveMany<{ n: number; xs: number[] }>('k', 5);
      expect(out).toEqual([
        { n: 1, xs: [Math.fround(0.1), 1], priority: 128 },
        { n: 1, xs: [Math.fround(0.1), 2], priority: 128 },
      ]);
      expect(Array.isArray(out[0].xs) && out[0].xs !== out[1].xs).toBe(true);
    } finally {
      await rt.shutdown();
    }
  });

  it('an emit that no 32-bit field can hold still fails the handler, counted, and emits nothing: a fraction, NaN, an integer past 2^53, a string', async () => {
    for (const [bad, error] of [
      [1.5, /RangeError/],
      [Number.NaN, /RangeError/],
      [2 ** 60, /RangeError/],
      ['7', /TypeError|RangeError/],
    ] as const) {
      const k = defineRingKernel({
        name: 'bad',
        input: V,
        output: V,
        wgsl: 'fn handle(m: V, priority: u32) { rk_emit(m, priority); }',
        cpu: (m, ctx) => {
          ctx.emit({ n: bad as never, xs: m.xs, priority: m.priority });
        },
      });
      const rt = await RingKernelRuntime.create({ backend: 'cpu' });
      try {
        await rt.launch('k', k);
        await rt.activate('k');
        await rt.send('k', { n: 1, xs: [0, 0] });
        await rt.idle();
        const t = rt.telemetry('k')!;
        expect({ processed: t.messagesProcessed, emitted: t.messagesEmitted, errors: t.errors }).toEqual({ processed: 1, emitted: 0, errors: 1 });
        expect(t.lastError).toMatch(error);
      } finally {
        await rt.shutdown();
      }
    }
  });

  it('an emitted integer within 2^53 wraps to 32 bits, as the GPU wraps it', async () => {
    const k = defineRingKernel({
      name: 'wrap',
      input: V,
      output: V,
      wgsl: 'fn handle(m: V, priority: u32) { rk_emit(V(m.n * 65536, m.xs), priority); }',
      cpu: (m, ctx) => {
        ctx.emit({ n: m.n * 65536, xs: m.xs, priority: m.priority });
      },
    });
    const rt = await RingKernelRuntime.create({ backend: 'cpu' });
    try {
      await rt.launch('k', k);
      await rt.activate('k');
      await rt.send('k', { n: 70_000, xs: [0, 0] });
      await rt.idle();
      expect((await rt.receive<{ n: number }>('k')).n).toBe((70_000 * 65536) | 0);
    } finally {
      await rt.shutdown();
    }
  });
});
