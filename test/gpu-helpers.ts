/**
 * Shared gate for GPU test files. GPU tests FAIL when no adapter exists (GpuMessageQueue.create
 * rejects with GpuUnavailableError saying what to install), unless RINGKERNEL_SKIP_GPU=1 is set:
 * then they are skipped and a loud notice is printed, so a skipped GPU run is never mistaken
 * for a passing one.
 */
import { describe } from 'vitest';

export const SKIP_GPU = process.env.RINGKERNEL_SKIP_GPU === '1';
let noticed = false;

/** `describe` for GPU tests: runs them, or (RINGKERNEL_SKIP_GPU=1 only) skips them loudly. */
export function describeGpu(name: string, body: () => void): void {
  if (SKIP_GPU) {
    if (!noticed) {
      noticed = true;
      const bar = '!'.repeat(78);
      console.warn(`\n${bar}\n!!! RINGKERNEL_SKIP_GPU=1: GPU TESTS ARE SKIPPED, NOT PASSED. GpuMessageQueue is UNTESTED in this run.\n${bar}\n`);
    }
    describe.skip(name, body);
    return;
  }
  describe(name, body);
}
