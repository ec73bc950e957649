/**
 * 100,000 devices on a cluster of instances, measured on one machine (issue 13, `npm run scale`).
 *
 * Starts N instances of the service (the built one) on one throwaway PostgreSQL (fsync on) and one
 * Redis, then W client workers (lib/cluster-worker.ts) holding U users × D devices, a user's
 * devices on D different instances, each worker on its own loopback source addresses. Then:
 *   1. connect every device (authenticated, up to HELLO), 10 % first so the RSS figure is the growth
 *      over the other 90 %: connect rate, failures, RSS per device per instance;
 *   2. hold them idle through `--hold-rounds` heartbeat rounds: the instances' CPU per round above
 *      their idle baseline with no device;
 *   3. fan-out: one write per user, open loop at `--write-rate`, spread over the instances; every
 *      device of the user must receive it: delivery (due → arrival) p50/p99/max, missing; Redis and
 *      PostgreSQL CPU and commands per write over the round;
 *   4. reconnect storm: SIGTERM to one instance; its devices get 1012 with a retryAfterMs spread over
 *      max(RESTART_JITTER_MS, devices / RESTART_RECONNECT_RATE) and reconnect elsewhere as the client library's ReconnectPolicy decides, resuming with
 *      lastSeq + epoch, while one write per affected user is made (some land while its device is
 *      away, so its resume replays them). Storm duration (SIGTERM → the last device's HELLO), and
 *      missing: every device's lastSeq must end at its user's count of successful writes, with no
 *      hole, duplicate or RESYNC_REQUIRED on the way.
 * The file-descriptor limit (`ulimit -n`, 20,000 here, not raisable without privileges) sets N: after
 * the storm N − 1 instances hold every device. Loopback only, bounded (`--max-minutes`), every
 * process stopped at the end and on Ctrl-C.
 *
 * The defaults are the run that passed with 100,000 devices on this 2-core machine (docs/capacity.md).
 * At 100 writes/s with a 10 s heartbeat the fan-out alone took ~1.9 of the 2 cores (instances,
 * PostgreSQL, the simulated devices), and in the storm starved processes missed pongs: 4408 closes
 * of healthy devices that reconnected too, and 65-71 % of the devices were still down after 120 s.
 *
 *   npm run scale -- [--devices 100000] [--per-user 3] [--instances auto] [--workers auto]
 *     [--heartbeat-ms 30000] [--hold-rounds 2] [--write-rate 50] [--restart-jitter-ms 5000] [--reconnect-rate 300]
 *     [--storm-timeout-s 120] [--max-minutes 40] [--source] [--new-users]
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ensureBuilt } from './lib/build.js';
import { isMain, runMain, writeResult } from './lib/cli.js';
import { startClientWorkers, type ClientWorkers } from './lib/cluster-clients.js';
import { renderClusterReport } from './lib/cluster-report.js';
import { instanceCpu, instanceMemory, startCluster, type Cluster } from './lib/cluster.js';
import { mergeStatus, redisDelta, delta, sum, type Status, type Verify } from './lib/cluster-status.js';
import { createWriter } from './lib/cluster-writes.js';
import { handleInterrupts, type Interrupt } from './lib/interrupt.js';
import { cpuSeconds, openFilesLimit } from './lib/proc.js';
import { mintToken, TEST_SECRET } from './lib/service.js';
import { LatencyHistogram, round } from './lib/stats.js';

export interface ClusterScaleOptions {
  devices: number;
  perUser: number;
  instances: number;
  workers: number;
  heartbeatMs: number;
  holdRounds: number;
  writeRate: number;
  restartJitterMs: number;
  /** RESTART_RECONNECT_RATE of every instance: the storm's devices are spread to at most this many per second. */
  reconnectRate: number;
  stormTimeoutS: number;
  maxMinutes: number;
  source: boolean;
  /** Do not create the users' logs beforehand: every first connect commits one (a fleet of new sign-ups). */
  newUsers: boolean;
}


const nowMs = () => performance.timeOrigin + performance.now();

/** Instances so that N − 1 of them hold every device with 1,500 descriptors to spare each (at least 6). */
export function defaultInstances(devices: number, fdLimit: number): number {
  return Math.max(6, Math.ceil(devices / Math.max(1000, fdLimit - 1500)) + 1);
}

export type ClusterReport = Awaited<ReturnType<typeof runClusterScale>>;

