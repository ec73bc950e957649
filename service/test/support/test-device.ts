/**
 * TestDevice: the one device client (client/src/realtime.ts's `Device`) with a recorder around it,
 * for tests that assert what the server sent. The Device connects, authenticates, reads HELLO,
 * tracks lastSeq/epoch and decides on every close code; this file adds no protocol of its own.
 *
 * What the wrapper adds, all for assertions:
 * - `frames`: every frame the server sent, raw and in arrival order (duplicates, resent copies and
 *   control frames included), from a `ws` subclass injected as the Device's WebSocket class;
 *   `delivered` is what the Device handed to its caller (once each, in seq order).
 * - `send(frame)` writes any frame, garbage included, on the current socket; `ws` is that socket
 *   (a test may pause its TCP stream or send a ws-level ping).
 * - An upgrade the server refuses rejects `connect()` with `{ status, body }` of the HTTP answer.
 * - Query parameters the Device does not manage (`lastEventTs`, …) are added to the URL, and a
 *   query without `deviceId` connects without one (the server's 400).
 * - One connection by default: when it closes, the Device is stopped instead of reconnecting, so
 *   `closed()` is the server's close code. `{ reconnect: true }` leaves reconnecting to the Device.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { Device, type DeviceEvent, type WebSocketConstructor } from '../../../client/src/realtime.js';

export interface Frame {
  type: string;
  payload: any;
  timestamp: string;
  seq?: number;
  originDeviceId?: string | null;
}

export interface TestDeviceOptions {
  /** Token as `?token=` (what a browser does) instead of the Authorization header. */
  viaQuery?: boolean;
  /** Let the Device reconnect and resume after a close (default: stop at the first close). */
  reconnect?: boolean;
  getToken?: () => Promise<string>;
}

/** Query keys the Device itself puts in the URL. */
const MANAGED = new Set(['deviceId', 'lastSeq', 'epoch', 'token']);

interface SocketHooks {
  rewrite(url: URL): void;
  created(ws: WebSocket): void;
  frame(text: string): void;
  closed(ws: WebSocket, code: number, reason: string): void;
  refused(status: number, body: string): void;
}

/** The ws class the Device gets: records frames and closes, and keeps the body of a refused upgrade. */
function recordingSocketClass(hooks: SocketHooks): WebSocketConstructor {
  class RecordingSocket extends WebSocket {
    constructor(url: string, options?: { headers: Record<string, string> }) {
      const u = new URL(url);
      hooks.rewrite(u);
      super(u, options);
      hooks.created(this);
      this.on('message', (data) => hooks.frame(String(data)));
      this.on('close', (code, reason) => hooks.closed(this, code, String(reason)));
      this.on('error', () => undefined);
      this.once('unexpected-response', (req: ClientRequest, res: IncomingMessage) => this.refuse(req, res));
    }

    /**
     * With a listener on 'unexpected-response', ws leaves the failed handshake to us: read the body,
     * then fail the socket as ws does without one (error "Unexpected server response: <status>",
     * then close 1006), which is what the Device reads the status from.
     */
    private refuse(req: ClientRequest, res: IncomingMessage): void {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      const done = () => {
        const status = res.statusCode ?? 0;
        hooks.refused(status, body);
        req.destroy();
        const internals = this as unknown as { _readyState: number; emitClose(): void };
        internals._readyState = WebSocket.CLOSING;
        this.emit('error', new Error(`Unexpected server response: ${status}`));
        internals.emitClose();
      };
      res.once('end', done);
      res.once('error', done);
    }
  }
  return RecordingSocket as unknown as WebSocketConstructor;
}

export class TestDevice {
  readonly frames: Frame[] = [];
  /** Events the Device delivered to its caller: each stored event once, in seq order. */
  readonly delivered: DeviceEvent[] = [];
  /** Close code and reason of the last socket (null while open). */
  closeCode: number | null = null;
  closeReason = '';
  readonly device: Device;
  private socket: WebSocket | null = null;
  private refusal: { status: number; body: string } | null = null;
  private waiters: { pred: (f: Frame[]) => boolean; resolve: () => void }[] = [];
  private closeWaiters: ((code: number) => void)[] = [];
  private oneShot: boolean;

