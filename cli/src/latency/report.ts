/**
 * The latency gate's verdict and its three forms: the JSON report (versioned schema, documented in
 * cli/LATENCY.md), JUnit XML (one test case per threshold and per correctness check) and the
 * plain-text summary. Building the report is pure given an EngineResult.
 */
import { cpus, loadavg } from 'node:os';
import { paint } from '../format.js';
import type { EngineResult } from './engine.js';
import { junitXml, type JUnitCase } from './junit.js';
import { encodeHistogram, summarize, summaryJson, type Summary } from './stats.js';
import { describeThreshold, evaluateThresholds, minSamplesFor, type ThresholdResult } from './thresholds.js';

export const REPORT_SCHEMA_VERSION = 1;

/** Exit codes of `rtctl latency` (k6 uses 99 for a missed threshold). */
export const GateExit = {
  PASS: 0,
  USAGE: 2,
  COULD_NOT_RUN: 3,
  CORRECTNESS: 4,
  THRESHOLD: 99,
  INTERRUPTED: 130,
} as const;

export type GateStatus = 'pass' | 'threshold_failed' | 'correctness_failed' | 'interrupted';

type SummaryJson = ReturnType<typeof summaryJson>;

export interface CorrectnessCheck {
  name: string;
  value: number;
  limit: number;
  pass: boolean;
  description: string;
}

export interface LatencyReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  tool: 'rtctl latency';
  runId: string;
  status: GateStatus;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  urls: string[];
  config: {
    users: number;
    devicesPerUser: number;
    observersPerUser: number;
    rate: number;
    durationMs: number | null;
    writes: number | null;
    warmupMs: number;
    drainMs: number;
    mix: Record<string, number>;
    maxLoss: number;
  };
  writes: { scheduled: number; sent: number; warmup: number; measured: number; ok: number; failed: number; byKind: Record<string, number>; achievedRate: number | null; failures: string[] };
  latency: {
    unit: 'ms';
    /** Per write: the slowest observer's arrival of the write's last event − the write's scheduled time. */
    delivery: SummaryJson;
    byEventType: Record<string, SummaryJson>;
    /** REST response time from the scheduled time. */
    rest: SummaryJson;
    /** Per observer device (user:device), sorted slowest p99 first. */
    byDevice: ({ device: string } & SummaryJson)[];
    /** HdrHistogram compressed base64 (µs) of the delivery latency: decode and add to merge runs. */
    deliveryHistogram: string;
    /** Per second of the measured phase (by scheduled time): writes, mean and worst delivery latency. Shows stalls. */
    timeline: { second: number; writes: number; meanMs: number; maxMs: number }[];
  };
  thresholds: ThresholdResult[];
  correctness: {
    expectedDeliveries: number;
    delivered: number;
    missing: number;
    loss: number;
    duplicates: number;
    outOfOrder: number;
    crossUser: number;
    unexpected: number;
    /** Events of writes that failed on the wire after the server committed them (not counted as unexpected). */
    ofFailedWrites: number;
    resyncs: number;
    reconnects: number;
    checks: CorrectnessCheck[];
  };
  harness: {
    healthy: boolean;
    eventLoopDelayMs: { p50: number; p99: number; max: number; mean: number };
    scheduleLatenessMs: SummaryJson;
    /** The rtctl process's CPU (user + system) over the measured phase and its drain, per measured write sent. */
    cpuMsPerWrite: number | null;
    /** The same CPU in total, and as a share of one core over that time. */
    cpu: { userMs: number; systemMs: number; wallMs: number; coreShare: number | null };
    cpus: number;
    loadAverage: number[];
    node: string;
    deviceErrors: string[];
  };
  cleanup: { deleted: number; failed: number; skipped: boolean };
  warnings: string[];
}

const r3 = (n: number) => Math.round(n * 1000) / 1000;

