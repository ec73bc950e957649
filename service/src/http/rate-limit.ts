/**
 * Abuse limits: REST writes and WebSocket upgrades, each counted per user and per client address in
 * a fixed window (rate-limiter-flexible). Embedded mode counts in memory; with Redis the counters
 * are shared, so a user spread over several instances has one budget. Over a limit: 429 with
 * Retry-After (REST and the upgrade alike; the upgrade before the handshake).
 *
 * The limits stop runaway loops and floods; they are not a quota. The defaults (config.ts, README
 * "Rate limits") are far above what a device, an offline queue replaying, a reconnect storm after a
 * restart or the documented load tests send.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Principal } from '../auth.js';
import { createRedisClient, isCluster, type RedisClient } from '../adapters/redis-client.js';
import type { RateLimitConfig, RedisTarget } from '../config.js';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { BeforeUpgrade } from '../realtime/gateway.js';
import type { ClientAddressOf } from './client-address.js';

export type RateLimitKind = 'write' | 'upgrade';
export type RateLimitScope = 'user' | 'ip';

export type RateLimitDecision = { ok: true } | { ok: false; kind: RateLimitKind; scope: RateLimitScope; retryAfterMs: number; message: string };

/**
 * Redis store: a short command timeout, so a Redis that is down or hung makes the limiter fall back
 * to memory within half a second instead of holding every write. The offline queue stays on so the
 * checks made while the client is still connecting (right after start-up) wait for it instead of
 * failing at once into the per-instance fallback; the timeout bounds them too (ioredis arms it
 * before queueing).
 */
const REDIS_COMMAND_TIMEOUT_MS = 500;

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Retry-After is whole seconds; rounded up so a client that honours it is never refused again for being early. */
export const retryAfterSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * The key of a client address: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64, since one
 * subscriber usually holds a whole /64 and could otherwise rotate through addresses.
 */
