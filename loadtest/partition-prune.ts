/**
 * The event log's retention, by DELETE (before migration 6) and by dropping a partition (after), on
 * a throwaway PostgreSQL with fsync on (tools/postgres-server.ts `durable`), and the replay read of
 * a resume before and after.
 *
 *   npx tsx loadtest/partition-prune.ts [--events 10000000] [--users 3000] [--days 10] [--reads 300]
 *
 * Two databases get the same log, bulk-inserted with generate_series: `--events` events of `--users`
 * users, evenly over the `--days` UTC days before today (a DRAFT_UPDATED payload of ~300 bytes
 * each; per user seq 1.. in time order; primary keys built after the load). `before` has the schema of migrations 1-5 (one table);
 * `after` the partitioned one (migration 6), laid out as a log partitioned for that long (a
 * partition per day). Then, each:
 * - the replay read of a typical resume (one user, its last 100 events), through the Storage port
 *   (readEvents), `--reads` users at random: p50/p99, and one EXPLAIN (ANALYZE, BUFFERS);
 * - pruning the oldest day: `before` with the statement pruneEvents ran until now (DELETE ...
 *   RETURNING 1), then the VACUUM that reclaims it; `after` with the maintenance job's
 *   rt_event_partitions_drop. Time and WAL bytes (pg_current_wal_lsn() diff), CHECKPOINT first,
 *   so full-page images count as they would in production;
 * - `before` is then converted in place by migration 6 (time, WAL) and read again.
 * Warm cache (the log was just written). The machine is shared and noisy (2 cores): read the
 * figures as orders of magnitude.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPostgresRunner } from '../service/src/adapters/sql-postgres.js';
import { MIGRATIONS } from '../service/src/storage/migrations.js';
import type { SqlRunner } from '../service/src/storage/sql-runner.js';
import { createSqlStorage } from '../service/src/storage/sql-storage.js';
import { removePostgres, startPostgres } from '../tools/postgres-server.js';
import { isMain, runMain, writeResult } from './lib/cli.js';

const DAY = 86_400_000;

// The text of sql-storage.ts readEvents, for EXPLAIN.
const READ_EVENTS = `SELECT e.seq, e.type, e.payload, e.origin_device_id, e.created_at, l.epoch
  FROM events e JOIN user_logs l ON l.user_id = e.user_id
  WHERE e.user_id = $1 AND e.seq > $2 AND e.seq <= $3
  ORDER BY e.seq LIMIT $4`;

interface Opts {
  events: number;
  users: number;
  days: number;
  reads: number;
}

const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;

/** Migrations 1-5 as migrate() applies them: the schema before the partitioned log. */
async function migrateBefore6(db: SqlRunner): Promise<void> {
  await db.transaction(async (q) => {
    await q.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const m of MIGRATIONS.filter((x) => x.version < 6)) {
      const statements = typeof m.sql === 'string' ? m.sql.split(';').map((s) => s.trim()).filter(Boolean) : m.sql;
      for (const s of statements) await q.query(s);
      await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
  });
}

// A DRAFT_UPDATED event as the write functions store it (~300 bytes); the same for every row, so
// the load spends its time writing, not building JSON.
const PAYLOAD = JSON.stringify({
  draftId: '9b2f4c1e-7d3a-4e8b-a1c2-5f6e7d8c9b0a',
  deviceId: 'phone',
  draft: {
    id: '9b2f4c1e-7d3a-4e8b-a1c2-5f6e7d8c9b0a', deviceId: 'phone', customerId: 'C-1042', customerName: 'Rossi Srl',
    items: [{ productId: 'P-17', quantity: 2, price: 10.5, notes: null }], notes: null, updatedAt: '2026-11-22T10:00:00.000Z',
    serverUpdatedAt: '2026-11-22T10:00:00.012Z', version: 7, deleted: false, deletedAt: null, convertedTo: null,
  },
});

