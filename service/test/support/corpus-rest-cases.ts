/**
 * Generators of the REST corpus. A case is a recipe (plain data, so fast-check prints it on a
 * failure): which route, which id (fresh, one the user holds, one of the other user's, or raw
 * junk), which body (a near-valid draft with one field broken, random JSON, bytes, …), which
 * headers. `resolveCase` turns it into bytes against the model at run time, so a case can name
 * "the 3rd draft the user holds" and the generators stay pure.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Expectation, WriteOp } from './corpus-model.js';

export type Target =
  | 'drafts.list' | 'drafts.get' | 'drafts.create' | 'drafts.update' | 'drafts.delete' | 'drafts.convert'
  | 'pending.list' | 'pending.get' | 'pending.upsert' | 'pending.delete' | 'pending.submit'
  | 'jobs.get' | 'admin.buffer' | 'admin.connections' | 'admin.stats' | 'dev.token';

export type IdRef = { ref: 'fresh' | 'draft' | 'pending' | 'foreign-draft' | 'foreign-pending'; n?: number; upper?: boolean } | { ref: 'raw'; value: string };

/** A value that is built at send time (a 40 KB string would make fast-check's report unreadable). */
export type Special = { $repeat: string; n: number } | { $deep: number } | { $delete: true } | { $items: number } | { $orders: number };
export interface Mutation {
  name: string;
  at: (string | number)[];
  value: unknown;
  /** The mutation alone makes the request invalid. */
  fail: boolean;
}
export type Stamp = { at: 'now' | 'newer' | 'same' | 'older'; ms: number; offsetMin: number };
export interface OrderSpec {
  id: IdRef;
  base: 'fresh' | 'stored';
  content: Record<string, unknown>;
  stamp: Stamp;
}
export type BodySpec =
  | { type: 'order'; order: OrderSpec; mutation: Mutation | null; baseVersion?: 'current' | 'stale' }
  | { type: 'batch'; orders: OrderSpec[]; mutation: Mutation | null }
  | { type: 'json'; value: unknown; fail: boolean }
  | { type: 'text'; text: string }
  | { type: 'bytes'; bytes: number[] }
  | { type: 'empty' };

export type AuthSpec = 'user' | 'admin' | 'none' | 'expired' | 'wrong-secret' | 'alg-none' | 'no-sub' | 'long-sub' | 'garbage' | 'basic' | 'bearer-only' | 'lowercase' | 'huge';
export const BAD_AUTH: readonly AuthSpec[] = ['none', 'expired', 'wrong-secret', 'alg-none', 'no-sub', 'long-sub', 'garbage', 'basic', 'bearer-only', 'huge'];

export interface Recipe {
  family: string;
  target: Target;
  id?: IdRef;
  query?: string;
  body?: BodySpec;
  auth: AuthSpec;
  deviceHeader?: { value: string; valid: boolean };
  idemKey?: { value: string; valid: boolean; fresh: boolean };
  contentType?: { value: string | null; accepted: boolean | null };
  chunked?: boolean;
  /** Overrides for the wrong-method and raw-path families. */
  method?: string;
  rawPath?: string;
  fail?: boolean;
}

// ---- building blocks ----

