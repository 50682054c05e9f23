/**
 * A library must leave stderr to its user. Each case runs in a child process, the only way to see
 * what native code (Dawn, the Vulkan driver) writes to file descriptor 2.
 *
 * Dawn itself writes two lines at every adapter discovery on drivers that report more than 16
 * dynamic buffers per pipeline layout (lavapipe reports 1000000): "Warning:
 * maxDynamic{Uniform,Storage}BuffersPerPipelineLayout artificially reduced ...". They come from
 * dawn::native::NormalizeLimits through dawn::WarningLog, a bare fprintf(stderr) that no toggle,
 * create() flag or request option reaches (a bare `create([]).requestAdapter()` prints them; only
 * `backend=null`, which has no usable adapter, does not). So the GPU case asserts that ringkernel
 * adds nothing to what that bare discovery prints on this machine, and the CPU case that the CPU
 * backend never loads Dawn at all.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeGpu } from './gpu-helpers.js';

const repo = fileURLToPath(new URL('..', import.meta.url));

interface Child {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs an ES module script in a fresh node, without XDG_RUNTIME_DIR (ringkernel must cope). */
function runChild(script: string, env: NodeJS.ProcessEnv = {}): Child {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (env.XDG_RUNTIME_DIR === undefined) delete childEnv.XDG_RUNTIME_DIR;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repo,
    env: childEnv,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

/** What Dawn prints by itself when it discovers adapters, with nothing of ringkernel's loaded. */
const bareDawn = `
const { create } = await import('webgpu');
const adapter = await create([]).requestAdapter();
console.log(adapter ? 'adapter' : 'none');
process.exit(0);`;

const gpuRoundTrip = `
import { GpuMessageQueue } from 'ringkernel';
const q = await GpuMessageQueue.create({ maxSize: 4 });
await q.put({ n: 41, priority: 7 });
const m = await q.get();
await q.close();
console.log(JSON.stringify(m));
process.exit(0);`;

/** True where dawn.node is mapped into the process: Dawn was loaded, whatever imported it. */
const dawnLoaded = `process.report.getReport().sharedObjects.some((path) => path.endsWith('dawn.node'))`;

const cpuRuntime = `
import { RingKernelRuntime, defineMessage, defineRingKernel } from 'ringkernel';
const Num = defineMessage({ name: 'Num', fields: { v: 'i32' } });
const double = defineRingKernel({
  name: 'double', input: Num, output: Num,
  wgsl: 'fn handle(m: Num, priority: u32) { rk_emit(Num(m.v * 2), priority); }',
  cpu: (m, ctx) => { ctx.emit({ v: m.v * 2, priority: m.priority }); },
});
const rt = await RingKernelRuntime.create({ backend: 'cpu' });
await rt.launch('double', double);
await rt.activate('double');
const out = await rt.sendAndReceive('double', { v: 21 });
await rt.shutdown();
console.log(JSON.stringify({ out, dawnLoaded: ${dawnLoaded}, gpuGlobals: typeof GPUBufferUsage !== 'undefined' }));
process.exit(0);`;

describeGpu('stderr, GPU backend', () => {
  it('a GPU round trip prints nothing beyond what Dawn prints by itself when it finds adapters', () => {
    const dawn = runChild(bareDawn, { XDG_RUNTIME_DIR: '/tmp' }); // lavapipe wants it; ringkernel sets it itself
    expect(dawn.status, dawn.stderr).toBe(0);
    expect(dawn.stdout.trim()).toBe('adapter');
    const child = runChild(gpuRoundTrip);
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toMatchObject({ n: 41, priority: 7 });
    expect(lines(child.stderr)).toEqual(lines(dawn.stderr));
  });

  it('the dawn.node probe itself sees Dawn once a GPU is started (so a false in the CPU case means something)', () => {
    const child = runChild(`
import { GpuMessageQueue } from 'ringkernel';
const q = await GpuMessageQueue.create({ maxSize: 4 });
await q.close();
console.log(JSON.stringify(${dawnLoaded}));
process.exit(0);`);
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout.trim()).toBe('true');
  });
});

describe('stderr, CPU backend', () => {
  it('a CPU runtime prints nothing and never loads Dawn', () => {
    const child = runChild(cpuRuntime);
    expect(child.status, child.stderr).toBe(0);
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({ out: { v: 42, priority: 128 }, dawnLoaded: false, gpuGlobals: false });
  });
});

describe('stderr, a CPU-only benchmark run', () => {
  it('bench --only <a CPU implementation> never asks the GPU group whether it can run: no Dawn lines, no GPU header', () => {
    const r = spawnSync(process.execPath, ['dist/cli.js', 'bench', '--quick', '--only', 'tinyqueue'], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Warning|maxDynamic/);
    expect(r.stdout).toMatch(/tinyqueue/);
    expect(r.stdout).not.toMatch(/adapter|gpu backend/i);
  });
});
