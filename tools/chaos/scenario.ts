/**
 * The chaos scenario, shared by the CI test (service/test/chaos.redis.test.ts: one cycle) and
 * `npm run soak` (cycles until a target of delivered events): start the cluster, connect the
 * observers, let the writers run, inject the four faults per cycle while writes flow, stop the
 * writers, let the observers drain, and check (checker.ts). Every process it started is stopped
 * before it returns or throws, and when `signal` aborts (Ctrl-C) it stops at the next step.
 */
import type { RedisServer } from '../redis-server.js';
import { verify, type Verdict } from './checker.js';
import { startCluster, type Cluster } from './cluster.js';
import { FAULT_KINDS, injectFault, type FaultOptions, type FaultResult } from './faults.js';
import { faultLine } from './report.js';
import { Workload } from './workload.js';

export interface ScenarioOptions {
  users: number;
  observersPerUser: number;
  /** Writes per second over all users. */
  writesPerSecond: number;
  /** Writes flow this long before the first fault. */
  warmupMs: number;
  /** Stop after this many cycles of the four faults… */
  cycles?: number;
  /** …or once a cycle ends with at least this many events delivered to observers… */
  targetDeliveries?: number;
  /** …and in any case inject no new fault after this long (a bound on the run's time). */
  maxDurationMs?: number;
  fault: Omit<FaultOptions, 'pgMode'> & {
    /** `pg_ctl stop -m` per cycle: 'alternate' is immediate on even cycles, fast on odd ones. */
    pgMode: FaultOptions['pgMode'] | 'alternate';
  };
  /** How long the observers may take to catch up once the writers stopped. */
  drainTimeoutMs: number;
  /** A Redis started by the caller; else the cluster starts its own. */
  redis?: RedisServer;
  /** Progress lines (faults, and the counts every `progressEveryMs`). */
  log?: (line: string) => void;
  progressEveryMs?: number;
  signal?: AbortSignal;
  /** Told of the cluster once it is up (the soak's second Ctrl-C stops it without waiting for the scenario). */
  onCluster?: (cluster: Cluster) => void;
}

export interface ChaosResult {
  verdict: Verdict;
  faults: FaultResult[];
  cycles: number;
  elapsedMs: number;
  /** The run ended early (aborted, or maxDurationMs before the target). */
  cutShort: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(o: ScenarioOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => undefined);
  const started = Date.now();
  const faults: FaultResult[] = [];
  let workload: Workload | null = null;
  let progress: NodeJS.Timeout | undefined;
  let cutShort: string | null = null;
  let cycles = 0;
  let stopCluster: (() => Promise<void>) | null = null;
  const main = async (): Promise<ChaosResult> => {
    const c = await startCluster({ redis: o.redis, onStop: (stop) => (stopCluster = stop) });
    o.onCluster?.(c);
    log(`cluster up in ${Date.now() - started} ms: ${c.urls.join(', ')}, postgres :${c.pg.port} (fsync on), redis :${c.redis.port}`);
    workload = await Workload.create({ urls: c.urls, users: o.users, observersPerUser: o.observersPerUser, writesPerSecond: o.writesPerSecond });
    const w = workload;
    log(`${w.observers.length} observers connected; writing ${o.writesPerSecond}/s over ${o.users} users`);
    if (o.progressEveryMs) {
      let prev = { t: Date.now(), ...w.totals() };
      progress = setInterval(() => {
        const now = { t: Date.now(), ...w.totals() };
        const s = (now.t - prev.t) / 1000;
        log(
          `[${((now.t - started) / 1000).toFixed(0)} s] writes ${now.writes} (${((now.writes - prev.writes) / s).toFixed(0)}/s), ` +
            `deliveries ${now.deliveries} (${((now.deliveries - prev.deliveries) / s).toFixed(0)}/s), retries ${now.retries}` +
            (o.targetDeliveries ? `, ${((100 * now.deliveries) / o.targetDeliveries).toFixed(1)}% of ${o.targetDeliveries}` : ''),
        );
        prev = now;
      }, o.progressEveryMs);
    }
    w.startWriters();
    await sleep(o.warmupMs);
    for (;;) {
      if (o.signal?.aborted) {
        cutShort = 'aborted';
        break;
      }
      const pgMode = o.fault.pgMode === 'alternate' ? (cycles % 2 === 0 ? 'immediate' : 'fast') : o.fault.pgMode;
      const overTime = () => o.maxDurationMs !== undefined && Date.now() - started > o.maxDurationMs;
      for (const kind of FAULT_KINDS) {
        if (o.signal?.aborted || overTime()) break;
        const r = await injectFault(kind, cycles, c, w, { ...o.fault, pgMode });
        faults.push(r);
        log(faultLine(r));
      }
      cycles += 1;
      if (o.cycles !== undefined && cycles >= o.cycles) break;
      if (o.targetDeliveries !== undefined && w.totals().deliveries >= o.targetDeliveries) break;
      if (overTime()) {
        cutShort = `time bound (${o.maxDurationMs} ms) reached after ${cycles} cycles (the last one possibly incomplete)`;
        break;
      }
    }
    if (progress) clearInterval(progress);
    await w.stopWriters(60_000);
    const drained = await w.drain(o.drainTimeoutMs);
    log(`writers stopped; observers ${drained ? 'caught up' : `not all caught up within ${o.drainTimeoutMs} ms`}`);
    const verdict = await verify(w, c, faults);
    return { verdict, faults, cycles, elapsedMs: Date.now() - started, cutShort };
  };
  // Aborted (Ctrl-C): do not wait for the step in progress (a fault may wait a minute for its
  // recovery); stop everything now. The abandoned step then fails against stopped processes.
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('chaos run aborted'));
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([main(), aborted]);
  } finally {
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
    if (progress) clearInterval(progress);
    await (workload as Workload | null)?.close().catch(() => undefined);
    await (stopCluster as (() => Promise<void>) | null)?.();
  }
}
