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
 * browser can do) sends `?token=`. See node.ts for the Node factory.
 *
 * This file is the connection state machine and the public API; its parts, one job each, are in
 * realtime/: frame.ts (reading a frame), seq-tracker.ts (order, holes, RESUME, duplicates/resent),
 * reconnect-policy.ts (close codes, backoff, failover), token.ts (renewal), liveness.ts (PING),
 * url.ts, types.ts.
 */
import type { ControlPayloads, HelloPayload } from '../../service/src/protocol/index.js';
import { Emitter } from './emitter.js';
import { readServerFrame } from './realtime/frame.js';
import { Liveness } from './realtime/liveness.js';
import { ReconnectPolicy, type Decision } from './realtime/reconnect-policy.js';
import { SeqTracker } from './realtime/seq-tracker.js';
import { DeviceToken } from './realtime/token.js';
import {
  errMessage,
  type DeviceCounters,
  type DeviceError,
  type DeviceEvent,
  type DeviceEvents,
  type DeviceOptions,
  type DeviceState,
  type WebSocketLike,
} from './realtime/types.js';
import { connectUrl, realtimeUrl } from './realtime/url.js';

export type {
  DeviceCounters,
  DeviceError,
  DeviceErrorKind,
  DeviceEvent,
  DeviceEvents,
  DeviceOptions,
  DeviceState,
  WebSocketConstructor,
  WebSocketLike,
} from './realtime/types.js';
export { realtimeUrl } from './realtime/url.js';

export class Device extends Emitter<DeviceEvents> {
  readonly deviceId: string;
  readonly counters: DeviceCounters = { events: 0, duplicates: 0, resent: 0, gaps: 0, resyncs: 0, reconnects: 0, discardedHeld: 0 };
  private readonly opts: DeviceOptions;
  private readonly policy: ReconnectPolicy;
  private readonly seq: SeqTracker;
  private readonly token: DeviceToken;
  private readonly liveness: Liveness;
  private ws: WebSocketLike | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private state_: DeviceState = 'idle';
  private epoch_: string | null;
  private hello_: (HelloPayload & { url: string }) | null = null;

  constructor(opts: DeviceOptions) {
    super();
    if (opts.urls.length === 0) throw new Error('Device needs at least one URL');
    this.opts = opts;
    this.deviceId = opts.deviceId;
    this.epoch_ = opts.epoch ?? null;
    this.token = new DeviceToken(opts.token, opts.getToken);
    this.policy = new ReconnectPolicy({
      urls: opts.urls.map(realtimeUrl),
      canRenew: this.token.canRenew,
      backoff: opts.backoff,
      maxInitialAttempts: opts.maxInitialAttempts,
      random: opts.random,
    });
    this.seq = new SeqTracker({
      lastSeq: opts.lastSeq ?? null,
      gapTimeoutMs: opts.gapTimeoutMs,
      maxHeld: opts.maxHeld,
      counters: this.counters,
      hooks: {
        deliver: (e) => this.deliver(e),
        duplicate: (d) => this.emit('duplicate', d),
        resent: (d) => this.emit('resent', d),
        discarded: (d) => this.emit('discarded', d),
        gap: (d) => this.emit('gap', d),
        resume: (lastSeq) => this.send({ type: 'RESUME', payload: { lastSeq } }),
        // Not filled in time: reconnect; the resume on connect fills it (or says RESYNC_REQUIRED).
        gapTimedOut: () => this.ws?.close(4000, 'gap not filled'),
      },
    });
    this.liveness = new Liveness({ ping: () => this.ping(), dead: () => this.ws?.close(4000, 'no answer to PING') });
  }

