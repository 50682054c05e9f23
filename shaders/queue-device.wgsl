// ringkernel GPU queue: the passes around a user kernel that uses the device-side API
// (shaders/device-api.wgsl). One submission: dev_prepare, the user's dispatches, dev_commit,
// then the inbox is ingested by the ordinary push phases (n read from the device, indirect
// dispatch), then a peek for the host.
//
//   dev_prepare (1 workgroup): AVAIL = COUNT (pop reservations), CLAIM[k] = 0 (per-bucket claim
//     tickets), INBOX = 0, INBOX_CAP = min(CAP - COUNT, inbox records the upload buffer holds).
//   dev_commit (1 workgroup, invocation k = bucket k): bucket k gave out CLAIM[k] claim tickets,
//     the first min(CLAIM[k], n_k) of which succeeded, and they are exactly its first tickets:
//     head += taken, the blocks passed go back to the free stack (workgroup scan for ranges),
//     bitmap bit updated, COUNT -= taken, DEVPOPS = taken; DEVPUSHES = min(INBOX, INBOX_CAP);
//     indirect dispatch size for the ingest.
// INVARIANT  inside the user dispatch, HEAD/TAIL/HEADBLK/bitmap are read only: every change is
//   applied here, after the dispatch boundary.

@compute @workgroup_size(256)
fn dev_prepare(@builtin(local_invocation_index) k: u32) {
  st(bk(F_CLAIM, k), 0u);
  if (k == 0u) {
    let count = ld(G_COUNT);
    st(G_AVAIL, count);
    st(G_INBOX, 0u);
    st(G_INBOX_CAP, min(ld(G_CAP) - count, P.n));
    st(G_DEVPOPS, 0u);
    st(G_DEVPUSHES, 0u);
  }
}

@compute @workgroup_size(256)
fn dev_commit(@builtin(local_invocation_index) k: u32) {
  if (k == 0u) { wfree = ld(G_FREETOP); }
  let head = ld(bk(F_HEAD, k));
  let n = ld(bk(F_TAIL, k)) - head;
  let take = min(ld(bk(F_CLAIM, k)), n);
  var freed = 0u;
  if (take > 0u) { freed = ((head & bmask()) + take) >> bshift(); }
  let offs = wg_scan2(k, vec2<u32>(take, freed));
  let totals = wtotal;
  let freeTop = wfree;
  var b = ld(bk(F_HEADBLK, k));
  for (var j = 0u; j < freed; j++) {
    set_free(freeTop + offs.y + j, b);
    b = next_of(b);
  }
  if (take > 0u) {
    st(bk(F_HEAD, k), head + take);
    st(bk(F_HEADBLK, k), b);
    if (take == n) { set_occupied(k, false); }
  }
  st(bk(F_CLAIM, k), 0u);
  if (k == 0u) {
    st(G_FREETOP, freeTop + totals.y);
    st(G_COUNT, ld(G_COUNT) - totals.x);
    atomicAdd(&ctl[G_DEQ], totals.x);
    st(G_DEVPOPS, totals.x);
    let pushes = min(ld(G_INBOX), ld(G_INBOX_CAP));
    st(G_DEVPUSHES, pushes);
    st(G_IND, (pushes + 255u) / 256u);
    st(G_IND + 1u, 1u);
    st(G_IND + 2u, 1u);
  }
}
