/** Admin views of this instance: stats, ring buffers, connections. Admin role required. */
import type Router from '@koa/router';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { validate } from '../../http/validate.js';
import type { Hub } from '../../realtime/hub.js';

const userIdSchema = z.string().min(1).max(128);

export function registerAdminRoutes(router: Router, deps: { hub: Hub; instanceId: string; startedAt: number }): void {
  const { hub, instanceId } = deps;
  router.get('/api/websocket/stats', (ctx) => {
    ctx.body = {
      instanceId,
      uptimeS: Math.round((Date.now() - deps.startedAt) / 1000),
      ...hub.stats(),
      memory: { rssBytes: process.memoryUsage().rss },
    };
  });

  router.get('/api/admin/buffers', (ctx) => {
    ctx.body = { instanceId, users: hub.buffers() };
  });

  router.get('/api/admin/buffers/:userId', (ctx) => {
    const userId = validate(userIdSchema, (ctx.params as Record<string, string>).userId, 'userId');
    const buffer = hub.buffer(userId);
    if (!buffer) throw errors.notFound(`Buffer of user ${userId} on this instance`);
    ctx.body = { instanceId, ...buffer };
  });

  router.get('/api/admin/connections', (ctx) => {
    const q = validate(z.object({ userId: userIdSchema.optional() }), ctx.query, 'query');
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
