// ringkernel GPU queue: layout, bindings and the helpers every queue kernel shares. The
// constants (G_*, F_*, ERR_*, FLAG_*, NONE), `bk` and `struct Params` are generated from
// src/gpu/layout.ts and prepended to this file.
//
// DATA LAYOUT (all u32 words)
//   ctl  : array<atomic<u32>>  control block: globals G_* (64-bit values as lo, hi pairs), then
//                              12 arrays of 256 words, one per bucket field: ctl[bk(F_*, k)]
//   blk  : array<u32>          next[NB] (block chain links) then free[NB] (free-block stack)
//   pool : array<u32>          payload words: slot s holds pool[s*W .. s*W+W)
//   seqs : array<u32>          insertion sequence number of slot s (64-bit): seqs[2s] lo, seqs[2s+1] hi
//   inp  : array<u32>          host upload of a submission: its Params records (256-byte slots,
//                              also bound as P), then per segment 256 bucket counts and the pushes
//                              [(index << 8) | priority, W words] sorted by bucket (queue-seg.wgsl).
//                              For a push whose order only the device knows (the inbox of a user
//                              kernel, the emits of a ring kernel): records [priority, W words]
//                              by position, where a priority word >= 256 marks "no record here"
//   outb : array<u32>          readback: per message [seq lo, (priority << 24) | seq hi, W words]
//   scr  : array<u32>          scratch: block tables, seq lists, allocated-block lists, plan
//                              arrays; ranks and chunk histograms of a device-ordered push
//   P    : uniform Params      one record per dispatch (group 1, static offset)
//
// DESIGN
//   256 buckets (one per priority), each a FIFO ring of u32 *tickets*: messages sit at tickets
//   [head, tail). Ticket t lives in slot (block * B + (t & (B-1))) where the block is found by
//   following the bucket's chain of blocks from HEADBLK: blocks cover aligned ticket ranges
//   [jB, (j+1)B), and B divides 2^32, so tickets may wrap around freely (only differences are
//   compared). Blocks come from one shared pool of NB = ceil(maxSize/B) + 512 blocks, so memory is
//   O(maxSize * W) + O(256 * B), never 256 * maxSize. A bucket holding n messages uses at most
//   n/B + 2 blocks; the bucket's tail block always exists. Sequence numbers are 64-bit and never
//   wrap (the host keeps them below 2^53), so "older" is a plain comparison.
//
// INVARIANTS
//   COUNT == sum over buckets of (tail - head) <= CAP
//   bitmap bit k set  <=>  bucket k non-empty (after every phase)
//   FREETOP + (blocks in all chains) == NB
//   within a bucket, seq increases with ticket (FIFO), so the oldest of a bucket is its head
//   Checked on the device (a violation sets a bit of ctl[G_ERR]): COUNT > CAP after a push
//   (ERR_CAPACITY), a push needing more free blocks than FREETOP (ERR_POOL), a take or drop of
//   more messages than COUNT / than the buckets yield (ERR_UNDERFLOW). The others hold by
//   construction; the host checks their consequences (verify mode compares every answer).
//   No invocation ever waits on another; every phase is a separate dispatch, and the
//   dispatch boundary is the only device-wide fence relied on.

@group(0) @binding(0) var<storage, read_write> ctl: array<atomic<u32>>;
@group(0) @binding(1) var<storage, read_write> blk: array<u32>;
@group(0) @binding(2) var<storage, read_write> pool: array<u32>;
@group(0) @binding(3) var<storage, read_write> seqs: array<u32>;
@group(0) @binding(4) var<storage, read> inp: array<u32>;
@group(0) @binding(5) var<storage, read_write> outb: array<u32>;
@group(0) @binding(6) var<storage, read_write> scr: array<u32>;
@group(1) @binding(0) var<uniform> P: Params;

fn ld(i: u32) -> u32 { return atomicLoad(&ctl[i]); }
fn st(i: u32, v: u32) { atomicStore(&ctl[i], v); }
fn ld64(i: u32) -> vec2<u32> { return vec2<u32>(ld(i), ld(i + 1u)); }
fn st64(i: u32, v: vec2<u32>) { st(i, v.x); st(i + 1u, v.y); }
fn add64(a: vec2<u32>, x: u32) -> vec2<u32> {
  let lo = a.x + x;
  return vec2<u32>(lo, a.y + select(0u, 1u, lo < a.x));
}
// a 64-bit counter in ctl: one atomic add, and the carry by the one adder whose add wrapped
fn count64(i: u32, x: u32) {
  let old = atomicAdd(&ctl[i], x);
  if (old + x < old) { atomicAdd(&ctl[i + 1u], 1u); }
}
fn less64(a: vec2<u32>, b: vec2<u32>) -> bool { return a.y < b.y || (a.y == b.y && a.x < b.x); }

fn bshift() -> u32 { return ld(G_BSHIFT); }
fn bmask() -> u32 { return (1u << ld(G_BSHIFT)) - 1u; }
fn nblocks() -> u32 { return ld(G_NB); }
fn words() -> u32 { return ld(G_W); }

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}
fn next_of(b: u32) -> u32 { return blk[b]; }
fn set_next(b: u32, v: u32) { blk[b] = v; }
fn free_at(i: u32) -> u32 { return blk[nblocks() + i]; }
fn set_free(i: u32, b: u32) { blk[nblocks() + i] = b; }

