/**
 * The fused small tick of one ring kernel: rk_take, the kernel's handler and rk_small_ingest in
 * one dispatch of one workgroup, for ticks whose bound is small (a request, a few messages), so
 * such a tick costs one dispatch per kernel instead of three.
 *
 * The module is assembled from the same sources as the separate dispatches, so the device does
 * the same thing in the same order: queue-common.wgsl twice (one copy per queue: every binding
 * and helper renamed with an `i_` or `o_` prefix), ring-tick.wgsl's rk_take and rk_small_ingest
 * turned into functions over those copies, and the kernel's handler (handler-wgsl.ts) with its
 * input bindings pointed at the input queue's copy and its entry point turned into a function of
 * the message index. One workgroup of 256 invocations:
 *   take (invocation i = scan position i, as rk_take) | barrier | invocation j < n handles
 *   message j (n <= 256: the host's bound) | barrier | invocation 0 ingests, as rk_small_ingest.
 * storageBarrier + workgroupBarrier order the phases' storage writes within the workgroup, which
 * is all that the dispatch boundaries did for one workgroup.
 *
 * BINDINGS  group 0: 0-3 the input queue's ctl, blk, pool, scr; 4 kctl; 5 work; 6-9 the output
 *   queue's ctl, blk, pool, seqs; 10 replies; 11 state (when the kernel has one). group 1: the
 *   kernel's Params records 0 (take) and 2 (ingest). 11 or 12 storage buffers: where the device
 *   has fewer, or the kernel's own names collide with the queue's, the tick is not fused.
 */
import commonWgsl from '../../../shaders/queue-common.wgsl';
import tickWgsl from '../../../shaders/ring-tick.wgsl';
import { layoutWgsl } from '../../gpu/layout.js';
import type { RingKernelDefinition } from '../kernel.js';
import { handlerWgsl } from './handler-wgsl.js';

/** Storage buffers the fused pipeline binds without state (one more with it). */
export const FUSED_STORAGE_BUFFERS = 11;

/** Every name queue-common.wgsl declares: bindings, helpers, workgroup variables. */
const COMMON_NAMES = [
  'ctl', 'blk', 'pool', 'seqs', 'inp', 'outb', 'scr', 'P',
  'ld', 'st', 'ld64', 'st64', 'add64', 'count64', 'less64', 'bshift', 'bmask', 'nblocks', 'words',
  'linear_id', 'next_of', 'set_next', 'free_at', 'set_free', 'set_occupied', 'slot_seq', 'set_slot_seq',
  'emit_slot', 'walk_bucket', 'link_fresh', 'push_record', 'wg_scan', 'wscan', 'wtotal', 'wfree',
];

/** The shader sources with \n line ends, whatever the checkout did to them. */
const common = commonWgsl.replace(/\r\n/g, '\n');
const tick = tickWgsl.replace(/\r\n/g, '\n');

function rename(text: string, map: Record<string, string>): string {
  const names = Object.keys(map).sort((a, b) => b.length - a.length);
  const re = new RegExp(`\\b(${names.join('|')})\\b`, 'g');
  return text.replace(re, (name) => map[name]);
}

/** queue-common.wgsl without its binding declarations, every name prefixed. */
function commonCopy(prefix: string, extra: Record<string, string> = {}): string {
  const body = common
    .split('\n')
    .filter((line) => !/^@group\(\d\) @binding\(\d\)/.test(line))
    .join('\n');
  const map: Record<string, string> = {};
  for (const name of COMMON_NAMES) map[name] = `${prefix}${name}`;
  return rename(body, { ...map, ...extra });
}

/** The text of one function of ring-tick.wgsl, from `start` up to (not including) `end`. */
function section(start: string, end: string | null): string {
  const a = tick.indexOf(start);
  const b = end === null ? tick.length : tick.indexOf(end, a);
  if (a < 0 || b < 0) throw new Error(`ringkernel: ring-tick.wgsl lost "${start}" (internal error)`);
  return tick.slice(a, b);
}

export interface FusedSource {
  code: string;
}

