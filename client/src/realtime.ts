/**
 * A simulated device of /ws/realtime: the client side of DESIGN §5, used by `rtctl tail`, the
 * latency gate and the load tests.
 *
 * What it guarantees to its caller: every stored event of the user is emitted once, in `seq` order,
 * across reconnects, failover and token renewal; when the server says that is impossible, a
 * `resync` is emitted (refetch your lists) instead of a silent hole.
 *
 * - Connects with `deviceId`, and `lastSeq` + `epoch` once it has seen them; reads `HELLO`.
 * - Tracks `lastSeq`; drops events at or below it (duplicates); on a hole it holds the later events,
 *   sends `RESUME { lastSeq }`, and delivers the held ones once the hole is filled. If the hole is
 *   not filled within `gapTimeoutMs`, it reconnects (the resume on connect then fills it). The
 *   server answers a RESUME with everything after `lastSeq`, the frames the device holds included:
 *   those second copies are expected (`resent`), not duplicates. Every dropped frame is emitted
 *   with its parsed event (`duplicate`, `resent`, `discarded`) so a caller can still inspect it.
 * - Reconnects with exponential backoff and jitter (`initialMs` → `maxMs`, default 1 s → 30 s),
 *   per close code: 1012 waits the `retryAfterMs` of the close reason and moves to the next URL;
 *   4401 renews the token (needs `getToken`) and reconnects; 4429/4408/1011/1006 reconnect and
 *   replay; 1008, 1009 and 1000 stop. An upgrade refused with 401 renews the token once, else stops.
 * - Renews its token in band (`AUTH { token }`) on `TOKEN_EXPIRING` when given `getToken`.
 * - Every event carries `receivedAt` (`performance.now()` when the frame arrived) for latency work.
 *
 * No Node-only API here: inject the WebSocket class. `auth: 'header'` sends the token as an
 * Authorization header (Node's `ws` accepts `{ headers }`); `auth: 'query'` (the default, what a
 * browser can do) sends `?token=`. See device-node.ts for the Node factory.
 */
import {
  CloseCode,
  parseRetryAfterMs,
  serverFrameSchema,
  type ControlPayloads,
  type HelloPayload,
  type ResyncReason,
} from '../../service/src/protocol/index.js';
import { Emitter } from './emitter.js';

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

interface Timers {
  reconnect?: ReturnType<typeof setTimeout>;
  connect?: ReturnType<typeof setTimeout>;
  gap?: ReturnType<typeof setTimeout>;
  ping?: ReturnType<typeof setInterval>;
}

const STATUS_RE = /Unexpected server response: (\d{3})/;

