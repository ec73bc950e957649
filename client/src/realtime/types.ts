/**
 * The device's public types (re-exported by ../realtime.ts, the module callers import): the socket
 * it needs, its options, and what it emits.
 */
import type { HelloPayload, ResyncReason } from '../../../service/src/protocol/index.js';

/** The part of the WebSocket API the device uses: the browser's, which `ws` implements too. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: { message?: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** `new WebSocket(url)` (browser) or `new WebSocket(url, { headers })` (Node's ws). */
export type WebSocketConstructor = new (url: string, options?: { headers: Record<string, string> }) => WebSocketLike;

export interface DeviceEvent {
  type: string;
  payload: unknown;
  /** Commit time (ISO-8601) for stored events, send time for transient ones. */
  timestamp: string;
  /** Null for transient events (`*_PROGRESS`). */
  seq: number | null;
  originDeviceId: string | null;
  /** True when this device wrote the change (`originDeviceId === deviceId`). */
  own: boolean;
  /** True when the event came as replay (on connect, or to fill a gap), not live. */
  replayed: boolean;
  /** `performance.now()` when the frame arrived, before parsing. */
  receivedAt: number;
}

export type DeviceErrorKind =
  | 'unreachable' // no server answered (first connection only; later the device keeps retrying)
  | 'unauthorized' // token refused (upgrade 401, or 4401 without a way to renew)
  | 'bad_request' // upgrade refused with 400/404: wrong deviceId or URL
  | 'policy' // closed with 1008/1009: the client misbehaved, reconnecting would not help
  | 'server'; // an ERROR frame or a failed renewal: not fatal

export interface DeviceError {
  kind: DeviceErrorKind;
  message: string;
  fatal: boolean;
}

export interface DeviceEvents {
  /** A socket opened (HELLO follows). */
  open: { url: string };
  hello: HelloPayload & { url: string };
  event: DeviceEvent;
  /** The gap could not be filled: refetch lists. lastSeq/epoch were adopted from the server. */
  resync: { reason: ResyncReason; latestSeq: number; epoch: string; previousSeq: number | null };
  /** A hole in seq was seen and RESUME sent. */
  gap: { expected: number; got: number };
  /** A stored frame at or below lastSeq, or one already held, that no RESUME explains: dropped. */
  duplicate: { seq: number; event: DeviceEvent };
  /** The second copy of a frame, sent again in answer to our RESUME (it was held or delivered): dropped, expected. */
  resent: { seq: number; event: DeviceEvent };
  /** Held frames dropped because the hold was full (`maxHeld`); the resume sends them again. */
  discarded: { events: DeviceEvent[] };
  reconnecting: { attempt: number; delayMs: number; url: string; code: number | null; reason: string };
  closed: { code: number; reason: string; willReconnect: boolean };
  error: DeviceError;
  tokenRenewed: { expiresAt: string | null };
  pong: { rttMs: number };
  /** The device stopped for good: `close()` was called (error null) or a fatal error. */
  stopped: { error: DeviceError | null };
}

export interface DeviceOptions {
  /** Service base URLs (http(s)://host:port) or full ws(s)://…/ws/realtime URLs; several = failover. */
  urls: readonly string[];
  deviceId: string;
  token?: string;
  /** Called for a fresh token: before the first connect when `token` is absent, on TOKEN_EXPIRING, 4401 and 401. */
  getToken?: () => string | Promise<string>;
  WebSocket: WebSocketConstructor;
  /** 'header' only with a WebSocket class that takes `{ headers }` (Node's ws). Default 'query'. */
  auth?: 'header' | 'query';
  /** Resume from here (e.g. the `seq` of a list response). Without it, the device starts live. */
  lastSeq?: number;
  epoch?: string;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Give up (error 'unreachable') after this many failed attempts if no socket ever opened. Default: never. */
  maxInitialAttempts?: number;
  connectTimeoutMs?: number;
  gapTimeoutMs?: number;
  /** Events held behind a hole; beyond it they are discarded (the resume sends them again). */
  maxHeld?: number;
  /** Send an app-level PING every HELLO.heartbeatMs and reconnect when no PONG comes back in time. */
  liveness?: boolean;
  random?: () => number;
  now?: () => number;
  /** Test only: return true to lose this frame as if the network dropped it. */
  dropFrame?: (frame: { type: string; seq?: number }) => boolean;
}

export type DeviceState = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped';

/** `Device.counters`: running totals for tests, `rtctl` and the load tests. */
export interface DeviceCounters {
  events: number;
  duplicates: number;
  resent: number;
  gaps: number;
  resyncs: number;
  reconnects: number;
  discardedHeld: number;
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
