/**
 * /ws/realtime: authenticates the upgrade (HTTP 401 before the handshake; 503 when the token cannot
 * be judged now), accepts sockets, reads client frames, runs the heartbeat and the token-expiry
 * timers, and closes the sockets of revoked tokens (4401). Delivery is the hub's job.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AuthError, bearerToken, type TokenVerifier } from '../auth.js';
import { safeError } from '../log.js';
import type { Metrics } from '../metrics.js';
import { clientFrameSchema, CloseCode, connectQuerySchema, encodeControlFrame, restartReason } from '../protocol/index.js';
import { Connection } from './connection.js';
import { createHeartbeat } from './heartbeat.js';
import type { Hub } from './hub.js';

export const REALTIME_PATH = '/ws/realtime';
const MAX_BAD_FRAMES = 10;
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Client frames held while HELLO is not out yet (the hub is reading the log); more is abuse (1008).
 * A well-behaved client sends at most a PING or an AUTH this early.
 */
const MAX_FRAMES_BEFORE_HELLO = 16;
/**
 * RESUME makes the hub re-read the log (up to REPLAY_MAX_EVENTS rows). A device sends one per hole
 * in seq, which is rare; more than RESUME_BURST in a RESUME_WINDOW_MS window is refused with
 * ERROR RATE_LIMITED, and each refusal counts as a bad frame (so a spammer ends with 1008).
 */
const RESUME_BURST = 5;
const RESUME_WINDOW_MS = 10_000;

export interface GatewayOptions {
  heartbeatMs: number;
  tokenExpiryNoticeMs: number;
  maxPayloadBytes: number;
  restartJitterMs: number;
  /** Devices per second a restart sends to the other instances at most (0: only `restartJitterMs`). */
  restartReconnectRate?: number;
}

/**
 * The window a restarting instance spreads its devices' reconnects over: `jitterMs`, or longer when
 * `connections` at `reconnectRate` per second need more, so the instances that take them are not
 * flooded (a connect costs a token check, a log read and a replay).
 */
export function restartWindowMs(connections: number, jitterMs: number, reconnectRate = 0): number {
  return reconnectRate > 0 ? Math.max(jitterMs, Math.ceil((connections / reconnectRate) * 1000)) : jitterMs;
}

function refuse(socket: Duplex, status: number, code: string, message: string, retryAfterMs?: number): void {
  const body = JSON.stringify({ error: { code, message, ...(retryAfterMs === undefined ? {} : { details: { retryAfterMs } }) } });
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' }[status] ?? 'Error';
  const retryAfter = retryAfterMs === undefined ? '' : `Retry-After: ${Math.max(1, Math.ceil(retryAfterMs / 1000))}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retryAfter}Connection: close\r\n\r\n${body}`,
  );
}

/** Asked once the token is verified, before the handshake (e.g. the abuse limits of http/rate-limit.ts). */
export type BeforeUpgrade = (
  req: IncomingMessage,
  userId: string,
) => Promise<{ ok: true } | { ok: false; status: number; code: string; message: string; retryAfterMs?: number }>;

