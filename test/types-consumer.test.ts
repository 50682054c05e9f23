/**
 * The package's types as a user gets them: a consumer project in a temporary folder installs
 * the packed package (`npm pack`, as published) and compiles every README example program
 * with `tsc --noEmit`, strict, `skipLibCheck: false` and no ambient types of its own, so every
 * declaration ringkernel ships (and the WebGPU types they reference) must resolve.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readmePrograms } from './readme-programs.js';

const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'ringkernel-consumer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('a strict consumer project (skipLibCheck: false) compiles every README example against the packed package with zero errors', { timeout: 180_000 }, () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const packed = execFileSync(npm, ['pack', root, '--pack-destination', work, '--silent'], { cwd: work, encoding: 'utf8' }).trim().split('\n').pop()!;
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', `./${packed}`], { cwd: work, stdio: 'pipe' });
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: [] },
      include: ['*.ts'],
    }),
  );
  const programs = readmePrograms(readFileSync(join(root, 'README.md'), 'utf8'));
  expect(programs.length).toBeGreaterThanOrEqual(5);
  programs.forEach((p, i) => writeFileSync(join(work, `example-${i}.ts`), p.source));
  // and a use of the WebGPU types the API hands out
  writeFileSync(
    join(work, 'webgpu-types.ts'),
    `import { GpuMessageQueue } from 'ringkernel';
export function limits(q: GpuMessageQueue<object>): [number, GPUBindGroupLayout] {
  return [q.device.limits.maxBufferSize, q.deviceBindGroupLayout];
}
`,
  );
  // handles are typed by their kernel's schemas: each @ts-expect-error must meet an error, or tsc reports it unused
  writeFileSync(
    join(work, 'typed-handles.ts'),
    `import { RingKernelRuntime, defineMessage, defineRingKernel } from 'ringkernel';
const Reading = defineMessage({ name: 'Reading', fields: { sensor: 'u32', value: 'f32' } });
const Alert = defineMessage({ name: 'Alert', fields: { sensor: 'u32' } });
const check = defineRingKernel({
  name: 'check', input: Reading, output: Alert,
  wgsl: 'fn handle(m: Reading, priority: u32) { if (m.value > 3.0) { rk_emit(Alert(m.sensor), priority); } }',
  cpu: (m, ctx) => { if (m.value > 3) ctx.emit({ sensor: m.sensor, priority: m.priority }); },
});
export async function typed(rt: RingKernelRuntime): Promise<number> {
  const h = await rt.launch('check', check);
  await h.send({ sensor: 1, value: 2.5 });
  await h.sendMany([{ sensor: 2, value: 9, priority: 200 }]);
  // @ts-expect-error a string where the schema says u32
  await h.send({ sensor: '1', value: 2.5 });
  // @ts-expect-error a field the schema does not have
  await h.send({ sensor: 1, value: 2.5, extra: 1 });
  // @ts-expect-error a field missing
  await h.sendAndReceive({ sensor: 1 });
  const out = await h.receive();
  const s: number = out.sensor + out.priority;
  // @ts-expect-error outputs are typed: Alert has no value
  void out.value;
  for await (const o of h.outputs()) return o.sensor + s;
  return s;
}
const Eight = defineMessage({ name: 'Eight', fields: { values: 'array<f32, 8>', long: 'array<u32, 100>' } });
export const eight: typeof Eight.type = { values: [1, 2, 3, 4, 5, 6, 7, 8], long: [] };
// @ts-expect-error array<f32, 8> is a tuple of 8 numbers
export const seven: typeof Eight.type = { values: [1, 2, 3, 4, 5, 6, 7], long: [] };
export const first: number = eight.values[0];
`,
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // strict, and strict with noUncheckedIndexedAccess (array<T, N> fields are tuples, so indexing them by a literal is checked)
  writeFileSync(join(work, 'tsconfig.unchecked.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noUncheckedIndexedAccess: true } }));
  for (const config of ['tsconfig.json', 'tsconfig.unchecked.json']) {
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', join(work, config)], { cwd: work, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output, config).toBe('');
  }
});
