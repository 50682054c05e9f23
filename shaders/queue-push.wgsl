// ringkernel GPU queue: insertion of records whose order only the device knows: the inbox a
// user kernel filled (queue-device.wgsl) or the emits of a ring kernel (src/runtime). Three
// dispatches. Host pushes go through queue-seg.wgsl instead (the host sorts them by bucket, so
// they need no rank pass).
//
// INPUT  n record positions at inp[P.inOff + i*(W+1)]: the priority, then W payload words. A
//   priority word >= 256 marks a position without a record (a ring kernel's unused emit slots).
//   n = P.n, or INGEST_N with FLAG_DEVICE_N (written by the producer on the device).
//   FLAG_DIVERT: a record whose two tag words (payload words P.tagOff, P.tagOff + 1) are not both
//   0 is a reply: it is copied to outb as [position, priority, W words] at the next of P.outCap
//   slots (REPLY_N counts them; the host orders them by position) and is not pushed.
// PHASES
//   ONE KEY      With FLAG_ONE_KEY and P.keyLo == P.keyHi (every position below n has that key:
//                written on the device before this push, and uniform, so the phases may branch on
//                it around their barriers), record i's rank among its bucket's is i: push_rank does
//                nothing, push_scan counts n for that bucket (0 for a key of 256: nothing pushed),
//                push_scatter puts record i at ticket planTail[k] + i. (A reply is never in such a
//                push: its producer marks a tagged input's keys mixed.)
//   push_rank    (n/256 workgroups) stable rank of each pushed record among the records of the
//                same priority in its 256-position chunk, and the chunk's per-priority histogram.
//                A chunk whose positions below n all have one key (one priority, or none pushed:
//                the common case of a kernel's batch) is found first: its ranks are the positions
//                and its histogram one count. Any other chunk uses per-priority 256-bit masks in
//                workgroup memory (rank = popcount of the mask bits below the invocation). Ranks
//                come from positions, never from the order in which invocations win an atomic, so
//                FIFO holds inside one batch.
//   push_scan    (1 workgroup, invocation k = bucket k) turns chunk histograms into per-chunk
//                bases (serial over chunks), reserves room in COUNT (the host or the producer
//                granted it; the device re-checks and flags ERR_CAPACITY), links the blocks each
//                bucket needs from the free stack (a workgroup scan gives each bucket its range),
//                and publishes the new tails. Nothing reads the new slots before push_scatter ends.
//   push_scatter (one invocation per position) writes the payload and seq of record i into ticket
//                planTail[k] + chunkBase + rank: the old tail block or a linked one, by index.
// INVARIANTS  seq = PLANSEQ + i (64-bit; PLANSEQ = NEXTSEQ + seqSkip), so seq strictly increases
//   with position and DROP_OLDEST sees the records' order; NEXTSEQ advances by n positions (empty
//   positions leave gaps, which only order matters). RUN_PUSHES = records pushed, also added to
//   ENQ and, for a device-side producer, DEVPUSHES.

// (workgroup memory starts zeroed: WGSL zero-initializes it for every workgroup)
var<workgroup> masks: array<atomic<u32>, 2048>;
// some position below n has a key other than the chunk's first
var<workgroup> wmixed: atomic<u32>;
var<workgroup> wmixedFlag: u32;

// every position below n has key P.keyLo (see ONE KEY)
fn one_key() -> bool {
  return (P.flags & FLAG_ONE_KEY) != 0u && P.keyLo == P.keyHi;
}

fn seg_n() -> u32 {
  if ((P.flags & FLAG_DEVICE_N) != 0u) { return ld(G_INGEST_N); }
  return P.n;
}
// the bucket of the record at position i (n known), or 256 when it is not pushed
fn record_key(i: u32, S: u32) -> u32 {
  let rec = P.inOff + i * S;
  let key = inp[rec];
  if (key > 255u) { return 256u; }
  if ((P.flags & FLAG_DIVERT) != 0u && (inp[rec + 1u + P.tagOff] | inp[rec + 2u + P.tagOff]) != 0u) { return 256u; }
  return key;
}

