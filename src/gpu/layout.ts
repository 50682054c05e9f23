/**
 * The GPU queue's control block, error bits, dispatch flags and per-dispatch parameters:
 * defined once, here. The TypeScript side reads the offsets below; the WGSL side gets the same
 * numbers as constants from `layoutWgsl()` (prepended to every queue shader) and, with an `RK_`
 * prefix, from `deviceApiConstants()` (prepended to user kernels).
 *
 * CONTROL BLOCK (`ctl`, array<atomic<u32>>): GLOBAL_WORDS global words, then one array of 256
 * words per bucket field (`bk(field, bucket)`). 64-bit values are (lo, hi) word pairs and never
 * wrap in a queue's life (sequence numbers stay below 2^53, as the host's numbers are exact).
 */

/** [name, words]: the global words in order. */
const GLOBAL_FIELDS = [
  ['COUNT', 1], // messages in the queue
  ['CAP', 1], // maxSize
  ['FREETOP', 1], // free-block stack height
  ['ERR', 1], // ERR_* bits of violated invariants
  ['BSHIFT', 1], // log2 of the block size
  ['NB', 1], // blocks in the pool
  ['W', 1], // payload words per message
  ['TOTAL', 1], // messages the last plan took (gathers' bound)
  ['INBOX', 1], // device-side push reservations (saturating: never passes INBOX_CAP by more than one per invocation)
  ['AVAIL', 1], // device-side pop reservations left (saturating at 0 the same way)
  ['INBOX_CAP', 1], // device-side pushes allowed in this run
  ['INGEST_N', 1], // record positions of the device-ordered push being ingested (inbox or kernel emits)
  ['REPLY_N', 1], // records diverted by the last ingest (FLAG_DIVERT)
  ['RUN_POPS', 1], // pops of the last device-side run
  ['RUN_PUSHES', 1], // pushes of the last device-side run / ingest
  ['IND', 3], // indirect dispatch size of the ingest
  ['NEXTSEQ', 2], // next insertion sequence number (64-bit)
  ['PLANSEQ', 2], // first sequence number of the push being planned
  ['ENQ', 2], // cumulative counters (64-bit)
  ['DEQ', 2],
  ['DROPPED', 2],
  ['CLEARED', 2],
  ['DEVPOPS', 2], // cumulative pops by device-side kernels (user kernels, ring kernels)
  ['DEVPUSHES', 2], // cumulative pushes by device-side kernels
  ['BITMAP', 8], // bit k of word k/32: bucket k non-empty
  ['SERIAL', 2], // the submission serial the last FLAG_SERIAL dispatch wrote (src/device/submission.ts: a dropped command buffer never writes it)
] as const;

type GlobalName = (typeof GLOBAL_FIELDS)[number][0];

function offsets<N extends string>(fields: readonly (readonly [N, number])[]): { offsets: Record<N, number>; words: number } {
  const out = {} as Record<N, number>;
  let at = 0;
  for (const [name, words] of fields) {
    out[name] = at;
    at += words;
  }
  return { offsets: out, words: at };
}

const globals = offsets(GLOBAL_FIELDS);
/** Offsets of the global words in `ctl`. */
export const G: Readonly<Record<GlobalName, number>> = globals.offsets;
/** Words before the per-bucket arrays (the globals, rounded up; what a readback of the globals copies). */
export const GLOBAL_WORDS = Math.ceil(globals.words / 16) * 16;

