/**
 * The system under test of cluster-scale.ts: N service instances (child processes, the built
 * service unless `source`) on one throwaway PostgreSQL (fsync on, migrated once before the
 * instances start) and one throwaway Redis, every one on 127.0.0.1. Each instance runs with the
 * bench's env (stack.ts's BENCH_SERVICE_ENV: quiet logs, no maintenance timer, RATE_LIMIT_ENABLED=0,
 * since every synthetic device and writer comes from loopback and the per-IP limits would refuse
 * the test's own connects) and with gc-preload (a full GC on SIGUSR2, for the RSS figures).
 *
 * Also the probes the report needs: per-instance CPU and RSS from /proc, PostgreSQL's CPU (the
 * postmaster's process tree), Redis's CPU and command counts (INFO cpu / commandstats).
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { startRedis, type RedisServer } from '../../tools/redis-server.js';
import { spawnService, type ServiceProcess } from '../../tools/service-process.js';
import type { Interrupt } from './interrupt.js';
import { cpuSeconds, gcEnv, gcMemory, treeCpuSeconds, type MemorySample } from './proc.js';
import { BENCH_SERVICE_ENV, startDatabase, type Database } from './stack.js';

export interface Instance {
  index: number;
  service: ServiceProcess;
  memoryFile: string;
  pid: number;
}

export interface Cluster {
  instances: Instance[];
  db: Database;
  redis: RedisServer;
  /** The env every instance got (for the report). */
  env: Record<string, string>;
  /** Give users `<prefix>0…<prefix>count-1` their event log (one `user_logs` row each), as users who signed up before. */
  seedUsers(prefix: string, count: number): Promise<void>;
  redisInfo(): Promise<RedisSample>;
  pgCpuSeconds(): number | null;
  /** SIGTERM one instance (graceful: 1012 to its devices); resolves with its exit code once it exited. */
  stopInstance(i: number): Promise<number | null>;
  stop(): Promise<void>;
}

export interface RedisSample {
  cpuSeconds: number;
  /** calls per command name (`publish`, `subscribe`, …) since Redis started. */
  calls: Record<string, number>;
  pubsubChannels: number;
  connectedClients: number;
}

export async function startCluster(
  o: { instances: number; heartbeatMs: number; restartJitterMs: number; reconnectRate: number; source: boolean },
  interrupt: Interrupt,
  log: (s: string) => void,
): Promise<Cluster> {
  const db = await startDatabase(interrupt, { migrate: true });
  let redis: RedisServer | null = null;
  const instances: Instance[] = [];
  let probe: Redis | null = null;
  const env: Record<string, string> = {
    ...BENCH_SERVICE_ENV,
    HEARTBEAT_MS: String(o.heartbeatMs),
    RESTART_JITTER_MS: String(o.restartJitterMs),
    RESTART_RECONNECT_RATE: String(o.reconnectRate),
    SHUTDOWN_TIMEOUT_MS: '10000',
  };
  const stopAll = async () => {
    await Promise.all(
      instances.map(async (inst) => {
        const t = setTimeout(() => inst.service.proc.kill('SIGKILL'), 15_000);
        await inst.service.kill('SIGTERM');
        clearTimeout(t);
      }),
    );
    probe?.disconnect();
    await redis?.stop();
    db.stop();
  };
  const unforce = interrupt.onForce(() => {
    for (const inst of instances) inst.service.proc.kill('SIGKILL');
  });
  try {
    redis = await startRedis();
    const r = redis;
    log(`cluster: PostgreSQL ${db.url} (fsync on), Redis ${r.url}; starting ${o.instances} instances (${o.source ? 'sources through tsx' : 'built: node dist/service/src/main.js'})`);
    // One after another: each start-up is a burst of CPU (and of migrations checks) on 2 cores.
    for (let i = 0; i < o.instances; i += 1) {
      interrupt.check();
      const gc = gcEnv();
      const service = await spawnService({ ...env, ...gc, DATABASE_URL: db.url, REDIS_URL: r.url }, `scale-${i}`, { built: !o.source });
      instances.push({ index: i, service, memoryFile: gc.LOADTEST_MEMORY_FILE!, pid: service.proc.pid! });
    }
    probe = new Redis(r.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    // Redis is stopped (or SIGTERMed by an interrupt) while this probe still holds a connection.
    probe.on('error', () => undefined);
  } catch (err) {
    unforce();
    await stopAll();
    throw err;
  }
  const client = probe;
  return {
    instances,
    db,
    redis,
    env,
    async seedUsers(prefix, count) {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query(
          `INSERT INTO user_logs (user_id, epoch) SELECT $1 || g, gen_random_uuid()::text FROM generate_series(0, $2::int - 1) AS g ON CONFLICT DO NOTHING`,
          [prefix, count],
        );
      } finally {
        await client.end();
      }
    },
    async redisInfo() {
      const [cpu, cmd, clients, stats] = await Promise.all([client.info('cpu'), client.info('commandstats'), client.info('clients'), client.info('stats')]);
      const num = (text: string, k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
      const calls: Record<string, number> = {};
      for (const m of cmd.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
      return {
        cpuSeconds: num(cpu, 'used_cpu_sys') + num(cpu, 'used_cpu_user'),
        calls,
        pubsubChannels: num(stats, 'pubsub_channels'),
        connectedClients: num(clients, 'connected_clients'),
      };
    },
    pgCpuSeconds: () => {
      const pid = db.postmasterPid();
      return pid === null ? null : treeCpuSeconds(pid);
    },
    async stopInstance(i) {
      const inst = instances[i]!;
      const t = setTimeout(() => inst.service.proc.kill('SIGKILL'), 30_000);
      const code = await inst.service.kill('SIGTERM');
      clearTimeout(t);
      return code;
    },
    async stop() {
      unforce();
      await stopAll();
    },
  };
}

/** CPU seconds of every instance (null for one that is gone). */
export function instanceCpu(c: Cluster): (number | null)[] {
  return c.instances.map((i) => (i.service.proc.exitCode === null ? cpuSeconds(i.pid) : null));
}

/** Full GC then settled RSS of every live instance, in parallel. */
export function instanceMemory(c: Cluster): Promise<MemorySample[]> {
  return Promise.all(c.instances.map((i) => gcMemory(i.pid, i.memoryFile)));
}
