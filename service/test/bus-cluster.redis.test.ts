/**
 * The Redis Cluster bus on a real 3-master cluster: user channels are sharded (each master carries
 * its own users' channels, nothing is copied to every node), and a master killed with -9 and
 * restarted is subscribed again, with onReconnect called so the hub can fill the gap from the log;
 * a slot resharded to another master takes its channels along; unsubscribing a node's last channel
 * leaves the broadcasts intact.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import pino from 'pino';
import { userChannel } from '../src/adapters/bus-redis.js';
import { createRedisClusterBus } from '../src/adapters/bus-redis-cluster.js';
import { keySlot } from '../src/adapters/redis-slot.js';
import type { Bus, BusEvent, BusGap, BusHandlers } from '../src/ports/bus.js';
import { redisClusterForSuite } from './support/redis-variants.js';

const v = await redisClusterForSuite();
const log = pino({ level: 'silent' });
afterAll(async () => {
  await v.stop();
});

const event = (userId: string, seq: number): BusEvent => ({
  userId,
  seq,
  epoch: 'e1',
  type: 'DRAFT_CREATED',
  timestamp: new Date().toISOString(),
  frame: JSON.stringify({ type: 'DRAFT_CREATED', payload: { n: seq }, seq }),
});

async function until(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what} not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** PUBSUB on one node: `SHARDCHANNELS` (sharded) or `CHANNELS` (classic) matching the pattern. */
async function channelsOn(port: number, kind: 'SHARDCHANNELS' | 'CHANNELS', pattern: string): Promise<string[]> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  try {
    return (await r.call('PUBSUB', kind, pattern)) as string[];
  } finally {
    r.disconnect();
  }
}

