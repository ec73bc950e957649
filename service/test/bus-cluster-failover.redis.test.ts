/**
 * The Redis Cluster bus through a failover: a cluster of 3 masters with a replica each (6 real
 * redis-server processes); the master of a user's slot is killed with -9, its replica takes the
 * slots over, and the bus must follow the user's channel to it, call onReconnect (the hub fills what
 * was published meanwhile from the log) and deliver what is published after.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import pino from 'pino';
import { startRedisCluster, type RedisCluster } from '../../tools/redis-cluster.js';
import { userChannel } from '../src/adapters/bus-redis.js';
import { createRedisClusterBus } from '../src/adapters/bus-redis-cluster.js';
import type { Bus, BusEvent, BusGap, BusHandlers } from '../src/ports/bus.js';

const isCi = process.env.CI === 'true' || process.env.CI === '1';
let cluster: RedisCluster | null = null;
let skip: string | null = null;
try {
  cluster = await startRedisCluster({ masters: 3, replicas: 1 });
} catch (err) {
  skip = `Redis Cluster with replicas unavailable: ${(err as Error).message}`;
  if (isCi) throw new Error(`${skip} (CI=true: Redis tests may not be skipped)`);
}
afterAll(async () => {
  await cluster?.stop();
});

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what} not met in ${ms} ms`);
    await sleep(50);
  }
}

const event = (userId: string, seq: number): BusEvent => ({
  userId,
  seq,
  epoch: 'e1',
  type: 'DRAFT_CREATED',
  timestamp: new Date().toISOString(),
  frame: JSON.stringify({ type: 'DRAFT_CREATED', payload: { n: seq }, seq }),
});

async function shardChannelsOn(port: number, channel: string): Promise<string[]> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  try {
    return (await r.call('PUBSUB', 'SHARDCHANNELS', channel)) as string[];
  } finally {
    r.disconnect();
  }
}

describe.skipIf(skip)('Redis Cluster bus, failover', () => {
  const make = (h: BusHandlers, prefix: string): Bus => createRedisClusterBus(h, { target: { kind: 'cluster', nodes: cluster!.nodes }, log, prefix });

  it('a master killed with -9: its replica takes over, the bus follows the channel there, calls onReconnect, and later events arrive', async () => {
    const c = cluster!;
    const prefix = `fo${Date.now()}:`;
    const got: BusEvent[] = [];
    const gaps: BusGap[] = [];
    const sub = make({ onEvent: (e) => got.push(e), onReconnect: (g) => gaps.push(g) }, prefix);
    const pub = make({ onEvent: () => undefined }, prefix);
    const channel = userChannel(prefix, 'kai');
    try {
      await sub.subscribe('kai');
      await pub.publish(event('kai', 1));
      await until(() => got.length === 1, 5_000, 'first event');
      const master = await c.ownerOf(channel);

      await c.kill(master);
      await until(async () => (await c.ownerOf(channel).catch(() => master)) !== master, 30_000, 'the replica promoted');
      const promoted = await c.ownerOf(channel);
      await until(async () => (await shardChannelsOn(c.nodes[promoted]!.port, channel)).length === 1, 10_000, 'the channel on the promoted replica');
      await until(() => gaps.some((g) => g.users?.has('kai')), 5_000, 'onReconnect naming the moved channel\'s user');
      // The publisher may still aim at the dead master for a moment: publish until one gets through.
      let seq = 1;
      await until(async () => {
        seq += 1;
        await pub.publish(event('kai', seq)).catch(() => undefined);
        await sleep(100);
        return got.some((e) => (e.seq ?? 0) > 1);
      }, 15_000, 'delivery after the failover');
      const seqs = got.map((e) => e.seq ?? 0);
      expect(seqs[0]).toBe(1);
      // Each publish that got through arrived once, in order.
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    } finally {
      await Promise.all([sub.close(), pub.close()]);
    }
  }, 90_000);
});
