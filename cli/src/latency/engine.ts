/**
 * The latency gate's engine: connects `users × devices` simulated devices, sends writes on a fixed
 * schedule (open loop: a write is due at t0 + i/rate whether or not earlier ones were answered, so
 * a stall shows up as latency instead of hiding as fewer writes, the coordinated-omission trap), and
 * hands every arrival to the Tracker. The harness watches itself (event-loop delay, how late each
 * write left) so a slow harness is reported as such, not blamed on the server.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CliError, ExitCode } from '../errors.js';
import { createNodeDevice } from '../../../client/src/node.js';
import type { Device, DeviceError } from '../../../client/src/realtime.js';
import { userIdOf, type LatencyConfig, type WriteKind } from './options.js';
import { createHistogram, recordMs, samplePercentile, TimeWindow, type Histogram } from './stats.js';
import type { TokenSource } from './tokens.js';
import { cleanupUsers } from './cleanup.js';
import { createGateHttp, HttpError, type HttpResponse } from './http.js';
import { probeApi, probeHealth } from './preflight.js';
import { Tracker, writeRecord } from './tracker.js';
import { chooser, UserWorkload, type PlannedWrite } from './workload.js';

export type Phase = 'connecting' | 'warmup' | 'measuring' | 'draining' | 'cleanup' | 'done';

export interface LiveSnapshot {
  phase: Phase;
  elapsedMs: number;
  sent: number;
  total: number;
  warmupWrites: number;
  /** Writes sent in the last second. */
  rate: number;
  targetRate: number;
  rolling: { p50: number | null; p90: number | null; p99: number | null; count: number };
  buckets: number[];
  measured: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  crossUser: number;
  failedWrites: number;
  reconnects: number;
  eventLoopP99Ms: number;
  lateMaxMs: number;
}

export interface EngineResult {
  config: LatencyConfig;
  urls: string[];
  startedAt: Date;
  finishedAt: Date;
  interrupted: boolean;
  tracker: Tracker;
  writesScheduled: number;
  writesSent: number;
  warmupWrites: number;
  byKind: Record<string, number>;
  measuredElapsedMs: number;
  lateness: Histogram;
  eventLoop: { p50Ms: number; p99Ms: number; maxMs: number; meanMs: number };
  /**
   * The rtctl process's own CPU (`process.cpuUsage()`, user + system, all its threads) from the
   * first measured write's departure to the end of the drain: what the harness costs per write.
   */
  cpu: { userMs: number; systemMs: number; wallMs: number };
  deviceErrors: string[];
  cleanup: { deleted: number; failed: number; skipped: boolean };
}

export interface EngineOptions {
  config: LatencyConfig;
  urls: string[];
  tokens: TokenSource;
  /** Progress lines for the operator (stderr in plain mode). */
  log?: (line: string) => void;
  connectTimeoutMs?: number;
}

const ROLLING_MS = 5_000;
/** monitorEventLoopDelay's samples include its own timer period: subtract it to get the excess delay. */
const ELD_RESOLUTION_MS = 5;
const eldMs = (ns: number) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);

export class LatencyEngine {
  private readonly cfg: LatencyConfig;
  private readonly tracker: Tracker;
  private readonly devices: Device[][] = [];
  private readonly workloads: UserWorkload[];
  private readonly tokens: string[] = [];
  private readonly tokenAt: number[] = [];
  /** Each user's writer device id (`X-Device-Id` of its writes). */
  private readonly writerIds: string[];
  /** Measured latencies by arrival time, for the live view's rolling percentiles. */
  private readonly recent = new TimeWindow(ROLLING_MS);
  /** Departures, for the achieved rate (writes in the last second). */
  private readonly sentTimes = new TimeWindow(1000);
  private readonly lateness = createHistogram();
  private readonly eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  private readonly deviceErrors: string[] = [];
  private readonly byKind: Record<string, number> = {};
  private phase: Phase = 'connecting';
  private t0 = 0;
  private started = performance.now();
  private sent = 0;
  private inFlight = 0;
  private lateMax = 0;
  /** process.cpuUsage() and the clock when the measured phase began (null: not reached). */
  private cpuFrom: { usage: NodeJS.CpuUsage; at: number } | null = null;
  private stopRequested = false;
  /** Ctrl-Cs so far: one during the drain cuts it short. */
  private stops = 0;
  private wake: (() => void) | null = null;
  /** Writes and cleanup; `abortAll()` when the drain ends: a write still unanswered then is failed, and its request dropped. */
  private readonly http = createGateHttp();
  private readonly total: number;
  private readonly warmupWrites: number;

