/**
 * Draft orders: last-write-wins on the client's updatedAt, optional optimistic concurrency with
 * baseVersion, tombstones that always win, conversion to a pending order in one transaction.
 * Every write is safe to send twice (devices replay their offline queue): by its content rules, and
 * exactly (same status and body, no event) when it carries an Idempotency-Key.
 *
 * The rules run inside the storage's write (on SQL: one server-side function per write kind,
 * storage/write-functions.ts, so one round trip); this service shapes the input and commits.
 */
import type { Draft } from '../../protocol/index.js';
import type { Storage } from '../../ports/storage.js';
import type { ConvertReplyBody, IdempotencyScope } from '../../ports/writes.js';
import { errors } from '../../errors.js';
import type { Reply } from '../../http/idempotency.js';
import type { Commit } from '../commit.js';
import { orderContent, type OrderContentInput } from '../common.js';

export type { ConvertReplyBody, DraftReplyBody } from '../../ports/writes.js';

export interface DraftWrite extends OrderContentInput {
  baseVersion?: number;
}

export function createDraftsService({ storage, commit }: { storage: Storage; commit: Commit }) {
  return {
    list: (userId: string, includeDeleted: boolean) => storage.listDrafts(userId, { includeDeleted }),

    async get(userId: string, id: string): Promise<Draft> {
      const draft = await storage.getDraft(userId, id);
      if (!draft) throw errors.notFound('Draft');
      return draft;
    },

    /** Create, or (same id again) a retry or an upsert: newer applies, identical is a no-op, else 409. */
    create(userId: string, id: string, input: DraftWrite, deviceId: string | null, scope: IdempotencyScope | null = null) {
      return commit.reply(storage.createDraft(userId, { id, deviceId, content: orderContent(input) }, scope), 'Draft');
    },

    update(userId: string, id: string, input: DraftWrite, deviceId: string | null, scope: IdempotencyScope | null = null) {
      const w = { id, deviceId, content: orderContent(input), ...(input.baseVersion !== undefined ? { baseVersion: input.baseVersion } : {}) };
      return commit.reply(storage.updateDraft(userId, w, scope), 'Draft');
    },

    /** Tombstone. Deleting a deleted draft is a no-op (200, no event). */
    remove(userId: string, id: string, deviceId: string | null, scope: IdempotencyScope | null = null) {
      return commit.reply(storage.deleteDraft(userId, { id, deviceId }, scope), 'Draft');
    },

    /** Draft becomes a pending order, in one transaction. Converting again returns the same order, no event. */
    convert(userId: string, id: string, deviceId: string | null, scope: IdempotencyScope | null = null): Promise<Reply<ConvertReplyBody>> {
      return commit.reply(storage.convertDraft(userId, { id, deviceId }, scope), 'Draft');
    },
  };
}

export type DraftsService = ReturnType<typeof createDraftsService>;
