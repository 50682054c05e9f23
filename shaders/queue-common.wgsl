// ringkernel GPU queue: shared layout (prepended to every queue kernel).
//
// DATA LAYOUT (all u32 words)
//   ctl   : array<atomic<u32>>   control block, 32 globals + 12 arrays of 256 (see offsets below)
//   blk   : array<u32>           next[NB] (block chain links) then free[NB] (free-block stack)
//   pool  : array<u32>           payload words, slot s occupies pool[s*W .. s*W+W)
//   seqs  : array<u32>           insertion sequence number of slot s
//   inp   : array<u32>           host upload of a submission: its Params records (256-byte slots,
//                                also bound as P), then per segment 256 bucket counts and the
//                                pushes [(index << 8) | priority, W payload words] sorted by bucket
//                                (queue-seg.wgsl); for a device kernel: the inbox [priority, W words]
//   outb  : array<u32>           host readback: per message [seq, priority, W payload words]
//   scr   : array<u32>           scratch: block tables at 0, drop seq lists, allocated-block lists,
//                                segment plan arrays + chunk table; ranks and chunk histograms of
//                                the inbox ingest at 0
//   P     : uniform Params       one record per dispatch (group 1, static offset)
//
// DESIGN
//   256 buckets (one per priority), each a FIFO ring of u32 *tickets*: messages sit at tickets
//   [head, tail). Ticket t lives in slot (block * B + (t & (B-1))) where the block is found by
//   following the bucket's chain of blocks from headBlock: blocks cover aligned ticket ranges
//   [jB, (j+1)B), and B divides 2^32, so tickets and sequence numbers may wrap around freely
//   (all comparisons are done on differences). Blocks come from one shared pool of
//   NB = ceil(maxSize/B) + 512 blocks, so memory is O(maxSize * W) + O(256 * B), never 256*maxSize.
//   A bucket holding n messages uses at most n/B + 2 blocks; the bucket's tail block always exists.
//
// INVARIANTS
//   COUNT == sum over buckets of (tail - head) <= CAP
//   bitmap bit k set  <=>  bucket k non-empty (after every phase)
//   FREETOP + (blocks in all chains) == NB
//   within a bucket, seq increases with ticket (FIFO), so the oldest of a bucket is its head
//   Checked on the device (a violation sets a bit of ctl[G_ERR]) are only: COUNT > CAP after a
//   push (ERR_CAPACITY), a push needing more free blocks than FREETOP (ERR_POOL), and a take or
//   drop of more messages than COUNT / than the buckets yield (ERR_UNDERFLOW). The others (the
//   COUNT/bucket sum equality, the bitmap, block accounting, FIFO by seq) are maintained by
//   construction and are not checked at run time; the CPU-vs-GPU model tests
//   (test/gpu-model.test.ts, test/gpu-queue.test.ts) check their observable consequences.
//   No invocation ever waits on another; every phase is a separate dispatch, and the
//   dispatch boundary is the only device-wide fence we rely on.

const G_COUNT: u32 = 0u;
const G_NEXTSEQ: u32 = 1u;
const G_ENQ: u32 = 2u;
const G_DEQ: u32 = 3u;
const G_DROPPED: u32 = 4u;
const G_FREETOP: u32 = 5u;
const G_ERR: u32 = 6u;
const G_CAP: u32 = 7u;
const G_BSHIFT: u32 = 8u;
const G_NB: u32 = 9u;
const G_W: u32 = 10u;
const G_PLANSEQ: u32 = 11u;
const G_TOTAL: u32 = 12u;
const G_INBOX: u32 = 13u;   // device-side push reservations (inbox tickets)
const G_AVAIL: u32 = 14u;   // device-side pop reservations (messages left to claim)
const G_CLEARED: u32 = 15u;
const G_BITMAP: u32 = 16u;  // 8 words, bit k of word k/32 = bucket k non-empty
const G_INBOX_CAP: u32 = 24u;
const G_DEVPOPS: u32 = 25u; // messages popped by device-side try_pop, applied by the fixup pass
const G_DEVPUSHES: u32 = 26u;

const F_HEAD: u32 = 0u;
const F_TAIL: u32 = 1u;
const F_HEADBLK: u32 = 2u;
const F_TAILBLK: u32 = 3u;
const F_CLAIM: u32 = 4u;
const F_TAKE: u32 = 5u;      // plan arrays are indexed by scan position i (bucket 255 - i)
const F_OUTOFF: u32 = 6u;
const F_BLKOFF: u32 = 7u;
const F_PLANHEAD: u32 = 8u;
const F_PLANTAIL: u32 = 9u;  // push plan arrays are indexed by bucket
const F_PLANTAILBLK: u32 = 10u;
const F_NEWBLKOFF: u32 = 11u;

const ERR_CAPACITY: u32 = 1u;
const ERR_POOL: u32 = 2u;
const ERR_UNDERFLOW: u32 = 4u;

const NONE: u32 = 0xffffffffu;

fn bk(f: u32, k: u32) -> u32 { return 32u + f * 256u + k; }
fn ld(i: u32) -> u32 { return atomicLoad(&ctl[i]); }
fn st(i: u32, v: u32) { atomicStore(&ctl[i], v); }

fn bshift() -> u32 { return ld(G_BSHIFT); }
fn bmask() -> u32 { return (1u << ld(G_BSHIFT)) - 1u; }
fn nblocks() -> u32 { return ld(G_NB); }
fn words() -> u32 { return ld(G_W); }

fn set_occupied(k: u32, on: bool) {
  let bit = 1u << (k & 31u);
  if (on) { atomicOr(&ctl[G_BITMAP + (k >> 5u)], bit); }
  else { atomicAnd(&ctl[G_BITMAP + (k >> 5u)], ~bit); }
}

const G_IND: u32 = 27u;     // 3 words: indirect dispatch size of the inbox ingest
