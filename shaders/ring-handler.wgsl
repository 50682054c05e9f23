// ringkernel runtime: the handler shader of one ring kernel, generated from this template by
// src/runtime/gpu/handler-wgsl.ts around the kernel's own WGSL (its `fn handle(msg, priority)`).
// The constants (RK_*), the kernel's message structs and their envelopes (the fields, then the
// 64-bit correlation tag rk_tag_lo, rk_tag_hi) come first; names starting with rk_ are ringkernel's.
//
// BINDINGS (group 0)
//   0 rk_in_ctl   the input queue's control block: rk_take's plan (OUTOFF, BLKOFF, PLANHEAD by
//                 scan position) is read to find message j
//   1 rk_in_scr   the input queue's scratch: the block table of the plan
//   2 rk_in_pool  the input queue's messages (envelopes)
//   3 rk_k        the kernel's control block (RK_K_*): n, failures, events, counters
//   4 rk_work     the kernel's work buffer: emit records [priority, envelope words] at positions
//                 j * RK_MAX_EMITS + e (RK_S_OUT words each), then per-input failure codes at
//                 RK_FAIL_OFF, then events (tag lo, tag hi, emits) at RK_EVENT_OFF
//   5 rk_state    the kernel's state, when it has one
// INVOCATION j < n handles the j-th most urgent message taken by rk_take. It writes only its
//   own emit slots, its own failure code and (atomically) its event and the shared counters:
//   no invocation waits on another, and the outputs' order is their positions', not the
//   order invocations finish in.

{{prelude}}
@group(0) @binding(0) var<storage, read_write> rk_in_ctl: array<atomic<u32>>;
@group(0) @binding(1) var<storage, read> rk_in_scr: array<u32>;
@group(0) @binding(2) var<storage, read> rk_in_pool: array<{{inEnvelope}}>;
@group(0) @binding(3) var<storage, read_write> rk_k: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> rk_work: array<u32>;
{{stateBinding}}

var<private> rk_j: u32;
var<private> rk_emits: u32;
var<private> rk_tag: vec2<u32>;
var<private> rk_failed: bool;
var<private> rk_fail_code: u32;

// Records a failure with a code: counted as an error; the message still counts as processed.
fn rk_fail(code: u32) {
  rk_failed = true;
  rk_fail_code = code;
  let old = atomicAdd(&rk_k[RK_K_ERRORS], 1u);
  if (old == 0xffffffffu) { atomicAdd(&rk_k[RK_K_ERRORS + 1u], 1u); }
}
{{emit}}
// ---- the kernel's WGSL
{{user}}
// ---- end of the kernel's WGSL

@compute @workgroup_size(64)
fn rk_main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= atomicLoad(&rk_k[RK_K_N])) { return; }
  // the plan's scan position holding output j: the last one whose OUTOFF <= j
  var lo = 0u;
  var hi = 255u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) >> 1u;
    if (atomicLoad(&rk_in_ctl[rk_bk(RK_F_OUTOFF, mid)]) <= j) { lo = mid; } else { hi = mid - 1u; }
  }
  let r = j - atomicLoad(&rk_in_ctl[rk_bk(RK_F_OUTOFF, lo)]);
  let head = atomicLoad(&rk_in_ctl[rk_bk(RK_F_PLANHEAD, lo)]);
  let shift = atomicLoad(&rk_in_ctl[RK_G_BSHIFT]);
  let mask = (1u << shift) - 1u;
  let b = rk_in_scr[atomicLoad(&rk_in_ctl[rk_bk(RK_F_BLKOFF, lo)]) + (((head & mask) + r) >> shift)];
  let env = rk_in_pool[(b << shift) + ((head + r) & mask)];
  rk_j = j;
  rk_emits = 0u;
  rk_tag = vec2<u32>(env.rk_tag_lo, env.rk_tag_hi);
  rk_failed = false;
  handle({{message}}, 255u - lo);
  for (var e = rk_emits; e < RK_MAX_EMITS; e++) { rk_work[(j * RK_MAX_EMITS + e) * RK_S_OUT] = RK_NO_RECORD; }
  if (rk_failed) {
    rk_work[RK_FAIL_OFF + j] = rk_fail_code;
    atomicMax(&rk_k[RK_K_LASTFAIL], j + 1u);
  }
  if (rk_tag.x != 0u || rk_tag.y != 0u) {
    let ev = atomicAdd(&rk_k[RK_K_EVENTS], 1u);
    if (ev < RK_EVENT_CAP) {
      rk_work[RK_EVENT_OFF + 3u * ev] = rk_tag.x;
      rk_work[RK_EVENT_OFF + 3u * ev + 1u] = rk_tag.y;
      rk_work[RK_EVENT_OFF + 3u * ev + 2u] = rk_emits;
    }
  }
}
