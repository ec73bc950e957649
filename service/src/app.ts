/**
 * createApp(deps) wires the service from explicit dependencies and returns it; importing this module
 * does nothing. main.ts chooses the adapters; tests build several instances in one process.
 */
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import { createTokenVerifier } from './auth.js';
import type { Config } from './config.js';
import { registerAdminRoutes } from './features/admin/admin-routes.js';
import { createRevocations } from './features/admin/revocations.js';
import { registerRevokeRoutes } from './features/admin/revoke-routes.js';
import { createAnnouncer } from './features/admin/announcer.js';
import { createClusterView, derivedAdvertiseUrl, instanceSummary } from './features/admin/cluster-view.js';
import { createMemoryInstanceRegistry } from './adapters/instances-memory.js';
import type { InstanceRegistry } from './ports/instances.js';
import { createCommit, type Publish } from './features/commit.js';
import { createDraftsService } from './features/drafts/drafts-service.js';
import { registerDraftRoutes } from './features/drafts/drafts-routes.js';
import { registerDevRoutes } from './features/dev/dev-routes.js';
import { registerJobRoutes } from './features/jobs/jobs-routes.js';
import { createProgressThrottle, createSubmitOrderJob } from './features/jobs/submit-order.js';
import { createPendingOrdersService } from './features/pending-orders/pending-orders-service.js';
import { registerPendingOrderRoutes } from './features/pending-orders/pending-orders-routes.js';
import { buildApiDocument } from './http/api-routes.js';
import { requireAdmin, requireUser } from './http/auth-middleware.js';
import { jsonBody } from './http/body.js';
import { createClientAssets, defaultClientAssetPaths } from './http/client-assets.js';
import { answerClientErrors } from './http/client-error.js';
import { errorMiddleware } from './http/errors-middleware.js';
import { createIdempotencyGuard } from './http/idempotency.js';
import { createClientAddress } from './http/client-address.js';
import { createRateLimits, type RateLimitDeps } from './http/rate-limit.js';
import { openRoutes } from './http/open-routes.js';
import { requestLog } from './http/request-log.js';
import { createMetrics } from './metrics.js';
import type { BusFactory } from './ports/bus.js';
import type { ErpClient } from './ports/erp.js';
import type { JobFailureHandler, JobQueue, SubmitOrderJobData, SubmitOrderProcessor } from './ports/jobs.js';
import type { Storage } from './ports/storage.js';
import { createGateway } from './realtime/gateway.js';
import { createHub } from './realtime/hub.js';
import { createMaintenance } from './features/jobs/maintenance.js';
import { createOutbox } from './realtime/outbox.js';

export interface JobQueueHandlers {
  processor: SubmitOrderProcessor;
  onFailure: JobFailureHandler;
  onProgress: (data: SubmitOrderJobData, jobId: string, progress: number, stage: string) => void;
  /** The repeatable maintenance job's body (prune the log and tombstones). */
  runMaintenance: () => Promise<unknown>;
}

export interface AppDeps {
  config: Config;
  log: Logger;
  instanceId: string;
  storage: Storage;
  busFactory: BusFactory;
  jobQueueFactory: (handlers: JobQueueHandlers) => JobQueue;
  erp: ErpClient;
  /** Set: the abuse limits count in this Redis, shared by every instance; unset: in memory. */
  rateLimitRedis?: RateLimitDeps['redis'];
  /** Where instances announce themselves (the cluster-wide admin views); unset: in memory, this process only. */
  instanceRegistry?: InstanceRegistry;
  /** Tests only: wraps the features' publish (e.g. a delay, to prove the latency gate fails when delivery is slow). */
  decoratePublish?: (publish: Publish) => Publish;
}

export interface App {
  server: Server;
  instanceId: string;
  hub: ReturnType<typeof createHub>;
  metrics: ReturnType<typeof createMetrics>;
  jobs: JobQueue;
  listen(port?: number, host?: string): Promise<{ port: number; url: string }>;
  /** Graceful shutdown: not ready, sockets closed with 1012, in-flight requests finished, pools closed. */
  close(): Promise<void>;
  isDraining(): boolean;
  /** Every method and path the Koa routers register (the OpenAPI test checks each is documented). */
  routes(): { method: string; path: string }[];
}

