/**
 * The Storage port over any SqlRunner (PGlite or PostgreSQL): one set of SQL for both.
 * Every statement filters on user_id; ids are only unique per user.
 */
import { randomUUID } from 'node:crypto';
import type { Draft, PendingOrder, PendingOrderStatus } from '../protocol/index.js';
import type { LogHead, NewEvent, Storage, StoredEvent, UserTx } from '../ports/storage.js';
import { dropEventPartitions, ensureEventPartitions, EVENT_PARTITION_DAYS_AHEAD } from './event-partitions.js';
import { findIdempotencyKey, pruneIdempotencyKeys, saveIdempotencyKey } from './idempotency-keys.js';
import { migrate } from './migrations.js';
import { listRevocations, revokeTokens } from './revocations.js';
import type { Row, SqlQuery, SqlRunner } from './sql-runner.js';
import { createSqlWrites } from './sql-writes.js';

const iso = (v: unknown): string => (v instanceof Date ? v : new Date(String(v))).toISOString();
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));
const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

function rowToDraft(r: Row): Draft {
  return {
    id: String(r.id),
    deviceId: (r.device_id as string | null) ?? null,
    customerId: String(r.customer_id),
    customerName: String(r.customer_name),
    items: json(r.items) as Draft['items'],
    notes: (r.notes as string | null) ?? null,
    updatedAt: iso(r.updated_at),
    serverUpdatedAt: iso(r.server_updated_at),
    version: Number(r.version),
    deleted: Boolean(r.deleted),
    deletedAt: isoOrNull(r.deleted_at),
    convertedTo: (r.converted_to as string | null) ?? null,
  };
}

function rowToPending(r: Row): PendingOrder {
  return {
    id: String(r.id),
    deviceId: (r.device_id as string | null) ?? null,
    customerId: String(r.customer_id),
    customerName: String(r.customer_name),
    items: json(r.items) as PendingOrder['items'],
    notes: (r.notes as string | null) ?? null,
    updatedAt: iso(r.updated_at),
    serverUpdatedAt: iso(r.server_updated_at),
    version: Number(r.version),
    status: String(r.status) as PendingOrderStatus,
    erpOrderNumber: (r.erp_order_number as string | null) ?? null,
    jobId: (r.job_id as string | null) ?? null,
    sourceDraftId: (r.source_draft_id as string | null) ?? null,
  };
}

function rowToEvent(userId: string, epoch: string, r: Row): StoredEvent {
  return {
    userId,
    seq: Number(r.seq),
    epoch,
    type: String(r.type),
    payload: json(r.payload),
    timestamp: iso(r.created_at),
    originDeviceId: (r.origin_device_id as string | null) ?? null,
  };
}

const DRAFT_COLUMNS =
  'id, device_id, customer_id, customer_name, items, notes, updated_at, server_updated_at, version, deleted, deleted_at, converted_to';
const PENDING_COLUMNS =
  'id, device_id, customer_id, customer_name, items, notes, updated_at, server_updated_at, version, status, erp_order_number, job_id, source_draft_id';

async function saveDraft(q: SqlQuery, userId: string, d: Draft): Promise<void> {
  await q.query(
    `INSERT INTO drafts (user_id, ${DRAFT_COLUMNS})
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (user_id, id) DO UPDATE SET
       device_id = EXCLUDED.device_id, customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name,
       items = EXCLUDED.items, notes = EXCLUDED.notes, updated_at = EXCLUDED.updated_at,
       server_updated_at = EXCLUDED.server_updated_at, version = EXCLUDED.version, deleted = EXCLUDED.deleted,
       deleted_at = EXCLUDED.deleted_at, converted_to = EXCLUDED.converted_to`,
    [
      userId, d.id, d.deviceId, d.customerId, d.customerName, JSON.stringify(d.items), d.notes, d.updatedAt,
      d.serverUpdatedAt, d.version, d.deleted, d.deletedAt, d.convertedTo,
    ],
  );
}

