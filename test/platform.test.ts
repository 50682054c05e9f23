/**
 * The platform layer: src/platform/node.ts and src/platform/browser.ts export the same API (the
 * browser build swaps one for the other), and the browser one behaves as its callers expect.
 * The browser module runs here too: MessageChannel and queueMicrotask are Node globals as well.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it, vi } from 'vitest';
import * as browser from '../src/platform/browser.js';
import * as node from '../src/platform/node.js';
import { GpuUnavailableError } from '../src/device/errors.js';

// Compile-time: each platform module has every export of the other, with the same types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameApi: Same<Omit<typeof browser, 'PLATFORM'>, Omit<typeof node, 'PLATFORM'>> = true;

describe('the platform layer', () => {
  it('both modules export the same names', () => {
    expect(sameApi).toBe(true);
    expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
    expect([browser.PLATFORM, node.PLATFORM]).toEqual(['browser', 'node']);
  });

  it('browser: nextMacrotask runs callbacks in order, after pending microtasks, one message per batch', async () => {
    const posted = vi.spyOn(MessagePort.prototype, 'postMessage');
    try {
      const order: string[] = [];
      browser.nextMacrotask(() => order.push('a'));
      browser.nextMacrotask(() => {
        order.push('b');
        browser.nextMacrotask(() => order.push('d')); // queued while a batch runs: the next batch
      });
      void Promise.resolve().then(() => order.push('microtask'));
      browser.nextMacrotask(() => order.push('c'));
      const firstBatchDone = new Promise<void>((resolve) => browser.nextMacrotask(resolve));
      expect(order).toEqual([]);
      expect(posted).toHaveBeenCalledTimes(1); // one message for a, b, c and the resolve
      await firstBatchDone;
      expect(order).toEqual(['microtask', 'a', 'b', 'c']);
      expect(posted).toHaveBeenCalledTimes(2); // d's batch
      await new Promise<void>((resolve) => browser.nextMacrotask(resolve));
      expect(order).toEqual(['microtask', 'a', 'b', 'c', 'd']);
    } finally {
      posted.mockRestore();
    }
  });

  it('browser: where the host counts handles (Node), the channel keeps it alive only while a batch waits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringkernel-platform-'));
    try {
      await build({
        entryPoints: [fileURLToPath(new URL('../src/platform/browser.ts', import.meta.url))],
        bundle: true,
        format: 'esm',
        platform: 'neutral',
        outfile: join(dir, 'platform.mjs'),
        logLevel: 'silent',
      });
      const script = join(dir, 'main.mjs');
      writeFileSync(
        script,
        `import { nextMacrotask } from './platform.mjs';
         let n = 0;
         nextMacrotask(() => { n++; nextMacrotask(() => n++); });
         process.on('exit', () => console.log('ran ' + n));`,
      );
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 10_000 });
      expect(r.error).toBeUndefined(); // a process held open forever would be killed by the timeout
      expect(r.stdout.trim()).toBe('ran 2'); // and one let go too early would not have run both
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('browser: a callback that throws is reported and the rest of its batch still runs', async () => {
    const ran: number[] = [];
    const reported = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    browser.nextMacrotask(() => ran.push(1));
    browser.nextMacrotask(() => {
      throw new Error('boom');
    });
    browser.nextMacrotask(() => ran.push(3));
    expect(((await reported) as Error).message).toBe('boom');
    expect(ran).toEqual([1, 3]);
  });

  it('browser: no navigator.gpu is a GpuUnavailableError that says what is missing', async () => {
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    const error = await browser.loadWebGpu().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuUnavailableError);
    expect((error as Error).message).toMatch(/no WebGPU \(navigator\.gpu\).*secure context/);
  });

  it('browser: timers cannot be faked away; node: a faked setImmediate is detected', () => {
    expect(browser.timersFaked()).toBe(false);
    expect(node.timersFaked()).toBe(false);
    const real = globalThis.setImmediate;
    try {
      globalThis.setImmediate = ((fn: () => void) => real(fn)) as typeof setImmediate;
      expect(node.timersFaked()).toBe(true);
    } finally {
      globalThis.setImmediate = real;
    }
  });
});