/**
 * The same log in either schema: a day per statement, in time order (as it was written). The
 * primary keys are dropped for the load and built after it (a sorted build, far faster than 10^7
 * inserts into them; the index comes out denser than one grown by writes).
 */
async function load(db: pg.Client, o: Opts, start: number): Promise<number> {
  const t0 = performance.now();
  const keys = (
    await db.query<{ t: string; c: string }>(
      `SELECT conrelid::regclass::text AS t, conname AS c FROM pg_constraint
       WHERE contype = 'p' AND (conrelid::regclass::text = 'events' OR conrelid::regclass::text LIKE 'events\\_%')`,
    )
  ).rows;
  for (const k of keys) await db.query(`ALTER TABLE ${k.t} DROP CONSTRAINT ${k.c}`);
  const perDay = Math.ceil(o.events / o.days);
  const stepSec = (o.days * DAY) / 1000 / o.events;
  for (let lo = 0; lo < o.events; lo += perDay) {
    const hi = Math.min(o.events, lo + perDay) - 1;
    await db.query(
      `INSERT INTO events (user_id, seq, type, payload, origin_device_id, created_at)
       SELECT 'u' || (i % $1), i / $1 + 1, 'DRAFT_UPDATED', $6::jsonb, 'phone', $2::timestamptz + (i * $3::float8) * interval '1 second'
       FROM generate_series($4::bigint, $5::bigint) AS i`,
      [o.users, new Date(start).toISOString(), stepSec, lo, hi, PAYLOAD],
    );
    log(`  loaded ${hi + 1} events`);
  }
  await db.query("SET maintenance_work_mem = '512MB'");
  for (const k of keys) await db.query(`ALTER TABLE ${k.t} ADD CONSTRAINT ${k.c} PRIMARY KEY (user_id, seq)`);
  log(`  primary keys built (${keys.length})`);
  await db.query(
    `INSERT INTO user_logs (user_id, epoch, last_seq, published_seq)
     SELECT 'u' || u, md5(u::text), ($1::bigint - 1 - u) / $2 + 1, ($1::bigint - 1 - u) / $2 + 1 FROM generate_series(0, $2 - 1) AS u`,
    [o.events, o.users],
  );
  await db.query('ANALYZE');
  return Math.round((performance.now() - t0) / 1000);
}

