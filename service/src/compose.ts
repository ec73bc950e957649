/**
 * Picks the adapters from the config: PostgreSQL or PGlite; Redis bus and BullMQ when REDIS_URL (one
 * server) or REDIS_CLUSTER_NODES (a Redis Cluster, sharded pub/sub) is set, else the in-process bus
 * and job runner. Used by main.ts, worker.ts and the tests.
 */
import type { Logger } from 'pino';
import { createApp, type App } from './app.js';
import { createMemoryBus } from './adapters/bus-memory.js';
import { createErpSimulator } from './adapters/erp-simulator.js';
import { createMemoryJobQueue } from './adapters/jobs-memory.js';
import type { BusFactory } from './ports/bus.js';
import type { Config, RedisTarget } from './config.js';
import type { Publish } from './features/commit.js';
import type { ErpClient } from './ports/erp.js';
import type { InstanceRegistry } from './ports/instances.js';
import type { Storage } from './ports/storage.js';
import type { SqlRunner } from './storage/sql-runner.js';
import { createSqlStorage } from './storage/sql-storage.js';

/**
 * Embedded PGlite, in a worker thread (PGLITE_WORKER) or on this thread. Imported on demand: the
 * worker variant must not load PGlite's WASM glue into this thread too.
 */
async function createEmbeddedRunner(config: Config): Promise<SqlRunner> {
  if (config.pgliteWorker) {
    const { createPgliteWorkerRunner } = await import('./adapters/sql-pglite-worker.js');
    return createPgliteWorkerRunner({ dataDir: config.dataDir });
  }
  const { createPgliteRunner } = await import('./adapters/sql-pglite.js');
  return createPgliteRunner({ dataDir: config.dataDir });
}

/**
 * TEST_PUBLISH_DELAY_MS (test only): every publish after commit waits this long, so the latency
 * gate's test can prove `rtctl latency` fails against a slow service. A spawned service cannot be
 * handed a function, hence the variable; it is turned into a decorator here, never in createApp.
 */
function delayPublish(ms: number): (publish: Publish) => Publish {
  return (publish) => (events) => void setTimeout(() => publish(events), ms);
}

/**
 * The Redis and PostgreSQL adapters are imported only when configured: loading bullmq (with
 * msgpackr's native addon) and pg cost the embedded built service ~15 MB of RSS it never used.
 */
async function loadRedisAdapters() {
  const [bus, clusterBus, jobs, instances, client] = await Promise.all([
    import('./adapters/bus-redis.js'),
    import('./adapters/bus-redis-cluster.js'),
    import('./adapters/jobs-bullmq.js'),
    import('./adapters/instances-redis.js'),
    import('./adapters/redis-client.js'),
  ]);
  return { ...bus, ...clusterBus, ...jobs, ...instances, ...client };
}
type RedisAdapters = Awaited<ReturnType<typeof loadRedisAdapters>>;

async function createSqlRunner(config: Config, log: Logger): Promise<SqlRunner> {
  if (!config.databaseUrl) return createEmbeddedRunner(config);
  const { createPostgresRunner } = await import('./adapters/sql-postgres.js');
  return createPostgresRunner({
    connectionString: config.databaseUrl,
    max: config.databasePoolMax,
    onError: (err) => log.warn({ err: err.message }, 'idle database client error'),
  });
}

/**
 * The instance registry on Redis. Its own client (lazy: a job worker never announces, so never
 * connects), single Redis or Cluster (adapters/redis-client.ts). The adapter does not own the
 * client, so closing the registry closes it here.
 */
function createRedisRegistry(
  { createRedisClient, closeRedisClient, createRedisInstanceRegistry }: RedisAdapters,
  target: RedisTarget,
  config: Config,
  log: Logger,
): InstanceRegistry {
  const redis = createRedisClient(target, {
    connectionName: 'rt-instances',
    redis: { lazyConnect: true, maxRetriesPerRequest: 1 },
    cluster: { lazyConnect: true },
  });
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'instance registry redis error'));
  const registry = createRedisInstanceRegistry({ redis, prefix: config.redis.prefix, ttlMs: config.cluster.ttlMs });
  return {
    ...registry,
    async close() {
      await Promise.race([closeRedisClient(redis), new Promise((r) => setTimeout(r, 500).unref())]);
      redis.disconnect();
    },
  };
}

export async function composeApp(
  config: Config,
  log: Logger,
  opts: { instanceId: string; erp?: ErpClient; storage?: Storage; decoratePublish?: (publish: Publish) => Publish },
): Promise<{ app: App; storage: Storage }> {
  const storage = opts.storage ?? createSqlStorage(await createSqlRunner(config, log));
  const erp = opts.erp ?? createErpSimulator({ delayMs: config.erp.delayMs, failureRate: config.erp.failureRate });
  // REDIS_URL or REDIS_CLUSTER_NODES: the bus differs (classic or sharded pub/sub), the rest only connects differently.
  const redis = config.redis.target;
  const prefix = config.redis.prefix;
  const r = redis ? await loadRedisAdapters() : undefined;
  const redisBus: BusFactory | undefined =
    redis?.kind === 'cluster'
      ? (handlers) => r!.createRedisClusterBus(handlers, { target: redis, log, prefix })
      : redis
        ? (handlers) => r!.createRedisBus(handlers, { url: redis.url, log, prefix })
        : undefined;
  const maintenanceEvery = config.retention.intervalMs;
  const app = await createApp({
    config,
    log,
    instanceId: opts.instanceId,
    storage,
    erp,
    instanceRegistry: redis ? createRedisRegistry(r!, redis, config, log) : undefined,
    rateLimitRedis: redis ? { target: redis, prefix } : undefined,
    decoratePublish: opts.decoratePublish ?? (config.testPublishDelayMs > 0 ? delayPublish(config.testPublishDelayMs) : undefined),
    busFactory: redisBus ?? createMemoryBus,
    jobQueueFactory: (h) =>
      redis
        ? r!.createBullmqJobQueue({
            ...h,
            target: redis,
            log,
            prefix: prefix.replace(/:$/, ''),
            attempts: config.jobs.attempts,
            backoffMs: config.jobs.backoffMs,
            runWorker: config.runWorker,
            maintenance: { intervalMs: maintenanceEvery, run: h.runMaintenance },
          })
        : createMemoryJobQueue({
            ...h,
            attempts: config.jobs.attempts,
            backoffMs: config.jobs.backoffMs,
            maintenance: { intervalMs: maintenanceEvery, run: h.runMaintenance },
          }),
  });
  return { app, storage };
}
