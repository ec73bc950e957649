/**
 * The multi-device scenario, against any target: U users × D observer devices each; one writer per
 * user posts changes over HTTP, the writes scheduled open loop at a fixed total rate (round robin
 * over users); each observer measures schedule-to-arrival latency. Used by peer-comparison.ts (our
 * service against Socket.IO) and by bench.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { io as ioClient, type Socket } from 'socket.io-client';
import { createNodeDevice } from '../../client/src/node.js';
import { freePort } from '../../tools/free-port.js';
import { eventKey, FanoutTracker } from './observers.js';
import { gcEnv, gcMemory, type MemorySample } from './proc.js';
import { mintToken, startService, TEST_SECRET } from './service.js';
import { LatencyHistogram, round, type LatencySummary } from './stats.js';
import { createDraftWriter, type DraftWriter } from './writes.js';

export interface Target {
  name: string;
  url: string;
  pid: number;
  /** Where the target writes its memoryUsage() on SIGUSR2 (gc-preload.mjs). */
  memoryFile?: string;
  /** Open one observer; `onKey` is called with each change's key and its arrival time. */
  observe(token: string, deviceId: string, onKey: (key: string, at: number) => void): Promise<() => void>;
  stop(): Promise<void>;
}

const DRAFT = { customerId: 'C-1', customerName: 'Bench Srl', items: [{ productId: 'P-1', quantity: 2, price: 10.5 }] };

/** Our service, as a child process (embedded PGlite unless DATABASE_URL; `built`: dist/, see lib/build.ts). */
export async function ourService(env: Record<string, string> = {}, opts: { built?: boolean; name?: string } = {}): Promise<Target> {
  const svc = await startService(env, 'peer-cmp', { built: opts.built });
  return {
    name: opts.name ?? 'archibald-realtime',
    url: svc.url,
    pid: svc.proc.pid!,
    memoryFile: svc.memoryFile,
    async observe(token, deviceId, onKey) {
      const dev = createNodeDevice({ urls: [svc.url], deviceId, token });
      dev.on('event', (e) => {
        const k = eventKey(e);
        if (k) onKey(k, e.receivedAt);
      });
      const hello = dev.once('hello');
      const stopped = dev.once('stopped').then((s) => {
        throw new Error(`observer stopped: ${s.error?.message ?? 'closed'}`);
      });
      dev.start();
      await Promise.race([hello, stopped]);
      return () => void dev.close();
    },
    stop: () => svc.kill('SIGTERM').then(() => undefined),
  };
}

