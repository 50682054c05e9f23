/**
 * A ring kernel's own words on the device, defined once: its control block (`kctl`, atomics).
 * The WGSL gets the same offsets from `kernelLayoutWgsl()` (RK_K_* constants), prepended to
 * the runtime's tick shader and to each kernel's handler.
 */
const KCTL_FIELDS = [
  ['N', 1], // messages this tick consumes (rk_take)
  ['LASTFAIL', 1], // 1 + index of the last input of this tick whose handler failed (atomicMax), 0 for none
  ['EVENTS', 1], // tagged inputs this tick consumed (events listed in the work buffer)
  ['PROCESSED', 2], // cumulative counters (64-bit)
  ['EMITTED', 2],
  ['ERRORS', 2],
  ['LASTCODE', 1], // the code of the last failure
  ['HASLAST', 1], // 1 once a failure was recorded
  ['ONEPOS', 1], // the scan position (255 - priority) of the one bucket this tick's take took every message from, or ONE_BUCKET_NONE (rk_take)
  // the lowest and highest key of this tick's emit positions (a record's priority, 256 for an
  // empty slot; 0 and 0xffffffff once a tagged input was handled): the handler's atomicMin/Max,
  // reset by rk_take; copied into the large ingest's Params (keyLo, keyHi), which must follow in this order
  ['KEYLO', 1],
  ['KEYHI', 1],
] as const;

type KctlName = (typeof KCTL_FIELDS)[number][0];

export const K: Readonly<Record<KctlName, number>> = (() => {
  const out = {} as Record<KctlName, number>;
  let at = 0;
  for (const [name, words] of KCTL_FIELDS) {
    out[name] = at;
    at += words;
  }
  return out;
})();
export const KCTL_WORDS = 16;

/** Invocations per workgroup of a kernel's handler. */
export const HANDLER_WORKGROUP = 64;

/**
 * A tagged message's event in the work buffer: tag lo, tag hi, its emits with EVENT_FAILED set
 * when its handler called rk_fail, and that failure's code.
 */
export const EVENT_WORDS = 4;
export const EVENT_FAILED = 0x80000000;
export const EVENT_EMITS_MASK = 0x7fffffff;

/** RK_K_ONEPOS when the take took from several buckets (or none). */
export const ONE_BUCKET_NONE = 0xffffffff;

/** A priority word that marks an emit slot without an output (>= 256: no record). */
export const NO_RECORD = 0xffffffff;

export function kernelLayoutWgsl(): string {
  return [
    '// generated from src/runtime/gpu/kernel-layout.ts: the control block of a ring kernel',
    ...Object.entries(K).map(([name, at]) => `const RK_K_${name}: u32 = ${at}u;`),
    `const RK_HANDLER_WORKGROUP: u32 = ${HANDLER_WORKGROUP}u;`,
    `const RK_NO_RECORD: u32 = 0x${NO_RECORD.toString(16)}u;`,
    `const RK_ONE_BUCKET_NONE: u32 = 0x${ONE_BUCKET_NONE.toString(16)}u;`,
    `const RK_EVENT_WORDS: u32 = ${EVENT_WORDS}u;`,
    `const RK_EVENT_FAILED: u32 = 0x${EVENT_FAILED.toString(16)}u;`,
    '',
  ].join('\n');
}