async function walBytesAndMs<T>(db: pg.Client, fn: () => Promise<T>): Promise<{ ms: number; walMB: number; value: T | undefined }> {
  await db.query('CHECKPOINT');
  const [{ lsn }] = (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows as [{ lsn: string }];
  const t0 = performance.now();
  const value = await fn();
  const ms = Math.round(performance.now() - t0);
  const [{ b }] = (await db.query<{ b: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint AS b', [lsn])).rows as [{ b: string }];
  // A driver's result object says nothing worth keeping.
  return { ms, walMB: mb(Number(b)), value: value instanceof Object && 'command' in value ? undefined : value };
}

/** A resume of `reads` random users (their last 100 events) through the Storage port, and one EXPLAIN. */
async function replay(db: pg.Client, url: string, o: Opts) {
  const storage = createSqlStorage(createPostgresRunner({ connectionString: url, max: 1 }));
  const heads = new Map(
    (await db.query<{ user_id: string; last_seq: string }>('SELECT user_id, last_seq FROM user_logs')).rows.map((r) => [r.user_id, Number(r.last_seq)]),
  );
  const users = [...heads.keys()];
  const ms: number[] = [];
  for (let i = 0; i < o.reads + 20; i += 1) {
    const u = users[Math.floor(Math.random() * users.length)]!;
    const head = heads.get(u)!;
    const t0 = performance.now();
    const got = await storage.readEvents(u, head - 100, head, 100);
    const took = performance.now() - t0;
    if (got.length !== 100 || got[0]!.seq !== head - 99) throw new Error(`replay of ${u}: ${got.length} events`);
    if (i >= 20) ms.push(took); // the first ones warm the connection and the plan cache
  }
  await storage.close();
  ms.sort((a, b) => a - b);
  const u = users[0]!;
  const head = heads.get(u)!;
  const explain = async (sql: string, params: unknown[] = []) =>
    (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params)).rows.map((r) => r['QUERY PLAN']).join('\n');
  const custom = await explain(READ_EVENTS, [u, head - 100, head, 100]);
  // What the service runs after a few executions of its named statement: the generic plan.
  await db.query('SET plan_cache_mode = force_generic_plan');
  await db.query(`PREPARE read_generic(text, bigint, bigint, bigint) AS ${READ_EVENTS}`);
  const generic = await explain(`EXECUTE read_generic('${u}', ${head - 100}, ${head}, 100)`);
  await db.query('DEALLOCATE read_generic');
  await db.query('RESET plan_cache_mode');
  const time = (plan: string, what: string) => Number(new RegExp(`${what} Time: ([\\d.]+) ms`).exec(plan)?.[1]);
  return {
    p50Ms: Math.round(pct(ms, 50) * 100) / 100,
    p99Ms: Math.round(pct(ms, 99) * 100) / 100,
    explain: { planningMs: time(custom, 'Planning'), executionMs: time(custom, 'Execution'), genericExecutionMs: time(generic, 'Execution') },
    plan: custom,
    genericPlan: generic,
  };
}

async function sizeMB(db: pg.Client): Promise<number> {
  const rows = (await db.query<{ b: string }>(
    `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS b FROM pg_class c
     WHERE c.relkind = 'r' AND (c.relname = 'events' OR c.relname LIKE 'events\\_%')`,
  )).rows;
  return mb(Number(rows[0]!.b));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { events: { type: 'string' }, users: { type: 'string' }, days: { type: 'string' }, reads: { type: 'string' } },
  });
  const o: Opts = {
    events: Number(values.events ?? 10_000_000),
    users: Number(values.users ?? 3000),
    days: Number(values.days ?? 10),
    reads: Number(values.reads ?? 300),
  };
  const today = Math.floor(Date.now() / DAY) * DAY;
  const start = today - o.days * DAY;
  const firstDayEnd = new Date(start + DAY);
  const server = await startPostgres({ durable: true });
  const clients: pg.Client[] = [];
  const connect = async (url: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    clients.push(c);
    return c;
  };
  try {
    const admin = await connect(server.url);
    // A bulk load should not checkpoint every few seconds; production sizes these too.
    await admin.query("ALTER SYSTEM SET max_wal_size = '8GB'");
    await admin.query("ALTER SYSTEM SET shared_buffers = '512MB'");
    await admin.end();
    clients.length = 0;
    await server.restart();
    const root = await connect(server.url);
    await root.query('CREATE DATABASE before_v6');
    await root.query('CREATE DATABASE after_v6');
    const urlOf = (name: string) => Object.assign(new URL(server.url), { pathname: `/${name}` }).toString();
    const result: Record<string, unknown> = { options: o, logFrom: new Date(start).toISOString(), prunedBefore: firstDayEnd.toISOString() };

    // Before: one table, pruned by DELETE.
    log('before: loading');
    const beforeRunner = createPostgresRunner({ connectionString: urlOf('before_v6'), max: 2 });
    await migrateBefore6(beforeRunner);
    const before = await connect(urlOf('before_v6'));
    const loadBeforeS = await load(before, o, start);
    const sizeBefore = await sizeMB(before);
    log('before: replay');
    const replayBefore = await replay(before, urlOf('before_v6'), o);
    log('before: DELETE of the oldest day');
    const del = await walBytesAndMs(before, async () =>
      (await before.query('DELETE FROM events WHERE created_at < $1 RETURNING 1', [firstDayEnd.toISOString()])).rowCount,
    );
    log('before: VACUUM');
    const vacuum = await walBytesAndMs(before, () => before.query('VACUUM events'));
    log('before: migration 6 in place');
    const beforeStorage = createSqlStorage(beforeRunner);
    const convert = await walBytesAndMs(before, () => beforeStorage.migrate());
    const replayConverted = await replay(before, urlOf('before_v6'), o);
    await beforeStorage.close();
    result.before = { loadS: loadBeforeS, sizeMB: sizeBefore, replay: replayBefore, delete: del, vacuum, convert, replayConverted };
    await before.end();
    await root.query('DROP DATABASE before_v6');

    // After: partitioned by day, pruned by dropping a partition.
    log('after: loading');
    const afterStorage = createSqlStorage(createPostgresRunner({ connectionString: urlOf('after_v6'), max: 2 }));
    await afterStorage.migrate();
    const after = await connect(urlOf('after_v6'));
    for (const r of (await after.query<{ name: string }>('SELECT part::text AS name FROM rt_event_partitions()')).rows) {
      await after.query(`DROP TABLE ${r.name}`); // empty: the layout of a log partitioned for --days days
    }
    await afterStorage.ensureEventPartitions(new Date(start), 0);
    await afterStorage.ensureEventPartitions(new Date(), 3);
    const loadAfterS = await load(after, o, start);
    const sizeAfter = await sizeMB(after);
    const partitionCount = Number((await after.query('SELECT count(*) AS n FROM rt_event_partitions()')).rows[0].n);
    log('after: replay');
    const replayAfter = await replay(after, urlOf('after_v6'), o);
    log('after: DROP of the oldest day');
    const drop = await walBytesAndMs(after, () => afterStorage.dropEventPartitions(firstDayEnd));
    await afterStorage.close();
    result.after = { loadS: loadAfterS, sizeMB: sizeAfter, partitions: partitionCount, replay: replayAfter, drop };

    const b = result.before as Record<string, any>;
    const a = result.after as Record<string, any>;
    const rows = [
      ['bulk load (s)', b.loadS, a.loadS],
      ['log size (MB, heap + indexes)', b.sizeMB, a.sizeMB],
      ['prune the oldest day: time (ms)', `${b.delete.ms} DELETE (+${b.vacuum.ms} VACUUM)`, `${a.drop.ms} DROP`],
      ['prune the oldest day: WAL (MB)', `${b.delete.walMB} DELETE (+${b.vacuum.walMB} VACUUM)`, `${a.drop.walMB} DROP`],
      ['events pruned', b.delete.value, a.drop.value.events],
      ['resume read, last 100 events: p50 / p99 (ms)', `${b.replay.p50Ms} / ${b.replay.p99Ms}`, `${a.replay.p50Ms} / ${a.replay.p99Ms}`],
      ['EXPLAIN ANALYZE: planning / execution (ms)', `${b.replay.explain.planningMs} / ${b.replay.explain.executionMs}`, `${a.replay.explain.planningMs} / ${a.replay.explain.executionMs}`],
      ['generic plan execution (ms)', b.replay.explain.genericExecutionMs, a.replay.explain.genericExecutionMs],
      ['migration 6 in place: time (ms) / WAL (MB)', `${b.convert.ms} / ${b.convert.walMB}`, ''],
      ['resume read after the conversion: p50 / p99 (ms)', `${b.replayConverted.p50Ms} / ${b.replayConverted.p99Ms}`, ''],
    ];
    console.log(`| ${o.events} events, ${o.users} users, ${o.days} days | before (one table) | after (${a.partitions} partitions) |\n|---|---|---|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    console.log(`\nresume read, before:\n${b.replay.plan}\n\nresume read, after:\n${a.replay.plan}\n\ngeneric plan, after:\n${a.replay.genericPlan}`);
    console.error(`\nwritten to ${writeResult('partition-prune', result)}`);
  } finally {
    for (const c of clients) await c.end().catch(() => undefined);
    removePostgres(server);
  }
}

if (isMain(import.meta.url)) runMain('partition-prune', main);
