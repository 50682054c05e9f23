// ringkernel GPU queue: batched removal with the order decided on the device: DROP_OLDEST
// eviction of exactly the oldest messages by insertion sequence, and the head fetch after a
// device-side run. Host pops and host head fetches go through queue-seg.wgsl.
//
// PHASES
//   take_plan   (1 workgroup, invocation i = bucket 255 - i, so scan order = priority order)
//     mode 1 peek: exclusive scan of bucket counts from priority 255 down;
//       take_i = clamp(K - before_i, 0, n_i); output of bucket i starts at before_i.
//       K = P.n, or min(P.n, COUNT) with FLAG_DEVICE_K (the size is only on the device).
//     mode 2 drop-prepare: take_i = min(d, n_i) (the d oldest overall are among the first d of
//       each bucket, because a bucket's head is its oldest).
//     Each bucket lists the blocks holding tickets [head, head + take] in a block table
//     (walk_bucket, no commit), so a gather finds any slot by index.
//   take_gather (one invocation per output j): bucket by binary search over the output starts,
//     rank r = j - start, ticket = planHead + r, block = table[blkOff + ((planHead & (B-1)) + r) / B].
//     mode 0 writes the record to outb; mode 1 writes the 64-bit seq to scratch.
//   drop_select (1 workgroup): after drop-prepare + gather(mode 1) listed the first min(d, n_i)
//     seqs of each bucket (ascending in each list), finds bit by bit the 64-bit threshold T =
//     the d-th smallest listed seq (seqs are distinct), so bucket i drops its entries <= T;
//     commits them (walk_bucket) and counts them as dropped.
// INVARIANT  d <= COUNT is guaranteed by the host (flagged as ERR_UNDERFLOW otherwise).

@compute @workgroup_size(256)
fn take_plan(@builtin(local_invocation_index) i: u32) {
  let k = 255u - i;
  var K = P.n;
  if ((P.flags & FLAG_DEVICE_K) != 0u) { K = min(P.n, ld(G_COUNT)); }
  let head = ld(bk(F_HEAD, k));
  let n = ld(bk(F_TAIL, k)) - head;
  var take = 0u;
  var start = 0u;
  if (P.mode == 2u) {
    take = min(K, n);
    start = wg_scan(i, vec4<u32>(take, 0u, 0u, 0u)).x;
  } else {
    let before = wg_scan(i, vec4<u32>(n, 0u, 0u, 0u)).x;
    if (K > before) { take = min(K - before, n); }
    start = min(before, K);
  }
  var nb = 0u;
  if (take > 0u) { nb = (((head & bmask()) + take) >> bshift()) + 1u; }
  let offs = wg_scan(i, vec4<u32>(nb, take, 0u, 0u));
  let sumTake = wtotal.y;
  st(bk(F_TAKE, i), take);
  st(bk(F_OUTOFF, i), start);
  st(bk(F_BLKOFF, i), offs.x);
  st(bk(F_PLANHEAD, i), head);
  walk_bucket(k, head, take, n, P.tableOff + offs.x, false, 0u);
  if (i == 0u) { st(G_TOTAL, sumTake); }
}

fn find_run(j: u32) -> u32 {
  // last scan position i with OUTOFF[i] <= j (OUTOFF is non-decreasing in i)
  var lo = 0u;
  var hi = 255u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) >> 1u;
    if (ld(bk(F_OUTOFF, mid)) <= j) { lo = mid; } else { hi = mid - 1u; }
  }
  return lo;
}

@compute @workgroup_size(256)
fn take_gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let j = linear_id(wid, nwg, lid);
  if (j >= ld(G_TOTAL) || j >= P.limit) { return; }
  let i = find_run(j);
  let r = j - ld(bk(F_OUTOFF, i));
  let head = ld(bk(F_PLANHEAD, i));
  let q = ((head & bmask()) + r) >> bshift();
  let b = scr[P.tableOff + ld(bk(F_BLKOFF, i)) + q];
  let slot = (b << bshift()) + ((head + r) & bmask());
  if (P.mode == 1u) {
    scr[P.seqOff + 2u * j] = seqs[2u * slot];
    scr[P.seqOff + 2u * j + 1u] = seqs[2u * slot + 1u];
    return;
  }
  let W = words();
  emit_slot(P.outOff + j * (W + 2u), slot, 255u - i, W);
}

var<workgroup> wcount: atomic<u32>;
var<workgroup> wthreshold: vec2<u32>;

fn listed_seq(start: u32, idx: u32) -> vec2<u32> {
  return vec2<u32>(scr[P.seqOff + 2u * (start + idx)], scr[P.seqOff + 2u * (start + idx) + 1u]);
}
// number of leading entries of a bucket's seq list (ascending) that are < t
fn count_below(start: u32, m: u32, t: vec2<u32>) -> u32 {
  var lo = 0u;
  var hi = m;
  while (lo < hi) {
    let mid = (lo + hi) >> 1u;
    if (less64(listed_seq(start, mid), t)) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(256)
fn drop_select(@builtin(local_invocation_index) i: u32) {
  let k = 255u - i;
  let m = ld(bk(F_TAKE, i));
  let start = ld(bk(F_OUTOFF, i));
  let d = P.n;
  if (i == 0u) { wthreshold = vec2<u32>(0u); wfree = ld(G_FREETOP); }
  workgroupBarrier();
  // T = the largest value with fewer than d listed seqs below it = the d-th smallest listed seq
  for (var bit = 63i; bit >= 0i; bit--) {
    if (i == 0u) { atomicStore(&wcount, 0u); }
    workgroupBarrier();
    var cand = wthreshold;
    if (bit >= 32i) { cand.y = cand.y | (1u << u32(bit - 32i)); } else { cand.x = cand.x | (1u << u32(bit)); }
    atomicAdd(&wcount, count_below(start, m, cand));
    workgroupBarrier();
    if (i == 0u && atomicLoad(&wcount) < d) { wthreshold = cand; }
    workgroupBarrier();
  }
  // entries <= T: below T + 1
  let drop = count_below(start, m, add64(wthreshold, 1u));
  let head = ld(bk(F_PLANHEAD, i));
  var passed = 0u;
  if (drop > 0u) { passed = ((head & bmask()) + drop) >> bshift(); }
  let offs = wg_scan(i, vec4<u32>(drop, passed, 0u, 0u));
  let totals = wtotal;
  let freeTop = wfree;
  st(bk(F_TAKE, i), drop);
  st(bk(F_OUTOFF, i), offs.x);
  walk_bucket(k, head, drop, ld(bk(F_TAIL, k)) - head, NONE, true, freeTop + offs.y);
  if (i == 0u) {
    st(G_TOTAL, totals.x);
    st(G_FREETOP, freeTop + totals.y);
    let count = ld(G_COUNT);
    if (count < d || totals.x != d) { atomicOr(&ctl[G_ERR], ERR_UNDERFLOW); }
    st(G_COUNT, count - totals.x);
    count64(G_DROPPED, totals.x);
  }
}
