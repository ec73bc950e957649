/** The Markdown page of a cluster-scale run (loadtest/results/cluster-scale-<date>.md), beside its JSON. */
import { cpus, totalmem } from 'node:os';
import type { ClusterReport } from '../cluster-scale.js';

const n = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toLocaleString('en-US'));

export function renderClusterReport(r: ClusterReport): string {
  const o = r.options;
  const f = r.fanout;
  const s = r.storm;
  const h = r.heartbeat;
  const lines = [
    `# Cluster scale: ${n(r.connect.devices)} devices on ${o.instances} instances`,
    '',
    `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GB, Node ${r.machine.node}, ${r.machine.fdLimit} file descriptors per process. Took ${r.tookSeconds} s. ` +
      `Everything on this machine: ${o.instances} instances (child processes), one PostgreSQL 15 (fsync on), one Redis, ${o.workers} client worker processes, the writer.`,
    '',
    `Command: \`npm run scale -- --devices ${o.devices} --per-user ${o.perUser} --instances ${o.instances} --workers ${o.workers} --heartbeat-ms ${o.heartbeatMs} --hold-rounds ${o.holdRounds} --write-rate ${o.writeRate} --restart-jitter-ms ${o.restartJitterMs} --reconnect-rate ${o.reconnectRate}${o.source ? ' --source' : ''}\``,
    '',
    `Instance env: ${Object.entries(r.env)
      .map(([k, v]) => `\`${k}=${v}\``)
      .join(', ')} (RATE_LIMIT_ENABLED=0: every device and the writer come from loopback; HEARTBEAT_MS shortened from the default 30000 so the rounds fit the run).`,
    '',
    '| figure | value |',
    '|---|---|',
    `| devices connected (authenticated, HELLO received) | ${n(r.connect.devices)} of ${n(o.devices)}, ${n(r.connect.failed)} failed |`,
    `| connect rate | ${n(Math.round(r.connect.ratePerSec))} devices/s (${r.connect.seconds} s) |`,
    `| heartbeat CPU per round (${h.rounds} rounds of ${h.heartbeatMs} ms, above idle) | ${h.clusterCpuMsPerRound} ms for the cluster (${h.usPerDevicePerRound} µs per device), ${h.closesDuringHold} sockets closed during the hold |`,
    `| fan-out (one write per user, ${o.writeRate}/s) | ${n(f.writes.ok)}/${n(f.writes.writes)} writes, ${n(f.delivered)} deliveries to ${n(f.expectedDeliveries)} devices: p50 ${f.latency.p50} ms, p99 ${f.latency.p99} ms, max ${f.latency.max} ms, **missing ${n(f.missing)}** |`,
    `| reconnect storm (SIGTERM to ${s.instance}, ${n(s.devicesMoved)} devices) | ${s.allBack ? `every device back after **${n(s.durationMs)} ms** (${n(s.reconnectsPerSec)} devices/s)` : `**${n(s.devicesStillDown)} devices still down** after ${o.stormTimeoutS} s`}, ${n(s.reconnects)} reconnects, ${n(s.connectFailures)} failed attempts ${JSON.stringify(s.failuresByCause)} |`,
    `| storm writes (one per affected user) | ${n(s.writes.ok)}/${n(s.writes.writes)}, delivery p50 ${s.latency.p50} p99 ${s.latency.p99} max ${s.latency.max} ms; devices at their user's last seq ${n(s.devicesAtExpectedSeq)}/${n(s.devices)}, **missing ${n(s.missing)}** |`,
    `| holes / duplicates / RESYNC_REQUIRED / devices that gave up | ${r.integrity.holes} / ${r.integrity.duplicates} / ${r.integrity.resyncs} / ${r.integrity.stopped} |`,
    '',
    '## Per instance',
    '',
    '| instance | devices | RSS at start KiB | RSS connected KiB | RSS per device KiB | live JS heap per device KiB | heartbeat CPU ms per round | idle CPU % | devices after the storm |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.rss.map(
      (x, i) =>
        `| ${x.instance} | ${n(x.devices)} | ${n(x.rssStartKb)} | ${n(x.rssKb)} | ${n(x.perDeviceKb)} | ${n(x.liveHeapPerDeviceKb)} | ${n(h.cpuMsPerRound[i])} | ${n(h.idleBaselineCpuPercent[i])} | ${n(s.perInstanceAfter[i])} |`,
    ),
    '',
    'RSS per device: VmRSS after a full GC with every device connected, minus the same after the first 10 %, over the devices added in between.',
    '',
    'Missing: devices whose `lastSeq` was still short of their user\'s count of successful writes 120 s after the last write answered (a hole counts its events too).',
    '',
    '## Cost per write (fan-out round)',
    '',
    '| process | CPU ms per write |',
    '|---|---|',
    `| the ${o.instances} instances together | ${n(f.cpuMsPerWrite.instances)} |`,
    `| PostgreSQL (every postgres process) | ${n(f.cpuMsPerWrite.postgres)} |`,
    `| Redis (INFO cpu) | ${n(f.cpuMsPerWrite.redis)} |`,
    `| client workers (the devices) | ${n(f.cpuMsPerWrite.clientWorkers)} |`,
    `| writer | ${n(f.cpuMsPerWrite.writer)} |`,
    '',
    `Redis commands per write: ${Object.entries(f.redis.callsPerWrite)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; ${n(r.redis.channelsAfterConnect)} channels subscribed, ${n(r.redis.clients)} clients.`,
    '',
    `REST (due → answer): p50 ${f.writes.rest.p50} ms, p99 ${f.writes.rest.p99} ms; the writer fell behind its schedule by at most ${f.writes.maxLagMs} ms; statuses ${JSON.stringify(f.writes.statuses)}.`,
    '',
    '## Storm',
    '',
    `${s.instance} got SIGTERM and exited ${s.victimExit.code} after ${s.victimExit.afterMs} ms; its devices were closed with ${JSON.stringify(s.closesByCode)} and reconnected as the client library's ReconnectPolicy decides (the 1012 reason's retryAfterMs, up to max(RESTART_JITTER_MS=${o.restartJitterMs}, devices / RESTART_RECONNECT_RATE=${o.reconnectRate} per s), then the next URL of the device's list), resuming with lastSeq + epoch. Devices per instance after: ${s.perInstanceAfter.join(', ')}.`,
    '',
  ];
  return `${lines.join('\n')}\n`;
}
