// ringkernel GPU queue: batched removal — dequeue in exact priority order, peek, and
// DROP_OLDEST eviction of exactly the oldest messages by insertion sequence. Used for
// DROP_OLDEST evictions (drop-prepare, gather, drop_select, gather) and for the head fetch after
// a device-side kernel; host pops and host head fetches go through queue-seg.wgsl.
//
// PHASES
//   take_plan   (1 workgroup, invocation i = bucket 255 - i, so scan order = priority order)
//     mode 0 pop / 1 peek: exclusive scan of bucket counts from priority 255 down;
//       take_i = clamp(K - before_i, 0, n_i); output of bucket i starts at before_i.
//     mode 2 drop-prepare: take_i = min(d, n_i) (the d oldest overall are among the first d of
//       each bucket, because a bucket's head is its oldest).
//     Then each bucket walks its block chain once, writing the blocks holding tickets
//     [head, head + take] into a block table (so gather finds any slot by index), and, in pop
//     mode, commits: head += take, fully consumed blocks go back to the free stack (a
//     workgroup scan gives each bucket its range), bitmap bit updated, COUNT -= K.
//     Blocks freed here are reused only by a later push_scan, after gather has read them.
//   take_gather (one invocation per output j): bucket by binary search over the output starts,
//     rank r = j - start, ticket = planHead + r, block = table[blkOff + ((planHead & (B-1)) + r) / B].
//     mode 0 writes [seq, priority, payload] to outb; mode 1 writes seq to scratch.
//   drop_select (1 workgroup): after drop-prepare + gather(mode 1) listed the first min(d, n_i)
//     seqs of each bucket, finds by binary search on age = NEXTSEQ - seq (wrap-safe) the
//     threshold A with exactly d messages of age >= A (ages are distinct), so bucket i drops
//     its first #{age >= A} messages; commits like pop and counts them as dropped.
// INVARIANT  K <= COUNT and d <= COUNT are guaranteed by the host (flagged as ERR_UNDERFLOW).

var<workgroup> wfree: u32;

@compute @workgroup_size(256)
fn take_plan(@builtin(local_invocation_index) i: u32) {
  if (i == 0u) { wfree = ld(G_FREETOP); }
  let k = 255u - i;
  // P.flags bit 4 (peek after a device-side kernel): K = min(P.n, COUNT), the size being on the device
  var K = P.n;
  if ((P.flags & 4u) != 0u) { K = min(P.n, ld(G_COUNT)); }
  let head = ld(bk(F_HEAD, k));
  let n = ld(bk(F_TAIL, k)) - head;
  var take = 0u;
  var start = 0u;
  if (P.mode == 2u) {
    take = min(K, n);
    start = wg_scan2(i, vec2<u32>(take, 0u)).x;
  } else {
    let before = wg_scan2(i, vec2<u32>(n, 0u)).x;
    if (K > before) { take = min(K - before, n); }
    start = min(before, K);
  }
  let totalTaken = wg_scan2(i, vec2<u32>(take, 0u));   // keeps wtotal.x = sum of takes
  let sumTake = wtotal.x;
  var nb = 0u;
  if (take > 0u) { nb = (((head & bmask()) + take) >> bshift()) + 1u; }
  var freed = 0u;
  if (P.mode == 0u && nb > 0u) { freed = nb - 1u; }
  let offs = wg_scan2(i, vec2<u32>(nb, freed));
  let totalFreed = wtotal.y;
  st(bk(F_TAKE, i), take);
  st(bk(F_OUTOFF, i), start);
  st(bk(F_BLKOFF, i), offs.x);
  st(bk(F_PLANHEAD, i), head);
  var b = ld(bk(F_HEADBLK, k));
  for (var j = 0u; j < nb; j++) {
    scr[P.tableOff + offs.x + j] = b;
    if (j + 1u < nb) { b = next_of(b); }
  }
  let freeTop = wfree;
  if (P.mode == 0u && take > 0u) {
    for (var j = 0u; j < freed; j++) { set_free(freeTop + offs.y + j, scr[P.tableOff + offs.x + j]); }
    st(bk(F_HEAD, k), head + take);
    st(bk(F_HEADBLK, k), b);
    if (take == n) { set_occupied(k, false); }
  }
  if (i == 0u) {
    st(G_TOTAL, sumTake);
    if (P.mode == 0u) {
      st(G_FREETOP, freeTop + totalFreed);
      let count = ld(G_COUNT);
      if (count < K || sumTake != K) { atomicOr(&ctl[G_ERR], ERR_UNDERFLOW); }
      st(G_COUNT, count - sumTake);
      if ((P.flags & 1u) != 0u) { atomicAdd(&ctl[G_CLEARED], sumTake); }
      else { atomicAdd(&ctl[G_DEQ], sumTake); }
    }
  }
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
  let ticket = head + r;
  let q = ((head & bmask()) + r) >> bshift();
  let b = scr[P.tableOff + ld(bk(F_BLKOFF, i)) + q];
  let slot = (b << bshift()) + (ticket & bmask());
  if (P.mode == 1u) {
    scr[P.seqOff + j] = seqs[slot];
    return;
  }
  let W = words();
  let o = P.outOff + j * (W + 2u);
  outb[o] = seqs[slot];
  outb[o + 1u] = 255u - i;
  for (var w = 0u; w < W; w++) { outb[o + 2u + w] = pool[slot * W + w]; }
}

