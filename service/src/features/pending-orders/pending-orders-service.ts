/**
 * Pending orders: batch upsert (one aggregated event per kind per batch, never one per order),
 * delete, and submission to the ERP through a job. Writes take an optional IdempotencyScope
 * (DESIGN §12) and answer a Reply the route sends as it is.
 */
import { randomUUID } from 'node:crypto';
import type { PendingOrder } from '../../protocol/index.js';
import type { JobQueue } from '../../ports/jobs.js';
import type { Storage } from '../../ports/storage.js';
import { AppError, errors } from '../../errors.js';
import { idempotentWrite, type IdempotencyScope, type Reply } from '../../http/idempotency.js';
import { isNewer, normalizeItems, sameContent, type OrderContentInput } from '../common.js';
import type { Publish } from '../drafts/drafts-service.js';

export const MAX_BATCH = 500;
/**
 * Most ids in one batch read (`GET /api/pending-orders?ids=`): 200 uuids are about 7.4 KB of query
 * string, well under Node's 16 KB header limit together with a token.
 */
export const MAX_READ_IDS = 200;

/** created / updated / unchanged (identical content: a retry) / stale (older updatedAt) / locked (already sent to the ERP). */
export type UpsertAction = 'created' | 'updated' | 'unchanged' | 'stale' | 'locked';

export interface PendingOrderInput extends OrderContentInput {
  id: string;
}

export function createPendingOrdersService({ storage, publish, jobs }: { storage: Storage; publish: Publish; jobs: JobQueue }) {
  async function stillSubmitting(userId: string, id: string, jobId: string): Promise<boolean> {
    const order = await storage.getPendingOrder(userId, id);
    return order?.status === 'submitting' && order.jobId === jobId;
  }

  return {
    /** All the user's orders, or (with `ids`) only those among them; with the seq of the same snapshot. */
    list: (userId: string, ids?: readonly string[]) => storage.listPendingOrders(userId, ids ? { ids } : {}),

    async get(userId: string, id: string): Promise<PendingOrder> {
      const order = await storage.getPendingOrder(userId, id);
      if (!order) throw errors.notFound('Pending order');
      return order;
    },

    async upsert(
      userId: string,
      orders: readonly PendingOrderInput[],
      headerDeviceId: string | null,
      scope: IdempotencyScope | null = null,
    ): Promise<Reply<{ results: { id: string; action: UpsertAction }[]; seq: number }>> {
      const { reply, events } = await idempotentWrite(storage, userId, scope, async (tx) => {
        const existing = new Map((await tx.getPendingOrders(orders.map((o) => o.id))).map((o) => [o.id, o]));
        const now = tx.now.toISOString();
        const results: { id: string; action: UpsertAction }[] = [];
        const toSave: PendingOrder[] = [];
        const created: string[] = [];
        const updated: string[] = [];
        for (const input of orders) {
          const deviceId = headerDeviceId ?? input.deviceId ?? null;
          const content = { ...input, items: normalizeItems(input.items), notes: input.notes ?? null };
          const cur = existing.get(input.id);
          let action: UpsertAction;
          if (!cur) {
            action = 'created';
            toSave.push({
              id: input.id, deviceId, customerId: input.customerId, customerName: input.customerName,
              items: content.items, notes: content.notes, updatedAt: input.updatedAt, serverUpdatedAt: now,
              version: 1, status: 'pending', erpOrderNumber: null, jobId: null, sourceDraftId: null,
            });
            created.push(input.id);
          } else if (cur.status === 'submitting' || cur.status === 'submitted') {
            action = sameContent(cur, content) ? 'unchanged' : 'locked';
          } else if (!isNewer(input.updatedAt, cur.updatedAt)) {
            action = sameContent(cur, content) ? 'unchanged' : 'stale';
          } else {
            action = 'updated';
            toSave.push({
              ...cur, deviceId: deviceId ?? cur.deviceId, customerId: input.customerId, customerName: input.customerName,
              items: content.items, notes: content.notes, updatedAt: input.updatedAt, serverUpdatedAt: now,
              version: cur.version + 1,
            });
            updated.push(input.id);
          }
          results.push({ id: input.id, action });
        }
        await tx.savePendingOrders(toSave);
        const origin = headerDeviceId ?? orders[0]?.deviceId ?? null;
        if (created.length > 0) {
          tx.appendEvent({ type: 'PENDING_CREATED', payload: { orderIds: created, count: created.length }, originDeviceId: origin });
        }
        if (updated.length > 0) {
          tx.appendEvent({ type: 'PENDING_UPDATED', payload: { orderIds: updated, count: updated.length }, originDeviceId: origin });
        }
        // The user's head seq: this batch's last event, or the current one when it emitted nothing.
        return { status: 200, body: { results, seq: tx.latestSeq() } };
      });
      publish(events);
      return reply;
    },

    async remove(userId: string, id: string, deviceId: string | null, scope: IdempotencyScope | null = null): Promise<Reply<{ seq: number }>> {
      const { reply, events } = await idempotentWrite(storage, userId, scope, async (tx) => {
        if (!(await tx.deletePendingOrder(id))) throw errors.notFound('Pending order');
        const e = tx.appendEvent({ type: 'PENDING_DELETED', payload: { orderId: id }, originDeviceId: deviceId });
        return { status: 200, body: { seq: e.seq } };
      });
      publish(events);
      return reply;
    },

    /**
     * Queue the order for the ERP. Safe to call twice, with or without a key: while a submission is
     * under way the same job id is answered; once submitted, 409 ALREADY_SUBMITTED (with a key: the
     * kept 202 again); after a final failure, a call without a key (or with a new one) submits anew.
     *
     * The job id is recoverable rather than deterministic: it is made here and committed on the order
     * row (status `submitting`) in the same transaction as the key. The job is enqueued after commit;
     * if the process dies in between, any repeat (the replay of the key included) finds the order
     * still `submitting` with that job id and enqueues it. Enqueueing is idempotent by job id, so a
     * repeat never creates a second job.
     */
    async submit(userId: string, id: string, deviceId: string | null, scope: IdempotencyScope | null = null): Promise<Reply<{ jobId: string }>> {
      const { reply } = await idempotentWrite(storage, userId, scope, async (tx) => {
        const [order] = await tx.getPendingOrders([id]);
        if (!order) throw errors.notFound('Pending order');
        if (order.status === 'submitted') {
          throw new AppError(409, 'ALREADY_SUBMITTED', `Order was already submitted as ${order.erpOrderNumber ?? '?'}`);
        }
        if (order.status === 'submitting' && order.jobId) return { status: 202, body: { jobId: order.jobId } };
        const jobId = randomUUID();
        await tx.savePendingOrders([{ ...order, status: 'submitting', jobId, serverUpdatedAt: tx.now.toISOString() }]);
        return { status: 202, body: { jobId } };
      });
      if (reply.replayed && !(await stillSubmitting(userId, id, reply.body.jobId))) return reply; // its job ran: nothing to recover
      try {
        await jobs.enqueueSubmit({ userId, orderId: id, deviceId }, reply.body.jobId);
      } catch (err) {
        throw new AppError(503, 'UNAVAILABLE', 'Job queue unavailable; retry the submit', { cause: err });
      }
      return reply;
    },
  };
}

export type PendingOrdersService = ReturnType<typeof createPendingOrdersService>;
