/**
 * How many devices one service instance holds, and what they cost.
 *
 * Starts the service under `sh -c 'ulimit -n <max>; exec node …'` with a short HEARTBEAT_MS, then
 * opens N authenticated WebSocket devices (U users × D devices) from child processes (started the
 * same way, so each may hold more sockets than this process), spread over loopback source addresses
 * 127.0.0.2… so ephemeral ports do not run out. Reports:
 *   - connect rate (devices/s, all workers together) and failures;
 *   - service RSS per connection (VmRSS after all connected minus before, / N);
 *   - heartbeat CPU: service CPU time (/proc/<pid>/stat) over an idle window of several heartbeat
 *     rounds, as % of one core and µs per connection per round;
 *   - fan-out at that size: writes at a fixed rate to random users, deliveries counted on the
 *     devices (expected = writes × D), as deliveries/s, with missing ones.
 * The file-descriptor hard limit caps N (raising it needs privileges): the run says so and clamps.
 * Only 127.0.0.0/8; every phase is bounded; the script stops by itself.
 *
 *   npx tsx loadtest/connection-scale.ts [--connections 20000] [--devices 4] [--heartbeat-ms 5000]
 *        [--idle-seconds 15] [--write-rate 100] [--write-seconds 10] [--workers 2]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { freePort } from '../tools/free-port.js';
import { isMain, runMain, writeResult } from './lib/cli.js';
import { cpuSeconds, gcEnv, gcMemory, openFilesLimit } from './lib/proc.js';
import { mintToken, TEST_SECRET } from './lib/service.js';
import { round } from './lib/stats.js';
import { createDraftWriter, type DraftWriter } from './lib/writes.js';

export interface ScaleOptions {
  connections: number;
  devices: number;
  heartbeatMs: number;
  idleSeconds: number;
  writeRate: number;
  writeSeconds: number;
  workers: number;
}

export interface ScaleReport {
  requested: number;
  connections: number;
  failed: number;
  fdLimit: { service: number | null; worker: number | null; note: string | null };
  users: number;
  devicesPerUser: number;
  connectSeconds: number;
  connectRatePerSec: number;
  rss: { beforeKb: number | null; afterKb: number | null; perConnectionKb: number | null; liveHeapPerConnectionKb: number | null };
  heartbeat: { heartbeatMs: number; idleSeconds: number; baselineCpuPercent: number; cpuPercentOfOneCore: number | null; cpuUsPerConnectionPerRound: number | null };
  fanout: { writes: number; writeErrors: number; expected: number; delivered: number; missing: number; deliveriesPerSec: number };
  unexpectedCloses: number;
}

const ULIMIT = 'ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `sh -c 'ulimit …; exec node --import tsx <script>'`: exec keeps the pid, so /proc/<pid> is node's. */
function spawnRaised(script: string, env: Record<string, string>, ipc = false): ChildProcess {
  return spawn('sh', ['-c', `${ULIMIT}; exec "${process.execPath}" --import tsx ${script}`], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'ignore', 'inherit'],
  });
}

