/**
 * Ring kernels on the GPU at scale and at their edges: thousands of messages over many
 * priorities in one tick, a 3-stage pipeline moving 1e5 messages, one submission per tick with
 * no host relay between stages, WGSL errors reported with the kernel's own line, device loss.
 */
import { expect, it } from 'vitest';
import {
  DeviceLostError,
  KernelCompileError,
  RingKernelRuntime,
  acquireDevice,
  defineRingKernel,
} from 'ringkernel';
import { describeGpu, probeDevice } from './gpu-helpers.js';
import { profileSubmissions, requestAdapter } from 'ringkernel';
import { randInt, rng } from './helpers.js';
import { Num, addTen, double, fanOut } from './runtime-kernels.js';

describeGpu('ring kernels on the GPU: scale, submissions, errors, loss', () => {
  it('a faked setImmediate: the tick that needs the device fails the runtime closed with an error that says so (no hang)', async () => {
    const rt = await RingKernelRuntime.create({ backend: 'gpu' });
    await rt.launch('d', double);
    await rt.activate('d');
    const real = globalThis.setImmediate;
    let outcome: unknown;
    try {
      globalThis.setImmediate = ((fn: () => void) => real(fn)) as typeof setImmediate; // what a fake timer library does
      outcome = await Promise.race([
        rt.sendAndReceive('d', { v: 1, id: 1 }).then(
          () => 'resolved',
          (e: Error) => e.message,
        ),
        new Promise((resolve) => setTimeout(() => resolve('hang'), 5000)),
      ]);
    } finally {
      globalThis.setImmediate = real;
    }
    expect(outcome).toMatch(/setImmediate is faked; WebGPU's Node binding resolves mapAsync through it/);
    expect(rt.kernelIds).toEqual([]);
    await expect(rt.send('d', { v: 2, id: 2 })).rejects.toThrow();
    await rt.shutdown();
  });

  it('one tick of 6 000 messages over 256 priorities: outputs in priority-then-FIFO order of their inputs, each input\'s emits in order', async () => {
    const rt = await RingKernelRuntime.create({ backend: 'gpu' });
    try {
      await rt.launch('f', fanOut, { inputQueueSize: 8192, outputQueueSize: 20_000, maxMessagesPerTick: 8192 });
      const random = rng(3);
      const sent = Array.from({ length: 6000 }, (_, i) => ({ v: randInt(random, 0, 3), id: i, priority: randInt(random, 0, 255) }));
      await rt.sendMany('f', sent);
      await rt.activate('f');
      await rt.idle();
      expect(rt.telemetry('f')).toMatchObject({ ticks: 1, messagesProcessed: 6000 });
      const got = (await rt.receiveMany('f', 20_000)) as Num[];
      const expected: { v: number; id: number; priority: number }[] = [];
      // outputs take their input's priority; within a priority, inputs in FIFO order, then emit order
      for (const m of [...sent].sort((a, b) => b.priority - a.priority || a.id - b.id)) {
        for (let c = 0; c < m.v; c++) expected.push({ v: c, id: m.id, priority: m.priority });
      }
      expect(got.length).toBe(expected.length);
      expect(got).toEqual(expected);
    } finally {
      await rt.shutdown();
    }
  });

  it('a 3-stage pipeline moves 1e5 messages with every one accounted for', { timeout: 120_000 }, async () => {
    const rt = await RingKernelRuntime.create({ backend: 'gpu' });
    try {
      await rt.launch('c', addTen, { inputQueueSize: 20_000, outputQueueSize: 30_000 });
      await rt.launch('b', double, { inputQueueSize: 20_000, sendsTo: 'c' });
      await rt.launch('a', double, { inputQueueSize: 20_000, sendsTo: 'b' });
      for (const id of ['c', 'b', 'a']) await rt.activate(id);
      const N = 100_000;
      const seen = new Uint8Array(N);
      let received = 0;
      const batch = 16_384;
      for (let sent = 0; sent < N || received < N; ) {
        if (sent < N) {
          const n = Math.min(batch, N - sent);
          const words = new Uint32Array(n * Num.words);
          const priorities = new Uint8Array(n);
          for (let j = 0; j < n; j++) {
            words[j * Num.words] = (sent + j) % 1000;
            words[j * Num.words + 1] = sent + j;
            priorities[j] = (sent + j) % 7;
          }
          await rt.sendManyPacked('a', words, priorities);
          sent += n;
        }
        const out = await rt.receiveManyPacked('c', 30_000);
        for (let j = 0; j < out.count; j++) {
          const id = out.words[j * Num.words + 1];
          expect(out.words[j * Num.words] | 0).toBe(4 * (id % 1000) + 10);
          expect(seen[id]).toBe(0);
          seen[id] = 1;
        }
        received += out.count;
      }
      expect(received).toBe(N);
      for (const id of ['a', 'b', 'c']) expect(rt.telemetry(id)).toMatchObject({ messagesProcessed: N, messagesEmitted: N, messagesDropped: 0, errors: 0, inputDepth: 0 });
    } finally {
      await rt.shutdown();
    }
  });

  it('one submission per tick: a message crosses three stages in one submission, with no host relay', async () => {
    const { device: real } = await acquireDevice();
    const probe = probeDevice(real);
    const rt = await RingKernelRuntime.create({ backend: 'gpu', device: probe.device });
    try {
      await rt.launch('c', addTen);
      await rt.launch('b', double, { sendsTo: 'c' });
      await rt.launch('a', double, { sendsTo: 'b' });
      for (const id of ['c', 'b', 'a']) await rt.activate(id);
      await rt.idle();
      const before = probe.submissions;
      const reply = await rt.sendAndReceive('a', { v: 5, id: 1 });
      expect(reply).toEqual({ v: 30, id: 1, priority: 128 });
      expect(probe.submissions - before).toBe(1);
      expect(rt.telemetry('a')!.ticks).toBe(1);
      expect(rt.telemetry('c')!.ticks).toBe(1);
      // and over a run of ticks: submissions = ticks (each stage is in each of them)
      const s0 = probe.submissions;
      const t0 = rt.telemetry('a')!.ticks;
      for (let i = 0; i < 10; i++) await rt.sendAndReceive('a', { v: i, id: i });
      await rt.idle();
      expect(probe.submissions - s0).toBe(rt.telemetry('a')!.ticks - t0);
    } finally {
      await rt.shutdown();
      real.destroy();
    }
  });

  it('a receive waiting as a tick runs is answered by that tick: one submission, the device\'s records in priority order', async () => {
    const { device: real } = await acquireDevice();
    const probe = probeDevice(real);
    const rt = await RingKernelRuntime.create({ backend: 'gpu', device: probe.device });
    try {
      await rt.launch('c', addTen, { outputQueueSize: 256 });
      await rt.launch('a', double, { sendsTo: 'c' });
      for (const id of ['c', 'a']) await rt.activate(id);
      await rt.idle();
      let id = 0;
      // (after the last round of more than a head, one more: its head is fetched from the device, so a pop that never reached it would show)
      for (const [n, want] of [[1, 1], [5, 5], [10, 3], [64, 64], [100, 100], [1, 1]] as const) {
        const before = probe.submissions;
        const receiving = rt.receiveMany('c', want); // waits: the output queue is empty
        const sent = Array.from({ length: n }, () => {
          const m = { v: id, id, priority: (id * 7) % 5 };
          id++;
          return m;
        });
        await rt.sendMany('a', sent);
        const got = await receiving;
        const expected = sent.map((m) => ({ v: m.v * 2 + 10, id: m.id, priority: m.priority })).sort((x, y) => y.priority - x.priority || x.id - y.id);
        // up to 64 (the head a tick fetches) it rides on the kernels' submission; more takes a second one
        expect(got).toEqual(expected.slice(0, want));
        expect(probe.submissions - before, `${n} messages`).toBe(n <= 64 ? 1 : 2);
        // the rest, then nothing: every message once
        const rest: unknown[] = [];
        while (rest.length < n - want) rest.push(...(await rt.receiveMany('c', n)));
        expect(rest).toEqual(expected.slice(want));
        await rt.idle();
        expect(rt.telemetry('c')!.outputDepth).toBe(0);
        expect(await rt.receive('c', { timeout: 0 }).then(() => 'got one', () => 'empty')).toBe('empty');
      }
    } finally {
      await rt.shutdown();
      real.destroy();
    }
  });

  it('a small tick is one fused dispatch per kernel where the device binds 12 storage buffers, and the separate dispatches where it binds 8: the same answers', async () => {
    // (an adapter gives one device: a fresh one each)
    const ask = async (storage: number) =>
      (await requestAdapter()).requestDevice({ requiredFeatures: ['timestamp-query'], requiredLimits: storage > 8 ? { maxStorageBuffersPerShaderStage: storage } : {} });
    for (const [storage, fused] of [[16, true], [8, false]] as const) {
      const device = await ask(storage);
      const labels: string[][] = [];
      const rt = await RingKernelRuntime.create({ backend: 'gpu', device });
      try {
        await rt.launch('c', addTen, { outputQueueSize: 512 });
        await rt.launch('b', fanOut, { sendsTo: 'c' });
        await rt.launch('a', double, { sendsTo: 'b' });
        for (const id of ['c', 'b', 'a']) await rt.activate(id);
        const stop = profileSubmissions(device, (t) => labels.push((t.dispatches ?? []).map((d) => d.label)));
        // ((1 * 2) -> fanOut: copies 0 and 1 -> +10)
        expect(await rt.sendAndReceive('a', { v: 1, id: 7 })).toEqual({ v: 10, id: 7, priority: 128 });
        await rt.sendMany('a', Array.from({ length: 40 }, (_, i) => ({ v: i % 2, id: i, priority: i % 3 })));
        await rt.idle();
        stop();
        const got = await rt.receiveMany('c', 512);
        // v % 2 == 1 -> v = 2 -> two copies (0, 1) -> 10, 11; v == 0 -> none
        // (the request's second output stays in the output queue: a reply is its first)
        const expected = [{ v: 11, id: 7, priority: 128 }, ...Array.from({ length: 40 }, (_, i) => i)
          .filter((i) => i % 2 === 1)
          .flatMap((i) => [{ v: 10, id: i, priority: i % 3 }, { v: 11, id: i, priority: i % 3 }])
          .sort((x, y) => y.priority - x.priority)];
        expect(got).toEqual(expected);
        const all = labels.flat();
        if (fused) {
          expect(all.filter((l) => l === 'rk_fused').length).toBeGreaterThanOrEqual(6); // 3 per tick, 2 ticks at least
          expect(all).not.toContain('rk_take');
        } else {
          expect(all).not.toContain('rk_fused');
          expect(all).toContain('rk_take');
        }
      } finally {
        await rt.shutdown();
        device.destroy();
      }
    }
  });

  it('a kernel whose WGSL does not compile is refused with the compiler\'s message and its own line; nothing is left', async () => {
    const rt = await RingKernelRuntime.create({ backend: 'gpu' });
    try {
      const broken = defineRingKernel({
        name: 'broken',
        input: Num,
        output: Num,
        wgsl: `fn handle(msg: Num, priority: u32) {
  let x: u32 = 1u;
  rk_emit(Num(msg.v + x, msg.id), priority);
}`,
      });
      const e = await rt.launch('broken', broken).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KernelCompileError);
      expect((e as KernelCompileError).line).toBe(3);
      expect((e as Error).message).toMatch(/WGSL error at line 3, column \d+ of its wgsl: .*/);
      expect((e as Error).message).toContain('rk_emit(Num(msg.v + x, msg.id), priority);');
      expect(rt.kernelIds).toEqual([]);
    } finally {
      await rt.shutdown();
    }
  });

  it('device loss: every kernel is terminated, every pending operation rejects with DeviceLostError, nothing hangs', async () => {
    const { device } = await acquireDevice();
    const rt = await RingKernelRuntime.create({ backend: 'gpu', device });
    await rt.launch('b', addTen, { outputQueueSize: 4 });
    await rt.launch('a', double, { sendsTo: 'b' });
    await rt.activate('b');
    const waiting = rt.receive('b'); // nothing to receive yet
    const request = rt.sendAndReceive('a', { v: 1, id: 1 }); // a is not active: it waits
    device.destroy();
    const settled = await Promise.allSettled([waiting, request]);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(DeviceLostError);
    }
    expect(rt.kernelIds).toEqual([]);
    expect(rt.isActive).toBe(false);
    await expect(rt.send('a', { v: 1, id: 1 })).rejects.toBeInstanceOf(DeviceLostError);
    // nothing new on a lost runtime: a launch is refused, not half made
    await expect(rt.launch('c', double)).rejects.toBeInstanceOf(DeviceLostError);
    expect(rt.kernelIds).toEqual([]);
    await rt.shutdown();
  });

  it('concurrent launches each get their own compile result (error scopes do not cross)', async () => {
    const rt = await RingKernelRuntime.create({ backend: 'gpu' });
    try {
      const broken = defineRingKernel({ name: 'broken2', input: Num, output: Num, wgsl: 'fn handle(msg: Num, priority: u32) { rk_emit(msg, nope); }' });
      const good = defineRingKernel({ name: 'good2', input: Num, output: Num, wgsl: 'fn handle(msg: Num, priority: u32) { rk_emit(msg, priority); }' });
      const [bad, fine, bad2] = await Promise.allSettled([rt.launch('bad', broken), rt.launch('good', good), rt.launch('bad2', broken)]);
      expect(bad.status).toBe('rejected');
      expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(KernelCompileError);
      expect(bad2.status).toBe('rejected');
      expect(fine.status).toBe('fulfilled');
      expect(rt.kernelIds).toEqual(['good']);
      await rt.activate('good');
      expect(await rt.sendAndReceive('good', { v: 7, id: 1 })).toEqual({ v: 7, id: 1, priority: 128 });
    } finally {
      await rt.shutdown();
    }
  });
});
