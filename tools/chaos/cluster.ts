/**
 * What the chaos scenario runs on: two service instances (child processes, fixed ports) on one
 * throwaway PostgreSQL with production durability (fsync on: an acknowledged write must survive a
 * crash of the database) and one throwaway Redis. Loopback only. `stop()` ends every process it
 * started, whatever state they are in; it may be called more than once.
 */
import { randomUUID } from 'node:crypto';
import { removePostgres, startPostgres, type PgServer } from '../postgres-server.js';
import { startRedis, type RedisServer } from '../redis-server.js';
import { createInstance, type ChaosInstance } from './instance.js';

export interface Cluster {
  pg: PgServer;
  redis: RedisServer;
  instances: [ChaosInstance, ChaosInstance];
  /** Base URLs of the instances, in order. */
  urls: [string, string];
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** A Redis started by the caller (the test suite's skip policy); else one is started and stopped here. */
  redis?: RedisServer;
  /** Extra service environment. */
  env?: Record<string, string>;
  /**
   * Given the cluster's `stop` before anything starts, so a caller that gives up (Ctrl-C) while
   * the cluster is still starting can stop what did start.
   */
  onStop?: (stop: () => Promise<void>) => void;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  let pg: PgServer | null = null;
  let redis: RedisServer | null = opts.redis ?? null;
  const ownRedis = !opts.redis;
  const instances: ChaosInstance[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.allSettled(instances.map((i) => i.kill('SIGKILL')));
    if (redis && ownRedis) await redis.stop().catch(() => undefined);
    if (pg) removePostgres(pg);
  };
  opts.onStop?.(stop);
  const check = () => {
    if (stopped) throw new Error('cluster stopped while starting');
  };
  try {
    pg = await startPostgres({ durable: true });
    check();
    redis ??= await startRedis();
    check();
    const env = {
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      // A prefix of its own: a shared Redis (the suite's) may carry other tests' channels.
      REDIS_PREFIX: `chaos${randomUUID().slice(0, 6)}:`,
      GAP_FILL_MS: '100',
      OUTBOX_INTERVAL_MS: '500',
      OUTBOX_GRACE_MS: '300',
      ...opts.env,
    };
    instances.push(await createInstance('chaos-a', env), await createInstance('chaos-b', env));
    // Started together: migrations must be safe under concurrency.
    await Promise.all(instances.map((i) => i.start()));
    check();
  } catch (err) {
    // stop() kills the instances first: one may still be starting when the other failed.
    await stop();
    throw err;
  }
  const [a, b] = instances as [ChaosInstance, ChaosInstance];
  return { pg, redis, instances: [a, b], urls: [a.url, b.url], stop };
}
