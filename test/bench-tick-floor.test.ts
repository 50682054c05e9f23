/**
 * The tick floor does the pipeline's work: after a call its readback holds what three stages
 * (x2, +1, x2) make of every uploaded record, at the batch sizes the benchmark uses. Behaviour
 * only: its rate is the benchmark's.
 */
import { expect, it } from 'vitest';
import { tickFloorCase } from '../bench/tick-floor.js';
import { describeGpu } from './gpu-helpers.js';

describeGpu('bench tick floor', () => {
  for (const batch of [1, 64, 1000, 65536]) {
    it(`batch ${batch}: three dispatches, each reading what the one before wrote`, async () => {
      const c = await tickFloorCase(batch, 3);
      try {
        expect(c.check()).toBe(false); // nothing read back yet
        await c.call();
        expect(c.check()).toBe(true);
      } finally {
        c.dispose?.();
      }
    });
  }
});