export async function createApp(deps: AppDeps): Promise<App> {
  const { config, storage, instanceId } = deps;
  const log = deps.log.child({ instanceId });
  const startedAt = Date.now();
  const metrics = createMetrics({ instanceId });
  const revocations = createRevocations({ storage, log });
  const verifyToken = await createTokenVerifier(config.jwt, {
    isRevoked: revocations.isRevoked,
    onJwksError: (err) => log.warn({ err: (err as Error).message }, 'JWKS fetch failed; known keys stay in use'),
  });
  let draining = false;
  let ready = false;

  await storage.migrate();
  await revocations.load();
  // A revocation closes the sockets of revoked tokens on every instance (the gateway's, once it exists).
  let closeRevoked: (userId: string) => number = () => 0;

  const hub = createHub({
    storage,
    busFactory: deps.busFactory,
    metrics,
    log,
    onControl: (msg) => {
      if (msg.kind !== 'revoke') return;
      revocations.apply(msg.userId, msg.notBeforeMs);
      closeRevoked(msg.userId);
    },
    // A broadcast sent while this instance was cut off from the bus is lost; the table is not.
    onBusReconnect: () =>
      void revocations.load().then(
        (users) => users.forEach((u) => closeRevoked(u)),
        (err: unknown) => log.warn({ err }, 'reloading revocations failed'),
      ),
    options: {
      instanceId,
      heartbeatMs: config.heartbeatMs,
      bufferMaxEvents: config.buffer.maxEvents,
      bufferTtlMs: config.buffer.ttlMs,
      replayMaxEvents: config.replayMaxEvents,
      gapFillMs: config.gapFillMs,
      sendBufferLimitBytes: config.ws.sendBufferLimitBytes,
      transientDropBytes: config.ws.transientDropBytes,
      replayStallMs: config.ws.replayStallMs,
    },
  });
  // One publisher: features commit through it, the outbox republishes through it and hears back.
  const { publisher } = hub;
  const outbox = createOutbox({ storage, log, republish: publisher.publish, options: config.outbox });
  publisher.onPublished(outbox.published);
  outbox.start();
  const commit = createCommit({ storage, publish: deps.decoratePublish ? deps.decoratePublish(publisher.publish) : publisher.publish });

  const submitJob = createSubmitOrderJob({ storage, commit, erp: deps.erp });
  const progress = createProgressThrottle(
    (userId, jobId, orderId, p, stage, deviceId) =>
      publisher.publishTransient(userId, 'JOB_PROGRESS', { jobId, orderId, progress: p, stage }, deviceId),
    100,
  );
  const jobs = deps.jobQueueFactory({
    processor: async (data, ctx) => {
      const result = await submitJob.processor(data, ctx);
      metrics.jobs.inc({ name: 'submit-order', outcome: 'completed' });
      return result;
    },
    onFailure: async (data, ctx, error, willRetry) => {
      metrics.jobs.inc({ name: 'submit-order', outcome: willRetry ? 'retried' : 'failed' });
      await submitJob.onFailure(data, ctx, error, willRetry);
    },
    onProgress: (data, jobId, p, stage) => progress(data.userId, jobId, data.orderId, p, stage, data.deviceId),
    runMaintenance: createMaintenance({ storage, log, retention: config.retention, idempotencyTtlMs: config.idempotency.ttlMs }),
  });

  const drafts = createDraftsService({ storage, commit });
  const pending = createPendingOrdersService({ storage, commit, jobs });
  const idempotency = createIdempotencyGuard({ ttlMs: config.idempotency.ttlMs });
  const addressOf = createClientAddress(config.trustProxyHops);
  const rateLimits = createRateLimits({ config: config.rateLimit, metrics, log, redis: deps.rateLimitRedis, addressOf });
  const openApiDocument = buildApiDocument();

  // The cluster-wide admin views: this instance announces itself once it listens (listen() knows the URL).
  const registry = deps.instanceRegistry ?? createMemoryInstanceRegistry({ ttlMs: config.cluster.ttlMs });
  let advertisedUrl: string | null = null;
  const summary = () => instanceSummary({ hub, instanceId, startedAt, url: advertisedUrl, draining });
  const announcer = createAnnouncer({ registry, log, intervalMs: config.cluster.announceMs, timeoutMs: config.cluster.fanoutTimeoutMs, summary });
  const cluster = createClusterView({ registry, hub, instanceId, self: summary, timeoutMs: config.cluster.fanoutTimeoutMs });

  const koa = new Koa({ proxy: false });
  koa.silent = true; // errors are logged by errorMiddleware through pino, never to stderr
  koa.on('error', (err: unknown) => log.warn({ err }, 'koa error'));

  const open = new Router();
  open.get(openRoutes.healthz.path, (ctx) => {
    ctx.body = { status: 'ok', instanceId };
  });
  open.get(openRoutes.readyz.path, async (ctx) => {
    if (!ready || draining) {
      ctx.status = 503;
      ctx.body = { error: { code: 'UNAVAILABLE', message: draining ? 'Draining' : 'Starting' } };
      return;
    }
    try {
      await storage.ping();
      ctx.body = { status: 'ready', instanceId };
    } catch {
      ctx.status = 503;
      ctx.body = { error: { code: 'UNAVAILABLE', message: 'Database unreachable' } };
    }
  });
  open.get(openRoutes.openapi.path, (ctx) => {
    ctx.body = openApiDocument;
  });
  open.get(openRoutes.metrics.path, async (ctx) => {
    const s = hub.stats();
    metrics.wsUsers.set(s.activeUsers);
    metrics.bufferUsers.set(s.buffer.users);
    metrics.bufferEvents.set(s.buffer.events);
    metrics.bufferBytes.set(s.buffer.bytes);
    const depth = await jobs.depth().catch(() => null);
    if (depth) for (const [state, n] of Object.entries(depth)) metrics.jobQueueDepth.set({ state }, n);
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  // The browser bundle, the demo page and (on the development secret only) its token route.
  createClientAssets(defaultClientAssetPaths()).register(open);
  registerDevRoutes(open, { enabled: config.jwt.usingDevSecret });

  const api = new Router();
  api.use(requireUser(verifyToken, metrics), rateLimits.writes);
  registerDraftRoutes(api, drafts, idempotency.guard);
  registerPendingOrderRoutes(api, pending, idempotency.guard);
  registerJobRoutes(api, jobs);

  const admin = new Router();
  admin.use(requireUser(verifyToken, metrics), requireAdmin);
  registerAdminRoutes(admin, { hub, instanceId, startedAt, cluster });
  registerRevokeRoutes(admin, { storage, revocations, closeRevoked: (u) => closeRevoked(u), broadcast: hub.broadcast, instanceId, log });

  koa.use(requestLog(log, metrics));
  koa.use(errorMiddleware(log));
  koa.use(jsonBody(config.maxBodyBytes, config.bodyDrain));
  koa.use(open.routes());
  koa.use(open.allowedMethods());
  // Admin first: its prefixes are more specific than /api. The routers' middleware made once, not per request.
  const adminRoutes = admin.routes();
  const apiRoutes = api.routes();
  const apiAllowedMethods = api.allowedMethods();
  koa.use(async (ctx, next) => {
    if (ctx.path === '/api/websocket/stats' || ctx.path.startsWith('/api/admin/')) {
      return adminRoutes(ctx as never, next);
    }
    if (ctx.path.startsWith('/api/')) {
      await apiRoutes(ctx as never, next);
      return apiAllowedMethods(ctx as never, async () => undefined);
    }
    return next();
  });

  const server = createServer(koa.callback());
  answerClientErrors(server);
  server.keepAliveTimeout = 5_000;
  const gateway = createGateway({
    server,
    hub,
    verifyToken,
    metrics,
    log,
    isDraining: () => draining,
    beforeUpgrade: rateLimits.beforeUpgrade,
    isRevoked: revocations.isRevoked,
    addressOf,
    options: {
      heartbeatMs: config.heartbeatMs,
      tokenExpiryNoticeMs: config.tokenExpiryNoticeMs,
      maxPayloadBytes: config.ws.maxPayloadBytes,
      restartJitterMs: config.shutdown.restartJitterMs,
      restartReconnectRate: config.shutdown.restartReconnectRate,
    },
  });
  closeRevoked = gateway.closeRevoked;

  let closing: Promise<void> | null = null;

  return {
    server,
    instanceId,
    hub,
    metrics,
    jobs,
    isDraining: () => draining,
    routes: () =>
      [open, api, admin].flatMap((router) =>
        router.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((method) => ({ method, path: String(layer.path) }))),
      ),
    async listen(port = config.port, host = config.host) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      ready = true;
      metrics.ready.set(1);
      const addr = server.address() as AddressInfo;
      advertisedUrl = config.cluster.advertiseUrl ?? derivedAdvertiseUrl(host, addr.port, hostname());
      announcer.start();
      return { port: addr.port, url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}` };
    },
    close() {
      closing ??= (async () => {
        draining = true;
        metrics.ready.set(0);
        const withdrawn = announcer.stop(); // leave the cluster's lists now; bounded, never rejects
        const deadline = Date.now() + config.shutdown.timeoutMs;
        const remaining = () => Math.max(0, deadline - Date.now());
        const bounded = <T>(p: Promise<T>) =>
          Promise.race([p, new Promise<void>((r) => setTimeout(r, remaining()).unref())]);

        if (config.shutdown.drainDelayMs > 0) await new Promise((r) => setTimeout(r, Math.min(config.shutdown.drainDelayMs, remaining())));
        const serverClosed = server.listening
          ? new Promise<void>((resolve) => server.close(() => resolve()))
          : Promise.resolve();
        gateway.closeAllForRestart();
        gateway.close();
        server.closeIdleConnections();
        await bounded(serverClosed);
        server.closeAllConnections();
        await outbox.stop();
        await bounded(jobs.close());
        await hub.close();
        await rateLimits.close();
        await bounded(withdrawn);
        await registry.close().catch((err: unknown) => log.warn({ err }, 'instance registry close failed'));
        await storage.close().catch((err: unknown) => log.warn({ err }, 'storage close failed'));
        log.info('closed');
      })();
      return closing;
    },
  };
}
