/**
 * Revocation across two instances on one PostgreSQL and one Redis (both real, started for the
 * suite): a revocation asked of one instance closes the user's sockets on the other with 4401
 * within a second and makes its REST and upgrade refuse the old token (cached there too). When the
 * broadcast cannot go out (Redis down), the revocation is still saved, the caller is told 503, and
 * the other instance applies it when its bus reconnects (it reloads the table).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, sleep, startService, storageVariants, TestDevice, type TestService } from './support/harness.js';
import { redisForSuite, type RedisServer } from './support/redis-server.js';

const { server: redisServer, skip: redisSkip } = await redisForSuite();
const pgSkip = storageVariants().find((v) => v.kind === 'postgres')!.skip;
const skip = redisSkip ?? pgSkip;

const newUser = () => `u-${randomUUID().slice(0, 8)}`;

async function get(svc: TestService, token: string) {
  return (await fetch(`${svc.url}/api/drafts`, { headers: { authorization: `Bearer ${token}` } })).status;
}

async function revoke(svc: TestService, userId: string) {
  const res = await fetch(`${svc.url}/api/admin/users/${encodeURIComponent(userId)}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await mintToken('ops', { admin: true })}` },
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function upgradeStatus(svc: TestService, token: string): Promise<number> {
  return TestDevice.connect(svc.wsUrl, token, { deviceId: 'late' }).then(
    (d) => {
      d.terminate();
      return 101;
    },
    (e: { status?: number }) => e.status ?? -1,
  );
}

describe.skipIf(skip)('revocation on two instances (PostgreSQL + Redis)', () => {
  const redis = redisServer as RedisServer;
  let a: TestService;
  let b: TestService;

  beforeAll(async () => {
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: `rv-${randomUUID().slice(0, 8)}:` };
    a = await startService({ storage: 'postgres', env, logLevel: 'info' });
    b = await startService({ storage: 'postgres', databaseUrl: a.databaseUrl, env, logLevel: 'info' });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('revoked on A: the sockets on B close with 4401 within a second, and B refuses the old token', async () => {
    const u = newUser();
    const old = await mintToken(u);
    const onA = await TestDevice.connect(a.wsUrl, old, { deviceId: 'phone' });
    const onB = await TestDevice.connect(b.wsUrl, old, { deviceId: 'tablet' });
    const bystander = await TestDevice.connect(b.wsUrl, await mintToken(newUser()), { deviceId: 'other' });
    await Promise.all([onA, onB, bystander].map((d) => d.waitForType('HELLO')));
    expect(await get(b, old)).toBe(200); // cached on B

    const r = await revoke(a, u);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ userId: u, closedConnections: 1, instanceId: a.app.instanceId });
    expect(await onB.closed(1_000)).toBe(4401);
    expect(await onA.closed(1_000)).toBe(4401);
    expect(await get(b, old)).toBe(401);
    expect(await upgradeStatus(b, old)).toBe(401);
    expect(bystander.closeCode).toBeNull();
    bystander.terminate();
  });

  it('Redis down during the revocation: saved, 503 to the caller, applied by B when its bus reconnects', async () => {
    const u = newUser();
    const old = await mintToken(u);
    const onB = await TestDevice.connect(b.wsUrl, old, { deviceId: 'tablet' });
    await onB.waitForType('HELLO');
    expect(await get(b, old)).toBe(200);

    await redis.kill();
    const r = await revoke(a, u);
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('UNAVAILABLE');
    expect(await get(a, old)).toBe(401); // in force where it was asked
    await sleep(300);
    expect(onB.closeCode).toBeNull(); // B has not heard of it yet

    await redis.start();
    expect(await onB.closed(10_000)).toBe(4401);
    expect(await get(b, old)).toBe(401);
    expect(b.logs.join('')).toContain('revocations loaded');
  }, 30_000);
});