async function savePendingOrders(q: SqlQuery, userId: string, orders: readonly PendingOrder[]): Promise<void> {
  if (orders.length === 0) return;
  const values: string[] = [];
  const params: unknown[] = [userId];
  for (const o of orders) {
    const b = params.length;
    const p = (i: number) => `$${b + i}`;
    values.push(`($1, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}::jsonb, ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}, ${p(10)}, ${p(11)}, ${p(12)}, ${p(13)})`);
    params.push(
      o.id, o.deviceId, o.customerId, o.customerName, JSON.stringify(o.items), o.notes, o.updatedAt,
      o.serverUpdatedAt, o.version, o.status, o.erpOrderNumber, o.jobId, o.sourceDraftId,
    );
  }
  await q.query(
    `INSERT INTO pending_orders (user_id, ${PENDING_COLUMNS})
     VALUES ${values.join(', ')}
     ON CONFLICT (user_id, id) DO UPDATE SET
       device_id = EXCLUDED.device_id, customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name,
       items = EXCLUDED.items, notes = EXCLUDED.notes, updated_at = EXCLUDED.updated_at,
       server_updated_at = EXCLUDED.server_updated_at, version = EXCLUDED.version, status = EXCLUDED.status,
       erp_order_number = EXCLUDED.erp_order_number, job_id = EXCLUDED.job_id, source_draft_id = EXCLUDED.source_draft_id`,
    params,
  );
}

/**
 * Append a unit of work's events and advance the head. Their timestamp is the write's time, read
 * under the user's lock at the end of the transaction (rt_now(), as the write functions do), and
 * set on the returned events.
 */
async function insertEventsAndAdvance(q: SqlQuery, userId: string, events: StoredEvent[]): Promise<void> {
  const values: string[] = [];
  const params: unknown[] = [userId];
  for (const e of events) {
    const b = params.length;
    values.push(`($${b + 1}::bigint, $${b + 2}::text, $${b + 3}::jsonb, $${b + 4}::text)`);
    params.push(e.seq, e.type, JSON.stringify(e.payload), e.originDeviceId);
  }
  params.push(events[events.length - 1]!.seq);
  const rows = await q.query<{ at: string }>(
    `WITH t AS MATERIALIZED (SELECT rt_now() AS at),
     ins AS (
       INSERT INTO events (user_id, seq, type, payload, origin_device_id, created_at)
       SELECT $1, v.seq, v.type, v.payload, v.origin, t.at FROM t, (VALUES ${values.join(', ')}) AS v(seq, type, payload, origin)
     )
     UPDATE user_logs SET last_seq = $${params.length} WHERE user_id = $1
     RETURNING (SELECT rt_iso(at) FROM t) AS at`,
    params,
  );
  for (const e of events) e.timestamp = rows[0]!.at;
}

