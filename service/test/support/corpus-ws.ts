/**
 * The WebSocket side of the generated corpus: sessions of client frames (PING, RESUME, AUTH, unknown
 * types, random JSON, non-JSON, binary, oversized, frames before HELLO) and upgrade requests with a
 * bad query or Authorization, run over a raw `ws` socket so garbage goes out exactly as generated,
 * and what DESIGN §5 says each must get back.
 */
import fc from 'fast-check';
import WebSocket from 'ws';
import { errorShapeProblems, findLeaks } from './corpus.js';
import { eventKey, type ExpectedEvent } from './corpus-model.js';

export type TokenSpec = 'same' | 'other-user' | 'expired' | 'garbage' | 'wrong-secret' | 'empty' | 'huge' | 'admin-same';
export type FrameSpec =
  | { k: 'ping'; clientTime?: number }
  | { k: 'resume'; lastSeq: number }
  | { k: 'auth'; token: TokenSpec }
  | { k: 'bad-json'; value: unknown }
  | { k: 'text'; text: string }
  | { k: 'binary'; bytes: number[] }
  | { k: 'oversized'; n: number };

export interface Session {
  /** Query of the upgrade: `ok` or one broken parameter (then no frame is sent). */
  query: { name: string; params: Record<string, string>; ok: boolean };
  auth: 'header' | 'query' | 'none' | 'expired' | 'garbage' | 'wrong-secret' | 'basic';
  before: FrameSpec[];
  after: FrameSpec[];
}

const tokenArb = fc.constantFrom<TokenSpec>('same', 'same', 'admin-same', 'other-user', 'expired', 'garbage', 'wrong-secret', 'empty', 'huge');
const badJsonArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom<unknown>(
    { type: 'PING', payload: { clientTime: 'now' } }, { type: 'PING', payload: 1 }, { type: 'ping' }, { type: 'RESUME' }, { type: 'RESUME', payload: { lastSeq: -1 } },
    { type: 'RESUME', payload: { lastSeq: 1.5 } }, { type: 'RESUME', payload: { lastSeq: '3' } }, { type: 'RESUME', payload: { lastSeq: 1e308 } }, { type: 'AUTH', payload: {} },
    { type: 'AUTH', payload: { token: 42 } }, { type: 'AUTH', payload: { token: 'x'.repeat(3000) } }, { type: 'HELLO', payload: {} }, { type: 'DRAFT_CREATED', payload: { draftId: 'x' } },
    { type: 'SUBSCRIBE', payload: { userId: 'someone-else' } }, { type: '__proto__' }, { type: 'constructor', payload: { prototype: {} } }, { type: null }, { type: ['PING'] }, [],
    { payload: { clientTime: 1 } }, { type: 'PING'.repeat(1000) },
  ),
  fc.record({ type: fc.string({ maxLength: 20 }), payload: fc.jsonValue({ maxDepth: 2 }) }).filter((f) => !['PING', 'RESUME', 'AUTH'].includes(f.type)),
);
const frameArb: fc.Arbitrary<FrameSpec> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ k: fc.constant('ping' as const), clientTime: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })) }, { requiredKeys: ['k'] }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('resume' as const), lastSeq: fc.oneof(fc.nat(20), fc.constant(0), fc.integer({ min: 1000, max: 2 ** 40 })) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('auth' as const), token: tokenArb }) },
  { weight: 12, arbitrary: fc.record({ k: fc.constant('bad-json' as const), value: badJsonArb }) },
  { weight: 6, arbitrary: fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }).filter((t) => !isJson(t)), fc.constantFrom('', '{', 'PING', '{"type":"PING"', 'null,', '\u0000', '\uFEFF{"type":"PING"}')).map((text) => ({ k: 'text' as const, text })) },
  { weight: 3, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 0, maxLength: 64 }).map((bytes) => ({ k: 'binary' as const, bytes })) },
  { weight: 1, arbitrary: fc.integer({ min: 4097, max: 20_000 }).map((n) => ({ k: 'oversized' as const, n })) },
);
const badQueries: [string, Record<string, string>][] = [
  ['no deviceId', {}], ['empty deviceId', { deviceId: '' }], ['deviceId with a space', { deviceId: 'a b' }], ['long deviceId', { deviceId: 'd'.repeat(129) }],
  ['deviceId with a slash', { deviceId: 'dev/1' }], ['lastSeq -1', { deviceId: 'q', lastSeq: '-1' }], ['lastSeq abc', { deviceId: 'q', lastSeq: 'abc' }],
  ['lastSeq 1.5', { deviceId: 'q', lastSeq: '1.5' }], ['lastSeq 1e999', { deviceId: 'q', lastSeq: '1e999' }], ['empty epoch', { deviceId: 'q', epoch: '' }],
  ['long epoch', { deviceId: 'q', epoch: 'e'.repeat(65) }], ['lastEventTs yesterday', { deviceId: 'q', lastEventTs: 'yesterday' }],
  ['lastEventTs year 0', { deviceId: 'q', lastEventTs: '0000-01-01T00:00:00Z' }], ['lastEventTs no offset', { deviceId: 'q', lastEventTs: '2024-01-01T00:00:00' }],
];
const okQueries: [string, Record<string, string>][] = [
  ['plain', {}], ['lastSeq 0', { lastSeq: '0' }], ['lastSeq 2', { lastSeq: '2' }], ['lastSeq ahead', { lastSeq: '999999' }], ['foreign epoch', { lastSeq: '1', epoch: 'not-the-epoch' }],
  ['lastSeq without epoch', { lastSeq: '1' }], ['unknown param', { foo: 'bar', lastSeqq: 'x' }], ['old lastEventTs', { lastEventTs: '2001-01-01T00:00:00Z' }],
  ['lastEventTs offset', { lastEventTs: '2100-01-01T00:00:00+05:30' }],
];
const queryArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...okQueries), fc.stringMatching(/^[A-Za-z0-9._:@-]{1,24}$/)).map(([[name, p], deviceId]) => ({ name, params: { deviceId, ...p }, ok: true })) },
  { weight: 1, arbitrary: fc.constantFrom(...badQueries).map(([name, params]) => ({ name, params, ok: false })) },
);