function nextMessage<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker: no ${type} within ${timeoutMs} ms`)), timeoutMs);
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

export async function runConnectionScale(o: ScaleOptions, log: (s: string) => void = console.log): Promise<ScaleReport> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const gc = gcEnv();
  const svc = spawnRaised('service/src/main.ts', {
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: 'warn',
    HEARTBEAT_MS: String(o.heartbeatMs),
    MAINTENANCE_INTERVAL_MS: '0',
    INSTANCE_ID: 'scale',
    ...gc,
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
  });
  const workers: ChildProcess[] = [];
  const deadline = setTimeout(() => {
    console.error('connection-scale: overall time limit reached, stopping');
    for (const w of workers) w.kill('SIGKILL');
    svc.kill('SIGKILL');
    process.exit(3);
  }, 15 * 60_000);
  deadline.unref();
  try {
    for (let i = 0; ; i += 1) {
      if (svc.exitCode !== null) throw new Error('service exited at start-up');
      try {
        if ((await fetch(`${url}/readyz`)).ok) break;
      } catch {
        // not listening yet
      }
      if (i > 600) throw new Error('service not ready');
      await sleep(100);
    }
    const pid = svc.pid!;
    const serviceFd = openFilesLimit(pid);
    let n = o.connections;
    let note: string | null = null;
    if (serviceFd !== null && n > serviceFd - 1000) {
      n = Math.max(100, serviceFd - 1000);
      note = `service may open ${serviceFd} files (hard limit; raising it needs privileges): ${o.connections} requested, ${n} opened`;
      log(`connection-scale: ${note}`);
    }
    const run = randomUUID().slice(0, 8);
    const users = Math.ceil(n / o.devices);
    // Warm the service up before the memory baseline.
    const warmToken = await mintToken(`scale-${run}-warm`);
    await write(url, warmToken);
    // The service's idle CPU with no device is the baseline of the heartbeat measurement.
    const baseSeconds = Math.min(5, o.idleSeconds);
    const base0 = cpuSeconds(pid);
    await sleep(baseSeconds * 1000);
    const base1 = cpuSeconds(pid);
    const baseCpuPerSec = base0 !== null && base1 !== null ? (base1 - base0) / baseSeconds : 0;

    const nWorkers = Math.max(1, o.workers);
    const addrs = Math.max(4, Math.ceil(n / 20_000) + 1);
    for (let w = 0; w < nWorkers; w += 1) {
      workers.push(
        spawnRaised(
          'loadtest/lib/scale-worker.ts',
          { DEVICES: String(o.devices), ADDRS: String(addrs), WS_URL: `ws://127.0.0.1:${port}/ws/realtime`, RUN_ID: run, SECRET: TEST_SECRET, MAX_MS: String(14 * 60_000) },
          true,
        ),
      );
    }
    // Two phases: the first 10 % of the devices absorb one-off costs (first sockets, lazily loaded
    // code); RSS per connection is the growth over the other 90 %, each sample after a full GC.
    const phase = async (from: number, to: number) => {
      const t = performance.now();
      const rs = await Promise.all(
        workers.map((child, w) => {
          const p = nextMessage<{ ok: number; failed: number }>(child, 'connected', 10 * 60_000);
          child.send({ cmd: 'connect', from: from + Math.floor(((to - from) * w) / nWorkers), to: from + Math.floor(((to - from) * (w + 1)) / nWorkers) });
          return p;
        }),
      );
      return { ok: rs.reduce((a, r) => a + r.ok, 0), failed: rs.reduce((a, r) => a + r.failed, 0), seconds: (performance.now() - t) / 1000 };
    };
    const split = Math.floor(n / 10);
    const first = await phase(0, split);
    const memBefore = await gcMemory(pid, gc.LOADTEST_MEMORY_FILE);
    const rssBefore = memBefore.rssKb;
    const second = await phase(split, n);
    const ok = first.ok + second.ok;
    const failed = first.failed + second.failed;
    const connectSeconds = first.seconds + second.seconds;
    const workerFd = openFilesLimit(workers[0]!.pid!);
    log(`connection-scale: ${ok} devices (${users} users × ${o.devices}) connected in ${connectSeconds.toFixed(1)} s (${Math.round(ok / connectSeconds)}/s), ${failed} failed`);
    const memAfter = await gcMemory(pid, gc.LOADTEST_MEMORY_FILE);
    const rssAfter = memAfter.rssKb;
    const livePerConn = memBefore.liveKb !== null && memAfter.liveKb !== null && second.ok > 0 ? round((memAfter.liveKb - memBefore.liveKb) / second.ok) : null;
    const perConn = rssBefore !== null && rssAfter !== null && second.ok > 0 ? round((rssAfter - rssBefore) / second.ok) : null;
    log(`  service RSS ${rssBefore} → ${rssAfter} KiB over the last ${second.ok} devices: ${perConn} KiB per connection (live JS heap after GC: ${livePerConn} KiB per connection)`);

    const cpu0 = cpuSeconds(pid);
    await sleep(o.idleSeconds * 1000);
    const cpu1 = cpuSeconds(pid);
    const cpu = cpu0 !== null && cpu1 !== null ? Math.max(0, cpu1 - cpu0 - baseCpuPerSec * o.idleSeconds) : null;
    const rounds = (o.idleSeconds * 1000) / o.heartbeatMs;
    const cpuPct = cpu !== null ? round((cpu / o.idleSeconds) * 100) : null;
    const usPerConn = cpu !== null && ok > 0 ? round((cpu * 1e6) / rounds / ok, 3) : null;
    log(`  heartbeat (ping every ${o.heartbeatMs} ms), idle ${o.idleSeconds} s: service CPU ${cpuPct}% of one core above its idle baseline (${round(baseCpuPerSec * 100)}%), ${usPerConn} µs per connection per round`);

    const snapshot = async () => {
      const snaps = await Promise.all(
        workers.map((w) => {
          const p = nextMessage<{ deliveries: number; unexpectedCloses: number }>(w, 'snapshot', 30_000);
          w.send({ cmd: 'snapshot' });
          return p;
        }),
      );
      return { deliveries: snaps.reduce((a, s) => a + s.deliveries, 0), closes: snaps.reduce((a, s) => a + s.unexpectedCloses, 0) };
    };
    const before = await snapshot();
    const writes = Math.round(o.writeRate * o.writeSeconds);
    const tokens = new Map<number, Promise<string>>();
    let writeErrors = 0;
    const pending: Promise<void>[] = [];
    const w0 = performance.now();
    for (let i = 0; i < writes; i += 1) {
      const due = w0 + (i * 1000) / o.writeRate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const user = Math.floor(Math.random() * users);
      if (!tokens.has(user)) tokens.set(user, mintToken(`scale-${run}-${user}`));
      pending.push(
        tokens
          .get(user)!
          .then((t) => write(url, t))
          .then(
            (s) => void (s === 201 || (writeErrors += 1)),
            () => void (writeErrors += 1),
          ),
      );
    }
    await Promise.all(pending);
    const writeSeconds = (performance.now() - w0) / 1000;
    // Devices of the last user may have fewer than D devices (N not a multiple of D); ignore that edge.
    const expected = (writes - writeErrors) * o.devices;
    let after = await snapshot();
    for (let i = 0; i < 50 && after.deliveries - before.deliveries < expected; i += 1) {
      await sleep(200);
      after = await snapshot();
    }
    const delivered = after.deliveries - before.deliveries;
    const fanout = { writes, writeErrors, expected, delivered, missing: Math.max(0, expected - delivered), deliveriesPerSec: round(delivered / writeSeconds) };
    log(`  fan-out: ${writes} writes at ${o.writeRate}/s to random users → ${delivered}/${expected} deliveries (${fanout.deliveriesPerSec}/s), missing ${fanout.missing}, write errors ${writeErrors}`);
    if (after.closes) log(`  ${after.closes} sockets closed unexpectedly`);
    return {
      requested: o.connections,
      connections: ok,
      failed,
      fdLimit: { service: serviceFd, worker: workerFd, note },
      users,
      devicesPerUser: o.devices,
      connectSeconds: round(connectSeconds),
      connectRatePerSec: round(ok / connectSeconds),
      rss: { beforeKb: rssBefore, afterKb: rssAfter, perConnectionKb: perConn, liveHeapPerConnectionKb: livePerConn },
      heartbeat: { heartbeatMs: o.heartbeatMs, idleSeconds: o.idleSeconds, baselineCpuPercent: round(baseCpuPerSec * 100), cpuPercentOfOneCore: cpuPct, cpuUsPerConnectionPerRound: usPerConn },
      fanout,
      unexpectedCloses: after.closes,
    };
  } finally {
    await Promise.all(
      workers.map(async (w) => {
        if (w.exitCode !== null) return;
        const exited = new Promise((r) => w.once('exit', r));
        if (w.connected) w.send({ cmd: 'close' });
        else w.kill('SIGTERM');
        const t = setTimeout(() => w.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }),
    );
    if (svc.exitCode === null) {
      const exited = new Promise((r) => svc.once('exit', r));
      svc.kill('SIGTERM');
      const t = setTimeout(() => svc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    clearTimeout(deadline);
  }
}

const writers = new Map<string, DraftWriter>();

function write(url: string, token: string): Promise<number> {
  let w = writers.get(url);
  if (!w) writers.set(url, (w = createDraftWriter(url, 'scale-writer')));
  return w.create(token, { customerId: 'C-1', customerName: 'Bench Srl', items: [{ productId: 'P-1', quantity: 1 }] });
}

if (isMain(import.meta.url)) {
  runMain('connection-scale', async () => {
    const { values } = parseArgs({
      options: {
        connections: { type: 'string', default: '20000' },
        devices: { type: 'string', default: '4' },
        'heartbeat-ms': { type: 'string', default: '5000' },
        'idle-seconds': { type: 'string', default: '15' },
        'write-rate': { type: 'string', default: '100' },
        'write-seconds': { type: 'string', default: '10' },
        workers: { type: 'string', default: '2' },
      },
    });
    const r = await runConnectionScale({
      connections: Number(values.connections),
      devices: Number(values.devices),
      heartbeatMs: Number(values['heartbeat-ms']),
      idleSeconds: Number(values['idle-seconds']),
      writeRate: Number(values['write-rate']),
      writeSeconds: Number(values['write-seconds']),
      workers: Number(values.workers),
    });
    console.log(`results: ${writeResult('connection-scale', r)}`);
  });
}
