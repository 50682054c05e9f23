// ringkernel runtime: the device side of a ring kernel's tick, around its handler (a shader
// generated per kernel from ring-handler.wgsl). Prepended: the queue's constants and Params
// (src/gpu/layout.ts), the kernel's (src/runtime/gpu/kernel-layout.ts), queue-common.wgsl.
//
// BINDINGS  group 0: a queue (queue-common.wgsl): the input queue I for rk_take; the output
//   queue O for rk_small_ingest and rk_settle, with inp = the kernel's work buffer (its emit
//   records, then per-input failure codes, then events) and outb = its replies buffer.
//   group 1: P, the kernel's Params record for the entry point. group 2: the kernel's control
//   block (RK_K_*) at binding 0, and O's control block (for rk_take's room) at binding 2.
//
// ONE TICK OF KERNEL K (each a dispatch; the dispatch boundary orders them)
//   rk_take     (1 workgroup) n = min(I.COUNT, perTick, floor((O.CAP - O.COUNT) / emits)); plans
//               and commits the pop of I's n most urgent messages (scan from priority 255 down,
//               walk_bucket: the plan arrays OUTOFF/BLKOFF/PLANHEAD and the block table stay for
//               the handler, which reads the messages in freed blocks before anything reuses
//               them: only a later push into I does, and none runs in this tick after K's take);
//               O.INGEST_N = n * emits. When one bucket holds all n, its scan position goes to
//               RK_K_ONEPOS (else RK_ONE_BUCKET_NONE), so the handler need not search the plan.
//   handler     (ceil(bound / 64) workgroups, bound = the host's upper bound of n: an indirect
//               dispatch cost ~0.3 ms, about six direct ones, on the software adapter) invocation
//               j < n handles the j-th most urgent message and writes its emit slots
//               [j * emits, (j + 1) * emits) of the work buffer; the others return at once.
//   ingest      small ticks (bound * emits <= 256): rk_small_ingest, one invocation, pushes the
//               records in position order (push_record) and ends as rk_settle; larger ones:
//               queue-push.wgsl's push_rank, push_scan, push_scatter (sized by the bound; they
//               read the record count from O.INGEST_N), then rk_settle.
//   rk_settle   the last failing input's code becomes the kernel's last error; emitted += pushed
//               + replies.
// INVARIANTS  outputs enter O in input order, each input's emits in emit order (record
//   positions; never the order invocations finish); n never exceeds O's room, so no output is
//   dropped; replies (FLAG_DIVERT: tagged outputs of a terminal kernel) leave in position order
//   by their recorded position.

@group(2) @binding(0) var<storage, read_write> rk_kctl: array<atomic<u32>>;
@group(2) @binding(2) var<storage, read_write> rk_octl: array<atomic<u32>>;

fn kcount64(i: u32, x: u32) {
  let old = atomicAdd(&rk_kctl[i], x);
  if (old + x < old) { atomicAdd(&rk_kctl[i + 1u], 1u); }
}

var<workgroup> wtake: u32;