fn set_occupied(k: u32, on: bool) {
  let bit = 1u << (k & 31u);
  if (on) { atomicOr(&ctl[G_BITMAP + (k >> 5u)], bit); }
  else { atomicAnd(&ctl[G_BITMAP + (k >> 5u)], ~bit); }
}

fn slot_seq(slot: u32) -> vec2<u32> { return vec2<u32>(seqs[2u * slot], seqs[2u * slot + 1u]); }
fn set_slot_seq(slot: u32, s: vec2<u32>) {
  seqs[2u * slot] = s.x;
  seqs[2u * slot + 1u] = s.y;
}

// Writes the output record of the message in `slot` (bucket k) at outb[o ..].
fn emit_slot(o: u32, slot: u32, k: u32, W: u32) {
  outb[o] = seqs[2u * slot];
  outb[o + 1u] = (k << 24u) | seqs[2u * slot + 1u];
  for (var w = 0u; w < W; w++) { outb[o + 2u + w] = pool[slot * W + w]; }
}

// The one way messages leave a bucket. Bucket k holds n messages at tickets [head, head + n);
// this covers the first `take` of them. Every block holding one of the tickets
// [head, head + take] is listed at scr[tableAt ..] when tableAt != NONE (so a later gather finds
// any slot by index). With `commit`, the blocks wholly passed go to the free stack at
// [freeAt, freeAt + passed), HEAD and HEADBLK move, and the occupancy bit clears when the bucket
// empties. Returns the number of blocks passed. A freed block keeps its contents and chain link
// until a later push_scan / seg plan reuses it, which always runs after the gathers that read it.
fn walk_bucket(k: u32, head: u32, take: u32, n: u32, tableAt: u32, commit: bool, freeAt: u32) -> u32 {
  if (take == 0u) { return 0u; }
  let passed = ((head & bmask()) + take) >> bshift();
  var b = ld(bk(F_HEADBLK, k));
  for (var j = 0u; j <= passed; j++) {
    if (tableAt != NONE) { scr[tableAt + j] = b; }
    if (j == passed) { break; }
    let nb = next_of(b);
    if (commit) { set_free(freeAt + j, b); }
    b = nb;
  }
  if (commit) {
    st(bk(F_HEAD, k), head + take);
    st(bk(F_HEADBLK, k), b);
    if (take == n) { set_occupied(k, false); }
  }
  return passed;
}

// Links a fresh block from the top of the free stack after block b (serial pushes); a pool
// without a free block is flagged ERR_POOL.
fn link_fresh(b: u32, freeTop: ptr<function, u32>, err: ptr<function, u32>) -> u32 {
  var nb = 0u;
  if (*freeTop == 0u) { *err |= ERR_POOL; } else { *freeTop -= 1u; nb = free_at(*freeTop); }
  set_next(b, nb);
  set_next(nb, NONE);
  return nb;
}

// The one way a single message joins a bucket (serial pushes: seg_tiny, a ring kernel's small
// ingest): its W payload words from inp[payload ..] and its 64-bit seq go to ticket TAIL of
// bucket k, in the tail block, which always exists; when the new tail starts a block, a fresh
// one is linked from the free stack, so it exists again.
fn push_record(k: u32, payload: u32, seq: vec2<u32>, W: u32, freeTop: ptr<function, u32>, err: ptr<function, u32>) {
  let shift = bshift();
  let mask = (1u << shift) - 1u;
  let t = ld(bk(F_TAIL, k));
  let b = ld(bk(F_TAILBLK, k));
  let slot = (b << shift) + (t & mask);
  set_slot_seq(slot, seq);
  for (var w = 0u; w < W; w++) { pool[slot * W + w] = inp[payload + w]; }
  if (((t + 1u) & mask) == 0u) { st(bk(F_TAILBLK, k), link_fresh(b, freeTop, err)); }
  st(bk(F_TAIL, k), t + 1u);
  set_occupied(k, true);
}

// Exclusive scan of 256 vec4 values across the workgroup (four scans for the price of one): one
// invocation adds them up serially (256 steps; far cheaper to compile on software adapters than a
// barrier-per-step tree scan). The total is left in wtotal. Must be reached in uniform control flow.
var<workgroup> wscan: array<vec4<u32>, 256>;
var<workgroup> wtotal: vec4<u32>;
fn wg_scan(lid: u32, v: vec4<u32>) -> vec4<u32> {
  wscan[lid] = v;
  workgroupBarrier();
  if (lid == 0u) {
    var acc = vec4<u32>(0u);
    for (var j = 0u; j < 256u; j++) {
      let x = wscan[j];
      wscan[j] = acc;
      acc = acc + x;
    }
    wtotal = acc;
  }
  workgroupBarrier();
  return wscan[lid];
}

// the free-stack height, read once by invocation 0 before the first barrier of a dispatch that
// rewrites it (past the last barrier, invocations do not run in lockstep)
var<workgroup> wfree: u32;
