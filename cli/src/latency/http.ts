/**
 * The gate's HTTP client for its writes and its cleanup: HTTP/1.1 keep-alive over `node:net`, one
 * socket write per request, the answer read from the socket's buffers without streams.
 *
 * Why not undici (`Pool.request`, what this was) or fetch: the gate must cost far less CPU than
 * the service it measures, or on a 2-core machine it measures itself. Against a stub server in
 * another process (a throwaway experiment, not kept: 6,000 POSTs at 300/s plus 3 WebSocket frames
 * each to 300 sockets, 2026-12-02): undici 0.46–0.71 ms of CPU per write, `node:http` with a keep-alive agent 0.53–0.56,
 * this 0.26–0.32. A request here is a string, a socket write and a parse of a head of a few
 * lines; undici builds a request object, an abort listener, a body stream and runs llhttp per
 * answer (cli/LATENCY.md, "The harness's own cost").
 *
 * What it does, the parts of HTTP/1.1 the service and a proxy in front of it use:
 * - Up to `maxSockets` keep-alive sockets per origin, one request at a time on each (no
 *   pipelining): a server stall opens more sockets rather than queueing writes behind each other
 *   in the harness (open loop). Beyond that, requests wait; the wait is part of the write's
 *   latency, measured from the scheduled time.
 * - A socket idle for `idleMs` is closed, below the service's 5 s keepAliveTimeout, and below the
 *   server's `Keep-Alive: timeout=N` hint minus a second, so a write is not sent on a socket the
 *   server is closing (the keep-alive race). One the server closed while idle is dropped. A write
 *   that fails on the wire is not retried: it counts as failed, as it may have committed.
 * - Bodies by `Content-Length`, chunked, or up to the close; none for 204, 304 and HEAD; 1xx
 *   answers skipped. `Connection: close` (or HTTP/1.0 without keep-alive) is honoured.
 * - Each request has a timeout: the socket's inactivity while the answer is awaited (what undici's
 *   header and body timeouts were). `abortAll()` fails every request in flight or waiting (code
 *   `aborted`) and closes their sockets, so nothing that answers later is read.
 * - A header name or value that would break the request (CR, LF, NUL) is refused (code
 *   `protocol`), never sent.
 */
import { connect, type Socket } from 'node:net';

export interface HttpResponse {
  status: number;
  /** The body parsed as JSON; null when empty or not JSON (the status says enough). */
  body: unknown;
}

export interface HttpRequest {
  method: string;
  headers: Record<string, string>;
  /** Already serialized (JSON). */
  body?: string;
  timeoutMs: number;
}

/** Why a request failed without a response: `timeout`, `aborted`, `protocol`, or the socket error's code. */
export class HttpError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface GateHttp {
  /** `base` is a service URL (`http://host:port`, an optional path prefix), `path` starts with `/`. */
  request(base: string, path: string, req: HttpRequest): Promise<HttpResponse>;
  /** Fail every request in flight or waiting (code `aborted`); later ones still run. */
  abortAll(): void;
  /** Close every socket. */
  close(): void;
  /** Sockets opened so far. */
  readonly socketsOpened: number;
}

interface Pending {
  /** The whole request, head and body, written in one call. */
  wire: string;
  head: boolean;
  timeoutMs: number;
  resolve: (r: HttpResponse) => void;
  reject: (e: HttpError) => void;
}

/** The answer being read on a socket. */
interface Reading {
  status: number;
  /** `length`: `remaining` bytes to come; `chunked`; `close`: up to the end of the stream; `none`. */
  mode: 'length' | 'chunked' | 'close' | 'none';
  remaining: number;
  keepAlive: boolean;
  /** The server's `Keep-Alive: timeout=N`, in ms (null: no hint). */
  hintMs: number | null;
  body: Buffer[];
}

interface Conn {
  socket: Socket;
  origin: Origin;
  req: Pending | null;
  /** Bytes received and not yet parsed. */
  buf: Buffer | null;
  reading: Reading | null;
  dead: boolean;
}