  get state(): DeviceState {
    return this.state_;
  }
  /** Highest seq delivered in order; null before the first HELLO when started live. */
  get lastSeq(): number | null {
    return this.seq.lastSeq;
  }
  get epoch(): string | null {
    return this.epoch_;
  }
  /** The last HELLO (instance, connection, heartbeat…). */
  get hello(): (HelloPayload & { url: string }) | null {
    return this.hello_;
  }
  get url(): string {
    return this.policy.url;
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
    this.clearReconnectTimer();
    if (this.state_ === 'stopped') return;
    this.state_ = 'connecting';
    if (this.token.missing) {
      const error = await this.token.fetch('initial');
      if (error) return this.stop(error);
      if (this.state_ !== 'connecting') return;
    }
    const useHeader = this.opts.auth === 'header';
    const token = this.token.token;
    const url = connectUrl(this.url, { deviceId: this.deviceId, lastSeq: this.seq.lastSeq, epoch: this.epoch_, queryToken: useHeader ? undefined : token });
    const WS = this.opts.WebSocket;
    let ws: WebSocketLike;
    try {
      ws = useHeader && token ? new WS(url, { headers: { authorization: `Bearer ${token}` } }) : new WS(url);
    } catch (err) {
      return this.stop({ kind: 'bad_request', message: `Cannot open ${this.url}: ${errMessage(err)}`, fatal: true });
    }
    this.ws = ws;
    let opened = false;
    let lastError = '';
    this.connectTimer = setTimeout(() => ws.close(), this.opts.connectTimeoutMs ?? 10_000);
    ws.onopen = () => {
      opened = true;
      this.clearConnectTimer();
      this.state_ = 'open';
      this.policy.opened();
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
      this.clearConnectTimer();
      this.seq.cancelGapTimer();
      this.liveness.stop();
      if (this.state_ === 'stopped') return;
      if (opened) {
        const decision = this.policy.afterClose(ev.code, ev.reason);
        this.emit('closed', { code: ev.code, reason: ev.reason, willReconnect: decision.kind !== 'stop' });
        void this.act(decision);
      } else {
        void this.act(this.policy.afterConnectFailure(lastError));
      }
    };
  }

  // ---- frames ----

  private onFrame(text: string, receivedAt: number): void {
    const parsed = readServerFrame(text);
    if (!parsed.ok) {
      const message = parsed.reason === 'not_json' ? 'Server sent a frame that is not JSON' : 'Server sent a malformed frame';
      return this.emit('error', { kind: 'server', message, fatal: false });
    }
    const f = parsed.frame;
    if (this.opts.dropFrame?.(f)) return;
    this.liveness.seen();
    switch (f.type) {
      case 'HELLO':
        return this.onHello(f.payload as HelloPayload);
      case 'RESYNC_REQUIRED':
        return this.onResync(f.payload as ControlPayloads['RESYNC_REQUIRED']);
      case 'TOKEN_EXPIRING':
        return void this.renewInBand();
      case 'AUTH_OK':
        this.policy.tokenAccepted();
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
    this.seq.stored(event, event.seq);
  }

  private onHello(p: HelloPayload): void {
    this.hello_ = { ...p, url: this.url };
    this.epoch_ = p.epoch;
    this.seq.hello(p.latestSeq, p.replay ? p.replay.toSeq : null);
    this.policy.established();
    this.liveness.start(p.heartbeatMs, this.opts.liveness !== false);
    this.emit('hello', this.hello_);
  }

  private onResync(p: ControlPayloads['RESYNC_REQUIRED']): void {
    this.counters.resyncs += 1;
    this.epoch_ = p.epoch;
    const previousSeq = this.seq.resync(p.latestSeq);
    this.emit('resync', { ...p, previousSeq });
  }

  private deliver(event: DeviceEvent): void {
    this.counters.events += 1;
    this.emit('event', event);
  }

  private async renewInBand(): Promise<void> {
    if (!this.token.canRenew) return; // the server will close with 4401; the policy decides
    const error = await this.token.fetch('inBand');
    if (error) return this.emit('error', error);
    this.send({ type: 'AUTH', payload: { token: this.token.token } });
  }

  // ---- closing and reconnecting ----

  private async act(decision: Decision): Promise<void> {
    switch (decision.kind) {
      case 'stop':
        return this.stop(decision.error);
      case 'renew': {
        const error = await this.token.fetch('refused');
        if (error) return this.stop(error);
        return this.reconnect(decision.code, decision.reason, 0);
      }
      case 'reconnect':
        return this.reconnect(decision.code, decision.reason, decision.delayMs);
    }
  }

  /** Schedule the next connect; `delayMs` overrides the backoff (1012's retryAfterMs, renewed token). */
  private reconnect(code: number | null, reason: string, delayMs?: number): void {
    if (this.state_ === 'stopped') return;
    const next = this.policy.next(delayMs);
    this.counters.reconnects += 1;
    this.state_ = 'waiting';
    this.emit('reconnecting', { attempt: next.attempt, delayMs: Math.round(next.delayMs), url: this.url, code, reason });
    this.reconnectTimer = setTimeout(() => void this.connect(), next.delayMs);
  }

  private stop(error: DeviceError | null): void {
    if (this.state_ === 'stopped') return;
    this.state_ = 'stopped';
    this.clearReconnectTimer();
    this.clearConnectTimer();
    this.seq.cancelGapTimer();
    this.liveness.stop();
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

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }
}

export function createDevice(opts: DeviceOptions): Device {
  return new Device(opts);
}
