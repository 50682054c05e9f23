/**
 * `ringkernel serve`: the demo page (dist/demo) on localhost, with Node's http and nothing else.
 * The bench's browser run and the browser tests use the same server.
 *
 * Pages are served cross-origin isolated (COOP/COEP): browsers then give `performance.now()`
 * microsecond resolution instead of ~100 µs, which a round trip of that size needs.
 */
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** dist/demo: beside the program (dist/cli.js), or, from the sources, in the built dist/. */
export function demoRoot(): string {
  for (const candidate of ['./demo/', '../../dist/demo/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(resolve(dir, 'index.html'))) return dir;
  }
  throw new Error('the demo page is not built: run `npm run build` first (it writes dist/demo/)');
}

export interface DemoServer {
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  root?: string;
}

export function serveDemo(options: ServeOptions = {}): Promise<DemoServer> {
  const root = resolve(options.root ?? demoRoot());
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    void (async () => {
      const headers = {
        'Cache-Control': 'no-store',
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'X-Content-Type-Options': 'nosniff',
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
        return;
      }
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      } catch {
        res.writeHead(400, headers).end('bad request');
        return;
      }
      if (path === '/favicon.ico') {
        res.writeHead(204, headers).end(); // no icon, and no 404 in the console
        return;
      }
      if (path.endsWith('/')) path += 'index.html';
      const file = resolve(root, `.${path}`);
      const type = TYPES[extname(file)];
      if (!file.startsWith(root + sep) || type === undefined) {
        res.writeHead(404, headers).end('not found');
        return;
      }
      try {
        const body = await readFile(file);
        res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch {
        res.writeHead(404, headers).end('not found');
      }
    })();
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolvePromise({
        url: `http://${shown}:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
