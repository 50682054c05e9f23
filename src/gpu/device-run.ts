/**
 * A user kernel run on a queue, as steps of a submission (shaders/queue-device.wgsl): before the
 * user's dispatches, `dev_prepare` snapshots the queue for the device-side API; after them,
 * `dev_commit` applies the pops, the inbox is pushed by the ingest phases (its length read from
 * the device, dispatched indirectly) and the head is fetched for the host.
 */
import type { StepEncoder } from '../device/submission.js';
import { FLAG, G, GLOBAL_WORDS, PARAM_STRIDE, PF } from './layout.js';
import type { QueueStorage } from './storage.js';

export interface RunReadback {
  globalsAt: number;
  headAt: number;
  headCount: number;
}

/** Records of a device run: 0 prepare/commit, 1 ingest, 2 head plan, 3 head gather. */
const RUN_RECORDS = 4;

/** Inbox records a run can take: the requested capacity within the queue's and the binding's limits. */
export function inboxRecords(s: QueueStorage, requested: number): number {
  return Math.max(1, Math.min(requested, s.ingestCapacity, Math.floor(s.bufferLimit / 4 / (s.words + 1))));
}

/** Bytes of `inp` a run with an inbox of `inbox` records needs. */
export const runInputBytes = (s: QueueStorage, inbox: number): number => inbox * (s.words + 1) * 4;
/** Bytes of `outb` a run that fetches `headCount` head messages needs. */
export const runOutputBytes = (s: QueueStorage, headCount: number): number => Math.max(headCount * (s.words + 2) * 4, 16);

/** Encodes dev_prepare: the queue is snapshotted for the device-side API, with room for `inbox` pushes. */
export function encodeRunPrepare(e: StepEncoder, s: QueueStorage, inbox: number, headCount: number): void {
  s.ensure('inp', runInputBytes(s, inbox), e);
  s.ensure('outb', runOutputBytes(s, headCount), e);
  const params = new Uint32Array((RUN_RECORDS * PARAM_STRIDE) / 4);
  const at = (r: number, field: number, v: number): void => {
    params[(r * PARAM_STRIDE) / 4 + field] = v;
  };
  at(0, PF.n, inbox);
  at(1, PF.flags, FLAG.DEVICE_N);
  at(1, PF.histOff, inbox);
  at(2, PF.n, headCount);
  at(2, PF.mode, 1);
  at(2, PF.flags, FLAG.DEVICE_K);
  at(3, PF.limit, headCount);
  s.writeRunParams(params);
  const pass = e.pass();
  pass.setBindGroup(0, s.group());
  pass.setBindGroup(1, s.runParamGroup(0));
  pass.setPipeline(s.p.pipeline.dev_prepare);
  pass.dispatchWorkgroups(1);
  e.dispatches++;
}

/** Encodes dev_commit, the inbox ingest and the head fetch; asks for the globals and the head. */
export function encodeRunCommit(e: StepEncoder, s: QueueStorage, headCount: number): RunReadback {
  let pass = e.pass();
  pass.setBindGroup(0, s.group());
  pass.setBindGroup(1, s.runParamGroup(0));
  pass.setPipeline(s.p.pipeline.dev_commit);
  pass.dispatchWorkgroups(1);
  e.commands().copyBufferToBuffer(s.ctl, G.IND * 4, s.indirect, 0, 12);
  pass = e.pass();
  pass.setBindGroup(0, s.group());
  pass.setBindGroup(1, s.runParamGroup(1));
  pass.setPipeline(s.p.pipeline.push_rank);
  pass.dispatchWorkgroupsIndirect(s.indirect, 0);
  pass.setPipeline(s.p.pipeline.push_scan);
  pass.dispatchWorkgroups(1);
  pass.setPipeline(s.p.pipeline.push_scatter);
  pass.dispatchWorkgroupsIndirect(s.indirect, 0);
  e.dispatches += 4;
  if (headCount > 0) {
    pass.setBindGroup(1, s.runParamGroup(2));
    pass.setPipeline(s.p.pipeline.take_plan);
    pass.dispatchWorkgroups(1);
    pass.setBindGroup(1, s.runParamGroup(3));
    pass.setPipeline(s.p.pipeline.take_gather);
    pass.dispatchWorkgroups(Math.ceil(headCount / 256));
    e.dispatches += 2;
  }
  const headAt = e.readback(s.outb, 0, headCount * (s.words + 2) * 4);
  const globalsAt = e.readback(s.ctl, 0, GLOBAL_WORDS * 4);
  return { globalsAt, headAt, headCount };
}
