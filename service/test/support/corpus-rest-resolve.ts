/**
 * Turns a REST recipe (corpus-rest-cases.ts) into a request against the current model: ids the
 * user holds, the stored content a retry resends, timestamps newer or older than the stored ones;
 * and says what the answer must be (`mustFail`) or may be (`predictable`).
 */
import { randomUUID } from 'node:crypto';
import type { RawRequest } from './corpus.js';
import type { Expectation, WriteModel, WriteOp } from './corpus-model.js';
import type { AuthSpec, BodySpec, IdRef, Mutation, OrderSpec, Recipe, Stamp, Target } from './corpus-rest-cases.js';

export interface ResolveContext {
  model: WriteModel;
  userId: string;
  foreign: { userId: string; draftId: string; pendingId: string };
  /** Authorization header value per spec; null sends none. */
  authHeaders: Record<AuthSpec, string | null>;
}

export interface ResolvedCase {
  label: string;
  req: RawRequest;
  op: WriteOp;
  expect: Expectation;
  /** Sent with the admin token: may see other users' buffers. */
  admin: boolean;
}

const ROUTES: Record<Target, { method: string; path: string; write: boolean; body: boolean }> = {
  'drafts.list': { method: 'GET', path: '/api/drafts', write: false, body: false },
  'drafts.get': { method: 'GET', path: '/api/drafts/:id', write: false, body: false },
  'drafts.create': { method: 'POST', path: '/api/drafts', write: true, body: true },
  'drafts.update': { method: 'PUT', path: '/api/drafts/:id', write: true, body: true },
  'drafts.delete': { method: 'DELETE', path: '/api/drafts/:id', write: true, body: false },
  'drafts.convert': { method: 'POST', path: '/api/drafts/:id/convert', write: true, body: false },
  'pending.list': { method: 'GET', path: '/api/pending-orders', write: false, body: false },
  'pending.get': { method: 'GET', path: '/api/pending-orders/:id', write: false, body: false },
  'pending.upsert': { method: 'POST', path: '/api/pending-orders', write: true, body: true },
  'pending.delete': { method: 'DELETE', path: '/api/pending-orders/:id', write: true, body: false },
  'pending.submit': { method: 'POST', path: '/api/pending-orders/:id/submit', write: true, body: false },
  'jobs.get': { method: 'GET', path: '/api/jobs/:id', write: false, body: false },
  'admin.buffer': { method: 'GET', path: '/api/admin/buffers/:id', write: false, body: false },
  'admin.connections': { method: 'GET', path: '/api/admin/connections', write: false, body: false },
  'admin.stats': { method: 'GET', path: '/api/websocket/stats', write: false, body: false },
  'dev.token': { method: 'POST', path: '/api/dev/token', write: false, body: true },
};

const DEVICE_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MUST_FAIL_QUERIES = new Set(['includeDeleted=maybe', 'includeDeleted=TRUE', 'includeDeleted=true&includeDeleted=false', 'includeDeleted=', 'includeDeleted',
  'includeDeleted=%ZZ', 'includeDeleted=true%00', 'ids=', 'ids=,', 'ids=notauuid', 'ids=%ZZ', '$many201', '$known&ids=$known', 'userId=', `userId=${'u'.repeat(200)}`]);

function expand(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(expand);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if ('$repeat' in o) return String(o.$repeat).repeat(o.n as number);
  if ('$deep' in o) return `@@DEEP:${o.$deep as number}@@`; // written out by toJson: JSON.stringify would overflow the stack
  if ('$items' in o) return Array.from({ length: o.$items as number }, (_, i) => ({ productId: `P${i}`, quantity: 1 }));
  if ('$orders' in o) {
    return Array.from({ length: o.$orders as number }, () => ({ id: randomUUID(), customerId: 'C', customerName: 'N', items: [], updatedAt: new Date().toISOString() }));
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, expand(x)]));
}

/** JSON text of a body, with each deep-nesting placeholder written out as that many nested arrays. */
function toJson(v: unknown): string {
  return (JSON.stringify(v) ?? 'null').replace(/"@@DEEP:(\d+)@@"/g, (_, n: string) => `${'['.repeat(Number(n))}${']'.repeat(Number(n))}`);
}

function setAt(obj: Record<string, unknown>, at: (string | number)[], value: unknown): void {
  let cur: Record<string | number, unknown> = obj;
  for (const key of at.slice(0, -1)) {
    if (key === 'items' && (!Array.isArray(cur.items) || cur.items.length === 0)) cur.items = [{ productId: 'P', quantity: 1 }];
    cur = cur[key] as Record<string | number, unknown>;
  }
  const last = at[at.length - 1]!;
  const special = value as { $delete?: true } | null;
  if (special && typeof special === 'object' && special.$delete) delete cur[last];
  else if (last === '__proto__') Object.defineProperty(cur, '__proto__', { value: expand(value), enumerable: true, writable: true, configurable: true });
  else cur[last] = expand(value);
}

