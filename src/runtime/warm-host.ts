/**
 * The host half of "warm at launch": the JavaScript a tick runs (planning, the queues' op logs,
 * encoding, the submission, delivery, request/reply) is compiled by the engine on first use and
 * optimized after a few runs. On the software adapter a first `sendAndReceive` with every pipeline
 * compiled still cost ~6 ms against ~0.6 ms warm, all of it in host phases. So the first GPU
 * launch of the process first runs ROUNDS rounds (a sendAndReceive, a batch of BATCH messages as
 * objects and one packed) through a private runtime on the same device (a one-word echo kernel),
 * then shuts it down: afterwards the user's first request runs code that has run before (and
 * been optimized). It costs ~0.2 s once; no profile shows its submissions. Once per process; a
 * failure here is left to the real launch to meet (a lost device fails it anyway).
 */
import { defineMessage } from '../schema/define-message.js';
import { defineRingKernel } from './kernel.js';

/** The least a private runtime must do here (RingKernelRuntime, without importing it). */
export interface WarmRuntime {
  launch(id: string, def: typeof echo, config?: { inputQueueSize?: number; outputQueueSize?: number }): Promise<void>;
  activate(id: string): Promise<void>;
  sendAndReceive(id: string, message: { v: number; priority?: number }): Promise<unknown>;
  sendMany(id: string, messages: readonly { v: number }[]): Promise<void>;
  receiveMany(id: string, max: number): Promise<unknown[]>;
  sendManyPacked(id: string, words: Uint32Array, priorities: Uint8Array): Promise<void>;
  receiveManyPacked(id: string, max: number): Promise<{ count: number }>;
  shutdown(): Promise<void>;
}

const Word = defineMessage({ name: 'RkWarmWord', fields: { v: 'u32' } });
const echo = defineRingKernel({
  name: 'rkWarmEcho',
  input: Word,
  output: Word,
  wgsl: 'fn handle(m: RkWarmWord, priority: u32) { rk_emit(m, priority); }',
  cpu: (m, ctx) => {
    ctx.emit(m);
  },
});

/** Round trips and batches of each kind (enough for the engine to optimize the hot functions). */
const ROUNDS = 40;
const BATCH = 64;

let warming: Promise<void> | null = null;

/** Warms the host paths once per process with `make()`'s runtime (created here, shut down here). */
export function warmHostPaths(make: () => WarmRuntime): Promise<void> {
  warming ??= (async () => {
    const rt = make();
    try {
      await rt.launch('warm', echo, { inputQueueSize: BATCH, outputQueueSize: BATCH });
      await rt.activate('warm');
      const words = new Uint32Array(BATCH);
      const priorities = new Uint8Array(BATCH).fill(128);
      const many = Array.from({ length: BATCH }, (_, v) => ({ v }));
      for (let i = 0; i < ROUNDS; i++) {
        await rt.sendAndReceive('warm', { v: i });
        await rt.sendMany('warm', many);
        for (let got = 0; got < BATCH; ) got += (await rt.receiveMany('warm', BATCH)).length;
        await rt.sendManyPacked('warm', words, priorities);
        for (let got = 0; got < BATCH; ) got += (await rt.receiveManyPacked('warm', BATCH)).count;
      }
    } catch {
      // (best effort: see above)
    } finally {
      await rt.shutdown().catch(() => undefined);
    }
  })();
  return warming;
}
