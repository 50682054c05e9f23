// ringkernel GPU queue: one segment of host operations (pushes, then pops), plus the head fetch
// for the host (layout, bindings and helpers: queue-common.wgsl). Dispatches per segment, chosen
// by the host from its sizes:
//   n + K <= 128          seg_tiny                (1 invocation, serial, no barrier)
//   n + kOld <= 2048      seg_main, FLAG_SMALL    (1 workgroup; the items run inside it)
//   larger                seg_main + seg_move (items one invocation each)
// and the head fetch rides on the last segment's dispatch when that one ran its items itself
// (else one seg_tiny of its own). So a put + get, or a submission of small segments, is one
// dispatch per segment; a batch is two.
//
// INPUT (host upload, per segment)
//   inp[P.cntOff + k]          number of this segment's pushes with priority k (256 words)
//   inp[P.inOff + p*(W+1)]     record at *sorted position* p: the host lays the pushes out stably
//                              sorted by bucket in scan order (bucket 255 first), so the pushes of
//                              bucket k are positions [inStart_k, inStart_k + c_k) in batch order.
//                              Word 0 = (index in the batch << 8) | priority, then W payload words.
//   The host's counting sort is the stable rank: the message at position p is the
//   (p - inStart_k)-th push of bucket k in batch order, so FIFO holds inside one batch, and its
//   seq is PLANSEQ + index (64-bit), strictly increasing in batch order (DROP_OLDEST sees batch order).
// PHASES
//   seg_main (1 workgroup, invocation i = scan position i = bucket 255 - i, which also owns that
//     bucket's chain, so its own writes need no barrier):
//     one 4-wide workgroup scan gives what each bucket needs up front: input start, block-list
//     offset and the pop plan's 'before' (messages ahead of it after the push).
//     push plan: blocks each bucket needs come off the
//       free stack (a scan gives each bucket its range) and are linked onto its chain and listed
//       in scr[P.allocOff ..] (the free stack itself is reused by the pop's frees just below);
//       TAIL += c_k, bitmap set, NEXTSEQ/PLANSEQ, COUNT += n (checked against CAP).
//     pop plan (K = P.popK): exclusive scan of the bucket counts (after the push) from priority
//       255 down: take_i = clamp(K - before_i, 0, n_i), output of bucket i starts at before_i;
//       the blocks holding tickets [head, head + take] go to a block table in scr[P.tableOff ..];
//       commit (walk_bucket): HEAD += take, fully passed blocks back to the free stack, bitmap
//       cleared when emptied, COUNT -= K (flagged ERR_UNDERFLOW when K > COUNT).
//     The plan (per scan position: out start, take, head, old count, table offset, input start,
//     old tail block, alloc offset, start among the pops of old messages) goes to plain words at
//     scr[P.planOff ..] (PL_* below), with a chunk table for those pops: scr[P.planOff + PL_CHUNK + c]
//     = the scan position holding old-pop number 256c.
//     FLAG_SMALL (small segment): the items (below) run in this same workgroup after a barrier.
//     FLAG_HEAD (head fetch): then a pop plan without commit for P.peekN messages, gathered into
//     outb[P.peekOff ..] in the same workgroup.
//   seg_move (one invocation per item, or inside seg_main; O(1) work per push, no barrier):
//     item p < n is the push at sorted position p (rank r in its bucket): if this segment's pops
//     take it (nOld + r < take) and output is wanted, it writes its own output record at
//     outStart + nOld + r, straight from inp; otherwise it writes payload and seq into ticket
//     oldTail + r, in the old tail block or an allocated one. Pushed-then-popped messages never
//     touch the pool.
//     item n + q (q < P.kOld, an upper bound the host knows: min(K, size before the segment))
//     is the q-th pop of a message present before the segment: its bucket by binary search
//     between two chunk-table entries (usually 0-1 steps), read through the block table from
//     pool/seqs. No slot is both written and read in one dispatch: pushes write tickets >=
//     oldTail, these pops read tickets < oldTail.
// INVARIANT  blocks freed by the pop plan are reused only by a later segment's plan, after this
//   segment's move has read them.

const PL_OUT: u32 = 0u;       // plan arrays in scratch, 256 words each, by scan position
const PL_TAKE: u32 = 256u;
const PL_HEAD: u32 = 512u;
const PL_NOLD: u32 = 768u;
const PL_BLKOFF: u32 = 1024u;
const PL_IN: u32 = 1280u;
const PL_TAILBLK: u32 = 1536u;
const PL_ALLOC: u32 = 1792u;
const PL_OLDSTART: u32 = 2048u;
const PL_SEQ: u32 = 2304u;    // PLANSEQ, 2 words
const PL_OLDTOTAL: u32 = 2306u;
const PL_CHUNK: u32 = 2320u;