export function addressKey(address: string | null | undefined): string | null {
  if (!address) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!.toLowerCase();
  const [head = '', tail] = bare.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headParts : [...headParts, ...Array(Math.max(0, 8 - headParts.length - tailParts.length)).fill('0'), ...tailParts];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export interface RateLimitDeps {
  config: RateLimitConfig;
  metrics: Pick<Metrics, 'rateLimited'>;
  log: Logger;
  /** Set: counters in Redis, shared by every instance on it. Unset: in this process's memory. */
  redis?: { target: RedisTarget; prefix: string };
  /** The address a request is counted against (http/client-address.ts); the socket's peer if unset. */
  addressOf?: ClientAddressOf;
}

export function createRateLimits(deps: RateLimitDeps) {
  const { config, metrics } = deps;
  const addressOf: ClientAddressOf = deps.addressOf ?? ((req) => req.socket.remoteAddress ?? null);
  const log = deps.log.child({ component: 'rate-limit' });
  const duration = config.windowMs / 1000;
  const windowText = `${duration} s`;

  let redis: RedisClient | null = null;
  let everReady = false;
  /** True from the first fallback to memory until Redis is ready again: one warning per outage. */
  let degraded = false;
  if (config.enabled && deps.redis) {
    redis = createRedisClient(deps.redis.target, {
      connectionName: 'rt-rate-limit',
      redis: { enableOfflineQueue: true, maxRetriesPerRequest: 1, commandTimeout: REDIS_COMMAND_TIMEOUT_MS },
      // A cluster retries a command whose node is gone up to 16 times, 100 ms apart: a check on a
      // dead shard goes to the insurance limiter at once instead of holding the write 1.6 s.
      cluster: { retryDelayOnFailover: 0 },
    });
    // Connection errors are reported once through the fallback below (the bus logs its own).
    redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis error'));
    redis.on('ready', () => {
      everReady = true;
      if (!degraded) return;
      degraded = false;
      log.info('rate limit store reachable again: counting in Redis');
    });
  }

  const onFallback = () => {
    if (degraded) return;
    // A cluster refuses checks until it is first ready (see below): that is start-up, not an outage.
    if (!everReady && redis && isCluster(redis) && ['wait', 'connecting', 'connect'].includes(redis.status)) return;
    degraded = true;
    log.warn(
      { redisStatus: redis?.status },
      'rate limit store (Redis) unreachable: counting in memory on this instance until it returns (limits then hold per instance)',
    );
  };

  /** The insurance limiter: same limit, in memory; reports its first use while Redis is out. */
  class FallbackLimiter extends RateLimiterMemory {
    override consume(key: string | number, points?: number, options?: Record<string, unknown>) {
      onFallback();
      return super.consume(key, points, options);
    }
  }

  function limiter(kind: RateLimitKind, scope: RateLimitScope, points: number): RateLimiterAbstract | null {
    if (!config.enabled || points <= 0) return null;
    const opts = { points, duration, keyPrefix: `${deps.redis?.prefix ?? ''}rl:${kind}:${scope}` };
    if (!redis) return new RateLimiterMemory(opts);
    return new RateLimiterRedis({
      ...opts,
      storeClient: redis,
      // One server not ready (still connecting, or reconnecting): the command waits in the offline
      // queue, bounded by the command timeout. A cluster's own offline queue has no timeout, so a
      // cluster that is not ready sends the check to the insurance limiter at once instead.
      rejectIfRedisNotReady: isCluster(redis),
      insuranceLimiter: new FallbackLimiter(opts),
      // A key over its limit is refused from memory until its window ends: a flood costs no Redis round trip.
      inMemoryBlockOnConsumed: points + 1,
    });
  }

  const limiters: Record<RateLimitKind, Record<RateLimitScope, { limiter: RateLimiterAbstract | null; points: number }>> = {
    write: {
      user: { limiter: limiter('write', 'user', config.writesPerUser), points: config.writesPerUser },
      ip: { limiter: limiter('write', 'ip', config.writesPerIp), points: config.writesPerIp },
    },
    upgrade: {
      user: { limiter: limiter('upgrade', 'user', config.upgradesPerUser), points: config.upgradesPerUser },
      ip: { limiter: limiter('upgrade', 'ip', config.upgradesPerIp), points: config.upgradesPerIp },
    },
  };
  const what: Record<RateLimitKind, string> = { write: 'writes', upgrade: 'WebSocket connects' };
  const whose: Record<RateLimitScope, string> = { user: 'for this user', ip: 'from this address' };

  /**
   * Counts one request of `kind` and says whether it may go on. The user is counted first, so a
   * runaway client's refused requests do not also eat the budget of everyone behind its address.
   */
  async function check(kind: RateLimitKind, who: { userId: string; address: string | null | undefined }): Promise<RateLimitDecision> {
    const keys: Record<RateLimitScope, string | null> = { user: who.userId, ip: addressKey(who.address) };
    for (const scope of ['user', 'ip'] as const) {
      const { limiter: l, points } = limiters[kind][scope];
      const key = keys[scope];
      if (!l || key === null) continue;
      try {
        await l.consume(key);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) {
          // Not a refusal but a store failure the insurance did not absorb: a limiter never fails a request.
          log.warn({ err: err instanceof Error ? err.message : String(err), kind, scope }, 'rate limit check failed; allowed');
          continue;
        }
        metrics.rateLimited.inc({ kind, scope });
        const retryAfterMs = Math.max(1, Math.ceil(err.msBeforeNext));
        return {
          ok: false,
          kind,
          scope,
          retryAfterMs,
          message: `Too many ${what[kind]} ${whose[scope]}: at most ${points} per ${windowText}; retry in ${retryAfterSeconds(retryAfterMs)} s`,
        };
      }
    }
    return { ok: true };
  }

  /** Koa middleware for a router behind requireUser: limits POST, PUT, PATCH and DELETE; reads pass. */
  const writes: Middleware = async (ctx, next) => {
    if (!WRITE_METHODS.has(ctx.method)) return next();
    const principal = ctx.state.principal as Principal;
    const decision = await check('write', { userId: principal.userId, address: addressOf(ctx.req) });
    if (!decision.ok) {
      ctx.set('Retry-After', String(retryAfterSeconds(decision.retryAfterMs)));
      throw new AppError(429, 'RATE_LIMITED', decision.message, { details: { retryAfterMs: decision.retryAfterMs } });
    }
    return next();
  };

  return {
    check,
    writes,
    /** The gateway's beforeUpgrade hook: runs once the token is verified, before the handshake. */
    beforeUpgrade: (async (req, userId) => {
      const decision = await check('upgrade', { userId, address: addressOf(req) });
      if (decision.ok) return decision;
      return { ok: false, status: 429, code: 'RATE_LIMITED', message: decision.message, retryAfterMs: decision.retryAfterMs };
    }) satisfies BeforeUpgrade,
    async close(): Promise<void> {
      if (!redis) return;
      await redis.quit().catch(() => undefined);
      redis.disconnect();
    },
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;