@compute @workgroup_size(256)
fn rk_take(@builtin(local_invocation_index) i: u32) {
  let k = 255u - i;
  if (i == 0u) {
    var n = min(ld(G_COUNT), P.perTick);
    if ((P.flags & FLAG_HAS_OUTPUT) != 0u) {
      let room = atomicLoad(&rk_octl[G_CAP]) - atomicLoad(&rk_octl[G_COUNT]);
      n = min(n, room / P.emits);
    }
    wtake = n;
    wfree = ld(G_FREETOP);
    atomicStore(&rk_kctl[RK_K_ONEPOS], RK_ONE_BUCKET_NONE);
    atomicStore(&rk_kctl[RK_K_KEYLO], 0xffffffffu);
    atomicStore(&rk_kctl[RK_K_KEYHI], 0u);
  }
  // (storageBarrier: the store above is to storage, and must land before a bucket's below)
  storageBarrier();
  workgroupBarrier();
  let K = wtake;
  let head = ld(bk(F_HEAD, k));
  let cnt = ld(bk(F_TAIL, k)) - head;
  let before = wg_scan(i, vec4<u32>(cnt, 0u, 0u, 0u)).x;
  var take = 0u;
  if (K > before) { take = min(K - before, cnt); }
  // (at most one bucket takes all K: the first non-empty one in scan order, when it holds K or more)
  if (K > 0u && take == K) { atomicStore(&rk_kctl[RK_K_ONEPOS], i); }
  var nb = 0u;
  if (take > 0u) { nb = (((head & bmask()) + take) >> bshift()) + 1u; }
  let offs = wg_scan(i, vec4<u32>(nb, max(nb, 1u) - 1u, 0u, 0u));
  let passedTotal = wtotal.y;
  st(bk(F_TAKE, i), take);
  st(bk(F_OUTOFF, i), min(before, K));
  st(bk(F_BLKOFF, i), offs.x);
  st(bk(F_PLANHEAD, i), head);
  walk_bucket(k, head, take, cnt, P.tableOff + offs.x, true, wfree + offs.y);
  if (i == 0u) {
    st(G_FREETOP, wfree + passedTotal);
    st(G_COUNT, ld(G_COUNT) - K);
    st(G_TOTAL, K);
    count64(G_DEQ, K);
    count64(G_DEVPOPS, K);
    atomicStore(&rk_kctl[RK_K_N], K);
    atomicStore(&rk_kctl[RK_K_LASTFAIL], 0u);
    atomicStore(&rk_kctl[RK_K_EVENTS], 0u);
    kcount64(RK_K_PROCESSED, K);
    if ((P.flags & FLAG_HAS_OUTPUT) != 0u) {
      atomicStore(&rk_octl[G_INGEST_N], K * P.emits);
      atomicStore(&rk_octl[G_REPLY_N], 0u);
    }
  }
}

// The last failing input's code (its handler called rk_fail) becomes the kernel's last error.
fn settle_failures() {
  let last = atomicLoad(&rk_kctl[RK_K_LASTFAIL]);
  if (last != 0u) {
    atomicStore(&rk_kctl[RK_K_LASTCODE], inp[P.failOff + last - 1u]);
    atomicStore(&rk_kctl[RK_K_HASLAST], 1u);
  }
}

@compute @workgroup_size(1)
fn rk_settle() {
  settle_failures();
  if ((P.flags & FLAG_HAS_OUTPUT) != 0u) { kcount64(RK_K_EMITTED, ld(G_RUN_PUSHES) + ld(G_REPLY_N)); }
}

// A small tick's ingest, serially, in record position order: the same pushes and replies as
// push_rank/push_scan/push_scatter, then rk_settle.
@compute @workgroup_size(1)
fn rk_small_ingest() {
  settle_failures();
  if ((P.flags & FLAG_HAS_OUTPUT) == 0u) { return; }
  let positions = atomicLoad(&rk_kctl[RK_K_N]) * P.emits;
  let W = words();
  let S = W + 1u;
  var freeTop = ld(G_FREETOP);
  let seq0 = ld64(G_NEXTSEQ);
  var err = 0u;
  var pushed = 0u;
  var replies = 0u;
  for (var i = 0u; i < positions; i++) {
    let rec = P.inOff + i * S;
    let key = inp[rec];
    if (key > 255u) { continue; }
    if ((P.flags & FLAG_DIVERT) != 0u && (inp[rec + 1u + P.tagOff] | inp[rec + 2u + P.tagOff]) != 0u) {
      if (replies < P.outCap) {
        let o = P.outOff + replies * (S + 1u);
        outb[o] = i;
        for (var w = 0u; w < S; w++) { outb[o + 1u + w] = inp[rec + w]; }
      } else {
        err |= ERR_CAPACITY;
      }
      replies++;
      continue;
    }
    push_record(key, rec + 1u, add64(seq0, i), W, &freeTop, &err);
    pushed++;
  }
  st(G_FREETOP, freeTop);
  let count = ld(G_COUNT) + pushed;
  if (count > ld(G_CAP)) { err |= ERR_CAPACITY; }
  if (err != 0u) { atomicOr(&ctl[G_ERR], err); }
  st(G_COUNT, count);
  st64(G_PLANSEQ, seq0);
  st64(G_NEXTSEQ, add64(seq0, positions));
  count64(G_ENQ, pushed);
  count64(G_DEVPUSHES, pushed);
  st(G_RUN_PUSHES, pushed);
  st(G_REPLY_N, replies);
  kcount64(RK_K_EMITTED, pushed + replies);
}
