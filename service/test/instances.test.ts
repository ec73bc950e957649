/**
 * Instance registry conformance: the in-memory registry and the Redis one, on one redis-server and
 * on a 3-master Redis Cluster, list, expire and withdraw alike.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryInstanceRegistry } from '../src/adapters/instances-memory.js';
import { createRedisInstanceRegistry, registryKeyBase } from '../src/adapters/instances-redis.js';
import { createRedisClient, type RedisClient } from '../src/adapters/redis-client.js';
import type { InstanceRegistry, InstanceSummary } from '../src/ports/instances.js';
import { redisVariants } from './support/redis-variants.js';

const redis = await redisVariants();
const clients: RedisClient[] = [];

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(redis.map((r) => r.stop()));
});

const TTL_MS = 400;

const variants: { name: string; skip: string | null; make: () => { registry: InstanceRegistry; prefix: string } }[] = [
  { name: 'memory', skip: null, make: () => ({ registry: createMemoryInstanceRegistry({ ttlMs: TTL_MS }), prefix: '' }) },
  ...redis.map((r) => ({
    name: r.name,
    skip: r.skip,
    make: () => {
      const client = createRedisClient(r.target(), { connectionName: 'rt-instances-test' });
      clients.push(client);
      const prefix = `t${randomUUID().slice(0, 6)}:`;
      return { registry: createRedisInstanceRegistry({ redis: client, prefix, ttlMs: TTL_MS }), prefix };
    },
  })),
];

const summary = (instanceId: string, totalConnections = 0): InstanceSummary => ({
  instanceId,
  url: `http://127.0.0.1:1/${instanceId}`,
  startedAt: new Date().toISOString(),
  uptimeS: 1,
  totalConnections,
  activeUsers: totalConnections,
  buffer: { users: 0, events: 0, bytes: 0 },
  rssBytes: 1,
  draining: false,
  announcedAt: new Date().toISOString(),
});
const ids = async (r: InstanceRegistry) => (await r.list()).map((s) => s.instanceId).sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(variants)('InstanceRegistry conformance ($name)', ({ skip, make }) => {
  it.skipIf(skip)('lists every announced instance with its latest summary', async () => {
    const { registry } = make();
    expect(await registry.list()).toEqual([]);
    await registry.announce(summary('a', 1));
    await registry.announce(summary('b', 2));
    await registry.announce(summary('a', 5));
    const list = await registry.list();
    expect(list.map((s) => s.instanceId).sort()).toEqual(['a', 'b']);
    expect(list.find((s) => s.instanceId === 'a')).toMatchObject({ totalConnections: 5, url: 'http://127.0.0.1:1/a' });
  });

  it.skipIf(skip)('an instance that stops announcing drops out after its TTL; one that keeps announcing stays', async () => {
    const { registry } = make();
    await registry.announce(summary('dies'));
    await registry.announce(summary('lives'));
    for (let i = 0; i < 6; i += 1) {
      await sleep(TTL_MS / 3);
      await registry.announce(summary('lives'));
    }
    expect(await ids(registry)).toEqual(['lives']);
  });

  it.skipIf(skip)('withdraw removes an instance at once', async () => {
    const { registry } = make();
    await registry.announce(summary('a'));
    await registry.announce(summary('b'));
    await registry.withdraw('a');
    expect(await ids(registry)).toEqual(['b']);
    await registry.close();
  });
});

describe.skipIf(redis[0]!.skip)('Redis registry keys', () => {
  it('live in one hash slot (Redis Cluster), with a PX TTL on each summary', async () => {
    expect(registryKeyBase('rt:')).toBe('{rt}');
    expect(registryKeyBase('{app}:rt:')).toBe('{app}:rt');
    const { registry, prefix } = variants[1]!.make();
    await registry.announce(summary('x'));
    const client = clients[clients.length - 1]!;
    const base = registryKeyBase(prefix);
    expect(await client.zrange(`${base}:instances`, 0, -1)).toEqual(['x']);
    const ttl = await client.pttl(`${base}:instance:x`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL_MS);
    const slots = await Promise.all([`${base}:instances`, `${base}:instance:x`].map((k) => client.call('CLUSTER', 'KEYSLOT', k).catch(() => null)));
    // CLUSTER KEYSLOT answers on a non-cluster server too (Redis ≥ 7); where it does not, the hash tag is checked above.
    if (slots[0] !== null) expect(slots[1]).toBe(slots[0]);
  });
});
