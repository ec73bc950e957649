import type Router from '@koa/router';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { validate } from '../../http/validate.js';
import { idParam, idSchema, orderContentSchema, originDevice, principal } from '../common.js';
import { MAX_BATCH, type PendingOrdersService } from './pending-orders-service.js';

const batchSchema = z.object({
  orders: z.array(orderContentSchema.extend({ id: idSchema })).min(1).max(MAX_BATCH),
});

export function registerPendingOrderRoutes(router: Router, pending: PendingOrdersService): void {
  router.get('/api/pending-orders', async (ctx) => {
    ctx.body = await pending.list(principal(ctx).userId);
  });

  router.get('/api/pending-orders/:id', async (ctx) => {
    ctx.body = await pending.get(principal(ctx).userId, idParam(ctx));
  });

  router.post('/api/pending-orders', async (ctx) => {
    const { orders } = validate(batchSchema, ctx.state.body, 'batch');
    const normalized = orders.map((o) => ({ ...o, id: o.id.toLowerCase() }));
    const ids = new Set(normalized.map((o) => o.id));
    if (ids.size !== normalized.length) throw errors.validation('Invalid batch: an order id appears twice');
    ctx.body = await pending.upsert(principal(ctx).userId, normalized, originDevice(ctx));
  });

  router.delete('/api/pending-orders/:id', async (ctx) => {
    ctx.body = await pending.remove(principal(ctx).userId, idParam(ctx), originDevice(ctx));
  });

  router.post('/api/pending-orders/:id/submit', async (ctx) => {
    const r = await pending.submit(principal(ctx).userId, idParam(ctx), originDevice(ctx));
    ctx.status = 202;
    ctx.body = r;
  });
}
