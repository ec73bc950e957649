/**
 * The hub: per-user pools of local sockets, per-user ordering of the event stream, ring buffers,
 * replay and the seam between replay and live.
 *
 * Guarantee (DESIGN §4): every socket of a user gets every stored event of that user exactly once
 * and in seq order. How:
 *  - the bus may deliver a user's events out of order (concurrent requests publish independently);
 *    the hub reorders them and, when a seq is missing for `gapFillMs`, reads it from the event log
 *    (it is committed: seq N+1 cannot commit before N, the log row lock serializes a user's writes);
 *  - a socket that is (re)syncing queues live events while its replay is read, then sends the replay
 *    and the queue, skipping anything at or below the last seq it sent.
 * The hub does not know whether events came from memory or Redis: they arrive through `onBusEvent`.
 */
import type { Logger } from 'pino';
import type { Bus, BusEvent, BusFactory } from '../ports/bus.js';
import type { Storage, StoredEvent } from '../ports/storage.js';
import {
  CloseCode,
  encodeControlFrame,
  restartReason,
  encodeEventFrame,
  type HelloPayload,
  type ReplaySource,
  type ResyncReason,
} from '../protocol/index.js';
import type { Metrics } from '../metrics.js';
import { Connection, type Delivery } from './connection.js';
import { RingBuffer } from './ring-buffer.js';

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

interface UserState {
  userId: string;
  conns: Set<Connection>;
  epoch: string;
  /** Highest seq handed to the local sockets, in order. */
  deliveredSeq: number;
  ready: boolean;
  init: Promise<void>;
  /** Events that arrived before the state knew its starting seq. */
  early: Delivery[];
  /** Out-of-order events waiting for the missing seq. */
  pending: Map<number, Delivery>;
  gapTimer: NodeJS.Timeout | null;
  idleTimer: NodeJS.Timeout | null;
  ring: RingBuffer;
  /** A check of the log's epoch is under way (an event of another epoch came). */
  epochCheck?: boolean;
}

export interface ResumeRequest {
  lastSeq?: number;
  epoch?: string;
  /** The resume point is older than the log keeps (e.g. a lastEventTs before pruning): RESYNC_REQUIRED. */
  evicted?: boolean;
}

const TEXT = { binary: false } as const;

