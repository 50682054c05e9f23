/**
 * ringkernel in a real browser: headless Chromium (the system's, driven by puppeteer-core), on
 * the browser's own WebGPU adapter (SwiftShader where there is no GPU).
 *
 * - The browser bundle (dist/browser.js, what the package's `browser` and `default` export
 *   conditions give a bundler) holds no Node built-in and no Dawn.
 * - test/browser/cases.ts runs in a page against that bundle: queue contract cases, a ring kernel
 *   round trip, a two-stage pipeline, telemetry, and the CPU backend in a page without WebGPU.
 * - The README's "In the browser" program runs in a page and prints what its comments say.
 * - The demo page (`ringkernel serve`) is driven like a visitor would, its figures are checked
 *   against the runtime's, and a screenshot is saved to test/out/demo.png.
 *
 * Without Chromium these tests fail, saying what to install, unless RINGKERNEL_SKIP_BROWSER=1 is
 * set: then they are skipped, loudly.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { runInNewContext } from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../src/cli/chromium.js';
import { serveDemo, type DemoServer } from '../src/cli/serve.js';
import { WITHOUT_WEBGPU, cases } from './browser/cases.js';
import { expectedOutput, readmePrograms } from './readme-programs.js';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const browserProgram = readmePrograms(readFileSync(root('README.md'), 'utf8')).find((p) => p.section === 'In the browser')!;

/**
 * Evaluated in the demo page: every tile label or value (.stats dt, dd) whose text is wider than
 * its box or sticks out of its tile, and every part of an alert row outside the row, as text.
 */
const CUT_ON_PAGE = `(() => {
  const out = [];
  const inside = (el, box) => { const a = el.getBoundingClientRect(), b = box.getBoundingClientRect(); return a.left >= b.left - 0.5 && a.right <= b.right + 0.5; };
  for (const tile of document.querySelectorAll('#telemetry .stats > div')) {
    for (const el of tile.children) {
      if (el.scrollWidth > el.clientWidth + 0.5 || !inside(el, tile)) out.push('tile ' + tile.closest('[data-kernel]').dataset.kernel + ': ' + el.textContent);
    }
  }
  for (const row of document.querySelectorAll('#outputs li.alert')) {
    for (const el of row.children) {
      const clipped = el.classList.contains('celsius') ? false : el.scrollWidth > el.clientWidth + 0.5;
      if (clipped || !inside(el, row)) out.push('alert row: ' + el.textContent);
    }
  }
  return out;
})()`;

/** Run in a page before its scripts: a browser without WebGPU. */
const REMOVE_WEBGPU = (): void => {
  const { Navigator } = globalThis as unknown as { Navigator: { prototype: object } };
  Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
};

/**
 * Collects the page's console.log lines as Node would print these values (util.inspect's one-line
 * form for plain objects, arrays, strings, numbers, booleans, null and undefined), so the README's
 * expected-output comments can be checked in the browser too.
 */
const PAGE_CONSOLE = `
const rkInspect = (v, nested) =>
  typeof v === 'string' ? (nested ? "'" + v + "'" : v)
  : Array.isArray(v) ? (v.length ? '[ ' + v.map((x) => rkInspect(x, true)).join(', ') + ' ]' : '[]')
  : v !== null && typeof v === 'object'
    ? (Object.keys(v).length ? '{ ' + Object.entries(v).map(([k, x]) => k + ': ' + rkInspect(x, true)).join(', ') + ' }' : '{}')
    : String(v);
globalThis.rkReadmeOutput = [];
console.log = (...args) => { globalThis.rkReadmeOutput.push(args.map((a) => rkInspect(a, false)).join(' ')); };
`;
const SKIP_BROWSER = process.env.RINGKERNEL_SKIP_BROWSER === '1';

