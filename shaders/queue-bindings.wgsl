// ringkernel GPU queue: bindings and per-dispatch parameters of the host-driven kernels.
// Layout of each buffer: see queue-common.wgsl. Group 0 (the buffers) is shared by every
// dispatch; the Params record of a dispatch is group 1, one cached bind group per record slot
// at a static offset (dynamic uniform offsets cost ~100 us per dispatch on lavapipe).

struct Params {
  n: u32,        // push: messages in this segment; take: messages to take (K / d)
  mode: u32,     // take_plan: 0 pop, 1 peek, 2 drop-prepare; take_gather: 0 full record, 1 seq only
  inOff: u32,    // word offset of this segment's records in inp
  outOff: u32,   // word offset of this phase's output in outb
  rankOff: u32,  // scratch word offsets
  histOff: u32,
  tableOff: u32,
  seqOff: u32,
  nChunks: u32,
  seqSkip: u32,  // push: sequence numbers consumed by messages dropped before reaching the device
  flags: u32,    // take_plan pop: 1 = counts as a clear (not dequeued)
  limit: u32,    // gather: number of invocations dispatched (upper bound of the total)
  popK: u32,     // seg_main: pops of the segment
  kOut: u32,     // seg_main/seg_move: pop outputs to write (popK or 0)
  cntOff: u32,   // seg_main: word offset of the segment's 256 bucket counts in inp
  allocOff: u32, // seg_*: scratch word offset of the list of newly allocated blocks
  peekN: u32,    // seg_main flags & 16: messages to fetch for the host
  peekOff: u32,  // word offset of the fetched records in outb
  kOld: u32,     // seg_*: upper bound of the pops of messages present before the segment (0 without output)
  planOff: u32,  // seg_*: scratch word offset of the plan arrays (PL_* in queue-seg.wgsl)
  kLo: u32,      // seg_tiny: lowest and highest priority among the segment's pushes
  kHi: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> ctl: array<atomic<u32>>;
@group(0) @binding(1) var<storage, read_write> blk: array<u32>;
@group(0) @binding(2) var<storage, read_write> pool: array<u32>;
@group(0) @binding(3) var<storage, read_write> seqs: array<u32>;
@group(0) @binding(4) var<storage, read> inp: array<u32>;
@group(0) @binding(5) var<storage, read_write> outb: array<u32>;
@group(0) @binding(6) var<storage, read_write> scr: array<u32>;
@group(1) @binding(0) var<uniform> P: Params;

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}
fn next_of(b: u32) -> u32 { return blk[b]; }
fn set_next(b: u32, v: u32) { blk[b] = v; }
fn free_at(i: u32) -> u32 { return blk[nblocks() + i]; }
fn set_free(i: u32, b: u32) { blk[nblocks() + i] = b; }

// Exclusive scan of 256 vec2 values across the workgroup: one invocation adds them up serially
// (256 steps; far cheaper to compile on software adapters than a barrier-per-step tree scan).
var<workgroup> wscan: array<vec2<u32>, 256>;
var<workgroup> wtotal: vec2<u32>;
fn wg_scan2(lid: u32, v: vec2<u32>) -> vec2<u32> {
  wscan[lid] = v;
  workgroupBarrier();
  if (lid == 0u) {
    var acc = vec2<u32>(0u);
    for (var j = 0u; j < 256u; j++) {
      let x = wscan[j];
      wscan[j] = acc;
      acc = acc + x;
    }
    wtotal = acc;
  }
  workgroupBarrier();
  return wscan[lid];
}
