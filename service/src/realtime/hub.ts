/**
 * The hub: the per-user pool of local sockets. It keeps one stream per user with devices here
 * (user-stream.ts: ordering, gaps, the ring buffer), subscribed to the user's bus channel while
 * the stream lives, and hands each new socket to the resume seam (replay.ts) and each event to
 * delivery (delivery.ts).
 *
 * Guarantee (DESIGN §4): every socket of a user gets every stored event of that user exactly once
 * and in seq order. The hub does not know whether events came from memory or Redis: they arrive
 * through the bus's `onEvent`. It owns the bus; what goes out on it goes through the publisher.
 */
import type { Logger } from 'pino';
import type { BusEvent, BusFactory, ControlMessage } from '../ports/bus.js';
import type { Storage } from '../ports/storage.js';
import { CloseCode, restartReason } from '../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { Connection } from './connection.js';
import { createDelivery } from './delivery.js';
import { createPublisher } from './publisher.js';
import { createReplay, type ResumeRequest } from './replay.js';
import { UserStream } from './user-stream.js';

export type { ResumeRequest } from './replay.js';

export interface HubOptions {
  instanceId: string;
  heartbeatMs: number;
  bufferMaxEvents: number;
  bufferTtlMs: number;
  replayMaxEvents: number;
  gapFillMs: number;
  sendBufferLimitBytes: number;
  transientDropBytes: number;
  /** Live events a syncing socket may queue before it is treated as a slow consumer. */
  maxQueuedEvents?: number;
  /** A replay that makes no progress for this long (the device stopped reading) closes with 4429. */
  replayStallMs?: number;
}

