/** Pending-order routes: each route's contract (http/route-spec.ts) and its handler, validated with the same schemas. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { idempotencyScope, sendReply } from '../../http/idempotency.js';
import { defineRoute } from '../../http/route-spec.js';
import { validate } from '../../http/validate.js';
import { idParam, idParamsSchema, idSchema, orderContentSchema, originDevice, pendingOrderSchema, principal } from '../common.js';
import { MAX_BATCH, MAX_READ_IDS, type PendingOrdersService } from './pending-orders-service.js';

export const upsertBatchSchema = z.object({
  orders: z.array(orderContentSchema.extend({ id: idSchema })).min(1).max(MAX_BATCH),
});

/** `?ids=<uuid>,<uuid>`: the batch read. Without it, the whole list. */
export const listPendingQuery = z.object({
  ids: z
    .string()
    .describe(`Comma-separated order ids (at most ${MAX_READ_IDS}): only the caller's orders among them are returned`)
    .transform((s) => s.split(','))
    .pipe(z.array(idSchema).min(1).max(MAX_READ_IDS, `at most ${MAX_READ_IDS} ids`))
    .transform((ids) => [...new Set(ids.map((id) => id.toLowerCase()))])
    .optional(),
});

const listReply = z.object({ items: z.array(pendingOrderSchema), seq: z.number().int() });
const tag = 'pending-orders';

export const pendingOrderRoutes = {
  list: defineRoute({
    method: 'get', path: '/api/pending-orders', operationId: 'listPendingOrders', tag, auth: 'user',
    summary: 'Pending orders with the seq of the same snapshot; `?ids=` reads only those (unknown ids are absent)',
    query: listPendingQuery,
    responses: { 200: { description: 'The orders', schema: listReply } },
  }),
  get: defineRoute({
    method: 'get', path: '/api/pending-orders/:id', operationId: 'getPendingOrder', tag, auth: 'user',
    summary: 'One pending order',
    params: idParamsSchema,
    responses: { 200: { description: 'The order', schema: pendingOrderSchema }, 404: { description: 'No such order' } },
  }),
  upsert: defineRoute({
    method: 'post', path: '/api/pending-orders', operationId: 'upsertPendingOrders', tag, auth: 'user', idempotent: true, deviceHeader: true,
    summary: 'Batch upsert: one PENDING_CREATED and one PENDING_UPDATED per batch at most',
    body: upsertBatchSchema,
    responses: {
      200: {
        description: 'One result per order; `unchanged`, `stale` and `locked` emit nothing',
        schema: z.object({
          results: z.array(z.object({ id: z.string(), action: z.enum(['created', 'updated', 'unchanged', 'stale', 'locked']) })),
          seq: z.number().int().describe("the user's head seq after the batch"),
        }),
      },
    },
  }),
  remove: defineRoute({
    method: 'delete', path: '/api/pending-orders/:id', operationId: 'deletePendingOrder', tag, auth: 'user', idempotent: true, deviceHeader: true,
    summary: 'Delete a pending order (PENDING_DELETED)',
    params: idParamsSchema,
    responses: { 200: { description: 'Deleted', schema: z.object({ seq: z.number().int() }) }, 404: { description: 'No such order (emits nothing)' } },
  }),
  submit: defineRoute({
    method: 'post', path: '/api/pending-orders/:id/submit', operationId: 'submitPendingOrder', tag, auth: 'user', idempotent: true, deviceHeader: true,
    summary: 'Send the order to the ERP through a job; repeats answer the same job',
    params: idParamsSchema,
    responses: {
      202: { description: 'Queued (or already under way: the same jobId)', schema: z.object({ jobId: z.string() }) },
      404: { description: 'No such order' },
      409: { description: 'ALREADY_SUBMITTED' },
    },
  }),
};

/** `idempotency` guards the write routes (http/idempotency.ts). */
export function registerPendingOrderRoutes(router: Router, pending: PendingOrdersService, idempotency: Middleware): void {
  const r = pendingOrderRoutes;
  router.get(r.list.path, async (ctx) => {
    const q = validate(r.list.query, ctx.query, 'query');
    ctx.body = await pending.list(principal(ctx).userId, q.ids);
  });

  router.get(r.get.path, async (ctx) => {
    ctx.body = await pending.get(principal(ctx).userId, idParam(ctx));
  });

  router.post(r.upsert.path, idempotency, async (ctx) => {
    const { orders } = validate(r.upsert.body, ctx.state.body, 'batch');
    const normalized = orders.map((o) => ({ ...o, id: o.id.toLowerCase() }));
    const ids = new Set(normalized.map((o) => o.id));
    if (ids.size !== normalized.length) throw errors.validation('Invalid batch: an order id appears twice');
    sendReply(ctx, await pending.upsert(principal(ctx).userId, normalized, originDevice(ctx), idempotencyScope(ctx)));
  });

  router.delete(r.remove.path, idempotency, async (ctx) => {
    sendReply(ctx, await pending.remove(principal(ctx).userId, idParam(ctx), originDevice(ctx), idempotencyScope(ctx)));
  });

  router.post(r.submit.path, idempotency, async (ctx) => {
    sendReply(ctx, await pending.submit(principal(ctx).userId, idParam(ctx), originDevice(ctx), idempotencyScope(ctx)));
  });
}
