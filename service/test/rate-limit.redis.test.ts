/**
 * The abuse limits with REDIS_URL: two service instances on one Redis share each user's budget
 * (writes and upgrades), and when Redis goes away writes keep working, limited per instance in
 * memory, with one warning per outage. Real Redis (started by the suite), real services.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, newDraft, sleep, startService, type TestService } from './support/harness.js';
import { counterValue, rawUpgrade } from './support/rate-limit-helpers.js';
import { redisForSuite, type RedisServer } from './support/redis-server.js';

const { server: redisServer, skip } = await redisForSuite();
const FALLBACK_WARNING = 'rate limit store (Redis) unreachable';

describe.skipIf(skip)('rate limits shared through Redis', () => {
  const redis = redisServer as RedisServer;
  let a: TestService;
  let b: TestService;

  beforeAll(async () => {
    const env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: `rl-${randomUUID().slice(0, 8)}:`,
      RATE_LIMIT_WINDOW_MS: '5000',
      RATE_LIMIT_WRITES_PER_USER: '4',
      RATE_LIMIT_UPGRADES_PER_USER: '2',
    };
    [a, b] = await Promise.all([startService({ storage: 'pglite', env, logLevel: 'info' }), startService({ storage: 'pglite', env, logLevel: 'info' })]);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  const post = async (svc: TestService, token: string) => {
    const res = await fetch(`${svc.url}/api/drafts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(newDraft()),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
  };

  it('two instances share the per-user write limit; another user is unaffected', async () => {
    const token = await mintToken(`shared-${randomUUID()}`);
    for (const svc of [a, a, b, b]) expect((await post(svc, token)).status).toBe(201);
    for (const svc of [a, b]) {
      const refused = await post(svc, token);
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('RATE_LIMITED');
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(refused.retryAfter)).toBeLessThanOrEqual(5);
    }
    expect((await post(b, await mintToken(`other-${randomUUID()}`))).status).toBe(201);
    expect(await counterValue(a.url, 'rt_rate_limited_total', { kind: 'write', scope: 'user' })).toBe(1);
    expect(await counterValue(b.url, 'rt_rate_limited_total', { kind: 'write', scope: 'user' })).toBe(1);
  });

  it('two instances share the per-user upgrade limit', async () => {
    const token = await mintToken(`ws-${randomUUID()}`);
    expect((await rawUpgrade(a.wsUrl, token, 'd1')).status).toBe(101);
    expect((await rawUpgrade(b.wsUrl, token, 'd2')).status).toBe(101);
    const refused = await rawUpgrade(a.wsUrl, token, 'd3');
    expect(refused).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
    expect((await rawUpgrade(b.wsUrl, token, 'd4')).status).toBe(429);
  });

  it('with Redis gone, writes still succeed, limited per instance in memory, with one warning; Redis counts again once back', async () => {
    const warnings = (svc: TestService) => svc.logs.filter((l) => l.includes(FALLBACK_WARNING)).length;
    const recovered = (svc: TestService) => svc.logs.some((l) => l.includes('rate limit store reachable again'));
    expect(warnings(a)).toBe(0);
    await redis.kill();
    const token = await mintToken(`outage-${randomUUID()}`);
    for (let i = 0; i < 4; i += 1) expect((await post(a, token)).status).toBe(201);
    expect((await post(a, token)).status).toBe(429); // the insurance limiter holds the same limit, on this instance
    expect((await post(b, token)).status).toBe(201); // which b does not know about while Redis is out
    expect(warnings(a)).toBe(1);
    expect(warnings(b)).toBe(1);

    await redis.start();
    for (let i = 0; i < 100 && !(recovered(a) && recovered(b)); i += 1) await sleep(100);
    expect(recovered(a) && recovered(b)).toBe(true);

    // Shared again: a fresh user's budget spans both instances.
    const back = await mintToken(`back-${randomUUID()}`);
    for (const svc of [a, b, a, b]) expect((await post(svc, back)).status).toBe(201);
    expect((await post(b, back)).status).toBe(429);
    expect(warnings(a)).toBe(1);
  });
});
