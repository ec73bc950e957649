/**
 * JWT_JWKS_URL against an identity provider's JWKS endpoint served by this test on loopback (a
 * node:http server; keys made with jose). The real service, real HTTP, real WebSocket upgrades:
 * RS256 and ES256 accepted, key rotation (a new kid fetched once the endpoint serves it, a removed
 * kid refused once the set is fetched again), and the endpoint down (closed, or answering 500):
 * 503 for a token whose key is unknown, while tokens of known keys keep working.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../src/auth.js';
import { mintToken, sleep, startService, TestDevice, type TestService } from './support/harness.js';

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(alg: SigningKey['alg'], kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const sign = (key: SigningKey, sub: string, claims: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid }).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(key.privateKey);

/** The identity provider's JWKS endpoint: serves `keys`, or 500 while `failing`; counts the fetches. */
class JwksEndpoint {
  keys: SigningKey[] = [];
  failing = false;
  fetches = 0;
  private server: Server = this.newServer();
  port = 0;

  private newServer(): Server {
    return createServer((req, res) => {
      this.fetches += 1;
      if (this.failing) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('identity provider error');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`;
  }

  async start(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Gone: the port refuses connections. */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server = this.newServer();
  }
}

async function restGet(svc: TestService, token: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${svc.url}/api/drafts`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}

/** The upgrade's answer: 101 (HELLO received), or the refusal's status and JSON body. */
async function upgrade(svc: TestService, token: string): Promise<{ status: number; body?: any }> {
  try {
    const dev = await TestDevice.connect(svc.wsUrl, token, { deviceId: `d-${randomUUID().slice(0, 6)}` });
    await dev.waitForType('HELLO');
    dev.terminate();
    return { status: 101 };
  } catch (err) {
    const e = err as { status?: number; body?: string };
    if (e.status === undefined) throw err;
    return { status: e.status, body: e.body ? JSON.parse(e.body) : undefined };
  }
}

const COOLDOWN_MS = 300;
const MAX_AGE_MS = 1_500;

describe('JWT_JWKS_URL against a JWKS endpoint on loopback', () => {
  const idp = new JwksEndpoint();
  let svc: TestService;
  let rs1: SigningKey;
  let es1: SigningKey;
  let rs2: SigningKey;
  let rs3: SigningKey;

  beforeAll(async () => {
    [rs1, es1, rs2, rs3] = await Promise.all([makeKey('RS256', 'rs-1'), makeKey('ES256', 'es-1'), makeKey('RS256', 'rs-2'), makeKey('RS256', 'rs-3')]);
    idp.keys = [rs1, es1];
    await idp.start();
    svc = await startService({
      storage: 'pglite',
      logLevel: 'info',
      env: {
        JWT_SECRET: '', // the identity provider's keys only
        JWT_JWKS_URL: idp.url,
        JWT_JWKS_COOLDOWN_MS: String(COOLDOWN_MS),
        JWT_JWKS_CACHE_MAX_AGE_MS: String(MAX_AGE_MS),
        JWT_JWKS_TIMEOUT_MS: '1000',
      },
    });
  });
  afterAll(async () => {
    await svc?.close();
    await idp.stop().catch(() => undefined);
  });

  it('accepts RS256 and ES256 tokens on REST and on the upgrade; an HS256 token or an unknown kid gets 401', async () => {
    for (const key of [rs1, es1]) {
      const token = await sign(key, `u-${key.alg}`, { role: 'admin' });
      expect((await restGet(svc, token)).status, key.alg).toBe(200);
      expect((await upgrade(svc, token)).status, key.alg).toBe(101);
      const stats = await fetch(`${svc.url}/api/websocket/stats`, { headers: { authorization: `Bearer ${token}` } });
      expect(stats.status, `${key.alg} admin claim`).toBe(200);
    }
    const hs = await restGet(svc, await mintToken('u-hs'));
    expect(hs.status).toBe(401);
    expect(hs.body.error.code).toBe('UNAUTHORIZED');
    await sleep(COOLDOWN_MS);
    const unknown = await restGet(svc, await sign(rs3, 'u-unknown'));
    expect(unknown.status).toBe(401); // the endpoint answered: the key is not the provider's
    expect((await upgrade(svc, await sign(rs3, 'u-unknown'))).status).toBe(401);
  });

  it('rotation: a new kid is accepted once the endpoint serves it, without hammering the endpoint meanwhile', async () => {
    const token = await sign(rs2, 'u-rotated');
    await sleep(COOLDOWN_MS);
    expect((await restGet(svc, token)).status).toBe(401); // not published yet
    const before = idp.fetches;
    const started = Date.now();
    for (let i = 0; i < 20; i++) expect((await restGet(svc, await sign(rs2, `u-r${i}`))).status).toBe(401);
    // At most one fetch per cooldown, however many tokens with the unknown kid come.
    expect(idp.fetches - before).toBeLessThanOrEqual(Math.floor((Date.now() - started) / COOLDOWN_MS) + 1);
    idp.keys = [rs1, es1, rs2];
    await sleep(COOLDOWN_MS + 50);
    expect((await restGet(svc, token)).status).toBe(200);
    expect((await upgrade(svc, await sign(rs2, 'u-rotated-ws'))).status).toBe(101);
  });

  it('a removed kid is refused (401) once the set is fetched again, cached tokens of it included', async () => {
    const old = await sign(rs1, 'u-old-key');
    expect((await restGet(svc, old)).status).toBe(200); // verified and cached
    idp.keys = [es1, rs2];
    await sleep(MAX_AGE_MS + 100); // the set is stale: the next request fetches it
    expect((await restGet(svc, old)).status).toBe(401);
    expect((await upgrade(svc, old)).status).toBe(401);
    expect((await restGet(svc, await sign(rs2, 'u-kept'))).status).toBe(200);
  });

  it('the endpoint answering 500 or gone: 503 JSON for an unknown kid, known keys keep working, nothing crashes', async () => {
    const known = await sign(es1, 'u-known');
    expect((await restGet(svc, known)).status).toBe(200);
    for (const outage of ['500', 'closed'] as const) {
      if (outage === '500') idp.failing = true;
      else await idp.stop();
      await sleep(MAX_AGE_MS + 100); // stale: the next request tries the endpoint, fails, keeps the old set
      const unknown = await restGet(svc, await sign(rs3, `u-${outage}`));
      expect(unknown.status, outage).toBe(503);
      expect(unknown.body.error.code, outage).toBe('UNAVAILABLE');
      const ws = await upgrade(svc, await sign(rs3, `u-${outage}-ws`));
      expect(ws.status, outage).toBe(503);
      expect(ws.body.error.code, outage).toBe('UNAVAILABLE');
      // Known keys: a cached token and a token never seen before.
      expect((await restGet(svc, known)).status, outage).toBe(200);
      expect((await restGet(svc, await sign(rs2, `u-${outage}-fresh`))).status, outage).toBe(200);
      expect((await upgrade(svc, await sign(es1, `u-${outage}-fresh-ws`))).status, outage).toBe(101);
      expect((await fetch(`${svc.url}/readyz`)).status, outage).toBe(200);
    }
    // Back, now serving rs-3: accepted after the cooldown.
    idp.failing = false;
    idp.keys = [es1, rs2, rs3];
    await idp.start(idp.port);
    await sleep(COOLDOWN_MS + 50);
    expect((await restGet(svc, await sign(rs3, 'u-back'))).status).toBe(200);
    expect(svc.logs.join('')).toContain('JWKS fetch failed');
  });
});

describe('JWKS endpoint unreachable from the start', () => {
  it('every token is "unavailable" (503), not "signature" (401), and the verifier keeps retrying per cooldown', async () => {
    const idp = new JwksEndpoint();
    await idp.start();
    const url = idp.url;
    await idp.stop(); // nothing listens there now
    const verify = await createTokenVerifier({
      secret: undefined,
      publicKey: undefined,
      jwksUrl: url,
      issuer: undefined,
      audience: undefined,
      usingDevSecret: false,
      jwks: { cooldownMs: 100, cacheMaxAgeMs: 60_000, timeoutMs: 500 },
    });
    const key = await makeKey('ES256', 'es-late');
    await expect(verify(await sign(key, 'u1'))).rejects.toMatchObject({ reason: 'unavailable' });
    idp.keys = [key];
    await idp.start(Number(new URL(url).port));
    try {
      await sleep(150);
      await expect(verify(await sign(key, 'u1'))).resolves.toMatchObject({ userId: 'u1' });
    } finally {
      await idp.stop();
    }
  });
});
