/**
 * Without an adapter, GpuMessageQueue.create rejects with GpuUnavailableError saying what to
 * install. The child process sees no Vulkan driver at all (VK_ICD_FILENAMES names none), so this
 * runs the real acquisition path, on any machine.
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';

const probe = `
import('ringkernel').then(async ({ GpuMessageQueue, GpuUnavailableError }) => {
  try {
    await GpuMessageQueue.create({ maxSize: 4 });
    console.log(JSON.stringify({ created: true }));
  } catch (error) {
    console.log(JSON.stringify({ name: error.name, isClass: error instanceof GpuUnavailableError, message: error.message }));
  }
  process.exit(0);
});`;

it('with no Vulkan driver, create() rejects with GpuUnavailableError naming what to install', () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe], {
    env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/ringkernel-no-driver.json', VK_DRIVER_FILES: '/nonexistent/ringkernel-no-driver.json' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 60_000,
  });
  const result = JSON.parse(out.trim().split('\n').pop()!);
  expect(result).toMatchObject({ name: 'GpuUnavailableError', isClass: true });
  expect(result.message).toMatch(/mesa-vulkan-drivers/);
  expect(result.message).toMatch(/bookworm-backports/);
});