/** `http://h:p` → `ws://h:p/ws/realtime`; full ws URLs pass through. */
export function realtimeUrl(base: string): string {
  const u = new URL(base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`Unsupported URL scheme ${u.protocol} in ${base}`);
  if (!u.pathname.endsWith('/ws/realtime')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/ws/realtime`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

export class Device extends Emitter<DeviceEvents> {
  readonly deviceId: string;
  private readonly opts: DeviceOptions;
  private readonly urls: string[];
  private urlIndex = 0;
  private token: string | undefined;
  private ws: WebSocketLike | null = null;
  private timers: Timers = {};
  private attempt = 0;
  private everOpened = false;
  private failedInitialAttempts = 0;
  private unauthorizedInARow = 0;
  private held = new Map<number, DeviceEvent>();
  /**
   * Seqs the outstanding RESUME will send a second time: what the device held when it asked, and
   * what it held after. The server resends everything after the RESUME's lastSeq up to what it had
   * sent, in order, so a copy of one of these is expected once; a second copy is a duplicate.
   */
  private resending = new Set<number>();
  /** Highest seq ever put in `resending` since it was last cleared. */
  private resendMax = 0;
  private replayUntil = 0;
  private awaitingPong = false;
  private state_: DeviceState = 'idle';
  private lastSeq_: number | null;
  private epoch_: string | null;
  private hello_: (HelloPayload & { url: string }) | null = null;
  readonly counters = { events: 0, duplicates: 0, resent: 0, gaps: 0, resyncs: 0, reconnects: 0, discardedHeld: 0 };

  constructor(opts: DeviceOptions) {
    super();
    if (opts.urls.length === 0) throw new Error('Device needs at least one URL');
    this.opts = opts;
    this.deviceId = opts.deviceId;
    this.urls = opts.urls.map(realtimeUrl);
    this.token = opts.token;
    this.lastSeq_ = opts.lastSeq ?? null;
    this.epoch_ = opts.epoch ?? null;
  }

  get state(): DeviceState {
    return this.state_;
  }
  /** Highest seq delivered in order; null before the first HELLO when started live. */
  get lastSeq(): number | null {
    return this.lastSeq_;
  }
  get epoch(): string | null {
    return this.epoch_;
  }
  /** The last HELLO (instance, connection, heartbeat…). */
  get hello(): (HelloPayload & { url: string }) | null {
    return this.hello_;
  }
  get url(): string {
    return this.urls[this.urlIndex]!;
  }

  /** Connect (once). Events flow through the emitter; `stopped` ends it. */
  start(): this {
    if (this.state_ === 'idle') void this.connect();
    return this;
  }

  /** Close the socket with 1000 and stop reconnecting. Resolves once stopped. */
  close(): Promise<void> {
    if (this.state_ === 'stopped') return Promise.resolve();
    const stopped = this.once('stopped').then(() => undefined);
    this.stop(null);
    return stopped;
  }

  /** App-level PING; the answer is a `pong` event with the round trip. */
  ping(): void {
    this.send({ type: 'PING', payload: { clientTime: this.now() } });
  }

  private now(): number {
    return (this.opts.now ?? (() => performance.now()))();
  }

  private send(frame: unknown): void {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  }

  private async connect(): Promise<void> {
    this.clearTimer('reconnect');
    if (this.state_ === 'stopped') return;
    this.state_ = 'connecting';
    if (this.token === undefined && this.opts.getToken) {
      try {
        this.token = await this.opts.getToken();
      } catch (err) {
        return this.stop({ kind: 'unauthorized', message: `Could not get a token: ${errMessage(err)}`, fatal: true });
      }
      if (this.state_ !== 'connecting') return;
    }
    const url = new URL(this.url);
    url.searchParams.set('deviceId', this.deviceId);
    if (this.lastSeq_ !== null) url.searchParams.set('lastSeq', String(this.lastSeq_));
    if (this.epoch_ !== null) url.searchParams.set('epoch', this.epoch_);
    const useHeader = this.opts.auth === 'header';
    if (this.token && !useHeader) url.searchParams.set('token', this.token);
    const WS = this.opts.WebSocket;
    let ws: WebSocketLike;
    try {
      ws = useHeader && this.token ? new WS(url.toString(), { headers: { authorization: `Bearer ${this.token}` } }) : new WS(url.toString());
    } catch (err) {
      return this.stop({ kind: 'bad_request', message: `Cannot open ${this.url}: ${errMessage(err)}`, fatal: true });
    }
    this.ws = ws;
    let opened = false;
    let lastError = '';
    this.timers.connect = setTimeout(() => ws.close(), this.opts.connectTimeoutMs ?? 10_000);
    ws.onopen = () => {
      opened = true;
      this.clearTimer('connect');
      this.state_ = 'open';
      this.everOpened = true;
      this.emit('open', { url: this.url });
    };
    ws.onerror = (ev) => {
      lastError = ev.message ?? 'connection error';
    };
    ws.onmessage = (ev) => {
      const receivedAt = this.now();
      if (ws === this.ws) this.onFrame(typeof ev.data === 'string' ? ev.data : String(ev.data), receivedAt);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.clearTimer('connect');
      this.clearTimer('gap');
      this.clearTimer('ping');
      if (opened) this.onClosed(ev.code, ev.reason);
      else void this.onConnectFailed(lastError);
    };
  }

  // ---- frames ----

  private onFrame(text: string, receivedAt: number): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return this.emit('error', { kind: 'server', message: 'Server sent a frame that is not JSON', fatal: false });
    }
    const parsed = serverFrameSchema.safeParse(raw);
    if (!parsed.success) return this.emit('error', { kind: 'server', message: 'Server sent a malformed frame', fatal: false });
    const f = parsed.data;
    if (this.opts.dropFrame?.(f)) return;
    this.awaitingPong = false;
    switch (f.type) {
      case 'HELLO':
        return this.onHello(f.payload as HelloPayload);
      case 'RESYNC_REQUIRED':
        return this.onResync(f.payload as ControlPayloads['RESYNC_REQUIRED']);
      case 'TOKEN_EXPIRING':
        return void this.renewInBand();
      case 'AUTH_OK':
        this.unauthorizedInARow = 0;
        return this.emit('tokenRenewed', { expiresAt: (f.payload as ControlPayloads['AUTH_OK']).expiresAt });
      case 'PONG': {
        const p = f.payload as ControlPayloads['PONG'];
        if (typeof p.clientTime === 'number') this.emit('pong', { rttMs: this.now() - p.clientTime });
        return;
      }
      case 'ERROR': {
        const p = f.payload as ControlPayloads['ERROR'];
        return this.emit('error', { kind: 'server', message: `${p.code}: ${p.message}`, fatal: false });
      }
    }
    const event: DeviceEvent = {
      type: f.type,
      payload: f.payload,
      timestamp: f.timestamp,
      seq: f.seq ?? null,
      originDeviceId: f.originDeviceId ?? null,
      own: f.originDeviceId === this.deviceId,
      replayed: false,
      receivedAt,
    };
    if (event.seq === null) return this.deliver(event);
    this.onStored(event, event.seq);
  }

  private onHello(p: HelloPayload): void {
    this.hello_ = { ...p, url: this.url };
    this.epoch_ = p.epoch;
    if (this.lastSeq_ === null) this.lastSeq_ = p.latestSeq;
    this.replayUntil = p.replay ? p.replay.toSeq : 0;
    this.attempt = 0;
    this.failedInitialAttempts = 0;
    this.unauthorizedInARow = 0;
    this.held.clear();
    this.clearResend();
    this.startLiveness(p.heartbeatMs);
    this.emit('hello', this.hello_);
  }

  private onResync(p: ControlPayloads['RESYNC_REQUIRED']): void {
    const previousSeq = this.lastSeq_;
    this.counters.resyncs += 1;
    this.lastSeq_ = p.latestSeq;
    this.epoch_ = p.epoch;
    this.held.clear();
    this.clearResend();
    this.clearTimer('gap');
    this.emit('resync', { ...p, previousSeq });
  }

  private onStored(event: DeviceEvent, seq: number): void {
    const last = this.lastSeq_ ?? 0;
    const expectedCopy = this.resending.delete(seq);
    if (seq <= last || this.held.has(seq)) {
      if (expectedCopy) {
        this.counters.resent += 1;
        this.emit('resent', { seq, event });
      } else {
        this.counters.duplicates += 1;
        this.emit('duplicate', { seq, event });
      }
      return;
    }
    if (seq === last + 1) {
      event.replayed = seq <= this.replayUntil;
      this.lastSeq_ = seq;
      this.deliver(event);
      this.drainHeld();
      // Frames come in seq order on a socket: a new frame beyond every seq the resume was to resend
      // means the resend is over; whatever it did not resend (sent live after it) will not come twice.
      if (this.resending.size > 0 && this.held.size === 0 && seq > this.resendMax) this.clearResend();
      return;
    }
    // A hole: hold this one and ask for what is missing (once per hole).
    if (this.held.size >= (this.opts.maxHeld ?? 10_000)) {
      this.counters.discardedHeld += this.held.size;
      const events = [...this.held.values()];
      this.held.clear();
      this.emit('discarded', { events });
    }
    this.held.set(seq, event);
    this.replayUntil = Math.max(this.replayUntil, seq - 1);
    if (this.timers.gap) {
      this.expectResend(seq); // held while a RESUME is outstanding: the resend may include it
    } else {
      this.counters.gaps += 1;
      this.emit('gap', { expected: last + 1, got: seq });
      for (const s of this.held.keys()) this.expectResend(s);
      this.send({ type: 'RESUME', payload: { lastSeq: last } });
      this.timers.gap = setTimeout(() => {
        this.timers.gap = undefined;
        // Not filled in time: reconnect; the resume on connect fills it (or says RESYNC_REQUIRED).
        this.ws?.close(4000, 'gap not filled');
      }, this.opts.gapTimeoutMs ?? 5_000);
    }
  }

  private clearResend(): void {
    this.resending.clear();
    this.resendMax = 0;
  }

  private expectResend(seq: number): void {
    this.resending.add(seq);
    this.resendMax = Math.max(this.resendMax, seq);
  }

  private drainHeld(): void {
    let next = this.held.get((this.lastSeq_ ?? 0) + 1);
    while (next) {
      this.held.delete(next.seq!);
      this.lastSeq_ = next.seq;
      this.deliver(next);
      next = this.held.get((this.lastSeq_ ?? 0) + 1);
    }
    // Anything still held is above another hole: keep waiting; else the hole is closed.
    if (this.held.size === 0) this.clearTimer('gap');
  }

  private deliver(event: DeviceEvent): void {
    this.counters.events += 1;
    this.emit('event', event);
  }

  private async renewInBand(): Promise<void> {
    if (!this.opts.getToken) return; // the server will close with 4401; onClosed decides
    try {
      this.token = await this.opts.getToken();
      this.send({ type: 'AUTH', payload: { token: this.token } });
    } catch (err) {
      this.emit('error', { kind: 'server', message: `Token renewal failed: ${errMessage(err)}`, fatal: false });
    }
  }

  private startLiveness(heartbeatMs: number): void {
    this.clearTimer('ping');
    if (this.opts.liveness === false || !(heartbeatMs > 0)) return;
    this.awaitingPong = false;
    this.timers.ping = setInterval(() => {
      if (this.awaitingPong) {
        this.ws?.close(4000, 'no answer to PING');
        return;
      }
      this.awaitingPong = true;
      this.ping();
    }, heartbeatMs);
  }

  // ---- closing and reconnecting ----

  private async onConnectFailed(lastError: string): Promise<void> {
    if (this.state_ === 'stopped') return;
    const status = Number(STATUS_RE.exec(lastError)?.[1] ?? 0);
    if (status === 401) {
      this.unauthorizedInARow += 1;
      if (!this.opts.getToken || this.unauthorizedInARow > 1) {
        return this.stop({ kind: 'unauthorized', message: `${this.url} refused the token (HTTP 401)`, fatal: true });
      }
      if (!(await this.refreshToken())) return;
      return this.reconnect(null, 'HTTP 401: token renewed', 0);
    }
    if (status === 400 || status === 404) {
      const what = status === 400 ? 'refused the connection request (HTTP 400: check deviceId)' : 'has no realtime endpoint (HTTP 404)';
      return this.stop({ kind: 'bad_request', message: `${this.url} ${what}`, fatal: true });
    }
    if (!this.everOpened) {
      this.failedInitialAttempts += 1;
      const max = this.opts.maxInitialAttempts;
      if (max !== undefined && this.failedInitialAttempts >= max) {
        const why = status ? `HTTP ${status}` : lastError || 'no answer';
        return this.stop({ kind: 'unreachable', message: `Cannot connect to ${this.urls.join(', ')} (${why})`, fatal: true });
      }
    }
    this.rotate();
    this.reconnect(null, status ? `HTTP ${status}` : lastError || 'connection failed');
  }

  private onClosed(code: number, reason: string): void {
    if (this.state_ === 'stopped') return;
    switch (code) {
      case CloseCode.NORMAL:
        this.emit('closed', { code, reason, willReconnect: false });
        return this.stop(null);
      case CloseCode.POLICY:
      case CloseCode.TOO_BIG:
        this.emit('closed', { code, reason, willReconnect: false });
        return this.stop({ kind: 'policy', message: `Server closed the connection (${code}${reason ? `: ${reason}` : ''})`, fatal: true });
      case CloseCode.TOKEN_EXPIRED:
        if (!this.opts.getToken) {
          this.emit('closed', { code, reason, willReconnect: false });
          return this.stop({ kind: 'unauthorized', message: 'Token expired (4401) and no way to renew it', fatal: true });
        }
        this.emit('closed', { code, reason, willReconnect: true });
        void this.refreshToken().then((ok) => ok && this.reconnect(code, reason, 0));
        return;
      case CloseCode.SERVICE_RESTART:
      case CloseCode.GOING_AWAY: {
        this.emit('closed', { code, reason, willReconnect: true });
        this.rotate();
        const retryAfter = parseRetryAfterMs(reason);
        return this.reconnect(code, reason, retryAfter ?? undefined);
      }
      default:
        // 1006, 1011, 4408, 4429, our own 4000 (gap/liveness): reconnect and replay from lastSeq.
        this.emit('closed', { code, reason, willReconnect: true });
        return this.reconnect(code, reason);
    }
  }

  private async refreshToken(): Promise<boolean> {
    try {
      this.token = await this.opts.getToken!();
      return true;
    } catch (err) {
      this.stop({ kind: 'unauthorized', message: `Could not renew the token: ${errMessage(err)}`, fatal: true });
      return false;
    }
  }

  private rotate(): void {
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
  }

  /** Schedule the next connect; `delayMs` overrides the backoff (1012's retryAfterMs, renewed token). */
  private reconnect(code: number | null, reason: string, delayMs?: number): void {
    if (this.state_ === 'stopped') return;
    const delay = delayMs ?? this.backoffDelay();
    this.attempt += 1;
    this.counters.reconnects += 1;
    this.state_ = 'waiting';
    this.emit('reconnecting', { attempt: this.attempt, delayMs: Math.round(delay), url: this.url, code, reason });
    this.timers.reconnect = setTimeout(() => void this.connect(), delay);
  }

  /** Exponential with jitter: attempt n waits between half and all of min(max, initial·2ⁿ). */
  private backoffDelay(): number {
    const initial = this.opts.backoff?.initialMs ?? 1_000;
    const max = this.opts.backoff?.maxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.attempt, 30));
    const r = (this.opts.random ?? Math.random)();
    return base / 2 + (base / 2) * r;
  }

  private stop(error: DeviceError | null): void {
    if (this.state_ === 'stopped') return;
    this.state_ = 'stopped';
    for (const k of Object.keys(this.timers) as (keyof Timers)[]) this.clearTimer(k);
    const ws = this.ws;
    this.ws = null;
    if (error) this.emit('error', error);
    if (ws && ws.readyState <= 1) {
      ws.onclose = () => this.emit('stopped', { error });
      ws.close(1000, 'client closing');
    } else {
      this.emit('stopped', { error });
    }
  }

  private clearTimer(k: keyof Timers): void {
    const t = this.timers[k];
    if (t !== undefined) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.timers[k] = undefined;
  }
}

export function createDevice(opts: DeviceOptions): Device {
  return new Device(opts);
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