export function createHub(deps: {
  storage: Storage;
  busFactory: BusFactory;
  metrics: Metrics;
  log: Logger;
  options: HubOptions;
  /** Control messages (revocations) from any instance; the hub only passes them on. */
  onControl?: (msg: ControlMessage) => void;
  /** The bus came back after losing its connection (besides the hub's own resync). */
  onBusReconnect?: () => void;
}) {
  const { storage, metrics, options } = deps;
  const log = deps.log.child({ component: 'hub' });
  const users = new Map<string, UserStream>();
  const busChains = new Map<string, Promise<void>>();
  let connectionCount = 0;
  let closing = false;
  /** How sockets are closed once the hub is shutting down (set by closeAll). */
  let closingCode: number = CloseCode.SERVICE_RESTART;
  let closingReason: () => string = () => restartReason(0);

  const bus = deps.busFactory({
    onEvent: onBusEvent,
    onControl: deps.onControl,
    onReconnect: (gap) => {
      if (gap.control) deps.onBusReconnect?.();
      void resync(gap.users, 'bus reconnected');
    },
  });
  const publisher = createPublisher({ bus, metrics, log: deps.log });
  const delivery = createDelivery({
    metrics,
    log,
    options: {
      sendBufferLimitBytes: options.sendBufferLimitBytes,
      transientDropBytes: options.transientDropBytes,
      maxQueuedEvents: options.maxQueuedEvents ?? 10_000,
      replayStallMs: options.replayStallMs ?? 10_000,
    },
    onHole: (conn) => void replay.catchUp(conn, conn.sentSeq),
  });
  const replay = createReplay({ storage, metrics, log, options, delivery, streamOf: (userId) => users.get(userId) });
  const streamDeps = {
    storage,
    metrics,
    log,
    gapFillMs: options.gapFillMs,
    bufferMaxEvents: options.bufferMaxEvents,
    bufferTtlMs: options.bufferTtlMs,
    fanOut: delivery.fanOut,
    isCurrent: (s: UserStream) => users.get(s.userId) === s,
    onReset: closeStream,
    isClosing: () => closing,
  };

  /** Bus subscribe/unsubscribe for one user run one after another, never interleaved. */
  function chainBusOp(userId: string, op: () => Promise<void>): Promise<void> {
    const prev = busChains.get(userId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(op);
    busChains.set(userId, next);
    void next.finally(() => {
      if (busChains.get(userId) === next) busChains.delete(userId);
    }).catch(() => undefined);
    return next;
  }

  /** Deliver what the bus did not bring to the users it names (all with local devices when none are named). */
  async function resync(only: ReadonlySet<string> | undefined, why: string): Promise<void> {
    const streams = only ? [...only].map((u) => users.get(u)).filter((s): s is UserStream => s !== undefined) : [...users.values()];
    for (const stream of streams) {
      if (!stream.ready || closing) continue;
      try {
        await stream.fillFromLog(why);
      } catch (err) {
        log.warn({ err, userId: stream.userId }, 'resync from the log failed');
      }
    }
  }

  function onBusEvent(e: BusEvent): void {
    users.get(e.userId)?.onBusEvent(e);
  }

  /** The user's log was reset: close its sockets with 1011 (they resume against a fresh stream). */
  function closeStream(stream: UserStream): void {
    for (const conn of [...stream.conns]) {
      stream.conns.delete(conn);
      connectionCount -= 1;
      conn.queue = [];
      conn.close(CloseCode.INTERNAL, 'event log reset: reconnect and resume');
    }
    dropStream(stream);
  }

  function newStream(userId: string): UserStream {
    const stream = new UserStream(userId, streamDeps);
    stream.init = (async () => {
      await chainBusOp(userId, () => bus.subscribe(userId));
      // Subscribed first, then read the head: anything committed after the read arrives on the bus.
      stream.start(await storage.logHead(userId));
    })();
    return stream;
  }

  async function userStream(userId: string): Promise<UserStream> {
    let stream = users.get(userId);
    if (!stream) {
      const created = newStream(userId);
      users.set(userId, created);
      created.init.catch(() => {
        if (users.get(userId) === created) dropStream(created);
      });
      stream = created;
    }
    await stream.init;
    return stream;
  }

  function dropStream(stream: UserStream): void {
    stream.stop();
    users.delete(stream.userId);
    chainBusOp(stream.userId, () => bus.unsubscribe(stream.userId)).catch((err: unknown) =>
      log.warn({ err, userId: stream.userId }, 'unsubscribe failed'),
    );
  }

  /** A stream without sockets keeps its buffer and bus subscription for the buffer's TTL, then goes. */
  function scheduleIdle(stream: UserStream): void {
    if (stream.conns.size > 0 || stream.idleTimer || closing) return;
    // A device that comes back within the TTL is served from memory.
    stream.idleTimer = setTimeout(() => {
      stream.idleTimer = null;
      if (stream.conns.size === 0 && users.get(stream.userId) === stream) dropStream(stream);
    }, options.bufferTtlMs);
    stream.idleTimer.unref();
  }

  /**
   * Add a socket to its user's pool and send HELLO, the replay (or RESYNC_REQUIRED), then live events.
   * `onHello` runs right after HELLO is sent, before the replay (the gateway answers client frames
   * from then on). Throws if the user's log cannot be read (the gateway closes the socket with 1011).
   */
  async function attach(conn: Connection, req: ResumeRequest, onHello?: () => void): Promise<void> {
    const stream = await userStream(conn.userId);
    if (closing || conn.closed) {
      // Shutting down: close as closeAll does, else the socket stays open without a HELLO.
      if (closing) conn.close(closingCode, closingReason(), 1_000);
      // The socket may have gone while the stream was set up: detach found nothing to remove, so
      // without an idle timer here the stream and its bus subscription would stay forever.
      scheduleIdle(stream);
      return;
    }
    if (stream.idleTimer) {
      clearTimeout(stream.idleTimer);
      stream.idleTimer = null;
    }
    conn.syncing = true;
    stream.conns.add(conn);
    connectionCount += 1;
    await replay.open(stream, conn, req, onHello);
  }

  function detach(conn: Connection): void {
    const stream = users.get(conn.userId);
    if (!stream || !stream.conns.delete(conn)) return;
    connectionCount -= 1;
    conn.queue = [];
    scheduleIdle(stream);
  }

  function allConnections(): Connection[] {
    const out: Connection[] = [];
    for (const s of users.values()) for (const c of s.conns) out.push(c);
    return out;
  }

  return {
    attach,
    detach,
    resume: replay.resume,
    seqAt: (userId: string, at: Date) => storage.seqAt(userId, at),
    /** The one publisher over this hub's bus (features commit through it, the outbox republishes through it). */
    publisher,
    /** Publish committed events (the publisher's `publish`). */
    publishStored: publisher.publish,
    /** A control message to every instance, this one included (the bus's `broadcast`). */
    broadcast: (msg: ControlMessage) => bus.broadcast(msg),
    allConnections,

    stats() {
      let events = 0;
      let bytes = 0;
      let activeUsers = 0;
      for (const s of users.values()) {
        s.ring.expire();
        events += s.ring.size;
        bytes += s.ring.bytes;
        if (s.conns.size > 0) activeUsers += 1;
      }
      return { totalConnections: connectionCount, activeUsers, buffer: { users: users.size, events, bytes } };
    },

    buffers() {
      return [...users.values()].map((s) => {
        s.ring.expire();
        return s.summary();
      });
    },

    buffer(userId: string) {
      const stream = users.get(userId);
      if (!stream) return null;
      const events = stream.ring.snapshot().map((d) => {
        const frame = JSON.parse(d.bytes.toString('utf8')) as Record<string, unknown>;
        return { seq: d.seq, type: d.type, timestamp: frame.timestamp, originDeviceId: frame.originDeviceId, bytes: d.bytes.length, payload: frame.payload };
      });
      return { ...stream.summary(), events };
    },

    /** Close every socket (graceful shutdown) and stop taking new ones. */
    closeAll(code: number, reason: () => string): void {
      closing = true;
      closingCode = code;
      closingReason = reason;
      for (const c of allConnections()) c.close(code, reason(), 1_000);
    },

    async close(): Promise<void> {
      closing = true;
      for (const s of users.values()) s.stop();
      users.clear();
      await bus.close();
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
