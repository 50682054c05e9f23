/**
 * `ringkernel`, the package's program: parses the command line (node:util parseArgs) and runs a
 * subcommand. The library (src/index.ts) never imports this file or bench/; this program does.
 *
 *   ringkernel bench [--quick] [--json FILE] [--svg FILE] [--only NAME] [--browser]
 *   ringkernel serve [--port N] [--host HOST]
 */
import { parseArgs } from 'node:util';
import { UsageError, bench, checkWritable, type BenchOptions } from '../../bench/run.js';
import { serveDemo } from './serve.js';

const USAGE = `Usage: ringkernel bench [--quick] [--json FILE] [--svg FILE] [--only NAME] [--browser]
       ringkernel bench --profile [--quick] [--json FILE]
       ringkernel serve [--port N] [--host HOST]

ringkernel serve: serves the demo page (ring kernels you can drive, and the
GPU-vs-CPU bench drawn in the page, on your browser's WebGPU) on localhost and
prints its address.

ringkernel bench:
measures ringkernel's MessageQueue against the stable priority queues a Node
user would pick instead (tinyqueue, heap-js, flatqueue, fastpriorityqueue,
p-queue), GpuMessageQueue against MessageQueue and the raw WebGPU round trip on
the same device, and the ring kernel runtime on the GPU and CPU backends,
interleaved round by round in one process. The table goes to stdout, progress
to stderr.

Options:
  --quick        short run (a few minutes; what CI runs)
  --json FILE    also write every row and the machine description to FILE
  --svg FILE     also write a chart of GPU and CPU throughput against batch size
  --only NAME    run only the implementations or workloads whose name contains
                 NAME (case-insensitive; several names: --only a,b)
  --browser      run the GPU group in headless Chromium, on the browser's
                 WebGPU (needs Chromium and puppeteer-core)
  --profile      instead of the workloads: where a GPU tick's time goes, each
                 dispatch's GPU time (timestamp queries) and the host's phases,
                 at batch 1, 1 Ki and 64 Ki through 1 and 3 kernels
  --port N       (serve) the port, default 8080; 0 picks a free one
  --host HOST    (serve) the address to listen on, default 127.0.0.1
  -h, --help     show this help
`;

type Command = { command: 'bench'; options: BenchOptions } | { command: 'serve'; port: number; host: string } | { command: 'help' };

const BENCH_ONLY = ['quick', 'json', 'svg', 'only', 'browser', 'profile'] as const;
const SERVE_ONLY = ['port', 'host'] as const;

function parseCli(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        quick: { type: 'boolean' },
        json: { type: 'string' },
        svg: { type: 'string' },
        only: { type: 'string' },
        browser: { type: 'boolean' },
        profile: { type: 'boolean' },
        port: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  const command = positionals[0];
  if (command === undefined) throw new UsageError('missing command ("bench" or "serve")');
  if (command !== 'bench' && command !== 'serve') throw new UsageError(`unknown command "${command}" (the commands are "bench" and "serve")`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const foreign = (command === 'bench' ? SERVE_ONLY : BENCH_ONLY).find((name) => values[name] !== undefined);
  if (foreign !== undefined) throw new UsageError(`--${foreign} is not an option of "${command}"`);

  if (command === 'serve') {
    const port = values.port === undefined ? 8080 : Number(values.port);
    if (!/^\d+$/.test(values.port ?? '0') || port > 65535) {
      throw new UsageError(`--port ${values.port}: expected a port number 0..65535`);
    }
    const host = values.host ?? '127.0.0.1';
    if (host.trim() === '') throw new UsageError('--host needs an address (e.g. 127.0.0.1, ::1, or 0.0.0.0 for every interface)');
    return { command, port, host };
  }
  if (values.profile === true) {
    const other = (['svg', 'only', 'browser'] as const).find((name) => values[name] !== undefined);
    if (other !== undefined) throw new UsageError(`--${other} is not an option of "bench --profile"`);
  }
  if (values.json !== undefined) checkWritable(values.json, '--json');
  if (values.svg !== undefined) checkWritable(values.svg, '--svg');
  let only: string[] | null = null;
  if (values.only !== undefined) {
    only = values.only
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== '');
    if (only.length === 0) throw new UsageError('--only needs a name');
  }
  return {
    command,
    options: { quick: values.quick ?? false, json: values.json ?? null, svg: values.svg ?? null, only, browser: values.browser ?? false, profile: values.profile ?? false },
  };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Serves until SIGINT/SIGTERM, then closes the server and returns. */
async function serve(port: number, host: string): Promise<void> {
  let server;
  try {
    server = await serveDemo({ port, host });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use on ${host}: choose another with --port N (0: any free port)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`--host ${host}: not an address of this machine`);
    throw error;
  }
  process.stdout.write(`ringkernel demo: ${server.url}\n(open it in a browser with WebGPU; Ctrl+C stops)\n`);
  if (!LOOPBACK.test(host)) {
    process.stderr.write(
      `ringkernel: serving on ${host}, beyond this machine. Browsers give WebGPU only to secure contexts:\n` +
        `  https, or http on localhost; from another machine over plain http the page runs on its CPU backend.\n`,
    );
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}

async function main(argv: string[]): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCli(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`ringkernel: ${err.message}\nRun "ringkernel --help" for usage.\n`);
    return 2;
  }
  if (cmd.command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    if (cmd.command === 'serve') await serve(cmd.port, cmd.host);
    else await bench(cmd.options);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ringkernel: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`ringkernel ${cmd.command} failed: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