/** The Socket.IO peer (loadtest/peers/socketio-server.ts) as a child process; DATABASE_URL in `env` makes it commit each write first. */
export async function socketIoPeer(env: Record<string, string> = {}, name = 'socket.io'): Promise<Target> {
  const port = await freePort();
  const gc = gcEnv();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'loadtest/peers/socketio-server.ts'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(port), JWT_SECRET: TEST_SECRET, ...gc, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i += 1) {
    if (child.exitCode !== null) throw new Error('socketio-server exited at start-up');
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error('socketio-server not ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    url,
    pid: child.pid!,
    memoryFile: gc.LOADTEST_MEMORY_FILE,
    async observe(token, _deviceId, onKey) {
      const socket: Socket = ioClient(url, { auth: { token }, transports: ['websocket'], reconnection: true });
      socket.on('event', (f: { payload?: { draftId?: string } }) => {
        const at = performance.now();
        if (f.payload?.draftId) onKey(f.payload.draftId, at);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      return () => void socket.close();
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface MultiDeviceSetup {
  users: { userId: string; token: string }[];
  devicesPerUser: number;
  connections: number;
  rssBeforeKb: number | null;
  rssAfterKb: number | null;
  rssPerConnectionKb: number | null;
  /** V8 heap used + external after a full GC, per connection: steadier than RSS. */
  liveHeapPerConnectionKb: number | null;
  connectSeconds: number;
  /** Route each arrival to the current step's tracker. */
  setTracker(t: FanoutTracker): void;
  close(): void;
}

/** Connect U × D observers and measure the target's RSS growth per connection. */
export async function connectMultiDevice(target: Target, users: number, devicesPerUser: number): Promise<MultiDeviceSetup> {
  const us = await Promise.all(
    Array.from({ length: users }, async () => {
      const userId = `md-${randomUUID()}`;
      return { userId, token: await mintToken(userId) };
    }),
  );
  // Warm the target up (first request, JIT) before the memory baseline.
  await writeOnce(target.url, us[0]!.token, randomUUID());
  let before: MemorySample = { rssKb: null, liveKb: null };
  let baselineConnections = 0;
  let tracker = new FanoutTracker();
  const closers: (() => void)[] = [];
  let connectMs = 0;
  // Connect in batches so the connect storm does not time out on a 2-core machine.
  const all = us.flatMap((u) => Array.from({ length: devicesPerUser }, (_, d) => ({ u, d })));
  // The first batch (≤ 10 %) also absorbs one-off costs (first sockets, the garbage collector giving
  // back a start-up peak): RSS per connection is the growth over the others.
  const batch = Math.max(1, Math.min(200, Math.floor(all.length / 10)));
  for (let i = 0; i < all.length; i += batch) {
    if (i === batch) {
      before = await gcMemory(target.pid, target.memoryFile);
      baselineConnections = i;
    }
    const part = all.slice(i, i + batch);
    const t0 = performance.now();
    closers.push(...(await Promise.all(part.map(({ u, d }) => target.observe(u.token, `observer-${d}`, (k, at) => tracker.arrived(k, at))))));
    connectMs += performance.now() - t0;
  }
  const connectSeconds = connectMs / 1000;
  const after = await gcMemory(target.pid, target.memoryFile);
  const per = (a: number | null, b: number | null) => (a !== null && b !== null && all.length > baselineConnections ? round((b - a) / (all.length - baselineConnections)) : null);
  const connections = all.length;
  return {
    users: us,
    devicesPerUser,
    connections,
    rssBeforeKb: before.rssKb,
    rssAfterKb: after.rssKb,
    rssPerConnectionKb: per(before.rssKb, after.rssKb),
    liveHeapPerConnectionKb: per(before.liveKb, after.liveKb),
    connectSeconds: round(connectSeconds),
    setTracker(t) {
      tracker = t;
    },
    close() {
      for (const c of closers) c();
    },
  };
}

const writers = new Map<string, DraftWriter>();

/** One draft create as the user of `token` (the id is the change's key); resolves with the HTTP status. */
function writeOnce(url: string, token: string, key: string): Promise<number> {
  let w = writers.get(url);
  if (!w) writers.set(url, (w = createDraftWriter(url)));
  return w.create(token, { id: key, ...DRAFT });
}

export interface StepReport {
  rate: number;
  seconds: number;
  writes: number;
  errors: number;
  missing: number;
  duplicates: number;
  latency: LatencySummary;
  rest: LatencySummary;
  cdf: [number, number][];
  /** How long the sends took (≈ seconds when the writer kept up). */
  sendSeconds: number;
  maxSendLatenessMs: number;
}

/** Writes at `rate`/s for `seconds` (the first `warmupSeconds` not measured), then waits for stragglers. */
export async function runStep(target: Target, setup: MultiDeviceSetup, rate: number, seconds: number, warmupSeconds = 1): Promise<StepReport> {
  const tracker = new FanoutTracker();
  setup.setTracker(tracker);
  const rest = new LatencyHistogram();
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const start = performance.now() + 20;
  let errors = 0;
  let maxLateness = 0;
  let completed = 0;
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (allDone = r));
  let i = 0;
  let sendSeconds = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      for (; i < total && start + i * interval <= now; i += 1) {
        const due = start + i * interval;
        maxLateness = Math.max(maxLateness, now - due);
        const u = setup.users[i % setup.users.length]!;
        const key = randomUUID();
        const measured = i * interval >= warmupSeconds * 1000;
        tracker.expect(key, due, setup.devicesPerUser, measured);
        writeOnce(target.url, u.token, key)
          .then(
            (status) => {
              if (measured) rest.recordMs(performance.now() - due);
              if (status < 200 || status >= 300) {
                errors += 1;
                tracker.forget(key);
              }
            },
            () => {
              errors += 1;
              tracker.forget(key);
            },
          )
          .finally(() => {
            completed += 1;
            if (completed === total) allDone();
          });
      }
      if (i >= total) {
        sendSeconds = (performance.now() - start) / 1000;
        return resolve();
      }
      setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
    };
    tick();
  });
  await Promise.race([done, new Promise((r) => setTimeout(r, 15_000))]);
  await tracker.settle(3000);
  const c = tracker.counters();
  return {
    rate,
    seconds,
    writes: total,
    errors: errors + (total - completed),
    missing: c.missing,
    duplicates: c.duplicates,
    latency: tracker.hist.summary(),
    rest: rest.summary(),
    cdf: tracker.hist.cdf(),
    sendSeconds: round(sendSeconds),
    maxSendLatenessMs: round(maxLateness),
  };
}

export const stepPasses = (s: StepReport, p99LimitMs = 100): boolean => s.errors === 0 && s.missing === 0 && s.latency.p99 <= p99LimitMs;
