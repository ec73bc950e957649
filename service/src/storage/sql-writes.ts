/**
 * The Storage port's writes over SQL: each is one call of its server-side function
 * (write-functions.ts) as a named prepared statement, so PostgreSQL parses and plans it once per
 * connection and each write is one round trip with no BEGIN/COMMIT on the wire. PGlite runs the
 * same SQL.
 */
import type { StoredEvent } from '../ports/storage.js';
import type { IdempotencyScope, StorageWrites, WriteOutcome } from '../ports/writes.js';
import type { SqlQuery } from './sql-runner.js';

/** `SELECT fn($1::t1, ...) AS r` as a named statement; the casts pin the function's signature. */
function call(fn: string, types: readonly string[]) {
  const args = types.map((t, i) => `$${i + 1}::${t}`).join(', ');
  return { name: fn, text: `SELECT ${fn}(${args}) AS r` };
}

/** Every route write begins with the user, then the Idempotency-Key's scope. */
const SCOPED = ['text', 'text', 'text', 'timestamptz'];

export const WRITE_STATEMENTS = {
  draftCreate: call('rt_draft_create', [...SCOPED, 'uuid', 'text', 'text', 'text', 'jsonb', 'text', 'timestamptz']),
  draftUpdate: call('rt_draft_update', [...SCOPED, 'uuid', 'text', 'text', 'text', 'jsonb', 'text', 'timestamptz', 'integer']),
  draftDelete: call('rt_draft_delete', [...SCOPED, 'uuid', 'text']),
  draftConvert: call('rt_draft_convert', [...SCOPED, 'uuid', 'text']),
  pendingUpsert: call('rt_pending_upsert', [...SCOPED, 'text', 'json']),
  pendingDelete: call('rt_pending_delete', [...SCOPED, 'uuid', 'text']),
  pendingSubmit: call('rt_pending_submit', [...SCOPED, 'uuid', 'text']),
  appendEvent: call('rt_append_event', ['text', 'text', 'json', 'text']),
  jobCompleted: call('rt_job_completed', ['text', 'text', 'text', 'text', 'text']),
  jobFailed: call('rt_job_failed', ['text', 'text', 'text', 'text', 'integer', 'boolean', 'text']),
} as const;

interface RawEvent {
  seq: number;
  type: string;
  payload: unknown;
  timestamp: string;
  originDeviceId: string | null;
}

type Raw = { refused: string } | { status: number; body: unknown; replayed: boolean; epoch?: string; events: RawEvent[] };

const scopeParams = (userId: string, scope: IdempotencyScope | null) =>
  [userId, scope?.key ?? null, scope?.fingerprint ?? null, scope ? scope.notBefore.toISOString() : null] as const;

export function createSqlWrites(db: SqlQuery): StorageWrites {
  async function run(statement: { name: string; text: string }, params: readonly unknown[]): Promise<Raw> {
    const rows = await db.query<{ r: unknown }>(statement.text, params, { name: statement.name });
    const r = rows[0]!.r;
    // Drivers parse json results; a runner that hands back text gets the same object here.
    return (typeof r === 'string' ? JSON.parse(r) : r) as Raw;
  }

  function events(userId: string, raw: Raw): StoredEvent[] {
    if ('refused' in raw) return [];
    return raw.events.map((e) => ({
      userId,
      seq: Number(e.seq),
      epoch: raw.epoch!,
      type: e.type,
      payload: e.payload,
      timestamp: e.timestamp,
      originDeviceId: e.originDeviceId,
    }));
  }

  async function write<B>(userId: string, statement: { name: string; text: string }, params: readonly unknown[]): Promise<WriteOutcome<B>> {
    const raw = await run(statement, params);
    if ('refused' in raw) return raw as WriteOutcome<B>;
    return { status: raw.status, body: raw.body as B, replayed: raw.replayed, events: events(userId, raw) };
  }

  const s = WRITE_STATEMENTS;
  return {
    createDraft: (userId, { id, deviceId, content: c }, scope) =>
      write(userId, s.draftCreate, [
        ...scopeParams(userId, scope), id, deviceId, c.customerId, c.customerName, JSON.stringify(c.items), c.notes, c.updatedAt,
      ]),
    updateDraft: (userId, { id, deviceId, content: c, baseVersion }, scope) =>
      write(userId, s.draftUpdate, [
        ...scopeParams(userId, scope), id, deviceId, c.customerId, c.customerName, JSON.stringify(c.items), c.notes, c.updatedAt,
        baseVersion ?? null,
      ]),
    deleteDraft: (userId, { id, deviceId }, scope) => write(userId, s.draftDelete, [...scopeParams(userId, scope), id, deviceId]),
    convertDraft: (userId, { id, deviceId }, scope) => write(userId, s.draftConvert, [...scopeParams(userId, scope), id, deviceId]),
    upsertPendingOrders: (userId, { deviceId, orders }, scope) =>
      write(userId, s.pendingUpsert, [...scopeParams(userId, scope), deviceId, JSON.stringify(orders)]),
    deletePendingOrder: (userId, { id, deviceId }, scope) => write(userId, s.pendingDelete, [...scopeParams(userId, scope), id, deviceId]),
    submitPendingOrder: (userId, { id, deviceId }, scope) => write(userId, s.pendingSubmit, [...scopeParams(userId, scope), id, deviceId]),

    appendEvent: async (userId, e) =>
      events(userId, await run(s.appendEvent, [userId, e.type, JSON.stringify(e.payload ?? null), e.originDeviceId])),
    completeSubmission: async (userId, w) =>
      events(userId, await run(s.jobCompleted, [userId, w.orderId, w.jobId, w.erpOrderNumber, w.deviceId])),
    failSubmission: async (userId, w) =>
      events(userId, await run(s.jobFailed, [userId, w.orderId, w.jobId, w.error, w.attempt, w.willRetry, w.deviceId])),
  };
}