interface Origin {
  host: string;
  port: number;
  /** `Host` header. */
  authority: string;
  /** The base URL's path, prefixed to every request's path (a service behind a path prefix). */
  prefix: string;
  idle: Conn[];
  conns: Set<Conn>;
  waiting: Pending[];
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const BAD_HEADER = /[\r\n\0]/;
const BAD_NAME = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/;
/** Below the server's hint: undici's margin (keepAliveTimeoutThreshold). */
const HINT_MARGIN_MS = 1_000;

export function createGateHttp(opts: { maxSockets?: number; idleMs?: number } = {}): GateHttp {
  const maxSockets = opts.maxSockets ?? 256;
  const idleMs = opts.idleMs ?? 4_000;
  const origins = new Map<string, Origin>();
  let socketsOpened = 0;

  const originOf = (base: string): Origin => {
    let o = origins.get(base);
    if (!o) {
      const url = new URL(base);
      if (url.protocol !== 'http:') throw new HttpError(`only http:// URLs, not ${url.protocol}`, 'protocol');
      o = {
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port ? Number(url.port) : 80,
        authority: url.host,
        prefix: url.pathname.replace(/\/+$/, ''),
        idle: [],
        conns: new Set(),
        waiting: [],
      };
      origins.set(base, o);
    }
    return o;
  };

  const open = (o: Origin): Conn => {
    const socket = connect({ host: o.host, port: o.port, noDelay: true });
    socketsOpened += 1;
    const c: Conn = { socket, origin: o, req: null, buf: null, reading: null, dead: false };
    o.conns.add(c);
    socket.on('data', (chunk: Buffer) => onData(c, chunk));
    socket.on('timeout', () => (c.req ? fail(c, new HttpError(`no answer in ${Math.round(c.req.timeoutMs / 1000)} s`, 'timeout')) : drop(c)));
    socket.on('error', (err: NodeJS.ErrnoException) => fail(c, new HttpError(err.message, err.code ?? 'error')));
    socket.on('end', () => ended(c));
    socket.on('close', () => ended(c));
    return c;
  };

  const send = (c: Conn, p: Pending) => {
    c.req = p;
    c.socket.setTimeout(p.timeoutMs);
    c.socket.write(p.wire);
  };

  /** The next waiting request on a free socket (a reused one, else a new one while under the cap). */
  const pump = (o: Origin) => {
    while (o.waiting.length > 0) {
      const c = o.idle.pop() ?? (o.conns.size < maxSockets ? open(o) : null);
      if (!c) return;
      send(c, o.waiting.shift()!);
    }
  };

  /** The socket is unusable: close it, forget it, and give its place to a waiting request. */
  const drop = (c: Conn) => {
    if (c.dead) return;
    c.dead = true;
    c.socket.destroy();
    const o = c.origin;
    o.conns.delete(c);
    const i = o.idle.indexOf(c);
    if (i >= 0) o.idle.splice(i, 1);
    pump(o);
  };

  const fail = (c: Conn, err: HttpError) => {
    const p = c.req;
    c.req = null;
    drop(c);
    p?.reject(err);
  };

  const ended = (c: Conn) => {
    const r = c.reading;
    if (c.req && r && r.mode === 'close') return finish(c, false);
    if (c.req) return fail(c, new HttpError('the server closed the connection before answering', 'ECONNRESET'));
    drop(c);
  };

  const finish = (c: Conn, reusable: boolean) => {
    const p = c.req!;
    const r = c.reading!;
    c.req = null;
    c.reading = null;
    const body = r.body.length === 1 ? r.body[0]! : Buffer.concat(r.body);
    // How long the socket may stay idle: idleMs, or less when the server hinted less.
    const idle = r.hintMs === null ? idleMs : Math.min(idleMs, r.hintMs - HINT_MARGIN_MS);
    if (reusable && r.keepAlive && c.buf === null && idle > 0) {
      c.socket.setTimeout(idle);
      const o = c.origin;
      const next = o.waiting.shift();
      if (next) send(c, next);
      else o.idle.push(c);
    } else drop(c);
    p.resolve({ status: r.status, body: parseJson(body.length === 0 ? '' : body.toString('utf8')) });
  };

  const onData = (c: Conn, chunk: Buffer) => {
    if (!c.req) return drop(c); // bytes nobody asked for: the socket's framing is lost
    c.buf = c.buf === null ? chunk : Buffer.concat([c.buf, chunk]);
    try {
      parse(c);
    } catch (err) {
      fail(c, err instanceof HttpError ? err : new HttpError(String(err), 'protocol'));
    }
  };

  /** Consume what `c.buf` holds: the head once, then the body as its mode says. */
  const parse = (c: Conn) => {
    for (;;) {
      const buf = c.buf;
      if (buf === null) return;
      if (c.reading === null) {
        const end = buf.indexOf(CRLFCRLF);
        if (end < 0) {
          if (buf.length > 64 * 1024) throw new HttpError('response head over 64 KiB', 'protocol');
          return;
        }
        const r = readHead(buf.toString('latin1', 0, end), c.req!.head);
        rest(c, end + 4);
        if (r === null) continue; // 1xx: the real answer follows
        c.reading = r;
        if (r.mode === 'none') return finish(c, true);
        continue;
      }
      const r = c.reading;
      if (r.mode === 'close') {
        r.body.push(buf);
        c.buf = null;
        return;
      }
      if (r.mode === 'length') {
        const take = Math.min(r.remaining, buf.length);
        r.body.push(take === buf.length ? buf : buf.subarray(0, take));
        r.remaining -= take;
        rest(c, take);
        if (r.remaining === 0) return finish(c, true);
        return;
      }
      // chunked: `remaining` is what is left of the current chunk's data plus its CRLF; -1 between chunks
      if (r.remaining > 0) {
        const take = Math.min(r.remaining, buf.length);
        const data = Math.min(take, r.remaining - 2);
        if (data > 0) r.body.push(buf.subarray(0, data));
        r.remaining -= take;
        rest(c, take);
        if (r.remaining === 0) r.remaining = -1;
        continue;
      }
      const eol = buf.indexOf(CRLF);
      if (eol < 0) return;
      if (r.remaining === -2) {
        // trailers, up to an empty line
        rest(c, eol + 2);
        if (eol === 0) return finish(c, true);
        continue;
      }
      const size = parseInt(buf.toString('latin1', 0, eol).split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw new HttpError('malformed chunk size', 'protocol');
      rest(c, eol + 2);
      r.remaining = size === 0 ? -2 : size + 2;
    }
  };

  const rest = (c: Conn, from: number) => {
    const buf = c.buf!;
    c.buf = from >= buf.length ? null : buf.subarray(from);
  };

  const request = (base: string, path: string, r: HttpRequest): Promise<HttpResponse> => {
    let o: Origin;
    let wire: string;
    try {
      o = originOf(base);
      wire = requestWire(o, path, r);
    } catch (err) {
      return Promise.reject(err instanceof HttpError ? err : new HttpError((err as Error).message, 'protocol'));
    }
    return new Promise<HttpResponse>((resolve, reject) => {
      o.waiting.push({ wire, head: r.method === 'HEAD', timeoutMs: r.timeoutMs, resolve, reject });
      pump(o);
    });
  };

  const abortAll = (err = () => new HttpError('abandoned at the end of the drain', 'aborted')) => {
    for (const o of origins.values()) {
      for (const p of o.waiting.splice(0)) p.reject(err());
      for (const c of [...o.conns]) if (c.req) fail(c, err());
    }
  };

  return {
    request,
    abortAll: () => abortAll(),
    close() {
      abortAll(() => new HttpError('the client was closed', 'aborted'));
      for (const o of origins.values()) for (const c of [...o.conns]) drop(c);
      origins.clear();
    },
    get socketsOpened() {
      return socketsOpened;
    },
  };
}

/** The request line, the headers and the body as one string (refusing what would break the framing). */
function requestWire(o: Origin, path: string, r: HttpRequest): string {
  if (BAD_NAME.test(r.method) || r.method === '') throw new HttpError(`invalid method ${JSON.stringify(r.method)}`, 'protocol');
  const target = o.prefix + path;
  if (/[\s\0]/.test(target)) throw new HttpError('invalid request path', 'protocol');
  let head = `${r.method} ${target} HTTP/1.1\r\nhost: ${o.authority}\r\n`;
  for (const name in r.headers) {
    const value = r.headers[name]!;
    if (BAD_NAME.test(name) || name === '' || BAD_HEADER.test(value)) throw new HttpError(`invalid header ${JSON.stringify(name)}`, 'protocol');
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection') continue;
    head += `${name}: ${value}\r\n`;
  }
  if (r.body !== undefined) head += `content-length: ${Buffer.byteLength(r.body)}\r\n`;
  else if (r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH') head += 'content-length: 0\r\n';
  return r.body === undefined ? head + '\r\n' : `${head}\r\n${r.body}`;
}

/** A response head: its status and how its body is framed; null for a 1xx (skipped). */
function readHead(head: string, isHead: boolean): Reading | null {
  const sp = head.indexOf(' ');
  if (!head.startsWith('HTTP/1.') || sp < 0) throw new HttpError('not an HTTP/1.x response', 'protocol');
  const status = parseInt(head.slice(sp + 1, sp + 4), 10);
  if (!(status >= 100 && status <= 999)) throw new HttpError('malformed status line', 'protocol');
  if (status < 200 && status !== 101) return null;
  // Only four headers matter: found by name in the lower-cased head, not by splitting every line.
  const lower = head.toLowerCase();
  const value = (name: string): string | null => {
    const at = lower.indexOf(`\r\n${name}:`);
    if (at < 0) return null;
    const from = at + name.length + 3;
    const eol = lower.indexOf('\r\n', from);
    return lower.slice(from, eol < 0 ? lower.length : eol).trim();
  };
  const cl = value('content-length');
  const length = cl === null ? -1 : Number(cl);
  if (cl !== null && !(Number.isInteger(length) && length >= 0)) throw new HttpError('malformed content-length', 'protocol');
  const te = value('transfer-encoding');
  const chunked = te !== null && /(^|,)\s*chunked\s*$/.test(te);
  const connection = value('connection');
  // HTTP/1.1: persistent unless told otherwise; HTTP/1.0 only when told so.
  const keepAlive = connection?.includes('close') ? false : connection?.includes('keep-alive') ? true : head.charCodeAt(7) === 49;
  const hint = /timeout=(\d+)/.exec(value('keep-alive') ?? '');
  const hintMs = hint ? Number(hint[1]) * 1000 : null;
  const base = { status, remaining: 0, keepAlive, hintMs, body: [] as Buffer[] };
  if (isHead || status === 204 || status === 304) return { ...base, mode: 'none' };
  if (chunked) return { ...base, mode: 'chunked', remaining: -1 };
  if (length >= 0) return length === 0 ? { ...base, mode: 'none' } : { ...base, mode: 'length', remaining: length };
  return { ...base, mode: 'close', keepAlive: false };
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