// workgroup copies for the head fetch inside seg_main
var<workgroup> sOut: array<u32, 256>;
var<workgroup> sHead: array<u32, 256>;
var<workgroup> sBlkOff: array<u32, 256>;
var<workgroup> gFree: u32;

fn pl(f: u32, i: u32) -> u32 { return scr[P.planOff + f + i]; }

// last scan position i with sOut[i] <= j (sOut is non-decreasing in i)
fn seg_find(j: u32) -> u32 {
  var lo = 0u;
  var hi = 255u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) >> 1u;
    if (sOut[mid] <= j) { lo = mid; } else { hi = mid - 1u; }
  }
  return lo;
}

fn seg_item(idx: u32, shift: u32, W: u32) {
  let mask = (1u << shift) - 1u;
  let n = P.n;
  if (idx < n) {
    let S = W + 1u;
    let rec = P.inOff + idx * S;
    let w0 = inp[rec];
    let i = 255u - (w0 & 255u);
    let r = idx - pl(PL_IN, i);
    let nOld = pl(PL_NOLD, i);
    let seq = add64(vec2<u32>(pl(PL_SEQ, 0u), pl(PL_SEQ, 1u)), w0 >> 8u);
    if (nOld + r < pl(PL_TAKE, i)) {
      // popped by this segment: its output comes straight from inp
      if (P.kOut == 0u) { return; }
      let o = P.outOff + (pl(PL_OUT, i) + nOld + r) * (W + 2u);
      outb[o] = seq.x;
      outb[o + 1u] = ((255u - i) << 24u) | seq.y;
      for (var w = 0u; w < W; w++) { outb[o + 2u + w] = inp[rec + 1u + w]; }
      return;
    }
    let tail = pl(PL_HEAD, i) + nOld;
    let q = ((tail & mask) + r) >> shift;
    var b = pl(PL_TAILBLK, i);
    if (q > 0u) { b = scr[P.allocOff + pl(PL_ALLOC, i) + q - 1u]; }
    let slot = (b << shift) + ((tail + r) & mask);
    set_slot_seq(slot, seq);
    for (var w = 0u; w < W; w++) { pool[slot * W + w] = inp[rec + 1u + w]; }
    return;
  }
  let q = idx - n;
  if (q >= P.kOld || q >= pl(PL_OLDTOTAL, 0u)) { return; }
  // pop of a message present before the segment: scan position by chunk table + short search
  let c = q >> 8u;
  var lo = pl(PL_CHUNK, c);
  var hi = 255u;
  if ((c + 1u) * 256u < pl(PL_OLDTOTAL, 0u)) { hi = pl(PL_CHUNK, c + 1u); }
  while (lo < hi) {
    let mid = (lo + hi + 1u) >> 1u;
    if (pl(PL_OLDSTART, mid) <= q) { lo = mid; } else { hi = mid - 1u; }
  }
  let i = lo;
  let r = q - pl(PL_OLDSTART, i);
  let head = pl(PL_HEAD, i);
  let qb = ((head & mask) + r) >> shift;
  let b = scr[P.tableOff + pl(PL_BLKOFF, i) + qb];
  let slot = (b << shift) + ((head + r) & mask);
  emit_slot(P.outOff + (pl(PL_OUT, i) + r) * (W + 2u), slot, 255u - i, W);
}

