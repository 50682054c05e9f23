/**
 * The runtime under attack: one test per reproduced defect, run on both backends
 * (runtimeDefectSuite('cpu') and ('gpu')). Each failed on the code before its fix.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  KernelStateError,
  NoReplyError,
  QueueFullError,
  QueueTimeoutError,
  RingKernelRuntime,
  defineMessage,
  defineRingKernel,
} from 'ringkernel';
import { Num, addTen, double, picky } from './runtime-kernels.js';

const num = (v: number, id: number, priority?: number) => ({ v, id, ...(priority === undefined ? {} : { priority }) });

/** Schemas whose last field leaves padding: the words after it are not the message's. */
const Vec3 = defineMessage({ name: 'Vec3', fields: { p: 'vec3<f32>' } });
const PosId = defineMessage({ name: 'PosId', fields: { pos: 'vec2<f32>', id: 'u32' } });
const Vec4U = defineMessage({ name: 'Vec4U', fields: { a: 'vec4<f32>', b: 'u32' } });

/** Passes each message on unchanged. */
function passthrough(schema: typeof Vec3 | typeof PosId | typeof Vec4U) {
  return defineRingKernel({
    name: `pass${schema.name}`,
    input: schema,
    output: schema,
    wgsl: `fn handle(msg: ${schema.name}, priority: u32) { rk_emit(msg, priority); }`,
    cpu: (msg, ctx) => {
      ctx.emit({ ...(msg as object), priority: msg.priority } as never);
    },
  });
}

/** The words of a schema that belong to no field (padding). */
function paddingWords(schema: { words: number; fields: readonly { offset: number; size: number }[] }): number[] {
  const used = new Set<number>();
  for (const f of schema.fields) for (let w = f.offset / 4; w < (f.offset + f.size) / 4; w++) used.add(w);
  return Array.from({ length: schema.words }, (_, w) => w).filter((w) => !used.has(w));
}

export function runtimeDefectSuite(backend: 'cpu' | 'gpu'): void {
  describe(`the runtime under attack (${backend} backend)`, () => {
    const open: RingKernelRuntime[] = [];
    afterEach(async () => {
      for (const rt of open.splice(0)) await rt.shutdown();
    });
    async function runtime(): Promise<RingKernelRuntime> {
      const rt = await RingKernelRuntime.create({ backend });
      open.push(rt);
      return rt;
    }

    describe('packed messages: padding never reaches a correlation tag', () => {
      for (const schema of [Vec3, PosId, Vec4U]) {
        it(`${schema.name}: garbage in the padding words of sendManyPacked changes nothing, and receiveManyPacked returns zero padding`, async () => {
          const pad = paddingWords(schema);
          expect(pad.length).toBeGreaterThan(0);
          const rt = await runtime();
          const k = passthrough(schema);
          await rt.launch('k', k, { inputQueueSize: 64, outputQueueSize: 64 });
          await rt.activate('k');
          // a live request: its tag is 1, the first of this runtime; padding equal to it must not steal its reply
          const first = { ...(schema === Vec3 ? { p: [1, 2, 3] } : schema === PosId ? { pos: [1, 2], id: 77 } : { a: [1, 2, 3, 4], b: 77 }), priority: 9 };
          await rt.deactivate('k');
          const reply = rt.sendAndReceive('k', first);
          const n = 8;
          const words = new Uint32Array(n * schema.words);
          for (let j = 0; j < n; j++) {
            for (let w = 0; w < schema.words; w++) words[j * schema.words + w] = 0x3f800000 + j; // 1.0f + j ulp, any bits
            for (const w of pad) words[j * schema.words + w] = j % 2 === 0 ? 1 : 0xdeadbeef; // the live tag, or garbage
          }
          const priorities = new Uint8Array(n).fill(200);
          await rt.sendManyPacked('k', words, priorities);
          await rt.reactivate('k');
          await rt.idle();
          expect(rt.isActive).toBe(true);
          const got = await reply;
          expect(got.priority).toBe(9);
          const out = await rt.receiveManyPacked('k', 100);
          expect(out.count).toBe(n);
          for (let j = 0; j < n; j++) {
            for (let w = 0; w < schema.words; w++) {
              const expected = pad.includes(w) ? 0 : 0x3f800000 + j;
              expect(out.words[j * schema.words + w], `message ${j} word ${w}`).toBe(expected);
            }
          }
          expect(rt.trackedRequests).toBe(0);
        });
      }
    });
  });
}