  constructor(private readonly opts: EngineOptions) {
    this.cfg = opts.config;
    this.tracker = new Tracker({
      users: this.cfg.users,
      devices: this.cfg.devices,
      onSample: (ms, at) => {
        this.recent.push(at, ms);
      },
    });
    this.workloads = Array.from({ length: this.cfg.users }, () => new UserWorkload(this.cfg.runId, this.cfg.batchMax));
    this.writerIds = Array.from({ length: this.cfg.users }, (_, u) => this.deviceId(u, 0));
    this.warmupWrites = Math.floor((this.cfg.warmupMs * this.cfg.rate) / 1000);
    const measured = this.cfg.writes ?? Math.max(1, Math.floor(((this.cfg.durationMs ?? 0) * this.cfg.rate) / 1000));
    this.total = this.warmupWrites + measured;
  }

  /** Stop scheduling (Ctrl-C): the run drains briefly and reports what it has, marked interrupted. */
  stop(): void {
    this.stopRequested = true;
    this.stops += 1;
    this.wake?.();
  }

  snapshot(): LiveSnapshot {
    const now = performance.now();
    const values = this.recent.since(now);
    const c = this.tracker.counts;
    return {
      phase: this.phase,
      elapsedMs: now - this.started,
      sent: this.sent,
      total: this.total,
      warmupWrites: this.warmupWrites,
      rate: this.sentTimes.count(now),
      targetRate: this.cfg.rate,
      rolling: { p50: samplePercentile(values, 50), p90: samplePercentile(values, 90), p99: samplePercentile(values, 99), count: values.length },
      buckets: [...this.tracker.buckets],
      measured: this.tracker.delivery.totalCount,
      missing: c.missing,
      duplicates: c.duplicates,
      outOfOrder: c.outOfOrder,
      crossUser: c.crossUser,
      failedWrites: c.writesFailed,
      reconnects: c.reconnects,
      eventLoopP99Ms: this.eld.count > 0 ? eldMs(this.eld.percentile(99)) : 0,
      lateMaxMs: this.lateMax,
    };
  }

  async run(): Promise<EngineResult> {
    const startedAt = new Date();
    this.started = performance.now();
    const log = this.opts.log ?? (() => undefined);
    await this.preflight();
    log(`connecting ${this.cfg.users * this.cfg.devices} device(s) for ${this.cfg.users} user(s) (run ${this.cfg.runId})`);
    await this.connectAll();
    let measuredElapsedMs = 0;
    let cleanup = { deleted: 0, failed: 0, skipped: !this.cfg.cleanup };
    let cpu = { userMs: 0, systemMs: 0, wallMs: 0 };
    try {
      if (!this.stopRequested) {
        log(`sending ${this.total} write(s) at ${this.cfg.rate}/s (${this.warmupWrites} warm-up)`);
        measuredElapsedMs = await this.schedule();
        this.phase = 'draining';
        await this.drain(this.stopRequested ? Math.min(2_000, this.cfg.drainMs) : this.cfg.drainMs);
      }
      cpu = this.cpuSince();
      // Close the books before anything else can arrive: unanswered writes fail now, and the
      // tracker ignores what comes while the devices close or the cleanup writes.
      this.http.abortAll();
      this.tracker.finish();
    } finally {
      this.eld.disable();
      await Promise.all(this.devices.flat().map((d) => d.close()));
    }
    try {
      if (this.cfg.cleanup) {
        this.phase = 'cleanup';
        const http = this.http;
        const token = (user: number) => this.token(user);
        cleanup = { ...(await cleanupUsers({ http, url: this.opts.urls[0]!, users: this.cfg.users, token })), skipped: false };
      }
    } finally {
      this.http.close();
    }
    this.phase = 'done';
    const p = (q: number) => (this.eld.count > 0 ? eldMs(this.eld.percentile(q)) : 0);
    return {
      config: this.cfg,
      urls: this.opts.urls,
      startedAt,
      finishedAt: new Date(),
      interrupted: this.stopRequested,
      tracker: this.tracker,
      writesScheduled: this.total,
      writesSent: this.sent,
      warmupWrites: this.warmupWrites,
      byKind: this.byKind,
      measuredElapsedMs,
      lateness: this.lateness,
      eventLoop: { p50Ms: p(50), p99Ms: p(99), maxMs: this.eld.count > 0 ? eldMs(this.eld.max) : 0, meanMs: this.eld.count > 0 ? eldMs(this.eld.mean) : 0 },
      cpu,
      deviceErrors: this.deviceErrors,
      cleanup,
    };
  }

