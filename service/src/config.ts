/**
 * Environment parsed and validated once, with defaults for the embedded mode.
 * Bad config fails at start-up with a message naming the variable.
 */
import { z } from 'zod';
import { DEV_JWT_SECRET } from './protocol/dev.js';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

export const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  HOST: z.string().default('127.0.0.1'),
  PORT: int(3000),
  INSTANCE_ID: optionalString,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: optionalString,
  DATABASE_POOL_MAX: int(10, 1),
  DATA_DIR: optionalString,
  PGLITE_WORKER: z.enum(['1', '0', 'true', 'false']).default('1'),
  JWT_SECRET: optionalString,
  JWT_PUBLIC_KEY: optionalString,
  JWT_JWKS_URL: optionalString.pipe(z.url().optional()),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_JWKS_COOLDOWN_MS: int(30_000, 0),
  JWT_JWKS_CACHE_MAX_AGE_MS: int(600_000, 0),
  JWT_JWKS_TIMEOUT_MS: int(5_000, 1),
  MAX_BODY_BYTES: int(1024 * 1024, 1),
  BODY_DRAIN_MS: int(10_000, 0),
  BODY_DRAIN_BYTES: int(64 * 1024 * 1024, 0),
  BUFFER_MAX_EVENTS: int(200, 0),
  BUFFER_TTL_MS: int(5 * 60_000, 0),
  REPLAY_MAX_EVENTS: int(10_000, 1),
  HEARTBEAT_MS: int(30_000, 100),
  TOKEN_EXPIRY_NOTICE_MS: int(30_000, 0),
  WS_MAX_PAYLOAD_BYTES: int(64 * 1024, 1024),
  WS_SEND_BUFFER_LIMIT_BYTES: int(4 * 1024 * 1024, 1024),
  WS_TRANSIENT_DROP_BYTES: int(256 * 1024, 0),
  WS_REPLAY_STALL_MS: int(10_000, 1),
  GAP_FILL_MS: int(100, 1),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0),
  SHUTDOWN_DRAIN_DELAY_MS: int(0, 0),
  RESTART_JITTER_MS: int(5_000, 0),
  RESTART_RECONNECT_RATE: int(1_000, 0),
  ERP_DELAY_MS: int(300, 0),
  ERP_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  JOB_ATTEMPTS: int(3, 1),
  JOB_BACKOFF_MS: int(1000, 0),
  EVENT_RETENTION_MS: int(7 * 24 * 3_600_000, 1),
  TOMBSTONE_RETENTION_MS: int(30 * 24 * 3_600_000, 1),
  MAINTENANCE_INTERVAL_MS: int(3_600_000, 0),
  IDEMPOTENCY_TTL_MS: int(24 * 3_600_000, 1),
  REDIS_URL: optionalString.pipe(z.url().optional()),
  REDIS_CLUSTER_NODES: optionalString.pipe(
    z
      .string()
      .regex(/^\s*[^\s:,]+:\d{1,5}\s*(,\s*[^\s:,]+:\d{1,5}\s*)*$/, 'must be host:port,host:port,… (seed nodes of a Redis Cluster)')
      .optional(),
  ),
  REDIS_PREFIX: z.string().default('rt:'),
  // Cluster-wide admin views (features/admin/cluster-view.ts): the instance registry and the fan-out.
  ADVERTISE_URL: optionalString.pipe(z.url().optional()),
  INSTANCE_ANNOUNCE_MS: int(5_000, 50),
  INSTANCE_TTL_MS: int(15_000, 100),
  ADMIN_FANOUT_TIMEOUT_MS: int(2_000, 50),
  RUN_WORKER: z.enum(['true', 'false']).default('true'),
  OUTBOX_INTERVAL_MS: int(5_000, 0),
  OUTBOX_GRACE_MS: int(2_000, 0),
  TEST_PUBLISH_DELAY_MS: int(0, 0),
  // Abuse limits (http/rate-limit.ts); the README's "Rate limits" explains how the defaults were chosen.
  RATE_LIMIT_ENABLED: z.enum(['1', '0', 'true', 'false']).default('true'),
  RATE_LIMIT_WINDOW_MS: int(10_000, 1_000).refine((v) => v % 1_000 === 0, 'must be a whole number of seconds (a multiple of 1000)'),
  RATE_LIMIT_WRITES_PER_USER: int(1_000, 0),
  RATE_LIMIT_WRITES_PER_IP: int(20_000, 0),
  RATE_LIMIT_UPGRADES_PER_USER: int(100, 0),
  RATE_LIMIT_UPGRADES_PER_IP: int(50_000, 0),
  TRUST_PROXY_HOPS: int(0, 0),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  nodeEnv: string;
  host: string;
  port: number;
  instanceId: string | undefined;
  logLevel: Env['LOG_LEVEL'];
  databaseUrl: string | undefined;
  databasePoolMax: number;
  dataDir: string | undefined;
  /** Embedded PGlite in a worker thread (sql-pglite-worker.ts) instead of on the service's thread. */
  pgliteWorker: boolean;
  jwt: {
    secret: string | undefined;
    publicKey: string | undefined;
    jwksUrl: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    usingDevSecret: boolean;
    /** JWT_JWKS_URL's fetching (auth-jwks.ts); absent: jose's defaults (30 s, 10 min, 5 s). */
    jwks?: { cooldownMs: number; cacheMaxAgeMs: number; timeoutMs: number };
  };
  maxBodyBytes: number;
  /** A refused (413) body is read and discarded up to these bounds, so the client can read the 413 (http/body.ts). */
  bodyDrain: { timeoutMs: number; maxBytes: number };
  buffer: { maxEvents: number; ttlMs: number };
  replayMaxEvents: number;
  heartbeatMs: number;
  tokenExpiryNoticeMs: number;
  ws: { maxPayloadBytes: number; sendBufferLimitBytes: number; transientDropBytes: number; replayStallMs: number };
  gapFillMs: number;
  shutdown: { timeoutMs: number; drainDelayMs: number; restartJitterMs: number; restartReconnectRate: number };
  erp: { delayMs: number; failureRate: number };
  jobs: { attempts: number; backoffMs: number };
  retention: { eventsMs: number; tombstonesMs: number; intervalMs: number };
  /** How long an Idempotency-Key's response is kept (DESIGN §12); older keys count as absent. */
  idempotency: { ttlMs: number };
  /** `target` is what the Redis adapters connect to: REDIS_URL or REDIS_CLUSTER_NODES (never both); unset = embedded. */
  redis: { url: string | undefined; target: RedisTarget | undefined; prefix: string };
  /**
   * The instance registry (ports/instances.ts): announce every `announceMs`, listed for `ttlMs`
   * after the last announcement; `advertiseUrl` is where the other instances reach this one's admin
   * routes (unset: the listen address); `fanoutTimeoutMs` bounds each call to another instance or the registry.
   */
  cluster: { advertiseUrl: string | undefined; announceMs: number; ttlMs: number; fanoutTimeoutMs: number };
  runWorker: boolean;
  outbox: { intervalMs: number; graceMs: number };
  /** Test-only: delay every publish (proves the latency gate fails when delivery is slow). */
  testPublishDelayMs: number;
  /** Requests allowed per fixed window and key; 0 turns that one limit off (http/rate-limit.ts). */
  rateLimit: RateLimitConfig;
  /** Reverse proxies in front that append to X-Forwarded-For; 0: the socket's peer is the client (http/client-address.ts). */
  trustProxyHops: number;
}

