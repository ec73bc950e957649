/**
 * One `rtctl latency` run as a child process (`--json`), with what rtctl cannot see from the
 * outside: CPU seconds of the service, of PostgreSQL (every postgres process, lib/proc.ts
 * `treeCpuSeconds`) and of rtctl itself over the measured phase, and the service's longest
 * event-loop stall over that phase (prom-client's `nodejs_eventloop_lag_max_seconds` on /metrics,
 * a `monitorEventLoopDelay` max that resets at each scrape: scraped once when the measured phase
 * begins and once when it ends, so it covers exactly that phase and costs the service two scrapes).
 *
 * The measured phase is located from rtctl's own progress: it prints "sending N write(s)" on stderr
 * when its schedule starts, the warm-up follows, then `duration` of measured writes.
 */
import { spawn } from 'node:child_process';
import { REPO_ROOT, RTCTL_BUILT } from '../../tools/paths.js';
import { TEST_SECRET } from '../../tools/token.js';
import { Interrupted, type Interrupt } from './interrupt.js';
import { treeCpuSeconds } from './proc.js';

export interface LatencyRunOptions {
  url: string;
  users: number;
  devices: number;
  rate: number;
  durationS: number;
  warmupS: number;
  /** The service process, and the postmaster when there is one (its pid is read when sampling). */
  servicePid: number;
  postgresPid?: () => number | null;
  /** rtctl's `--mix` (default: rtctl's own mix, cli/LATENCY.md). */
  mix?: string;
  secret?: string;
  /** Node options for rtctl itself (e.g. `--cpu-prof`, loadtest/profile-write.ts). */
  harnessNodeArgs?: string[];
}

export interface Percentiles {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

export interface LatencyRun {
  rate: number;
  users: number;
  devices: number;
  achievedRate: number | null;
  status: string;
  delivery: Percentiles;
  rest: Percentiles;
  /** HdrHistogram, compressed base64, µs (rtctl's `deliveryHistogram`). */
  deliveryHistogram: string | null;
  writes: { measured: number; failed: number };
  /** Every correctness counter of rtctl's report; all must be 0 for a pass. */
  correctness: { missing: number; duplicates: number; outOfOrder: number; crossUser: number; unexpected: number; resyncs: number; failedWrites: number };
  /** The longest event-loop stall of the service over the measured phase, ms (null: not measured). */
  serviceStallMs: number | null;
  /** CPU ms per measured write over the measured phase (null: not measured). */
  cpuMsPerWrite: { service: number | null; postgres: number | null; harness: number | null };
  harness: { eventLoopP99Ms: number | null; lateP99Ms: number | null; healthy: boolean | null };
  firstFailure: string | null;
  /** p99 < 100 ms, at least one sample, every correctness counter 0. */
  passed: boolean;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function percentiles(p: Record<string, unknown> | undefined): Percentiles {
  return { count: num(p?.count) ?? 0, p50: num(p?.p50Ms), p90: num(p?.p90Ms), p99: num(p?.p99Ms), p999: num(p?.p999Ms), max: num(p?.maxMs) };
}

/** Reads the max event-loop lag since the previous scrape; null when /metrics does not answer. */
async function scrapeLagMaxMs(url: string): Promise<number | null> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const m = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([\d.e+-]+)$/m.exec(text);
    return m ? Number(m[1]) * 1000 : null;
  } catch {
    return null;
  }
}

interface CpuSample {
  service: number | null;
  postgres: number | null;
  harness: number | null;
}

export function runLatency(o: LatencyRunOptions, interrupt: Interrupt): Promise<LatencyRun> {
  interrupt.check();
  const args = [
    '--url', o.url, '--json', 'latency',
    '--users', String(o.users), '--devices', String(o.devices), '--rate', String(o.rate),
    '--duration', `${o.durationS}s`, '--warmup', `${o.warmupS}s`, '--p99', '100', '--no-cleanup',
    ...(o.mix ? ['--mix', o.mix] : []),
  ];
  const child = spawn(process.execPath, [...(o.harnessNodeArgs ?? []), RTCTL_BUILT, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, JWT_SECRET: o.secret ?? TEST_SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sample = (): CpuSample => {
    const pg = o.postgresPid?.() ?? null;
    return { service: treeCpuSeconds(o.servicePid), postgres: pg === null ? null : treeCpuSeconds(pg), harness: child.pid ? treeCpuSeconds(child.pid) : null };
  };
  let out = '';
  let err = '';
  let begin: CpuSample | null = null;
  let end: CpuSample | null = null;
  let stall: number | null = null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const wait = (ms: number) => new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    void exited.then(() => (clearTimeout(t), resolve()));
  });
  let measuring: Promise<void> = Promise.resolve();
  const measurePhase = async () => {
    // rtctl's schedule starts 20 ms after it says so; the warm-up's writes come first.
    await wait(o.warmupS * 1000 + 20);
    if (child.exitCode !== null) return;
    begin = sample();
    const reset = scrapeLagMaxMs(o.url); // resets the service's max; the phase's clock runs meanwhile
    // rtctl exits as soon as its last write is delivered: keep its latest figure in case it is gone
    // when the phase ends.
    let lastHarness = begin.harness;
    const poll = setInterval(() => (lastHarness = (child.pid ? treeCpuSeconds(child.pid) : null) ?? lastHarness), 250);
    await wait(o.durationS * 1000);
    clearInterval(poll);
    const e = sample();
    end = { ...e, harness: e.harness ?? lastHarness };
    await reset;
    stall = await scrapeLagMaxMs(o.url);
  };
  child.stdout.on('data', (c: Buffer) => (out += String(c)));
  child.stderr.on('data', (c: Buffer) => {
    const seen = err.includes('-- sending');
    err = (err + String(c)).slice(-20_000);
    if (!seen && err.includes('-- sending')) measuring = measurePhase();
  });
  const onAbort = () => child.kill('SIGINT');
  interrupt.signal.addEventListener('abort', onAbort, { once: true });
  return exited.then(async (code) => {
    interrupt.signal.removeEventListener('abort', onAbort);
    await measuring;
    if (interrupt.signal.aborted) throw new Interrupted();
    let report: Report;
    try {
      report = JSON.parse(out.trim().split('\n').pop()!) as Report;
    } catch {
      throw new Error(`rtctl latency exited ${code} without a report:\n${err.slice(-2_000)}`);
    }
    return figures(o, report, begin, end, stall);
  });
}

