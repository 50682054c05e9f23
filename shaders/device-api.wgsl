// ringkernel device-side API: WGSL functions another compute shader includes to pop from and
// push to a GpuMessageQueue (schema mode) inside its own dispatch. Get the text with
// `deviceApiWgsl(schema, group)` (names rk_try_pop, rk_try_push) or, for several queues in one
// shader, `deviceApiWgsl([{ schema, group, prefix: 'in_' }, ...])` (in_try_pop, ...). The
// shared constants (RK_*, rk_bk) come from src/gpu/layout.ts and are emitted once per shader.
// This template is instantiated per queue (src/gpu/device-api.ts) with its name prefix, bind
// group, message struct, its size in words, and the stores of its fields into an inbox record.
//
// BINDINGS (group {{group}}, filled by the queue's bind group; layout `q.deviceBindGroupLayout`)
//   0 {{p}}ctl   queue control block (atomics)      1 {{p}}blk    block chains
//   2 {{p}}pool  the queue's messages, array<{{msg}}> 3 {{p}}inbox  pushes: [priority, words of {{msg}}]
//
// FUNCTIONS (never wait: each returns false at once when it cannot proceed)
//   {{p}}try_pop(&m, &priority) -> bool   false when the queue is empty (for this run)
//   {{p}}try_push(m, priority)  -> bool   false when the queue is full (for this run)
//
// VISIBILITY RULE
//   * The snapshot is taken once per run (dev_prepare, before the user's pass), not per
//     dispatch: every dispatch of one run sees the queue as it was when the run began. Pops
//     across all invocations and dispatches of the run take exactly the N most urgent messages
//     present then (priority, then FIFO), N = number of successful pops; which invocation gets
//     which of them is unspecified.
//   * Pushes go to an inbox and enter the queue after the run, in the order invocations
//     reserved inbox slots (the only order concurrent producers have); they are not visible to
//     pops of the same run.
//   * Room: pushes may fill min(maxSize - size(at run start), inboxCapacity); room freed by pops
//     of the same run is usable from the next run. A device-side push never drops (even under
//     DROP_OLDEST): it reports full.
// HOW (no invocation waits on another)
//   pop: reserve one of AVAIL (= size at start) with atomicSub, after a load that already sees 0
//   (so attempts on an exhausted queue change nothing: AVAIL goes below 0 by at most one per
//   racing invocation and can never wrap to a large count); then claim a ticket with atomicAdd
//   on CLAIM[k] for the non-empty buckets from priority 255 down: ticket t < n_k wins message
//   head_k + t. A reserver always finds one (each failure at bucket k means all n_k were claimed
//   by other reservers). Its slot is found by walking the bucket's block chain.
//   push: the same for INBOX against INBOX_CAP: a load that sees the inbox full returns false
//   without counting; otherwise r = atomicAdd(INBOX, 1) and r < INBOX_CAP wins inbox record r.

@group({{group}}) @binding(0) var<storage, read_write> {{p}}ctl: array<atomic<u32>>;
@group({{group}}) @binding(1) var<storage, read_write> {{p}}blk: array<u32>;
@group({{group}}) @binding(2) var<storage, read_write> {{p}}pool: array<{{msg}}>;
@group({{group}}) @binding(3) var<storage, read_write> {{p}}inbox: array<u32>;

fn {{p}}try_pop(out_msg: ptr<function, {{msg}}>, out_priority: ptr<function, u32>) -> bool {
  if (i32(atomicLoad(&{{p}}ctl[RK_G_AVAIL])) <= 0) { return false; }
  let before = atomicSub(&{{p}}ctl[RK_G_AVAIL], 1u);
  if (i32(before) <= 0) { return false; }
  let shift = atomicLoad(&{{p}}ctl[RK_G_BSHIFT]);
  let mask = (1u << shift) - 1u;
  for (var w = 7i; w >= 0i; w--) {
    var bits = atomicLoad(&{{p}}ctl[RK_G_BITMAP + u32(w)]);
    while (bits != 0u) {
      let b = 31u - countLeadingZeros(bits);
      bits = bits & ~(1u << b);
      let k = u32(w) * 32u + b;
      let head = atomicLoad(&{{p}}ctl[rk_bk(RK_F_HEAD, k)]);
      let n = atomicLoad(&{{p}}ctl[rk_bk(RK_F_TAIL, k)]) - head;
      if (atomicLoad(&{{p}}ctl[rk_bk(RK_F_CLAIM, k)]) >= n) { continue; }
      let t = atomicAdd(&{{p}}ctl[rk_bk(RK_F_CLAIM, k)], 1u);
      if (t < n) {
        var blk = atomicLoad(&{{p}}ctl[rk_bk(RK_F_HEADBLK, k)]);
        let hops = ((head & mask) + t) >> shift;
        for (var h = 0u; h < hops; h++) { blk = {{p}}blk[blk]; }
        let slot = (blk << shift) + ((head + t) & mask);
        *out_msg = {{p}}pool[slot];
        *out_priority = k;
        return true;
      }
    }
  }
  return false; // not reached: a reservation always finds a message
}

fn {{p}}try_push(m: {{msg}}, priority: u32) -> bool {
  let cap = atomicLoad(&{{p}}ctl[RK_G_INBOX_CAP]);
  if (atomicLoad(&{{p}}ctl[RK_G_INBOX]) >= cap) { return false; }
  let r = atomicAdd(&{{p}}ctl[RK_G_INBOX], 1u);
  if (r >= cap) { return false; }
  let base = r * ({{words}}u + 1u);
  {{p}}inbox[base] = priority & 255u;
  {{store}}
  return true;
}
