/** Admin views of this instance: stats, ring buffers, connections. Admin role required. */
import type Router from '@koa/router';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { defineRoute } from '../../http/route-spec.js';
import { validate } from '../../http/validate.js';
import type { Hub } from '../../realtime/hub.js';

const userIdSchema = z.string().min(1).max(128);
const connectionsQuery = z.object({ userId: userIdSchema.optional() });

// Contracts for the OpenAPI document (http/openapi.ts); the handlers below validate with the same schemas.
const view = (description: string) => ({ description, schema: z.object({ instanceId: z.string() }).loose() });
export const adminRoutes = {
  stats: defineRoute({
    method: 'get', path: '/api/websocket/stats', operationId: 'websocketStats', tag: 'admin', auth: 'admin',
    summary: "This instance's connections, users and ring buffers", responses: { 200: view('Stats') },
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
    summary: 'Devices connected to this instance', query: connectionsQuery, responses: { 200: view('Connections') },
  }),
};

export function registerAdminRoutes(router: Router, deps: { hub: Hub; instanceId: string; startedAt: number }): void {
  const { hub, instanceId } = deps;
  router.get(adminRoutes.stats.path, (ctx) => {
    ctx.body = {
      instanceId,
      uptimeS: Math.round((Date.now() - deps.startedAt) / 1000),
      ...hub.stats(),
      memory: { rssBytes: process.memoryUsage().rss },
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

  router.get(adminRoutes.connections.path, (ctx) => {
    const q = validate(connectionsQuery, ctx.query, 'query');
    const connections = hub
      .allConnections()
      .filter((c) => !c.closed && (q.userId === undefined || c.userId === q.userId))
      .map((c) => ({
        connectionId: c.id,
        userId: c.userId,
        deviceId: c.deviceId,
        instanceId,
        connectedAt: c.connectedAt.toISOString(),
        sentSeq: c.sentSeq,
        bufferedBytes: c.ws.bufferedAmount,
        tokenExpiresAt: c.expiresAtMs === null ? null : new Date(c.expiresAtMs).toISOString(),
        remoteAddress: c.remoteAddress,
      }));
    ctx.body = { instanceId, count: connections.length, connections };
  });
}
