/**
 * The benchmark inside a page: bench.html loads this bundle (dist/demo/bench.js), and
 * `ringkernel bench --browser` (bench/browser-run.ts) calls `ringkernelBench.run` through
 * puppeteer. It runs the GPU group — GpuMessageQueue against MessageQueue and the raw WebGPU
 * round trip — on the browser's WebGPU, with the same harness as in Node, and hands back the
 * plain-data session for Node to print.
 */
import { gpuGroup } from './gpu-workloads.js';
import type { RunConfig } from './harness.js';
import { runSession, type SessionResult } from './session.js';

export type PageRunResult =
  | { ok: true; session: SessionResult; clockResolutionNs: number }
  | { ok: false; name: string; message: string; stack: string };

/**
 * The smallest step of the page's clock. Browsers coarsen `performance.now()` (5 µs when the
 * page is cross-origin isolated, as `ringkernel serve` makes it; 100 µs otherwise), so a timed
 * call shorter than this reads as 0 in the p50/p99 columns; rates come from whole rounds.
 */
function clockResolutionNs(): number {
  let step = Infinity;
  let last = performance.now();
  const until = last + 20;
  while (last < until) {
    const t = performance.now();
    if (t > last) step = Math.min(step, t - last);
    last = t;
  }
  return Math.round(step * 1e6);
}

export interface PageBench {
  run(config: RunConfig, only: string[] | null): Promise<PageRunResult>;
}

declare global {
  /** Set by the page's driver (puppeteer's exposeFunction) to follow the run. */
  var ringkernelProgress: ((text: string, milestone: boolean) => void) | undefined;
  var ringkernelNote: ((text: string) => void) | undefined;
  var ringkernelBench: PageBench | undefined;
}

globalThis.ringkernelBench = {
  async run(config, only) {
    try {
      const session = await runSession(
        [gpuGroup],
        config,
        only,
        (text, milestone) => globalThis.ringkernelProgress?.(text, milestone),
        (text) => globalThis.ringkernelNote?.(text),
      );
      return { ok: true, session, clockResolutionNs: clockResolutionNs() };
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      return { ok: false, name: e.name, message: e.message, stack: e.stack ?? '' };
    }
  },
};
