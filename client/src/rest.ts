/**
 * Typed REST client for every route of DESIGN §3, usable alone (rtctl, tests) and by the offline
 * queue. No Node-only API: `fetch` is injected or taken from globalThis.
 *
 * - Every failure is an `ApiError`: the server's `{ error: { code, message, details } }` with its
 *   status; a network failure is status 0 / code NETWORK, a timeout status 0 / code TIMEOUT.
 * - Every write carries an `Idempotency-Key` (the caller's, else a fresh UUID), so a retry is safe
 *   (DESIGN §12); `replayed` tells when the server answered a repeat from its record.
 * - On 401 it asks `getToken()` once more and retries once.
 * - A `Retry-After` on a refusal (429, 503) is kept on the ApiError as `retryAfterMs`: the offline
 *   queue waits that long before it sends again (outbox.ts), instead of its own backoff.
 * - Several base URLs: a network error moves on to the next one (same request, same key); the one
 *   that answered is used first from then on.
 */
import type { Draft, PendingOrder } from '../../service/src/protocol/index.js';
import type { DraftInput, PendingOrderInput, WriteOp } from './types.js';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    /** HTTP status; 0 when no answer came (code NETWORK or TIMEOUT). */
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** The whole error body, e.g. `current` of a 409 STALE_WRITE. */
    readonly body?: unknown,
    /** The answer's `Retry-After`, in ms (429, 503): when the server will take the request again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Worth retrying later with the same Idempotency-Key: no answer, 5xx, 408, 429, or the first attempt still running. */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return err.status === 0 || err.status >= 500 || err.status === 408 || err.status === 429 || err.code === 'IDEMPOTENCY_KEY_IN_USE';
}

export interface RestRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: unknown;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  /** `Idempotent-Replayed: true`: the server answered a repeated key with the stored response. */
  replayed: boolean;
  /** The base URL that answered. */
  url: string;
}

