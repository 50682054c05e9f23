/**
 * What `npm pack` would publish, asked of npm itself (a dry run writes nothing), and what git
 * ignores: package.json says MIT, so the tarball must carry the license text, and tarballs that
 * `npm pack` leaves in the checkout must never be committed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));

interface PackResult {
  files: Array<{ path: string }>;
}

function packedFiles(): string[] {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 120_000,
  });
  const [result] = JSON.parse(out) as PackResult[];
  return result.files.map((f) => f.path);
}

it('the package ships an MIT LICENSE that agrees with package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { license: string };
  expect(pkg.license).toBe('MIT');
  expect(packedFiles()).toContain('LICENSE');
  const text = readFileSync(new URL('../LICENSE', import.meta.url), 'utf8');
  expect(text).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the ringkernel authors\n/);
  expect(text).toMatch(/Permission is hereby granted, free of charge, to any person obtaining a copy/);
  expect(text).toMatch(/THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
});

it('git ignores the tarballs npm pack writes', () => {
  const ignored = spawnSync('git', ['check-ignore', '-q', 'ringkernel-0.1.0.tgz'], { cwd: repo });
  expect(ignored.error).toBeUndefined();
  expect(ignored.status).toBe(0); // 1: not ignored, 128: git failed
});
