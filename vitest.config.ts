import { defineConfig } from 'vitest/config';

export default defineConfig({
  // WGSL files are imported as text, as esbuild's `.wgsl: 'text'` loader does in scripts/build.mjs.
  plugins: [
    {
      name: 'wgsl-as-text',
      transform(code: string, id: string) {
        if (id.endsWith('.wgsl')) return { code: `export default ${JSON.stringify(code)};`, map: null };
        return undefined;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    // GPU tests share one software adapter; running files in parallel on 2 cores only adds noise.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
