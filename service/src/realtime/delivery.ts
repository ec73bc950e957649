/**
 * Sending to sockets: live events (the same bytes to every socket of the user), paced catch-ups
 * (a replay, then the live events queued behind it), transient frames under pressure, and the
 * slow-consumer rule (4429: the device reconnects and resumes from what it got). The socket's own
 * send state (what it was sent, what it queued or parked, its paced frames in flight) is on its
 * Connection; this module holds the rules.
 *
 * Under pressure (DESIGN §5), two marks:
 * - over `transientDropBytes` of unsent data, a transient frame (seq null: JOB_PROGRESS) is not
 *   sent but parked on the socket, one per job: a newer value of the same job replaces the parked
 *   one (coalesced), so what the device gets when the socket drains is the latest value of each job.
 *   A syncing socket parks them too and sends them once it is live. Parked frames go when the
 *   socket is under the mark again (looked at every `transientRetryMs`, and before each stored
 *   event); at most `maxParkedTransients` jobs per socket, the oldest dropped past it.
 * - stored events are never dropped nor parked: over `sendBufferLimitBytes` the socket is closed
 *   with 4429 instead, and the device replays. The transient mark is the lower one, so transient
 *   frames give way first.
 * Parking keeps a reference to the Delivery every socket shares: nothing is encoded per socket.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { StoredEvent } from '../ports/storage.js';
import { CloseCode, encodeEventFrame, type ReplaySource } from '../protocol/index.js';
import type { Connection, Delivery } from './connection.js';

export interface DeliveryOptions {
  sendBufferLimitBytes: number;
  /** Over this many unsent bytes, transient frames are parked (latest per job) instead of sent. */
  transientDropBytes: number;
  /** Live events a syncing socket may queue before it is treated as a slow consumer. */
  maxQueuedEvents: number;
  /** A replay that makes no progress for this long (the device stopped reading) closes with 4429. */
  replayStallMs: number;
  /** How often a socket with parked transient frames looks whether it is under the mark again (default 50). */
  transientRetryMs?: number;
  /** Most jobs a socket parks a frame for; past it the oldest is dropped (default 64). */
  maxParkedTransients?: number;
}

/** How a catch-up's queue drain ended: live, the socket closed (or 4429), or a hole to repair. */
export type DrainResult = 'live' | 'closed' | 'hole';

/**
 * What a transient frame supersedes: the same type for the same job. Read once per event from the
 * frame (never per socket); a frame without a job id coalesces by its type alone.
 */
function coalesceKeyOf(type: string, frame: string): string {
  try {
    const payload = (JSON.parse(frame) as { payload?: { jobId?: unknown } | null }).payload;
    if (payload && typeof payload.jobId === 'string') return `${type}:${payload.jobId}`;
  } catch {
    // Frames are made by the publisher and always JSON; a type-wide key is the safe fallback.
  }
  return type;
}

