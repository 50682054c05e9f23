/**
 * GPU workload group for `ringkernel bench`: GpuMessageQueue against the CPU MessageQueue and
 * against the raw floor of the device, measured in the same run on the same device.
 *
 *  - floor: one writeBuffer + a trivial dispatch + copy + mapAsync round trip. Every GPU figure
 *    is also given as a ratio to it (ratio column, baseline kind 'floor').
 *  - latency: one put then get, awaited until applied on the device (put; get; flush).
 *  - throughput: putMany(B) + getMany(B) per call, over a backlog of B messages, for B = 1, 64,
 *    1Ki, 16Ki, 64Ki; each message is put once and got once and counted once ("msgs").
 *  - bounds (batch >= 1Ki): 'adapter floor', one round trip that uploads B records of the
 *    queue's size, runs one B-invocation kernel reading them and writing B output records, and
 *    reads those back (what any single-pass GPU design must at least pay); 'host floor', the JS
 *    work getMany must do at least in schema mode: turn B readback records into B new objects.
 *  - packed (batch >= 1Ki): the same backlog with putManyPacked/getManyPacked (typed arrays in and
 *    out, no object per message), kind 'ringkernel-gpu-packed'.
 * `gpuThroughputSvg(rows)` draws throughput vs batch size, GPU vs CPU (the CLI's `--svg FILE`).
 * Targets (reported, never asserted): latency p50 <= 1.5x floor; 64Ki batches >= 10 M msgs/s.
 */
import { GpuMessageQueue, MessageQueue, acquireDevice, defineMessage, type AdapterReport } from 'ringkernel';
import type { Case, CaseSpec, Row, TargetResult, Workload, WorkloadGroup } from './harness.js';

const BATCHES = [1, 64, 1024, 16384, 65536] as const;
const schema = defineMessage({ name: 'BenchMsg', fields: { value: 'u32' } });
type BenchMsg = typeof schema.type;

/** The adapter the group ran on, once `unavailable()` found it. */
let adapter: AdapterReport | undefined;

/** Names the adapter, and says plainly when it is software: then GPU figures measure a CPU emulation. */
export function adapterLine(info: AdapterReport): string {
  const soft = info.isSoftware ? ' (SOFTWARE adapter: "GPU" figures measure a CPU emulation)' : '';
  const names = [info.vendor, info.architecture, info.description].filter((n) => n !== '');
  return `gpu: ${names.join(' / ') || 'unnamed adapter'}${soft}`;
}

let devicePromise: Promise<{ device: GPUDevice; info: AdapterReport }> | undefined;
/** The device every GPU workload of a run uses (the runtime group's too). */
export function device(): Promise<{ device: GPUDevice; info: AdapterReport }> {
  devicePromise ??= acquireDevice();
  return devicePromise!;
}

/** The raw round trip: writeBuffer + one-workgroup dispatch + copy + mapAsync. */
async function floorCase(opsPerCall: number): Promise<Case> {
  const { device: d } = await device();
  const module = d.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read_write> b: array<u32>;
@compute @workgroup_size(1) fn main() { b[0] = b[0] + 1u; }`,
  });
  const pipeline = d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const buf = d.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  const rb = d.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const group = d.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
  const data = new Uint32Array(4);
  return {
    async: true,
    opsPerCall,
    async call() {
      d.queue.writeBuffer(buf, 0, data);
      const enc = d.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(1);
      pass.end();
      enc.copyBufferToBuffer(buf, 0, rb, 0, 16);
      d.queue.submit([enc.finish()]);
      await rb.mapAsync(GPUMapMode.READ);
      rb.unmap();
    },
    dispose() {
      buf.destroy();
      rb.destroy();
    },
  };
}

/** The raw WebGPU round trip, `opsPerCall` operations per round trip (the ratio's baseline). */
export const floorSpec = (opsPerCall: number): CaseSpec => ({
  impl: 'webgpu floor',
  variant: 'writeBuffer + trivial dispatch + copy + mapAsync',
  kind: 'floor',
  build: () => floorCase(opsPerCall),
});

/**
 * The adapter's own floor for B-message work: writeBuffer of B [priority, value] records, one
 * B-invocation kernel that reads them and writes B [seq, priority, value] records, copy, mapAsync.
 */
async function adapterFloorCase(batch: number): Promise<Case> {
  const { device: d } = await device();
  const module = d.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read> i: array<u32>;
@group(0) @binding(1) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let j = g.x;
  if (j >= ${batch}u) { return; }
  o[3u * j] = j;
  o[3u * j + 1u] = i[2u * j];
  o[3u * j + 2u] = i[2u * j + 1u];
}`,
  });
  const pipeline = d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const inp = d.createBuffer({ size: batch * 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const out = d.createBuffer({ size: batch * 12, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const rb = d.createBuffer({ size: batch * 12, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const group = d.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: inp } },
      { binding: 1, resource: { buffer: out } },
    ],
  });
  const data = new Uint32Array(batch * 2);
  const host = new Uint32Array(batch * 3);
  return {
    async: true,
    opsPerCall: batch,
    async call() {
      d.queue.writeBuffer(inp, 0, data);
      const enc = d.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(Math.ceil(batch / 256));
      pass.end();
      enc.copyBufferToBuffer(out, 0, rb, 0, batch * 12);
      d.queue.submit([enc.finish()]);
      await rb.mapAsync(GPUMapMode.READ);
      host.set(new Uint32Array(rb.getMappedRange()));
      rb.unmap();
    },
    dispose() {
      inp.destroy();
      out.destroy();
      rb.destroy();
    },
  };
}

