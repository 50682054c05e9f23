// Bundles the library and the CLI with esbuild. WGSL files are inlined as text so the
// package never reads shader files at run time. Declarations come from `tsc` afterwards.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  logLevel: 'warning',
};

await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js', external: ['webgpu'] });
await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.js',
  // The CLI uses the library through its public name, so it shares dist/index.js instead of a second copy.
  external: ['webgpu', 'ringkernel'],
  banner: { js: '#!/usr/bin/env node' },
});
