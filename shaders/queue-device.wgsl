// ringkernel GPU queue: the passes around a user kernel that uses the device-side API
// (shaders/device-api.wgsl). In one submission: dev_prepare, the user's dispatches, dev_commit,
// then the inbox is pushed by the ingest phases of queue-push.wgsl (positions read from the
// device: FLAG_DEVICE_N, indirect dispatch), then a head fetch for the host (queue-take.wgsl).
//
//   dev_prepare (1 workgroup): AVAIL = COUNT (pop reservations), CLAIM[k] = 0 (per-bucket claim
//     tickets), INBOX = 0, INBOX_CAP = min(CAP - COUNT, P.n = inbox records the upload buffer holds).
//   dev_commit (1 workgroup, invocation k = bucket k): bucket k gave out CLAIM[k] claim tickets,
//     the first min(CLAIM[k], n_k) of which succeeded, and they are exactly its first tickets:
//     walk_bucket commits them (head moves, passed blocks to the free stack, bitmap); COUNT -=
//     taken; DEQ and DEVPOPS += taken, RUN_POPS = taken; INGEST_N = min(INBOX, INBOX_CAP) and the
//     indirect dispatch size of the ingest.
// INVARIANT  inside the user dispatch, HEAD/TAIL/HEADBLK/bitmap are read only: every change is
//   applied here, after the dispatch boundary. AVAIL and INBOX saturate: an attempt that sees
//   them exhausted changes nothing, so no number of failed attempts can wrap them.

@compute @workgroup_size(256)
fn dev_prepare(@builtin(local_invocation_index) k: u32) {
  st(bk(F_CLAIM, k), 0u);
  if (k == 0u) {
    let count = ld(G_COUNT);
    st(G_AVAIL, count);
    st(G_INBOX, 0u);
    st(G_INBOX_CAP, min(ld(G_CAP) - count, P.n));
    st(G_RUN_POPS, 0u);
    st(G_RUN_PUSHES, 0u);
  }
}

@compute @workgroup_size(256)
fn dev_commit(@builtin(local_invocation_index) k: u32) {
  if (k == 0u) { wfree = ld(G_FREETOP); }
  let head = ld(bk(F_HEAD, k));
  let n = ld(bk(F_TAIL, k)) - head;
  let take = min(ld(bk(F_CLAIM, k)), n);
  var passed = 0u;
  if (take > 0u) { passed = ((head & bmask()) + take) >> bshift(); }
  let offs = wg_scan(k, vec4<u32>(take, passed, 0u, 0u));
  let totals = wtotal;
  let freeTop = wfree;
  walk_bucket(k, head, take, n, NONE, true, freeTop + offs.y);
  st(bk(F_CLAIM, k), 0u);
  if (k == 0u) {
    st(G_FREETOP, freeTop + totals.y);
    st(G_COUNT, ld(G_COUNT) - totals.x);
    count64(G_DEQ, totals.x);
    count64(G_DEVPOPS, totals.x);
    st(G_RUN_POPS, totals.x);
    let pushes = min(ld(G_INBOX), ld(G_INBOX_CAP));
    st(G_INGEST_N, pushes);
    st(G_IND, (pushes + 255u) / 256u);
    st(G_IND + 1u, 1u);
    st(G_IND + 2u, 1u);
  }
}
