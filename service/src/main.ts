/**
 * Entry point: reads env, picks adapters (compose.ts), listens, handles SIGTERM/SIGINT.
 * Embedded defaults: PGlite in memory (or DATA_DIR), in-process bus and job runner.
 * With REDIS_URL: Redis fan-out between instances and BullMQ jobs.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { App } from './app.js';
import { composeApp } from './compose.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';

export async function boot(role: 'service' | 'worker'): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
    if (role === 'worker' && !config.redis.target) throw new ConfigError('REDIS_URL or REDIS_CLUSTER_NODES is required to run a separate worker');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`archibald-realtime: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (role === 'worker') config = { ...config, runWorker: true };
  const log = createLogger({ level: config.logLevel });
  const instanceId = config.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  if (config.jwt.usingDevSecret) {
    log.warn('JWT_SECRET is not set: using the built-in development secret. Never do this in production.');
  }
  const { app } = await composeApp(config, log, { instanceId });
  const summary = {
    storage: config.databaseUrl ? 'postgres' : config.dataDir ? `pglite:${config.dataDir}` : 'pglite:memory',
    bus: config.redis.target?.kind === 'cluster' ? 'redis-cluster' : config.redis.target ? 'redis' : 'memory',
    jobs: config.redis.target ? `bullmq${config.runWorker ? '+worker' : ''}` : 'memory',
  };
  if (role === 'service') {
    const { url } = await app.listen();
    log.info({ url, ...summary }, 'archibald-realtime listening');
  } else {
    log.info(summary, 'archibald-realtime worker running');
  }
  handleSignals(app, config, log);
}

function handleSignals(app: App, config: Config, log: ReturnType<typeof createLogger>): void {
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

const entry = process.argv[1] ?? '';
if (/main\.[tj]s$/.test(entry)) {
  boot('service').catch((err: unknown) => {
    process.stderr.write(`archibald-realtime: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