export function createGateway(deps: {
  server: Server;
  hub: Hub;
  verifyToken: TokenVerifier;
  metrics: Metrics;
  log: Logger;
  options: GatewayOptions;
  isDraining: () => boolean;
  beforeUpgrade?: BeforeUpgrade;
  /** Whether a token (its user and `iat`) was revoked since it was issued (features/admin/revocations.ts). */
  isRevoked?: (token: { userId: string; issuedAtMs: number | null }) => boolean;
  /** The device's address as the admin lists it (http/client-address.ts); the socket's peer if unset. */
  addressOf?: (req: IncomingMessage) => string | null;
}) {
  const { hub, verifyToken, metrics, options } = deps;
  const log = deps.log.child({ component: 'gateway' });
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false, // compression is per-socket work on the hot path
    maxPayload: options.maxPayloadBytes,
  });
  const byWs = new WeakMap<WebSocket, Connection>();
  /** The `iat` of each socket's current token (renewed in band too), for revocation. */
  const issuedAt = new WeakMap<Connection, number | null>();
  const isRevoked = (conn: Connection) => deps.isRevoked?.({ userId: conn.userId, issuedAtMs: issuedAt.get(conn) ?? null }) ?? false;
  const REVOKED_REASON = 'token revoked: renew and reconnect';

  // ---- module-level listeners: no closure per socket ----

  function onPong(this: WebSocket): void {
    const conn = byWs.get(this);
    if (conn) conn.alive = true;
  }

  function onClose(this: WebSocket, code: number): void {
    const conn = byWs.get(this);
    if (!conn) return;
    conn.closed = true;
    conn.clearTimers();
    hub.detach(conn);
    metrics.wsConnections.dec();
    metrics.wsClosed.inc({ code: String(code) });
    log.debug({ userId: conn.userId, deviceId: conn.deviceId, connectionId: conn.id, code }, 'socket closed');
  }

  function onError(this: WebSocket, err: Error & { code?: string }): void {
    const conn = byWs.get(this);
    // ws closes the socket itself (1009 for oversized frames, 1002 for protocol errors).
    log.debug({ err: err.message, code: err.code, connectionId: conn?.id }, 'socket error');
  }

  function sendError(conn: Connection, code: string, message: string): void {
    metrics.badFrames.inc();
    conn.badFrames += 1;
    if (conn.badFrames > MAX_BAD_FRAMES) {
      conn.close(CloseCode.POLICY, 'too many bad frames');
      return;
    }
    conn.ws.send(encodeControlFrame('ERROR', { code, message }));
  }

  function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = byWs.get(this);
    if (!conn || conn.closed) return;
    if (!conn.helloSent) {
      // An answer now (PONG, AUTH_OK, ERROR) would go out before HELLO: hold the frame until then.
      if (conn.held.length >= MAX_FRAMES_BEFORE_HELLO) {
        metrics.badFrames.inc();
        conn.close(CloseCode.POLICY, 'too many frames before HELLO');
        return;
      }
      conn.held.push({ data, isBinary });
      return;
    }
    handleFrame(conn, data, isBinary);
  }

  /** HELLO is out: answer the frames that came before it, in order, and start the token timers. */
  function onHello(conn: Connection): void {
    // Revoked while the upgrade was being set up (before the socket was in the user's pool).
    if (isRevoked(conn)) return conn.close(CloseCode.TOKEN_EXPIRED, REVOKED_REASON);
    conn.helloSent = true;
    const held = conn.held;
    conn.held = [];
    armTokenTimers(conn);
    for (const f of held) {
      if (conn.closed) return;
      handleFrame(conn, f.data, f.isBinary);
    }
  }

  /** Whether one more RESUME fits in this connection's rate window. */
  function allowResume(conn: Connection): boolean {
    const now = Date.now();
    if (now - conn.resumeWindowStart >= RESUME_WINDOW_MS) {
      conn.resumeWindowStart = now;
      conn.resumesInWindow = 0;
    }
    conn.resumesInWindow += 1;
    return conn.resumesInWindow <= RESUME_BURST;
  }

  function handleFrame(conn: Connection, data: RawData, isBinary: boolean): void {
    if (isBinary) return sendError(conn, 'BAD_FRAME', 'Binary frames are not accepted; send JSON text');
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      return sendError(conn, 'BAD_FRAME', 'Frame is not valid JSON');
    }
    const frame = clientFrameSchema.safeParse(parsed);
    if (!frame.success) {
      return sendError(conn, 'BAD_FRAME', `Unknown or invalid frame: ${frame.error.issues[0]?.message ?? 'invalid'}`);
    }
    const f = frame.data;
    switch (f.type) {
      case 'PING':
        conn.ws.send(encodeControlFrame('PONG', { clientTime: f.payload?.clientTime ?? null, serverTime: Date.now() }));
        return;
      case 'RESUME':
        if (!allowResume(conn)) {
          return sendError(conn, 'RATE_LIMITED', `At most ${RESUME_BURST} RESUME frames per ${RESUME_WINDOW_MS / 1000} s`);
        }
        hub.resume(conn, f.payload.lastSeq);
        return;
      case 'AUTH':
        void renewToken(conn, f.payload.token);
        return;
    }
  }

  async function renewToken(conn: Connection, token: string): Promise<void> {
    try {
      const principal = await verifyToken(token);
      if (conn.closed) return;
      if (principal.userId !== conn.userId) {
        conn.ws.send(encodeControlFrame('ERROR', { code: 'AUTH_USER_MISMATCH', message: 'The new token is for another user' }));
        conn.close(CloseCode.POLICY, 'token for another user');
        return;
      }
      conn.expiresAtMs = principal.expiresAtMs;
      issuedAt.set(conn, principal.issuedAtMs);
      armTokenTimers(conn);
      conn.ws.send(
        encodeControlFrame('AUTH_OK', {
          expiresAt: principal.expiresAtMs === null ? null : new Date(principal.expiresAtMs).toISOString(),
        }),
      );
    } catch (err) {
      if (conn.closed) return;
      const message = err instanceof AuthError ? err.message : 'Token rejected';
      sendError(conn, 'AUTH_FAILED', message);
    }
  }

  function armTokenTimers(conn: Connection): void {
    conn.clearTimers();
    if (conn.expiresAtMs === null) return;
    const now = Date.now();
    const untilExpiry = conn.expiresAtMs - now;
    const untilNotice = untilExpiry - options.tokenExpiryNoticeMs;
    const expiresAt = new Date(conn.expiresAtMs).toISOString();
    if (untilNotice <= 0) {
      conn.ws.send(encodeControlFrame('TOKEN_EXPIRING', { expiresAt }));
    } else if (untilNotice < MAX_TIMER_MS) {
      conn.noticeTimer = setTimeout(() => {
        if (!conn.closed) conn.ws.send(encodeControlFrame('TOKEN_EXPIRING', { expiresAt }));
      }, untilNotice);
    }
    if (untilExpiry < MAX_TIMER_MS) {
      conn.expiryTimer = setTimeout(() => conn.close(CloseCode.TOKEN_EXPIRED, 'token expired: renew and reconnect'), Math.max(0, untilExpiry));
    }
  }

  // ---- heartbeat: one interval for all sockets (heartbeat.ts) ----
  const heartbeat = createHeartbeat({
    intervalMs: options.heartbeatMs,
    connections: () => hub.allConnections(),
    onTimeout: (conn) => {
      metrics.heartbeatTimeouts.inc();
      conn.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout', 1_000);
    },
    onLateRound: (lateMs) => {
      metrics.heartbeatLateRounds.inc();
      log.warn({ lateMs }, 'heartbeat round late (event loop blocked): no socket judged this round');
    },
  });
  heartbeat.start();

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // Not logged: the URL may carry ?token=.
      metrics.wsRejected.inc({ reason: 'bad_query' });
      return refuse(socket, 400, 'BAD_REQUEST', 'Malformed request URL');
    }
    if (url.pathname !== REALTIME_PATH) {
      metrics.wsRejected.inc({ reason: 'not_found' });
      return refuse(socket, 404, 'NOT_FOUND', `No WebSocket endpoint at ${url.pathname}`);
    }
    if (deps.isDraining()) {
      metrics.wsRejected.inc({ reason: 'draining' });
      return refuse(socket, 503, 'UNAVAILABLE', 'Instance is shutting down; connect to another');
    }
    const query = connectQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) {
      metrics.wsRejected.inc({ reason: 'bad_query' });
      const issue = query.error.issues[0];
      return refuse(socket, 400, 'VALIDATION_FAILED', `Invalid query ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`);
    }
    let principal;
    try {
      principal = await verifyToken(bearerToken(req.headers.authorization) ?? query.data.token);
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'malformed';
      metrics.authFailures.inc({ reason });
      if (reason === 'unavailable') {
        metrics.wsRejected.inc({ reason: 'unavailable' });
        return refuse(socket, 503, 'UNAVAILABLE', (err as AuthError).message);
      }
      metrics.wsRejected.inc({ reason: 'unauthorized' });
      return refuse(socket, 401, 'UNAUTHORIZED', err instanceof AuthError ? err.message : 'Invalid token');
    }
    if (socket.destroyed) return;
    const gate = deps.beforeUpgrade ? await deps.beforeUpgrade(req, principal.userId) : { ok: true as const };
    if (!gate.ok) {
      metrics.wsRejected.inc({ reason: gate.status === 429 ? 'rate_limited' : 'refused' });
      return refuse(socket, gate.status, gate.code, gate.message, gate.retryAfterMs);
    }
    const { deviceId, epoch, lastEventTs } = query.data;
    let lastSeq = query.data.lastSeq;
    let evicted = false;
    if (lastSeq === undefined && lastEventTs !== undefined) {
      let at: number | null;
      try {
        at = await hub.seqAt(principal.userId, new Date(lastEventTs));
      } catch {
        metrics.wsRejected.inc({ reason: 'unavailable' });
        return refuse(socket, 503, 'UNAVAILABLE', 'Event log unavailable; retry');
      }
      // null: events after that time may have been pruned; a partial replay would lose them silently.
      if (at === null) evicted = true;
      else lastSeq = at;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new Connection(ws, randomUUID(), principal.userId, deviceId, principal.expiresAtMs, deps.addressOf ? deps.addressOf(req) : (req.socket.remoteAddress ?? null));
      byWs.set(ws, conn);
      issuedAt.set(conn, principal.issuedAtMs);
      ws.on('message', onMessage);
      ws.on('pong', onPong);
      ws.on('close', onClose);
      ws.on('error', onError);
      metrics.wsOpened.inc();
      metrics.wsConnections.inc();
      log.debug({ userId: conn.userId, deviceId, connectionId: conn.id, lastSeq }, 'socket open');
      // Token timers and answers to client frames start once HELLO is out: HELLO is always first.
      hub.attach(conn, { lastSeq, epoch, evicted }, () => onHello(conn)).catch((err: unknown) => {
        // Storage or bus errors: no request data in them, and their stack is what an operator needs.
        log.error({ err, userId: conn.userId }, 'attach failed');
        conn.close(CloseCode.INTERNAL, 'could not read the event log: reconnect');
      });
    });
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handleUpgrade(req, socket, head).catch((err: unknown) => {
      // Never `{ err }` here: errors about the request (Node's URL errors keep the whole URL in
      // `input`) would put a ?token= into the log.
      log.error({ err: safeError(err) }, 'upgrade failed');
      socket.destroy();
    });
  };
  deps.server.on('upgrade', onUpgrade);

  return {
    /** Close every socket with 1012 and a jittered retry delay in the reason. */
    closeAllForRestart(): void {
      const windowMs = restartWindowMs(hub.allConnections().length, options.restartJitterMs, options.restartReconnectRate);
      hub.closeAll(CloseCode.SERVICE_RESTART, () => restartReason(Math.random() * windowMs));
    },
    /** Close with 4401 this instance's sockets of `userId` whose current token is revoked; returns how many. */
    closeRevoked(userId: string): number {
      let closed = 0;
      for (const conn of hub.allConnections()) {
        if (conn.closed || conn.userId !== userId || !isRevoked(conn)) continue;
        conn.close(CloseCode.TOKEN_EXPIRED, REVOKED_REASON);
        closed += 1;
      }
      return closed;
    },
    close(): void {
      heartbeat.stop();
      deps.server.off('upgrade', onUpgrade);
      wss.close();
    },
  };
}
