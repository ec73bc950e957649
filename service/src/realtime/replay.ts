/**
 * The resume seam (as centrifuge's recovery/sync.go): HELLO, then the replay a device asked for
 * (from the ring buffer, else the event log) or RESYNC_REQUIRED when it cannot be served, then live.
 *
 * A socket that is (re)syncing queues live events while its replay is read and sent, then sends the
 * queue, skipping anything at or below the last seq it sent: no hole and no duplicate at the seam.
 * Replay and queue are paced alike (delivery.ts `sendReplay`, `drainQueued`): live events that
 * arrive during a long paced replay follow it at the same pace, in seq order, never as one burst
 * when it ends. RESUMEs that arrive meanwhile are coalesced into one, run when the sync ends.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Storage } from '../ports/storage.js';
import { CloseCode, encodeControlFrame, type HelloPayload, type ReplaySource, type ResyncReason } from '../protocol/index.js';
import type { Connection, Delivery } from './connection.js';
import { storedToDelivery, type DeliveryRules } from './delivery.js';
import type { UserStream } from './user-stream.js';

export interface ResumeRequest {
  lastSeq?: number;
  epoch?: string;
  /** The resume point is older than the log keeps (e.g. a lastEventTs before pruning): RESYNC_REQUIRED. */
  evicted?: boolean;
}

export interface ReplayOptions {
  instanceId: string;
  heartbeatMs: number;
  replayMaxEvents: number;
}

type Range = { events: Delivery[]; source: ReplaySource };

export function createReplay(deps: {
  storage: Storage;
  metrics: Metrics;
  log: Logger;
  options: ReplayOptions;
  delivery: Pick<DeliveryRules, 'sendReplay' | 'drainQueued'>;
  /** The user's stream on this instance, if it still has one. */
  streamOf: (userId: string) => UserStream | undefined;
}) {
  const { storage, metrics, log, options, delivery } = deps;

  /**
   * Events with afterSeq < seq <= toSeq, from the ring buffer or else the log; null when they cannot
   * all be served (older than the log keeps, or more than a replay may hold).
   */
  async function loadRange(stream: UserStream, afterSeq: number, toSeq: number): Promise<Range | null> {
    if (toSeq <= afterSeq) return { events: [], source: 'buffer' };
    const count = toSeq - afterSeq;
    if (count > options.replayMaxEvents) return null;
    const buffered = stream.ring.range(afterSeq, toSeq);
    if (buffered) return { events: buffered, source: 'buffer' };
    const stored = await storage.readEvents(stream.userId, afterSeq, toSeq, count);
    if (stored.length !== count || stored[0]!.seq !== afterSeq + 1) return null;
    return { events: stored.map(storedToDelivery), source: 'log' };
  }

  function sendResync(conn: Connection, reason: ResyncReason, latestSeq: number, epoch: string): void {
    metrics.resyncs.inc({ reason });
    conn.send(encodeControlFrame('RESYNC_REQUIRED', { reason, latestSeq, epoch }));
  }

  /** End a sync: send what queued up meanwhile (paced, skipping what the replay covered), then go live. */
  async function finishSync(conn: Connection): Promise<void> {
    if ((await delivery.drainQueued(conn)) !== 'live') return;
    if (conn.pendingResume !== null) {
      const lastSeq = conn.pendingResume;
      conn.pendingResume = null;
      resume(conn, lastSeq);
    }
  }

  /** Resend every stored event after `afterSeq` up to what the socket should have, then go live. */
  async function catchUp(conn: Connection, afterSeq: number): Promise<void> {
    const stream = deps.streamOf(conn.userId);
    if (!stream || conn.closed) return;
    conn.syncing = true;
    conn.syncFrom = afterSeq;
    const target = Math.max(conn.sentSeq, stream.deliveredSeq);
    try {
      const range = await loadRange(stream, afterSeq, target);
      if (conn.closed) return;
      if (!range) sendResync(conn, 'evicted', target, stream.epoch);
      else if (!(await delivery.sendReplay(conn, range.events, range.source))) return;
      conn.sentSeq = target;
      await finishSync(conn);
    } catch (err) {
      log.error({ err, userId: conn.userId }, 'catch-up failed');
      conn.close(CloseCode.INTERNAL, 'replay failed: reconnect and resume');
    }
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

  /**
   * The first sync of a socket just added (syncing) to its user's stream: HELLO, the replay or
   * RESYNC_REQUIRED, then live. `onHello` runs right after HELLO is sent, before the replay.
   */
  async function open(stream: UserStream, conn: Connection, req: ResumeRequest, onHello?: () => void): Promise<void> {
    // From here every live event after D is queued on the socket: D is the seam.
    const D = stream.deliveredSeq;
    let startSeq = D;
    let resync: ResyncReason | null = null;
    let replay: Range | null = null;
    if (req.evicted) {
      resync = 'evicted';
    } else if (req.lastSeq !== undefined) {
      if (req.epoch !== undefined && req.epoch !== stream.epoch) {
        resync = 'epoch_changed';
      } else if (req.lastSeq > D) {
        // The device may have seen events this instance has not received yet: check the log itself.
        const head = await storage.logHead(conn.userId);
        if (req.lastSeq > head.latestSeq) resync = 'ahead';
        else startSeq = req.lastSeq;
      } else if (req.lastSeq < D) {
        replay = await loadRange(stream, req.lastSeq, D);
        if (!replay) resync = 'evicted';
      }
    }
    if (conn.closed) return;
    const hello: HelloPayload = {
      userId: conn.userId,
      deviceId: conn.deviceId,
      connectionId: conn.id,
      instanceId: options.instanceId,
      epoch: stream.epoch,
      latestSeq: startSeq,
      heartbeatMs: options.heartbeatMs,
      tokenExpiresAt: conn.expiresAtMs === null ? null : new Date(conn.expiresAtMs).toISOString(),
      replay:
        replay && replay.events.length > 0
          ? { fromSeq: req.lastSeq! + 1, toSeq: D, count: replay.events.length, source: replay.source }
          : null,
    };
    conn.send(encodeControlFrame('HELLO', hello));
    if (resync) sendResync(conn, resync, startSeq, stream.epoch);
    // A RESUME for anything after this point is served by the replay below (see resume()).
    conn.syncFrom = replay ? req.lastSeq! : startSeq;
    onHello?.();
    if (replay && !(await delivery.sendReplay(conn, replay.events, replay.source))) return;
    if (conn.closed) return;
    conn.sentSeq = startSeq;
    await finishSync(conn);
  }

  return { open, resume, catchUp };
}

export type Replay = ReturnType<typeof createReplay>;
