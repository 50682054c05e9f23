/**
 * README's examples run as written. Every ```ts block of README.md belongs to a program: a
 * block that starts with `import` begins one, and the blocks after it in the same `##` section
 * continue it. Each program is compiled as TypeScript (esbuild), run by Node against the built
 * package (dist/), and must exit 0 and print exactly what its comments say: every
 * `console.log(...); // text` line expects one line of output, `text`, in order.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { transform } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { describeGpu } from './gpu-helpers.js';
import { expectedOutput, readmePrograms, type Program } from './readme-programs.js';

const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'ringkernel-readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const run = promisify(execFile);
const programs = readmePrograms(readFileSync(join(root, 'README.md'), 'utf8'));
const usesGpu = (p: Program) => /GpuMessageQueue|runDeviceKernel|RingKernelRuntime\.create\((?!\{ backend: 'cpu' \})/.test(p.source);

describe('README', () => {
  it('has a program in each section that shows code, and every console.log says what it prints', () => {
    expect(new Set(programs.map((p) => p.section))).toEqual(new Set(['The queue', 'The queue on the GPU', 'Ring kernels', 'In the browser']));
    for (const p of programs) expect(expectedOutput(p.source).length).toBeGreaterThan(0);
  });

  it('the checker can fail: a wrong expected line or a missing comment is caught', () => {
    expect(expectedOutput('console.log(1 + 1); // 2\nconsole.log(3);  // 3')).toEqual(['2', '3']);
    expect(() => expectedOutput('console.log(1 + 1);')).toThrow(/trailing comment/);
    expect(() => readmePrograms('## X\n```ts\nconst a = 1;\n```\n')).toThrow(/neither imports nor continues/);
  });
});

for (const program of programs) {
  const gate = usesGpu(program) ? describeGpu : describe;
  gate(`README '## ${program.section}' (line ${program.line})`, () => {
    it('runs as written and prints what its comments say', { timeout: 180_000 }, async () => {
      const ts = program.source
        .replaceAll("from 'ringkernel'", `from '${pathToFileURL(join(root, 'dist', 'index.js')).href}'`)
        .replaceAll("from 'webgpu'", `from '${pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href}'`);
      const { code } = await transform(ts, { loader: 'ts', format: 'esm', target: 'node20' });
      const file = join(work, `line-${program.line}.mjs`);
      writeFileSync(file, code);
      const { stdout } = await run(process.execPath, [file], { cwd: work, timeout: 170_000, env: { ...process.env } });
      const printed = stdout.split('\n').filter((l) => l !== '').map((l) => l.trimEnd());
      expect(printed).toEqual(expectedOutput(program.source));
    });
  });
}