  private constructor(wsUrl: string, token: string | null, query: Record<string, string | number>, opts: TestDeviceOptions) {
    this.oneShot = !opts.reconnect;
    const extra = Object.entries(query).filter(([k]) => !MANAGED.has(k));
    const hasDeviceId = query.deviceId !== undefined;
    const WebSocketClass = recordingSocketClass({
      rewrite: (u) => {
        for (const [k, v] of extra) u.searchParams.set(k, String(v));
        if (!hasDeviceId) u.searchParams.delete('deviceId');
      },
      created: (ws) => {
        this.socket = ws;
        this.closeCode = null;
        this.closeReason = '';
      },
      frame: (text) => {
        try {
          this.frames.push(JSON.parse(text) as Frame);
        } catch {
          this.frames.push({ type: '(not JSON)', payload: text, timestamp: '' });
        }
        this.check();
      },
      closed: (ws, code, reason) => {
        if (ws !== this.socket) return;
        this.closeCode = code;
        this.closeReason = reason;
        for (const w of this.closeWaiters) w(code);
        this.closeWaiters = [];
      },
      refused: (status, body) => (this.refusal = { status, body }),
    });
    this.device = new Device({
      urls: [wsUrl],
      deviceId: hasDeviceId ? String(query.deviceId) : 'none',
      token: token ?? undefined,
      getToken: opts.getToken,
      WebSocket: WebSocketClass,
      auth: opts.viaQuery ? 'query' : 'header',
      lastSeq: query.lastSeq === undefined ? undefined : Number(query.lastSeq),
      epoch: query.epoch === undefined ? undefined : String(query.epoch),
      // Only what the test sends goes to the server: no app-level PINGs of the Device's own.
      liveness: false,
      maxInitialAttempts: 1,
      backoff: { initialMs: 50, maxMs: 1_000 },
    });
    this.device.on('event', (e) => this.delivered.push(e));
    this.device.on('closed', () => {
      // Stopping inside the listener comes before the Device schedules its reconnect: it never does.
      if (this.oneShot) void this.device.close();
    });
  }

  /** Open one connection (resolves when the socket is open; HELLO follows). */
  static connect(
    wsUrl: string,
    token: string | null,
    query: Record<string, string | number>,
    opts: TestDeviceOptions = {},
  ): Promise<TestDevice> {
    const d = new TestDevice(wsUrl, token, query, opts);
    return new Promise((resolve, reject) => {
      const offOpen = d.device.on('open', () => {
        offStopped();
        resolve(d);
      });
      const offStopped = d.device.on('stopped', ({ error }) => {
        offOpen();
        const r = d.refusal;
        if (r) reject(Object.assign(new Error(`HTTP ${r.status}`), { status: r.status, body: r.body }));
        else reject(new Error(error?.message ?? 'stopped before the socket opened'));
      });
      d.device.start();
    });
  }

  /** The current socket (Node's ws). */
  get ws(): WebSocket {
    if (!this.socket) throw new Error('TestDevice has no socket yet');
    return this.socket;
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (w.pred(this.frames)) {
        w.resolve();
        return false;
      }
      return true;
    });
  }

  /** Resolve when `pred(frames)` holds; reject after `timeoutMs` with what was received. */
  waitFor(pred: (frames: Frame[]) => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
    if (pred(this.frames)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.map((f) => [f.type, f.seq]))}`));
      }, timeoutMs);
      this.waiters.push({ pred, resolve: () => (clearTimeout(t), resolve()) });
    });
  }

  waitForType(type: string, count = 1, timeoutMs = 5_000): Promise<Frame[]> {
    return this.waitFor((fs) => fs.filter((f) => f.type === type).length >= count, timeoutMs, `${count} x ${type}`).then(() =>
      this.ofType(type),
    );
  }

  /** Wait until a stored event with this seq (or a later one) arrived. */
  waitForSeq(seq: number, timeoutMs = 5_000): Promise<void> {
    return this.waitFor((fs) => fs.some((f) => f.seq !== undefined && f.seq >= seq), timeoutMs, `seq ${seq}`);
  }

  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Stored events (frames with a seq) as the server sent them, in arrival order. */
  events(): Frame[] {
    return this.frames.filter((f) => f.seq !== undefined);
  }

  hello(): Frame {
    const h = this.frames[0];
    if (!h || h.type !== 'HELLO') throw new Error(`first frame is not HELLO: ${JSON.stringify(h)}`);
    return h;
  }

  /** Send any frame as is (a string is sent verbatim: garbage frames are how tests probe the server). */
  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The close code of the current socket, once it closes. */
  closed(timeoutMs = 5_000): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
      this.closeWaiters.push((c) => (clearTimeout(t), resolve(c)));
    });
  }

  /** Close normally (1000) and stop the Device. */
  async close(): Promise<number> {
    this.oneShot = true;
    await this.device.close();
    return this.closed();
  }

  /** Drop the connection without a close frame (the server sees 1006) and stop the Device. */
  terminate(): void {
    this.oneShot = true;
    this.socket?.terminate();
    void this.device.close();
  }
}