  /** CPU the process used since the measured phase began (zeros when it never began). */
  private cpuSince(): EngineResult['cpu'] {
    if (!this.cpuFrom) return { userMs: 0, systemMs: 0, wallMs: 0 };
    const d = process.cpuUsage(this.cpuFrom.usage);
    return { userMs: d.user / 1000, systemMs: d.system / 1000, wallMs: performance.now() - this.cpuFrom.at };
  }

  // ---- setup ----

  private async token(user: number): Promise<string> {
    return this.freshToken(user) ?? this.renewToken(user);
  }

  /** The user's token if it is still fresh (renewed well before the 1 h expiry of minted tokens), else null. */
  private freshToken(user: number): string | null {
    const t = this.tokens[user];
    return t !== undefined && performance.now() - this.tokenAt[user]! <= 20 * 60_000 ? t : null;
  }

  private async renewToken(user: number): Promise<string> {
    this.tokens[user] = await this.opts.tokens(userIdOf(this.cfg.runId, user));
    this.tokenAt[user] = performance.now();
    return this.tokens[user]!;
  }

  /** Reachable and accepting our tokens, else exit 3 before anything is written. */
  private async preflight(): Promise<void> {
    for (const url of this.opts.urls) await probeHealth(url);
    let token: string;
    try {
      token = await this.token(0);
    } catch (err) {
      throw new CliError(`Could not get a token for ${userIdOf(this.cfg.runId, 0)}: ${(err as Error).message}`, ExitCode.UNREACHABLE);
    }
    await probeApi(
      this.opts.urls[0]!,
      token,
      "refused the synthetic user's token ($status): pass the service's JWT_SECRET (or --secret), or a --token-cmd that prints a valid token for $RT_USER",
    );
  }

  private deviceId(user: number, d: number): string {
    return `${userIdOf(this.cfg.runId, user)}-${d === 0 ? 'w' : `o${d}`}`;
  }

  private async connectAll(): Promise<void> {
    const urls = this.opts.urls;
    const timeoutMs = this.opts.connectTimeoutMs ?? 30_000;
    const connects: Promise<void>[] = [];
    for (let u = 0; u < this.cfg.users; u += 1) {
      await this.token(u).catch((err: Error) => {
        throw new CliError(`Could not get a token for ${userIdOf(this.cfg.runId, u)}: ${err.message}`, ExitCode.UNREACHABLE);
      });
      const row: Device[] = [];
      for (let d = 0; d < this.cfg.devices; d += 1) {
        const k = (u * this.cfg.devices + d) % urls.length;
        const device = createNodeDevice({
          urls: [...urls.slice(k), ...urls.slice(0, k)],
          deviceId: this.deviceId(u, d),
          token: this.tokens[u],
          getToken: () => this.opts.tokens(userIdOf(this.cfg.runId, u)),
          maxInitialAttempts: 3 * urls.length,
          backoff: { initialMs: 200, maxMs: 5_000 },
        });
        device.on('event', (e) => this.tracker.onEvent(u, d, e));
        device.on('duplicate', ({ event }) => this.tracker.onDropped(u, d, event, 'duplicate'));
        device.on('resent', ({ event }) => this.tracker.onDropped(u, d, event, 'resent'));
        device.on('discarded', ({ events }) => {
          for (const e of events) this.tracker.onDropped(u, d, e, 'discarded');
        });
        device.on('gap', () => this.tracker.onGap());
        device.on('resync', () => this.tracker.onResync());
        device.on('reconnecting', () => this.tracker.onReconnect());
        device.on('stopped', ({ error }) => {
          if (error && this.deviceErrors.length < 20) this.deviceErrors.push(`${device.deviceId}: ${error.message}`);
        });
        connects.push(waitHello(device, timeoutMs));
        row.push(device);
        device.start();
      }
      this.devices.push(row);
    }
    try {
      await Promise.all(connects);
    } catch (err) {
      await Promise.all(this.devices.flat().map((d) => d.close()));
      throw err;
    }
  }

  // ---- the schedule ----

