/**
 * Picks the adapters from the config: PostgreSQL or PGlite; Redis bus and BullMQ when REDIS_URL is
 * set, else the in-process bus and job runner. Used by main.ts, worker.ts and the tests.
 */
import type { Logger } from 'pino';
import { createApp, type App } from './app.js';
import { createMemoryBus } from './adapters/bus-memory.js';
import { createRedisBus } from './adapters/bus-redis.js';
import { createErpSimulator } from './adapters/erp-simulator.js';
import { createBullmqJobQueue } from './adapters/jobs-bullmq.js';
import { createMemoryJobQueue } from './adapters/jobs-memory.js';
import { createPostgresRunner } from './adapters/sql-postgres.js';
import type { Config } from './config.js';
import type { Publish } from './features/commit.js';
import type { ErpClient } from './ports/erp.js';
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

export async function composeApp(
  config: Config,
  log: Logger,
  opts: { instanceId: string; erp?: ErpClient; storage?: Storage; decoratePublish?: (publish: Publish) => Publish },
): Promise<{ app: App; storage: Storage }> {
  const storage =
    opts.storage ??
    createSqlStorage(
      config.databaseUrl
        ? createPostgresRunner({
            connectionString: config.databaseUrl,
            max: config.databasePoolMax,
            onError: (err) => log.warn({ err: err.message }, 'idle database client error'),
          })
        : await createEmbeddedRunner(config),
    );
  const erp = opts.erp ?? createErpSimulator({ delayMs: config.erp.delayMs, failureRate: config.erp.failureRate });
  const redisUrl = config.redis.url;
  const maintenanceEvery = config.retention.intervalMs;
  const app = await createApp({
    config,
    log,
    instanceId: opts.instanceId,
    storage,
    erp,
    rateLimitRedis: redisUrl ? { url: redisUrl, prefix: config.redis.prefix } : undefined,
    decoratePublish: opts.decoratePublish ?? (config.testPublishDelayMs > 0 ? delayPublish(config.testPublishDelayMs) : undefined),
    busFactory: redisUrl
      ? (handlers) => createRedisBus(handlers, { url: redisUrl, log, prefix: config.redis.prefix })
      : createMemoryBus,
    jobQueueFactory: (h) =>
      redisUrl
        ? createBullmqJobQueue({
            ...h,
            url: redisUrl,
            log,
            prefix: config.redis.prefix.replace(/:$/, ''),
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
