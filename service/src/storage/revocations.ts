/** SQL of the revocations table (migration 5): one row per revoked user, the latest time kept. */
import type { Revocation } from '../ports/storage.js';
import type { SqlQuery } from './sql-runner.js';

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

export async function revokeTokens(q: SqlQuery, userId: string, notBefore: Date): Promise<Revocation> {
  const rows = await q.query<{ not_before: unknown }>(
    `INSERT INTO revocations (user_id, not_before) VALUES ($1, $2)
     ON CONFLICT (user_id) DO UPDATE SET not_before = GREATEST(revocations.not_before, EXCLUDED.not_before)
     RETURNING not_before`,
    [userId, notBefore.toISOString()],
  );
  return { userId, notBefore: toDate(rows[0]!.not_before) };
}

export async function listRevocations(q: SqlQuery): Promise<Revocation[]> {
  const rows = await q.query<{ user_id: string; not_before: unknown }>('SELECT user_id, not_before FROM revocations');
  return rows.map((r) => ({ userId: String(r.user_id), notBefore: toDate(r.not_before) }));
}