/** The host's own floor for getMany(B) in schema mode: B readback records become B new result objects. */
function hostFloorCase(batch: number): Case {
  const rec = new Uint32Array(batch * 3);
  for (let j = 0; j < batch; j++) {
    rec[3 * j + 1] = (j * 37) & 255;
    rec[3 * j + 2] = j;
  }
  let sink: BenchMsg[] = [];
  return {
    async: true,
    opsPerCall: batch,
    async call() {
      const out: BenchMsg[] = new Array(batch);
      for (let j = 0, q = 0; j < batch; j++, q += 3) out[j] = { value: rec[q + 2], priority: rec[q + 1] };
      sink = out;
      if (sink.length !== batch) throw new Error('unreachable');
    },
  };
}

const boundSpecs = (batch: number): CaseSpec[] => [
  {
    impl: 'adapter floor',
    variant: `upload ${batch} records + one ${batch}-invocation copy kernel + readback`,
    kind: 'adapter-floor',
    build: () => adapterFloorCase(batch),
  },
  {
    impl: 'host floor',
    variant: `${batch} result objects from readback records (schema getMany's minimum JS work)`,
    kind: 'host-floor',
    build: () => hostFloorCase(batch),
  },
];

function messages(n: number): BenchMsg[] {
  return Array.from({ length: n }, (_, i) => ({ value: i, priority: (i * 37) & 255 }));
}

/** One batch through a queue, by one of the two batch APIs; `get` resolves with how many came back. */
interface BatchCycle {
  put(): Promise<void>;
  get(): Promise<number>;
}

function objectCycle(q: GpuMessageQueue<BenchMsg>, batch: number): BatchCycle {
  const ms = messages(batch);
  return { put: () => q.putMany(ms), get: async () => (await q.getMany(batch)).length };
}

/** The same messages as the schema's words and a priority array: no object per message. */
function packedCycle(q: GpuMessageQueue<BenchMsg>, batch: number): BatchCycle {
  const words = new Uint32Array(batch * schema.words);
  const priorities = new Uint8Array(batch);
  const f32 = new Float32Array(words.buffer);
  const i32 = new Int32Array(words.buffer);
  messages(batch).forEach((m, j) => {
    schema.pack(m, words, f32, i32, j * schema.words);
    priorities[j] = m.priority ?? 128;
  });
  return { put: () => q.putManyPacked(words, priorities), get: async () => (await q.getManyPacked(batch)).count };
}

/**
 * Batch cases keep a backlog of `batch` messages, so each call really goes through the queue's
 * storage (with an empty queue, messages pushed and popped in one submission could pass
 * straight from upload to output).
 */
function gpuBatchSpec(batch: number, packed: boolean): CaseSpec {
  const api = packed ? 'putManyPacked + getManyPacked' : 'putMany + getMany';
  return {
    impl: 'ringkernel',
    label: packed ? 'GpuMessageQueue (packed)' : 'GpuMessageQueue',
    variant: `${api} + flush over a backlog of one batch (schema u32, one submission per call)`,
    kind: packed ? 'ringkernel-gpu-packed' : 'ringkernel-gpu',
    async build() {
      const { device: d } = await device();
      const q = await GpuMessageQueue.create<BenchMsg>({ maxSize: 2 * batch, schema, device: d });
      const cycle = packed ? packedCycle(q, batch) : objectCycle(q, batch);
      await cycle.put();
      await q.flush();
      return {
        async: true,
        opsPerCall: batch,
        async call() {
          void cycle.put();
          if ((await cycle.get()) !== batch) throw new Error('lost messages');
          await q.flush(); // counted only once applied on the device (small batches are served from the host's head cache)
        },
        dispose: () => q.close(),
      };
    },
  };
}

