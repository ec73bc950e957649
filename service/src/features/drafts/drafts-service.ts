/**
 * Draft orders: last-write-wins on the client's updatedAt, optional optimistic concurrency with
 * baseVersion, tombstones that always win, conversion to a pending order in one transaction.
 * Every write is safe to send twice (devices replay their offline queue): by its content rules
 * below, and exactly (same status and body, no event) when it carries an Idempotency-Key.
 */
import { randomUUID } from 'node:crypto';
import type { Draft, PendingOrder } from '../../protocol/index.js';
import type { Storage, StoredEvent, UserTx } from '../../ports/storage.js';
import { errors } from '../../errors.js';
import { idempotentWrite, type IdempotencyScope, type Reply } from '../../http/idempotency.js';
import { isNewer, normalizeItems, sameContent, type OrderContentInput } from '../common.js';

export type Publish = (events: readonly StoredEvent[]) => void;

export interface DraftWrite extends OrderContentInput {
  baseVersion?: number;
}

interface WriteResult {
  status: 200 | 201;
  draft: Draft;
}

export interface DraftReplyBody {
  draft: Draft;
  /** seq of the event this write emitted, null when it emitted none (a retry, an idempotent no-op). */
  seq: number | null;
}

export interface ConvertReplyBody {
  pendingOrderId: string;
  pendingOrder: PendingOrder | null;
  draft: Draft;
  seq: number | null;
}

/** The seq a write reports: its last event's, or null when it appended none. */
function emittedSeq(tx: UserTx, before: number): number | null {
  const after = tx.latestSeq();
  return after > before ? after : null;
}

function applyContent(existing: Draft, input: DraftWrite, deviceId: string | null, now: Date): Draft {
  return {
    ...existing,
    deviceId: deviceId ?? existing.deviceId,
    customerId: input.customerId,
    customerName: input.customerName,
    items: normalizeItems(input.items),
    notes: input.notes ?? null,
    updatedAt: isNewer(input.updatedAt, existing.updatedAt) ? input.updatedAt : existing.updatedAt,
    serverUpdatedAt: now.toISOString(),
    version: existing.version + 1,
  };
}

function contentOf(input: DraftWrite) {
  return { ...input, items: normalizeItems(input.items), notes: input.notes ?? null };
}

