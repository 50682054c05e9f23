/**
 * `ringkernel bench --browser`: serves the bench page, opens it in headless Chromium and runs the
 * GPU group there (bench/browser-entry.ts), on the browser's WebGPU; the results come back as
 * plain data and are printed by the same report as a Node run.
 */
import { launchChromium } from '../src/cli/chromium.js';
import { serveDemo } from '../src/cli/serve.js';
import type { PageRunResult } from './browser-entry.js';
import type { ProgressFn, RunConfig } from './harness.js';
import { UsageError, type SessionResult } from './session.js';

export async function runInBrowser(
  config: RunConfig,
  only: string[] | null,
  progress: ProgressFn,
  note: (text: string) => void,
): Promise<{ session: SessionResult; browser: string; clockResolutionNs: number }> {
  const server = await serveDemo();
  try {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(String(error)));
      await page.exposeFunction('ringkernelProgress', (text: string, milestone: boolean) => progress(`browser: ${text}`, milestone));
      await page.exposeFunction('ringkernelNote', (text: string) => note(text));
      await page.goto(`${server.url}bench.html`, { waitUntil: 'load' });
      await page.waitForFunction(() => globalThis.ringkernelBench !== undefined, { timeout: 30_000 }).catch(() => {
        throw new Error(`the bench page did not load its script${pageErrors.length ? `: ${pageErrors.join('; ')}` : ''}`);
      });
      // a full run is one evaluate of minutes (launchChromium sets no protocol timeout); the page bounds each call
      const result: PageRunResult = await page.evaluate((c, o) => globalThis.ringkernelBench!.run(c, o), config, only);
      if (!result.ok) {
        if (result.name === 'UsageError') throw new UsageError(result.message);
        throw new Error(`in the browser: ${result.stack || `${result.name}: ${result.message}`}`);
      }
      // an error thrown in the page outside the run's own calls (a callback, a rejected promise) still fails it
      if (pageErrors.length > 0) throw new Error(`errors in the page during the run: ${pageErrors.join('; ')}`);
      if (result.session.rows.length === 0) {
        const why = result.session.skippedGroups.map((s) => `${s.group}: ${s.reason}`).join('; ');
        throw new Error(`the browser run measured nothing${why ? ` (${why})` : ''}`);
      }
      return { session: result.session, browser: await browser.version(), clockResolutionNs: result.clockResolutionNs };
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }
}
