/**
 * The benchmark's text report reads at a glance: rates in the SI prefix that fits them, and an
 * --only run lists only the targets it measured.
 */
import { describe, expect, it } from 'vitest';
import { fmtRate, formatReport, type Report } from '../bench/report.js';
import type { Row, TargetResult } from '../bench/harness.js';

function row(label: string, opsPerSec: number): Row {
  return {
    group: 'g', workload: 'w', title: 'W', params: {}, implementation: label, label, variant: label, kind: 'ringkernel' as Row['kind'], unit: 'pairs',
    opsPerSec, spread: 0.01, rounds: [opsPerSec], p50Ns: 1000, p99Ns: 2000, opsPerCall: 1, opsPerRound: 1, ratio: null, baseline: null,
  } as Row;
}

function report(only: string | null, targets: TargetResult[]): Report {
  return {
    tool: 'ringkernel', version: '0', latencyNote: '', elapsedSeconds: 1, skippedGroups: [], groupHeaders: [], measured: [],
    machine: { cpu: 'x', cores: 2, memoryGiB: 1, os: 'os', node: 'v20', v8: 'v8', date: 'd', loadAverage: 0 },
    config: { quick: true, rounds: 1, roundMs: 1, warmupMs: 1, maxCallMs: 1, only },
    workloads: [{ group: 'g', id: 'w', title: 'W', unit: 'pairs', description: 'd', params: {} }],
    rows: [row('slow', 4600), row('fast', 2.91e6), row('tiny', 512)],
    targets,
  } as Report;
}

const targets: TargetResult[] = [
  { target: 'measured one', measured: '1 M', met: true },
  { target: 'filtered out', measured: 'not measured', met: null },
];

describe('bench report', () => {
  it('rates print in the SI prefix that fits, three significant digits', () => {
    expect([4600, 170_000, 2.91e6, 512, 999_600, 1.5e9, 0.5].map(fmtRate)).toEqual(['4.60 k', '170 k', '2.91 M', '512', '1.00 M', '1.50 G', '0.50']);
  });

  it('the table heads the column with the unit and prints each row in its own prefix', () => {
    const text = formatReport(report(null, targets));
    expect(text).toMatch(/implementation\s+pairs\/s/);
    expect(text).toMatch(/slow\s+4\.60 k/);
    expect(text).toMatch(/fast\s+2\.91 M/);
    expect(text).toMatch(/tiny\s+512 /);
    expect(text).not.toMatch(/0\.0046/);
  });

  it('an --only run lists only the targets it measured; a full run lists every one', () => {
    expect(formatReport(report('fast', targets))).not.toMatch(/filtered out/);
    expect(formatReport(report('fast', targets))).toMatch(/MET {4}measured one/);
    expect(formatReport(report(null, targets))).toMatch(/n\/a {4}filtered out: not measured/);
  });
});