const noSurrogate = (s: string) => !s.includes('\u0000') && !/[\uD800-\uDFFF]/u.test(s);
export const storable = (max: number, min = 1) =>
  fc.string({ unit: fc.oneof(fc.constantFrom('a', 'Z', ' ', '-', '\'', '"', '\\', '/', '%', '<'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), minLength: min, maxLength: max })
    .filter((s) => noSurrogate(s) && s.length >= min && s.length <= max);
export const deviceIdArb = fc.stringMatching(/^[A-Za-z0-9._:@-]{1,24}$/);
const quantity = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 1e-9, max: 1e6, noNaN: true }).filter((q) => q > 0), fc.constant(5e-324));
const price = fc.oneof(fc.constant(null), fc.constant(0), fc.constant(-0), fc.double({ min: 0, max: 1e12, noNaN: true }), fc.integer({ min: 0, max: 1e9 }));
const itemArb = fc.record(
  { productId: storable(40), quantity, price, notes: fc.option(storable(60, 0), { nil: null }) },
  { requiredKeys: ['productId', 'quantity'] },
);
export const contentArb = fc.record(
  {
    customerId: storable(30),
    customerName: fc.oneof({ weight: 5, arbitrary: storable(40) }, fc.constant('Ω'.repeat(300)), fc.constant('😀'.repeat(150))),
    items: fc.array(itemArb, { maxLength: 4 }),
    notes: fc.option(storable(80, 0), { nil: null }),
    deviceId: deviceIdArb,
  },
  { requiredKeys: ['customerId', 'customerName', 'items'] },
);
const stampArb: fc.Arbitrary<Stamp> = fc.record({
  at: fc.constantFrom('now', 'newer', 'newer', 'same', 'older'),
  ms: fc.integer({ min: 1, max: 10_000_000 }),
  offsetMin: fc.constantFrom(0, 0, 60, -330, 345, -720, 840),
});
const idRefArb: fc.Arbitrary<IdRef> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ ref: 'fresh' as const }) },
  { weight: 6, arbitrary: fc.record({ ref: fc.constant('draft' as const), n: fc.nat(50), upper: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ ref: fc.constant('pending' as const), n: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.constant({ ref: 'foreign-draft' as const }) },
  { weight: 1, arbitrary: fc.constant({ ref: 'foreign-pending' as const }) },
);
/**
 * Ids that are not UUIDs (or not sendable as one path segment), as they appear in a path.
 * Raw non-ASCII bytes in the path (e.g. latin1 'éÿ') are refused by Node's HTTP parser before the
 * app sees them; http/client-error.ts answers those (and unknown method tokens, malformed header
 * lines, oversized headers) with the JSON error, tested in client-error.e2e.test.ts. Here the
 * percent-encoded forms ('%F0%9F%98%80') reach the routes.
 */
export const badIdArb: fc.Arbitrary<IdRef> = fc.oneof(
  fc.constantFrom('abc', '1', '0', '-1', 'null', 'undefined', '%00', '%ZZ', '%', '%E0%A4%A', '..', '..%2f..%2fetc%2fpasswd', '%2e%2e%2f', "1'%20OR%20'1'='1",
    '{6f1c0b7e-5a4e-4b8e-9a53-0d1f6f0f6a10}', '6f1c0b7e5a4e4b8e9a530d1f6f0f6a10', '6f1c0b7e-5a4e-4b8e-9a53-0d1f6f0f6a1', '6f1c0b7e-5a4e-4b8e-9a53-0d1f6f0f6a10a',
    'g'.repeat(36), '%F0%9F%98%80', '%E9%FF', 'a'.repeat(4000), '6f1c0b7e-5a4e-4b8e-9a53-0d1f6f0f6a10%00', '%C0%AE%C0%AE')
    .map((value) => ({ ref: 'raw' as const, value })),
  fc.stringMatching(/^[!-~]{1,40}$/).filter((s) => !/^[0-9a-f-]{36}$/i.test(s) && !s.includes('/') && !s.includes('?') && !s.includes('#')).map((value) => ({ ref: 'raw' as const, value })),
);

/** One field of a draft broken (or, with fail: false, changed in a way the contract allows). */
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  ...(
    [
      ['customerId', [42, null, '', true, [], {}, { $repeat: 'x', n: 129 }, 'a\u0000b', '\uD800', 'x\uDFFFy', { $deep: 200 }, { $delete: true }]],
      ['customerName', [{ $repeat: 'é', n: 301 }, '', 0, { $delete: true }, '\u0000', ['Rossi'], '\uDBFF']],
      ['items', ['lots', null, {}, 1, { $items: 1001 }, { $deep: 3000 }, [null], [[]], [1, 2], { $delete: true }]],
      ['notes', [{ $repeat: 'n', n: 5001 }, { $repeat: 'n', n: 70_000 }, 5, {}, 'a\u0000', '\uDC00', [] as unknown[]]],
      ['updatedAt', ['yesterday', '', 0, 1_700_000_000_000, null, '2024-13-01T00:00:00Z', '2024-01-01T25:00:00Z', '2024-01-01T00:00:00', '2024-01-01', '0000-01-01T00:00:00Z',
        '0001-01-01T00:00:00+01:00', '9999-12-31T23:00:00-02:00', '+010000-01-01T00:00:00Z', '2024-01-01T00:00:00.000+25:00', 'T', 'NaN', { $delete: true }, { $repeat: '9', n: 4000 }]],
      ['id', ['not-a-uuid', '', 42, null, '{6f1c0b7e-5a4e-4b8e-9a53-0d1f6f0f6a10}', '../../etc/passwd', "'; DROP TABLE drafts; --", { $delete: true }, { $repeat: 'a', n: 10000 }]],
      ['deviceId', ['a b', '', 42, { $repeat: 'd', n: 129 }, 'dev/1', 'dév', null]],
      [['items', 0, 'quantity'], [0, -1, -0.0001, 1_000_001, 1e308, '2', true, null, [], { $delete: true }]],
      [['items', 0, 'price'], [-0.01, 1e13, 1e308, '10', true, [], {}]],
      [['items', 0, 'productId'], ['', 7, null, { $repeat: 'p', n: 129 }, 'P\u0000', '\uD83D', { $delete: true }]],
      [['items', 0, 'notes'], [{ $repeat: 'q', n: 2001 }, 3, '\u0000', '\uDE00']],
    ] as [string | (string | number)[], unknown[]][]
  ).map(([at, values]) =>
    fc.constantFrom(...values).map((value): Mutation => ({ name: `broken ${String(at)}`, at: Array.isArray(at) ? at : [at], value, fail: true })),
  ),
  // Allowed by the contract (unknown fields ignored, edge values accepted): no failure required.
  fc.constantFrom<[(string | number)[], unknown]>(
    [['version'], 999], [['deleted'], true], [['deletedAt'], '2020-01-01T00:00:00Z'], [['convertedTo'], '6f1c0b7e-5a4e-4b8e-9a53-0d1f6f0f6a10'],
    [['serverUpdatedAt'], '1999-01-01T00:00:00Z'], [['userId'], 'someone-else'], [['__proto__'], { admin: true }], [['constructor'], { prototype: { x: 1 } }],
    [['extra'], { $deep: 2000 }], [['items', 0, 'extra'], 'x'], [['items', 0, 'price'], null], [['items', 0, 'quantity'], 1e6], [['items', 0, 'price'], 1e12],
    [['notes'], { $repeat: 'n', n: 5000 }], [['customerName'], { $repeat: 'c', n: 300 }], [['updatedAt'], '0001-01-01T00:00:00Z'],
    [['updatedAt'], '9999-12-31T23:59:59.999Z'], [['updatedAt'], '2024-02-30T00:00:00Z'], [['updatedAt'], '2024-01-01T00:00:00.123456789Z'], [['updatedAt'], '2024-01-01t00:00:00z'],
    [['items'], { $items: 1000 }], [['id'], '6F1C0B7E-5A4E-4B8E-9A53-0D1F6F0F6A10'], [['id'], '00000000-0000-0000-0000-000000000000'],
  ).map(([at, value]): Mutation => ({ name: `allowed ${at.join('.')}`, at, value, fail: false })),
);