  /** Send every write at its due time; returns the measured phase's length (ms). */
  private async schedule(): Promise<number> {
    const interval = 1000 / this.cfg.rate;
    const choose = chooser(this.cfg.mix);
    this.t0 = performance.now() + 20;
    this.phase = this.warmupWrites > 0 ? 'warmup' : 'measuring';
    let measuredFrom = this.t0 + this.warmupWrites * interval;
    this.eld.enable();
    for (let i = 0; i < this.total && !this.stopRequested; ) {
      const now = performance.now();
      const due = this.t0 + i * interval;
      if (due > now) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(0, due - now - 0.5));
          this.wake = () => (clearTimeout(t), resolve());
        });
        continue;
      }
      if (i === this.warmupWrites) {
        this.phase = 'measuring';
        measuredFrom = due;
        this.eld.reset(); // harness health is reported for the measured phase only
        this.cpuFrom = { usage: process.cpuUsage(), at: performance.now() };
      }
      // Everything that is due leaves now; how late it left is the harness's own delay.
      const warmup = i < this.warmupWrites;
      const late = now - due;
      if (!warmup) {
        recordMs(this.lateness, late);
        this.lateMax = Math.max(this.lateMax, late);
      }
      this.send(i, i % this.cfg.users, choose(), due, warmup);
      i += 1;
    }
    return performance.now() - measuredFrom;
  }

  private send(n: number, user: number, wanted: WriteKind, due: number, warmup: boolean): void {
    const plan: PlannedWrite = this.workloads[user]!.plan(wanted);
    this.byKind[plan.kind] = (this.byKind[plan.kind] ?? 0) + 1;
    const rec = writeRecord({ n, user, kind: plan.kind, due, warmup, ids: plan.ids });
    this.tracker.register(rec);
    this.sent += 1;
    this.sentTimes.push(performance.now());
    this.inFlight += 1;
    const url = this.opts.urls[user % this.opts.urls.length]!;
    // One .then with both handlers (not then/catch/finally): three promises per write add up at 300/s.
    const settled = () => {
      this.inFlight -= 1;
    };
    void this.request(url, user, plan).then(
      ({ status, body }) => {
        settled();
        if (status >= 200 && status < 300) {
          const r = plan.onResponse(body);
          this.tracker.own(user, r.newIds);
          this.tracker.resolve(rec, r.lastSeq, r.types, performance.now() - due);
        } else {
          plan.onFailure();
          const err = (body as { error?: { code?: string } } | null)?.error?.code ?? '';
          this.tracker.fail(rec, `${plan.kind} ${plan.request.method} ${plan.request.path}: HTTP ${status} ${err}`.trim());
        }
      },
      (err: Error) => {
        settled();
        plan.onFailure();
        const why = err instanceof HttpError && err.code !== 'timeout' && err.code !== 'aborted' ? `${err.message} (${err.code})` : err.message;
        this.tracker.fail(rec, `${plan.kind} ${plan.request.method} ${plan.request.path}: ${why}`);
      },
    );
  }

  private request(url: string, user: number, plan: PlannedWrite): Promise<HttpResponse> {
    const send = (token: string) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-device-id': this.writerIds[user]! };
      if (plan.request.body !== undefined) headers['content-type'] = 'application/json';
      return this.http.request(url, plan.request.path, {
        method: plan.request.method,
        headers,
        body: plan.request.body === undefined ? undefined : JSON.stringify(plan.request.body),
        timeoutMs: 30_000,
      });
    };
    const token = this.freshToken(user);
    return token !== null ? send(token) : this.renewToken(user).then(send);
  }

  /**
   * Wait until every response came and every event reached every device, or the drain time ran
   * out, or a Ctrl-C came during the drain.
   */
  private async drain(maxMs: number): Promise<void> {
    const deadline = performance.now() + maxMs;
    const stops = this.stops;
    while (performance.now() < deadline && (this.inFlight > 0 || this.tracker.outstanding > 0) && this.stops === stops) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function waitHello(device: Device, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new CliError(`Device ${device.deviceId} got no HELLO within ${timeoutMs} ms: is the realtime endpoint reachable?`, ExitCode.UNREACHABLE));
    }, timeoutMs);
    const offHello = device.on('hello', () => {
      off();
      resolve();
    });
    const offStop = device.on('stopped', ({ error }) => {
      off();
      reject(new CliError(`Device ${device.deviceId} could not connect: ${describe(error)}`, ExitCode.UNREACHABLE));
    });
    const off = () => {
      clearTimeout(t);
      offHello();
      offStop();
    };
  });
}

function describe(error: DeviceError | null): string {
  return error ? error.message : 'stopped';
}
