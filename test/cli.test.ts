/**
 * The package's program (dist/cli.js), run as a user runs it: its command line, `serve`, and
 * `bench --browser`.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const SKIP_BROWSER = process.env.RINGKERNEL_SKIP_BROWSER === '1';

function run(args: string[], timeout = 30_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A raw GET, so the path reaches the server exactly as written (fetch would normalise `..`). */
function get(url: string, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(url), { path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ringkernel (the program)', () => {
  it('--help names both commands and exits 0', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ringkernel bench .*--browser/);
    expect(r.stdout).toMatch(/ringkernel serve \[--port N\]/);
  });

  it.each([
    [[], /missing command/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['serve', '--quick'], /--quick is not an option of "serve"/],
    [['bench', '--port', '80'], /--port is not an option of "bench"/],
    [['serve', '--port', '70000'], /--port 70000: expected a port number/],
    [['serve', '--port', 'x'], /--port x: expected a port number/],
    [['bench', '--only', ','], /--only needs a name/],
    [['serve', '--host', ''], /--host needs an address/],
    [['bench', '--profile', '--only', 'x'], /--only is not an option of "bench --profile"/],
    [['serve', '--profile'], /--profile is not an option of "serve"/],
  ])('%j is a usage error: exit 2 and a message', (args, message) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('serve prints its address, serves the demo page cross-origin isolated, nothing outside it, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`serve exited with ${code} before printing its address: ${out}`)));
      });
      const page = await get(url, '/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(page.headers['cross-origin-embedder-policy']).toBe('require-corp');
      expect(page.body).toMatch(/<script type="module" src="\.\/demo\.js"><\/script>/);
      const script = await get(url, '/demo.js');
      expect(script.status).toBe(200);
      expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
      for (const path of ['/../package.json', '/%2e%2e/package.json', '/%2e%2e%2fcli.js', '/nothing.html']) {
        expect((await get(url, path)).status, path).toBe(404);
      }
      const taken = run(['serve', '--port', new URL(url).port]);
      expect(taken.status).toBe(2);
      expect(taken.stderr).toMatch(/port \d+ is in use on 127\.0\.0\.1: choose another with --port N/);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it.skipIf(SKIP_BROWSER)('bench --browser --quick prints the GPU table measured in headless Chromium', { timeout: 320_000 }, async () => {
    const r = await promisify(execFile)(process.execPath, [CLI, 'bench', '--browser', '--quick', '--only', 'batch 64,single'], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.stderr).not.toMatch(/failed/);
    expect(r.stderr).toMatch(/--only batch 64,single: implementations matched: none; workloads matched: gpu-latency, gpu-batch-64/);
    expect(r.stdout).toMatch(/^browser: .*Chrom.*, headless; the GPU group ran in the page/m);
    expect(r.stdout).toMatch(/^gpu: /m);
    expect(r.stdout).toMatch(/== GPU putMany \+ getMany, batch 64\n/);
    // a measured figure, not a skip: GpuMessageQueue's row has a rate and a ratio to the floor
    expect(r.stdout).toMatch(/^ {3}GpuMessageQueue +[\d.]+(?: [kMG])? +[\d.]+% .*x$/m);
    expect(r.stdout).toMatch(/^ {3}webgpu floor +[\d.]+(?: [kMG])? /m);
  });
});
