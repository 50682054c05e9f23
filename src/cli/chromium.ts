/**
 * Headless Chromium with WebGPU, driven by puppeteer-core, for `ringkernel bench --browser` and
 * the browser tests. Uses the system's Chromium (puppeteer-core downloads nothing); on a machine
 * without a GPU, Chromium's own software adapter (SwiftShader) runs WebGPU.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Browser } from 'puppeteer-core';

/** `--js-flags=--expose-gc` gives the page's bench a `gc` to call between workloads. */
const ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--js-flags=--expose-gc'];

/**
 * Where Chromium or Chrome is looked for, after RINGKERNEL_CHROMIUM: these names on the PATH,
 * then these app bundles. scripts/setup.sh looks for the same names before it installs one.
 */
export const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const APP_BUNDLES = [
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

export class BrowserUnavailableError extends Error {
  override name = 'BrowserUnavailableError';
}

const HINT =
  'Install Chromium or Chrome (Debian: `apt-get install chromium`; `bash scripts/setup.sh` does it where it can) ' +
  'or point RINGKERNEL_CHROMIUM at its binary.';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** RINGKERNEL_CHROMIUM, else the first Chromium or Chrome on the PATH or in the usual app bundles, else null. */
export function findChromium(): string | null {
  const chosen = process.env.RINGKERNEL_CHROMIUM;
  if (chosen) return chosen;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const name of CHROMIUM_NAMES) {
    for (const dir of dirs) if (executable(join(dir, name))) return join(dir, name);
  }
  return APP_BUNDLES.find((path) => existsSync(path)) ?? null;
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (executablePath === null) throw new BrowserUnavailableError(`no Chromium found. ${HINT}`);
  if (!executable(executablePath)) throw new BrowserUnavailableError(`RINGKERNEL_CHROMIUM=${executablePath} is not an executable file. ${HINT}`);
  let puppeteer: { launch: typeof import('puppeteer-core').launch };
  try {
    puppeteer = await import('puppeteer-core');
  } catch (error) {
    throw new BrowserUnavailableError(`the browser run needs the puppeteer-core package (npm install puppeteer-core): ${String(error)}`);
  }
  // Chromium refuses to run as root with its sandbox on (containers, CI): only then go without it.
  const args = process.getuid?.() === 0 ? ['--no-sandbox', ...ARGS] : ARGS;
  // protocolTimeout 0: a full bench is one page.evaluate of minutes; the page bounds each call itself
  return puppeteer.launch({ executablePath, headless: true, args, protocolTimeout: 0 });
}
