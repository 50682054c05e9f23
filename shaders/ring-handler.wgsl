// ringkernel runtime: the handler shader of one ring kernel, generated from this template by
// src/runtime/gpu/handler-wgsl.ts around the kernel's own WGSL (its `fn handle(msg, priority)`).
// The constants (RK_*) and the kernel's message structs come first; names starting with rk_ are
// ringkernel's. A message travels as its envelope: the schema's words, then the 64-bit
// correlation tag (RK_IN_TAG, RK_IN_TAG + 1), RK_IN_WORDS words in all.
//
// BINDINGS (group 0)
//   0 rk_in_ctl   the input queue's control block: rk_take's plan (OUTOFF, BLKOFF, PLANHEAD by
//                 scan position) is read to find message j
//   1 rk_in_scr   the input queue's scratch: the block table of the plan
//   2 rk_in_pool  the input queue's messages, as words (envelope of slot s at s * RK_IN_WORDS)
//   3 rk_k        the kernel's control block (RK_K_*): n, failures, events, counters
//   4 rk_work     the kernel's work buffer: emit records [priority, envelope words] at positions
//                 j * RK_MAX_EMITS + e (RK_S_OUT words each), then per-input failure codes at
//                 RK_FAIL_OFF, then events (tag lo, tag hi, emits | RK_EVENT_FAILED, failure
//                 code) at RK_EVENT_OFF, RK_EVENT_WORDS each
//   5 rk_state    the kernel's state, when it has one
// INVOCATION j < n handles the j-th most urgent message taken by rk_take. It writes only its
//   own emit slots, its own failure code and (atomically) its event and the shared counters:
//   no invocation waits on another, and the outputs' order is their positions', not the
//   order invocations finish in.
// KEYS  Each invocation folds its slots' keys (a record's priority, 256 for an empty slot) into
//   RK_K_KEYLO/KEYHI (atomicMin/Max; a tagged input makes them 0 and 0xffffffff: its outputs may
//   be replies, which only the ingest's full path diverts). Equal after the handler, every emit
//   position has one key and the large ingest skips its rank pass (queue-push.wgsl, FLAG_ONE_KEY).

{{prelude}}
@group(0) @binding(0) var<storage, read_write> rk_in_ctl: array<atomic<u32>>;
@group(0) @binding(1) var<storage, read> rk_in_scr: array<u32>;
@group(0) @binding(2) var<storage, read> rk_in_pool: array<u32>;
@group(0) @binding(3) var<storage, read_write> rk_k: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> rk_work: array<u32>;
{{stateBinding}}

var<private> rk_j: u32;
var<private> rk_emits: u32;
var<private> rk_tag: vec2<u32>;
var<private> rk_failed: bool;
var<private> rk_fail_code: u32;
// the lowest and highest key of this input's emit slots (rk_emit keeps them)
var<private> rk_klo: u32;
var<private> rk_khi: u32;

// Records a failure with a code: counted as an error; the message still counts as processed.
fn rk_fail(rk_code: u32) {
  rk_failed = true;
  rk_fail_code = rk_code;
  let rk_old = atomicAdd(&rk_k[RK_K_ERRORS], 1u);
  if (rk_old == 0xffffffffu) { atomicAdd(&rk_k[RK_K_ERRORS + 1u], 1u); }
}
{{emit}}
// ---- the kernel's WGSL
{{user}}
// ---- end of the kernel's WGSL

// (every local is rk_-prefixed: a schema's struct may take any other name, `head` or `mask` too)
@compute @workgroup_size(64)
fn rk_main(@builtin(global_invocation_id) rk_gid: vec3<u32>) {
  let rk_jj = rk_gid.x;
  if (rk_jj >= atomicLoad(&rk_k[RK_K_N])) { return; }
  // the plan's scan position holding output j: the last one whose OUTOFF <= j (the take names
  // it when one bucket holds them all, the usual case)
  var rk_lo = 0u;
  var rk_hi = 255u;
  let rk_one = atomicLoad(&rk_k[RK_K_ONEPOS]);
  if (rk_one != RK_ONE_BUCKET_NONE) { rk_lo = rk_one; rk_hi = rk_one; }
  while (rk_lo < rk_hi) {
    let rk_mid = (rk_lo + rk_hi + 1u) >> 1u;
    if (atomicLoad(&rk_in_ctl[rk_bk(RK_F_OUTOFF, rk_mid)]) <= rk_jj) { rk_lo = rk_mid; } else { rk_hi = rk_mid - 1u; }
  }
  let rk_r = rk_jj - atomicLoad(&rk_in_ctl[rk_bk(RK_F_OUTOFF, rk_lo)]);
  let rk_head = atomicLoad(&rk_in_ctl[rk_bk(RK_F_PLANHEAD, rk_lo)]);
  let rk_shift = atomicLoad(&rk_in_ctl[RK_G_BSHIFT]);
  let rk_mask = (1u << rk_shift) - 1u;
  let rk_b = rk_in_scr[atomicLoad(&rk_in_ctl[rk_bk(RK_F_BLKOFF, rk_lo)]) + (((rk_head & rk_mask) + rk_r) >> rk_shift)];
  let rk_at = ((rk_b << rk_shift) + ((rk_head + rk_r) & rk_mask)) * RK_IN_WORDS;
  rk_j = rk_jj;
  rk_emits = 0u;
  rk_tag = vec2<u32>(rk_in_pool[rk_at + RK_IN_TAG], rk_in_pool[rk_at + RK_IN_TAG + 1u]);
  rk_failed = false;
  rk_klo = 0xffffffffu;
  rk_khi = 0u;
  // the message read word by word (long arrays by a loop: no copy of a large struct to compile)
  var rk_msg: {{input}};
  {{load}}
  handle(rk_msg, 255u - rk_lo);
  for (var rk_e = rk_emits; rk_e < RK_MAX_EMITS; rk_e++) { rk_work[(rk_jj * RK_MAX_EMITS + rk_e) * RK_S_OUT] = RK_NO_RECORD; }
  if (rk_emits < RK_MAX_EMITS) { rk_klo = min(rk_klo, 256u); rk_khi = max(rk_khi, 256u); }
  if (rk_tag.x != 0u || rk_tag.y != 0u) { rk_klo = 0u; rk_khi = 0xffffffffu; }
  // (a load first: once the range holds this input's keys, as it soon does for every input of a
  // one-key batch, nothing is written, and the invocations do not contend for the words)
  if (rk_klo < atomicLoad(&rk_k[RK_K_KEYLO])) { atomicMin(&rk_k[RK_K_KEYLO], rk_klo); }
  if (rk_khi > atomicLoad(&rk_k[RK_K_KEYHI])) { atomicMax(&rk_k[RK_K_KEYHI], rk_khi); }
  if (rk_failed) {
    rk_work[RK_FAIL_OFF + rk_jj] = rk_fail_code;
    atomicMax(&rk_k[RK_K_LASTFAIL], rk_jj + 1u);
  }
  if (rk_tag.x != 0u || rk_tag.y != 0u) {
    let rk_ev = atomicAdd(&rk_k[RK_K_EVENTS], 1u);
    if (rk_ev < RK_EVENT_CAP) {
      let rk_at_ev = RK_EVENT_OFF + RK_EVENT_WORDS * rk_ev;
      rk_work[rk_at_ev] = rk_tag.x;
      rk_work[rk_at_ev + 1u] = rk_tag.y;
      rk_work[rk_at_ev + 2u] = rk_emits | select(0u, RK_EVENT_FAILED, rk_failed);
      rk_work[rk_at_ev + 3u] = rk_fail_code;
    }
  }
}
