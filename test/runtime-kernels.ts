/**
 * Ring kernels the runtime tests use, each written twice (WGSL for the GPU backend, JavaScript
 * for the CPU backend) with the same logic.
 */
import { defineMessage, defineRingKernel } from 'ringkernel';

export const Req = defineMessage({ name: 'Req', fields: { values: 'array<f32, 8>', count: 'u32', op: 'u32' } });
export const Res = defineMessage({ name: 'Res', fields: { result: 'f32' } });
export type Req = typeof Req.type;
export type Res = typeof Res.type;

export const OP = { SUM: 0, MEAN: 1, MAX: 2, MIN: 3 } as const;

/** The compute service: sum, mean, max or min of the first `count` values; an unknown op fails with code 7. */
export const compute = defineRingKernel({
  name: 'compute',
  input: Req,
  output: Res,
  wgsl: /* wgsl */ `
fn handle(msg: Req, priority: u32) {
  if (msg.count == 0u || msg.count > 8u || msg.op > 3u) { rk_fail(7u); return; }
  var acc = msg.values[0];
  for (var i = 1u; i < msg.count; i++) {
    let v = msg.values[i];
    switch msg.op {
      case 0u, 1u: { acc += v; }
      case 2u: { acc = max(acc, v); }
      default: { acc = min(acc, v); }
    }
  }
  if (msg.op == 1u) { acc = acc / f32(msg.count); }
  rk_emit(Res(acc), priority);
}`,
  cpu: (msg, ctx) => {
    if (msg.count === 0 || msg.count > 8 || msg.op > 3) return ctx.fail(7);
    // (each f32 step rounded as WGSL rounds it)
    let acc = msg.values[0];
    for (let i = 1; i < msg.count; i++) {
      const v = msg.values[i];
      if (msg.op <= 1) acc = Math.fround(acc + v);
      else if (msg.op === 2) acc = Math.max(acc, v);
      else acc = Math.min(acc, v);
    }
    if (msg.op === 1) acc = Math.fround(acc / msg.count);
    ctx.emit({ result: acc, priority: msg.priority });
  },
});

export const Num = defineMessage({ name: 'Num', fields: { v: 'i32', id: 'u32' } });
export type Num = typeof Num.type;

/** ×2, keeping the id and the priority. */
export const double = defineRingKernel({
  name: 'double',
  input: Num,
  output: Num,
  wgsl: `fn handle(msg: Num, priority: u32) { rk_emit(Num(msg.v * 2, msg.id), priority); }`,
  cpu: (msg, ctx) => {
    ctx.emit({ v: msg.v * 2, id: msg.id, priority: msg.priority });
  },
});

/** +10. */
export const addTen = defineRingKernel({
  name: 'addTen',
  input: Num,
  output: Num,
  wgsl: `fn handle(msg: Num, priority: u32) { rk_emit(Num(msg.v + 10, msg.id), priority); }`,
  cpu: (msg, ctx) => {
    ctx.emit({ v: msg.v + 10, id: msg.id, priority: msg.priority });
  },
});

/** Emits v copies (0..3) of each message, with v = copy index; tries one more, which must be refused. */
export const fanOut = defineRingKernel({
  name: 'fanOut',
  input: Num,
  output: Num,
  maxEmits: 3,
  wgsl: `fn handle(msg: Num, priority: u32) {
  let n = u32(clamp(msg.v, 0, 3));
  for (var c = 0u; c < n; c++) { rk_emit(Num(i32(c), msg.id), priority); }
  if (n == 3u && rk_emit(Num(99, msg.id), priority)) { rk_fail(1u); }
}`,
  cpu: (msg, ctx) => {
    const n = Math.min(Math.max(msg.v, 0), 3);
    for (let c = 0; c < n; c++) ctx.emit({ v: c, id: msg.id, priority: msg.priority });
    if (n === 3 && ctx.emit({ v: 99, id: msg.id, priority: msg.priority })) ctx.fail(1);
  },
});

/** Counts messages and sums their values in its state: [count, sum, max id]. */
export const counter = defineRingKernel({
  name: 'counter',
  input: Num,
  state: { type: 'array<atomic<u32>, 4>', bytes: 16 },
  wgsl: `fn handle(msg: Num, priority: u32) {
  atomicAdd(&rk_state[0], 1u);
  atomicAdd(&rk_state[1], u32(msg.v));
  atomicMax(&rk_state[2], msg.id);
}`,
  cpu: (msg, ctx) => {
    const s = ctx.state;
    s.setUint32(0, s.getUint32(0, true) + 1, true);
    s.setUint32(4, (s.getUint32(4, true) + msg.v) >>> 0, true);
    s.setUint32(8, Math.max(s.getUint32(8, true), msg.id), true);
  },
});

/** Fails (code = v) when v is negative, else passes the message on. */
export const picky = defineRingKernel({
  name: 'picky',
  input: Num,
  output: Num,
  wgsl: `fn handle(msg: Num, priority: u32) {
  if (msg.v < 0) { rk_fail(u32(-msg.v)); return; }
  rk_emit(msg, priority);
}`,
  cpu: (msg, ctx) => {
    if (msg.v < 0) return ctx.fail(-msg.v);
    ctx.emit({ v: msg.v, id: msg.id, priority: msg.priority });
  },
});

/** Passes each message on with a priority drawn from its id: (id * 37) mod 64, so a batch's outputs mix priorities. */
export const shuffle = defineRingKernel({
  name: 'shuffle',
  input: Num,
  output: Num,
  wgsl: `fn handle(msg: Num, priority: u32) { rk_emit(msg, (msg.id * 37u) % 64u); }`,
  cpu: (msg, ctx) => {
    ctx.emit({ v: msg.v, id: msg.id, priority: (msg.id * 37) % 64 });
  },
});

export const Nums = defineMessage({ name: 'Nums', fields: { a: 'f32', b: 'f32', n: 'i32', u: 'u32', xs: 'vec2<f32>' } });
export const NumsOut = defineMessage({ name: 'NumsOut', fields: { sum: 'f32', prod: 'f32', scaled: 'i32', mixed: 'u32', xs: 'vec2<f32>' } });

/**
 * f32 and integer arithmetic as WGSL does it, one operation per f32 result (a single operation
 * is rounded correctly on the software adapters here; a chain may not be: README, "Numbers").
 * The JavaScript handler leaves the rounding of its f32 results and the 32-bit wrap of its
 * integer results to the CPU backend, which stores them as WGSL does.
 */
export const numeric = defineRingKernel({
  name: 'numeric',
  input: Nums,
  output: NumsOut,
  wgsl: `fn handle(msg: Nums, priority: u32) {
  rk_emit(NumsOut(msg.a + msg.b, msg.a * msg.b, msg.n * 65536, msg.u * 4096u + 7u, msg.xs / 3.0), priority);
}`,
  cpu: (m, ctx) => {
    ctx.emit({ sum: m.a + m.b, prod: m.a * m.b, scaled: m.n * 65536, mixed: m.u * 4096 + 7, xs: [m.xs[0] / 3, m.xs[1] / 3], priority: m.priority });
  },
});
