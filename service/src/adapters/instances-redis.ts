/**
 * Redis instance registry, safe on Redis Cluster: no KEYS or SCAN, and every key carries one hash
 * tag (`{rt}` from REDIS_PREFIX `rt:`), so all of them live in one slot and MULTI and MGET work on
 * a cluster as on a single Redis.
 *
 *   {rt}:instances        sorted set of instance ids, scored by the announcer's expiry (ms)
 *   {rt}:instance:<id>    the summary JSON, SET with PX ttl
 *
 * Liveness is the per-instance key's PX TTL, counted by Redis's clock, so clock skew between hosts
 * cannot keep a dead instance listed or hide a live one. The set is only the index that lets
 * `list()` find the keys without scanning: two commands, ZRANGE then MGET. Members whose key has
 * expired are skipped, and pruned by score a minute after their expiry (generous, because that
 * score is the announcer's clock), so the set stays as small as the number of recent instances.
 *
 * The ioredis client is injected (single Redis or Cluster) and not owned: its creator closes it.
 */
import type { Cluster, Redis } from 'ioredis';
import type { InstanceRegistry, InstanceSummary } from '../ports/instances.js';

const PRUNE_AFTER_MS = 60_000;

/** `rt:` → `{rt}`; a prefix that already has a hash tag is kept as it is. */
export function registryKeyBase(prefix: string): string {
  const base = prefix.replace(/:$/, '') || 'rt';
  return /\{[^}]+\}/.test(base) ? base : `{${base}}`;
}

export function createRedisInstanceRegistry(opts: { redis: Redis | Cluster; prefix?: string; ttlMs: number }): InstanceRegistry {
  const { redis, ttlMs } = opts;
  const base = registryKeyBase(opts.prefix ?? 'rt:');
  const setKey = `${base}:instances`;
  const keyOf = (id: string) => `${base}:instance:${id}`;

  return {
    async announce(summary) {
      const now = Date.now();
      const results = await redis
        .multi()
        .set(keyOf(summary.instanceId), JSON.stringify(summary), 'PX', ttlMs)
        .zadd(setKey, now + ttlMs, summary.instanceId)
        .zremrangebyscore(setKey, '-inf', now - PRUNE_AFTER_MS)
        .exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0] as Error;
    },

    async list() {
      const ids = await redis.zrange(setKey, 0, -1);
      if (ids.length === 0) return [];
      const values = await redis.mget(...ids.map(keyOf));
      const live: InstanceSummary[] = [];
      for (const v of values) {
        if (v === null) continue; // its TTL ran out: dead (or about to re-announce)
        try {
          live.push(JSON.parse(v) as InstanceSummary);
        } catch {
          // Not ours or corrupt: an unreadable entry must not break the admin views.
        }
      }
      return live;
    },

    async withdraw(instanceId) {
      await redis.multi().del(keyOf(instanceId)).zrem(setKey, instanceId).exec();
    },

    async close() {},
  } satisfies InstanceRegistry;
}