export async function runClusterScale(o: ClusterScaleOptions, interrupt: Interrupt, log: (s: string) => void = console.log) {
  const signal = AbortSignal.any([interrupt.signal, AbortSignal.timeout(o.maxMinutes * 60_000)]);
  const check = () => {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(`time limit of ${o.maxMinutes} min reached`);
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(t);
        reject(signal.reason as Error);
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  const started = Date.now();
  const fdLimit = openFilesLimit() ?? 1024;
  const perInstanceAfterStorm = Math.ceil(o.devices / (o.instances - 1));
  if (o.instances < 2 || perInstanceAfterStorm > fdLimit - 500) {
    throw new Error(`${o.instances} instances: after the storm each would hold ${perInstanceAfterStorm} devices, over the ${fdLimit} file descriptors a process may open here; use --instances ${defaultInstances(o.devices, fdLimit)}`);
  }
  if (Math.ceil(o.devices / o.workers) > fdLimit - 500) throw new Error(`${o.workers} workers cannot hold ${o.devices} sockets with ${fdLimit} descriptors each`);
  log(`cluster-scale: ${o.devices} devices (${o.perUser} per user), ${o.instances} instances, ${o.workers} client workers; file descriptors per process: ${fdLimit} (ulimit -n)`);
  log(`  every instance: RATE_LIMIT_ENABLED=0 (the per-IP limits would refuse the test's own loopback connects and writes), HEARTBEAT_MS=${o.heartbeatMs} (the service's default is 30000), RESTART_JITTER_MS=${o.restartJitterMs}, RESTART_RECONNECT_RATE=${o.reconnectRate} (the storm's devices come back over max(jitter, devices / rate))`);
  if (!o.source) ensureBuilt(log);
  const runId = randomUUID().slice(0, 8);
  const users = Math.ceil(o.devices / o.perUser);
  const tokens = new Map<number, Promise<string>>();
  const tokenOf = (u: number) => {
    let t = tokens.get(u);
    if (!t) tokens.set(u, (t = mintToken(`scale-${runId}-${u}`, { ttlSec: 3 * 3600 })));
    return t;
  };
  let cluster: Cluster | null = null;
  let workers: ClientWorkers | null = null;
  const writer = createWriter(tokenOf);
  try {
    cluster = await startCluster(o, interrupt, log);
    const c = cluster;
    const urls = c.instances.map((i) => i.service.url);
    if (!o.newUsers) await c.seedUsers(`scale-${runId}-`, users + o.instances);
    log(o.newUsers ? '  users are new: each first connect creates its event log (one durable INSERT)' : `  ${users} users already have their event log (user_logs rows made before the run, as for users who signed up earlier)`);
    // Warm-up (one write through each instance, users outside the run), then the idle baseline.
    for (const [i, url] of urls.entries()) {
      const w = await writer.round({ name: 'warm', users: [users + i], urls: [url], rate: 1000, signal, onWritten: () => undefined });
      if (w.ok !== 1) throw new Error(`warm-up write through instance ${i} failed: ${JSON.stringify(w.statuses)}`);
    }
    await sleep(1000);
    const idle0 = instanceCpu(c);
    // One outbox interval (OUTBOX_INTERVAL_MS, 5 s): the sweep is part of the idle baseline.
    await sleep(5000);
    const idle1 = instanceCpu(c);
    const idleCpuPerSec = idle0.map((v, i) => ((idle1[i] ?? 0) - (v ?? 0)) / 5);
    const mem0 = await instanceMemory(c);
    check();

    workers = startClientWorkers({ devices: o.devices, perUser: o.perUser, workers: o.workers, urls: c.instances.map((i) => i.service.wsUrl), instanceIds: c.instances.map((i) => i.service.instanceId), runId, secret: TEST_SECRET, maxMs: o.maxMinutes * 60_000 + 60_000 });
    const w = workers;
    await w.ready;
    const status = async () => mergeStatus(await w.all<Status>('status'));
    // ---- 1. connect ----
    const phase = async (fromFrac: number, toFrac: number) => {
      const t = performance.now();
      const rs = await w.all<{ ok: number; failed: number }>(
        'connect',
        (_, s) => {
          const n = s.deviceTo - s.deviceFrom;
          return { from: Math.floor(n * fromFrac), to: Math.floor(n * toFrac) };
        },
        10 * 60_000,
      );
      return { ok: sum(rs.map((r) => r.ok)), failed: sum(rs.map((r) => r.failed)), seconds: (performance.now() - t) / 1000 };
    };
    const first = await phase(0, 0.1);
    log(`connect: the first ${first.ok} devices in ${round(first.seconds)} s (${first.failed} failed); GC and RSS, then the other 90 %`);
    const memMid = await instanceMemory(c);
    const atMid = (await status()).perInstance;
    check();
    const second = await phase(0.1, 1);
    const memAfter = await instanceMemory(c);
    const afterConnect = await status();
    const connected = first.ok + second.ok;
    const connectSeconds = first.seconds + second.seconds;
    const connect = { devices: connected, failed: first.failed + second.failed, seconds: round(connectSeconds), ratePerSec: round(connected / connectSeconds) };
    log(`connect: ${connected}/${o.devices} devices (${users} users × ${o.perUser}) in ${connect.seconds} s: ${Math.round(connect.ratePerSec)}/s, ${connect.failed} failed`);
    const rss = c.instances.map((inst, i) => {
      const devices = afterConnect.perInstance[i]!;
      const grown = devices - atMid[i]!;
      const a = memMid[i]!.rssKb;
      const b = memAfter[i]!.rssKb;
      return {
        instance: inst.service.instanceId,
        devices,
        rssStartKb: mem0[i]!.rssKb,
        rssKb: b,
        perDeviceKb: a !== null && b !== null && grown > 0 ? round((b - a) / grown) : null,
        liveHeapPerDeviceKb: memMid[i]!.liveKb !== null && memAfter[i]!.liveKb !== null && grown > 0 ? round((memAfter[i]!.liveKb! - memMid[i]!.liveKb!) / grown) : null,
      };
    });
    for (const r of rss) log(`  ${r.instance}: ${r.devices} devices, RSS ${r.rssStartKb} → ${r.rssKb} KiB, ${r.perDeviceKb} KiB per device (live JS heap ${r.liveHeapPerDeviceKb} KiB)`);

    // ---- 2. heartbeat rounds, idle ----
    const holdMs = o.holdRounds * o.heartbeatMs;
    const h0 = instanceCpu(c);
    const hw0 = w.cpuSeconds();
    await sleep(holdMs);
    const h1 = instanceCpu(c);
    const hw1 = w.cpuSeconds();
    const afterHold = await status();
    const perRoundMs = h0.map((v, i) => round((Math.max(0, (h1[i] ?? 0) - (v ?? 0) - idleCpuPerSec[i]! * (holdMs / 1000)) * 1000) / o.holdRounds));
    const heartbeat = {
      heartbeatMs: o.heartbeatMs,
      rounds: o.holdRounds,
      cpuMsPerRound: perRoundMs,
      clusterCpuMsPerRound: round(sum(perRoundMs)),
      usPerDevicePerRound: round((sum(perRoundMs) * 1000) / Math.max(1, connected), 3),
      clusterCpuPercentOfOneCore: round((sum(perRoundMs) / o.heartbeatMs) * 100),
      idleBaselineCpuPercent: idleCpuPerSec.map((v) => round(v * 100)),
      workerCpuMsPerRound: round(((hw1 - hw0) * 1000) / o.holdRounds),
      closesDuringHold: sum(Object.values(afterHold.closesByCode)) - sum(Object.values(afterConnect.closesByCode)),
      openAfterHold: afterHold.open,
    };
    log(`heartbeat: ${o.holdRounds} rounds of ${o.heartbeatMs} ms held: the instances' CPU per round above idle ${heartbeat.clusterCpuMsPerRound} ms (${heartbeat.usPerDevicePerRound} µs per device; per instance ${perRoundMs.join(', ')} ms), ${heartbeat.closesDuringHold} sockets closed, ${afterHold.open} open`);
    check();

    // ---- 3. fan-out round ----
    const writesPerUser = new Uint16Array(users);
    const onWritten = (u: number) => void (writesPerUser[u]! += 1);
    const verifyAll = async (timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const vs = await w.all<Verify>('verify', (_, s) => ({ expected: Array.from(writesPerUser.subarray(s.userFrom, s.userTo)) }));
        const v = { atExpected: sum(vs.map((x) => x.atExpected)), missing: sum(vs.map((x) => x.missing)), ahead: sum(vs.map((x) => x.ahead)), devices: sum(vs.map((x) => x.devices)) };
        if ((v.atExpected === v.devices && v.missing === 0) || Date.now() > deadline) return v;
        await sleep(250);
      }
    };
    const collect = async (name: string) => {
      const h = new LatencyHistogram();
      for (const r of await w.all<{ latencies: number[] }>('collect', () => ({ round: name }))) for (const l of r.latencies) h.recordMs(l);
      return h.summary();
    };
    const costs = () => ({ inst: instanceCpu(c), pg: c.pgCpuSeconds(), redis: c.redisInfo(), workers: w.cpuSeconds(), me: cpuSeconds(process.pid) ?? 0 });
    // Tokens first: signing 33,334 JWTs is the harness's cost, not the round's.
    await Promise.all(Array.from({ length: users }, (_, u) => tokenOf(u)));
    const f0 = costs();
    const redis0 = await f0.redis;
    const allUsers = Array.from({ length: users }, (_, u) => u);
    const fw = await writer.round({ name: 'fanout', users: allUsers, urls, rate: o.writeRate, signal, onWritten });
    const fv = await verifyAll(120_000);
    const f1 = costs();
    const redis1 = await f1.redis;
    const fanLatency = await collect('fanout');
    const per = (a: number | null, b: number | null) => (a !== null && b !== null && fw.ok > 0 ? round(((b - a) * 1000) / fw.ok, 3) : null);
    const fanout = {
      writes: fw,
      expectedDeliveries: fv.devices,
      delivered: fanLatency.count,
      missing: fv.missing,
      devicesAtExpectedSeq: fv.atExpected,
      devicesAhead: fv.ahead,
      latency: fanLatency,
      cpuMsPerWrite: {
        instances: per(sum(f0.inst.map((v) => v ?? 0)), sum(f1.inst.map((v) => v ?? 0))),
        postgres: per(f0.pg, f1.pg),
        redis: per(redis0.cpuSeconds, redis1.cpuSeconds),
        clientWorkers: per(f0.workers, f1.workers),
        writer: per(f0.me, f1.me),
      },
      redis: redisDelta(redis0, redis1, fw.ok),
    };
    log(`fan-out: ${fw.ok}/${fw.writes} writes at ${o.writeRate}/s in ${fw.seconds} s (REST p50 ${fw.rest.p50} p99 ${fw.rest.p99} ms, writer behind schedule by at most ${fw.maxLagMs} ms) → ${fanLatency.count} deliveries to ${fv.devices} devices: p50 ${fanLatency.p50} p99 ${fanLatency.p99} max ${fanLatency.max} ms, missing ${fv.missing}`);
    log(`  CPU ms per write: instances ${fanout.cpuMsPerWrite.instances}, PostgreSQL ${fanout.cpuMsPerWrite.postgres}, Redis ${fanout.cpuMsPerWrite.redis} (${JSON.stringify(fanout.redis.callsPerWrite)}), client workers ${fanout.cpuMsPerWrite.clientWorkers}, writer ${fanout.cpuMsPerWrite.writer}`);
    check();

    // ---- 4. reconnect storm ----
    const victim = o.instances - 1;
    const before = await status();
    const moving = before.perInstance[victim]!;
    const affected = new Set<number>();
    for (let i = victim; i < o.devices; i += o.instances) affected.add(Math.floor(i / o.perUser));
    const stormUsers = [...affected].sort(() => Math.random() - 0.5);
    const liveUrls = urls.filter((_, i) => i !== victim);
    const t0 = nowMs();
    log(`storm: SIGTERM to ${c.instances[victim]!.service.instanceId} holding ${moving} devices; one write per affected user (${stormUsers.length}) at ${o.writeRate}/s to the other instances`);
    const exited = c.stopInstance(victim).then((code) => ({ code, afterMs: round(nowMs() - t0) }));
    const stormWrites = writer.round({ name: 'storm', users: stormUsers, urls: liveUrls, rate: o.writeRate, signal, onWritten });
    let back: Status = before;
    for (;;) {
      await sleep(200);
      back = await status();
      if ((back.perInstance[victim] === 0 && back.down === 0 && back.reconnects - before.reconnects >= moving) || nowMs() - t0 > o.stormTimeoutS * 1000) break;
    }
    const stormMs = round(Math.max(0, back.lastBackAt - t0));
    const sw = await stormWrites;
    const victimExit = await exited;
    const sv = await verifyAll(120_000);
    const after = await status();
    const stormLatency = await collect('storm');
    const storm = {
      instance: c.instances[victim]!.service.instanceId,
      devicesMoved: moving,
      durationMs: stormMs,
      /** The moved devices over the storm's duration (what the other instances absorbed, jitter included). */
      reconnectsPerSec: stormMs > 0 ? round((moving * 1000) / stormMs) : null,
      allBack: back.down === 0 && back.perInstance[victim] === 0,
      victimExit,
      reconnects: after.reconnects - before.reconnects,
      connectFailures: after.connectFailures - before.connectFailures,
      closesByCode: delta(before.closesByCode, after.closesByCode),
      failuresByCause: delta(before.failuresByCause, after.failuresByCause),
      devicesStillDown: back.down,
      perInstanceAfter: after.perInstance,
      writes: sw,
      latency: stormLatency,
      missing: sv.missing,
      devicesAtExpectedSeq: sv.atExpected,
      devices: sv.devices,
      devicesAhead: sv.ahead,
    };
    log(`  ${storm.allBack ? `every device back after ${stormMs} ms` : `NOT every device back: ${back.down} still down after ${o.stormTimeoutS} s (the last came back ${stormMs} ms after SIGTERM)`} (${storm.reconnects} reconnects, ${storm.connectFailures} failed attempts ${JSON.stringify(storm.failuresByCause)}, closes ${JSON.stringify(storm.closesByCode)}; the instance exited ${victimExit.code} after ${victimExit.afterMs} ms; ${storm.reconnectsPerSec} devices/s back); devices now per instance ${after.perInstance.join(', ')}`);
    log(`  ${sw.ok}/${sw.writes} writes during and after it → delivery p50 ${stormLatency.p50} p99 ${stormLatency.p99} max ${stormLatency.max} ms; every device at its user's last seq: ${sv.atExpected}/${sv.devices}, missing ${sv.missing}`);
    log(`  whole run: holes ${after.gaps} (${after.gapEvents} events), duplicates ${after.duplicates}, RESYNC_REQUIRED ${after.resyncs}, devices that stopped reconnecting ${after.stopped}`);
    return {
      options: o,
      machine: { fdLimit, node: process.version },
      env: c.env,
      connect,
      rss,
      heartbeat,
      fanout,
      storm,
      integrity: { holes: after.gaps, holeEvents: after.gapEvents, duplicates: after.duplicates, resyncs: after.resyncs, stopped: after.stopped },
      redis: { channelsAfterConnect: redis0.pubsubChannels, clients: redis0.connectedClients },
      tookSeconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await workers?.stop().catch(() => undefined);
    await writer.close().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
  }
}

if (isMain(import.meta.url)) {
  const interrupt = handleInterrupts();
  runMain(
    'cluster-scale',
    async () => {
      const { values } = parseArgs({
        options: {
          devices: { type: 'string', default: '100000' },
          'per-user': { type: 'string', default: '3' },
          instances: { type: 'string', default: 'auto' },
          workers: { type: 'string', default: 'auto' },
          'heartbeat-ms': { type: 'string', default: '30000' },
          'hold-rounds': { type: 'string', default: '2' },
          'write-rate': { type: 'string', default: '50' },
          'restart-jitter-ms': { type: 'string', default: '5000' },
          'reconnect-rate': { type: 'string', default: '300' },
          'storm-timeout-s': { type: 'string', default: '120' },
          'max-minutes': { type: 'string', default: '40' },
          source: { type: 'boolean', default: false },
          'new-users': { type: 'boolean', default: false },
        },
      });
      const devices = Number(values.devices);
      const fd = openFilesLimit() ?? 1024;
      const o: ClusterScaleOptions = {
        devices,
        perUser: Number(values['per-user']),
        instances: values.instances === 'auto' ? defaultInstances(devices, fd) : Number(values.instances),
        workers: values.workers === 'auto' ? Math.max(2, Math.ceil(devices / 15_000)) : Number(values.workers),
        heartbeatMs: Number(values['heartbeat-ms']),
        holdRounds: Number(values['hold-rounds']),
        writeRate: Number(values['write-rate']),
        restartJitterMs: Number(values['restart-jitter-ms']),
        reconnectRate: Number(values['reconnect-rate']),
        stormTimeoutS: Number(values['storm-timeout-s']),
        maxMinutes: Number(values['max-minutes']),
        source: values.source,
        newUsers: values['new-users'],
      };
      for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && !(Number.isFinite(v) && v > 0)) throw new Error(`--${k}: a positive number, got ${v}`);
      if (o.devices > 1_000_000) throw new Error('--devices: at most 1,000,000');
      const r = await runClusterScale(o, interrupt);
      const json = writeResult('cluster-scale', r);
      const md = json.replace(/\.json$/, '.md');
      writeFileSync(md, renderClusterReport(r));
      console.log(`results: ${json}\n         ${md}`);
    },
    interrupt,
  );
}
