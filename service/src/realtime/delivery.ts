/**
 * Sending to sockets: live events (the same bytes to every socket of the user), paced replays, and
 * the slow-consumer rule (4429: the device reconnects and resumes from what it got). The socket's
 * own send state (what it was sent, what it queued, its replay frames in flight) is on its
 * Connection; this module holds the rules.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { StoredEvent } from '../ports/storage.js';
import { CloseCode, encodeEventFrame, type ReplaySource } from '../protocol/index.js';
import type { Connection, Delivery } from './connection.js';

export interface DeliveryOptions {
  sendBufferLimitBytes: number;
  transientDropBytes: number;
  /** Live events a syncing socket may queue before it is treated as a slow consumer. */
  maxQueuedEvents: number;
  /** A replay that makes no progress for this long (the device stopped reading) closes with 4429. */
  replayStallMs: number;
}

/** A bus event (or anything with its frame already encoded) as a Delivery: the frame's bytes made once. */
export function toDelivery(e: { seq: number | null; type: string; timestamp: string; frame: string }): Delivery {
  return { seq: e.seq, type: e.type, timestampMs: Date.parse(e.timestamp), bytes: Buffer.from(e.frame) };
}

/** An event read from the log, encoded once for every socket it goes to. */
export function storedToDelivery(e: StoredEvent): Delivery {
  return toDelivery({ seq: e.seq, type: e.type, timestamp: e.timestamp, frame: encodeEventFrame(e) });
}

export function createDelivery(deps: {
  metrics: Metrics;
  log: Logger;
  options: DeliveryOptions;
  /** A socket would get a hole in its seq run: resend from what it has instead (replay.ts). */
  onHole: (conn: Connection) => void;
}) {
  const { metrics, log, options } = deps;

  function slowConsumer(conn: Connection): void {
    if (conn.closed) return;
    metrics.slowConsumerCloses.inc();
    log.warn({ userId: conn.userId, connectionId: conn.id, bufferedAmount: conn.bufferedBytes }, 'slow consumer closed');
    conn.close(CloseCode.SLOW_CONSUMER, 'slow consumer: reconnect and resume');
  }

  /** Send one live event to one socket, keeping its seq contiguous. Returns whether it was sent. */
  function sendLive(conn: Connection, d: Delivery): boolean {
    if (conn.closed) return false;
    if (d.seq === null) {
      // Transient: dropped first under pressure, never a reason to close.
      if (conn.bufferedBytes > options.transientDropBytes) {
        metrics.transientDropped.inc();
        return false;
      }
      conn.send(d.bytes);
      return true;
    }
    if (d.seq <= conn.sentSeq) return false;
    if (d.seq !== conn.sentSeq + 1) {
      // Cannot happen while the stream delivers in order; if it does, repair instead of sending a hole.
      log.error({ userId: conn.userId, connectionId: conn.id, sentSeq: conn.sentSeq, seq: d.seq }, 'hole on a socket; replaying');
      deps.onHole(conn);
      return false;
    }
    if (conn.bufferedBytes > options.sendBufferLimitBytes) {
      slowConsumer(conn);
      return false;
    }
    conn.send(d.bytes);
    conn.sentSeq = d.seq;
    return true;
  }

  /** Hand one event to every local socket of the user: the same bytes to each; syncing ones queue it. */
  function fanOut(conns: Iterable<Connection>, d: Delivery): void {
    let sent = 0;
    for (const conn of conns) {
      if (conn.syncing) {
        if (d.seq !== null) {
          conn.queue.push(d);
          if (conn.queue.length > options.maxQueuedEvents) slowConsumer(conn);
        }
      } else if (sendLive(conn, d)) {
        sent += 1;
      }
    }
    if (sent > 0) {
      metrics.eventsDelivered.inc({ type: d.type }, sent);
      if (d.seq !== null) metrics.deliveryLatency.observe({ type: d.type }, Math.max(0, Date.now() - d.timestampMs) / 1000);
    }
  }

  /**
   * Wait until the socket's unsent data is under the limit; false if it closed or stalled (4429).
   * With none of its paced frames in flight nothing would wake us: the caller sends one more first.
   */
  async function belowLimit(conn: Connection): Promise<boolean> {
    while (conn.bufferedBytes > options.sendBufferLimitBytes && conn.pacedInFlight > 0) {
      if (conn.closed) return false;
      const outcome = await conn.waitForWrite(options.replayStallMs);
      if (conn.closed || outcome === 'failed') return false;
      if (outcome === 'stalled') {
        slowConsumer(conn);
        return false;
      }
    }
    return !conn.closed;
  }

  /**
   * Send a replay without letting the socket's unsent data grow past the slow-consumer limit.
   * A replay is written in one go, far faster than a network takes it: unchecked, REPLAY_MAX_EVENTS
   * frames would sit in this process's memory. So each frame first looks at the unsent bytes, as a
   * live send does; over the limit it waits for the socket to write some out (a frame's send
   * callback), and a socket that takes nothing for `replayStallMs` is a slow consumer: 4429, the
   * device reconnects and resumes from what it got. Pacing instead of closing at once keeps a
   * healthy device on one connection when its replay is larger than the limit.
   * Returns false when the socket closed before the replay was out.
   */
  async function sendReplay(conn: Connection, events: readonly Delivery[], source: ReplaySource): Promise<boolean> {
    let sent = 0;
    try {
      for (const d of events) {
        if (conn.closed) return false;
        if (conn.bufferedBytes > options.sendBufferLimitBytes && !(await belowLimit(conn))) return false;
        conn.sendPaced(d.bytes);
        sent += 1;
      }
      // Also before going live: the queued live events are sent at once and would find it over the limit.
      return await belowLimit(conn);
    } finally {
      if (sent > 0) {
        metrics.replays.inc({ source });
        metrics.replayedEvents.inc({ source }, sent);
      }
    }
  }

  return { fanOut, sendLive, sendReplay, slowConsumer };
}

export type DeliveryRules = ReturnType<typeof createDelivery>;