/** The fields of rtctl's JSON report (cli/LATENCY.md, schema 1) read here. */
interface Report {
  status?: string;
  writes?: { measured?: number; failed?: number; achievedRate?: number; failures?: string[] };
  latency?: { delivery?: Record<string, unknown>; rest?: Record<string, unknown>; deliveryHistogram?: string };
  correctness?: Record<string, number | undefined>;
  harness?: { healthy?: boolean; eventLoopDelayMs?: { p99?: number }; scheduleLatenessMs?: { p99Ms?: number } };
}

function figures(o: LatencyRunOptions, r: Report, begin: CpuSample | null, end: CpuSample | null, stall: number | null): LatencyRun {
  const c = r.correctness ?? {};
  const measured = num(r.writes?.measured) ?? 0;
  const perWrite = (k: keyof CpuSample) => {
    const a = begin?.[k];
    const b = end?.[k];
    return a == null || b == null || measured === 0 ? null : ((b - a) * 1000) / measured;
  };
  const correctness = {
    missing: num(c.missing) ?? 0,
    duplicates: num(c.duplicates) ?? 0,
    outOfOrder: num(c.outOfOrder) ?? 0,
    crossUser: num(c.crossUser) ?? 0,
    unexpected: num(c.unexpected) ?? 0,
    resyncs: num(c.resyncs) ?? 0,
    failedWrites: num(r.writes?.failed) ?? 0,
  };
  const delivery = percentiles(r.latency?.delivery);
  const clean = Object.values(correctness).every((v) => v === 0);
  return {
    rate: o.rate,
    users: o.users,
    devices: o.devices,
    achievedRate: num(r.writes?.achievedRate),
    status: String(r.status ?? 'unknown'),
    delivery,
    rest: percentiles(r.latency?.rest),
    deliveryHistogram: typeof r.latency?.deliveryHistogram === 'string' ? r.latency.deliveryHistogram : null,
    writes: { measured, failed: correctness.failedWrites },
    correctness,
    serviceStallMs: stall,
    cpuMsPerWrite: { service: perWrite('service'), postgres: perWrite('postgres'), harness: perWrite('harness') },
    harness: { eventLoopP99Ms: num(r.harness?.eventLoopDelayMs?.p99), lateP99Ms: num(r.harness?.scheduleLatenessMs?.p99Ms), healthy: r.harness?.healthy ?? null },
    firstFailure: r.writes?.failures?.[0] ?? null,
    passed: clean && delivery.count > 0 && delivery.p99 !== null && delivery.p99 < 100,
  };
}

const f = (v: number | null, d = 1) => (v === null ? '-' : v.toFixed(d));

/** One line per run, for the console. */
export function describeRun(x: LatencyRun): string {
  const bad = Object.entries(x.correctness).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`);
  return `${x.rate}/s (achieved ${x.achievedRate ?? '-'}) ${x.users}×${x.devices}: delivery p50 ${f(x.delivery.p50, 2)} p99 ${f(x.delivery.p99, 2)} p99.9 ${f(x.delivery.p999, 2)} max ${f(x.delivery.max)} ms (n=${x.delivery.count}); stall ${f(x.serviceStallMs)} ms; CPU ms/write service ${f(x.cpuMsPerWrite.service, 3)} postgres ${f(x.cpuMsPerWrite.postgres, 3)} rtctl ${f(x.cpuMsPerWrite.harness, 3)}; ${bad.length ? bad.join(', ') : 'counters 0'} → ${x.passed ? 'pass' : 'FAIL'}`;
}