/** Per-bucket arrays of 256 words each: `bk(F.X, k)`. Plan arrays (TAKE..BLKOFF, PLANHEAD) are indexed by scan position i = 255 - k. */
export const F = {
  HEAD: 0, // first ticket of the bucket
  TAIL: 1, // one past its last ticket
  HEADBLK: 2, // block holding ticket HEAD
  TAILBLK: 3, // block holding ticket TAIL
  CLAIM: 4, // device-side pop claim tickets of the current run
  TAKE: 5, // plan: messages taken from this scan position
  OUTOFF: 6, // plan: first output index of this scan position
  BLKOFF: 7, // plan: offset of its block table
  PLANHEAD: 8, // plan: head ticket when planned
  PLANTAIL: 9, // push plan (by bucket): tail ticket when planned
  PLANTAILBLK: 10, // push plan: tail block when planned
  NEWBLKOFF: 11, // push plan: offset of its newly linked blocks in the free stack
} as const;
export const BUCKET_FIELDS = 12;
export const BUCKETS = 256;
export const CTL_WORDS = GLOBAL_WORDS + BUCKET_FIELDS * BUCKETS;
export const bk = (f: number, k: number): number => GLOBAL_WORDS + f * BUCKETS + k;

/** Bits of ctl[G.ERR]: invariants the kernels check. */
export const ERR = { CAPACITY: 1, POOL: 2, UNDERFLOW: 4 } as const;
export function describeErrorBits(bits: number): string {
  const names = Object.entries(ERR)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([name]) => name.toLowerCase());
  return `${names.join(', ') || 'unknown'} (error word ${bits})`;
}

/** Bits of Params.flags. */
export const FLAG = {
  /** the pops of this dispatch are a clear (counted in CLEARED, not DEQ) */
  CLEAR: 1,
  /** the push's record count is on the device (INGEST_N), not in Params.n */
  DEVICE_N: 2,
  /** the head fetch's count is min(Params.n, COUNT) (the size is only on the device) */
  DEVICE_K: 4,
  /** seg_main runs its items inside its own workgroup (a small segment) */
  SMALL: 8,
  /** fetch the head (Params.peekN messages) for the host */
  HEAD: 16,
  /** ingest: a record whose tag words are not both 0 is diverted to outb instead of pushed */
  DIVERT: 32,
  /** ring kernel take: the kernel has an output queue, whose room bounds what it takes */
  HAS_OUTPUT: 64,
  /** seg_tiny: write Params.serialLo/serialHi to G_SERIAL (the submission's sentinel, read back with the globals) */
  SERIAL: 128,
  /**
   * device-ordered push: Params.keyLo/keyHi are the lowest and highest key of the positions below
   * n, written on the device before the push (a ring kernel's handler, copied into this record);
   * equal, every position has that key, and the push needs no rank pass (queue-push.wgsl)
   */
  ONE_KEY: 256,
} as const;

/** NONE marks a missing block link / an invalid record's priority word (>= 256 means "no record"). */
export const NONE = 0xffffffff;

/** Params: one uniform record per dispatch (256-byte slots at static offsets). */
export const PARAM_FIELDS = [
  'n', // push: records; take: messages to take (K / d)
  'mode', // take_plan: 1 peek, 2 drop-prepare; take_gather: 0 record, 1 seq only
  'inOff', // word offset of the records in inp
  'outOff', // word offset of the output in outb
  'rankOff', // scratch offsets
  'histOff',
  'tableOff',
  'seqOff',
  'nChunks',
  'seqSkip', // sequence numbers consumed before this push (messages dropped before reaching the device, or skipped by a test)
  'flags', // FLAG_*
  'limit', // gather: invocations dispatched
  'popK', // seg: pops of the segment
  'kOut', // seg: pop outputs to write (popK or 0)
  'cntOff', // seg: word offset of the 256 bucket counts in inp
  'allocOff', // seg: scratch offset of the list of newly linked blocks
  'peekN', // FLAG_HEAD: messages to fetch
  'peekOff', // FLAG_HEAD: word offset of the fetched records in outb
  'kOld', // seg: upper bound of the pops of messages present before the segment
  'planOff', // seg: scratch offset of the plan arrays
  'kLo', // seg_tiny: lowest and highest pushed priority
  'kHi',
  'tagOff', // FLAG_DIVERT: word offset of the two tag words in a record's payload
  'outCap', // FLAG_DIVERT: records outb can take
  'perTick', // ring kernel take: most messages one tick consumes
  'emits', // ring kernel take and ingest: outputs per input, at most (record positions per input)
  'failOff', // ring kernel settle: word offset of the per-input failure codes in inp (its work buffer)
  'serialLo', // FLAG_SERIAL: the submission's serial (64-bit)
  'serialHi',
  'keyLo', // FLAG_ONE_KEY: lowest and highest key of the pushed positions (in this order: one copy writes both)
  'keyHi',
] as const;
export type ParamName = (typeof PARAM_FIELDS)[number];
export const PF = Object.fromEntries(PARAM_FIELDS.map((name, i) => [name, i])) as Readonly<Record<ParamName, number>>;
export const PARAM_WORDS = PARAM_FIELDS.length;
/** minUniformBufferOffsetAlignment: every params record starts at a multiple of this. */
export const PARAM_STRIDE = 256;

