// Bundles the library (one build for Node, one for browsers), the CLI and the demo page with
// esbuild. WGSL files are inlined as text so the package never reads shader files at run time.
// Declarations come from `tsc` afterwards.
import { build } from 'esbuild';
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = (path) => fileURLToPath(new URL(`../${path}`, import.meta.url));
rmSync(root('dist'), { recursive: true, force: true });

const common = {
  bundle: true,
  format: 'esm',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  logLevel: 'warning',
};

/**
 * The browser build swaps the Node platform layer (`webgpu` package, setImmediate) for the
 * browser's (navigator.gpu, MessageChannel): src/platform/index.ts resolves to browser.ts.
 */
const browserPlatform = {
  name: 'ringkernel-browser-platform',
  setup(b) {
    b.onResolve({ filter: /\/platform\/index\.js$/ }, () => ({ path: root('src/platform/browser.ts') }));
  },
};
const browser = {
  ...common,
  platform: 'browser',
  target: ['chrome113', 'firefox141', 'safari26'],
  plugins: [browserPlatform],
  // the demo and the in-page bench import the library by its public name: the same browser build
  alias: { ringkernel: root('src/index.ts') },
};

await Promise.all([
  build({ ...common, platform: 'node', target: 'node20', entryPoints: ['src/index.ts'], outfile: 'dist/index.js', external: ['webgpu'] }),
  build({ ...browser, entryPoints: ['src/index.ts'], outfile: 'dist/browser.js' }),
  build({
    ...common,
    platform: 'node',
    target: 'node20',
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli.js',
    // The CLI uses the library through its public name, so it shares dist/index.js instead of a
    // second copy; puppeteer-core (bench --browser) is loaded only when asked for.
    external: ['webgpu', 'ringkernel', 'puppeteer-core'],
    banner: { js: '#!/usr/bin/env node' },
  }),
  // the page ships in the package: no source maps (they would double its size)
  build({ ...browser, sourcemap: false, entryPoints: { demo: 'demo/main.ts', bench: 'bench/browser-entry.ts' }, outdir: 'dist/demo' }),
]);
cpSync(root('demo/index.html'), root('dist/demo/index.html'));
cpSync(root('demo/bench.html'), root('dist/demo/bench.html'));
