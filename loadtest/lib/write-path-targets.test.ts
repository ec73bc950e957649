import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseParts } from '../bench.js';
import type { CeilingReport } from '../write-ceiling.js';
import type { LatencyRun } from './latency-run.js';
import { treeCpuSeconds } from './proc.js';
import { writePathSections } from './write-path-report.js';
import { checkTargets, type WritePathReport } from './write-path-targets.js';

const run = (over: Partial<LatencyRun> = {}): LatencyRun => ({
  rate: 300,
  users: 100,
  devices: 3,
  achievedRate: 300,
  status: 'pass',
  delivery: { count: 9000, p50: 2.5, p90: 6, p99: 12, p999: 30, max: 40 },
  rest: { count: 9000, p50: 1.5, p90: 3, p99: 8, p999: 20, max: 30 },
  deliveryHistogram: null,
  writes: { measured: 9000, failed: 0 },
  correctness: { missing: 0, duplicates: 0, outOfOrder: 0, crossUser: 0, unexpected: 0, resyncs: 0, failedWrites: 0 },
  serviceStallMs: 20,
  cpuMsPerWrite: { service: 0.3, postgres: 0.4, harness: 0.5 },
  harness: { eventLoopP99Ms: 5, lateP99Ms: 1, healthy: true },
  firstFailure: null,
  passed: true,
  ...over,
});

const ladder = (mode: CeilingReport['mode'], ceiling: number, stall: number | null): CeilingReport => ({
  mode,
  storage: mode,
  options: { mode, rates: [300, 1200, 1500], users: 100, devices: 3, durationS: 15, warmupS: 5 },
  steps: [run({ rate: 300 }), run({ rate: 1200, serviceStallMs: stall }), run({ rate: 1500, passed: false })],
  ceiling,
  passedAll: false,
  stallAtCeilingMs: stall,
  longestStallMs: stall,
});

const report = (over: Partial<WritePathReport> = {}): WritePathReport => ({
  pgbench: { script: 'rt_draft_create', settings: 'fsync=on', clients: 8, seconds: 15, tps: 2000, latencyMs: 4, transactions: 30_000, failed: 0, postgresCpuMsPerTx: 0.5, atRate: null },
  ceiling: ladder('postgres', 1200, 30),
  embedded: [ladder('embedded', 1200, 150), ladder('embedded-worker', 1200, 40)],
  embeddedStart: { starts: [{ readyMs: 1300, rssMb: 210 }, { readyMs: 1250, rssMb: 262 }], rssMb: { median: 210, min: 210, max: 262 }, readyMs: { median: 1250, min: 1250, max: 1300 } },
  e2e: { options: { rate: 300, users: [100, 1000], devices: 3, durationS: 30, warmupS: 5 }, storage: 'PostgreSQL', runs: [run(), run({ users: 1000 })], createOnly: null },
  fairPeer: null,
  ...over,
});