/** An output record: [seq lo, (priority << 24) | seq hi, W payload words] (seq < 2^53, so seq hi < 2^21). */
export const RECORD_HEADER = 2;
export const SEQ_HI_BITS = 24;
export const MAX_SEQUENCE = 2 ** 53;

/** A 64-bit value kept as a (lo, hi) pair of u32 words from `at`; exact up to 2^53 (no counter gets there). */
export const readU64 = (words: ArrayLike<number>, at: number): number => words[at] + words[at + 1] * 2 ** 32;

/** Writes `value` (an integer below 2^53) as a (lo, hi) pair of u32 words from `at`. */
export function writeU64(words: { [index: number]: number }, at: number, value: number): void {
  words[at] = value % 2 ** 32;
  words[at + 1] = Math.floor(value / 2 ** 32);
}

/** Decodes the 53-bit sequence number of an output record at `o`. */
export const recordSeq = (rec: Uint32Array, o: number): number => rec[o] + (rec[o + 1] & 0xffffff) * 4294967296;
/** Decodes the priority of an output record at `o`. */
export const recordPriority = (rec: Uint32Array, o: number): number => rec[o + 1] >>> SEQ_HI_BITS;

function constLines(prefix: string): string[] {
  const lines: string[] = [];
  for (const [name, at] of Object.entries(G)) lines.push(`const ${prefix}G_${name}: u32 = ${at}u;`);
  lines.push(`const ${prefix}GLOBAL_WORDS: u32 = ${GLOBAL_WORDS}u;`);
  for (const [name, f] of Object.entries(F)) lines.push(`const ${prefix}F_${name}: u32 = ${f}u;`);
  for (const [name, bit] of Object.entries(ERR)) lines.push(`const ${prefix}ERR_${name}: u32 = ${bit}u;`);
  for (const [name, bit] of Object.entries(FLAG)) lines.push(`const ${prefix}FLAG_${name}: u32 = ${bit}u;`);
  lines.push(`const ${prefix}NONE: u32 = 0x${NONE.toString(16)}u;`);
  return lines;
}

/** WGSL constants, the Params struct and `bk` for the queue's own shaders. */
export function layoutWgsl(): string {
  return [
    '// generated from src/gpu/layout.ts: control block offsets, bucket fields, error bits, flags, Params',
    ...constLines(''),
    `fn bk(f: u32, k: u32) -> u32 { return GLOBAL_WORDS + f * 256u + k; }`,
    'struct Params {',
    ...PARAM_FIELDS.map((name) => `  ${name}: u32,`),
    '}',
    '',
  ].join('\n');
}

/** The constants a user kernel's device-side API needs, with an `RK_` prefix (emitted once per shader). */
export function deviceApiConstants(): string {
  return [
    '// ringkernel device-side API: control block layout (generated from src/gpu/layout.ts)',
    ...constLines('RK_'),
    `fn rk_bk(f: u32, k: u32) -> u32 { return RK_GLOBAL_WORDS + f * 256u + k; }`,
    '',
  ].join('\n');
}