if (SKIP_BROWSER) {
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!!! RINGKERNEL_SKIP_BROWSER=1: BROWSER TESTS ARE SKIPPED, NOT PASSED. The browser build is UNTESTED in this run.\n${bar}\n`);
}
const describeBrowser = SKIP_BROWSER ? describe.skip : describe;

/** Bundles `export * from 'ringkernel'` resolved as a bundler for `platform` resolves the package (its exports conditions). */
function bundlePackage(platform: 'browser' | 'node') {
  return build({
    stdin: { contents: `export * from 'ringkernel';`, resolveDir: root(''), loader: 'ts' },
    bundle: true,
    platform,
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: platform === 'node' ? ['webgpu'] : [],
  });
}

/** Writes a page at `dir`: `source` (TypeScript, run from the repository root) bundled against the package's browser build. */
async function writePage(dir: string, source: string): Promise<void> {
  mkdirSync(dir);
  await build({
    stdin: { contents: source, resolveDir: root(''), loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    alias: { ringkernel: root('dist/browser.js') },
    outfile: join(dir, 'page.js'),
    logLevel: 'warning',
  });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>ringkernel test page</title><script type="module" src="./page.js"></script>');
}

describe('the browser bundle', () => {
  it('resolves to dist/browser.js for a browser bundler and contains no Node built-in and no Dawn', async () => {
    // bundle `import 'ringkernel'` as a web app would: esbuild, platform browser, the package's exports
    const result = await bundlePackage('browser');
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('dist/browser.js');
    const nodeBuiltins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    expect(inputs.filter((i) => nodeBuiltins.has(i) || i.startsWith('node:') || i.includes('node_modules/webgpu'))).toEqual([]);
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(imports).toEqual([]); // everything is inside the bundle: nothing left to resolve at run time
    const text = readFileSync(root('dist/browser.js'), 'utf8');
    expect(text).not.toMatch(/\bfrom\s*["'](node:|webgpu["'])|\brequire\(|import\(["']webgpu|\bprocess\.env\b/);
  });

  it('a Vite app build takes the browser build too, with nothing of Node in it', async () => {
    const { build: viteBuild } = await import('vite');
    const app = mkdtempSync(join(tmpdir(), 'ringkernel-vite-'));
    try {
      // an app that depends on ringkernel, as installed: node_modules/ringkernel is this package
      mkdirSync(join(app, 'node_modules'));
      symlinkSync(root(''), join(app, 'node_modules', 'ringkernel'), 'dir');
      writeFileSync(join(app, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>');
      writeFileSync(
        join(app, 'main.js'),
        `import { MessageQueue, RingKernelRuntime, GpuMessageQueue } from 'ringkernel';\n` +
          `console.log(new MessageQueue().size, typeof RingKernelRuntime, typeof GpuMessageQueue);\n`,
      );
      const result = await viteBuild({ root: app, logLevel: 'silent', configFile: false, build: { write: false } });
      const outputs = (Array.isArray(result) ? result : [result]).flatMap((r) => ('output' in r ? r.output : []));
      const chunks = outputs.filter((o) => o.type === 'chunk');
      const modules = chunks.flatMap((c) => c.moduleIds);
      expect(modules.some((m) => m.endsWith('/dist/browser.js'))).toBe(true);
      expect(modules.filter((m) => /\/dist\/index\.js$|node_modules\/webgpu|^node:|__vite-browser-external/.test(m))).toEqual([]);
      for (const c of chunks) expect(c.imports.concat(c.dynamicImports)).toEqual([]);
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });

  it('runs where only web globals exist: no process, setImmediate, Buffer or Symbol.asyncDispose (a bare JS context)', async () => {
    // A context made by node:vm has the language's globals and nothing of Node's; it is given the
    // web platform's timers, MessageChannel, performance, AbortController and console, no WebGPU.
    const program = `
      import { GpuMessageQueue, MessageQueue, RingKernelRuntime, defineMessage, defineRingKernel } from 'ringkernel';
      const Num = defineMessage({ name: 'Num', fields: { v: 'u32' } });
      const square = defineRingKernel({
        name: 'square', input: Num, output: Num,
        wgsl: 'fn handle(m: Num, priority: u32) { rk_emit(Num(m.v * m.v), priority); }',
        cpu: (m, ctx) => { ctx.emit({ v: m.v * m.v, priority: m.priority }); },
      });
      async function main() {
        const out = {};
        const q = new MessageQueue({ maxSize: 4 });
        await q.putMany([{ id: 1, priority: 1 }, { id: 2, priority: 9 }]);
        out.queue = (await q.getMany(2)).map((m) => m.id);
        let kept;
        {
          await using rt = await RingKernelRuntime.create({ backend: 'cpu' });
          kept = rt;
          await rt.launch('square', square);
          await rt.activate('square');
          out.reply = await rt.sendAndReceive('square', { v: 12 });
          out.processed = rt.telemetry('square').messagesProcessed;
        }
        out.disposed = !kept.isActive && kept.kernelIds.length === 0;
        out.gpu = await GpuMessageQueue.create().then(() => 'created', (e) => e.name + ': ' + e.message);
        return out;
      }
      globalThis.done(main());`;
    const bundled = await build({
      stdin: { contents: program, resolveDir: root(''), loader: 'ts' },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      target: 'es2022', // so esbuild lowers \`await using\`, as for a browser without it
      alias: { ringkernel: root('dist/browser.js') },
      write: false,
      logLevel: 'silent',
    });
    let finished!: Promise<Record<string, unknown>>;
    const web = { setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, MessageChannel, performance };
    runInNewContext(bundled.outputFiles[0].text, {
      ...web,
      AbortController,
      AbortSignal,
      DOMException,
      EventTarget,
      Event,
      console,
      done: (p: Promise<Record<string, unknown>>) => (finished = p),
    });
    expect(runInNewContext('typeof Symbol.asyncDispose')).toBe('undefined');
    const out = await finished;
    expect(out.queue).toEqual([2, 1]);
    expect(out.reply).toEqual({ v: 144, priority: 128 });
    expect(out.processed).toBe(1);
    expect(out.disposed).toBe(true); // \`await using\` shut the runtime down
    expect(out.gpu).toMatch(/^GpuUnavailableError: this page has no WebGPU \(navigator\.gpu\)/);
  });

  it('is what Node gets too: the node condition gives dist/index.js, which imports Dawn only when asked', async () => {
    const result = await bundlePackage('node');
    expect(Object.keys(result.metafile.inputs)).toContain('dist/index.js');
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports);
    expect(imports.filter((i) => i.path === 'webgpu')).toEqual([{ path: 'webgpu', kind: 'dynamic-import', external: true }]);
    // and loading the package does not load it: a process that only imports ringkernel has no Dawn
    const probe = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `await import('ringkernel'); const { createRequire } = await import('node:module');
        const req = createRequire(import.meta.url); console.log(Object.keys(req.cache).some((k) => k.includes('webgpu')) ? 'dawn loaded' : 'no dawn');`],
      { cwd: root(''), encoding: 'utf8' },
    );
    expect(probe.stderr).toBe('');
    expect(probe.stdout.trim()).toBe('no dawn');
  });
});

describeBrowser('in headless Chromium, on the browser WebGPU', () => {
  let browser: Browser;
  let server: DemoServer;
  let pageDir: string;
  const errors: string[] = [];

  /** A page of the suite's bundle; `withoutWebGpu` removes navigator.gpu before any script runs. */
  async function openSuitePage(withoutWebGpu: boolean): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(`page error: ${String(e)}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
    });
    if (withoutWebGpu) await page.evaluateOnNewDocument(REMOVE_WEBGPU);
    await page.goto(`${server.url}suite/index.html`, { waitUntil: 'load' });
    await page.waitForFunction(() => (globalThis as { rkCases?: unknown }).rkCases !== undefined, { timeout: 30_000 });
    return page;
  }

  let withGpu: Page;
  let withoutGpu: Page;

  beforeAll(async () => {
    // the suite's page: test/browser/cases.ts bundled against the package's browser build
    pageDir = mkdtempSync(join(tmpdir(), 'ringkernel-browser-'));
    await writePage(join(pageDir, 'suite'), `import { cases } from './test/browser/cases.ts'; globalThis.rkCases = cases;`);
    // the README's browser program, as a page: console.log formatted as Node prints these values
    await writePage(join(pageDir, 'readme'), `${PAGE_CONSOLE}\n${browserProgram.source}\nglobalThis.rkReadmeDone = true;`);
    server = await serveDemo({ root: pageDir });
    browser = await launchChromium();
    withGpu = await openSuitePage(false);
    withoutGpu = await openSuitePage(true);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (pageDir) rmSync(pageDir, { recursive: true, force: true });
  });

  it('the page has WebGPU and a WebGPU adapter', async () => {
    const info = await withGpu.evaluate(async () => {
      const { navigator } = globalThis as unknown as { navigator: { gpu?: GPU } };
      const adapter = await navigator.gpu?.requestAdapter();
      return adapter ? { vendor: adapter.info.vendor, architecture: adapter.info.architecture } : null;
    });
    expect(info).not.toBeNull();
  });

  for (const name of Object.keys(cases)) {
    it(name, async () => {
      const page = WITHOUT_WEBGPU.has(name) ? withoutGpu : withGpu;
      const outcome = await page.evaluate(async (caseName) => {
        try {
          await (globalThis as unknown as { rkCases: Record<string, () => Promise<void>> }).rkCases[caseName]();
          return 'passed';
        } catch (error) {
          return `failed in the page: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
        }
      }, name);
      expect(outcome).toBe('passed');
    });
  }

  for (const withoutWebGpu of [false, true]) {
    const where = withoutWebGpu ? 'a page without WebGPU (its CPU fallback)' : 'a page with WebGPU';
    it(`the README's 'In the browser' program runs in ${where} and prints what its comments say`, async () => {
      const page = await browser.newPage();
      try {
        page.on('pageerror', (e) => errors.push(`README program: ${String(e)}`));
        if (withoutWebGpu) await page.evaluateOnNewDocument(REMOVE_WEBGPU);
        await page.goto(`${server.url}readme/index.html`, { waitUntil: 'load' });
        await page.waitForFunction(`globalThis.rkReadmeDone === true || globalThis.rkReadmeOutput === undefined`, { timeout: 60_000 });
        expect(await page.evaluate(`globalThis.rkReadmeOutput`)).toEqual(expectedOutput(browserProgram.source));
        expect(await page.evaluate(`typeof navigator.gpu`)).toBe(withoutWebGpu ? 'undefined' : 'object');
      } finally {
        await page.close();
      }
    });
  }

  it('no page error and no console error came up while the cases ran', () => {
    expect(errors).toEqual([]);
  });
});

describeBrowser('the demo page (ringkernel serve), driven as a visitor would', () => {
  let browser: Browser;
  let server: DemoServer;
  let page: Page;
  const errors: string[] = [];
  /** Reads the page: evaluated in the browser (a string, so it is not type-checked against Node's globals). */
  const read = <T>(expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;
  const shown = (kernel: string, field: string): Promise<string | null> =>
    read(`document.querySelector('#telemetry [data-kernel="${kernel}"] [data-field="${field}"]')?.textContent ?? null`);
  /** What on the page is cut: a tile's label or value wider than its box, an alert row's part outside its row. */
  const cut = (): Promise<string[]> => read<string[]>(CUT_ON_PAGE);

  beforeAll(async () => {
    server = await serveDemo();
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setViewport({ width: 1440, height: 1000 });
    page.on('pageerror', (e) => errors.push(`page error: ${String(e)}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
    });
    await page.goto(`${server.url}?bench=tiny`, { waitUntil: 'load' });
    await page.waitForFunction(`document.body.dataset.ready === 'true'`, { timeout: 120_000 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('launches its kernels on the GPU backend and names the adapter', async () => {
    expect(await read(`document.body.dataset.backend`)).toBe('gpu');
    expect(await read<string>(`document.querySelector('#adapter').textContent`)).toMatch(/\w/);
    const ids = await read<string[]>(`globalThis.ringkernelDemo.kernelIds`);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    for (const id of ids) expect(await read(`globalThis.ringkernelDemo.runtime.state(${JSON.stringify(id)})`)).toBe('active');
  });

  it('a message and a burst sent from the page are processed, and the page shows what the runtime counts', async () => {
    const first = (await read<string[]>(`globalThis.ringkernelDemo.kernelIds`))[0];
    const processed = (): Promise<number> => read(`globalThis.ringkernelDemo.runtime.telemetry(${JSON.stringify(first)}).messagesProcessed`);
    const before = await processed();
    await page.click('#send');
    await page.$eval('#burst-size', (input) => {
      (input as unknown as { value: string }).value = '40';
    });
    await page.click('#burst');
    await page.waitForFunction(
      `globalThis.ringkernelDemo.runtime.telemetry(${JSON.stringify(first)}).messagesProcessed >= ${before + 41}`,
      { timeout: 60_000 },
    );
    // the live view catches up within a few refreshes and shows the runtime's own figures
    for (const id of await read<string[]>(`globalThis.ringkernelDemo.kernelIds`)) {
      await page.waitForFunction(
        `(() => {
          const t = globalThis.ringkernelDemo.runtime.telemetry(${JSON.stringify(id)});
          const cell = (f) => document.querySelector('#telemetry [data-kernel="${id}"] [data-field="' + f + '"]')?.textContent;
          return cell('messagesProcessed') === String(t.messagesProcessed) && cell('messagesEmitted') === String(t.messagesEmitted)
            && cell('errors') === String(t.errors) && cell('inputDepth') === String(t.inputDepth);
        })()`,
        { timeout: 30_000 },
      );
    }
    expect(Number(await shown(first, 'messagesProcessed'))).toBeGreaterThanOrEqual(before + 41);
  });

  it('request/reply shows the reply computed on the device and its round trip', async () => {
    // sensor 3 calibrates raw r to r · 1.03 − 0.5 (demo/pipeline.ts): 84.5 → 86.535 °C, a warning
    await page.select('#sensor', '3');
    await page.$eval('#value', (input) => {
      (input as unknown as { value: string }).value = '84.5';
    });
    await page.click('#ask');
    await page.waitForFunction(`/^(reply|no reply|error)/.test(document.querySelector('#ask-result')?.textContent ?? '')`, { timeout: 60_000 });
    expect(await read<string>(`document.querySelector('#ask-result').textContent`)).toMatch(
      /^reply: S3 86\.5 °C, warn, reading #\d+ of S3, priority \d+ · round trip \d+(\.\d+)? (µs|ms)$/,
    );
  });

  it('a flood keeps every tile and alert row whole at three widths (screenshots in test/out), and the log tells what a stall loses', async () => {
    // 60 000 readings at once into calibrate's 2048-deep DROP_OLDEST queue: five-digit counters
    await read(`globalThis.ringkernelDemo.runtime.sendMany('calibrate', Array.from({ length: 60000 }, (_, i) => ({ sensor: i % 8, raw: 60 + (i % 50), flags: 0, priority: i % 256 })))`);
    await page.waitForFunction(`globalThis.ringkernelDemo.runtime.telemetry('calibrate').messagesDropped >= 10000`, { timeout: 120_000 });
    await read(`globalThis.ringkernelDemo.runtime.idle()`);
    await page.waitForFunction(
      `document.querySelector('#telemetry [data-kernel="calibrate"] [data-field="messagesDropped"]')?.textContent === String(globalThis.ringkernelDemo.runtime.telemetry('calibrate').messagesDropped)`,
      { timeout: 30_000 },
    );
    expect(Number(await shown('calibrate', 'messagesDropped'))).toBeGreaterThanOrEqual(10000);
    mkdirSync(root('test/out'), { recursive: true });
    for (const width of [1440, 1100, 820]) {
      await page.setViewport({ width, height: 1000 });
      await read(`new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))`);
      await page.screenshot({ path: root(`test/out/demo-flood-${width}.png`) as `${string}.png`, fullPage: true });
      expect(await read<number>(`document.querySelectorAll('#outputs li.alert').length`)).toBeGreaterThan(0); // (rows to check)
      expect(await cut(), `at ${width} px`).toEqual([]);
    }
    await page.setViewport({ width: 1440, height: 1000 });
    // deactivating detect stalls calibrate: the log says its queue drops the oldest, not that nothing is lost
    await page.click('#toggle-detect');
    await page.waitForFunction(`/detect deactivated/.test(document.querySelector('#log')?.textContent ?? '')`, { timeout: 30_000 });
    const line = await read<string>(`[...document.querySelectorAll('#log li')].map((li) => li.textContent).find((t) => /detect deactivated/.test(t))`);
    expect(line).toMatch(/drops the oldest/);
    expect(line).not.toMatch(/nothing is lost/);
    await page.click('#toggle-detect');
    await page.waitForFunction(`globalThis.ringkernelDemo.runtime.state('detect') === 'active'`, { timeout: 30_000 });
  }, 240_000);

  it('runs the GPU-vs-CPU bench in the page and draws the chart', async () => {
    await page.click('#bench-run');
    await page.waitForFunction(
      `(() => { const s = document.querySelector('#bench-status')?.textContent?.trim() ?? ''; return s.endsWith('done') || s.startsWith('error'); })()`,
      { timeout: 300_000 },
    );
    expect(await read<string>(`document.querySelector('#bench-status').textContent.trim()`)).toMatch(/done$/);
    const chart = await read<{ svg: number; lines: number; labels: string }>(
      `(() => { const svg = document.querySelector('#bench-chart svg');
        return { svg: svg ? 1 : 0, lines: svg ? svg.querySelectorAll('polyline, path').length : 0, labels: svg ? svg.textContent : '' }; })()`,
    );
    expect(chart.svg).toBe(1);
    expect(chart.lines).toBeGreaterThanOrEqual(3); // GPU queue, CPU queue and the floor at least
    expect(chart.labels).toMatch(/GpuMessageQueue/);
    expect(chart.labels).toMatch(/floor/);
    // done: the progress bar is full, at once
    const bar = await read<{ bar: number; fill: number }>(
      `(() => { const el = document.querySelector('#bench-progress'); return { bar: el.clientWidth, fill: parseFloat(getComputedStyle(el, '::after').width) }; })()`,
    );
    expect(bar.fill).toBeCloseTo(bar.bar, 0);
  }, 360_000);

  it('with ?backend=cpu the page says it runs on the CPU backend, and names the adapter it did not use', async () => {
    const cpuPage = await browser.newPage();
    const cpuErrors: string[] = [];
    cpuPage.on('pageerror', (e) => cpuErrors.push(`page error: ${String(e)}`));
    try {
      await cpuPage.setViewport({ width: 1440, height: 1000 });
      await cpuPage.goto(`${server.url}?backend=cpu&bench=tiny`, { waitUntil: 'load' });
      await cpuPage.waitForFunction(`document.body.dataset.ready === 'true'`, { timeout: 120_000 });
      const text = (selector: string) => cpuPage.evaluate(`document.querySelector(${JSON.stringify(selector)}).textContent`) as Promise<string>;
      expect(await cpuPage.evaluate(`document.body.dataset.backend`)).toBe('cpu');
      expect(await text('#backend-badge')).toBe('CPU backend');
      // the browser has an adapter (the suite above used it): the page names it as not used
      expect(await text('#adapter')).toMatch(/^WebGPU adapter not used: \S/);
      expect(await text('#runs-on')).toMatch(/CPU backend/);
      expect(await text('#runs-on')).not.toBe('This page runs them on your GPU.');
      mkdirSync(root('test/out'), { recursive: true });
      await cpuPage.screenshot({ path: root('test/out/demo-cpu.png') as `${string}.png`, fullPage: true });
      expect(cpuErrors).toEqual([]);
    } finally {
      await cpuPage.close();
    }
  }, 180_000);

  it('showed no page error and no console error, and leaves a screenshot', async () => {
    mkdirSync(root('test/out'), { recursive: true });
    await page.screenshot({ path: root('test/out/demo.png') as `${string}.png`, fullPage: true });
    expect(errors).toEqual([]);
  });
});