export function createDraftsService({ storage, publish }: { storage: Storage; publish: Publish }) {
  async function write(
    userId: string,
    scope: IdempotencyScope | null,
    fn: (tx: UserTx) => Promise<WriteResult>,
  ): Promise<Reply<DraftReplyBody>> {
    const { reply, events } = await idempotentWrite(storage, userId, scope, async (tx) => {
      const before = tx.latestSeq();
      const { status, draft } = await fn(tx);
      return { status, body: { draft, seq: emittedSeq(tx, before) } };
    });
    publish(events);
    return reply;
  }

  function update(tx: UserTx, existing: Draft, input: DraftWrite, deviceId: string | null): Promise<WriteResult> {
    const draft = applyContent(existing, input, deviceId, tx.now);
    return tx.saveDraft(draft).then(() => {
      tx.appendEvent({ type: 'DRAFT_UPDATED', payload: { draftId: draft.id, draft, deviceId }, originDeviceId: deviceId });
      return { status: 200 as const, draft };
    });
  }

  return {
    list: (userId: string, includeDeleted: boolean) => storage.listDrafts(userId, { includeDeleted }),

    async get(userId: string, id: string): Promise<Draft> {
      const draft = await storage.getDraft(userId, id);
      if (!draft) throw errors.notFound('Draft');
      return draft;
    },

    /** Create, or (same id again) a retry or an upsert: newer applies, identical is a no-op, else 409. */
    create(userId: string, id: string, input: DraftWrite, deviceId: string | null, scope: IdempotencyScope | null = null) {
      return write(userId, scope, async (tx) => {
        const existing = await tx.getDraft(id);
        if (!existing) {
          const now = tx.now.toISOString();
          const draft: Draft = {
            id,
            deviceId,
            customerId: input.customerId,
            customerName: input.customerName,
            items: normalizeItems(input.items),
            notes: input.notes ?? null,
            updatedAt: input.updatedAt,
            serverUpdatedAt: now,
            version: 1,
            deleted: false,
            deletedAt: null,
            convertedTo: null,
          };
          await tx.saveDraft(draft);
          tx.appendEvent({ type: 'DRAFT_CREATED', payload: { draftId: id, draft, deviceId }, originDeviceId: deviceId });
          return { status: 201, draft };
        }
        if (existing.deleted) throw errors.gone('Draft');
        if (isNewer(input.updatedAt, existing.updatedAt)) return update(tx, existing, input, deviceId);
        if (sameContent(existing, contentOf(input))) return { status: 200, draft: existing };
        throw errors.staleWrite(existing);
      });
    },

    update(userId: string, id: string, input: DraftWrite, deviceId: string | null, scope: IdempotencyScope | null = null) {
      return write(userId, scope, async (tx) => {
        const existing = await tx.getDraft(id);
        if (!existing) throw errors.notFound('Draft');
        if (existing.deleted) throw errors.gone('Draft');
        const identical = sameContent(existing, contentOf(input));
        if (input.baseVersion !== undefined) {
          // Optimistic concurrency: the client proves it saw the current version, so its write wins.
          if (input.baseVersion !== existing.version) {
            if (identical) return { status: 200, draft: existing }; // a retry of a write that already applied
            throw errors.versionConflict(existing);
          }
          if (identical && !isNewer(input.updatedAt, existing.updatedAt)) return { status: 200, draft: existing };
          return update(tx, existing, input, deviceId);
        }
        if (!isNewer(input.updatedAt, existing.updatedAt)) {
          if (identical) return { status: 200, draft: existing };
          throw errors.staleWrite(existing);
        }
        return update(tx, existing, input, deviceId);
      });
    },

    /** Tombstone. Deleting a deleted draft is a no-op (200, no event). */
    remove(userId: string, id: string, deviceId: string | null, scope: IdempotencyScope | null = null) {
      return write(userId, scope, async (tx) => {
        const existing = await tx.getDraft(id);
        if (!existing) throw errors.notFound('Draft');
        if (existing.deleted) return { status: 200, draft: existing };
        const now = tx.now.toISOString();
        const draft: Draft = {
          ...existing,
          deviceId: deviceId ?? existing.deviceId,
          deleted: true,
          deletedAt: now,
          serverUpdatedAt: now,
          version: existing.version + 1,
        };
        await tx.saveDraft(draft);
        tx.appendEvent({ type: 'DRAFT_DELETED', payload: { draftId: id, deleted: true, deviceId }, originDeviceId: deviceId });
        return { status: 200, draft };
      });
    },

    /** Draft becomes a pending order, in one transaction. Converting again returns the same order, no event. */
    async convert(userId: string, id: string, deviceId: string | null, scope: IdempotencyScope | null = null): Promise<Reply<ConvertReplyBody>> {
      const { reply, events } = await idempotentWrite<ConvertReplyBody>(storage, userId, scope, async (tx) => {
        const existing = await tx.getDraft(id);
        if (!existing) throw errors.notFound('Draft');
        if (existing.deleted && existing.convertedTo) {
          const [order] = await tx.getPendingOrders([existing.convertedTo]);
          return { status: 200, body: { pendingOrderId: existing.convertedTo, pendingOrder: order ?? null, draft: existing, seq: null } };
        }
        if (existing.deleted) throw errors.gone('Draft');
        const now = tx.now.toISOString();
        const order: PendingOrder = {
          id: randomUUID(),
          deviceId: deviceId ?? existing.deviceId,
          customerId: existing.customerId,
          customerName: existing.customerName,
          items: existing.items,
          notes: existing.notes,
          updatedAt: now,
          serverUpdatedAt: now,
          version: 1,
          status: 'pending',
          erpOrderNumber: null,
          jobId: null,
          sourceDraftId: existing.id,
        };
        const draft: Draft = {
          ...existing,
          deleted: true,
          deletedAt: now,
          convertedTo: order.id,
          serverUpdatedAt: now,
          version: existing.version + 1,
        };
        await tx.savePendingOrders([order]);
        await tx.saveDraft(draft);
        tx.appendEvent({ type: 'DRAFT_CONVERTED', payload: { draftId: id, pendingOrderId: order.id }, originDeviceId: deviceId });
        tx.appendEvent({ type: 'PENDING_CREATED', payload: { orderIds: [order.id], count: 1 }, originDeviceId: deviceId });
        return { status: 201, body: { pendingOrderId: order.id, pendingOrder: order, draft, seq: tx.latestSeq() } };
      });
      publish(events);
      return reply;
    },
  };
}

export type DraftsService = ReturnType<typeof createDraftsService>;
