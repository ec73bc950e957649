/**
 * Pending orders: batch upsert (one aggregated event per kind per batch, never one per order),
 * delete, and submission to the ERP through a job.
 */
import { randomUUID } from 'node:crypto';
import type { PendingOrder } from '../../protocol/index.js';
import type { JobQueue } from '../../ports/jobs.js';
import type { Storage } from '../../ports/storage.js';
import { AppError, errors } from '../../errors.js';
import { isNewer, normalizeItems, sameContent, type OrderContentInput } from '../common.js';
import type { Publish } from '../drafts/drafts-service.js';

export const MAX_BATCH = 500;

/** created / updated / unchanged (identical content: a retry) / stale (older updatedAt) / locked (already sent to the ERP). */
export type UpsertAction = 'created' | 'updated' | 'unchanged' | 'stale' | 'locked';

export interface PendingOrderInput extends OrderContentInput {
  id: string;
}

export function createPendingOrdersService({ storage, publish, jobs }: { storage: Storage; publish: Publish; jobs: JobQueue }) {
  return {
    list: (userId: string) => storage.listPendingOrders(userId),

    async get(userId: string, id: string): Promise<PendingOrder> {
      const order = await storage.getPendingOrder(userId, id);
      if (!order) throw errors.notFound('Pending order');
      return order;
    },

    async upsert(
      userId: string,
      orders: readonly PendingOrderInput[],
      headerDeviceId: string | null,
    ): Promise<{ results: { id: string; action: UpsertAction }[]; seq: number }> {
      const { value, events } = await storage.unitOfWork(userId, async (tx) => {
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
        return results;
      });
      publish(events);
      const seq = events.length > 0 ? events[events.length - 1]!.seq : (await storage.logHead(userId)).latestSeq;
      return { results: value, seq };
    },

    async remove(userId: string, id: string, deviceId: string | null): Promise<{ seq: number }> {
      const { events } = await storage.unitOfWork(userId, async (tx) => {
        if (!(await tx.deletePendingOrder(id))) throw errors.notFound('Pending order');
        tx.appendEvent({ type: 'PENDING_DELETED', payload: { orderId: id }, originDeviceId: deviceId });
      });
      publish(events);
      return { seq: events[0]!.seq };
    },

    /**
     * Queue the order for the ERP. Safe to call twice: while a submission is under way the same job
     * id is returned (and re-enqueued, which is a no-op if it is already queued).
     */
    async submit(userId: string, id: string, deviceId: string | null): Promise<{ jobId: string }> {
      const { value: jobId } = await storage.unitOfWork(userId, async (tx) => {
        const [order] = await tx.getPendingOrders([id]);
        if (!order) throw errors.notFound('Pending order');
        if (order.status === 'submitted') {
          throw new AppError(409, 'ALREADY_SUBMITTED', `Order was already submitted as ${order.erpOrderNumber ?? '?'}`);
        }
        if (order.status === 'submitting' && order.jobId) return order.jobId;
        const newJobId = randomUUID();
        await tx.savePendingOrders([{ ...order, status: 'submitting', jobId: newJobId, serverUpdatedAt: tx.now.toISOString() }]);
        return newJobId;
      });
      try {
        return await jobs.enqueueSubmit({ userId, orderId: id, deviceId }, jobId);
      } catch (err) {
        throw new AppError(503, 'UNAVAILABLE', 'Job queue unavailable; retry the submit', { cause: err });
      }
    },
  };
}

export type PendingOrdersService = ReturnType<typeof createPendingOrdersService>;