@compute @workgroup_size(256)
fn seg_main(@builtin(local_invocation_index) i: u32) {
  let k = 255u - i;
  if (i == 0u) { gFree = ld(G_FREETOP); }
  let shift = bshift();
  let mask = (1u << shift) - 1u;
  let n = P.n;
  let K = P.popK;
  // ---- push plan; one scan gives input starts, block-list offsets and the pop plan's
  // "before" (all three are known per bucket up front)
  var c = 0u;
  if (n > 0u) { c = inp[P.cntOff + k]; }
  let tail = ld(bk(F_TAIL, k));
  let tailBlk = ld(bk(F_TAILBLK, k));
  let head = ld(bk(F_HEAD, k));
  var need = 0u;
  if (c > 0u) { need = ((tail & mask) + c) >> shift; }
  let nNow = tail + c - head;
  let scanA = wg_scan(i, vec4<u32>(c, need, nNow, 0u));
  let inStart = scanA.x;
  let aoff = scanA.y;
  let before = scanA.z;
  let totalNeed = wtotal.y;
  let present = wtotal.z;
  let freeTop = gFree;
  var base = 0u;
  if (freeTop >= totalNeed) { base = freeTop - totalNeed; }
  var prev = tailBlk;
  for (var j = 0u; j < need; j++) {
    let b = free_at(base + aoff + j);
    set_next(prev, b);
    set_next(b, NONE);
    scr[P.allocOff + aoff + j] = b;
    prev = b;
  }
  if (c > 0u) {
    st(bk(F_TAILBLK, k), prev);
    st(bk(F_TAIL, k), tail + c);
    set_occupied(k, true);
  }
  let nOld = tail - head;
  // every free_at read above happens before any set_free below (P is uniform: uniform branch)
  if (n > 0u && K > 0u) { storageBarrier(); }
  // ---- pop plan (K may be 0)
  var take = 0u;
  if (K > before) { take = min(K - before, nNow); }
  let start = min(before, K);
  var nb = 0u;
  if (take > 0u) { nb = (((head & mask) + take) >> shift) + 1u; }
  var passed = 0u;
  if (nb > 0u) { passed = nb - 1u; }
  let oldTake = min(take, nOld);
  var offs = vec4<u32>(0u);
  var totals = vec4<u32>(0u);
  if (K > 0u) {
    offs = wg_scan(i, vec4<u32>(nb, passed, oldTake, 0u));
    totals = wtotal;
  }
  let totalFreed = totals.y;
  let oldStart = offs.z;
  let oldTotal = totals.z;
  walk_bucket(k, head, take, nNow, P.tableOff + offs.x, true, base + offs.y);
  let po = P.planOff;
  scr[po + PL_OUT + i] = start;
  scr[po + PL_TAKE + i] = take;
  scr[po + PL_HEAD + i] = head;
  scr[po + PL_NOLD + i] = nOld;
  scr[po + PL_BLKOFF + i] = offs.x;
  scr[po + PL_IN + i] = inStart;
  scr[po + PL_TAILBLK + i] = tailBlk;
  scr[po + PL_ALLOC + i] = aoff;
  scr[po + PL_OLDSTART + i] = oldStart;
  if (P.kOld > 0u && oldTake > 0u) {
    for (var c = (oldStart + 255u) >> 8u; c * 256u < oldStart + oldTake; c++) { scr[po + PL_CHUNK + c] = i; }
  }
  if (i == 0u) {
    scr[po + PL_OLDTOTAL] = oldTotal;
    if (freeTop < totalNeed) { atomicOr(&ctl[G_ERR], ERR_POOL); }
    st(G_FREETOP, base + totalFreed);
    let seq = add64(ld64(G_NEXTSEQ), P.seqSkip);
    scr[po + PL_SEQ] = seq.x;
    scr[po + PL_SEQ + 1u] = seq.y;
    st64(G_PLANSEQ, seq);
    st64(G_NEXTSEQ, add64(seq, n));
    let count = ld(G_COUNT) + n;
    if (count > ld(G_CAP)) { atomicOr(&ctl[G_ERR], ERR_CAPACITY); }
    let sumTake = min(K, present);
    if (sumTake != K) { atomicOr(&ctl[G_ERR], ERR_UNDERFLOW); }
    st(G_COUNT, count - sumTake);
    st(G_TOTAL, sumTake);
    count64(G_ENQ, n);
    if ((P.flags & FLAG_CLEAR) != 0u) { count64(G_CLEARED, sumTake); }
    else { count64(G_DEQ, sumTake); }
  }
  // ---- small segment: the move in this workgroup
  if ((P.flags & FLAG_SMALL) != 0u) {
    storageBarrier(); // (every WGSL barrier is also a control barrier)
    let total = n + P.kOld;
    for (var idx = i; idx < total; idx += 256u) { seg_item(idx, shift, words()); }
  }
  // ---- head fetch: pop plan without commit, gathered here
  if ((P.flags & FLAG_HEAD) != 0u) {
    storageBarrier();
    let h2 = ld(bk(F_HEAD, k));
    let n2 = ld(bk(F_TAIL, k)) - h2;
    let P2 = P.peekN;
    let before2 = wg_scan(i, vec4<u32>(n2, 0u, 0u, 0u)).x;
    let got = min(P2, wtotal.x);
    var take2 = 0u;
    if (P2 > before2) { take2 = min(P2 - before2, n2); }
    var nb2 = 0u;
    if (take2 > 0u) { nb2 = (((h2 & mask) + take2) >> shift) + 1u; }
    let off2 = wg_scan(i, vec4<u32>(nb2, 0u, 0u, 0u)).x;
    walk_bucket(k, h2, take2, n2, P.tableOff + off2, false, 0u);
    sOut[i] = min(before2, P2);
    sHead[i] = h2;
    sBlkOff[i] = off2;
    storageBarrier();
    workgroupBarrier();
    let W = words();
    for (var j = i; j < got; j += 256u) {
      let p = seg_find(j);
      let r = j - sOut[p];
      let hh = sHead[p];
      let q = ((hh & mask) + r) >> shift;
      let bb = scr[P.tableOff + sBlkOff[p] + q];
      let slot = (bb << shift) + ((hh + r) & mask);
      emit_slot(P.peekOff + j * (W + 2u), slot, 255u - p, W);
    }
  }
}

