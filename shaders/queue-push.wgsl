// ringkernel GPU queue: insertion of pushes whose order only the device knows: the inbox a
// device-side kernel filled (queue-device.wgsl), three dispatches. Host pushes go through
// queue-seg.wgsl instead (the host sorts them by bucket, so they need no rank pass).
//
// INPUT  inp[P.inOff + i*(W+1)] = priority of message i, followed by its W payload words.
// PHASES
//   push_rank    (n/256 workgroups) stable rank of each message among the messages of the same
//                priority in its 256-message chunk, from per-priority 256-bit masks in workgroup
//                memory (rank = popcount of the mask bits below the invocation), and the chunk's
//                per-priority histogram. Ranks come from message positions, never from the order
//                in which invocations win an atomic, so FIFO holds inside one batch.
//   push_scan    (1 workgroup, invocation k = bucket k) turns chunk histograms into per-chunk
//                bases (serial over chunks), reserves room in COUNT (reserve-then-commit: the
//                capacity is checked here and the slots are filled in the next dispatch),
//                allocates the blocks each bucket needs from the free stack (a workgroup scan
//                gives each bucket its range), links them onto the bucket's chain, and
//                publishes the new tails. Nothing reads the new slots before push_scatter ends.
//   push_scatter (n invocations) writes payload and seq of message i into ticket
//                planTail[k] + chunkBase + rank: the slot's block is the old tail block or one of
//                the blocks allocated in push_scan, found by index (no chain walk).
// INVARIANTS  seq = PLANSEQ + i, where PLANSEQ = NEXTSEQ (before the push) + seqSkip already, so
//   seq is strictly increasing in i and DROP_OLDEST sees batch order; tail - head of every bucket
//   never exceeds COUNT <= CAP (COUNT > CAP is flagged as ERR_CAPACITY).

var<workgroup> masks: array<atomic<u32>, 2048>;

// P.flags bit 2: the segment is the device-side inbox; its length is on the device (G_DEVPUSHES)
fn seg_n() -> u32 {
  if ((P.flags & 2u) != 0u) { return ld(G_DEVPUSHES); }
  return P.n;
}
fn seg_chunks() -> u32 {
  if ((P.flags & 2u) != 0u) { return (ld(G_DEVPUSHES) + 255u) / 256u; }
  return P.nChunks;
}

@compute @workgroup_size(256)
fn push_rank(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.y * nwg.x + wid.x;
  let i = chunk * 256u + lid;
  let S = words() + 1u;
  let n = seg_n();
  for (var w = 0u; w < 8u; w++) { atomicStore(&masks[lid * 8u + w], 0u); }
  workgroupBarrier();
  var key = 256u;
  if (i < n) {
    key = inp[P.inOff + i * S] & 255u;
    atomicOr(&masks[key * 8u + (lid >> 5u)], 1u << (lid & 31u));
  }
  workgroupBarrier();
  if (i < n) {
    var rank = 0u;
    let word = lid >> 5u;
    for (var w = 0u; w < word; w++) { rank += countOneBits(atomicLoad(&masks[key * 8u + w])); }
    rank += countOneBits(atomicLoad(&masks[key * 8u + word]) & ((1u << (lid & 31u)) - 1u));
    scr[P.rankOff + i] = rank;
  }
  if (chunk < seg_chunks()) {
    var total = 0u;
    for (var w = 0u; w < 8u; w++) { total += countOneBits(atomicLoad(&masks[lid * 8u + w])); }
    scr[P.histOff + chunk * 256u + lid] = total;
  }
}

var<workgroup> wfreeTop: u32;

@compute @workgroup_size(256)
fn push_scan(@builtin(local_invocation_index) k: u32) {
  // globals that invocation 0 rewrites below are read once, before any barrier, into workgroup
  // memory: past the last barrier, invocations do not run in lockstep.
  if (k == 0u) { wfreeTop = ld(G_FREETOP); }
  let n = seg_n();
  let nChunks = seg_chunks();
  var running = 0u;
  for (var c = 0u; c < nChunks; c++) {
    let h = scr[P.histOff + c * 256u + k];
    scr[P.histOff + c * 256u + k] = running;
    running += h;
  }
  let tail = ld(bk(F_TAIL, k));
  let tailBlk = ld(bk(F_TAILBLK, k));
  var need = 0u;
  if (running > 0u) { need = ((tail & bmask()) + running) >> bshift(); }
  let off = wg_scan2(k, vec2<u32>(need, 0u)).x;
  let totalNeed = wtotal.x;
  let freeTop = wfreeTop;
  var base = 0u;
  if (freeTop >= totalNeed) { base = freeTop - totalNeed; }
  st(bk(F_PLANTAIL, k), tail);
  st(bk(F_PLANTAILBLK, k), tailBlk);
  st(bk(F_NEWBLKOFF, k), base + off);
  var prev = tailBlk;
  for (var j = 0u; j < need; j++) {
    let b = free_at(base + off + j);
    set_next(prev, b);
    set_next(b, NONE);
    prev = b;
  }
  st(bk(F_TAILBLK, k), prev);
  st(bk(F_TAIL, k), tail + running);
  if (running > 0u) { set_occupied(k, true); }
  if (k == 0u) {
    if (freeTop < totalNeed) { atomicOr(&ctl[G_ERR], ERR_POOL); }
    st(G_FREETOP, base);
    let seq = ld(G_NEXTSEQ) + P.seqSkip;
    st(G_PLANSEQ, seq);
    st(G_NEXTSEQ, seq + n);
    // reserve: the room was granted by the host (BLOCK/REJECT/DROP_OLDEST decided there); the
    // device re-checks it and flags a violation instead of overflowing silently.
    let before = atomicAdd(&ctl[G_COUNT], n);
    if (before + n > ld(G_CAP)) { atomicOr(&ctl[G_ERR], ERR_CAPACITY); }
    atomicAdd(&ctl[G_ENQ], n);
  }
}

@compute @workgroup_size(256)
fn push_scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= seg_n()) { return; }
  let W = words();
  let S = W + 1u;
  let rec = P.inOff + i * S;
  let k = inp[rec] & 255u;
  let r = scr[P.histOff + (i >> 8u) * 256u + k] + scr[P.rankOff + i];
  let tail = ld(bk(F_PLANTAIL, k));
  let ticket = tail + r;
  let q = ((tail & bmask()) + r) >> bshift();
  var b = ld(bk(F_PLANTAILBLK, k));
  if (q > 0u) { b = free_at(ld(bk(F_NEWBLKOFF, k)) + q - 1u); }
  let slot = (b << bshift()) + (ticket & bmask());
  seqs[slot] = ld(G_PLANSEQ) + i;
  for (var w = 0u; w < W; w++) { pool[slot * W + w] = inp[rec + 1u + w]; }
}
