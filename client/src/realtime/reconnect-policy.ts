/**
 * What the device does after a socket closed or never opened, per close code and upgrade status
 * (DESIGN §5, the meaning of each code is in service/src/protocol/close-codes.ts), and how long it
 * waits: exponential backoff with jitter, URL rotation for failover. Decides only: the device acts.
 *
 * - 1000 stops; 1008/1009 stop (the client misbehaved: reconnecting would not help).
 * - 4401 renews the token (when it can) and reconnects at once, else stops.
 * - 1012/1001 wait the `retryAfterMs` of the close reason and move to the next URL.
 * - Everything else (1006, 1011, 4408, 4429, our own 4000) reconnects with backoff and replays.
 * - An upgrade refused with 401 renews the token once, else stops; 400/404 stop; other failures
 *   rotate and retry, up to `maxInitialAttempts` while no socket ever opened.
 */
// close-codes.js, not the protocol's index: the index also carries the zod schemas, which the
// browser bundle would then include.
import { CloseCode, parseRetryAfterMs } from '../../../service/src/protocol/close-codes.js';
import type { DeviceError } from './types.js';

export type Decision =
  | { kind: 'stop'; error: DeviceError | null }
  /** Get a fresh token, then reconnect at once (no backoff: the cause is known and fixed). */
  | { kind: 'renew'; code: number | null; reason: string }
  /** Reconnect after `delayMs`, or after the backoff when it is absent. */
  | { kind: 'reconnect'; code: number | null; reason: string; delayMs?: number };

export interface ReconnectPolicyOptions {
  /** realtimeUrl()s, tried in turn. */
  urls: readonly string[];
  /** A `getToken` was given: 401/4401 can be answered with a fresh token. */
  canRenew: boolean;
  backoff?: { initialMs?: number; maxMs?: number };
  maxInitialAttempts?: number;
  random?: () => number;
}

/** Node's ws reports a refused upgrade only in the error message; browsers do not report it at all. */
const STATUS_RE = /Unexpected server response: (\d{3})/;

export class ReconnectPolicy {
  private index = 0;
  private attempt = 0;
  private everOpened = false;
  private failedInitialAttempts = 0;
  private unauthorizedInARow = 0;

  constructor(private readonly opts: ReconnectPolicyOptions) {
    if (opts.urls.length === 0) throw new Error('Device needs at least one URL');
  }

  /** The URL of the current (or next) attempt. */
  get url(): string {
    return this.opts.urls[this.index]!;
  }

  /** A socket opened: from now on failures are retried for ever (`maxInitialAttempts` is for the first). */
  opened(): void {
    this.everOpened = true;
  }

  /** HELLO came: the connection works, so the backoff and the counts start again. */
  established(): void {
    this.attempt = 0;
    this.failedInitialAttempts = 0;
    this.unauthorizedInARow = 0;
  }

  /** AUTH_OK: the renewed token was taken. */
  tokenAccepted(): void {
    this.unauthorizedInARow = 0;
  }

  /** The socket had opened and is now closed with `code`. */
  afterClose(code: number, reason: string): Decision {
    switch (code) {
      case CloseCode.NORMAL:
        return { kind: 'stop', error: null };
      case CloseCode.POLICY:
      case CloseCode.TOO_BIG:
        return { kind: 'stop', error: { kind: 'policy', message: `Server closed the connection (${code}${reason ? `: ${reason}` : ''})`, fatal: true } };
      case CloseCode.TOKEN_EXPIRED:
        if (!this.opts.canRenew) return { kind: 'stop', error: { kind: 'unauthorized', message: 'Token expired (4401) and no way to renew it', fatal: true } };
        return { kind: 'renew', code, reason };
      case CloseCode.SERVICE_RESTART:
      case CloseCode.GOING_AWAY:
        this.rotate();
        return { kind: 'reconnect', code, reason, delayMs: parseRetryAfterMs(reason) ?? undefined };
      default:
        // 1006, 1011, 4408, 4429, our own 4000 (gap/liveness): reconnect and replay from lastSeq.
        return { kind: 'reconnect', code, reason };
    }
  }

  /** The socket never opened; `lastError` is the last error event's message. */
  afterConnectFailure(lastError: string): Decision {
    const status = Number(STATUS_RE.exec(lastError)?.[1] ?? 0);
    if (status === 401) {
      this.unauthorizedInARow += 1;
      if (!this.opts.canRenew || this.unauthorizedInARow > 1) {
        return { kind: 'stop', error: { kind: 'unauthorized', message: `${this.url} refused the token (HTTP 401)`, fatal: true } };
      }
      return { kind: 'renew', code: null, reason: 'HTTP 401: token renewed' };
    }
    if (status === 400 || status === 404) {
      const what = status === 400 ? 'refused the connection request (HTTP 400: check deviceId)' : 'has no realtime endpoint (HTTP 404)';
      return { kind: 'stop', error: { kind: 'bad_request', message: `${this.url} ${what}`, fatal: true } };
    }
    if (!this.everOpened) {
      this.failedInitialAttempts += 1;
      const max = this.opts.maxInitialAttempts;
      if (max !== undefined && this.failedInitialAttempts >= max) {
        const why = status ? `HTTP ${status}` : lastError || 'no answer';
        return { kind: 'stop', error: { kind: 'unreachable', message: `Cannot connect to ${this.opts.urls.join(', ')} (${why})`, fatal: true } };
      }
    }
    this.rotate();
    return { kind: 'reconnect', code: null, reason: status ? `HTTP ${status}` : lastError || 'connection failed' };
  }

  /** Count the next attempt; `delayMs` overrides the backoff (1012's retryAfterMs, a renewed token). */
  next(delayMs?: number): { attempt: number; delayMs: number } {
    const delay = delayMs ?? backoffDelay(this.attempt, (this.opts.random ?? Math.random)(), this.opts.backoff);
    this.attempt += 1;
    return { attempt: this.attempt, delayMs: delay };
  }

  private rotate(): void {
    this.index = (this.index + 1) % this.opts.urls.length;
  }
}

/**
 * Exponential with jitter: attempt n waits between half and all of min(max, initial·2ⁿ), so devices
 * dropped together by a restart do not come back together (default 1 s → 30 s). `r` is in [0, 1).
 */
export function backoffDelay(attempt: number, r: number, backoff: { initialMs?: number; maxMs?: number } = {}): number {
  const initial = backoff.initialMs ?? 1_000;
  const max = backoff.maxMs ?? 30_000;
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return base / 2 + (base / 2) * r;
}
