/**
 * SQL of the idempotency_keys table (DESIGN §12). Lookups and inserts run inside the user's write
 * transaction, under the user's log-row lock, so a key and the change it answered for commit
 * together or not at all. The unit of work runs at READ COMMITTED: the lookup is a statement after
 * the lock was granted, so it sees a key committed by the writer that held the lock before (a repeat
 * on another instance gets the replay). A snapshot taken before the lock would not.
 */
import type { IdempotencyRecord } from '../ports/storage.js';
import type { SqlQuery } from './sql-runner.js';

export async function findIdempotencyKey(
  q: SqlQuery,
  userId: string,
  key: string,
  notBefore: Date,
): Promise<IdempotencyRecord | null> {
  const rows = await q.query<{ fingerprint: string; status: number; body: string; created_at: unknown }>(
    `SELECT fingerprint, status, body, created_at FROM idempotency_keys
     WHERE user_id = $1 AND key = $2 AND created_at >= $3`,
    [userId, key, notBefore.toISOString()],
  );
  const r = rows[0];
  if (!r) return null;
  const createdAt = r.created_at instanceof Date ? r.created_at : new Date(String(r.created_at));
  return { key, fingerprint: r.fingerprint, status: Number(r.status), body: JSON.parse(r.body), createdAt: createdAt.toISOString() };
}

/** Insert, or replace an expired record of the same key (a live one was found first and replayed). */
export async function saveIdempotencyKey(
  q: SqlQuery,
  userId: string,
  rec: Omit<IdempotencyRecord, 'createdAt'>,
  now: Date,
): Promise<void> {
  await q.query(
    `INSERT INTO idempotency_keys (user_id, key, fingerprint, status, body, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (user_id, key) DO UPDATE SET
       fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, body = EXCLUDED.body, created_at = EXCLUDED.created_at`,
    [userId, rec.key, rec.fingerprint, rec.status, JSON.stringify(rec.body ?? null), now.toISOString()],
  );
}

export async function pruneIdempotencyKeys(q: SqlQuery, olderThan: Date): Promise<number> {
  const rows = await q.query('DELETE FROM idempotency_keys WHERE created_at < $1 RETURNING 1', [olderThan.toISOString()]);
  return rows.length;
}
