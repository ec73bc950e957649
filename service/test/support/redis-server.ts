/**
 * Redis for the tests: the throwaway redis-server is in tools/ (load tests use it too); what is
 * test-only here is the suite policy: skip locally, fail under CI.
 */
import { startRedis, type RedisServer } from '../../../tools/redis-server.js';

export { redisServerBinary, startRedis, type RedisServer } from '../../../tools/redis-server.js';

/** Redis for a suite: the throwaway server, or a reason to skip (locally) / fail (CI). */
export async function redisForSuite(): Promise<{ server: RedisServer | null; skip: string | null }> {
  try {
    return { server: await startRedis(), skip: null };
  } catch (err) {
    const reason = `Redis unavailable: ${(err as Error).message}`;
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${reason} (CI=true: Redis tests may not be skipped)`);
    return { server: null, skip: reason };
  }
}
