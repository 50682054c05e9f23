/**
 * Cold start: a new process with the driver's shader cache disabled (MESA_SHADER_CACHE_DISABLE,
 * for Mesa's drivers; other drivers keep their caches) creates a runtime, launches one kernel
 * (+1) and times its first sendAndReceive against the next ones. `launch` warms the kernel's
 * pipelines and the host paths (src/runtime/gpu/warm.ts, src/runtime/warm-host.ts), so the first
 * request should cost what later ones do; the launch pays for the compiling instead.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Measurement, MeasuredValue } from './harness.js';

export interface ColdStart {
  createMs: number;
  launchMs: number;
  firstMs: number;
  /** p50 of the 20 round trips after the first */
  warmP50Ms: number;
}

const CHILD = `
import { RingKernelRuntime, defineMessage, defineRingKernel } from 'ringkernel';
const Num = defineMessage({ name: 'Num', fields: { v: 'u32' } });
const inc = defineRingKernel({ name: 'coldInc', input: Num, output: Num,
  wgsl: 'fn handle(m: Num, priority: u32) { rk_emit(Num(m.v + 1u), priority); }' });
const t0 = performance.now();
const rt = await RingKernelRuntime.create({ backend: 'gpu' });
const t1 = performance.now();
await rt.launch('k', inc, { inputQueueSize: 64, outputQueueSize: 64 });
await rt.activate('k');
const t2 = performance.now();
const times = [];
for (let i = 0; i < 21; i++) {
  const a = performance.now();
  const r = await rt.sendAndReceive('k', { v: i });
  times.push(performance.now() - a);
  if (r.v !== i + 1) throw new Error('wrong reply');
}
await rt.shutdown();
const rest = times.slice(1).sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ createMs: t1 - t0, launchMs: t2 - t1, firstMs: times[0], warmP50Ms: rest[Math.floor(rest.length / 2)] }) + '\\n');
process.exit(0);
`;

/** Runs the cold start in a child process (the package root as its working directory, so 'ringkernel' resolves to this package). */
export function coldStart(timeoutMs = 180_000): Promise<ColdStart> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      cwd: root,
      env: { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        const why = err.split('\n').filter((l) => l !== '' && !l.startsWith('Warning:')).slice(-3).join(' / ');
        reject(new Error(`cold start: the child exited with ${code}${why ? `: ${why}` : ''}`));
        return;
      }
      resolve(JSON.parse(line) as ColdStart);
    });
  });
}

export const coldStartMeasurement: Measurement = {
  id: 'rt-cold-start-gpu',
  title: 'Ring kernel cold start, gpu backend: first sendAndReceive after launch, shader cache disabled',
  description:
    'A new process with MESA_SHADER_CACHE_DISABLE=true creates a runtime, launches one kernel (+1) and times its first sendAndReceive ' +
    'against the p50 of the 20 after it. The value is first / warm p50.',
  async run(): Promise<MeasuredValue> {
    try {
      const c = await coldStart();
      return {
        value: c.firstMs / c.warmP50Ms,
        unit: 'x warm p50',
        detail: `first ${c.firstMs.toFixed(2)} ms, warm p50 ${c.warmP50Ms.toFixed(3)} ms; launch ${c.launchMs.toFixed(0)} ms (create ${c.createMs.toFixed(0)} ms)`,
      };
    } catch (error) {
      return { value: NaN, unit: 'x warm p50', detail: (error as Error).message };
    }
  },
};