export function buildReport(res: EngineResult): LatencyReport {
  const t = res.tracker;
  const c = t.counts;
  const delivery = summarize(t.delivery);
  const byType = new Map<string, Summary>([...t.byType].map(([k, h]) => [k, summarize(h)]));
  const rest = summarize(t.rest);
  const summaries = (metric: string) => (metric === 'delivery' ? delivery : metric === 'rest' ? rest : byType.get(metric));
  const thresholds = evaluateThresholds(res.config.thresholds, summaries);
  const loss = c.expectedDeliveries === 0 ? 0 : c.missing / c.expectedDeliveries;
  const checks: CorrectnessCheck[] = [
    { name: 'samples', value: delivery.count, limit: 1, pass: delivery.count > 0, description: 'measured writes delivered to every observer (at least 1)' },
    { name: 'missing', value: c.missing, limit: Math.floor(res.config.maxLoss * c.expectedDeliveries), pass: loss <= res.config.maxLoss, description: `deliveries that never arrived (loss ${(loss * 100).toFixed(3)}%, --max-loss ${res.config.maxLoss * 100}%)` },
    { name: 'duplicates', value: c.duplicates, limit: 0, pass: c.duplicates === 0, description: 'a frame sent twice to one device (other than in answer to its RESUME)' },
    { name: 'out-of-order', value: c.outOfOrder, limit: 0, pass: c.outOfOrder === 0, description: 'a frame ahead of a missing seq (the device had to RESUME)' },
    { name: 'cross-user', value: c.crossUser, limit: 0, pass: c.crossUser === 0, description: "a device received another synthetic user's event" },
    { name: 'unexpected', value: c.unexpected, limit: 0, pass: c.unexpected === 0, description: 'events no write explains, or of another type than the write emitted' },
    { name: 'resyncs', value: c.resyncs, limit: 0, pass: c.resyncs === 0, description: 'RESYNC_REQUIRED during the run (history lost to a device)' },
    { name: 'failed-writes', value: c.writesFailed, limit: 0, pass: c.writesFailed === 0, description: 'writes answered with an error, or not by the end of the drain' },
  ];
  const warnings: string[] = [];
  for (const th of thresholds) if (th.warning) warnings.push(`${describeThreshold(th)}: ${th.warning}`);
  for (const [label, p] of [['p99', 99], ['p99.9', 99.9]] as const) {
    if (delivery.count > 0 && delivery.count < minSamplesFor(p) && !thresholds.some((th) => th.metric === 'delivery' && th.percentile === p)) {
      warnings.push(`delivery ${label}: only ${delivery.count} sample(s), it needs at least ${minSamplesFor(p)} to differ from the maximum`);
    }
  }
  const lateness = summarize(res.lateness);
  const healthy = res.eventLoop.p99Ms < 20 && (lateness.p99Ms ?? 0) < 20;
  if (!healthy) {
    warnings.push(
      `harness overloaded: event-loop delay p99 ${res.eventLoop.p99Ms.toFixed(1)} ms, writes left up to ${(lateness.p99Ms ?? 0).toFixed(1)} ms late (p99): part of the latency is this machine's, not the server's`,
    );
  }
  if (res.interrupted) warnings.push('interrupted: partial run, figures cover only what was sent');
  if (res.cleanup.failed > 0) warnings.push(`cleanup: ${res.cleanup.failed} list or delete request(s) failed; some of the synthetic users' data may remain`);
  if (res.deviceErrors.length > 0) warnings.push(`${res.deviceErrors.length} device(s) stopped with an error: ${res.deviceErrors[0]}`);

  const correctnessOk = checks.every((k) => k.pass);
  const thresholdsOk = thresholds.every((th) => th.pass);
  const status: GateStatus = res.interrupted ? 'interrupted' : !correctnessOk ? 'correctness_failed' : !thresholdsOk ? 'threshold_failed' : 'pass';
  const exitCode = { pass: GateExit.PASS, threshold_failed: GateExit.THRESHOLD, correctness_failed: GateExit.CORRECTNESS, interrupted: GateExit.INTERRUPTED }[status];
  const measuredWrites = Math.max(0, res.writesSent - res.warmupWrites);
  const byDevice = [...t.byDevice]
    .map(([k, h]) => {
      const [u, d] = k.split(':');
      return { device: `lat-${res.config.runId}-${u}/o${d}`, ...summaryJson(summarize(h)) };
    })
    .sort((a, b) => (b.p99Ms ?? 0) - (a.p99Ms ?? 0));

  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: 'rtctl latency',
    runId: res.config.runId,
    status,
    exitCode,
    startedAt: res.startedAt.toISOString(),
    finishedAt: res.finishedAt.toISOString(),
    urls: res.urls,
    config: {
      users: res.config.users,
      devicesPerUser: res.config.devices,
      observersPerUser: res.config.devices - 1,
      rate: res.config.rate,
      durationMs: res.config.durationMs,
      writes: res.config.writes,
      warmupMs: res.config.warmupMs,
      drainMs: res.config.drainMs,
      mix: res.config.mix,
      maxLoss: res.config.maxLoss,
    },
    writes: {
      scheduled: res.writesScheduled,
      sent: res.writesSent,
      warmup: Math.min(res.warmupWrites, res.writesSent),
      measured: measuredWrites,
      ok: c.writesOk,
      failed: c.writesFailed,
      byKind: res.byKind,
      achievedRate: res.measuredElapsedMs > 0 ? r3((measuredWrites / res.measuredElapsedMs) * 1000) : null,
      failures: t.failures,
    },
    latency: {
      unit: 'ms',
      delivery: summaryJson(delivery),
      byEventType: Object.fromEntries([...byType].sort(([a], [b]) => a.localeCompare(b)).map(([k, s]) => [k, summaryJson(s)])),
      rest: summaryJson(rest),
      byDevice,
      deliveryHistogram: encodeHistogram(t.delivery),
      timeline: timelineOf(t.timeline),
    },
    thresholds,
    correctness: {
      expectedDeliveries: c.expectedDeliveries,
      delivered: c.delivered,
      missing: c.missing,
      loss,
      duplicates: c.duplicates,
      outOfOrder: c.outOfOrder,
      crossUser: c.crossUser,
      unexpected: c.unexpected,
      ofFailedWrites: c.ofFailedWrites,
      resyncs: c.resyncs,
      reconnects: c.reconnects,
      checks,
    },
    harness: {
      healthy,
      eventLoopDelayMs: { p50: r3(res.eventLoop.p50Ms), p99: r3(res.eventLoop.p99Ms), max: r3(res.eventLoop.maxMs), mean: r3(res.eventLoop.meanMs) },
      scheduleLatenessMs: summaryJson(lateness),
      cpuMsPerWrite: measuredWrites > 0 && res.cpu.wallMs > 0 ? r3((res.cpu.userMs + res.cpu.systemMs) / measuredWrites) : null,
      cpu: {
        userMs: Math.round(res.cpu.userMs),
        systemMs: Math.round(res.cpu.systemMs),
        wallMs: Math.round(res.cpu.wallMs),
        coreShare: res.cpu.wallMs > 0 ? r3((res.cpu.userMs + res.cpu.systemMs) / res.cpu.wallMs) : null,
      },
      cpus: cpus().length,
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
      node: process.version,
      deviceErrors: res.deviceErrors,
    },
    cleanup: res.cleanup,
    warnings,
  };
}