describe.skipIf(v.skip)('Redis Cluster bus', () => {
  const cluster = v.cluster!;
  const make = (h: BusHandlers, prefix: string): Bus => createRedisClusterBus(h, { target: { kind: 'cluster', nodes: cluster.nodes }, log, prefix });

  it('computes the same hash slot as the cluster (CLUSTER KEYSLOT), hash tags included', async () => {
    const r = new Redis({ host: '127.0.0.1', port: cluster.nodes[0]!.port, lazyConnect: true });
    try {
      for (const key of ['rt:u:alice', 'rt:u:è✓-user', '{rt}:submit-order:id', 'a{}b', 'x{tag}y{z}', '{', 'user-1', '']) {
        expect(keySlot(key), key).toBe(Number(await r.call('CLUSTER', 'KEYSLOT', key)));
      }
    } finally {
      r.disconnect();
    }
  });

  it('spreads user channels over every master with sharded pub/sub, and delivers each event once', async () => {
    const prefix = `s${Date.now()}:`;
    const got: BusEvent[] = [];
    const sub = make({ onEvent: (e) => got.push(e) }, prefix);
    const pub = make({ onEvent: () => undefined }, prefix);
    const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    try {
      for (const u of users) await sub.subscribe(u);
      const perNode = await Promise.all(cluster.nodes.map((n) => channelsOn(n.port, 'SHARDCHANNELS', `${prefix}*`)));
      // Each master holds only the channels of the slots it owns, and every master holds some.
      expect(perNode.every((list) => list.length > 0)).toBe(true);
      expect(perNode.flat().sort()).toEqual(users.map((u) => userChannel(prefix, u)).sort());
      for (let i = 0; i < cluster.nodes.length; i += 1) {
        expect((await channelsOn(cluster.nodes[i]!.port, 'CHANNELS', `${prefix}u:*`))).toEqual([]);
      }
      for (const u of users) await pub.publish(event(u, 1));
      await until(() => got.length >= users.length);
      await new Promise((r) => setTimeout(r, 100));
      expect(got.map((e) => e.userId).sort()).toEqual([...users].sort());
    } finally {
      await Promise.all([sub.close(), pub.close()]);
    }
  });

  it('a master killed with -9 and restarted: its users are subscribed again, onReconnect names them (not the other shards\' users), other shards never stop', async () => {
    const prefix = `k${Date.now()}:`;
    const got: BusEvent[] = [];
    const gaps: BusGap[] = [];
    const controls: string[] = [];
    const sub = make({ onEvent: (e) => got.push(e), onReconnect: (g) => gaps.push(g), onControl: (m) => controls.push(m.userId) }, prefix);
    const pub = make({ onEvent: () => undefined }, prefix);
    try {
      const owner = await cluster.ownerOf(userChannel(prefix, 'frank'));
      // A user whose channel lives on another master.
      let other = '';
      for (let i = 0; !other; i += 1) if ((await cluster.ownerOf(userChannel(prefix, `g${i}`))) !== owner) other = `g${i}`;
      await sub.subscribe('frank');
      await sub.subscribe(other);
      await pub.publish(event('frank', 1));
      await until(() => got.length === 1, 5_000, 'first event');

      await cluster.kill(owner);
      // The other shard keeps working while frank's is down.
      await until(async () => {
        await pub.publish(event(other, 1)).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
        return got.some((e) => e.userId === other);
      }, 10_000, 'delivery on the shard that stayed up');
      expect(gaps).toEqual([]);
      // A broadcast still reaches the instance, once, through the subscribers of the live nodes.
      await until(async () => {
        await pub.broadcast({ kind: 'revoke', userId: 'during-outage', notBeforeMs: 1 }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 200));
        return controls.length > 0;
      }, 10_000, 'a broadcast during the outage');
      expect(controls).toEqual(['during-outage']);

      await cluster.restart(owner);
      await until(() => gaps.length >= 1, 15_000, 'onReconnect after the restart');
      // Only frank's shard was down: the hub re-reads his log, not every user's; revocations are reloaded.
      expect(gaps.map((g) => [[...(g.users ?? ['<everyone>'])], g.control])).toEqual([[['frank'], true]]);
      await pub.publish(event('frank', 2));
      await until(() => got.some((e) => e.userId === 'frank' && e.seq === 2), 5_000, 'delivery after the restart');
      expect(got.filter((e) => e.userId === 'frank').map((e) => e.seq)).toEqual([1, 2]);
    } finally {
      await Promise.all([sub.close(), pub.close()]);
    }
  }, 60_000);

  it("a node's last user channel unsubscribed: broadcasts still arrive once each, nothing is taken for a command's reply, and the node takes new channels", async () => {
    // The bus logs what ioredis reports; a control message mistaken for a reply shows there.
    const lines: string[] = [];
    const capture = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const prefix = `l${Date.now()}:`;
    const got: BusEvent[] = [];
    const controls: string[] = [];
    const sub = createRedisClusterBus(
      { onEvent: (e) => got.push(e), onControl: (m) => controls.push(m.userId) },
      { target: { kind: 'cluster', nodes: cluster.nodes }, log: capture, prefix },
    );
    const pub = make({ onEvent: () => undefined }, prefix);
    try {
      const owner = await cluster.ownerOf(userChannel(prefix, 'ivy'));
      let other = '';
      for (let i = 0; !other; i += 1) if ((await cluster.ownerOf(userChannel(prefix, `j${i}`))) === owner) other = `j${i}`;
      // The control subscriptions are made on connect: probe until one is heard.
      await until(async () => {
        await pub.broadcast({ kind: 'revoke', userId: 'probe', notBeforeMs: 1 });
        await new Promise((r) => setTimeout(r, 100));
        return controls.length > 0;
      }, 10_000, 'a first broadcast');
      await new Promise((r) => setTimeout(r, 200));
      controls.length = 0;

      await sub.subscribe('ivy');
      await sub.unsubscribe('ivy'); // the node's only channel of this instance: its SUNSUBSCRIBE reply says 0
      for (let i = 0; i < 3; i += 1) await pub.broadcast({ kind: 'revoke', userId: `b${i}`, notBeforeMs: 1 });
      await until(() => controls.length >= 3, 5_000, 'three broadcasts');
      await sub.subscribe(other);
      await pub.publish(event(other, 1));
      await until(() => got.length === 1, 5_000, 'an event on the same node');
      await new Promise((r) => setTimeout(r, 200));
      expect(controls).toEqual(['b0', 'b1', 'b2']);
      expect(got.map((e) => [e.userId, e.seq])).toEqual([[other, 1]]);
      expect(lines.filter((l) => /Command queue state error/.test(l))).toEqual([]);
    } finally {
      await Promise.all([sub.close(), pub.close()]);
    }
  }, 30_000);

  // Last: it moves a slot (back again at the end).
  it('a slot moved to another master (reshard): the bus follows its channel to the new owner, calls onReconnect for its user only, and later events arrive', async () => {
    const prefix = `m${Date.now()}:`;
    const got: BusEvent[] = [];
    const gaps: BusGap[] = [];
    const sub = make({ onEvent: (e) => got.push(e), onReconnect: (g) => gaps.push(g) }, prefix);
    const pub = make({ onEvent: () => undefined }, prefix);
    const channel = userChannel(prefix, 'hana');
    const slot = keySlot(channel);
    const from = await cluster.ownerOf(channel);
    const to = (from + 1) % cluster.nodes.length;
    // A user on the same master in another slot: not moved, so not in the gap.
    let stay = '';
    for (let i = 0; !stay; i += 1) {
      const c = userChannel(prefix, `s${i}`);
      if (keySlot(c) !== slot && (await cluster.ownerOf(c)) === from) stay = `s${i}`;
    }
    try {
      await sub.subscribe('hana');
      await sub.subscribe(stay);
      await pub.publish(event('hana', 1));
      await until(() => got.length === 1, 5_000, 'first event');

      await cluster.moveSlot(slot, to);
      // The old owner drops the channel itself; the bus re-subscribes it where the slot went.
      await until(async () => (await channelsOn(cluster.nodes[to]!.port, 'SHARDCHANNELS', channel)).length === 1, 5_000, 'the channel on its new owner');
      expect(await channelsOn(cluster.nodes[from]!.port, 'SHARDCHANNELS', channel)).toEqual([]);
      await until(() => gaps.length >= 1, 5_000, 'onReconnect (the hub fills what was published meanwhile from the log)');
      // No connection was lost: no revocation reload, and only the moved channel's user re-reads the log.
      expect(gaps.map((g) => [[...(g.users ?? ['<everyone>'])], g.control])).toEqual([[['hana'], false]]);
      // The publisher's slot map is stale: its SPUBLISH is MOVED to the new owner.
      await pub.publish(event('hana', 2));
      await until(() => got.some((e) => e.seq === 2), 5_000, 'delivery after the move');
      expect(got.map((e) => e.seq)).toEqual([1, 2]);
    } finally {
      await Promise.all([sub.close(), pub.close()]);
      await cluster.moveSlot(slot, from);
    }
  }, 60_000);
});
