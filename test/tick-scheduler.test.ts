/**
 * The tick schedule on its own (src/runtime/scheduler.ts), with ticks whose end the test decides:
 * when ticks may start beside ones in flight, and that waiting for them to settle drains them.
 */
import { describe, expect, it } from 'vitest';
import { TickScheduler } from '../src/runtime/scheduler.js';

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A scheduler whose ticks stay in flight until `finish(i)`; `started` counts ticks begun. */
function harness(depth: number, overlap = true) {
  const ends: ((didWork: boolean) => void)[] = [];
  const lands: (() => void)[] = [];
  const s = new TickScheduler(
    (land) =>
      new Promise<boolean>((resolve) => {
        ends.push(resolve);
        lands.push(land);
      }),
    (error) => {
      throw error;
    },
    () => depth,
    () => overlap,
  );
  return {
    s,
    get started() {
      return ends.length;
    },
    finish: async (i: number, didWork = false) => {
      lands[i]();
      ends[i](didWork);
      // (the tick's end is seen in a microtask, which may then schedule the next start)
      await macrotask();
      await macrotask();
    },
  };
}

describe('TickScheduler', () => {
  it('depth 1: a request while a tick runs starts the next one only after it', async () => {
    const h = harness(1);
    h.s.request(true);
    await macrotask();
    expect(h.started).toBe(1);
    h.s.request(true);
    await macrotask();
    expect(h.started).toBe(1);
    await h.finish(0);
    expect(h.started).toBe(2);
  });

  it('depth 3: a request for new work starts a tick beside the ones in flight, up to 3; a plain request does not', async () => {
    const h = harness(3);
    h.s.request(true);
    await macrotask();
    h.s.request();
    await macrotask();
    expect(h.started).toBe(1);
    h.s.request(true);
    await macrotask();
    expect(h.started).toBe(2);
    expect(h.s.inFlight).toBe(2);
    h.s.request(true);
    await macrotask();
    h.s.request(true);
    await macrotask();
    expect(h.started).toBe(3);
    // the plain and the refused requests are served after the last one finishes
    await h.finish(0);
    await h.finish(1);
    expect(h.started).toBe(3);
    await h.finish(2);
    expect(h.started).toBe(4);
  });

  it('no overlap where the host says no (mayOverlap false)', async () => {
    const h = harness(3, false);
    h.s.request(true);
    await macrotask();
    h.s.request(true);
    await macrotask();
    expect(h.started).toBe(1);
  });

  it('settled(): no tick starts beside the running ones while it waits; it resolves when they are done, and the refused request runs after', async () => {
    const h = harness(3);
    h.s.request(true);
    await macrotask();
    h.s.request(true);
    await macrotask();
    expect(h.started).toBe(2);
    let settled = false;
    void h.s.settled().then(() => (settled = true));
    h.s.request(true);
    await macrotask();
    expect(h.started).toBe(2);
    await h.finish(0);
    expect(settled).toBe(false);
    expect(h.started).toBe(2);
    await h.finish(1);
    expect(settled).toBe(true);
    expect(h.started).toBe(3);
  });

  it('idle() resolves once every tick is done and the last one did nothing', async () => {
    const h = harness(2);
    h.s.request(true);
    await macrotask();
    h.s.request(true);
    await macrotask();
    let idle = false;
    void h.s.idle().then(() => (idle = true));
    await h.finish(0, true);
    expect(idle).toBe(false);
    await h.finish(1);
    // the first one did work: one more tick looks
    expect(h.started).toBe(3);
    expect(idle).toBe(false);
    await h.finish(2);
    expect(idle).toBe(true);
  });
});