@compute @workgroup_size(256)
fn seg_move(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  seg_item(linear_id(wid, nwg, lid), bshift(), words());
}

// Writes up to `limit - got` records of the most urgent messages, from the highest bucket down,
// at outb[outAt + got * (W + 2) ..]; with `commit` they are also removed. Returns the new got.
fn tiny_take(limit: u32, got0: u32, outAt: u32, write: bool, commit: bool, freeTop: ptr<function, u32>) -> u32 {
  let shift = bshift();
  let mask = (1u << shift) - 1u;
  let W = words();
  var got = got0;
  for (var w = 7i; w >= 0i && got < limit; w--) {
    var bits = ld(G_BITMAP + u32(w));
    while (bits != 0u && got < limit) {
      let bit = 31u - countLeadingZeros(bits);
      bits &= ~(1u << bit);
      let k = u32(w) * 32u + bit;
      let head = ld(bk(F_HEAD, k));
      let nk = ld(bk(F_TAIL, k)) - head;
      let take = min(limit - got, nk);
      if (write) {
        var cur = ld(bk(F_HEADBLK, k));
        for (var r = 0u; r < take; r++) {
          let t = head + r;
          if (r > 0u && (t & mask) == 0u) { cur = next_of(cur); }
          emit_slot(outAt + (got + r) * (W + 2u), (cur << shift) + (t & mask), k, W);
        }
      }
      if (commit) { *freeTop += walk_bucket(k, head, take, nk, NONE, true, *freeTop); }
      got += take;
    }
  }
  return got;
}

// seg_tiny (1 invocation; for segments of a few messages, e.g. one put + one get): the same
// operation as seg_main + move (+ head fetch), done serially with no barrier, visiting only the
// buckets it touches: pushed buckets in scan order (each push written to its slot; the
// counting sort makes a bucket's pushes consecutive), then the non-empty buckets from the
// bitmap, highest first, for the pops and the head fetch. Same results, same invariants;
// block ids taken from / given back to the free stack one at a time at its top.
// FLAG_SERIAL: first writes the submission's serial (Params.serialLo/Hi) to G_SERIAL, which the
// globals readback carries back: proof that the command buffer ran (src/device/submission.ts).
@compute @workgroup_size(1)
fn seg_tiny() {
  if ((P.flags & FLAG_SERIAL) != 0u) { st64(G_SERIAL, vec2<u32>(P.serialLo, P.serialHi)); }
  let shift = bshift();
  let mask = (1u << shift) - 1u;
  let W = words();
  let S = W + 1u;
  let n = P.n;
  let K = P.popK;
  var freeTop = ld(G_FREETOP);
  let seq = add64(ld64(G_NEXTSEQ), P.seqSkip);
  var err = 0u;
  // ---- pushes (the counting sort makes a bucket's pushes consecutive)
  if (n > 0u) {
    var p = 0u;
    for (var i = 255u - P.kHi; i <= 255u - P.kLo; i++) {
      let k = 255u - i;
      let c = inp[P.cntOff + k];
      for (var r = 0u; r < c; r++) {
        let rec = P.inOff + (p + r) * S;
        push_record(k, rec + 1u, add64(seq, inp[rec] >> 8u), W, &freeTop, &err);
      }
      p += c;
    }
  }
  let count = ld(G_COUNT) + n;
  if (count > ld(G_CAP)) { err |= ERR_CAPACITY; }
  // ---- pops, highest bucket first
  let taken = tiny_take(K, 0u, P.outOff, P.kOut > 0u, true, &freeTop);
  if (taken != K) { err |= ERR_UNDERFLOW; }
  // ---- head fetch
  if ((P.flags & FLAG_HEAD) != 0u) { tiny_take(P.peekN, 0u, P.peekOff, true, false, &freeTop); }
  if (err != 0u) { atomicOr(&ctl[G_ERR], err); }
  st(G_FREETOP, freeTop);
  st64(G_PLANSEQ, seq);
  st64(G_NEXTSEQ, add64(seq, n));
  st(G_COUNT, count - taken);
  st(G_TOTAL, taken);
  count64(G_ENQ, n);
  if ((P.flags & FLAG_CLEAR) != 0u) { count64(G_CLEARED, taken); }
  else { count64(G_DEQ, taken); }
}
