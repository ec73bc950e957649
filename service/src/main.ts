/**
 * Entry point: reads env, picks adapters, listens, handles SIGTERM/SIGINT. The only place that does.
 * Embedded defaults: PGlite in memory (or DATA_DIR), in-process bus and job runner.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createApp } from './app.js';
import { createMemoryBus } from './adapters/bus-memory.js';
import { createErpSimulator } from './adapters/erp-simulator.js';
import { createMemoryJobQueue } from './adapters/jobs-memory.js';
import { createPgliteRunner } from './adapters/sql-pglite.js';
import { createPostgresRunner } from './adapters/sql-postgres.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { createSqlStorage } from './storage/sql-storage.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`archibald-realtime: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel });
  const instanceId = config.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;

  if (config.jwt.usingDevSecret) {
    log.warn('JWT_SECRET is not set: using the built-in development secret. Never do this in production.');
  }
  const runner = config.databaseUrl
    ? createPostgresRunner({
        connectionString: config.databaseUrl,
        max: config.databasePoolMax,
        onError: (err) => log.warn({ err: err.message }, 'idle database client error'),
      })
    : await createPgliteRunner({ dataDir: config.dataDir });
  const storage = createSqlStorage(runner);
  const erp = createErpSimulator({ delayMs: config.erp.delayMs, failureRate: config.erp.failureRate });

  const app = await createApp({
    config,
    log,
    instanceId,
    storage,
    busFactory: createMemoryBus,
    jobQueueFactory: (handlers) =>
      createMemoryJobQueue({ ...handlers, attempts: config.jobs.attempts, backoffMs: config.jobs.backoffMs }),
    erp,
  });
  const { url } = await app.listen();
  log.info(
    {
      url,
      storage: config.databaseUrl ? 'postgres' : config.dataDir ? `pglite:${config.dataDir}` : 'pglite:memory',
      bus: 'memory',
      jobs: 'memory',
    },
    'archibald-realtime listening',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const hard = setTimeout(() => {
      log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdown.timeoutMs + 2_000);
    hard.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`archibald-realtime: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
