/**
 * Bus on a Redis Cluster with sharded pub/sub (Redis 7): each user's channel lives in the shard
 * that owns its slot, an event is SPUBLISHed to that shard only, and this instance holds one
 * subscriber connection per master, SSUBSCRIBEd to the channels of its users in that master's
 * slots. Fan-out work is spread over the shards, so it grows with their number; classic PUBLISH
 * would be copied to every node instead.
 *
 * The subscriber connections are ours, not ioredis's `shardedSubscribers`: in ioredis 5.11 a dead
 * master makes those re-create their subscriber in a tight loop (no backoff on the `-node` path),
 * re-sending every SSUBSCRIBE of the healthy shards on each turn: measured here at 40% of a core
 * and 400 SSUBSCRIBEs a second for 50 users. Ours each reconnect with the project's backoff and
 * re-subscribe only their own channels (ioredis autoResubscribe).
 *
 * The control channel (broadcast) must reach every instance: classic PUBLISH, which the cluster
 * forwards to every node, and a classic SUBSCRIBE on a control connection to every master, so it
 * survives the loss of any one node; the copies are told apart by an id and delivered once. The
 * control connections are not the shard ones: ioredis counts a connection out of subscriber mode
 * when a (S)UNSUBSCRIBE reply says 0, and Redis 7.0 counts only shard channels in that reply, so a
 * shard connection that also held the classic SUBSCRIBE was left subscribed while ioredis took each
 * control message for the reply of a command (measured: every broadcast after a node's last user
 * channel went was a "Command queue state error", and the next SSUBSCRIBE's reply was mismatched).
 *
 * Failures: a master that dies loses its shard's subscriptions and the events published to it
 * (those publishes fail and the outbox retries them). When its subscriber connection is ready again,
 * or when slots move to another node (failover, reshard: the old owner drops our SSUBSCRIBE of each
 * channel in a moved slot on its own), onReconnect is called with the users whose channels were on
 * that node or in those slots, and the hub fills their gap from the log (only theirs: a reshard of
 * one slot does not make every user of the instance re-read their log head).
 * The cluster client refreshes the slot map every SLOTS_REFRESH_MS, and at once when a node drops a
 * channel we did not unsubscribe, so channels follow a moved slot within that time.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisTarget } from '../config.js';
import type { Bus, BusHandlers } from '../ports/bus.js';
import { controlChannel, parseBusEvent, parseControlMessage, userChannel } from './bus-redis.js';
import { afterHandshake, closeRedisClient, createRedisClient } from './redis-client.js';
import { keySlot } from './redis-slot.js';

/** Control messages already delivered, by id (each arrives once per control connection). */
const SEEN_CONTROL_IDS = 1_000;

/** How often the slot map is read again (CLUSTER SLOTS, one small reply): a moved slot's channels follow it within this. */
export const SLOTS_REFRESH_MS = 1_000;

interface ShardSubscriber {
  node: string;
  /** The node's SSUBSCRIBEs (user channels in its slots), nothing else. */
  conn: Redis;
  /** The classic SUBSCRIBE of the control channel. */
  control: Redis;
  lost: boolean;
}

