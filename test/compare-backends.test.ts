/**
 * compareBackends: the same kernel or chain on both backends, compared output by output, count
 * by count and state byte by byte. Random inputs (fast-check, floats included) must agree bit
 * for bit; a handler written differently on the CPU must be caught, and named.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareBackends, defineMessage, defineRingKernel } from 'ringkernel';
import { describeGpu } from './gpu-helpers.js';
import { Num, Nums, NumsOut, addTen, compute, counter, double, numeric, picky } from './runtime-kernels.js';

// (magnitudes 2^-30..2^30 or 0: every result stays a normal f32. Below 2^-126 this adapter does not
// round as IEEE does: a * b = -2.3e-46, which rounds to -0, then * 3.0 came back as -1.4e-45)
const f32 = fc.oneof(
  fc.constant(0),
  fc.tuple(fc.boolean(), fc.float({ noNaN: true, min: Math.fround(2 ** -30), max: Math.fround(2 ** 30) })).map(([negative, x]) => (negative ? -x : x)),
);
const numsMessage = fc.record({
  a: f32,
  b: f32,
  n: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  u: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  xs: fc.tuple(f32, f32),
  priority: fc.integer({ min: 0, max: 255 }),
});

describe('compareBackends: bad input', () => {
  it('refuses an empty chain, something that is not a kernel, and a bad tolerance, before running anything', async () => {
    await expect(compareBackends([], [])).rejects.toThrow(RangeError);
    await expect(compareBackends({} as never, [])).rejects.toThrow(/defineRingKernel/);
    await expect(compareBackends(double, [], { ulps: -1 })).rejects.toThrow(/ulps must be a non-negative integer/);
    await expect(compareBackends(double, 'x' as never)).rejects.toThrow(/messages must be an array/);
  });
});

describeGpu('compareBackends', () => {
  it('random f32 and integer messages through the numeric kernel: the same bits on both backends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(numsMessage, { minLength: 1, maxLength: 300 }), async (messages) => {
        expect(await compareBackends(numeric, messages)).toEqual({ equal: true });
      }),
      { numRuns: 4, seed: 2026 },
    );
  });

  it('the README-style compute kernel, a chain, a stateful kernel and a failing one agree', async () => {
    const req = (i: number) => ({ values: [i * 0.1, 1 / (i + 1), -i, 3.3, 0, 0, 0, 0], count: 1 + (i % 4), op: i % 5, priority: i % 256 });
    expect(await compareBackends(compute, Array.from({ length: 500 }, (_, i) => req(i)))).toEqual({ equal: true });
    const nums = Array.from({ length: 1000 }, (_, i) => ({ v: (i * 7919) % 100_000 - 50_000, id: i, priority: (i * 37) % 256 }));
    expect(await compareBackends([double, addTen], nums)).toEqual({ equal: true });
    expect(await compareBackends(counter, nums.map((m) => ({ ...m, v: Math.abs(m.v) })))).toEqual({ equal: true });
    expect(await compareBackends(picky, nums)).toEqual({ equal: true });
  });

  it("the README's other kernels, as the README writes them, agree on random messages: square (a wrapping u32 multiply) and traffic (state)", async () => {
    const U = defineMessage({ name: 'U', fields: { v: 'u32' } });
    const square = defineRingKernel({
      name: 'square',
      input: U,
      output: U,
      wgsl: `fn handle(m: U, priority: u32) { rk_emit(U(m.v * m.v), priority); }`,
      cpu: (m, ctx) => {
        ctx.emit({ v: Math.imul(m.v, m.v), priority: m.priority });
      },
    });
    const Hit = defineMessage({ name: 'Hit', fields: { page: 'u32', bytes: 'u32' } });
    const traffic = defineRingKernel({
      name: 'traffic',
      input: Hit,
      state: { type: 'array<atomic<u32>, 5>', bytes: 20 },
      wgsl: `fn handle(m: Hit, priority: u32) {
  atomicAdd(&rk_state[m.page % 4u], 1u);
  atomicAdd(&rk_state[4], m.bytes);
}`,
      cpu: (m, ctx) => {
        const st = ctx.state;
        st.setUint32((m.page % 4) * 4, st.getUint32((m.page % 4) * 4, true) + 1, true);
        st.setUint32(16, st.getUint32(16, true) + m.bytes, true);
      },
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ v: fc.integer({ min: 0, max: 2 ** 32 - 1 }), priority: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 200 }),
        fc.array(fc.record({ page: fc.integer({ min: 0, max: 2 ** 32 - 1 }), bytes: fc.integer({ min: 0, max: 2 ** 32 - 1 }) }), { minLength: 1, maxLength: 200 }),
        async (us, hits) => {
          expect(await compareBackends(square, us)).toEqual({ equal: true });
          expect(await compareBackends(traffic, hits)).toEqual({ equal: true });
        },
      ),
      { numRuns: 3, seed: 7 },
    );
  });

  it('a CPU handler that rounds a chain of f32 steps once at the end is caught, with the field and the distance; a tolerance accepts it', async () => {
    // (the GPU rounds a * b, then the product * 3; the CPU handler rounds only a * b * 3)
    const roundsOnce = defineRingKernel({
      name: 'roundsOnce',
      input: Nums,
      output: NumsOut,
      wgsl: `fn handle(msg: Nums, priority: u32) {
  let ab = msg.a * msg.b;
  rk_emit(NumsOut(msg.a + msg.b, ab * 3.0, msg.n, msg.u, msg.xs), priority);
}`,
      cpu: (m, ctx) => {
        ctx.emit({ sum: m.a + m.b, prod: m.a * m.b * 3, scaled: m.n, mixed: m.u, xs: m.xs, priority: m.priority });
      },
    });
    const messages = Array.from({ length: 400 }, (_, i) => ({ a: 1 + i / 7, b: 3 - i / 13, n: i, u: i, xs: [i, i] }));
    const r = await compareBackends(roundsOnce, messages);
    expect(r.equal).toBe(false);
    expect(r.difference).toMatch(/^outputs of kernel 0 \(roundsOnce\): output \d+: field prod: .* on the gpu backend, .* on the cpu backend \([12] ulps apart\)$/);
    expect(await compareBackends(roundsOnce, messages, { ulps: 2 })).toEqual({ equal: true });
  });

  it('a CPU handler that counts differently is caught in the counts, and one that keeps different state in the state bytes', async () => {
    const dropsOdd = defineRingKernel({
      name: 'dropsOdd',
      input: Num,
      output: Num,
      wgsl: double.wgsl,
      cpu: (m, ctx) => {
        if (m.id % 2 === 0) ctx.emit({ v: m.v * 2, id: m.id, priority: m.priority });
      },
    });
    const nums = Array.from({ length: 10 }, (_, i) => ({ v: i, id: i }));
    expect(await compareBackends(dropsOdd, nums)).toEqual({ equal: false, difference: 'kernel 0 (dropsOdd): emitted 10 on the gpu backend, 5 on the cpu backend' });
    const countsTwice = defineRingKernel({
      name: 'countsTwice',
      input: Num,
      state: counter.state!,
      wgsl: counter.wgsl,
      cpu: (m, ctx) => {
        const s = ctx.state;
        s.setUint32(0, s.getUint32(0, true) + 2, true);
        s.setUint32(4, s.getUint32(4, true) + m.v, true);
        s.setUint32(8, Math.max(s.getUint32(8, true), m.id), true);
      },
    });
    expect(await compareBackends(countsTwice, nums)).toEqual({ equal: false, difference: 'state of kernel 0 (countsTwice): byte 0: 0x0a on the gpu backend, 0x14 on the cpu backend' });
  });
});
