/**
 * WebSocket close codes used by /ws/realtime, and what a client must do on each.
 * The CLI's device client and the service import these; they are part of the contract.
 */
export const CloseCode = {
  /** Normal closure (client or server asked to end the session). Do not reconnect unless you want to. */
  NORMAL: 1000,
  /** Server going away (process exit without drain). Reconnect with backoff, resume with lastSeq. */
  GOING_AWAY: 1001,
  /** Policy violation (repeated bad frames, token for another user on AUTH). Do not reconnect blindly: fix the client. */
  POLICY: 1008,
  /** Frame over the size limit. Do not resend the same frame. */
  TOO_BIG: 1009,
  /** Internal error on the server, or the user's event log was reset (new epoch). Reconnect with backoff and resume (a reset log answers RESYNC_REQUIRED epoch_changed). */
  INTERNAL: 1011,
  /** Service restart (graceful shutdown). Reconnect, elsewhere if possible, after the jittered delay in the reason. */
  SERVICE_RESTART: 1012,
  /** Token expired or revoked. Renew the token, then reconnect with lastSeq. */
  TOKEN_EXPIRED: 4401,
  /** No pong to the previous heartbeat ping. Reconnect with backoff and resume. */
  HEARTBEAT_TIMEOUT: 4408,
  /** Slow consumer: the socket's send buffer went over its limit. Reconnect and replay with lastSeq. */
  SLOW_CONSUMER: 4429,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which a client should reconnect (possibly after renewing its token). */
export const RECONNECTABLE_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.GOING_AWAY,
  CloseCode.INTERNAL,
  CloseCode.SERVICE_RESTART,
  CloseCode.TOKEN_EXPIRED,
  CloseCode.HEARTBEAT_TIMEOUT,
  CloseCode.SLOW_CONSUMER,
  1006, // abnormal closure: network drop, process killed
]);

/** Reason text of a 1012 close: `restart retryAfterMs=<n>`. Parsed by clients to wait before reconnecting. */
export function restartReason(retryAfterMs: number): string {
  return `restart retryAfterMs=${Math.max(0, Math.round(retryAfterMs))}`;
}

export function parseRetryAfterMs(reason: string): number | null {
  const m = /retryAfterMs=(\d+)/.exec(reason);
  return m ? Number(m[1]) : null;
}