@compute @workgroup_size(256)
fn push_rank(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  if (one_key()) { return; }
  let chunk = wid.y * nwg.x + wid.x;
  let i = chunk * 256u + lid;
  let S = words() + 1u;
  let n = seg_n();
  let start = chunk * 256u;
  var key = 256u;
  if (i < n) {
    key = record_key(i, S);
    if (key > 255u && (P.flags & FLAG_DIVERT) != 0u && inp[P.inOff + i * S] < 256u) {
      // a reply: to outb, with its position
      let r = atomicAdd(&ctl[G_REPLY_N], 1u);
      if (r < P.outCap) {
        let o = P.outOff + r * (S + 1u);
        outb[o] = i;
        for (var w = 0u; w < S; w++) { outb[o + 1u + w] = inp[P.inOff + i * S + w]; }
      } else {
        atomicOr(&ctl[G_ERR], ERR_CAPACITY);
      }
    }
  }
  var first = 256u;
  if (start < n) { first = record_key(start, S); }
  if (i < n && key != first) { atomicStore(&wmixed, 1u); }
  workgroupBarrier();
  if (lid == 0u) { wmixedFlag = atomicLoad(&wmixed); }
  if (workgroupUniformLoad(&wmixedFlag) == 0u) {
    // one key below n: positions are ranks, and the histogram is that key's count
    if (first < 256u && i < n) { scr[P.rankOff + i] = lid; }
    if (start < n) {
      var count = 0u;
      if (lid == first) { count = min(256u, n - start); }
      scr[P.histOff + start + lid] = count;
    }
    return;
  }
  if (key < 256u) { atomicOr(&masks[key * 8u + (lid >> 5u)], 1u << (lid & 31u)); }
  workgroupBarrier();
  if (key < 256u) {
    var rank = 0u;
    let word = lid >> 5u;
    for (var w = 0u; w < word; w++) { rank += countOneBits(atomicLoad(&masks[key * 8u + w])); }
    rank += countOneBits(atomicLoad(&masks[key * 8u + word]) & ((1u << (lid & 31u)) - 1u));
    scr[P.rankOff + i] = rank;
  }
  if (start < n) {
    var total = 0u;
    for (var w = 0u; w < 8u; w++) { total += countOneBits(atomicLoad(&masks[lid * 8u + w])); }
    scr[P.histOff + chunk * 256u + lid] = total;
  }
}

var<workgroup> wfreeTop: u32;

@compute @workgroup_size(256)
fn push_scan(@builtin(local_invocation_index) k: u32) {
  if (k == 0u) { wfreeTop = ld(G_FREETOP); }
  let n = seg_n();
  let nChunks = (n + 255u) / 256u;
  var running = 0u;
  if (one_key()) {
    if (k == P.keyLo) { running = n; }
  } else {
    for (var c = 0u; c < nChunks; c++) {
      let h = scr[P.histOff + c * 256u + k];
      scr[P.histOff + c * 256u + k] = running;
      running += h;
    }
  }
  let tail = ld(bk(F_TAIL, k));
  let tailBlk = ld(bk(F_TAILBLK, k));
  var need = 0u;
  if (running > 0u) { need = ((tail & bmask()) + running) >> bshift(); }
  let off = wg_scan(k, vec4<u32>(need, running, 0u, 0u)).x;
  let totalNeed = wtotal.x;
  let m = wtotal.y;
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
    let seq = add64(ld64(G_NEXTSEQ), P.seqSkip);
    st64(G_PLANSEQ, seq);
    st64(G_NEXTSEQ, add64(seq, n));
    let before = atomicAdd(&ctl[G_COUNT], m);
    if (before + m > ld(G_CAP)) { atomicOr(&ctl[G_ERR], ERR_CAPACITY); }
    count64(G_ENQ, m);
    st(G_RUN_PUSHES, m);
    if ((P.flags & FLAG_DEVICE_N) != 0u) { count64(G_DEVPUSHES, m); }
  }
}

@compute @workgroup_size(256)
fn push_scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= seg_n()) { return; }
  let W = words();
  let S = W + 1u;
  let k = record_key(i, S);
  if (k > 255u) { return; }
  let rec = P.inOff + i * S;
  var r = i;
  if (!one_key()) { r = scr[P.histOff + (i >> 8u) * 256u + k] + scr[P.rankOff + i]; }
  let tail = ld(bk(F_PLANTAIL, k));
  let q = ((tail & bmask()) + r) >> bshift();
  var b = ld(bk(F_PLANTAILBLK, k));
  if (q > 0u) { b = free_at(ld(bk(F_NEWBLKOFF, k)) + q - 1u); }
  let slot = (b << bshift()) + ((tail + r) & bmask());
  set_slot_seq(slot, add64(ld64(G_PLANSEQ), i));
  for (var w = 0u; w < W; w++) { pool[slot * W + w] = inp[rec + 1u + w]; }
}