function cpuBatchSpec(batch: number): CaseSpec {
  return {
    impl: 'ringkernel',
    label: 'MessageQueue (CPU)',
    variant: 'putMany + getMany over a backlog of one batch',
    kind: 'ringkernel',
    build() {
      const q = new MessageQueue<BenchMsg>({ maxSize: 2 * batch });
      const ms = messages(batch);
      q.putMany(ms);
      return {
        async: true,
        opsPerCall: batch,
        async call() {
          void q.putMany(ms);
          const got = await q.getMany(batch);
          if (got.length !== batch) throw new Error('lost messages');
        },
      };
    },
  };
}

function latencySpec(): CaseSpec {
  return {
    impl: 'ringkernel',
    label: 'GpuMessageQueue',
    variant: 'put; get; flush (applied on the device)',
    kind: 'ringkernel-gpu',
    async build() {
      const { device: d } = await device();
      const q = await GpuMessageQueue.create<BenchMsg>({ maxSize: 1024, schema, device: d });
      const m = { value: 1, priority: 7 };
      return {
        async: true,
        opsPerCall: 1,
        async call() {
          await q.put(m);
          await q.get();
          await q.flush();
        },
        dispose: () => q.close(),
      };
    },
  };
}

export const gpuGroup: WorkloadGroup = {
  name: 'gpu',
  title: 'GPU: GpuMessageQueue vs MessageQueue vs the raw WebGPU round trip (same device, same run)',
  async unavailable() {
    try {
      adapter = (await device()).info;
      return undefined;
    } catch (error) {
      return `no WebGPU adapter: ${(error as Error).message}`;
    }
  },
  header() {
    return adapter ? [adapterLine(adapter)] : [];
  },
  workloads(): Workload[] {
    const out: Workload[] = [
      {
        id: 'gpu-latency',
        title: 'GPU single message: put then get, applied on the device',
        unit: 'pairs',
        description: 'One put and one get, awaited until the device has applied them (flush). Ratio: floor round trips/s.',
        params: { batch: 1 },
        baseline: { label: 'floor', kind: 'floor' },
        cases: [latencySpec(), floorSpec(1)],
      },
    ];
    for (const batch of BATCHES) {
      out.push({
        id: `gpu-batch-${batch}`,
        title: `GPU putMany + getMany, batch ${batch}`,
        unit: 'msgs',
        description: `A backlog of ${batch} messages; each call does putMany(${batch}) then getMany(${batch}); each message is put and got once and counted once. Ratio: floor (one round trip per ${batch} msgs).`,
        params: { batch },
        baseline: { label: 'floor', kind: 'floor' },
        cases: [
          gpuBatchSpec(batch, false),
          ...(batch >= 1024 ? [gpuBatchSpec(batch, true)] : []),
          cpuBatchSpec(batch),
          floorSpec(batch),
          ...(batch >= 1024 ? boundSpecs(batch) : []),
        ],
      });
    }
    return out;
  },
  targets(rows: readonly Row[]): TargetResult[] {
    const lat = rows.find((r) => r.workload === 'gpu-latency' && r.kind === 'ringkernel-gpu');
    const floor = rows.find((r) => r.workload === 'gpu-latency' && r.kind === 'floor');
    const latency = 'GPU single-message latency p50 <= 1.5x floor p50';
    const results: TargetResult[] = [
      lat?.p50Ns && floor?.p50Ns
        ? {
            target: latency,
            measured: `${(lat.p50Ns / 1000).toFixed(0)} us vs floor ${(floor.p50Ns / 1000).toFixed(0)} us = ${(lat.p50Ns / floor.p50Ns).toFixed(2)}x`,
            met: lat.p50Ns <= 1.5 * floor.p50Ns,
          }
        : { target: latency, measured: 'not measured', met: null },
    ];
    // The target is about batches of 64 Ki; both batch APIs are held to it.
    for (const [kind, api] of [
      ['ringkernel-gpu', 'putMany+getMany'],
      ['ringkernel-gpu-packed', 'putManyPacked+getManyPacked'],
    ] as const) {
      const big = rows.find((r) => r.workload === 'gpu-batch-65536' && r.kind === kind);
      const target = `GPU ${api} at 64Ki >= 10 M msgs/s`;
      results.push(
        big?.opsPerSec
          ? { target, measured: `${(big.opsPerSec / 1e6).toFixed(2)} M msgs/s`, met: big.opsPerSec >= 10e6 }
          : { target, measured: 'not measured', met: null },
      );
    }
    return results;
  },
};

