/**
 * Pending orders: batch upsert (one aggregated event per kind per batch, never one per order),
 * delete, and submission to the ERP through a job. Writes take an optional IdempotencyScope
 * (DESIGN §12) and answer a Reply the route sends as it is.
 */
import type { PendingOrder } from '../../protocol/index.js';
import type { JobQueue } from '../../ports/jobs.js';
import type { Storage } from '../../ports/storage.js';
import type { IdempotencyScope, UpsertReplyBody } from '../../ports/writes.js';
import { AppError, errors } from '../../errors.js';
import type { Reply } from '../../http/idempotency.js';
import type { Commit } from '../commit.js';
import { orderContent, type OrderContentInput } from '../common.js';

export const MAX_BATCH = 500;
/**
 * Most ids in one batch read (`GET /api/pending-orders?ids=`): 200 uuids are about 7.4 KB of query
 * string, well under Node's 16 KB header limit together with a token.
 */
export const MAX_READ_IDS = 200;

export type { UpsertAction } from '../../ports/writes.js';

export interface PendingOrderInput extends OrderContentInput {
  id: string;
}

export function createPendingOrdersService({ storage, commit, jobs }: { storage: Storage; commit: Commit; jobs: JobQueue }) {
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

    /** One result per order; at most one PENDING_CREATED and one PENDING_UPDATED per batch (never one per order). */
    upsert(
      userId: string,
      orders: readonly PendingOrderInput[],
      headerDeviceId: string | null,
      scope: IdempotencyScope | null = null,
    ): Promise<Reply<UpsertReplyBody>> {
      const normalized = orders.map((o) => ({ id: o.id, deviceId: o.deviceId ?? null, ...orderContent(o) }));
      return commit.reply(storage.upsertPendingOrders(userId, { deviceId: headerDeviceId, orders: normalized }, scope), 'Pending order');
    },

    remove(userId: string, id: string, deviceId: string | null, scope: IdempotencyScope | null = null): Promise<Reply<{ seq: number }>> {
      return commit.reply(storage.deletePendingOrder(userId, { id, deviceId }, scope), 'Pending order');
    },

    /**
     * Queue the order for the ERP. Safe to call twice, with or without a key: while a submission is
     * under way the same job id is answered; once submitted, 409 ALREADY_SUBMITTED (with a key: the
     * kept 202 again); after a final failure, a call without a key (or with a new one) submits anew.
     * The switch to `submitting` is a status change every device sees: PENDING_UPDATED from
     * `deviceId`, in the same transaction (a repeat while under way changes nothing, emits nothing).
     *
     * The job id is recoverable rather than deterministic: the storage's write makes it and commits it
     * on the order row (status `submitting`) in the same transaction as the key. The job is enqueued after commit;
     * if the process dies in between, any repeat (the replay of the key included) finds the order
     * still `submitting` with that job id and enqueues it. Enqueueing is idempotent by job id, so a
     * repeat never creates a second job.
     */
    async submit(userId: string, id: string, deviceId: string | null, scope: IdempotencyScope | null = null): Promise<Reply<{ jobId: string }>> {
      const reply = await commit.reply(storage.submitPendingOrder(userId, { id, deviceId }, scope), 'Pending order');
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