export const sessionArb: fc.Arbitrary<Session> = fc.record({
  query: queryArb,
  auth: fc.oneof({ weight: 10, arbitrary: fc.constantFrom<'header' | 'query'>('header', 'header', 'query') }, { weight: 1, arbitrary: fc.constantFrom<Session['auth']>('none', 'expired', 'garbage', 'wrong-secret', 'basic') }),
  before: fc.oneof({ weight: 4, arbitrary: fc.array(frameArb, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constant(Array.from({ length: 20 }, (): FrameSpec => ({ k: 'ping', clientTime: 7 }))) }),
  after: fc.array(frameArb, { minLength: 1, maxLength: 8 }),
});

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

export interface SessionContext {
  wsUrl: string;
  tokens: Record<'same' | 'other-user' | 'expired' | 'wrong-secret' | 'admin-same', string>;
  /** WS_MAX_PAYLOAD_BYTES of the service: a larger frame is closed with 1009. */
  maxFrameBytes: number;
  /** The user's log as the model knows it (what a RESUME may replay). */
  events: readonly ExpectedEvent[];
}

interface Outcome {
  refused: { status: number; contentType: string; body: string } | null;
  frames: string[];
  closeCode: number | null;
  sent: string[];
}

function encode(f: FrameSpec, ctx: SessionContext): { data: string | Buffer; binary: boolean } {
  switch (f.k) {
    case 'ping':
      return { data: JSON.stringify({ type: 'PING', payload: f.clientTime === undefined ? {} : { clientTime: f.clientTime } }), binary: false };
    case 'resume':
      return { data: JSON.stringify({ type: 'RESUME', payload: { lastSeq: f.lastSeq } }), binary: false };
    case 'auth': {
      const token = f.token === 'garbage' ? 'a.b.c' : f.token === 'empty' ? '' : f.token === 'huge' ? 'A'.repeat(3000) : ctx.tokens[f.token];
      return { data: JSON.stringify({ type: 'AUTH', payload: { token } }), binary: false };
    }
    case 'bad-json':
      return { data: JSON.stringify(f.value) ?? 'null', binary: false };
    case 'text':
      return { data: f.text, binary: false };
    case 'binary':
      return { data: Buffer.from(f.bytes), binary: true };
    case 'oversized':
      return { data: JSON.stringify({ type: 'PING', payload: { pad: 'x'.repeat(f.n) } }), binary: false };
  }
}

/** Whether the gateway must answer the frame, and how (null: RESUME, whose answer depends on the log). */
function answerOf(f: FrameSpec, ctx: SessionContext): 'PONG' | 'AUTH_OK' | 'ERROR' | 'CLOSE' | 'TOO_BIG' | null {
  const { data } = encode(f, ctx);
  if ((typeof data === 'string' ? Buffer.byteLength(data) : data.length) > ctx.maxFrameBytes) return 'TOO_BIG';
  if (f.k === 'ping') return 'PONG';
  if (f.k === 'resume') return null;
  if (f.k === 'auth') return f.token === 'same' || f.token === 'admin-same' ? 'AUTH_OK' : f.token === 'other-user' ? 'CLOSE' : 'ERROR';
  return 'ERROR';
}

/** Open one socket, send the session's frames (some before HELLO), read until answered or closed. */
export async function runSession(s: Session, ctx: SessionContext): Promise<Outcome> {
  const url = new URL(ctx.wsUrl);
  for (const [k, v] of Object.entries(s.query.params)) url.searchParams.set(k, v);
  const headers: Record<string, string> = {};
  const t = ctx.tokens;
  if (s.auth === 'header') headers.authorization = `Bearer ${t.same}`;
  if (s.auth === 'query') url.searchParams.set('token', t.same);
  if (s.auth === 'expired' || s.auth === 'wrong-secret') headers.authorization = `Bearer ${t[s.auth]}`;
  if (s.auth === 'garbage') headers.authorization = 'Bearer x.y.z';
  if (s.auth === 'basic') headers.authorization = 'Basic dXNlcjpwYXNz';
  const out: Outcome = { refused: null, frames: [], closeCode: null, sent: [] };
  const expected = [...s.before, ...s.after].map((f) => answerOf(f, ctx)).filter((a) => a === 'PONG' || a === 'AUTH_OK' || a === 'ERROR').length;
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const send = (f: FrameSpec) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    const { data, binary } = encode(f, ctx);
    out.sent.push(String(data));
    ws.send(data, { binary });
  };
  await new Promise<void>((resolve) => {
    let settle: NodeJS.Timeout | null = null;
    const done = () => {
      clearTimeout(timer);
      if (settle) clearTimeout(settle);
      resolve();
    };
    const timer = setTimeout(done, 3_000);
    const answers = () => out.frames.filter((f) => /"type":"(PONG|AUTH_OK|ERROR)"/.test(f.slice(0, 40))).length;
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => {
        out.refused = { status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body };
        done();
      });
    });
    ws.on('open', () => s.before.forEach(send));
    ws.on('message', (data) => {
      out.frames.push(String(data));
      if (out.frames.length === 1) s.after.forEach(send);
      // Everything answered: wait a little for anything unexpected, then stop.
      if (answers() >= expected && !settle) settle = setTimeout(done, 40);
    });
    ws.on('close', (code) => {
      out.closeCode = code;
      done();
    });
    ws.on('error', () => undefined);
  });
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else ws.terminate();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1_000))]);
    if (out.closeCode === 1000 || out.closeCode === 1005 || out.closeCode === 1006) out.closeCode = null; // our own close
  }
  return out;
}

