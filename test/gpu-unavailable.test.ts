/**
 * Without an adapter, GpuMessageQueue.create rejects with GpuUnavailableError saying what to
 * install. The child process sees no Vulkan driver at all (VK_ICD_FILENAMES names none), so this
 * runs the real acquisition path, on any machine.
 *
 * Without the optional `webgpu` package the cause is the package, not the driver: the children
 * below run a copy of the built library from a temporary directory, where `import('webgpu')`
 * resolves to nothing (or to a stand-in whose native part fails to load), as it would in a
 * project that installed ringkernel with --omit=optional.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

interface Outcome {
  created?: boolean;
  name?: string;
  isClass?: boolean;
  message?: string;
}

const probe = (from: string): string => `
import(${JSON.stringify(from)}).then(async ({ GpuMessageQueue, GpuUnavailableError }) => {
  try {
    await GpuMessageQueue.create({ maxSize: 4 });
    console.log(JSON.stringify({ created: true }));
  } catch (error) {
    console.log(JSON.stringify({ name: error.name, isClass: error instanceof GpuUnavailableError, message: error.message }));
  }
  process.exit(0);
});`;

function run(script: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Outcome {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Outcome;
}

it('with no Vulkan driver, create() rejects with GpuUnavailableError naming what to install', () => {
  const result = run(probe('ringkernel'), {
    env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/ringkernel-no-driver.json', VK_DRIVER_FILES: '/nonexistent/ringkernel-no-driver.json' },
  });
  expect(result).toMatchObject({ name: 'GpuUnavailableError', isClass: true });
  expect(result.message).toMatch(/mesa-vulkan-drivers/);
  expect(result.message).toMatch(/bookworm-backports/);
});

describe('without a loadable webgpu package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkernel-no-webgpu-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A project directory holding only the built library, so nothing above it can supply `webgpu`. */
  function project(name: string): string {
    const root = join(dir, name);
    mkdirSync(root);
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: `probe-${name}`, type: 'module' }));
    copyFileSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)), join(root, 'ringkernel.js'));
    return root;
  }

  it('not installed: the message leads with the missing package, not with Vulkan drivers', () => {
    const root = project('absent');
    const result = run(probe('./ringkernel.js'), { cwd: root });
    expect(result).toMatchObject({ name: 'GpuUnavailableError', isClass: true });
    expect(result.message).toMatch(/^WebGPU is unavailable: the optional 'webgpu' package \(Dawn's Node binding\) is not installed \(npm install webgpu\)/);
    expect(result.message).toMatch(/Cannot find package 'webgpu'/); // the load error itself, for the curious
    expect(result.message).not.toMatch(/Vulkan|mesa|apt-get/i);
  });

  it('installed but failing to load: the message says so and quotes the load error', () => {
    const root = project('broken');
    const pkg = join(root, 'node_modules', 'webgpu');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'webgpu', type: 'module', main: 'index.js' }));
    writeFileSync(join(pkg, 'index.js'), "throw new Error('dawn.node: cannot open shared object file');\n");
    const result = run(probe('./ringkernel.js'), { cwd: root });
    expect(result).toMatchObject({ name: 'GpuUnavailableError', isClass: true });
    expect(result.message).toMatch(/^WebGPU is unavailable: the optional 'webgpu' package \(Dawn's Node binding\) failed to load/);
    expect(result.message).toMatch(/dawn\.node: cannot open shared object file/);
    expect(result.message).not.toMatch(/apt-get/);
  });
});