/** 1e6 -> "1M": axis labels a person reads at a glance. */
function si(v: number): string {
  const units: Array<[number, string]> = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, unit] of units) if (v >= scale) return `${+(v / scale).toPrecision(3)}${unit}`;
  return String(+v.toPrecision(3));
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * SVG chart: throughput (msgs/s, log) against batch size (log), one line per implementation,
 * the floors dashed. `subtitle` lines name the machine and adapter.
 */
export function gpuThroughputSvg(rows: readonly Row[], subtitle: readonly string[] = []): string {
  const series = [
    { kind: 'ringkernel-gpu', name: 'GpuMessageQueue', color: '#d62728', dash: '' },
    { kind: 'ringkernel-gpu-packed', name: 'GpuMessageQueue, packed batches', color: '#ff7f0e', dash: '' },
    { kind: 'ringkernel', name: 'MessageQueue (CPU)', color: '#1f77b4', dash: '' },
    { kind: 'adapter-floor', name: 'adapter floor (upload, copy, read back)', color: '#2ca02c', dash: '6 4' },
    { kind: 'host-floor', name: 'host floor (build the result objects)', color: '#9467bd', dash: '6 4' },
    { kind: 'floor', name: 'one WebGPU round trip per batch', color: '#7f7f7f', dash: '2 4' },
  ];
  const pts = (kind: string) =>
    BATCHES.map((b) => [b, rows.find((r) => r.workload === `gpu-batch-${b}` && r.kind === kind)?.opsPerSec ?? null] as const).filter(
      (p): p is readonly [(typeof BATCHES)[number], number] => p[1] !== null && p[1] > 0,
    );
  const all = series.flatMap((s) => pts(s.kind).map((p) => p[1]));
  const W = 960, H = 500, L = 70, R = 340, T = 48 + 16 * subtitle.length, B = 56;
  const ymin = Math.pow(10, Math.floor(Math.log10(Math.min(...all, 1e3))));
  const ymax = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 1e4))));
  const x = (b: number) => L + (Math.log2(b) / Math.log2(BATCHES[BATCHES.length - 1])) * (W - L - R);
  const y = (v: number) => T + (1 - (Math.log10(v) - Math.log10(ymin)) / (Math.log10(ymax) - Math.log10(ymin))) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${L}" y="24" font-size="16" font-weight="bold">Messages per second through putMany + getMany, by batch size</text>`);
  subtitle.forEach((line, i) => parts.push(`<text x="${L}" y="${44 + 16 * i}" fill="#555">${escapeXml(line)}</text>`));
  for (let e = Math.log10(ymin); e <= Math.log10(ymax); e++) {
    const yy = y(10 ** e);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${L - 8}" y="${yy + 4}" text-anchor="end">${si(10 ** e)}</text>`);
  }
  for (const b of BATCHES) {
    parts.push(`<line x1="${x(b)}" x2="${x(b)}" y1="${T}" y2="${H - B}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${x(b)}" y="${H - B + 18}" text-anchor="middle">${b >= 1024 ? `${b / 1024} Ki` : b}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 14}" text-anchor="middle">batch size (messages per putMany and per getMany)</text>`);
  parts.push(`<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">messages/s (log scale)</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#333"/>`);
  let legendRow = 0;
  for (const s of series) {
    const p = pts(s.kind);
    if (p.length === 0) continue;
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5"${dash} points="${p.map(([b, v]) => `${x(b).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`);
    for (const [b, v] of p) parts.push(`<circle cx="${x(b).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
    const ly = T + 8 + legendRow++ * 22;
    parts.push(`<line x1="${W - R + 16}" x2="${W - R + 44}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5"${dash}/>`);
    parts.push(`<text x="${W - R + 50}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  }
  // Say in words where the GPU queue overtakes the CPU queue, or that it does not.
  const gpu = new Map(pts('ringkernel-gpu'));
  const cpu = new Map(pts('ringkernel'));
  const overtakes = BATCHES.find((b) => (gpu.get(b) ?? 0) > (cpu.get(b) ?? Infinity));
  const verdict =
    overtakes === undefined
      ? ['GpuMessageQueue does not overtake', 'MessageQueue at any batch size here']
      : [`GpuMessageQueue overtakes MessageQueue`, `from batch ${overtakes} on`];
  verdict.forEach((line, i) =>
    parts.push(`<text x="${W - R + 16}" y="${T + 8 + legendRow * 22 + 18 + 16 * i}" fill="#333" font-style="italic">${escapeXml(line)}</text>`),
  );
  parts.push('</svg>');
  return parts.join('\n');
}