describe('write-path targets', () => {
  it('says met, not met or not measured for each of the issue\'s targets', () => {
    const t = checkTargets(report());
    expect(t).toHaveLength(10);
    expect(t[0]!.met).toBe(true); // 1,200 ≥ 1,200
    expect(t[1]!.met).toBe(true); // 1,200 / 2,000 = 0.6
    expect(t[1]!.figure).toContain('0.60');
    expect(t[2]!.met).toBe(true); // p50 2.5 ≤ 3
    expect(t[3]!.met).toBe(true); // p99 12 ≤ 15
    expect(t[4]!.met).toBe(false); // main-thread PGlite stalled 150 ms at its ceiling
    expect(t[5]!.met).toBe(true);
    expect(t[6]!.met).toBe(false); // one start at 262 MB: every start must be ≤ 250
    expect(t[6]!.figure).toContain('210.0–262.0 over 2 start(s)');
    expect(t[7]!.met).toBe(false); // rtctl 0.5 > 0.3
    expect(t[8]!.met).toBe(true); // 0.3 ≤ 0.35
    expect(t[9]!.met).toBe(true); // 0.4 ≤ 0.5
  });

  it("puts pgbench's own latency at the e2e rate beside the e2e figures, and its table in the report", () => {
    const atRate = { rate: 300, seconds: 15, tps: 300, transactions: 4500, postgresCpuMsPerTx: 1.2, latency: { p50: 1.5, p99: 9.25, p999: 14, max: 20.5 } };
    const r = report({ pgbench: { ...report().pgbench!, atRate } });
    const t = checkTargets(r);
    expect(t[2]!.figure).toContain("pgbench's transaction alone at -R 300: 1.5 ms");
    expect(t[3]!.figure).toContain("pgbench's transaction alone at -R 300: 9.25 ms");
    expect(writePathSections(r, t, (name) => `${name}.svg`).join('\n')).toContain('| 300/s | 300 | 1.50 | 9.25 | 14.00 | 20.5 | 1.200 |');
  });

  it("compares PostgreSQL's CPU like with like when both runs are there: draft creates only against pgbench at the same rate", () => {
    const atRate = { rate: 300, seconds: 15, tps: 300, transactions: 4500, postgresCpuMsPerTx: 0.6, latency: null };
    const base = report({ pgbench: { ...report().pgbench!, atRate } });
    const createOnly = run({ cpuMsPerWrite: { service: 0.5, postgres: 0.55, harness: 0.3 } });
    // default mix 0.4 ≤ 0.5 saturated, but the like-for-like figures decide: 0.55 ≤ 0.6
    let t = checkTargets({ ...base, e2e: { ...base.e2e!, createOnly } })[9]!;
    expect(t.met).toBe(true);
    expect(t.figure).toBe('draft creates (--mix create=1) 0.550 ms/write at 300/s; default mix 0.400 ms/write; pgbench rt_draft_create 0.600 ms/transaction at -R 300; 0.500 saturated');
    t = checkTargets({ ...base, e2e: { ...base.e2e!, createOnly: run({ cpuMsPerWrite: { service: 0.5, postgres: 0.65, harness: 0.3 } }) } })[9]!;
    expect(t.met).toBe(false);
  });

  it('fails the e2e targets when a correctness counter is not 0, whatever the latency', () => {
    const t = checkTargets(report({ e2e: { ...report().e2e!, runs: [run({ correctness: { ...run().correctness, missing: 3 } })] } }));
    expect(t[2]!.met).toBe(false);
    expect(t[2]!.figure).toContain('NOT 0');
  });

  it('marks the targets of parts that did not run as not measured, and the report says so', () => {
    const t = checkTargets({ pgbench: null, ceiling: null, embedded: [], embeddedStart: null, e2e: null, fairPeer: null });
    expect(t.every((x) => x.met === null)).toBe(true);
    const lines = writePathSections(report({ pgbench: null }), checkTargets(report({ pgbench: null })), (name) => `${name}.svg`);
    expect(lines.join('\n')).toContain('| not measured |');
    expect(lines.join('\n')).toContain('**NOT met**');
  });
});

describe('bench parts', () => {
  it('parses --only with its aliases and refuses unknown parts', () => {
    expect([...parseParts('write-path')].sort()).toEqual(['ceiling', 'e2e', 'embedded', 'fair-peer', 'pgbench']);
    expect([...parseParts('cpu,pgbench')].sort()).toEqual(['e2e', 'pgbench']);
    expect(parseParts(undefined, true).has('scale')).toBe(false);
    expect(parseParts(undefined).size).toBe(8);
    expect(() => parseParts('pgbench,nope')).toThrow(/unknown part 'nope'/);
  });
});

describe('process-tree CPU', () => {
  it('counts the CPU of children that already exited (a backend that ended mid-phase)', () => {
    // A CPU-bound child (a fixed amount of work, not of time) that has exited and been reaped: its
    // CPU is in this process's cutime, which treeCpuSeconds adds.
    const before = treeCpuSeconds(process.pid)!;
    spawnSync(process.execPath, ['-e', 'let x = 0; for (let i = 0; i < 3e8; i++) x += i % 7; if (x < 0) console.log(x)']);
    const after = treeCpuSeconds(process.pid)!;
    expect(after - before).toBeGreaterThan(0.05);
  });
});