export function fusedWgsl(def: RingKernelDefinition, maxPerTick: number): FusedSource {
  const prefixI: Record<string, string> = {};
  const prefixO: Record<string, string> = {};
  for (const name of COMMON_NAMES) {
    prefixI[name] = `i_${name}`;
    prefixO[name] = `o_${name}`;
  }
  const kernelNames = { rk_kctl: 'rk_k', kcount64: 'rk_kcount64' };
  // rk_take over the input queue (its room read from the output queue's control block)
  const take = rename(section('var<workgroup> wtake', '// The last failing input'), { ...prefixI, ...kernelNames, rk_octl: 'o_ctl', P: 'PI', wtake: 'rk_wtake' })
    .replace(/@compute @workgroup_size\(256\)\s*fn rk_take\(@builtin\(local_invocation_index\) i: u32\)/, 'fn rk_fused_take(i: u32)');
  // settle_failures and rk_small_ingest over the output queue (inp: the work buffer; outb: the replies)
  const ingest = rename(section('// The last failing input', '@compute @workgroup_size(1)\nfn rk_settle'), { ...prefixO, ...kernelNames, inp: 'rk_work', outb: 'o_replies', P: 'PO' })
    + rename(section('// A small tick\'s ingest', null), { ...prefixO, ...kernelNames, inp: 'rk_work', outb: 'o_replies', P: 'PO' })
      .replace(/@compute @workgroup_size\(1\)\s*fn rk_small_ingest\(\)/, 'fn rk_fused_ingest()');
  // the handler: its input bindings are the input queue's copy; its entry point a function of j
  const handler = handlerWgsl(def, maxPerTick).code
    .replace(/\r\n/g, '\n')
    .replace(/^@group\(0\) @binding\(\d\) var<storage[^\n]*\n/gm, '')
    .replace(/@compute @workgroup_size\(64\)\s*fn rk_main\(@builtin\(global_invocation_id\) rk_gid: vec3<u32>\) \{\s*let rk_jj = rk_gid\.x;/, 'fn rk_fused_handle(rk_jj: u32) {');
  const handlerBody = rename(handler, { rk_in_ctl: 'i_ctl', rk_in_scr: 'i_scr', rk_in_pool: 'i_pool' });
  if (!handlerBody.includes('fn rk_fused_handle(') || !take.includes('fn rk_fused_take(') || !ingest.includes('fn rk_fused_ingest(')) {
    throw new Error('ringkernel: the fused tick could not be assembled from its shaders (internal error)');
  }
  const state = def.state ? `@group(0) @binding(11) var<storage, read_write> rk_state: ${def.state.type};` : '';
  const code = [
    layoutWgsl(),
    '// ---- the input queue (i_) and the output queue (o_): queue-common.wgsl, twice',
    '@group(0) @binding(0) var<storage, read_write> i_ctl: array<atomic<u32>>;',
    '@group(0) @binding(1) var<storage, read_write> i_blk: array<u32>;',
    '@group(0) @binding(2) var<storage, read_write> i_pool: array<u32>;',
    '@group(0) @binding(3) var<storage, read_write> i_scr: array<u32>;',
    '@group(0) @binding(4) var<storage, read_write> rk_k: array<atomic<u32>>;',
    '@group(0) @binding(5) var<storage, read_write> rk_work: array<u32>;',
    '@group(0) @binding(6) var<storage, read_write> o_ctl: array<atomic<u32>>;',
    '@group(0) @binding(7) var<storage, read_write> o_blk: array<u32>;',
    '@group(0) @binding(8) var<storage, read_write> o_pool: array<u32>;',
    '@group(0) @binding(9) var<storage, read_write> o_seqs: array<u32>;',
    '@group(0) @binding(10) var<storage, read_write> o_replies: array<u32>;',
    state,
    '@group(1) @binding(0) var<uniform> PI: Params;',
    '@group(1) @binding(1) var<uniform> PO: Params;',
    // (declared for helpers the fused entry point never calls: not in its layout)
    '@group(2) @binding(0) var<storage, read_write> i_seqs: array<u32>;',
    '@group(2) @binding(1) var<storage, read> i_inp: array<u32>;',
    '@group(2) @binding(2) var<storage, read_write> i_outb: array<u32>;',
    '@group(2) @binding(3) var<storage, read_write> o_scr: array<u32>;',
    commonCopy('i_'),
    commonCopy('o_', { inp: 'rk_work', outb: 'o_replies' }),
    `fn rk_kcount64(i: u32, x: u32) {
  let old = atomicAdd(&rk_k[i], x);
  if (old + x < old) { atomicAdd(&rk_k[i + 1u], 1u); }
}`,
    take,
    ingest,
    '// ---- the kernel\'s handler',
    handlerBody,
    `// ---- one small tick of this kernel, in one workgroup
@compute @workgroup_size(256)
fn rk_fused(@builtin(local_invocation_index) rk_lid: u32) {
  rk_fused_take(rk_lid);
  storageBarrier();
  workgroupBarrier();
  if (rk_lid < atomicLoad(&rk_k[RK_K_N])) { rk_fused_handle(rk_lid); }
  storageBarrier();
  workgroupBarrier();
  if (rk_lid == 0u) { rk_fused_ingest(); }
}`,
  ].join('\n');
  return { code };
}