function timelineOf(slots: Map<number, { writes: number; maxMs: number; sumMs: number }>): LatencyReport['latency']['timeline'] {
  const keys = [...slots.keys()].sort((a, b) => a - b);
  const first = keys[0] ?? 0;
  return keys.map((k) => {
    const s = slots.get(k)!;
    return { second: k - first, writes: s.writes, meanMs: r3(s.sumMs / s.writes), maxMs: r3(s.maxMs) };
  });
}

export function reportJunit(r: LatencyReport): string {
  const time = (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000;
  const cases: JUnitCase[] = [
    ...r.thresholds.map((th) => ({
      classname: 'rtctl.latency.thresholds',
      name: `${th.expression} (${describeThreshold(th)})`,
      failure: th.pass ? null : th.actualMs === null ? `${describeThreshold(th)}: no samples` : `${describeThreshold(th)}: actual ${th.actualMs} ms over ${th.samples} sample(s)`,
      details: `${th.metric} ${th.stat} = ${th.actualMs ?? 'n/a'} ms (limit ${th.op} ${th.limitMs} ms, ${th.samples} samples)${th.warning ? `; warning: ${th.warning}` : ''}`,
    })),
    ...r.correctness.checks.map((k) => ({
      classname: 'rtctl.latency.correctness',
      name: k.name,
      failure: k.pass ? null : `${k.name} = ${k.value} (limit ${k.limit}): ${k.description}`,
      details: `${k.name} = ${k.value} (limit ${k.limit}): ${k.description}`,
    })),
  ];
  return junitXml([{ name: `rtctl latency (run ${r.runId})`, timestamp: r.startedAt, timeSec: time, cases }]);
}

const fmt = (v: number | null) => (v === null ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

function row(label: string, s: SummaryJson): string {
  return `  ${label.padEnd(24)}${String(s.count).padStart(8)}${fmt(s.p50Ms).padStart(8)}${fmt(s.p90Ms).padStart(8)}${fmt(s.p99Ms).padStart(8)}${fmt(s.p999Ms).padStart(8)}${fmt(s.maxMs).padStart(8)}${fmt(s.meanMs).padStart(8)}`;
}

/** The human summary: what was run, the figures, each threshold and check, and the verdict. */
export function reportText(r: LatencyReport, color = false): string {
  const out: string[] = [];
  const ok = (pass: boolean) => (pass ? paint(color, 'green', 'ok  ') : paint(color, 'red', 'FAIL'));
  out.push(
    `rtctl latency  run ${r.runId}  ${r.config.users} user(s) x ${r.config.devicesPerUser} device(s) (${r.config.observersPerUser} observer(s) each)  ${r.config.rate} writes/s open loop`,
    `  writes: ${r.writes.measured} measured + ${r.writes.warmup} warm-up sent (${r.writes.scheduled} scheduled), ${r.writes.failed} failed, achieved ${r.writes.achievedRate ?? '-'}/s; ${Object.entries(r.writes.byKind).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    '',
    `  ${'latency (ms)'.padEnd(24)}${'count'.padStart(8)}${'p50'.padStart(8)}${'p90'.padStart(8)}${'p99'.padStart(8)}${'p99.9'.padStart(8)}${'max'.padStart(8)}${'mean'.padStart(8)}`,
    row('delivery (all obs.)', r.latency.delivery),
    ...Object.entries(r.latency.byEventType).map(([k, s]) => row(`  ${k}`, s)),
    row('REST response', r.latency.rest),
  );
  const worstSecond = [...r.latency.timeline].sort((a, b) => b.maxMs - a.maxMs)[0];
  if (worstSecond && r.latency.timeline.length > 1) {
    out.push(`  worst second: +${worstSecond.second}s of the measured phase, max ${fmt(worstSecond.maxMs)} ms, mean ${fmt(worstSecond.meanMs)} ms over ${worstSecond.writes} write(s)`);
  }
  const worst = r.latency.byDevice[0];
  if (worst) out.push(`  slowest observer: ${worst.device} p99 ${fmt(worst.p99Ms)} ms, max ${fmt(worst.maxMs)} ms (${r.latency.byDevice.length} observers)`);
  out.push('', '  thresholds:');
  for (const th of r.thresholds) out.push(`    ${ok(th.pass)} ${describeThreshold(th)}  actual ${th.actualMs === null ? 'n/a' : `${th.actualMs} ms`}`);
  out.push('  correctness:');
  for (const k of r.correctness.checks) out.push(`    ${ok(k.pass)} ${k.name} = ${k.value}${k.pass ? '' : `  (${k.description})`}`);
  const h = r.harness;
  out.push(
    `  harness: event-loop delay p99 ${h.eventLoopDelayMs.p99} ms (max ${h.eventLoopDelayMs.max}), schedule lateness p99 ${fmt(h.scheduleLatenessMs.p99Ms)} ms (max ${fmt(h.scheduleLatenessMs.maxMs)}), CPU ${h.cpuMsPerWrite === null ? '-' : h.cpuMsPerWrite.toFixed(3)} ms/write (${h.cpu.coreShare === null ? '-' : `${Math.round(h.cpu.coreShare * 100)}%`} of a core), load ${h.loadAverage.join(' ')} on ${h.cpus} CPU(s)${h.healthy ? '' : paint(color, 'yellow', '  UNHEALTHY')}`,
  );
  if (r.writes.failures.length > 0) out.push(`  first failures: ${r.writes.failures.slice(0, 3).join('; ')}`);
  for (const w of r.warnings) out.push(paint(color, 'yellow', `  warning: ${w}`));
  const verdict = {
    pass: paint(color, 'green', 'PASS'),
    threshold_failed: paint(color, 'red', 'FAIL: a latency threshold was missed (exit 99)'),
    correctness_failed: paint(color, 'red', 'FAIL: correctness (exit 4)'),
    interrupted: paint(color, 'yellow', 'INTERRUPTED: partial report (exit 130)'),
  }[r.status];
  out.push('', `  ${verdict}`);
  return out.join('\n');
}
