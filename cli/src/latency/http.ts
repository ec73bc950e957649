/**
 * The gate's HTTP client for its writes and its cleanup: undici's `Pool.request` (the HTTP/1.1
 * client Node's own fetch is built on, without fetch's WHATWG layer), one pool per origin.
 *
 * Why not fetch: at 300 writes/s Node's fetch (WHATWG streams, a Headers and a Response per call,
 * AbortSignal.timeout + AbortSignal.any per write) cost the rtctl process about as much CPU as
 * the service spent on the writes, so the gate measured itself. `Pool.request` with a body read
 * as text is a fraction of that (cli/LATENCY.md, "The harness's own cost").
 *
 * - Up to `maxSockets` keep-alive sockets per origin, one request at a time on each (no
 *   pipelining): a server stall opens more sockets rather than queueing writes behind each other
 *   in the harness (open loop). Beyond that, requests wait in the pool; the wait is part of the
 *   write's latency, measured from the scheduled time.
 * - A socket idle for `idleMs` is closed, below the service's 5 s keepAliveTimeout, so a write is
 *   not sent on a socket the server is closing (the keep-alive race); undici also honours the
 *   server's `Keep-Alive: timeout` hint. A write that fails on the wire is not retried: it counts as
 *   failed, as it may have committed.
 * - Each request has a total timeout (undici's header and body timeouts); `abortAll()` fails every
 *   request in flight or waiting (code `aborted`), and nothing that answers later is read.
 */
import { Pool, type Dispatcher } from 'undici';

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

interface Origin {
  pool: Pool;
  /** The base URL's path, prefixed to every request's path (a service behind a path prefix). */
  prefix: string;
}

export function createGateHttp(opts: { maxSockets?: number; idleMs?: number } = {}): GateHttp {
  const maxSockets = opts.maxSockets ?? 256;
  const idleMs = opts.idleMs ?? 4_000;
  const origins = new Map<string, Origin>();
  let socketsOpened = 0;
  // One controller for everything in flight; replaced when used, so later requests still run.
  let abort = new AbortController();

  const originOf = (base: string): Origin => {
    let o = origins.get(base);
    if (!o) {
      const url = new URL(base);
      const pool = new Pool(url.origin, {
        connections: maxSockets,
        pipelining: 1,
        keepAliveTimeout: idleMs,
        keepAliveMaxTimeout: idleMs,
      });
      pool.on('connect', () => socketsOpened++);
      o = { pool, prefix: url.pathname.replace(/\/+$/, '') };
      origins.set(base, o);
    }
    return o;
  };

  const request = async (base: string, path: string, r: HttpRequest): Promise<HttpResponse> => {
    const { pool, prefix } = originOf(base);
    let res: Dispatcher.ResponseData;
    try {
      res = await pool.request({
        method: r.method as Dispatcher.HttpMethod,
        path: prefix + path,
        headers: r.headers,
        body: r.body,
        signal: abort.signal,
        headersTimeout: r.timeoutMs,
        bodyTimeout: r.timeoutMs,
      });
      const text = await res.body.text();
      return { status: res.statusCode, body: parseJson(text) };
    } catch (err) {
      throw toHttpError(err, r.timeoutMs);
    }
  };

  return {
    request,
    abortAll() {
      abort.abort();
      abort = new AbortController();
    },
    close() {
      for (const o of origins.values()) void o.pool.destroy().catch(() => undefined);
      origins.clear();
    },
    get socketsOpened() {
      return socketsOpened;
    },
  };
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function toHttpError(err: unknown, timeoutMs: number): HttpError {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === 'AbortError' || code === 'UND_ERR_ABORTED') return new HttpError('abandoned at the end of the drain', 'aborted');
  if (code && TIMEOUT_CODES.has(code)) return new HttpError(`no answer in ${Math.round(timeoutMs / 1000)} s`, 'timeout');
  if (code === 'UND_ERR_INVALID_ARG') return new HttpError(e.message ?? 'invalid request', 'protocol');
  return new HttpError(e.message ?? String(err), code ?? 'error');
}
