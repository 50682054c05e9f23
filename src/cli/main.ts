/**
 * `ringkernel`, the package's program: parses the command line (node:util parseArgs) and runs a
 * subcommand. The library (src/index.ts) never imports this file or bench/; this program does.
 *
 *   ringkernel bench [--quick] [--json FILE] [--svg FILE] [--only NAME]
 */
import { parseArgs } from 'node:util';
import { UsageError, bench, checkWritable, type BenchOptions } from '../../bench/run.js';

const USAGE = `Usage: ringkernel bench [--quick] [--json FILE] [--svg FILE] [--only NAME]

Measures ringkernel's MessageQueue against the stable priority queues a Node
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
  -h, --help     show this help
`;

function parseCli(argv: string[]): BenchOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        quick: { type: 'boolean', default: false },
        json: { type: 'string' },
        svg: { type: 'string' },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length === 0) throw new UsageError('missing command (the only command is "bench")');
  if (positionals[0] !== 'bench') throw new UsageError(`unknown command "${positionals[0]}" (the only command is "bench")`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
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
  return { quick: values.quick, json: values.json ?? null, svg: values.svg ?? null, only };
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions | 'help';
  try {
    opts = parseCli(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`ringkernel: ${err.message}\nRun "ringkernel --help" for usage.\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    await bench(opts);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ringkernel: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`ringkernel bench failed: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