/** What contradicts DESIGN §5 in one session's outcome. */
export function sessionProblems(s: Session, out: Outcome, ctx: SessionContext): string[] {
  const problems: string[] = [];
  const badUpgrade = !s.query.ok || !['header', 'query'].includes(s.auth);
  if (badUpgrade) {
    if (!out.refused) return [`upgrade with ${s.query.name} / auth ${s.auth} was accepted`];
    const allowed = s.query.ok ? [401] : [400, 401];
    if (!allowed.includes(out.refused.status)) problems.push(`refused with ${out.refused.status}, expected ${allowed.join('/')}`);
    const json = (() => { try { return JSON.parse(out.refused.body) as unknown; } catch { return undefined; } })();
    problems.push(...errorShapeProblems({ status: out.refused.status, headers: { 'content-type': out.refused.contentType }, text: out.refused.body, json }));
    return problems;
  }
  if (out.refused) return [`a valid upgrade was refused: ${out.refused.status} ${out.refused.body}`];
  const sent = out.sent.join('\n');
  const frames = out.frames.map((text) => {
    try {
      return JSON.parse(text) as { type?: unknown; payload?: Record<string, unknown>; timestamp?: unknown; seq?: number };
    } catch {
      problems.push(`a frame that is not JSON: ${text.slice(0, 100)}`);
      return {};
    }
  });
  for (const text of out.frames) {
    const leaks = findLeaks(text.replace(/"payload":\{"draftId".*$/, ''), sent);
    if (leaks.length > 0) problems.push(`leaked ${JSON.stringify(leaks.slice(0, 3))} in ${text.slice(0, 200)}`);
  }
  const all = [...s.before, ...s.after];
  const sentKinds = all.slice(0, out.sent.length).map((f) => answerOf(f, ctx));
  const flood = s.before.length > 16;
  const mayClose = new Set<number>();
  if (sentKinds.includes('ERROR') || flood || sentKinds.includes('CLOSE')) mayClose.add(1008);
  if (sentKinds.includes('TOO_BIG')) mayClose.add(1009);
  if (out.closeCode !== null && !mayClose.has(out.closeCode)) problems.push(`closed with ${out.closeCode}`);
  if (frames.length > 0 && frames[0]!.type !== 'HELLO') problems.push(`first frame is ${String(frames[0]!.type)}, not HELLO`);
  if (frames.length === 0 && out.closeCode === null) problems.push('no HELLO');
  for (const f of frames) {
    if (typeof f.type !== 'string' || typeof f.timestamp !== 'string') problems.push(`frame without type/timestamp: ${JSON.stringify(f).slice(0, 100)}`);
    if (f.type === 'ERROR' && (typeof f.payload?.code !== 'string' || typeof f.payload?.message !== 'string')) problems.push(`ERROR frame ${JSON.stringify(f.payload)}`);
    if (f.seq !== undefined) {
      const e = ctx.events[f.seq - 1];
      if (!e || e.type !== f.type || e.key !== eventKey(String(f.type), f.payload ?? {})) problems.push(`event seq ${f.seq} ${String(f.type)} is not the user's (${JSON.stringify(e)})`);
    }
  }
  // Answers: a PONG per PING, in order and with the clientTime sent; an AUTH_OK per good AUTH and an
  // ERROR per bad frame (counted: AUTH is verified asynchronously, so its answer may come later).
  const want = { pongs: [] as string[], auths: 0, errors: 0 };
  for (const f of all) {
    const a = answerOf(f, ctx);
    if (a === 'PONG') want.pongs.push(JSON.stringify(f.k === 'ping' ? (f.clientTime ?? null) : null));
    if (a === 'AUTH_OK') want.auths += 1;
    if (a === 'ERROR') want.errors += 1;
  }
  const got = {
    pongs: frames.filter((f) => f.type === 'PONG').map((f) => JSON.stringify(f.payload?.clientTime ?? null)),
    auths: frames.filter((f) => f.type === 'AUTH_OK').length,
    errors: frames.filter((f) => f.type === 'ERROR' && f.payload?.code !== 'AUTH_USER_MISMATCH').length,
  };
  const complete = got.pongs.join() === want.pongs.join() && got.auths === want.auths && got.errors === want.errors;
  const partial = got.pongs.every((p, i) => p === want.pongs[i]) && got.auths <= want.auths && got.errors <= want.errors;
  if (out.closeCode === null ? !complete : !partial) {
    problems.push(`answers ${JSON.stringify(got).slice(0, 300)}, expected ${out.closeCode === null ? '' : 'at most '}${JSON.stringify(want).slice(0, 300)}`);
  }
  return problems;
}
