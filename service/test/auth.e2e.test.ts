import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { SignJWT, importPKCS8 } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../src/auth.js';
import { mintToken, newDraft, sleep, startService, storageVariants, TestDevice, TEST_SECRET, type TestService } from './support/harness.js';

const b64url = (s: string) => Buffer.from(s).toString('base64url');

describe.each(storageVariants())('authentication and authorization ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    if (!skip) svc = await startService({ storage: kind, env: { TOKEN_EXPIRY_NOTICE_MS: '1500' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  const badTokens = async (): Promise<[string, string | null][]> => {
    const good = await mintToken('mallory');
    const [h, p] = good.split('.');
    return [
      ['missing', null],
      ['malformed', 'not-a-jwt'],
      ['expired', await mintToken('mallory', { ttlSec: -60 })],
      ['wrong signature', await mintToken('mallory', { secret: 'another-secret-0123456789-0123456789-xyz' })],
      ['alg none', `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`],
      ['tampered payload', `${h}.${b64url(JSON.stringify({ sub: 'admin', role: 'admin' }))}.${good.split('.')[2]}`],
    ];
  };

  it.skipIf(skip)('each bad token is refused with HTTP 401 before the upgrade (header and ?token=)', async () => {
    for (const [name, token] of await badTokens()) {
      for (const viaQuery of [false, true]) {
        const err = await TestDevice.connect(svc.wsUrl, token, { deviceId: 'd1' }, { viaQuery }).then(
          () => null,
          (e: { status?: number; body?: string }) => e,
        );
        expect(err, `${name} via ${viaQuery ? 'query' : 'header'}`).toMatchObject({ status: 401 });
        expect(JSON.parse(err!.body!).error.code).toBe('UNAUTHORIZED');
      }
    }
  });

  it.skipIf(skip)('REST refuses bad tokens with 401 JSON and a WWW-Authenticate header', async () => {
    for (const [name, token] of await badTokens()) {
      const res = await fetch(`${svc.url}/api/drafts`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      expect(res.status, name).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    }
  });

  it.skipIf(skip)('a token in ?token= works for browsers and never appears in the logs', async () => {
    const token = await mintToken(`u-${randomUUID()}`);
    const dev = await TestDevice.connect(svc.wsUrl, token, { deviceId: 'browser' }, { viaQuery: true });
    await dev.waitForType('HELLO');
    await fetch(`${svc.url}/api/nothing?token=${token}`);
    await sleep(50);
    const all = svc.logs.join('');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]);
    expect(all).not.toContain(TEST_SECRET);
    dev.terminate();
  });

  it.skipIf(skip)('an upgrade whose URL cannot be parsed gets 400, and its ?token= never reaches the logs', async () => {
    const token = await mintToken(`u-${randomUUID()}`);
    const port = Number(new URL(svc.url).port);
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `GET //[bad/ws/realtime?deviceId=d1&token=${token} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n` +
            `Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
        );
      });
      let data = '';
      socket.on('data', (d) => (data += String(d)));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)).error.code).toBe('BAD_REQUEST');
    await sleep(50);
    const all = svc.logs.join('');
    expect(all).not.toContain(token.split('.')[2]);
  });

  it.skipIf(skip)('admin routes: 403 for an agent, 200 for an admin', async () => {
    const agent = svc.api('agent-1');
    const admin = svc.api('ops', { admin: true });
    const dev = await svc.device('agent-1', 'phone');
    await dev.waitForType('HELLO');
    await agent.post('/api/drafts', newDraft());
    await dev.waitForSeq(1);
    for (const path of ['/api/websocket/stats', '/api/admin/buffers', '/api/admin/buffers/agent-1', '/api/admin/connections']) {
      const r = await agent.get(path);
      expect(r.status, path).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
      expect((await admin.get(path)).status, path).toBe(200);
    }
    const stats = (await admin.get('/api/websocket/stats')).body;
    expect(stats).toMatchObject({ instanceId: svc.app.instanceId, totalConnections: 1, activeUsers: 1 });
    expect(stats.buffer.events).toBeGreaterThanOrEqual(1);
    const buffer = (await admin.get('/api/admin/buffers/agent-1')).body;
    expect(buffer.events.map((e: { seq: number; type: string }) => [e.seq, e.type])).toEqual([[1, 'DRAFT_CREATED']]);
    const conns = (await admin.get('/api/admin/connections?userId=agent-1')).body;
    expect(conns.connections).toEqual([expect.objectContaining({ userId: 'agent-1', deviceId: 'phone', instanceId: svc.app.instanceId })]);
    expect((await admin.get('/api/admin/buffers/nobody')).status).toBe(404);
    dev.terminate();
  });

  it.skipIf(skip)('TOKEN_EXPIRING before exp, then close 4401 at exp', async () => {
    const token = await mintToken(`u-${randomUUID()}`, { ttlSec: 3 });
    const dev = await TestDevice.connect(svc.wsUrl, token, { deviceId: 'phone' });
    const [notice] = await dev.waitForType('TOKEN_EXPIRING', 1, 4_000);
    expect(Date.parse(notice!.payload.expiresAt)).toBeGreaterThan(Date.now());
    expect(dev.frames[0]!.type).toBe('HELLO');
    expect(await dev.closed(6_000)).toBe(4401);
  });

  it.skipIf(skip)('a token already inside the notice window: HELLO first, then TOKEN_EXPIRING at once', async () => {
    const token = await mintToken(`u-${randomUUID()}`, { ttlSec: 1 });
    const dev = await TestDevice.connect(svc.wsUrl, token, { deviceId: 'phone' });
    await dev.waitForType('TOKEN_EXPIRING', 1, 900);
    expect(dev.frames.map((f) => f.type).slice(0, 2)).toEqual(['HELLO', 'TOKEN_EXPIRING']);
    expect(await dev.closed(4_000)).toBe(4401);
  });

  it.skipIf(skip)('in-band AUTH renews the token without reconnecting; another sub is refused with 1008', async () => {
    const u = `u-${randomUUID()}`;
    const dev = await TestDevice.connect(svc.wsUrl, await mintToken(u, { ttlSec: 3 }), { deviceId: 'phone' });
    await dev.waitForType('HELLO');
    dev.send({ type: 'AUTH', payload: { token: await mintToken(u, { ttlSec: 3600 }) } });
    const [ok] = await dev.waitForType('AUTH_OK');
    expect(Date.parse(ok!.payload.expiresAt)).toBeGreaterThan(Date.now() + 3_000_000);
    dev.send({ type: 'AUTH', payload: { token: 'garbage' } });
    const [err] = await dev.waitForType('ERROR');
    expect(err!.payload.code).toBe('AUTH_FAILED');
    await sleep(3_500);
    expect(dev.closeCode).toBeNull(); // the old expiry no longer applies
    await svc.api(u).post('/api/drafts', newDraft());
    await dev.waitForSeq(1);
    dev.send({ type: 'AUTH', payload: { token: await mintToken('someone-else') } });
    expect(await dev.closed()).toBe(1008);
  });
});

describe('asymmetric keys', () => {
  it('verifies RS256 tokens with JWT_PUBLIC_KEY and refuses HS256 ones then', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const verify = await createTokenVerifier({
      secret: undefined,
      publicKey: pem,
      jwksUrl: undefined,
      issuer: 'https://idp.example',
      audience: 'archibald',
      usingDevSecret: false,
    });
    const key = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256');
    const token = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject('agent-7')
      .setIssuer('https://idp.example')
      .setAudience('archibald')
      .setExpirationTime('5m')
      .sign(key);
    await expect(verify(token)).resolves.toMatchObject({ userId: 'agent-7', admin: true });
    const wrongAud = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('a').setIssuer('https://idp.example').setAudience('other').sign(key);
    await expect(verify(wrongAud)).rejects.toMatchObject({ reason: 'claims' });
    await expect(verify(await mintToken('a'))).rejects.toMatchObject({ reason: 'algorithm' });
  });
});
