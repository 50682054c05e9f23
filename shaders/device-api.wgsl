// ringkernel device-side API: WGSL functions another compute shader includes to pop from and
// push to a GpuMessageQueue (schema mode) inside its own dispatch. Get the text for your schema
// with `deviceApiWgsl(schema, group)`; run your kernel with `await q.runDeviceKernel(...)`.
//
// BINDINGS (group RK_GROUP, filled by the queue's bind group; layout `q.deviceBindGroupLayout`)
//   0 rk_ctl   queue control block (atomics)     1 rk_blk  block chains
//   2 rk_pool  the queue's messages, array<RK_MSG>  3 rk_inbox pushes: [priority, words of RK_MSG]
//
// FUNCTIONS (never wait: each returns false at once when it cannot proceed)
//   rk_try_pop(&m, &priority) -> bool   false when the queue is empty (for this dispatch)
//   rk_try_push(m, priority)  -> bool   false when the queue is full (for this dispatch)
//
// VISIBILITY RULE
//   * The snapshot is taken once per runDeviceKernel (dev_prepare, before the user's pass), not
//     per dispatch: every dispatch of one run sees the queue as it was when the run began. Pops
//     across all invocations and dispatches of the run take exactly the N most urgent messages
//     present then (priority, then FIFO), N = number of successful pops; which invocation gets
//     which of them is unspecified.
//   * Pushes go to an inbox and enter the queue after the run (commit pass), in the order
//     invocations reserved inbox slots (that is the only order concurrent producers have); they
//     are not visible to pops of the same run.
//   * Room: pushes may fill min(maxSize - size(at run start), inboxCapacity); room freed by
//     pops of the same run is usable from the next kernel run. A device-side push never drops
//     (even under DROP_OLDEST): it reports full.
// HOW (no invocation waits on another)
//   pop: reserve with atomicSub on AVAIL (= size at start; a result <= 0 means every message is
//   already reserved, and AVAIL only decreases during the dispatch, so "empty" is exact); then
//   claim a ticket with atomicAdd on CLAIM[k] for the non-empty buckets from priority 255 down:
//   ticket t < n_k wins message head_k + t. A reserver always finds one (each failure at bucket k
//   means all n_k were claimed by other reservers). Its slot is found by walking the bucket's
//   block chain ((head & (B-1)) + t) / B links from headBlock.
//   push: r = atomicAdd(INBOX, 1); r < INBOX_CAP wins inbox record r.

const RK_G_COUNT: u32 = 0u;
const RK_G_BSHIFT: u32 = 8u;
const RK_G_INBOX: u32 = 13u;
const RK_G_AVAIL: u32 = 14u;
const RK_G_BITMAP: u32 = 16u;
const RK_G_INBOX_CAP: u32 = 24u;
const RK_WORDS: u32 = RK_WORDS_VALUE;

@group(RK_GROUP) @binding(0) var<storage, read_write> rk_ctl: array<atomic<u32>>;
@group(RK_GROUP) @binding(1) var<storage, read_write> rk_blk: array<u32>;
@group(RK_GROUP) @binding(2) var<storage, read_write> rk_pool: array<RK_MSG>;
@group(RK_GROUP) @binding(3) var<storage, read_write> rk_inbox: array<u32>;

fn rk_bk(f: u32, k: u32) -> u32 { return 32u + f * 256u + k; }

fn rk_try_pop(out_msg: ptr<function, RK_MSG>, out_priority: ptr<function, u32>) -> bool {
  let before = atomicSub(&rk_ctl[RK_G_AVAIL], 1u);
  if (i32(before) <= 0) { return false; }
  let shift = atomicLoad(&rk_ctl[RK_G_BSHIFT]);
  let mask = (1u << shift) - 1u;
  for (var w = 7i; w >= 0i; w--) {
    var bits = atomicLoad(&rk_ctl[RK_G_BITMAP + u32(w)]);
    while (bits != 0u) {
      let b = 31u - countLeadingZeros(bits);
      bits = bits & ~(1u << b);
      let k = u32(w) * 32u + b;
      let head = atomicLoad(&rk_ctl[rk_bk(0u, k)]);
      let n = atomicLoad(&rk_ctl[rk_bk(1u, k)]) - head;
      let t = atomicAdd(&rk_ctl[rk_bk(4u, k)], 1u);
      if (t < n) {
        var blk = atomicLoad(&rk_ctl[rk_bk(2u, k)]);
        let hops = ((head & mask) + t) >> shift;
        for (var h = 0u; h < hops; h++) { blk = rk_blk[blk]; }
        let slot = (blk << shift) + ((head + t) & mask);
        *out_msg = rk_pool[slot];
        *out_priority = k;
        return true;
      }
    }
  }
  return false; // not reached: a reservation always finds a message
}

fn rk_try_push(m: RK_MSG, priority: u32) -> bool {
  let r = atomicAdd(&rk_ctl[RK_G_INBOX], 1u);
  if (r >= atomicLoad(&rk_ctl[RK_G_INBOX_CAP])) { return false; }
  let base = r * (RK_WORDS + 1u);
  rk_inbox[base] = priority & 255u;
  RK_STORE_FIELDS
  return true;
}
