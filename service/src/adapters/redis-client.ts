/**
 * The one place Redis connections are built: one server (REDIS_URL) or a Redis Cluster
 * (REDIS_CLUSTER_NODES), with the project's reconnect backoff. The bus, the job queue, the rate
 * limits and the instance registry take a `RedisTarget` and ask here for a client, so none of them
 * parses URLs or knows cluster options.
 *
 * On a cluster, node connections are ioredis's: no reconnect loop per node (a MOVED reply or the
 * periodic slots refresh reconnects them), a cluster-wide reconnect with our backoff when every node
 * is gone. Per-connection options (timeouts, retries per request, names) go to every node.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config.js';

export type { RedisTarget } from '../config.js';
export type RedisClient = Redis | Cluster;

/** Reconnect backoff of every Redis connection: 100 ms, doubling, at most 2 s. */
export const redisRetryStrategy = (attempt: number) => Math.min(50 * 2 ** attempt, 2_000);

export interface RedisClientOptions {
  /** Shown by CLIENT LIST (`rt-pub`, `rt-rate-limit`, …). */
  connectionName: string;
  /** Options of each connection (the server's, or each cluster node's). */
  redis?: RedisOptions;
  /** Cluster only: options of the cluster client itself (shardedSubscribers, enableOfflineQueue, …). */
  cluster?: ClusterOptions;
}

export const isCluster = (client: RedisClient): client is Cluster => (client as Cluster).isCluster === true;

export function createRedisClient(target: RedisTarget, opts: RedisClientOptions): RedisClient {
  const node: RedisOptions = { connectionName: opts.connectionName, retryStrategy: redisRetryStrategy, ...opts.redis };
  if (target.kind === 'server') return new Redis(target.url, node);
  // Node connections must not reconnect on their own (ioredis's cluster design), nor drop commands
  // while they connect lazily: the cluster client decides both.
  const { retryStrategy, enableOfflineQueue: _ignored, ...perNode } = node;
  return new Cluster(
    target.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      clusterRetryStrategy: (attempt) => (retryStrategy ? retryStrategy(attempt) : redisRetryStrategy(attempt)),
      ...opts.cluster,
      redisOptions: { ...perNode, ...opts.cluster?.redisOptions },
    },
  );
}

/** Quit politely, then make sure the sockets are gone (quit can wait on a dead server). */
export async function closeRedisClient(client: RedisClient): Promise<void> {
  await client.quit().catch(() => undefined);
  client.disconnect();
}

/**
 * Resolves when a connection may take a (S)SUBSCRIBE or (S)UNSUBSCRIBE without losing it: at once,
 * unless the connection is in its handshake (status `connect`), then when that ends ('ready', or
 * 'close': a command sent after a close waits in the offline queue until the next 'ready').
 *
 * Why: ioredis writes the pub/sub commands during the handshake (they carry the "loading" flag). If
 * the reply puts the connection in subscriber mode before the ready check's INFO goes out, ioredis
 * refuses that INFO itself, treats the failed ready check as fatal and reconnects; the connection
 * was never ready, so it does not re-subscribe either. The SUBSCRIBE had succeeded, so its caller
 * believes the channel is held while no server has it: measured on ioredis 5.11, 7 of 300 fresh
 * cluster buses lost their first user channel this way.
 */
export function afterHandshake(conn: Redis): Promise<void> {
  if (conn.status !== 'connect') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      conn.off('ready', done);
      conn.off('close', done);
      resolve();
    };
    conn.on('ready', done);
    conn.on('close', done);
  });
}