const orderSpecArb = (idArb: fc.Arbitrary<IdRef>): fc.Arbitrary<OrderSpec> =>
  fc.record({ id: idArb, base: fc.constantFrom<'fresh' | 'stored'>('fresh', 'stored'), content: contentArb, stamp: stampArb });

const idemArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constantFrom('k-1', 'k-2', 'k-3', 'retry 7').map((value) => ({ value, valid: true, fresh: false })) },
  { weight: 1, arbitrary: fc.constant({ value: '', valid: true, fresh: true }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' \t', 'é', '\u00ff\u00fe', 'k'.repeat(256)).map((value) => ({ value, valid: false, fresh: true })) },
);
const deviceHeaderArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: deviceIdArb.map((value) => ({ value, valid: true })) },
  { weight: 1, arbitrary: fc.constantFrom('a b', 'x'.repeat(129), '\u00e9', 'dev/1', 'dev\t1', '../x', 'a,b').map((value) => ({ value, valid: false })) },
);
const authArb: fc.Arbitrary<AuthSpec> = fc.oneof({ weight: 20, arbitrary: fc.constant('user' as const) }, { weight: 1, arbitrary: fc.constant('lowercase' as const) }, { weight: 2, arbitrary: fc.constantFrom(...BAD_AUTH) });
const contentTypeArb = fc.oneof(
  { weight: 24, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constantFrom<string | null>('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'text/json', null, 'application/xml').map((value) => ({ value, accepted: false })) },
  { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/merge-patch+json', 'application/json;charset=latin1', 'application/json, text/plain', 'application/json; boundary=";"').map((value) => ({ value, accepted: null as boolean | null })) },
);

const common = { auth: authArb, deviceHeader: deviceHeaderArb, idemKey: idemArb, contentType: contentTypeArb, chunked: fc.boolean() };

/** Valid requests, most of them: the model needs accepted writes to check. */
const writeArb: fc.Arbitrary<Recipe> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ family: fc.constant('near-valid'), target: fc.constant<Target>('drafts.create'), body: fc.record({ type: fc.constant('order' as const), order: orderSpecArb(idRefArb), mutation: fc.option(mutationArb, { nil: null, freq: 2 }) }), ...common }) },
  { weight: 3, arbitrary: fc.record({ family: fc.constant('near-valid'), target: fc.constant<Target>('drafts.update'), id: idRefArb, body: fc.record({ type: fc.constant('order' as const), order: orderSpecArb(idRefArb), mutation: fc.option(mutationArb, { nil: null, freq: 2 }), baseVersion: fc.constantFrom(undefined, 'current', 'stale') }), ...common }) },
  { weight: 2, arbitrary: fc.record({ family: fc.constant('valid'), target: fc.constantFrom<Target>('drafts.delete', 'drafts.convert', 'pending.delete'), id: idRefArb, ...common }) },
  { weight: 3, arbitrary: fc.record({ family: fc.constant('near-valid'), target: fc.constant<Target>('pending.upsert'), body: fc.record({ type: fc.constant('batch' as const), orders: fc.array(orderSpecArb(idRefArb), { minLength: 1, maxLength: 4 }), mutation: fc.option(mutationArb, { nil: null, freq: 2 }) }), ...common }) },
);