export interface RequestOptions {
  idempotencyKey?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ListResponse<T> {
  items: T[];
  seq: number;
}
export interface DraftWriteResponse {
  draft: Draft;
  /** seq of the event the write emitted, null when it emitted none. */
  seq: number | null;
}
export interface ConvertResponse {
  pendingOrderId: string;
  pendingOrder: PendingOrder | null;
  draft: Draft;
  seq: number | null;
}
export type UpsertAction = 'created' | 'updated' | 'unchanged' | 'stale' | 'locked';
export interface UpsertResponse {
  results: { id: string; action: UpsertAction }[];
  seq: number;
}
/** `GET /api/jobs/:id` (the service's JobView). */
export interface JobView {
  id: string;
  name: string;
  state: 'waiting' | 'active' | 'completed' | 'failed' | 'delayed';
  progress: number;
  attemptsMade: number;
  result: unknown;
  failedReason: string | null;
  createdAt: string;
  finishedAt: string | null;
  orderId: string;
}

export interface RestClientOptions {
  url: string | readonly string[];
  getToken: () => string | Promise<string>;
  /** Sent as X-Device-Id: the origin of the events this client's writes emit. */
  deviceId?: string;
  fetch?: typeof fetch;
  /** Default 10 s. */
  timeoutMs?: number;
}

const enc = encodeURIComponent;
/** The service's limit of ids per batch read (`GET /api/pending-orders?ids=`). */
export const MAX_READ_IDS = 200;

/** Client-made fields: a fresh id and the client clock. */
export function draftBody(input: DraftInput): Extract<WriteOp, { kind: 'draft.create' }>['body'] {
  return {
    id: input.id ?? crypto.randomUUID(),
    customerId: input.customerId,
    customerName: input.customerName,
    items: input.items,
    notes: input.notes ?? null,
    updatedAt: input.updatedAt ?? new Date().toISOString(),
  };
}

export function orderBody(input: PendingOrderInput): Extract<WriteOp, { kind: 'pending.upsert' }>['orders'][number] {
  return draftBody(input);
}

/** The request a queued write is sent as: the same method, path and body on every attempt. */
export function requestFor(op: WriteOp): RestRequest {
  switch (op.kind) {
    case 'draft.create':
      return { method: 'POST', path: '/api/drafts', body: op.body };
    case 'draft.update':
      return { method: 'PUT', path: `/api/drafts/${enc(op.id)}`, body: op.body };
    case 'draft.remove':
      return { method: 'DELETE', path: `/api/drafts/${enc(op.id)}` };
    case 'draft.convert':
      return { method: 'POST', path: `/api/drafts/${enc(op.id)}/convert` };
    case 'pending.upsert':
      return { method: 'POST', path: '/api/pending-orders', body: { orders: op.orders } };
    case 'pending.remove':
      return { method: 'DELETE', path: `/api/pending-orders/${enc(op.id)}` };
    case 'pending.submit':
      return { method: 'POST', path: `/api/pending-orders/${enc(op.id)}/submit` };
  }
}

export function createRestClient(opts: RestClientOptions) {
  const bases = (typeof opts.url === 'string' ? [opts.url] : [...opts.url]).map((u) => u.replace(/\/+$/, ''));
  if (bases.length === 0) throw new Error('createRestClient needs at least one URL');
  // Looked up per call, and called on globalThis: a browser's fetch refuses another `this`.
  const doFetch: typeof fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  let current = 0;
  let token: string | null = null;

  async function once(base: string, req: RestRequest, tok: string, o: RequestOptions, key: string | null): Promise<Response> {
    const timeoutMs = o.timeoutMs ?? opts.timeoutMs ?? 10_000;
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMs);
    const onAbort = () => ctl.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const headers: Record<string, string> = { authorization: `Bearer ${tok}`, accept: 'application/json' };
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.deviceId) headers['x-device-id'] = opts.deviceId;
    if (key) headers['idempotency-key'] = key;
    try {
      return await doFetch(base + req.path, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: ctl.signal,
      });
    } catch (err) {
      if (timedOut) throw new ApiError(0, 'TIMEOUT', `${req.method} ${req.path}: no answer from ${base} within ${timeoutMs} ms`);
      if (o.signal?.aborted) throw new ApiError(0, 'ABORTED', `${req.method} ${req.path}: aborted`);
      throw new ApiError(0, 'NETWORK', `${req.method} ${req.path}: ${base} unreachable (${errMessage(err)})`);
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * One attempt on the current URL, failing over to the others on network errors. A timeout is
   * thrown (the caller's retry decides when to try again, so one call never waits several
   * timeouts), but the next attempt goes to the next URL: an instance that accepts connections and
   * never answers (hung, overloaded, cut off mid-drain) is left like one that refuses them. A write
   * retried there keeps its Idempotency-Key, so it lands once.
   */
  async function anyUrl(req: RestRequest, tok: string, o: RequestOptions, key: string | null): Promise<{ res: Response; url: string }> {
    let lastErr: unknown;
    for (let i = 0; i < bases.length; i += 1) {
      const idx = (current + i) % bases.length;
      try {
        const res = await once(bases[idx]!, req, tok, o, key);
        current = idx;
        return { res, url: bases[idx]! };
      } catch (err) {
        lastErr = err;
        if (err instanceof ApiError && err.code === 'TIMEOUT') current = (idx + 1) % bases.length;
        if (!(err instanceof ApiError) || err.code !== 'NETWORK') throw err;
      }
    }
    throw lastErr;
  }

  async function request<T>(req: RestRequest, o: RequestOptions = {}): Promise<ApiResponse<T>> {
    const key = req.method === 'GET' ? null : (o.idempotencyKey ?? crypto.randomUUID());
    token ??= await opts.getToken();
    let { res, url } = await anyUrl(req, token, o, key);
    if (res.status === 401) {
      await res.body?.cancel().catch(() => undefined);
      token = await opts.getToken();
      ({ res, url } = await anyUrl(req, token, o, key));
    }
    const text = await res.text().catch(() => '');
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!res.ok) {
      const e = (body as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
      const message = e?.message ?? `${req.method} ${req.path}: HTTP ${res.status}`;
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, message, e?.details, body, parseRetryAfter(res.headers.get('retry-after')));
    }
    return { status: res.status, body: body as T, replayed: res.headers.get('idempotent-replayed') === 'true', url };
  }

  const call = async <T>(req: RestRequest, o?: RequestOptions) => (await request<T>(req, o)).body;

  return {
    request,
    drafts: {
      list: (q: { includeDeleted?: boolean } = {}) =>
        call<ListResponse<Draft>>({ method: 'GET', path: `/api/drafts${q.includeDeleted ? '?includeDeleted=true' : ''}` }),
      get: (id: string) => call<Draft>({ method: 'GET', path: `/api/drafts/${enc(id)}` }),
      create: (input: DraftInput, o?: RequestOptions) =>
        call<DraftWriteResponse>(requestFor({ kind: 'draft.create', id: '', body: draftBody(input) }), o),
      /** The full content, as PUT wants it (the client merges a patch before; see the store). */
      update: (id: string, body: Extract<WriteOp, { kind: 'draft.update' }>['body'], o?: RequestOptions) =>
        call<DraftWriteResponse>(requestFor({ kind: 'draft.update', id, body }), o),
      remove: (id: string, o?: RequestOptions) => call<DraftWriteResponse>(requestFor({ kind: 'draft.remove', id, at: '' }), o),
      convert: (id: string, o?: RequestOptions) => call<ConvertResponse>(requestFor({ kind: 'draft.convert', id, at: '' }), o),
    },
    pendingOrders: {
      list: () => call<ListResponse<PendingOrder>>({ method: 'GET', path: '/api/pending-orders' }),
      get: (id: string) => call<PendingOrder>({ method: 'GET', path: `/api/pending-orders/${enc(id)}` }),
      /**
       * The batch read: the named orders that exist (a deleted one is absent from `items`), in
       * requests of at most MAX_READ_IDS ids; `seq` is the oldest snapshot among them.
       */
      getMany: async (ids: readonly string[]): Promise<{ items: PendingOrder[]; seq: number | null }> => {
        const items: PendingOrder[] = [];
        let seq: number | null = null;
        for (let i = 0; i < ids.length; i += MAX_READ_IDS) {
          const chunk = ids.slice(i, i + MAX_READ_IDS);
          const body = await call<{ items: PendingOrder[]; seq?: number } | PendingOrder[]>({
            method: 'GET',
            path: `/api/pending-orders?ids=${chunk.map(enc).join(',')}`,
          });
          const wanted = new Set(chunk);
          // Filtered here too: an older service ignores `ids` and answers the whole list.
          items.push(...(Array.isArray(body) ? body : body.items).filter((o) => wanted.has(o.id)));
          const s = Array.isArray(body) ? null : (body.seq ?? null);
          seq = s === null ? null : i === 0 ? s : seq === null ? null : Math.min(seq, s);
        }
        return { items, seq };
      },
      upsert: (orders: readonly PendingOrderInput[], o?: RequestOptions) =>
        call<UpsertResponse>(requestFor({ kind: 'pending.upsert', orders: orders.map(orderBody) }), o),
      remove: (id: string, o?: RequestOptions) => call<{ seq: number }>(requestFor({ kind: 'pending.remove', id }), o),
      submit: (id: string, o?: RequestOptions) => call<{ jobId: string }>(requestFor({ kind: 'pending.submit', id }), o),
    },
    jobs: {
      get: (id: string) => call<JobView>({ method: 'GET', path: `/api/jobs/${enc(id)}` }),
    },
  };
}

export type RestClient = ReturnType<typeof createRestClient>;

/** Most a `Retry-After` is obeyed for: a wrong header never parks the queue for hours. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** `Retry-After` as ms: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  // An HTTP-date begins with a day name ("Sun, 06 Nov 1994 08:49:37 GMT"); Date.parse alone takes "1.5" too.
  const ms = /^\d+$/.test(v) ? Number(v) * 1000 : /^[A-Za-z]{3},/.test(v) ? Date.parse(v) - now : NaN;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

function errMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
