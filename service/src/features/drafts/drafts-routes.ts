/** Draft routes: each route's contract (http/route-spec.ts) and its handler, validated with the same schemas. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { idempotencyScope, sendReply } from '../../http/idempotency.js';
import { defineRoute } from '../../http/route-spec.js';
import { validate } from '../../http/validate.js';
import {
  draftSchema,
  idParam,
  idParamsSchema,
  idSchema,
  orderContentSchema,
  originDevice,
  pendingOrderSchema,
  principal,
  writeSeqSchema,
} from '../common.js';
import type { DraftsService } from './drafts-service.js';

export const createDraftSchema = orderContentSchema.extend({ id: idSchema });
export const updateDraftSchema = orderContentSchema.extend({
  id: idSchema.optional(),
  baseVersion: z.number().int().min(1).optional(),
});
export const listDraftsQuery = z.object({ includeDeleted: z.enum(['true', 'false']).optional() });

const draftReply = z.object({ draft: draftSchema, seq: writeSeqSchema });
const current = { description: 'The stored draft is newer (STALE_WRITE) or of another version (VERSION_CONFLICT); `current` holds it' };
const tag = 'drafts';

export const draftRoutes = {
  list: defineRoute({
    method: 'get', path: '/api/drafts', operationId: 'listDrafts', tag, auth: 'user',
    summary: 'Live drafts with the seq of the same snapshot',
    query: listDraftsQuery,
    responses: { 200: { description: 'The drafts', schema: z.object({ items: z.array(draftSchema), seq: z.number().int() }) } },
  }),
  get: defineRoute({
    method: 'get', path: '/api/drafts/:id', operationId: 'getDraft', tag, auth: 'user',
    summary: 'One draft (tombstones included)',
    params: idParamsSchema,
    responses: { 200: { description: 'The draft', schema: draftSchema }, 404: { description: 'No such draft' } },
  }),
  create: defineRoute({
    method: 'post', path: '/api/drafts', operationId: 'createDraft', tag, auth: 'user', idempotent: true, deviceHeader: true,
    summary: 'Create a draft; the same id again is a retry or an upsert (DESIGN §10)',
    body: createDraftSchema,
    responses: {
      201: { description: 'Created (DRAFT_CREATED)', schema: draftReply },
      200: { description: 'Applied as an update (newer updatedAt: DRAFT_UPDATED) or an identical retry (seq null, no event)', schema: draftReply },
      409: current,
      410: { description: 'The draft is a tombstone' },
    },
  }),
  update: defineRoute({
    method: 'put', path: '/api/drafts/:id', operationId: 'updateDraft', tag, auth: 'user', idempotent: true, deviceHeader: true,
    summary: 'Update; last-write-wins on updatedAt, optional baseVersion',
    params: idParamsSchema,
    body: updateDraftSchema,
    responses: {
      200: { description: 'Updated (DRAFT_UPDATED), or identical content (seq null, no event)', schema: draftReply },
      404: { description: 'No such draft (PUT never creates)' },
      409: current,
      410: { description: 'The draft is a tombstone' },
    },
  }),
  remove: defineRoute({
    method: 'delete', path: '/api/drafts/:id', operationId: 'deleteDraft', tag, auth: 'user', idempotent: true, deviceHeader: true,
    summary: 'Tombstone a draft; deleting a tombstone is a no-op',
    params: idParamsSchema,
    responses: {
      200: { description: 'Deleted (DRAFT_DELETED), or already deleted (seq null)', schema: draftReply },
      404: { description: 'No such draft (emits nothing)' },
    },
  }),
  convert: defineRoute({
    method: 'post', path: '/api/drafts/:id/convert', operationId: 'convertDraft', tag, auth: 'user', idempotent: true, deviceHeader: true,
    summary: 'Convert a draft to a pending order, in one transaction',
    params: idParamsSchema,
    responses: {
      201: {
        description: 'Converted (DRAFT_CONVERTED and PENDING_CREATED)',
        schema: z.object({ pendingOrderId: z.string(), pendingOrder: pendingOrderSchema.nullable(), draft: draftSchema, seq: writeSeqSchema }),
      },
      200: {
        description: 'Already converted: the same pendingOrderId, no event',
        schema: z.object({ pendingOrderId: z.string(), pendingOrder: pendingOrderSchema.nullable(), draft: draftSchema, seq: writeSeqSchema }),
      },
      404: { description: 'No such draft' },
      410: { description: 'The draft was deleted without being converted' },
    },
  }),
};

/** `idempotency` guards the write routes (http/idempotency.ts). */
export function registerDraftRoutes(router: Router, drafts: DraftsService, idempotency: Middleware): void {
  const r = draftRoutes;
  router.get(r.list.path, async (ctx) => {
    const q = validate(r.list.query, ctx.query, 'query');
    ctx.body = await drafts.list(principal(ctx).userId, q.includeDeleted === 'true');
  });

  router.get(r.get.path, async (ctx) => {
    ctx.body = await drafts.get(principal(ctx).userId, idParam(ctx));
  });

  router.post(r.create.path, idempotency, async (ctx) => {
    const input = validate(r.create.body, ctx.state.body, 'draft');
    const id = input.id.toLowerCase();
    sendReply(ctx, await drafts.create(principal(ctx).userId, id, input, originDevice(ctx, input.deviceId), idempotencyScope(ctx)));
  });

  router.put(r.update.path, idempotency, async (ctx) => {
    const id = idParam(ctx);
    const input = validate(r.update.body, ctx.state.body, 'draft');
    if (input.id !== undefined && input.id.toLowerCase() !== id) {
      throw errors.validation('Invalid draft: id in the body differs from the id in the path');
    }
    sendReply(ctx, await drafts.update(principal(ctx).userId, id, input, originDevice(ctx, input.deviceId), idempotencyScope(ctx)));
  });

  router.delete(r.remove.path, idempotency, async (ctx) => {
    sendReply(ctx, await drafts.remove(principal(ctx).userId, idParam(ctx), originDevice(ctx), idempotencyScope(ctx)));
  });

  router.post(r.convert.path, idempotency, async (ctx) => {
    sendReply(ctx, await drafts.convert(principal(ctx).userId, idParam(ctx), originDevice(ctx), idempotencyScope(ctx)));
  });
}
