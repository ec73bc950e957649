/**
 * The write the fair Socket.IO peer makes: the service's own draft create on PostgreSQL, i.e. the
 * same transaction (one call of `rt_draft_create` as a named prepared statement, through the
 * service's SQL write module and pg runner, pool of DATABASE_POOL_MAX = 10 as the service), with
 * the request's Idempotency-Key scope as the service passes it. It returns the events the function
 * appended (seq, type, payload), which the peer then emits to the user's room. What it does not do
 * that the service does: validate the body with zod, keep an in-flight key map, run an outbox.
 */
import { createHash } from 'node:crypto';
import { createPostgresRunner } from '../../service/src/adapters/sql-postgres.js';
import type { DraftItem } from '../../service/src/protocol/index.js';
import type { StoredEvent } from '../../service/src/ports/storage.js';
import { createSqlWrites } from '../../service/src/storage/sql-writes.js';

export interface DraftCreateRequest {
  userId: string;
  deviceId: string | null;
  idempotencyKey: string | null;
  rawBody: string;
  body: { id: string; customerId?: unknown; customerName?: unknown; items?: unknown; notes?: unknown; updatedAt?: unknown };
}

export interface PgDraftWriter {
  /** Commits the draft; resolves with its events (none when refused, e.g. a reused key). */
  create(req: DraftCreateRequest): Promise<StoredEvent[]>;
  close(): Promise<void>;
}

const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

const item = (i: Partial<DraftItem>): DraftItem => ({ productId: String(i.productId), quantity: Number(i.quantity), price: i.price ?? null, notes: i.notes ?? null });

export function createPgDraftWriter(connectionString: string, poolMax = 10): PgDraftWriter {
  const db = createPostgresRunner({ connectionString, max: poolMax });
  const writes = createSqlWrites(db);
  return {
    async create({ userId, deviceId, idempotencyKey, rawBody, body }) {
      const scope = idempotencyKey
        ? { key: idempotencyKey, fingerprint: createHash('sha256').update(`POST /api/drafts\n${rawBody}`).digest('hex'), notBefore: new Date(Date.now() - IDEMPOTENCY_TTL_MS) }
        : null;
      const outcome = await writes.createDraft(
        userId,
        {
          id: body.id,
          deviceId,
          content: {
            customerId: String(body.customerId),
            customerName: String(body.customerName),
            items: Array.isArray(body.items) ? (body.items as Partial<DraftItem>[]).map(item) : [],
            notes: typeof body.notes === 'string' ? body.notes : null,
            updatedAt: typeof body.updatedAt === 'string' ? body.updatedAt : new Date().toISOString(),
          },
        },
        scope,
      );
      return outcome.refused ? [] : outcome.events;
    },
    close: () => db.close(),
  };
}