/** An ISO-8601 timestamp for `ms`, written with the given UTC offset (the same instant). */
function iso(ms: number, offsetMin: number): string {
  if (offsetMin === 0) return new Date(ms).toISOString();
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23);
  const a = Math.abs(offsetMin);
  return `${local}${offsetMin < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

const MIN_MS = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');
const DAY_MS = 86_400_000;

function stampFor(s: Stamp, stored: string | undefined): string {
  const base = stored === undefined || s.at === 'now' ? Date.now() : Date.parse(stored);
  const wanted = s.at === 'newer' ? base + s.ms : s.at === 'older' ? base - s.ms : base;
  // Stay inside 0001..9999 UTC (a stored '9999-12-31T23:59:59.999Z' has no valid "newer").
  const ms = Math.min(Math.max(wanted, MIN_MS), MAX_MS);
  return iso(ms, ms - MIN_MS < DAY_MS || MAX_MS - ms < DAY_MS ? 0 : s.offsetMin);
}

export function resolveCase(r: Recipe, ctx: ResolveContext): ResolvedCase {
  const { model } = ctx;
  const route = ROUTES[r.target];
  let fail = r.fail ?? false;
  let predictable = true;

  const pick = (ids: string[], n = 0) => (ids.length === 0 ? randomUUID() : ids[n % ids.length]!);
  const resolveId = (ref: IdRef): { text: string; key: string; valid: boolean } => {
    if (ref.ref === 'raw') {
      const text = ref.value === '$corpus' ? ctx.userId : ref.value === '$foreign' ? ctx.foreign.userId : ref.value;
      return { text, key: text, valid: false };
    }
    const key =
      ref.ref === 'fresh' ? randomUUID()
      : ref.ref === 'draft' ? pick(model.draftIds(), ref.n)
      : ref.ref === 'pending' ? pick(model.pendingIds(), ref.n)
      : ref.ref === 'foreign-draft' ? ctx.foreign.draftId
      : ctx.foreign.pendingId;
    return { text: ref.upper ? key.toUpperCase() : key, key, valid: true };
  };

  // ---- path ----
  const pathId = r.id ? resolveId(r.id) : null;
  let path = route.path.replace(':id', pathId?.text ?? randomUUID());
  if (pathId && !pathId.valid && route.path.includes(':id') && r.target !== 'admin.buffer') fail = true;
  if (r.query !== undefined && r.query !== '') {
    const known = model.pendingIds().slice(0, 3).join(',') || randomUUID();
    const q = r.query
      .replace(/^\$many(\d+)$/, (_, n: string) => `ids=${Array.from({ length: Number(n) }, () => randomUUID()).join(',')}`)
      .replace(/^\$known/, `ids=$known`)
      .replaceAll('$known', known)
      .replace('$foreign', ctx.foreign.pendingId)
      .replace('$corpus', ctx.userId);
    path += `?${q}`;
    const readsQuery = r.target === 'drafts.list' || r.target === 'pending.list' || r.target === 'admin.connections';
    if (readsQuery && MUST_FAIL_QUERIES.has(r.query) && (!r.target.startsWith('admin') || r.auth === 'admin')) fail = true;
  }

  // ---- body ----
  let body: string | Uint8Array | undefined;
  let sent: Record<string, unknown> = {};
  let orders: Record<string, unknown>[] = [];
  let opId = pathId?.key ?? '';
  const build = (spec: OrderSpec, kind: 'draft' | 'pending', id: string | null, mutation: Mutation | null): Record<string, unknown> => {
    const stored = id === null ? undefined : kind === 'draft' ? model.drafts.get(id) : model.pending.get(id);
    const content: Record<string, unknown> =
      spec.base === 'stored' && stored
        ? { customerId: stored.customerId, customerName: stored.customerName, items: stored.items, notes: stored.notes }
        : { ...spec.content };
    const o: Record<string, unknown> = JSON.parse(JSON.stringify({ ...(id !== null && r.target !== 'drafts.update' ? { id } : {}), ...content }));
    o.updatedAt = stampFor(spec.stamp, stored?.updatedAt as string | undefined);
    if (spec.content.deviceId !== undefined && !('deviceId' in o)) o.deviceId = spec.content.deviceId;
    if (mutation) setAt(o, mutation.at, mutation.value);
    return o;
  };
  const spec: BodySpec | undefined = r.body;
  if (spec?.type === 'order') {
    const id = r.target === 'drafts.update' ? opId : resolveId(spec.order.id).key;
    sent = build(spec.order, 'draft', id, spec.mutation);
    if (spec.baseVersion && model.drafts.get(id)) sent.baseVersion = model.drafts.get(id)!.version + (spec.baseVersion === 'stale' ? 5 : 0);
    if (spec.mutation?.fail || (r.target === 'drafts.update' && spec.mutation?.at[0] === 'id')) fail = true;
    if (spec.mutation) predictable = false;
    if (r.target === 'drafts.create') {
      opId = typeof sent.id === 'string' ? sent.id.toLowerCase() : '';
      if (!UUID.test(opId)) fail = true;
    }
    body = toJson(sent);
  } else if (spec?.type === 'batch') {
    orders = spec.orders.map((o, i) => build(o, 'pending', resolveId(o.id).key, i === 0 ? spec.mutation : null));
    const ids = orders.map((o) => String(o.id).toLowerCase());
    if (new Set(ids).size !== ids.length || spec.mutation?.fail) fail = true;
    if (spec.mutation) predictable = false;
    sent = { orders };
    body = toJson(sent);
  } else if (spec?.type === 'json') {
    body = toJson(expand(spec.value));
    if (spec.fail && route.body) fail = true;
  } else if (spec?.type === 'text') {
    body = spec.text;
    fail = true; // never JSON: every POST/PUT parses its body
  } else if (spec?.type === 'bytes') {
    body = Uint8Array.from(spec.bytes);
    if (route.method !== 'DELETE') fail ||= !isJson(Buffer.from(body).toString('utf8')) || route.body;
  } else if (spec?.type === 'empty') {
    body = '';
    if (route.body) fail = true;
  }

  // ---- headers ----
  const headers: Record<string, string> = {};
  const auth = ctx.authHeaders[r.auth];
  if (auth !== null) headers.authorization = auth;
  const needsAuth = r.target !== 'dev.token' && !(r.rawPath && !r.rawPath.startsWith('/api/'));
  if (needsAuth && r.auth !== 'user' && r.auth !== 'lowercase' && r.auth !== 'admin') fail = true;
  if (r.target.startsWith('admin') && r.auth === 'user') fail = true;
  if (r.auth !== 'user') predictable = false;
  if (body !== undefined) {
    const ct = r.contentType;
    if (ct === undefined) headers['content-type'] = 'application/json';
    else {
      if (ct.value !== null) headers['content-type'] = ct.value;
      predictable = false;
      if (ct.accepted === false && route.method !== 'DELETE' && (body.length > 0 || r.chunked)) fail = true;
    }
  }
  if (route.write && r.deviceHeader) {
    headers['x-device-id'] = r.deviceHeader.value;
    if (!r.deviceHeader.valid) fail = true;
  }
  if (route.write && r.idemKey) {
    headers['idempotency-key'] = r.idemKey.valid && r.idemKey.fresh ? `fresh-${randomUUID()}` : r.idemKey.value;
    if (!r.idemKey.valid) fail = true;
    if (!r.idemKey.fresh) predictable = false;
  }
  if (r.target === 'dev.token') fail = true; // JWT_SECRET is set: 404 for every method

  // ---- method, op ----
  const method = r.method ?? route.method;
  if (r.rawPath) path = r.rawPath.replaceAll('$id', randomUUID());
  const headerOrigin = headers['x-device-id'] && DEVICE_ID.test(headers['x-device-id']) ? headers['x-device-id'] : null;
  const bodyOrigin = (o: Record<string, unknown> | undefined) => (typeof o?.deviceId === 'string' && DEVICE_ID.test(o.deviceId) ? o.deviceId : null);
  let op: WriteOp;
  if (r.rawPath || r.target === 'dev.token') op = ['GET', 'HEAD', 'OPTIONS'].includes(method) ? { kind: 'read' } : { kind: 'none' };
  else if (!route.write) op = { kind: 'read' };
  else if (r.target === 'drafts.create' || r.target === 'drafts.update') {
    op = { kind: r.target === 'drafts.create' ? 'draft.create' : 'draft.update', id: opId, sent, origin: headerOrigin ?? bodyOrigin(sent) };
  } else if (r.target === 'pending.upsert') op = { kind: 'pending.upsert', orders, origin: headerOrigin ?? bodyOrigin(orders[0]) };
  else {
    const kinds = { 'drafts.delete': 'draft.delete', 'drafts.convert': 'draft.convert', 'pending.delete': 'pending.delete', 'pending.submit': 'pending.submit' } as const;
    const kind = kinds[r.target as keyof typeof kinds];
    op = { kind, id: opId, origin: headerOrigin };
    if (kind === 'pending.submit' && model.pending.has(opId)) {
      // Not sent as is: a job would move the order on behind the model's back (see WriteModel.predicted).
      path = route.path.replace(':id', randomUUID());
      op = { kind, id: '', origin: null };
      predictable = false;
    }
  }
  const label = r.rawPath ? `${method} (${r.family})` : `${method} ${route.path}`;
  return { label, req: { method, path, headers, body, chunked: r.chunked }, op, expect: { mustFail: fail, predictable: predictable && !fail }, admin: r.auth === 'admin' };
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
