/**
 * Abuse limits on the running service (embedded mode, in-memory counters): REST writes and
 * WebSocket upgrades, per user and per address, with small limits and a 3 s window so the suite
 * can go over them and wait them out. PGlite only: the limiter sits in front of storage and does
 * not depend on it. Counting across instances on Redis: rate-limit.redis.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConfigError, loadConfig } from '../src/config.js';
import { addressKey } from '../src/http/rate-limit.js';
import { later, mintToken, newDraft, sleep, startService, TestDevice, type TestService } from './support/harness.js';
import { counterValue, rawUpgrade } from './support/rate-limit-helpers.js';

const WINDOW_MS = 3_000;

function expectRateLimited(res: { status: number; body?: any }, retryAfter: string | null | undefined, message: RegExp) {
  expect(res.status).toBe(429);
  expect(res.body.error).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(message) });
  const ms = res.body.error.details.retryAfterMs as number;
  expect(ms).toBeGreaterThan(0);
  expect(ms).toBeLessThanOrEqual(WINDOW_MS);
  // Whole seconds, rounded up: a client that waits that long is past the window.
  expect(retryAfter).toBe(String(Math.ceil(ms / 1000)));
}

async function write(svc: TestService, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(svc.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

describe('per-user limits', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({
      storage: 'pglite',
      logLevel: 'warn',
      env: {
        RATE_LIMIT_WINDOW_MS: String(WINDOW_MS),
        RATE_LIMIT_WRITES_PER_USER: '5',
        RATE_LIMIT_UPGRADES_PER_USER: '3',
        // Off here, so that only the per-user limit can refuse (per address: the next describe).
        RATE_LIMIT_WRITES_PER_IP: '0',
        RATE_LIMIT_UPGRADES_PER_IP: '0',
      },
    });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('refuses writes over the limit with 429, Retry-After and the JSON error; another user and reads are unaffected', async () => {
    const alice = await mintToken(`alice-${randomUUID()}`);
    const bob = await mintToken(`bob-${randomUUID()}`);
    const before = await counterValue(svc.url, 'rt_rate_limited_total', { kind: 'write', scope: 'user' });
    // Every write verb counts: create, update, delete, a pending batch, create (5), then a burst.
    const d = newDraft();
    expect((await write(svc, alice, 'POST', '/api/drafts', d)).status).toBe(201);
    expect((await write(svc, alice, 'PUT', `/api/drafts/${d.id}`, { ...d, notes: 'n', updatedAt: later(d.updatedAt) })).status).toBe(200);
    expect((await write(svc, alice, 'DELETE', `/api/drafts/${d.id}`)).status).toBe(200);
    expect((await write(svc, alice, 'POST', '/api/pending-orders', { orders: [newDraft()] })).status).toBe(200);
    expect((await write(svc, alice, 'POST', '/api/drafts', newDraft())).status).toBe(201);
    const refused = await Promise.all([
      write(svc, alice, 'POST', '/api/drafts', newDraft()),
      write(svc, alice, 'PUT', `/api/drafts/${d.id}`, { ...d, updatedAt: later(d.updatedAt, 2000) }),
      write(svc, alice, 'DELETE', `/api/pending-orders/${randomUUID()}`),
    ]);
    for (const r of refused) expectRateLimited(r, r.headers.get('retry-after'), /writes for this user: at most 5 per 3 s/);

    // A refused write changed nothing: the list holds what was accepted, and the 5 events.
    const list = await fetch(`${svc.url}/api/drafts?includeDeleted=true`, { headers: { authorization: `Bearer ${alice}` } });
    expect(list.status).toBe(200); // reads are never limited by the write limiter
    const listed = (await list.json()) as { items: unknown[]; seq: number };
    expect(listed.seq).toBe(5);
    for (let i = 0; i < 10; i += 1) {
      expect((await fetch(`${svc.url}/api/pending-orders`, { headers: { authorization: `Bearer ${alice}` } })).status).toBe(200);
    }

    expect((await write(svc, bob, 'POST', '/api/drafts', newDraft())).status).toBe(201);
    expect(await counterValue(svc.url, 'rt_rate_limited_total', { kind: 'write', scope: 'user' })).toBe(before + 3);
  });

  it('allows writes again once the window has passed', async () => {
    const carol = await mintToken(`carol-${randomUUID()}`);
    for (let i = 0; i < 5; i += 1) expect((await write(svc, carol, 'POST', '/api/drafts', newDraft())).status).toBe(201);
    const refused = await write(svc, carol, 'POST', '/api/drafts', newDraft());
    expect(refused.status).toBe(429);
    await sleep(Number(refused.headers.get('retry-after')) * 1000 + 50);
    expect((await write(svc, carol, 'POST', '/api/drafts', newDraft())).status).toBe(201);
  });

  it('refuses an upgrade over the limit with HTTP 429 before the handshake; open sockets and other users are unaffected', async () => {
    const user = `dana-${randomUUID()}`;
    const token = await mintToken(user);
    const before = await counterValue(svc.url, 'rt_rate_limited_total', { kind: 'upgrade', scope: 'user' });
    const rejectedBefore = await counterValue(svc.url, 'rt_ws_upgrades_rejected_total', { reason: 'rate_limited' });
    const devices = await Promise.all([0, 1, 2].map((i) => svc.device(user, `d${i}`)));
    await Promise.all(devices.map((d) => d.waitForType('HELLO')));

    const refused = await rawUpgrade(svc.wsUrl, token, 'd3');
    expectRateLimited(refused, refused.retryAfter, /WebSocket connects for this user: at most 3 per 3 s/);
    // The TestDevice (the client's Device) sees the same refusal.
    await expect(TestDevice.connect(svc.wsUrl, token, { deviceId: 'd4' })).rejects.toMatchObject({ status: 429 });

    // The three devices that got in still receive their user's events; another user still connects.
    expect((await svc.api(user).post('/api/drafts', newDraft())).status).toBe(201);
    await Promise.all(devices.map((d) => d.waitForType('DRAFT_CREATED')));
    expect((await rawUpgrade(svc.wsUrl, await mintToken(`erin-${randomUUID()}`), 'e1')).status).toBe(101);

    expect(await counterValue(svc.url, 'rt_rate_limited_total', { kind: 'upgrade', scope: 'user' })).toBe(before + 2);
    expect(await counterValue(svc.url, 'rt_ws_upgrades_rejected_total', { reason: 'rate_limited' })).toBe(rejectedBefore + 2);

    await sleep(Number(refused.retryAfter) * 1000 + 50);
    expect((await rawUpgrade(svc.wsUrl, token, 'd5')).status).toBe(101);
    for (const d of devices) d.terminate();
  });

  it('a bad token is still 401, not counted against anyone', async () => {
    const before = await counterValue(svc.url, 'rt_rate_limited_total', { kind: 'upgrade', scope: 'user' });
    for (let i = 0; i < 5; i += 1) expect((await rawUpgrade(svc.wsUrl, 'not-a-jwt', `x${i}`)).status).toBe(401);
    expect(await counterValue(svc.url, 'rt_rate_limited_total', { kind: 'upgrade', scope: 'user' })).toBe(before);
  });
});

describe('per-address limits', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({
      storage: 'pglite',
      logLevel: 'warn',
      env: {
        RATE_LIMIT_WINDOW_MS: String(WINDOW_MS),
        RATE_LIMIT_WRITES_PER_IP: '6',
        RATE_LIMIT_UPGRADES_PER_IP: '4',
      },
    });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('counts the writes of every user from one address together', async () => {
    const tokens = await Promise.all([1, 2, 3, 4].map((i) => mintToken(`ip-${i}-${randomUUID()}`)));
    for (const t of tokens.slice(0, 3)) {
      for (let i = 0; i < 2; i += 1) expect((await write(svc, t, 'POST', '/api/drafts', newDraft())).status).toBe(201);
    }
    // A fourth user, under their own limit, from the same address (127.0.0.1).
    const refused = await write(svc, tokens[3]!, 'POST', '/api/drafts', newDraft());
    expectRateLimited(refused, refused.headers.get('retry-after'), /writes from this address: at most 6 per 3 s/);
    expect((await fetch(`${svc.url}/api/drafts`, { headers: { authorization: `Bearer ${tokens[3]}` } })).status).toBe(200);
    expect(await counterValue(svc.url, 'rt_rate_limited_total', { kind: 'write', scope: 'ip' })).toBe(1);
    await sleep(Number(refused.headers.get('retry-after')) * 1000 + 50);
    expect((await write(svc, tokens[3]!, 'POST', '/api/drafts', newDraft())).status).toBe(201);
  });

  it('counts the upgrades of every user from one address together', async () => {
    const tokens = await Promise.all([1, 2, 3, 4, 5].map((i) => mintToken(`ipws-${i}-${randomUUID()}`)));
    for (const [i, t] of tokens.slice(0, 4).entries()) expect((await rawUpgrade(svc.wsUrl, t, `d${i}`)).status).toBe(101);
    const refused = await rawUpgrade(svc.wsUrl, tokens[4]!, 'd4');
    expectRateLimited(refused, refused.retryAfter, /from this address: at most 4 per 3 s/);
    expect(await counterValue(svc.url, 'rt_rate_limited_total', { kind: 'upgrade', scope: 'ip' })).toBe(1);
  });
});

describe('per-address limits behind a proxy (TRUST_PROXY_HOPS)', () => {
  const xff = (address: string) => ({ 'x-forwarded-for': address });
  let direct: TestService;
  let proxied: TestService;
  beforeAll(async () => {
    const env = { RATE_LIMIT_WINDOW_MS: String(WINDOW_MS), RATE_LIMIT_WRITES_PER_IP: '3', RATE_LIMIT_UPGRADES_PER_IP: '2' };
    [direct, proxied] = await Promise.all([
      startService({ storage: 'pglite', logLevel: 'warn', env }),
      startService({ storage: 'pglite', logLevel: 'warn', env: { ...env, TRUST_PROXY_HOPS: '1' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([direct?.close(), proxied?.close()]);
  });

  it('with TRUST_PROXY_HOPS=1, counts each forwarded client on its own; what a client puts before the proxy\'s entry changes nothing', async () => {
    const tokens = await Promise.all([1, 2, 3].map((i) => mintToken(`xff-${i}-${randomUUID()}`)));
    // Two clients behind the same proxy (both from 127.0.0.1): three writes each, both under the limit.
    for (const [i, client] of ['203.0.113.1', '203.0.113.2'].entries()) {
      for (let n = 0; n < 3; n += 1) expect((await write(proxied, tokens[i]!, 'POST', '/api/drafts', newDraft(), xff(client))).status).toBe(201);
    }
    // A third user from the first client's address, trying to pass as someone else: still that address.
    const refused = await write(proxied, tokens[2]!, 'POST', '/api/drafts', newDraft(), xff('198.51.100.9, 203.0.113.1'));
    expectRateLimited(refused, refused.headers.get('retry-after'), /writes from this address: at most 3 per 3 s/);
    // Upgrades count per forwarded client too.
    const user = `xffws-${randomUUID()}`;
    const token = await mintToken(user);
    for (let i = 0; i < 2; i += 1) expect((await rawUpgrade(proxied.wsUrl, token, `d${i}`, xff('203.0.113.5'))).status).toBe(101);
    expect((await rawUpgrade(proxied.wsUrl, token, 'd2', xff('203.0.113.5'))).status).toBe(429);
    expect((await rawUpgrade(proxied.wsUrl, token, 'd3', xff('203.0.113.6'))).status).toBe(101);
    // The admin's device list shows the forwarded address of an open device.
    const ws = new WebSocket(`${proxied.wsUrl}?deviceId=kept`, { headers: { authorization: `Bearer ${token}`, ...xff('203.0.113.7') } });
    try {
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const conns = (await proxied.api('ops', { admin: true }).get(`/api/admin/connections?userId=${user}`)).body;
      // (The devices above may still be closing: only this one is looked at.)
      const kept = (conns.connections as { deviceId: string; remoteAddress: string }[]).filter((c) => c.deviceId === 'kept');
      expect(kept.map((c) => c.remoteAddress)).toEqual(['203.0.113.7']);
    } finally {
      ws.terminate();
    }
  });

  it('with no trusted proxy (the default), X-Forwarded-For is ignored: a client cannot step out of its limit with it', async () => {
    const token = await mintToken(`xff-direct-${randomUUID()}`);
    for (let n = 0; n < 3; n += 1) expect((await write(direct, token, 'POST', '/api/drafts', newDraft(), xff(`203.0.113.${10 + n}`))).status).toBe(201);
    const refused = await write(direct, token, 'POST', '/api/drafts', newDraft(), xff('203.0.113.99'));
    expectRateLimited(refused, refused.headers.get('retry-after'), /writes from this address: at most 3 per 3 s/);
  });
});

describe('RATE_LIMIT_ENABLED=false', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({
      storage: 'pglite',
      logLevel: 'warn',
      env: { RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_WRITES_PER_USER: '1', RATE_LIMIT_UPGRADES_PER_USER: '1' },
    });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('limits nothing', async () => {
    const token = await mintToken(`free-${randomUUID()}`);
    for (let i = 0; i < 4; i += 1) expect((await write(svc, token, 'POST', '/api/drafts', newDraft())).status).toBe(201);
    for (let i = 0; i < 3; i += 1) expect((await rawUpgrade(svc.wsUrl, token, `d${i}`)).status).toBe(101);
  });
});

describe('rate limit configuration', () => {
  it('has defaults no documented load reaches', () => {
    const { rateLimit } = loadConfig({});
    expect(rateLimit).toEqual({ enabled: true, windowMs: 10_000, writesPerUser: 1_000, writesPerIp: 20_000, upgradesPerUser: 100, upgradesPerIp: 50_000 });
  });

  it.each([
    ['RATE_LIMIT_WINDOW_MS', '1500'],
    ['RATE_LIMIT_WINDOW_MS', '0'],
    ['RATE_LIMIT_WRITES_PER_USER', '-1'],
    ['RATE_LIMIT_UPGRADES_PER_IP', 'lots'],
    ['RATE_LIMIT_ENABLED', 'maybe'],
    ['TRUST_PROXY_HOPS', '-1'],
  ])('refuses %s=%s at start-up, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it('keys addresses: IPv4 as is, IPv4-mapped unwrapped, IPv6 by /64', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('2001:db8:0:1:aaaa::1')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8:0:1:bbbb:cccc:dddd:eeee')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey(undefined)).toBeNull();
  });
});
