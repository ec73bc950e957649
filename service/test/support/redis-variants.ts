/**
 * The Redis flavours every Redis suite runs on, as storageVariants() does for the databases: one
 * redis-server, and a throwaway 3-master Redis Cluster (tools/redis-cluster.ts). Each is started
 * for the suite; without redis-server it is skipped locally with the reason, and fails under CI=true.
 */
import type { RedisTarget } from '../../src/config.js';
import { startRedisCluster, type RedisCluster } from '../../../tools/redis-cluster.js';
import { startRedis, type RedisServer } from '../../../tools/redis-server.js';

export interface RedisVariant {
  name: 'redis' | 'redis-cluster';
  /** Set: why this variant is skipped (locally only: under CI a missing Redis throws instead). */
  skip: string | null;
  /** What the adapters connect to. */
  target: () => RedisTarget;
  /** The service's environment for it: REDIS_URL or REDIS_CLUSTER_NODES. */
  env: () => Record<string, string>;
  /** The whole of Redis goes down (kill -9 of the server, or of every cluster node) and comes back. */
  kill: () => Promise<void>;
  start: () => Promise<void>;
  /** The cluster itself (per-node kill/restart, slot owners); null on one server. */
  cluster: RedisCluster | null;
  stop: () => Promise<void>;
}

const isCi = () => process.env.CI === 'true' || process.env.CI === '1';

async function started<T>(what: string, start: () => Promise<T>): Promise<{ value: T | null; skip: string | null }> {
  try {
    return { value: await start(), skip: null };
  } catch (err) {
    const reason = `${what} unavailable: ${(err as Error).message}`;
    if (isCi()) throw new Error(`${reason} (CI=true: Redis tests may not be skipped)`);
    return { value: null, skip: reason };
  }
}

function serverVariant(s: { value: RedisServer | null; skip: string | null }): RedisVariant {
  const server = () => s.value!;
  return {
    name: 'redis',
    skip: s.skip,
    target: () => ({ kind: 'server', url: server().url }),
    env: () => ({ REDIS_URL: server().url }),
    kill: () => server().kill(),
    start: () => server().start(),
    cluster: null,
    stop: async () => s.value?.stop(),
  };
}

function clusterVariant(c: { value: RedisCluster | null; skip: string | null }): RedisVariant {
  const cluster = () => c.value!;
  return {
    name: 'redis-cluster',
    skip: c.skip,
    target: () => ({ kind: 'cluster', nodes: cluster().nodes }),
    env: () => ({ REDIS_CLUSTER_NODES: cluster().nodesEnv }),
    kill: () => cluster().killAll(),
    start: () => cluster().restartAll(),
    cluster: c.value,
    stop: async () => c.value?.stop(),
  };
}

/** One redis-server and one Redis Cluster, both started now (call at the top of a suite, stop in afterAll). */
export async function redisVariants(): Promise<RedisVariant[]> {
  const [server, cluster] = await Promise.all([started('Redis', () => startRedis()), started('Redis Cluster', () => startRedisCluster())]);
  return [serverVariant(server), clusterVariant(cluster)];
}

/** Only the cluster (suites about the cluster itself). */
export async function redisClusterForSuite(): Promise<RedisVariant> {
  return clusterVariant(await started('Redis Cluster', () => startRedisCluster()));
}