/** A bus event (or anything with its frame already encoded) as a Delivery: the frame's bytes made once. */
export function toDelivery(e: { seq: number | null; type: string; timestamp: string; frame: string }): Delivery {
  const d: Delivery = { seq: e.seq, type: e.type, timestampMs: Date.parse(e.timestamp), bytes: Buffer.from(e.frame) };
  if (e.seq === null) d.coalesceKey = coalesceKeyOf(e.type, e.frame);
  return d;
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
  const retryMs = options.transientRetryMs ?? 50;
  const maxParked = options.maxParkedTransients ?? 64;

  function slowConsumer(conn: Connection): void {
    if (conn.closed) return;
    metrics.slowConsumerCloses.inc();
    log.warn({ userId: conn.userId, connectionId: conn.id, bufferedAmount: conn.bufferedBytes }, 'slow consumer closed');
    conn.close(CloseCode.SLOW_CONSUMER, 'slow consumer: reconnect and resume');
  }

  // ---- transient frames under pressure (see the module comment) ----

  function scheduleFlush(conn: Connection): void {
    if (conn.parkTimer || conn.closed) return;
    conn.parkTimer = setTimeout(() => {
      conn.parkTimer = null;
      flushParked(conn);
    }, retryMs);
    conn.parkTimer.unref();
  }

  /** Send the parked frames, oldest job first, while the socket stays under the transient mark. */
  function flushParked(conn: Connection): void {
    if (conn.closed) {
      conn.dropParked();
      return;
    }
    if (conn.syncing) return; // going live flushes them (drainQueued)
    for (const [key, d] of conn.parked) {
      if (conn.bufferedBytes > options.transientDropBytes) break;
      conn.parked.delete(key);
      conn.send(d.bytes);
      metrics.eventsDelivered.inc({ type: d.type });
    }
    if (conn.parked.size > 0) scheduleFlush(conn);
  }

  /** Keep a transient frame for later: it replaces an older one of the same job (coalesced away). */
  function park(conn: Connection, d: Delivery): void {
    const key = d.coalesceKey ?? d.type;
    if (conn.parked.delete(key)) {
      metrics.transientDropped.inc(); // the older value is superseded: never sent
    } else if (conn.parked.size >= maxParked) {
      const oldest = conn.parked.keys().next().value!;
      conn.parked.delete(oldest);
      metrics.transientDropped.inc();
    }
    conn.parked.set(key, d);
    if (!conn.syncing) scheduleFlush(conn);
  }

  /** A transient frame: sent if the socket is live, under the mark and holds none back; else parked. */
  function sendTransient(conn: Connection, d: Delivery): boolean {
    if (!conn.syncing && conn.parked.size === 0 && conn.bufferedBytes <= options.transientDropBytes) {
      conn.send(d.bytes);
      return true;
    }
    park(conn, d);
    // Under the mark again (frames were parked before): this one and those go now, oldest job first.
    if (!conn.syncing && conn.bufferedBytes <= options.transientDropBytes) flushParked(conn);
    return false;
  }

  /** Send one live event to one socket, keeping its seq contiguous. Returns whether it was sent now. */
  function sendLive(conn: Connection, d: Delivery): boolean {
    if (conn.closed) return false;
    if (d.seq === null) return sendTransient(conn, d);
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
    // Older than this event and maybe sendable again: give them their turn first.
    if (conn.parked.size > 0) flushParked(conn);
    conn.send(d.bytes);
    conn.sentSeq = d.seq;
    return true;
  }

  /** Hand one event to every local socket of the user: the same bytes to each; syncing ones queue it. */
  function fanOut(conns: Iterable<Connection>, d: Delivery): void {
    let sent = 0;
    for (const conn of conns) {
      if (conn.syncing && d.seq !== null) {
        conn.queue.push(d);
        if (conn.queue.length > options.maxQueuedEvents) slowConsumer(conn);
      } else if (sendLive(conn, d)) {
        sent += 1;
      }
    }
    if (sent > 0) {
      metrics.eventsDelivered.inc({ type: d.type }, sent);
      if (d.seq !== null) metrics.deliveryLatency.observe({ type: d.type }, Math.max(0, Date.now() - d.timestampMs) / 1000);
    }
  }

  // ---- paced catch-ups ----

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
   * The live events queued meanwhile follow at the same pace (drainQueued).
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
      return !conn.closed;
    } finally {
      if (sent > 0) {
        metrics.replays.inc({ source });
        metrics.replayedEvents.inc({ source }, sent);
      }
    }
  }

  /**
   * End a catch-up (its replay, or RESYNC_REQUIRED, is out and `sentSeq` is where it ended): send
   * the live events queued behind it, then go live. Pacing, precisely:
   * - the queued events go out oldest first, skipping what the replay covered (seq <= sentSeq),
   *   each one only while the socket's unsent bytes are at most `sendBufferLimitBytes`, as the
   *   replay's frames were: unsent data never exceeds the limit plus one frame, and a device that
   *   reads nothing for `replayStallMs` gets 4429, never a burst held in this process's memory;
   * - the socket stays `syncing` meanwhile, so an event that arrives during the drain is queued
   *   behind the others (in seq order, once) instead of overtaking them;
   * - it goes live (each event sent as it comes) only when the queue is empty and the socket under
   *   the limit, found in the same tick as it stops syncing: nothing can be left queued behind.
   * Then the transient frames it parked meanwhile go (the latest per job).
   * A hole in the queue (cannot happen while the stream delivers in order) is repaired by `onHole`.
   */
  async function drainQueued(conn: Connection): Promise<DrainResult> {
    for (;;) {
      if (conn.closed) return 'closed';
      if (conn.bufferedBytes > options.sendBufferLimitBytes && !(await belowLimit(conn))) return 'closed';
      const d = conn.takeQueued();
      if (d === undefined) {
        conn.syncing = false;
        flushParked(conn);
        return 'live';
      }
      if (d.seq === null || d.seq <= conn.sentSeq) continue; // the replay had it
      if (d.seq !== conn.sentSeq + 1) {
        log.error({ userId: conn.userId, connectionId: conn.id, sentSeq: conn.sentSeq, seq: d.seq }, 'hole in a queued catch-up; replaying');
        deps.onHole(conn);
        return 'hole';
      }
      conn.sendPaced(d.bytes);
      conn.sentSeq = d.seq;
    }
  }

  return { fanOut, sendLive, sendReplay, drainQueued, slowConsumer };
}

export type DeliveryRules = ReturnType<typeof createDelivery>;
