/**
 * Admin views: stats, ring buffers, connections. Admin role required. Stats and connections cover
 * the whole cluster (cluster-view.ts: the instance registry, and a fan-out for the devices); the
 * ring buffers are this instance's.
 */
import type Router from '@koa/router';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { defineRoute } from '../../http/route-spec.js';
import { validate } from '../../http/validate.js';
import type { Hub } from '../../realtime/hub.js';
import { localConnections, type ClusterView } from './cluster-view.js';

/** Rows per instance in one connections answer: enough for one instance's devices, bounded for a cluster's. */
export const MAX_CONNECTIONS_LIMIT = 20_000;
const DEFAULT_CONNECTIONS_LIMIT = 1_000;

const userIdSchema = z.string().min(1).max(128);
const connectionsQuery = z.object({
  userId: userIdSchema.optional(),
  scope: z
    .enum(['cluster', 'local'])
    .optional()
    .describe('cluster (default): the devices of every live instance; local: this instance only (what the fan-out asks each instance)'),
  limit: z
    .string()
    .regex(/^\d{1,6}$/, 'a positive integer')
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_CONNECTIONS_LIMIT))
    .optional()
    .describe(`At most this many devices per instance (default ${DEFAULT_CONNECTIONS_LIMIT}, at most ${MAX_CONNECTIONS_LIMIT}); \`count\` still counts them all`),
});

// Contracts for the OpenAPI document (http/openapi.ts); the handlers below validate with the same schemas.
const int = z.number().int();
const bufferTotals = z.object({ users: int, events: int, bytes: int });
const instanceRow = z.object({
  instanceId: z.string(),
  url: z.string().nullable().describe('Where the other instances reach this one (ADVERTISE_URL, or its listen address)'),
  startedAt: z.string(),
  uptimeS: int,
  totalConnections: int,
  activeUsers: int,
  buffer: bufferTotals,
  rssBytes: int,
  draining: z.boolean(),
  announcedAt: z.string().describe('When the instance last announced this summary (at most one announce interval ago)'),
  self: z.boolean().describe('The instance that answered (its row is live, not announced)'),
}).loose(); // rows come from other instances, maybe of a newer version
const statsReply = z
  .object({
    instanceId: z.string(),
    uptimeS: int,
    totalConnections: int,
    activeUsers: int,
    buffer: bufferTotals,
    memory: z.object({ rssBytes: int }),
    instances: z.array(instanceRow).describe('Every live instance, the answering one first'),
    cluster: z.object({
      instances: int,
      totalConnections: int,
      activeUsersSum: int.describe('Sum over instances: a user with devices on two instances counts twice'),
      registryError: z.string().nullable().describe('Set when the instance registry could not be read: `instances` then holds this instance only'),
    }),
  })
  .loose();
const connectionRow = z.object({
  connectionId: z.string(),
  userId: z.string(),
  deviceId: z.string(),
  instanceId: z.string(),
  connectedAt: z.string(),
  sentSeq: int,
  bufferedBytes: int,
  tokenExpiresAt: z.string().nullable(),
  remoteAddress: z.string().nullable(),
});
const connectionsReply = z
  .object({
    instanceId: z.string().describe('The instance that answered'),
    scope: z.enum(['cluster', 'local']),
    count: int.describe('Matching devices on the instances that answered (also those past `limit`)'),
    truncated: z.boolean(),
    connections: z.array(connectionRow),
    instances: z
      .array(
        z.object({
          instanceId: z.string(),
          url: z.string().nullable(),
          status: z.enum(['ok', 'unreachable', 'error']),
          count: int,
          truncated: z.boolean(),
          error: z.string().optional(),
        }),
      )
      .optional()
      .describe('scope=cluster: how each live instance answered (unreachable ones are listed, their devices are not)'),
    registryError: z.string().nullable().optional(),
  })
  .loose();
const view = (description: string) => ({ description, schema: z.object({ instanceId: z.string() }).loose() });
export const adminRoutes = {
  stats: defineRoute({
    method: 'get', path: '/api/websocket/stats', operationId: 'websocketStats', tag: 'admin', auth: 'admin',
    summary: "This instance's connections, users and ring buffers, and a row per live instance of the cluster",
    responses: { 200: { description: 'Stats', schema: statsReply } },
  }),
  buffers: defineRoute({
    method: 'get', path: '/api/admin/buffers', operationId: 'adminBuffers', tag: 'admin', auth: 'admin',
    summary: 'Every ring buffer on this instance', responses: { 200: view('Buffers by user') },
  }),
  buffer: defineRoute({
    method: 'get', path: '/api/admin/buffers/:userId', operationId: 'adminBuffer', tag: 'admin', auth: 'admin',
    summary: "One user's ring buffer on this instance", params: z.object({ userId: userIdSchema }),
    responses: { 200: view('The buffer'), 404: { description: 'No buffer of this user on this instance' } },
  }),
  connections: defineRoute({
    method: 'get', path: '/api/admin/connections', operationId: 'adminConnections', tag: 'admin', auth: 'admin',
    summary: 'Devices connected to every live instance (or to this one: scope=local), each with its instanceId',
    query: connectionsQuery, responses: { 200: { description: 'Connections', schema: connectionsReply } },
  }),
};

export function registerAdminRoutes(router: Router, deps: { hub: Hub; instanceId: string; startedAt: number; cluster: ClusterView }): void {
  const { hub, instanceId, cluster } = deps;
  router.get(adminRoutes.stats.path, async (ctx) => {
    const { instances, error } = await cluster.instances();
    ctx.body = {
      instanceId,
      uptimeS: Math.round((Date.now() - deps.startedAt) / 1000),
      ...hub.stats(),
      memory: { rssBytes: process.memoryUsage().rss },
      instances,
      cluster: {
        instances: instances.length,
        totalConnections: instances.reduce((n, i) => n + i.totalConnections, 0),
        activeUsersSum: instances.reduce((n, i) => n + i.activeUsers, 0),
        registryError: error,
      },
    };
  });

  router.get(adminRoutes.buffers.path, (ctx) => {
    ctx.body = { instanceId, users: hub.buffers() };
  });

  router.get(adminRoutes.buffer.path, (ctx) => {
    const userId = validate(userIdSchema, (ctx.params as Record<string, string>).userId, 'userId');
    const buffer = hub.buffer(userId);
    if (!buffer) throw errors.notFound(`Buffer of user ${userId} on this instance`);
    ctx.body = { instanceId, ...buffer };
  });

  router.get(adminRoutes.connections.path, async (ctx) => {
    const q = validate(connectionsQuery, ctx.query, 'query');
    const query = { userId: q.userId, limit: q.limit ?? DEFAULT_CONNECTIONS_LIMIT };
    if (q.scope === 'local') {
      ctx.body = { ...localConnections(hub, instanceId, query), scope: 'local' };
      return;
    }
    // requireAdmin let the request in, so the header is a valid admin bearer token: the same one
    // asks the other instances.
    const merged = await cluster.connections(query, ctx.get('authorization'));
    ctx.body = { instanceId, scope: 'cluster', ...merged };
  });
}