export function createSqlStorage(db: SqlRunner): Storage {
  async function ensureLog(q: SqlQuery, userId: string): Promise<LogHead> {
    const found = await q.query<{ epoch: string; last_seq: number }>(
      'SELECT epoch, last_seq FROM user_logs WHERE user_id = $1',
      [userId],
    );
    if (found[0]) return { epoch: found[0].epoch, latestSeq: Number(found[0].last_seq) };
    await q.query('INSERT INTO user_logs (user_id, epoch) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING', [
      userId,
      randomUUID(),
    ]);
    const rows = await q.query<{ epoch: string; last_seq: number }>(
      'SELECT epoch, last_seq FROM user_logs WHERE user_id = $1',
      [userId],
    );
    return { epoch: rows[0]!.epoch, latestSeq: Number(rows[0]!.last_seq) };
  }

  return {
    ...createSqlWrites(db),
    async migrate() {
      await migrate(db);
      // Every start-up, not only the maintenance job: a service that was down for days writes into
      // today's partition again, not into the default one.
      await ensureEventPartitions(db, new Date(), EVENT_PARTITION_DAYS_AHEAD);
    },
    async ping() {
      await db.query('SELECT 1');
    },
    close: () => db.close(),

    async unitOfWork(userId, fn) {
      return db.transaction(async (q) => {
        // Lock the user's log row for the whole transaction: a user's writes are serialized,
        // so seq is gapless and events are committed in seq order.
        const [log] = await q.query<{ epoch: string; last_seq: number }>(
          `INSERT INTO user_logs (user_id, epoch) VALUES ($1, $2)
           ON CONFLICT (user_id) DO UPDATE SET last_seq = user_logs.last_seq
           RETURNING epoch, last_seq`,
          [userId, randomUUID()],
        );
        let seq = Number(log!.last_seq);
        const epoch = log!.epoch;
        const events: StoredEvent[] = [];
        const now = new Date();
        const tx: UserTx = {
          userId,
          now,
          async getDraft(id) {
            const rows = await q.query(`SELECT ${DRAFT_COLUMNS} FROM drafts WHERE user_id = $1 AND id = $2`, [userId, id]);
            return rows[0] ? rowToDraft(rows[0]) : null;
          },
          saveDraft: (d) => saveDraft(q, userId, d),
          async getPendingOrders(ids) {
            if (ids.length === 0) return [];
            const rows = await q.query(
              `SELECT ${PENDING_COLUMNS} FROM pending_orders WHERE user_id = $1 AND id = ANY($2::uuid[])`,
              [userId, ids],
            );
            return rows.map(rowToPending);
          },
          savePendingOrders: (orders) => savePendingOrders(q, userId, orders),
          async deletePendingOrder(id) {
            const rows = await q.query('DELETE FROM pending_orders WHERE user_id = $1 AND id = $2 RETURNING id', [userId, id]);
            return rows.length > 0;
          },
          appendEvent(e: NewEvent) {
            seq += 1;
            const stored: StoredEvent = {
              userId,
              seq,
              epoch,
              type: e.type,
              payload: e.payload,
              timestamp: '', // set at the end of the transaction: the write's time, not the append's
              originDeviceId: e.originDeviceId,
            };
            events.push(stored);
            return stored;
          },
          latestSeq: () => seq,
          findIdempotencyKey: (key, notBefore) => findIdempotencyKey(q, userId, key, notBefore),
          saveIdempotencyKey: (rec) => saveIdempotencyKey(q, userId, rec, now),
        };
        const value = await fn(tx);
        if (events.length > 0) await insertEventsAndAdvance(q, userId, events);
        return { value, events };
      });
    },

    async listDrafts(userId, { includeDeleted }) {
      return db.transaction(
        async (q) => {
          const head = await q.query<{ last_seq: number }>('SELECT last_seq FROM user_logs WHERE user_id = $1', [userId]);
          const rows = await q.query(
            `SELECT ${DRAFT_COLUMNS} FROM drafts WHERE user_id = $1 ${includeDeleted ? '' : 'AND NOT deleted'}
             ORDER BY server_updated_at DESC, id`,
            [userId],
          );
          return { items: rows.map(rowToDraft), seq: head[0] ? Number(head[0].last_seq) : 0 };
        },
        { snapshot: true },
      );
    },
    async getDraft(userId, id) {
      const rows = await db.query(`SELECT ${DRAFT_COLUMNS} FROM drafts WHERE user_id = $1 AND id = $2`, [userId, id]);
      return rows[0] ? rowToDraft(rows[0]) : null;
    },
    async listPendingOrders(userId, opts = {}) {
      const ids = opts.ids;
      return db.transaction(
        async (q) => {
          const head = await q.query<{ last_seq: number }>('SELECT last_seq FROM user_logs WHERE user_id = $1', [userId]);
          const rows = await q.query(
            `SELECT ${PENDING_COLUMNS} FROM pending_orders WHERE user_id = $1 ${ids ? 'AND id = ANY($2::uuid[])' : ''}
             ORDER BY server_updated_at DESC, id`,
            ids ? [userId, ids] : [userId],
          );
          return { items: rows.map(rowToPending), seq: head[0] ? Number(head[0].last_seq) : 0 };
        },
        { snapshot: true },
      );
    },
    async getPendingOrder(userId, id) {
      const rows = await db.query(`SELECT ${PENDING_COLUMNS} FROM pending_orders WHERE user_id = $1 AND id = $2`, [userId, id]);
      return rows[0] ? rowToPending(rows[0]) : null;
    },

    logHead: (userId) => ensureLog(db, userId),

    async readEvents(userId, afterSeq, toSeq, limit) {
      // A named statement: planning a read of the partitioned log costs a plan per partition (no
      // bound on created_at to prune by), so it is planned once per connection, not per resume.
      const rows = await db.query(
        `SELECT e.seq, e.type, e.payload, e.origin_device_id, e.created_at, l.epoch
         FROM events e JOIN user_logs l ON l.user_id = e.user_id
         WHERE e.user_id = $1 AND e.seq > $2 AND e.seq <= $3
         ORDER BY e.seq LIMIT $4`,
        [userId, afterSeq, toSeq, limit],
        { name: 'rt_read_events' },
      );
      return rows.map((r) => rowToEvent(userId, String(r.epoch), r));
    },
    async seqAt(userId, at) {
      // The first event after `at`, minus one; else the head (nothing after `at`). Unless pruning
      // may have removed events after `at`: the oldest kept event is newer than `at` and is not
      // seq 1 (or nothing is kept of a non-empty log). Then no seq is right, and a replay from the
      // first kept event would skip the pruned ones silently.
      const rows = await db.query<{ after: number | null; head: number | null; oldest: number | null; oldest_at: unknown }>(
        `SELECT (SELECT min(seq) FROM events WHERE user_id = $1 AND created_at > $2) AS after,
                (SELECT last_seq FROM user_logs WHERE user_id = $1) AS head,
                o.seq AS oldest, o.created_at AS oldest_at
         FROM (SELECT 1) AS one
         LEFT JOIN (SELECT seq, created_at FROM events WHERE user_id = $1 ORDER BY seq LIMIT 1) AS o ON true`,
        [userId, at.toISOString()],
      );
      const r = rows[0];
      const head = r?.head === null || r?.head === undefined ? 0 : Number(r.head);
      const oldest = r?.oldest === null || r?.oldest === undefined ? null : Number(r.oldest);
      if (head > 0) {
        const pruned = oldest === null || oldest > 1;
        if (pruned && (oldest === null || Date.parse(iso(r!.oldest_at)) > at.getTime())) return null;
      }
      if (r?.after !== null && r?.after !== undefined) return Number(r.after) - 1;
      return head;
    },
    async oldestSeq(userId) {
      const rows = await db.query<{ min: number | null }>('SELECT min(seq) AS min FROM events WHERE user_id = $1', [userId]);
      return rows[0]?.min === null || rows[0]?.min === undefined ? null : Number(rows[0].min);
    },
    async markPublished(keys) {
      if (keys.length === 0) return;
      // One HOT update of the user's log row per user in the batch (published_seq is in no index).
      await db.query(
        `UPDATE user_logs l SET published_seq = k.seq
         FROM (SELECT u, max(s) AS seq FROM unnest($1::text[], $2::bigint[]) AS x(u, s) GROUP BY u) AS k
         WHERE l.user_id = k.u AND l.published_seq < k.seq`,
        [keys.map((k) => k.userId), keys.map((k) => k.seq)],
        { name: 'rt_mark_published' },
      );
    },
    async unpublishedEvents(olderThan, limit) {
      // The users behind their watermark, then their events after it. A scan of user_logs (a narrow
      // row per user), not of events: no index on the lag, which would make every write's update of
      // the log row non-HOT.
      const rows = await db.query(
        `SELECT e.user_id, e.seq, e.type, e.payload, e.origin_device_id, e.created_at, l.epoch
         FROM user_logs l JOIN events e ON e.user_id = l.user_id AND e.seq > l.published_seq AND e.seq <= l.last_seq
         WHERE l.last_seq > l.published_seq AND e.created_at < $1
         ORDER BY e.created_at, e.user_id, e.seq LIMIT $2`,
        [olderThan.toISOString(), limit],
      );
      return rows.map((r) => rowToEvent(String(r.user_id), String(r.epoch), r));
    },
    async claimOutboxSweep(everyMs) {
      // No row locked when not claimed: the WHERE is false and nothing is written.
      const rows = await db.query(
        `UPDATE outbox_sweeps SET swept_at = now()
         WHERE id = 1 AND swept_at <= now() - make_interval(secs => $1::float8 / 1000)
         RETURNING 1`,
        [everyMs],
      );
      return rows.length > 0;
    },
    async pruneEvents(olderThan) {
      const dropped = await dropEventPartitions(db, olderThan);
      const rows = await db.query<{ n: number }>(
        'WITH d AS (DELETE FROM events WHERE created_at < $1 RETURNING 1) SELECT count(*)::int AS n FROM d',
        [olderThan.toISOString()],
      );
      return dropped.events + Number(rows[0]!.n);
    },
    ensureEventPartitions: (now, daysAhead) => ensureEventPartitions(db, now, daysAhead),
    dropEventPartitions: (olderThan) => dropEventPartitions(db, olderThan),
    async purgeTombstones(olderThan) {
      const rows = await db.query('DELETE FROM drafts WHERE deleted AND deleted_at < $1 RETURNING 1', [olderThan.toISOString()]);
      return rows.length;
    },
    pruneIdempotencyKeys: (olderThan) => pruneIdempotencyKeys(db, olderThan),
    revokeTokens: (userId, notBefore) => revokeTokens(db, userId, notBefore),
    listRevocations: () => listRevocations(db),
  };
}