export function createHub(deps: {
  storage: Storage;
  busFactory: BusFactory;
  metrics: Metrics;
  log: Logger;
  options: HubOptions;
  /** Told when the bus accepted a stored event (the outbox records it). */
  onPublished?: (event: StoredEvent) => void;
}) {
  const { storage, metrics, options } = deps;
  const log = deps.log.child({ component: 'hub' });
  const users = new Map<string, UserState>();
  const busChains = new Map<string, Promise<void>>();
  const maxQueued = options.maxQueuedEvents ?? 10_000;
  const replayStallMs = options.replayStallMs ?? 10_000;
  let connectionCount = 0;
  let closing = false;
  /** How sockets are closed once the hub is shutting down (set by closeAll). */
  let closingCode: number = CloseCode.SERVICE_RESTART;
  let closingReason: () => string = () => restartReason(0);

  const bus: Bus = deps.busFactory({ onEvent: onBusEvent, onReconnect: () => void resyncAll('bus reconnected') });

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

  function toDelivery(e: { seq: number | null; type: string; timestamp: string; frame: string }): Delivery {
    return { seq: e.seq, type: e.type, timestampMs: Date.parse(e.timestamp), bytes: Buffer.from(e.frame) };
  }

  function storedToDelivery(e: StoredEvent): Delivery {
    return toDelivery({ seq: e.seq, type: e.type, timestamp: e.timestamp, frame: encodeEventFrame(e) });
  }

  /**
   * Re-read the log head of every user with local devices and deliver what the bus did not bring
   * (events published while the bus was down). Also the periodic safety net of the outbox relay.
   */
  async function resyncAll(why: string): Promise<void> {
    for (const state of [...users.values()]) {
      if (!state.ready || closing) continue;
      try {
        const head = await storage.logHead(state.userId);
        if (head.latestSeq > state.deliveredSeq) {
          log.info({ userId: state.userId, from: state.deliveredSeq, to: head.latestSeq, why }, 'filling missed events from the log');
          const events = await storage.readEvents(state.userId, state.deliveredSeq, head.latestSeq, head.latestSeq - state.deliveredSeq);
          metrics.gapFills.inc();
          for (const e of events) ingest(state, storedToDelivery(e));
        }
      } catch (err) {
        log.warn({ err, userId: state.userId }, 'resync from the log failed');
      }
    }
  }

  function onBusEvent(e: BusEvent): void {
    const state = users.get(e.userId);
    if (!state) return;
    if (e.seq !== null && state.ready && e.epoch !== state.epoch) {
      void checkEpoch(state);
      return;
    }
    ingest(state, toDelivery(e));
  }

  /**
   * An event of another epoch: either a stale one (ignore it) or the user's log was reset (restored,
   * recreated) and this state, its seqs and its buffer describe a history that is gone. Then every
   * local socket is closed with 1011: its device reconnects with the old epoch and gets
   * RESYNC_REQUIRED epoch_changed from a fresh state, never a silent stall on events it would drop.
   */
  async function checkEpoch(state: UserState): Promise<void> {
    if (state.epochCheck) return;
    state.epochCheck = true;
    try {
      const head = await storage.logHead(state.userId);
      if (head.epoch === state.epoch || users.get(state.userId) !== state) return;
      log.warn({ userId: state.userId, from: state.epoch, to: head.epoch }, 'event log epoch changed: closing the user\'s sockets so they resync');
      for (const conn of [...state.conns]) {
        state.conns.delete(conn);
        connectionCount -= 1;
        conn.queue = [];
        conn.close(CloseCode.INTERNAL, 'event log reset: reconnect and resume');
      }
      dropState(state);
    } catch (err) {
      log.warn({ err, userId: state.userId }, 'epoch check failed; the event is ignored');
    } finally {
      state.epochCheck = false;
    }
  }

  function ingest(state: UserState, d: Delivery): void {
    if (d.seq === null) {
      fanOut(state, d);
      return;
    }
    if (!state.ready) {
      state.early.push(d);
      return;
    }
    if (d.seq <= state.deliveredSeq || state.pending.has(d.seq)) return; // duplicate
    if (d.seq === state.deliveredSeq + 1) {
      deliverInOrder(state, d);
      drainPending(state);
    } else {
      state.pending.set(d.seq, d);
      scheduleGapFill(state);
    }
  }

  function deliverInOrder(state: UserState, d: Delivery): void {
    state.deliveredSeq = d.seq!;
    state.ring.push(d as Delivery & { seq: number });
    fanOut(state, d);
  }

  function drainPending(state: UserState): void {
    let next = state.pending.get(state.deliveredSeq + 1);
    while (next) {
      state.pending.delete(next.seq!);
      deliverInOrder(state, next);
      next = state.pending.get(state.deliveredSeq + 1);
    }
    if (state.pending.size === 0 && state.gapTimer) {
      clearTimeout(state.gapTimer);
      state.gapTimer = null;
    }
  }

  function scheduleGapFill(state: UserState): void {
    if (state.gapTimer || closing) return;
    state.gapTimer = setTimeout(() => void fillGap(state), options.gapFillMs);
  }

  async function fillGap(state: UserState): Promise<void> {
    state.gapTimer = null;
    if (state.pending.size === 0) return;
    const firstPending = Math.min(...state.pending.keys());
    const from = state.deliveredSeq;
    try {
      const events = await storage.readEvents(state.userId, from, firstPending - 1, firstPending - 1 - from);
      metrics.gapFills.inc();
      log.debug({ userId: state.userId, from, to: firstPending - 1, found: events.length }, 'filled a gap from the log');
      for (const e of events) ingest(state, storedToDelivery(e));
    } catch (err) {
      log.warn({ err, userId: state.userId }, 'gap fill failed; will retry');
    }
    if (state.pending.size > 0 && users.get(state.userId) === state) scheduleGapFill(state);
  }

  /** Hand one event to every local socket of the user: the same bytes to each. */
  function fanOut(state: UserState, d: Delivery): void {
    let sent = 0;
    for (const conn of state.conns) {
      if (conn.syncing) {
        if (d.seq !== null) {
          conn.queue.push(d);
          if (conn.queue.length > maxQueued) slowConsumer(conn);
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

  /** Send one live event to one socket, keeping its seq contiguous. Returns whether it was sent. */
  function sendLive(conn: Connection, d: Delivery): boolean {
    if (conn.closed) return false;
    const ws = conn.ws;
    if (d.seq === null) {
      // Transient: dropped first under pressure, never a reason to close.
      if (ws.bufferedAmount > options.transientDropBytes) {
        metrics.transientDropped.inc();
        return false;
      }
      ws.send(d.bytes, TEXT);
      return true;
    }
    if (d.seq <= conn.sentSeq) return false;
    if (d.seq !== conn.sentSeq + 1) {
      // Cannot happen while the hub delivers in order; if it does, repair instead of sending a hole.
      log.error({ userId: conn.userId, connectionId: conn.id, sentSeq: conn.sentSeq, seq: d.seq }, 'hole on a socket; replaying');
      void catchUp(conn, conn.sentSeq);
      return false;
    }
    if (ws.bufferedAmount > options.sendBufferLimitBytes) {
      slowConsumer(conn);
      return false;
    }
    ws.send(d.bytes, TEXT);
    conn.sentSeq = d.seq;
    return true;
  }

  function slowConsumer(conn: Connection): void {
    if (conn.closed) return;
    metrics.slowConsumerCloses.inc();
    log.warn({ userId: conn.userId, connectionId: conn.id, bufferedAmount: conn.ws.bufferedAmount }, 'slow consumer closed');
    conn.close(CloseCode.SLOW_CONSUMER, 'slow consumer: reconnect and resume');
  }

  function newState(userId: string): UserState {
    const state: UserState = {
      userId,
      conns: new Set(),
      epoch: '',
      deliveredSeq: 0,
      ready: false,
      init: Promise.resolve(),
      early: [],
      pending: new Map(),
      gapTimer: null,
      idleTimer: null,
      ring: new RingBuffer(options.bufferMaxEvents, options.bufferTtlMs),
    };
    state.init = (async () => {
      await chainBusOp(userId, () => bus.subscribe(userId));
      // Subscribed first, then read the head: anything committed after the read arrives on the bus.
      const head = await storage.logHead(userId);
      state.epoch = head.epoch;
      state.deliveredSeq = head.latestSeq;
      state.ready = true;
      const early = state.early;
      state.early = [];
      for (const d of early) ingest(state, d);
    })();
    return state;
  }

  async function userState(userId: string): Promise<UserState> {
    let state = users.get(userId);
    if (!state) {
      state = newState(userId);
      users.set(userId, state);
      state.init.catch(() => {
        if (users.get(userId) === state) dropState(state!);
      });
    }
    await state.init;
    return state;
  }

  function dropState(state: UserState): void {
    if (state.gapTimer) clearTimeout(state.gapTimer);
    if (state.idleTimer) clearTimeout(state.idleTimer);
    users.delete(state.userId);
    chainBusOp(state.userId, () => bus.unsubscribe(state.userId)).catch((err: unknown) =>
      log.warn({ err, userId: state.userId }, 'unsubscribe failed'),
    );
  }

  /**
   * Events with afterSeq < seq <= toSeq, from the ring buffer or else the log; null when they cannot
   * all be served (older than the log keeps, or more than a replay may hold).
   */
  async function loadRange(
    state: UserState,
    afterSeq: number,
    toSeq: number,
  ): Promise<{ events: Delivery[]; source: ReplaySource } | null> {
    if (toSeq <= afterSeq) return { events: [], source: 'buffer' };
    const count = toSeq - afterSeq;
    if (count > options.replayMaxEvents) return null;
    const buffered = state.ring.range(afterSeq, toSeq);
    if (buffered) return { events: buffered, source: 'buffer' };
    const stored = await storage.readEvents(state.userId, afterSeq, toSeq, count);
    if (stored.length !== count || stored[0]!.seq !== afterSeq + 1) return null;
    return { events: stored.map(storedToDelivery), source: 'log' };
  }

  function sendResync(conn: Connection, reason: ResyncReason, latestSeq: number, epoch: string): void {
    metrics.resyncs.inc({ reason });
    conn.ws.send(encodeControlFrame('RESYNC_REQUIRED', { reason, latestSeq, epoch }));
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
  async function sendReplay(conn: Connection, events: Delivery[], source: ReplaySource): Promise<boolean> {
    const ws = conn.ws;
    let unwritten = 0; // replay frames handed to ws whose write has not completed
    let wake: ((written: boolean) => void) | null = null;
    const onWritten = (err?: Error | null) => {
      unwritten -= 1;
      wake?.(!err);
    };
    /** Wait until the unsent data is under the limit; false if the socket closed or stalled (4429). */
    const belowLimit = async (): Promise<boolean> => {
      // With none of our frames pending nothing would wake us: the caller sends one more and waits on it.
      while (ws.bufferedAmount > options.sendBufferLimitBytes && unwritten > 0) {
        if (conn.closed) return false;
        const outcome = await new Promise<'written' | 'failed' | 'stalled'>((resolve) => {
          const timer = setTimeout(() => resolve('stalled'), replayStallMs);
          timer.unref();
          wake = (written) => {
            clearTimeout(timer);
            wake = null;
            resolve(written ? 'written' : 'failed');
          };
        });
        if (conn.closed || outcome === 'failed') return false;
        if (outcome === 'stalled') {
          slowConsumer(conn);
          return false;
        }
      }
      return !conn.closed;
    };
    let sent = 0;
    try {
      for (const d of events) {
        if (conn.closed) return false;
        if (ws.bufferedAmount > options.sendBufferLimitBytes && !(await belowLimit())) return false;
        unwritten += 1;
        ws.send(d.bytes, TEXT, onWritten);
        sent += 1;
      }
      // Also before going live: the queued live events are sent at once and would find it over the limit.
      return await belowLimit();
    } finally {
      if (sent > 0) {
        metrics.replays.inc({ source });
        metrics.replayedEvents.inc({ source }, sent);
      }
    }
  }

  /** End a sync: send what queued up meanwhile (skipping what the replay covered), then go live. */
  function finishSync(conn: Connection): void {
    conn.syncing = false;
    while (conn.queue.length > 0 && !conn.syncing && !conn.closed) sendLive(conn, conn.queue.shift()!);
    if (!conn.syncing && conn.pendingResume !== null) {
      const lastSeq = conn.pendingResume;
      conn.pendingResume = null;
      resume(conn, lastSeq);
    }
  }

  /** Resend every stored event after `afterSeq` up to what the socket should have, then go live. */
  async function catchUp(conn: Connection, afterSeq: number): Promise<void> {
    const state = users.get(conn.userId);
    if (!state || conn.closed) return;
    conn.syncing = true;
    conn.syncFrom = afterSeq;
    const target = Math.max(conn.sentSeq, state.deliveredSeq);
    try {
      const range = await loadRange(state, afterSeq, target);
      if (conn.closed) return;
      if (!range) sendResync(conn, 'evicted', target, state.epoch);
      else if (!(await sendReplay(conn, range.events, range.source))) return;
      conn.sentSeq = target;
      finishSync(conn);
    } catch (err) {
      log.error({ err, userId: conn.userId }, 'catch-up failed');
      conn.close(CloseCode.INTERNAL, 'replay failed: reconnect and resume');
    }
  }

  /** A state without sockets keeps its buffer and bus subscription for the buffer's TTL, then goes. */
  function scheduleIdle(state: UserState): void {
    if (state.conns.size > 0 || state.idleTimer || closing) return;
    // A device that comes back within the TTL is served from memory.
    state.idleTimer = setTimeout(() => {
      state.idleTimer = null;
      if (state.conns.size === 0 && users.get(state.userId) === state) dropState(state);
    }, options.bufferTtlMs);
    state.idleTimer.unref();
  }

  /**
   * Add a socket to its user's pool and send HELLO, the replay (or RESYNC_REQUIRED), then live events.
   * `onHello` runs right after HELLO is sent, before the replay (the gateway answers client frames
   * from then on). Throws if the user's log cannot be read (the gateway closes the socket with 1011).
   */
  async function attach(conn: Connection, req: ResumeRequest, onHello?: () => void): Promise<void> {
    const state = await userState(conn.userId);
    if (closing || conn.closed) {
      // Shutting down: close as closeAll does, else the socket stays open without a HELLO.
      if (closing) conn.close(closingCode, closingReason(), 1_000);
      // The socket may have gone while the state was set up: detach found nothing to remove, so
      // without an idle timer here the state and its bus subscription would stay forever.
      scheduleIdle(state);
      return;
    }
    if (state.idleTimer) {
      clearTimeout(state.idleTimer);
      state.idleTimer = null;
    }
    conn.syncing = true;
    state.conns.add(conn);
    connectionCount += 1;
    // From here every live event after D is queued on the socket: D is the seam.
    const D = state.deliveredSeq;
    let startSeq = D;
    let resync: ResyncReason | null = null;
    let replay: { events: Delivery[]; source: ReplaySource } | null = null;
    if (req.evicted) {
      resync = 'evicted';
    } else if (req.lastSeq !== undefined) {
      if (req.epoch !== undefined && req.epoch !== state.epoch) {
        resync = 'epoch_changed';
      } else if (req.lastSeq > D) {
        // The device may have seen events this instance has not received yet: check the log itself.
        const head = await storage.logHead(conn.userId);
        if (req.lastSeq > head.latestSeq) resync = 'ahead';
        else startSeq = req.lastSeq;
      } else if (req.lastSeq < D) {
        replay = await loadRange(state, req.lastSeq, D);
        if (!replay) resync = 'evicted';
      }
    }
    if (conn.closed) return;
    const hello: HelloPayload = {
      userId: conn.userId,
      deviceId: conn.deviceId,
      connectionId: conn.id,
      instanceId: options.instanceId,
      epoch: state.epoch,
      latestSeq: startSeq,
      heartbeatMs: options.heartbeatMs,
      tokenExpiresAt: conn.expiresAtMs === null ? null : new Date(conn.expiresAtMs).toISOString(),
      replay:
        replay && replay.events.length > 0
          ? { fromSeq: req.lastSeq! + 1, toSeq: D, count: replay.events.length, source: replay.source }
          : null,
    };
    conn.ws.send(encodeControlFrame('HELLO', hello));
    if (resync) sendResync(conn, resync, startSeq, state.epoch);
    // A RESUME for anything after this point is served by the replay below (see resume()).
    conn.syncFrom = replay ? req.lastSeq! : startSeq;
    onHello?.();
    if (replay && !(await sendReplay(conn, replay.events, replay.source))) return;
    if (conn.closed) return;
    conn.sentSeq = startSeq;
    finishSync(conn);
  }

  function detach(conn: Connection): void {
    const state = users.get(conn.userId);
    if (!state || !state.conns.delete(conn)) return;
    connectionCount -= 1;
    conn.queue = [];
    scheduleIdle(state);
  }

  /** A live socket asks for everything after `lastSeq` again (it saw a gap). */
  function resume(conn: Connection, lastSeq: number): void {
    if (conn.closed) return;
    if (conn.syncing) {
      // Coalesce: the sync in progress sends everything after syncFrom, so a RESUME at or above it
      // asks for nothing more; lower ones are kept as one pending RESUME, run when this sync ends.
      if (lastSeq >= conn.syncFrom) return;
      conn.pendingResume = conn.pendingResume === null ? lastSeq : Math.min(conn.pendingResume, lastSeq);
      return;
    }
    if (lastSeq >= conn.sentSeq) return; // nothing missing
    void catchUp(conn, lastSeq);
  }

  /** Publish committed events to the bus. Never throws: a failing publish never fails the response. */
  function publishStored(events: readonly StoredEvent[]): void {
    for (const e of events) {
      const frame = encodeEventFrame(e);
      metrics.eventsPublished.inc({ type: e.type });
      bus
        .publish({ userId: e.userId, seq: e.seq, epoch: e.epoch, type: e.type, timestamp: e.timestamp, frame })
        .then(() => deps.onPublished?.(e))
        .catch((err: unknown) => {
          metrics.publishFailures.inc();
          log.error({ err, userId: e.userId, seq: e.seq }, 'publish failed; devices will fill the gap from the log');
        });
    }
  }

  function publishTransient(userId: string, type: string, payload: unknown, originDeviceId: string | null): void {
    const timestamp = new Date().toISOString();
    const frame = encodeEventFrame({ type, payload, timestamp, seq: null, originDeviceId });
    metrics.eventsPublished.inc({ type });
    bus.publish({ userId, seq: null, epoch: null, type, timestamp, frame }).catch((err: unknown) => {
      metrics.publishFailures.inc();
      log.warn({ err, userId, type }, 'transient publish failed');
    });
  }

  function allConnections(): Connection[] {
    const out: Connection[] = [];
    for (const s of users.values()) for (const c of s.conns) out.push(c);
    return out;
  }

  function bufferSummary(state: UserState) {
    return {
      userId: state.userId,
      epoch: state.epoch,
      connections: state.conns.size,
      deliveredSeq: state.deliveredSeq,
      events: state.ring.size,
      bytes: state.ring.bytes,
      firstSeq: state.ring.firstSeq,
      lastSeq: state.ring.lastSeq,
      pendingOutOfOrder: state.pending.size,
    };
  }

  return {
    attach,
    detach,
    resume,
    resyncAll,
    seqAt: (userId: string, at: Date) => storage.seqAt(userId, at),
    publishStored,
    publishTransient,
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
        return bufferSummary(s);
      });
    },

    buffer(userId: string) {
      const state = users.get(userId);
      if (!state) return null;
      const events = state.ring.snapshot().map((d) => {
        const frame = JSON.parse(d.bytes.toString('utf8')) as Record<string, unknown>;
        return { seq: d.seq, type: d.type, timestamp: frame.timestamp, originDeviceId: frame.originDeviceId, bytes: d.bytes.length, payload: frame.payload };
      });
      return { ...bufferSummary(state), events };
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
      for (const s of users.values()) {
        if (s.gapTimer) clearTimeout(s.gapTimer);
        if (s.idleTimer) clearTimeout(s.idleTimer);
      }
      users.clear();
      await bus.close();
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
