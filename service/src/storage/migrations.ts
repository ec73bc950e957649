/**
 * SQL migrations, applied in order at start-up under an advisory lock so several instances
 * starting at once apply each one exactly once. Append new ones; never edit an applied one.
 */
import { PARTITIONED_EVENTS_MIGRATION } from './migration-partitioned-events.js';
import type { SqlRunner } from './sql-runner.js';
import { WRITE_PATH_MIGRATION } from './write-functions.js';
import { PENDING_SUBMIT_EVENT_MIGRATION } from './write-functions-orders.js';

/**
 * `sql` is either statements separated by ';' or, when a statement holds ';' itself (a function
 * body), the list of statements.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string | readonly string[] }[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE user_logs (
        user_id    text PRIMARY KEY,
        epoch      text NOT NULL,
        last_seq   bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE events (
        user_id          text NOT NULL,
        seq              bigint NOT NULL,
        type             text NOT NULL,
        payload          jsonb NOT NULL,
        origin_device_id text,
        created_at       timestamptz NOT NULL,
        PRIMARY KEY (user_id, seq)
      );
      CREATE INDEX events_created_at_idx ON events (created_at);
      CREATE TABLE drafts (
        user_id           text NOT NULL,
        id                uuid NOT NULL,
        device_id         text,
        customer_id       text NOT NULL,
        customer_name     text NOT NULL,
        items             jsonb NOT NULL,
        notes             text,
        updated_at        timestamptz NOT NULL,
        server_updated_at timestamptz NOT NULL,
        version           integer NOT NULL,
        deleted           boolean NOT NULL DEFAULT false,
        deleted_at        timestamptz,
        converted_to      uuid,
        PRIMARY KEY (user_id, id)
      );
      CREATE TABLE pending_orders (
        user_id           text NOT NULL,
        id                uuid NOT NULL,
        device_id         text,
        customer_id       text NOT NULL,
        customer_name     text NOT NULL,
        items             jsonb NOT NULL,
        notes             text,
        updated_at        timestamptz NOT NULL,
        server_updated_at timestamptz NOT NULL,
        version           integer NOT NULL,
        status            text NOT NULL DEFAULT 'pending',
        erp_order_number  text,
        job_id            text,
        source_draft_id   uuid,
        PRIMARY KEY (user_id, id)
      );
    `,
  },
  {
    version: 2,
    name: 'outbox',
    sql: `
      ALTER TABLE events ADD COLUMN published_at timestamptz;
      CREATE INDEX events_unpublished_idx ON events (created_at) WHERE published_at IS NULL
    `,
  },
  {
    version: 3,
    name: 'idempotency-keys',
    // body is the response's JSON text, not jsonb: jsonb reorders object keys, and a replay must
    // answer the same bytes the first request did.
    sql: `
      CREATE TABLE idempotency_keys (
        user_id     text NOT NULL,
        key         text NOT NULL,
        fingerprint text NOT NULL,
        status      integer NOT NULL,
        body        text NOT NULL,
        created_at  timestamptz NOT NULL,
        PRIMARY KEY (user_id, key)
      );
      CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at)
    `,
  },
  {
    version: 4,
    name: 'write-functions',
    // One server-side function per write kind, and the outbox's published watermark (write-functions.ts).
    sql: WRITE_PATH_MIGRATION,
  },
  {
    version: 5,
    name: 'revocations',
    // One row per revoked user: tokens of that user issued before not_before are refused
    // (features/admin/revocations.ts). Every instance loads the table at start-up.
    sql: `
      CREATE TABLE revocations (
        user_id    text PRIMARY KEY,
        not_before timestamptz NOT NULL
      )
    `,
  },
  {
    version: 6,
    name: 'partitioned-events',
    // events range-partitioned by day, converted in place; retention drops partitions
    // (migration-partitioned-events.ts).
    sql: PARTITIONED_EVENTS_MIGRATION,
  },
  {
    version: 7,
    name: 'pending-submit-event',
    // Submitting an order emits PENDING_UPDATED ('submitting') with the submitting device
    // (write-functions-orders.ts); replaces migration 4's rt_pending_submit.
    sql: PENDING_SUBMIT_EVENT_MIGRATION,
  },
];

const statementsOf = (sql: string | readonly string[]): readonly string[] =>
  typeof sql === 'string' ? sql.split(';').map((s) => s.trim()).filter(Boolean) : sql;

// Arbitrary constant: the advisory lock key of this schema's migrations.
const MIGRATION_LOCK_KEY = 724_311_905;

export async function migrate(db: SqlRunner): Promise<number[]> {
  return db.transaction(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await q.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const rows = await q.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const statement of statementsOf(m.sql)) {
        await q.query(statement);
      }
      await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}