export interface RateLimitConfig {
  enabled: boolean;
  windowMs: number;
  writesPerUser: number;
  writesPerIp: number;
  upgradesPerUser: number;
  upgradesPerIp: number;
}

/** One Redis server, or the seed nodes of a Redis Cluster (the rest of the cluster is discovered). */
export type RedisTarget = { kind: 'server'; url: string } | { kind: 'cluster'; nodes: { host: string; port: number }[] };

export class ConfigError extends Error {}

function redisTarget(url: string | undefined, clusterNodes: string | undefined): RedisTarget | undefined {
  if (url && clusterNodes) {
    throw new ConfigError('REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for one Redis server or REDIS_CLUSTER_NODES for a Redis Cluster, not both');
  }
  if (url) return { kind: 'server', url };
  if (!clusterNodes) return undefined;
  const nodes = clusterNodes.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':');
    return { host: host!, port: Number(port) };
  });
  const bad = nodes.find((n) => n.port < 1 || n.port > 65535);
  if (bad) throw new ConfigError(`REDIS_CLUSTER_NODES: port ${bad.port} of ${bad.host} is out of range`);
  return { kind: 'cluster', nodes };
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
  }
  const e = parsed.data;
  const hasKey = Boolean(e.JWT_SECRET || e.JWT_PUBLIC_KEY || e.JWT_JWKS_URL);
  if (!hasKey && e.NODE_ENV === 'production') {
    throw new ConfigError('JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL must be set when NODE_ENV=production');
  }
  if (e.INSTANCE_TTL_MS <= e.INSTANCE_ANNOUNCE_MS) {
    throw new ConfigError('INSTANCE_TTL_MS must be longer than INSTANCE_ANNOUNCE_MS (a few announcements, e.g. 3x), else live instances flicker out of the list');
  }
  if (e.JWT_SECRET && Buffer.byteLength(e.JWT_SECRET) < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 bytes (HS256 needs a 256-bit key)');
  }
  return {
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    instanceId: e.INSTANCE_ID,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    dataDir: e.DATA_DIR,
    pgliteWorker: e.PGLITE_WORKER === '1' || e.PGLITE_WORKER === 'true',
    jwt: {
      secret: e.JWT_SECRET ?? (hasKey ? undefined : DEV_JWT_SECRET),
      publicKey: e.JWT_PUBLIC_KEY,
      jwksUrl: e.JWT_JWKS_URL,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      usingDevSecret: !hasKey,
      jwks: { cooldownMs: e.JWT_JWKS_COOLDOWN_MS, cacheMaxAgeMs: e.JWT_JWKS_CACHE_MAX_AGE_MS, timeoutMs: e.JWT_JWKS_TIMEOUT_MS },
    },
    maxBodyBytes: e.MAX_BODY_BYTES,
    bodyDrain: { timeoutMs: e.BODY_DRAIN_MS, maxBytes: e.BODY_DRAIN_BYTES },
    buffer: { maxEvents: e.BUFFER_MAX_EVENTS, ttlMs: e.BUFFER_TTL_MS },
    replayMaxEvents: e.REPLAY_MAX_EVENTS,
    heartbeatMs: e.HEARTBEAT_MS,
    tokenExpiryNoticeMs: e.TOKEN_EXPIRY_NOTICE_MS,
    ws: {
      maxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES,
      sendBufferLimitBytes: e.WS_SEND_BUFFER_LIMIT_BYTES,
      transientDropBytes: e.WS_TRANSIENT_DROP_BYTES,
      replayStallMs: e.WS_REPLAY_STALL_MS,
    },
    gapFillMs: e.GAP_FILL_MS,
    shutdown: {
      timeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      drainDelayMs: e.SHUTDOWN_DRAIN_DELAY_MS,
      restartJitterMs: e.RESTART_JITTER_MS,
      restartReconnectRate: e.RESTART_RECONNECT_RATE,
    },
    erp: { delayMs: e.ERP_DELAY_MS, failureRate: e.ERP_FAILURE_RATE },
    jobs: { attempts: e.JOB_ATTEMPTS, backoffMs: e.JOB_BACKOFF_MS },
    retention: { eventsMs: e.EVENT_RETENTION_MS, tombstonesMs: e.TOMBSTONE_RETENTION_MS, intervalMs: e.MAINTENANCE_INTERVAL_MS },
    idempotency: { ttlMs: e.IDEMPOTENCY_TTL_MS },
    redis: { url: e.REDIS_URL, target: redisTarget(e.REDIS_URL, e.REDIS_CLUSTER_NODES), prefix: e.REDIS_PREFIX },
    cluster: {
      advertiseUrl: e.ADVERTISE_URL?.replace(/\/+$/, ''),
      announceMs: e.INSTANCE_ANNOUNCE_MS,
      ttlMs: e.INSTANCE_TTL_MS,
      fanoutTimeoutMs: e.ADMIN_FANOUT_TIMEOUT_MS,
    },
    runWorker: e.RUN_WORKER === 'true',
    outbox: { intervalMs: e.OUTBOX_INTERVAL_MS, graceMs: e.OUTBOX_GRACE_MS },
    testPublishDelayMs: e.TEST_PUBLISH_DELAY_MS,
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED === '1' || e.RATE_LIMIT_ENABLED === 'true',
      windowMs: e.RATE_LIMIT_WINDOW_MS,
      writesPerUser: e.RATE_LIMIT_WRITES_PER_USER,
      writesPerIp: e.RATE_LIMIT_WRITES_PER_IP,
      upgradesPerUser: e.RATE_LIMIT_UPGRADES_PER_USER,
      upgradesPerIp: e.RATE_LIMIT_UPGRADES_PER_IP,
    },
    trustProxyHops: e.TRUST_PROXY_HOPS,
  };
}
