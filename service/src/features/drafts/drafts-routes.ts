import type Router from '@koa/router';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { validate } from '../../http/validate.js';
import { idParam, idSchema, orderContentSchema, originDevice, principal } from '../common.js';
import type { DraftsService } from './drafts-service.js';

const createSchema = orderContentSchema.extend({ id: idSchema });
const updateSchema = orderContentSchema.extend({
  id: idSchema.optional(),
  baseVersion: z.number().int().min(1).optional(),
});
const listQuery = z.object({ includeDeleted: z.enum(['true', 'false']).optional() });

export function registerDraftRoutes(router: Router, drafts: DraftsService): void {
  router.get('/api/drafts', async (ctx) => {
    const q = validate(listQuery, ctx.query, 'query');
    ctx.body = await drafts.list(principal(ctx).userId, q.includeDeleted === 'true');
  });

  router.get('/api/drafts/:id', async (ctx) => {
    ctx.body = await drafts.get(principal(ctx).userId, idParam(ctx));
  });

  router.post('/api/drafts', async (ctx) => {
    const input = validate(createSchema, ctx.state.body, 'draft');
    const r = await drafts.create(principal(ctx).userId, input.id.toLowerCase(), input, originDevice(ctx, input.deviceId));
    ctx.status = r.status;
    ctx.body = { draft: r.draft, seq: r.seq };
  });

  router.put('/api/drafts/:id', async (ctx) => {
    const id = idParam(ctx);
    const input = validate(updateSchema, ctx.state.body, 'draft');
    if (input.id !== undefined && input.id.toLowerCase() !== id) {
      throw errors.validation('Invalid draft: id in the body differs from the id in the path');
    }
    const r = await drafts.update(principal(ctx).userId, id, input, originDevice(ctx, input.deviceId));
    ctx.status = r.status;
    ctx.body = { draft: r.draft, seq: r.seq };
  });

  router.delete('/api/drafts/:id', async (ctx) => {
    const r = await drafts.remove(principal(ctx).userId, idParam(ctx), originDevice(ctx));
    ctx.body = { draft: r.draft, seq: r.seq };
  });

  router.post('/api/drafts/:id/convert', async (ctx) => {
    const r = await drafts.convert(principal(ctx).userId, idParam(ctx), originDevice(ctx));
    ctx.status = r.status;
    ctx.body = { pendingOrderId: r.pendingOrderId, pendingOrder: r.pendingOrder, draft: r.draft, seq: r.seq };
  });
}
