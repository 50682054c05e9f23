/**
 * The tick floor: the least a tick of S stages over B messages can cost on this device, whatever
 * its design. One upload of B records, S dispatches of B invocations in one submission (stage k
 * reads the records stage k - 1 wrote and writes B records of its own: the dispatch boundary is
 * the only device-wide fence), one copy and one readback of B records. Its stages compute what
 * the pipeline's kernels do (x2, +1, x2), so the floor does the same work as the pipeline it is
 * the floor of, minus the queues (test/bench-tick-floor.test.ts checks its readback).
 */
import type { Case, CaseSpec } from './harness.js';
import { device } from './gpu-workloads.js';

/** Record: [priority, v, id], as the pipeline's messages carry. */
const RECORD_WORDS = 3;
const WORKGROUP = 256;

/** What stage k computes (k = 0, 1, 2, ...: x2, +1, x2, +1, ...). */
const stageWgsl = (k: number): string => (k % 2 === 0 ? 'v * 2u' : 'v + 1u');
export const stageJs = (k: number, v: number): number => (k % 2 === 0 ? (v * 2) >>> 0 : (v + 1) >>> 0);

export async function tickFloorCase(batch: number, stages: number): Promise<Case & { check(): boolean }> {
  const { device: d } = await device();
  const bytes = batch * RECORD_WORDS * 4;
  const pipelines = Array.from({ length: stages }, (_, k) => {
    const module = d.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read> i: array<u32>;
@group(0) @binding(1) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let j = g.x;
  if (j >= ${batch}u) { return; }
  let v = i[${RECORD_WORDS}u * j + 1u];
  o[${RECORD_WORDS}u * j] = i[${RECORD_WORDS}u * j];
  o[${RECORD_WORDS}u * j + 1u] = ${stageWgsl(k)};
  o[${RECORD_WORDS}u * j + 2u] = i[${RECORD_WORDS}u * j + 2u];
}`,
    });
    return d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  });
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const buffers = [d.createBuffer({ size: bytes, usage }), d.createBuffer({ size: bytes, usage })];
  const rb = d.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  // stage k reads buffers[k % 2] and writes buffers[(k + 1) % 2]
  const groups = pipelines.map((p, k) =>
    d.createBindGroup({
      layout: p.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: buffers[k % 2] } },
        { binding: 1, resource: { buffer: buffers[(k + 1) % 2] } },
      ],
    }),
  );
  const data = new Uint32Array(batch * RECORD_WORDS);
  for (let j = 0; j < batch; j++) {
    data[j * RECORD_WORDS] = (j * 37) & 255;
    data[j * RECORD_WORDS + 1] = j;
    data[j * RECORD_WORDS + 2] = j;
  }
  const host = new Uint32Array(batch * RECORD_WORDS);
  return {
    async: true,
    opsPerCall: batch,
    async call() {
      d.queue.writeBuffer(buffers[0], 0, data);
      const enc = d.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let k = 0; k < stages; k++) {
        pass.setPipeline(pipelines[k]);
        pass.setBindGroup(0, groups[k]);
        pass.dispatchWorkgroups(Math.ceil(batch / WORKGROUP));
      }
      pass.end();
      enc.copyBufferToBuffer(buffers[stages % 2], 0, rb, 0, bytes);
      d.queue.submit([enc.finish()]);
      await rb.mapAsync(GPUMapMode.READ);
      host.set(new Uint32Array(rb.getMappedRange()));
      rb.unmap();
    },
    /** Whether the last readback holds what the stages make of the upload. */
    check(): boolean {
      for (let j = 0; j < batch; j++) {
        let v = j;
        for (let k = 0; k < stages; k++) v = stageJs(k, v);
        if (host[j * RECORD_WORDS + 1] !== v || host[j * RECORD_WORDS + 2] !== j || host[j * RECORD_WORDS] !== ((j * 37) & 255)) return false;
      }
      return true;
    },
    dispose() {
      for (const b of buffers) b.destroy();
      rb.destroy();
    },
  };
}

/** The tick floor of S stages over `batch` messages, as a case of a pipeline workload. */
export const tickFloorSpec = (batch: number, stages: number): CaseSpec => ({
  impl: 'tick floor',
  variant: `one upload, ${stages} dispatches of ${batch} invocations (read B records, write B records), one copy and readback`,
  kind: 'tick-floor',
  build: () => tickFloorCase(batch, stages),
});