var<workgroup> wcount: atomic<u32>;
var<workgroup> wthreshold: u32;

// number of leading entries of bucket i's seq list whose age is >= a (ages decrease along the list)
fn count_older(start: u32, m: u32, nextSeq: u32, a: u32) -> u32 {
  var lo = 0u;
  var hi = m;
  while (lo < hi) {
    let mid = (lo + hi) >> 1u;
    if (nextSeq - scr[P.seqOff + start + mid] >= a) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(256)
fn drop_select(@builtin(local_invocation_index) i: u32) {
  let k = 255u - i;
  let m = ld(bk(F_TAKE, i));
  let start = ld(bk(F_OUTOFF, i));
  let nextSeq = ld(G_NEXTSEQ);
  let d = P.n;
  if (i == 0u) { wthreshold = 0u; wfree = ld(G_FREETOP); }
  workgroupBarrier();
  for (var bit = 31i; bit >= 0i; bit--) {
    if (i == 0u) { atomicStore(&wcount, 0u); }
    workgroupBarrier();
    let cand = wthreshold | (1u << u32(bit));
    atomicAdd(&wcount, count_older(start, m, nextSeq, cand));
    workgroupBarrier();
    if (i == 0u && atomicLoad(&wcount) >= d) { wthreshold = cand; }
    workgroupBarrier();
  }
  let a = wthreshold;
  let drop = count_older(start, m, nextSeq, a);
  let head = ld(bk(F_PLANHEAD, i));
  var freed = 0u;
  if (drop > 0u) { freed = ((head & bmask()) + drop) >> bshift(); }
  let offs = wg_scan2(i, vec2<u32>(drop, freed));
  let totals = wtotal;
  let freeTop = wfree;
  st(bk(F_TAKE, i), drop);
  st(bk(F_OUTOFF, i), offs.x);
  if (drop > 0u) {
    let tb = P.tableOff + ld(bk(F_BLKOFF, i));
    for (var j = 0u; j < freed; j++) { set_free(freeTop + offs.y + j, scr[tb + j]); }
    st(bk(F_HEAD, k), head + drop);
    st(bk(F_HEADBLK, k), scr[tb + freed]);
    if (drop == ld(bk(F_TAIL, k)) - head) { set_occupied(k, false); }
  }
  if (i == 0u) {
    st(G_TOTAL, totals.x);
    st(G_FREETOP, freeTop + totals.y);
    let count = ld(G_COUNT);
    if (count < d || totals.x != d) { atomicOr(&ctl[G_ERR], ERR_UNDERFLOW); }
    st(G_COUNT, count - totals.x);
    atomicAdd(&ctl[G_DROPPED], totals.x);
  }
}