const bodyRoutes: Target[] = ['drafts.create', 'drafts.update', 'pending.upsert', 'drafts.convert', 'dev.token'];
const junkBodyArb: fc.Arbitrary<BodySpec> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value) => ({ type: 'json' as const, value, fail: true })),
  fc.constantFrom<unknown>([], [{}], {}, null, 0, '""', 'true', { orders: [] }, { orders: 'x' }, { orders: [{}] }, { orders: { $orders: 501 } }, { $deep: 8000 }, { draft: {} })
    .map((value) => ({ type: 'json' as const, value, fail: true })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ type: 'text' as const, text: `{${text}` })),
  fc.constantFrom('{"id": ', '{"a":1}{"b":2}', '\uFEFF{}', "{'a':1}", '{"a":NaN}', '[1,]', '{"a":1,}', 'nul', '{"__proto__":', '\u0000').map((text) => ({ type: 'text' as const, text })),
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 300 }).map((bytes) => ({ type: 'bytes' as const, bytes })),
  fc.constant({ type: 'empty' as const }),
);
const junkArb: fc.Arbitrary<Recipe> = fc.record({ family: fc.constant('junk-body'), target: fc.constantFrom(...bodyRoutes), id: fc.oneof(idRefArb, badIdArb), body: junkBodyArb, ...common });
const badIdRecipe: fc.Arbitrary<Recipe> = fc.record({
  family: fc.constant('bad-id'),
  target: fc.constantFrom<Target>('drafts.get', 'drafts.update', 'drafts.delete', 'drafts.convert', 'pending.get', 'pending.delete', 'pending.submit', 'jobs.get', 'admin.buffer'),
  id: badIdArb,
  auth: fc.constant('user' as const),
});
const readArb: fc.Arbitrary<Recipe> = fc.oneof(
  fc.record({ family: fc.constant('read'), target: fc.constantFrom<Target>('drafts.get', 'pending.get', 'pending.submit'), id: fc.oneof(idRefArb, fc.constant({ ref: 'fresh' as const })), auth: authArb }),
  fc.record({ family: fc.constant('query'), target: fc.constant<Target>('drafts.list'), auth: authArb,
    query: fc.constantFrom('includeDeleted=true', 'includeDeleted=false', '', 'includeDeleted=maybe', 'includeDeleted=TRUE', 'includeDeleted=true&includeDeleted=false', 'includeDeleted=', 'includeDeleted', 'includeDeleted[]=true', 'includeDeleted[a]=1', '__proto__[x]=1', 'constructor[prototype][x]=1', '%ZZ=1', 'includeDeleted=%ZZ', `a=${'b'.repeat(4000)}`, 'includeDeleted=true%00') }),
  fc.record({ family: fc.constant('query'), target: fc.constant<Target>('pending.list'), auth: authArb,
    query: fc.constantFrom('', 'ids=', 'ids=,', 'ids=notauuid', 'ids=%ZZ', 'ids[]=x', '$known', '$known,$foreign', '$foreign', '$many201', '$many200', '$known&ids=$known', 'ids=6F1C0B7E-5A4E-4B8E-9A53-0D1F6F0F6A10') }),
  fc.record({ family: fc.constant('admin'), target: fc.constantFrom<Target>('admin.buffer', 'admin.connections', 'admin.stats'), auth: fc.constantFrom<AuthSpec>('admin', 'admin', 'user', 'expired', 'none'),
    id: fc.oneof(fc.constant({ ref: 'raw' as const, value: '$corpus' }), fc.constant({ ref: 'raw' as const, value: '$foreign' }), badIdArb),
    query: fc.constantFrom('', 'userId=', 'userId=$corpus', `userId=${'u'.repeat(200)}`, 'userId=%ZZ', 'userId[]=a') }),
  fc.record({ family: fc.constant('dev'), target: fc.constant<Target>('dev.token'), auth: fc.constant('none' as const), method: fc.constantFrom('POST', 'GET', 'DELETE'), body: fc.constant({ type: 'json' as const, value: { userId: 'me' }, fail: false }) }),
);