export function createRedisClusterBus(
  handlers: BusHandlers,
  opts: { target: Extract<RedisTarget, { kind: 'cluster' }>; log: Logger; prefix?: string },
): Bus {
  const prefix = opts.prefix ?? 'rt:';
  const log = opts.log.child({ component: 'bus-redis-cluster' });
  const control = controlChannel(prefix);
  // Commands (SPUBLISH, PUBLISH) and the slot map; subscriptions are on the connections below.
  const cluster = createRedisClient(opts.target, {
    connectionName: 'rt-pub',
    redis: { maxRetriesPerRequest: 2 },
    cluster: { slotsRefreshInterval: SLOTS_REFRESH_MS },
  }) as Cluster;
  const shards = new Map<string, ShardSubscriber>();
  /** channel → the node it is SSUBSCRIBEd on, and whose channel it is. */
  const placed = new Map<string, { node: string; userId: string }>();
  const seenControl: string[] = [];
  let closed = false;
  let owners = '';
  let reconnectTimer: NodeJS.Timeout | null = null;
  let pendingGap: { users: Set<string>; control: boolean; why: string[] } | null = null;

  /** Coalesced: several shards coming back at once (or a node back and a slot move) fill the gap once. */
  function reconnected(why: string, gap: { users: Iterable<string>; control: boolean }): void {
    if (closed) return;
    pendingGap ??= { users: new Set(), control: false, why: [] };
    for (const u of gap.users) pendingGap.users.add(u);
    pendingGap.control ||= gap.control;
    if (!pendingGap.why.includes(why)) pendingGap.why.push(why);
    if (reconnectTimer) return;
    // ioredis re-subscribes on 'ready' without waiting for the replies: give them a moment.
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      const g = pendingGap;
      pendingGap = null;
      if (closed || !g || (g.users.size === 0 && !g.control)) return;
      log.info({ why: g.why.join('; '), users: g.users.size, control: g.control }, 'redis subscriber reconnected; filling missed events from the log');
      handlers.onReconnect?.({ users: g.users, control: g.control });
    }, 100);
  }

  /** The users whose channels are SSUBSCRIBEd on the node. */
  function usersOn(node: string): string[] {
    const out: string[] = [];
    for (const p of placed.values()) if (p.node === node) out.push(p.userId);
    return out;
  }

  function onShardMessage(_channel: string, message: string): void {
    const event = parseBusEvent(message);
    if (event) handlers.onEvent(event);
    else log.warn('unparseable bus message dropped');
  }

  function onControlMessage(channel: string, message: string): void {
    if (channel !== control) return;
    const msg = parseControlMessage(message);
    if (!msg) {
      log.warn('unknown control message dropped');
      return;
    }
    const id = (JSON.parse(message) as { id?: unknown }).id;
    if (typeof id === 'string') {
      if (seenControl.includes(id)) return;
      seenControl.push(id);
      if (seenControl.length > SEEN_CONTROL_IDS) seenControl.shift();
    }
    handlers.onControl?.(msg);
  }

  function shardFor(node: string): ShardSubscriber {
    const existing = shards.get(node);
    if (existing) return existing;
    const connect = (connectionName: string) =>
      createRedisClient({ kind: 'server', url: `redis://${node}` }, {
        connectionName,
        // Bounded: a SSUBSCRIBE for a shard that is down fails after two reconnect attempts.
        redis: { maxRetriesPerRequest: 2, autoResubscribe: true },
      }) as Redis;
    const conn = connect('rt-sub');
    const ctl = connect('rt-ctl');
    const shard: ShardSubscriber = { node, conn, control: ctl, lost: false };
    conn.on('error', (err: Error) => {
      // A node that gave a slot away drops our SSUBSCRIBE of its channels with a SUNSUBSCRIBE of its
      // own, which ioredis reports as a reply nobody asked for: read the slot map now.
      if (/Last reply: sunsubscribe,/.test(err.message)) {
        log.info({ node }, 'redis cluster node dropped a shard channel (its slot moved); refreshing the slot map');
        cluster.refreshSlotsCache();
        return;
      }
      log.debug({ node, err: err.message }, 'redis subscriber error');
    });
    conn.on('smessage', onShardMessage);
    conn.on('close', () => {
      if (!closed && !shard.lost) log.warn({ node }, 'redis cluster subscriber lost its node; events of its shard wait for it');
      shard.lost = true;
    });
    conn.on('ready', () => {
      if (!shard.lost) return;
      shard.lost = false;
      // Its channels' events, and the control messages it alone may have carried (a broadcast sent
      // through it while it was unreachable): a reload of revocations is one small query.
      reconnected(`node ${node} back`, { users: usersOn(node), control: true });
    });
    ctl.on('error', (err: Error) => log.debug({ node, err: err.message }, 'redis control subscriber error'));
    ctl.on('message', onControlMessage);
    ctl.on('ready', () => {
      // Every ready: a SUBSCRIBE that failed during an outage is not re-sent by autoResubscribe.
      ctl.subscribe(control).catch((err: Error) => log.warn({ node, err: err.message }, 'control channel subscribe failed'));
    });
    shards.set(node, shard);
    return shard;
  }

  const closeShard = (shard: ShardSubscriber) => Promise.allSettled([closeRedisClient(shard.conn), closeRedisClient(shard.control)]);

  /** One wait for the cluster to be ready, shared by every subscribe made meanwhile; bounded. */
  let readyWait: Promise<void> | null = null;
  function whenReady(): Promise<void> {
    readyWait ??= new Promise<void>((resolve, reject) => {
      const ready = () => (clearTimeout(t), resolve());
      const t = setTimeout(() => (cluster.off('ready', ready), reject(new Error('redis cluster not ready'))), 5_000);
      cluster.once('ready', ready);
    }).finally(() => (readyWait = null));
    return readyWait;
  }

  /** The master owning the channel's slot, once the slot map is known. */
  async function ownerOf(channel: string): Promise<string> {
    if (cluster.status !== 'ready') await whenReady();
    const node = cluster.slots[keySlot(channel)]?.[0];
    if (!node) throw new Error(`no redis cluster node serves the slot of ${channel}`);
    return node;
  }

  /** SSUBSCRIBE on the node's subscriber connection, never during its handshake (afterHandshake). */
  async function ssubscribe(node: string, channel: string): Promise<void> {
    const { conn } = shardFor(node);
    await afterHandshake(conn);
    await conn.ssubscribe(channel);
  }

  async function sunsubscribe(node: string, channel: string): Promise<void> {
    const conn = shards.get(node)?.conn;
    if (!conn) return;
    await afterHandshake(conn);
    await conn.sunsubscribe(channel);
  }

  async function ssubscribeOn(node: string, channel: string, userId: string): Promise<void> {
    try {
      await ssubscribe(node, channel);
      placed.set(channel, { node, userId });
    } catch (err) {
      // Our slot map is behind the cluster's: follow the redirection once, and refresh the map.
      const moved = /^MOVED \d+ (\S+)/.exec((err as Error).message);
      if (!moved) throw err;
      cluster.refreshSlotsCache();
      await ssubscribe(moved[1]!, channel);
      placed.set(channel, { node: moved[1]!, userId });
    }
  }

  /** Who owns which slot, compactly: it changes when the cluster is resharded or fails over. */
  function slotOwners(): string {
    const out: string[] = [];
    let prev = '';
    for (let slot = 0; slot < cluster.slots.length; slot += 1) {
      const owner = cluster.slots[slot]?.[0] ?? '';
      if (owner !== prev) out.push(`${slot}=${owner}`);
      prev = owner;
    }
    return out.join(',');
  }

  /** A subscriber on every master (for the control channel), and channels moved to their slot's new owner. */
  async function followTopology(): Promise<void> {
    const now = slotOwners();
    if (now === owners) return;
    const first = owners === '';
    owners = now;
    const masters = new Set(cluster.slots.map((s) => s?.[0]).filter((n): n is string => Boolean(n)));
    for (const node of masters) shardFor(node);
    if (first) return;
    const moved: string[] = [];
    for (const [channel, { node, userId }] of placed) {
      const owner = cluster.slots[keySlot(channel)]?.[0];
      if (!owner || owner === node) continue;
      moved.push(userId);
      sunsubscribe(node, channel).catch(() => undefined);
      await ssubscribeOn(owner, channel, userId).catch((err: Error) => log.warn({ channel, err: err.message }, 'resubscribe after a slot move failed'));
    }
    const inUse = new Set([...placed.values()].map((p) => p.node));
    for (const [node, shard] of shards) {
      if (masters.has(node) || inUse.has(node)) continue;
      shards.delete(node);
      void closeShard(shard);
    }
    log.info({ moved: moved.length }, 'redis cluster slots moved; channels follow them');
    // Only the moved channels were unsubscribed meanwhile; the control connections stayed up.
    reconnected('slots moved', { users: moved, control: false });
  }

  cluster.on('error', (err: Error) => log.warn({ err: err.message }, 'redis cluster error'));
  cluster.on('ready', () => void followTopology());
  cluster.on('refresh', () => void followTopology());

  return {
    async publish(event) {
      await cluster.spublish(userChannel(prefix, event.userId), JSON.stringify(event));
    },
    async subscribe(userId) {
      const channel = userChannel(prefix, userId);
      await ssubscribeOn(await ownerOf(channel), channel, userId);
    },
    async unsubscribe(userId) {
      const channel = userChannel(prefix, userId);
      const node = placed.get(channel)?.node;
      placed.delete(channel);
      if (node) await sunsubscribe(node, channel);
    },
    async broadcast(msg) {
      await cluster.publish(control, JSON.stringify({ ...msg, id: randomUUID() }));
    },
    async close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      await Promise.allSettled([closeRedisClient(cluster), ...[...shards.values()].map(closeShard)]);
    },
  };
}
