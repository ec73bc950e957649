/**
 * What one delivered event costs Redis: the bus adapters alone (no service, no database), one small
 * fan-out run on each of
 *
 *   redis            one redis-server, classic PUBLISH/SUBSCRIBE (bus-redis.ts)
 *   cluster-sharded  a 3-master Redis Cluster, SPUBLISH/SSUBSCRIBE (bus-redis-cluster.ts)
 *   cluster-classic  the same cluster, classic pub/sub through one node (what sharding replaces)
 *
 * I "instances" (buses) each hold U users; every user is held by 2 of them, as a user with devices
 * on two instances. E events per user are published from the instances in turn. Before and after,
 * every Redis node's INFO (cpu, commandstats) and CLUSTER INFO (messages over the cluster bus) are
 * read, so the figures are Redis's own: CPU µs and commands per delivered event, per node, and the
 * cluster-bus messages each publish caused.
 *
 *   npx tsx loadtest/bus-redis-cost.ts [--instances 4] [--users 500] [--events 20]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createRedisBus } from '../service/src/adapters/bus-redis.js';
import { createRedisClusterBus } from '../service/src/adapters/bus-redis-cluster.js';
import type { Bus, BusEvent } from '../service/src/ports/bus.js';
import { startRedisCluster } from '../tools/redis-cluster.js';
import { startRedis } from '../tools/redis-server.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '4' },
    users: { type: 'string', default: '500' },
    events: { type: 'string', default: '20' },
  },
});
const INSTANCES = Number(values.instances);
const USERS = Number(values.users);
const EVENTS = Number(values.events);
const log = pino({ level: 'silent' });

interface NodeStats {
  cpuS: number;
  calls: Map<string, number>;
  clusterMsgs: number;
}

async function nodeStats(port: number): Promise<NodeStats> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  try {
    const info = await r.info('all');
    const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    const calls = new Map<string, number>();
    for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]));
    let clusterMsgs = 0;
    if (/cluster_enabled:1/.test(info)) {
      const ci = String(await r.call('CLUSTER', 'INFO'));
      clusterMsgs = [...ci.matchAll(/^cluster_stats_messages_(publish|publishshard)_sent:(\d+)/gm)].reduce((a, m) => a + Number(m[2]), 0);
    }
    return { cpuS: num('used_cpu_user') + num('used_cpu_sys'), calls, clusterMsgs };
  } finally {
    r.disconnect();
  }
}

/** Pub/sub commands and CPU between two snapshots (INFO, CLUSTER and friends left out: they are ours). */
function diff(a: NodeStats, b: NodeStats) {
  let commands = 0;
  const byCommand: Record<string, number> = {};
  for (const [cmd, n] of b.calls) {
    if (/^(info|cluster|client|ping|hello|select|command)/.test(cmd)) continue;
    const d = n - (a.calls.get(cmd) ?? 0);
    if (d <= 0) continue;
    byCommand[cmd] = d;
    commands += d;
  }
  return { cpuUs: (b.cpuS - a.cpuS) * 1e6, commands, byCommand, clusterMsgs: b.clusterMsgs - a.clusterMsgs };
}

async function run(name: string, ports: number[], makeBus: (h: { onEvent: (e: BusEvent) => void }) => Bus) {
  let delivered = 0;
  const buses = Array.from({ length: INSTANCES }, () => makeBus({ onEvent: () => (delivered += 1) }));
  const users = Array.from({ length: USERS }, (_, u) => `user-${u}`);
  // User u is on instances u and u+1 (mod I): every user on two instances.
  await Promise.all(users.map((u, i) => Promise.all([buses[i % INSTANCES]!.subscribe(u), buses[(i + 1) % INSTANCES]!.subscribe(u)])));
  await new Promise((r) => setTimeout(r, 500));
  // Idle cost (a cluster node gossips and runs its cron even with no traffic): measured, then subtracted.
  const idle0 = await Promise.all(ports.map(nodeStats));
  const idleStart = Date.now();
  await new Promise((r) => setTimeout(r, 2_000));
  const before = await Promise.all(ports.map(nodeStats));
  const idleUsPerMs = before.map((b, i) => ((b.cpuS - idle0[i]!.cpuS) * 1e6) / (Date.now() - idleStart));
  const t0 = Date.now();
  for (let e = 1; e <= EVENTS; e += 1) {
    await Promise.all(
      users.map((userId, i) =>
        buses[(i + e) % INSTANCES]!.publish({ userId, seq: e, epoch: 'x', type: 'DRAFT_UPDATED', timestamp: new Date().toISOString(), frame: JSON.stringify({ seq: e, payload: { text: 'x'.repeat(200) } }) }),
      ),
    );
  }
  const expected = USERS * EVENTS * 2;
  for (const end = Date.now() + 30_000; delivered < expected && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  const ms = Date.now() - t0;
  const after = await Promise.all(ports.map(nodeStats));
  await Promise.all(buses.map((b) => b.close()));
  const perNode = before.map((b, i) => {
    const d = diff(b, after[i]!);
    return { ...d, cpuUs: Math.max(0, d.cpuUs - idleUsPerMs[i]! * ms) };
  });
  const cpuUs = perNode.reduce((a, n) => a + n.cpuUs, 0);
  const commands = perNode.reduce((a, n) => a + n.commands, 0);
  const clusterMsgs = perNode.reduce((a, n) => a + n.clusterMsgs, 0);
  const published = USERS * EVENTS;
  process.stdout.write(
    `${name.padEnd(16)} published ${published}, delivered ${delivered}/${expected} in ${ms} ms | ` +
      `Redis CPU ${(cpuUs / 1000).toFixed(0)} ms = ${(cpuUs / delivered).toFixed(2)} µs per delivered event ` +
      `(busiest node ${(Math.max(...perNode.map((n) => n.cpuUs)) / delivered).toFixed(2)} µs) | ` +
      `${(commands / published).toFixed(2)} commands per publish | cluster-bus messages per publish ${(clusterMsgs / published).toFixed(2)}\n` +
      perNode.map((n, i) => `    node ${i}: cpu ${(n.cpuUs / 1000).toFixed(0)} ms, ${JSON.stringify(n.byCommand)}\n`).join(''),
  );
}

async function main() {
  process.stdout.write(`bus-redis-cost: ${INSTANCES} instances, ${USERS} users each on 2 of them, ${EVENTS} events per user (Redis CPU net of its idle rate)\n`);
  const single = await startRedis();
  try {
    await run('redis', [single.port], (h) => createRedisBus(h, { url: single.url, log, prefix: 'c1:' }));
  } finally {
    await single.stop();
  }
  const cluster = await startRedisCluster();
  try {
    const ports = cluster.nodes.map((n) => n.port);
    await run('cluster-sharded', ports, (h) => createRedisClusterBus(h, { target: { kind: 'cluster', nodes: cluster.nodes }, log, prefix: 'c2:' }));
    // Classic pub/sub on a cluster: each instance on "its" node; every PUBLISH is copied to every node.
    let k = 0;
    await run('cluster-classic', ports, (h) => createRedisBus(h, { url: `redis://127.0.0.1:${ports[k++ % ports.length]}`, log, prefix: 'c3:' }));
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bus-redis-cost failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