const ROUTE_PATHS = ['/api/drafts', '/api/drafts/$id', '/api/drafts/$id/convert', '/api/pending-orders', '/api/pending-orders/$id', '/api/pending-orders/$id/submit', '/api/jobs/job-1', '/healthz', '/readyz', '/metrics', '/openapi.json', '/api/admin/buffers', '/api/websocket/stats', '/ws/realtime', '/demo/', '/nope', '/api/nope'];
const WRITE_ROUTES = new Set(['POST /api/drafts', 'PUT /api/drafts/$id', 'DELETE /api/drafts/$id', 'POST /api/drafts/$id/convert', 'POST /api/pending-orders', 'DELETE /api/pending-orders/$id', 'POST /api/pending-orders/$id/submit']);
const wrongMethodArb: fc.Arbitrary<Recipe> = fc
  .record({ family: fc.constant('wrong-method'), target: fc.constant<Target>('drafts.list'), auth: fc.constant('user' as const), method: fc.constantFrom('PATCH', 'PUT', 'DELETE', 'POST', 'GET', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH', 'REPORT'), rawPath: fc.constantFrom(...ROUTE_PATHS) })
  .filter((r) => !WRITE_ROUTES.has(`${r.method} ${r.rawPath}`) && !(r.method === 'GET' && r.rawPath === '/ws/realtime'));
const traversalArb: fc.Arbitrary<Recipe> = fc.record({
  family: fc.constant('traversal'),
  target: fc.constant<Target>('drafts.list'),
  auth: fc.constantFrom<AuthSpec>('user', 'none'),
  method: fc.constantFrom('GET', 'GET', 'POST', 'DELETE'),
  rawPath: fc.constantFrom('/demo/../../package.json', '/demo/..%2f..%2fpackage.json', '/demo/%2e%2e/%2e%2e/package.json', '/demo/..%5c..%5cpackage.json', '/demo/....//....//package.json',
    '/client/../package.json', '/client/..%2f..%2f.env', '/api/drafts/..%2f..%2f..%2fetc%2fpasswd', '/api/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '//etc/passwd', '/demo/%00', '/demo/%ZZ',
    '/api/drafts/%', '/api/admin/buffers/%2e%2e', '/api/admin/buffers/..%2f..%2f', '/api/jobs/..%2f', `/demo/${'a'.repeat(3000)}`, '/api//drafts', '/API/DRAFTS', '/api/drafts/', '/api/drafts#frag',
    '/api/drafts/6f1c0b7e-5a4e-4b8e-9a53-0d1f6f0f6a10/convert/extra', '/api/drafts/6f1c0b7e-5a4e-4b8e-9a53-0d1f6f0f6a10%2fconvert', '/api/drafts;x=1', '/api/%64rafts', '/demo/index.html%00.js', '/openapi.json/..', '/metrics?x=%ZZ', '/healthz/../api/drafts'),
});

/** Resend the last keyed write that was accepted, byte for byte (DESIGN §12: the kept answer, no event). */
const repeatArb: fc.Arbitrary<Recipe> = fc.constant({ family: 'repeat', target: 'drafts.list' as Target, auth: 'user' as const });

/** The whole corpus: mostly near-valid writes, the rest junk. */
export const recipeArb: fc.Arbitrary<Recipe> = fc.oneof(
  { weight: 1, arbitrary: repeatArb },
  { weight: 10, arbitrary: writeArb },
  { weight: 3, arbitrary: junkArb },
  { weight: 2, arbitrary: badIdRecipe },
  { weight: 3, arbitrary: readArb },
  { weight: 2, arbitrary: wrongMethodArb },
  { weight: 1, arbitrary: traversalArb },
);

export { resolveCase, type ResolveContext, type ResolvedCase } from './corpus-rest-resolve.js';
export type { Expectation, WriteOp };
export const freshUuid = () => randomUUID();
