/**
 * The partitioned event log (migration 6): the in-place conversion, partitions created ahead,
 * retention by whole partitions, writes dated past the last partition. PGlite and PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createPgliteWorkerRunner } from '../src/adapters/sql-pglite-worker.js';
import { createPostgresRunner } from '../src/adapters/sql-postgres.js';
import { createMaintenance } from '../src/features/jobs/maintenance.js';
import type { Storage } from '../src/ports/storage.js';
import { MIGRATIONS } from '../src/storage/migrations.js';
import type { SqlRunner } from '../src/storage/sql-runner.js';
import { createSqlStorage } from '../src/storage/sql-storage.js';
import { createTestDatabase, newDraft, startService, storageVariants, type StorageKind } from './support/harness.js';

const DAY = 86_400_000;
const utcDay = (ms: number) => Math.floor(ms / DAY) * DAY;
const partName = (ms: number) => `events_p${new Date(utcDay(ms)).toISOString().slice(0, 10).replace(/-/g, '')}`;
const silent = pino({ level: 'silent' });

async function makeRunner(kind: StorageKind): Promise<SqlRunner> {
  return kind === 'pglite'
    ? createPgliteWorkerRunner({ freshSchema: 'empty' }) // the migrations run here, from an older schema
    : createPostgresRunner({ connectionString: await createTestDatabase(), max: 4 });
}

/** The schema as it was before migration 6: every earlier migration, applied as migrate() does. */
async function migrateBefore6(runner: SqlRunner): Promise<void> {
  await runner.transaction(async (q) => {
    await q.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const m of MIGRATIONS.filter((x) => x.version < 6)) {
      const statements = typeof m.sql === 'string' ? m.sql.split(';').map((s) => s.trim()).filter(Boolean) : m.sql;
      for (const s of statements) await q.query(s);
      await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
  });
}

const partitions = async (runner: SqlRunner) =>
  (await runner.query<{ name: string }>('SELECT part::text AS name FROM rt_event_partitions()')).map((r) => r.name);

const partitionOf = async (runner: SqlRunner, userId: string) =>
  (await runner.query<{ t: string }>('SELECT tableoid::regclass::text AS t FROM events WHERE user_id = $1 ORDER BY seq', [userId])).map((r) => r.t);

/** A log that has been partitioned for a while: no legacy partition, daily ones from `firstDay` on. */
async function historyLayout(runner: SqlRunner, storage: Storage, firstDay: number, daysAhead: number): Promise<void> {
  for (const p of await partitions(runner)) await runner.query(`DROP TABLE ${p}`); // empty, fresh database
  await storage.ensureEventPartitions(new Date(firstDay), 0);
  await storage.ensureEventPartitions(new Date(), daysAhead);
}

/** Events of `userId` as writes long ago would have left them: seq 1.., one at each time, and its head. */
async function insertHistory(runner: SqlRunner, userId: string, times: readonly number[]): Promise<void> {
  await runner.query('INSERT INTO user_logs (user_id, epoch, last_seq, published_seq) VALUES ($1, $2, $3, $3)', [userId, randomUUID(), times.length]);
  for (const [i, t] of times.entries()) {
    await runner.query(`INSERT INTO events (user_id, seq, type, payload, origin_device_id, created_at) VALUES ($1, $2, 'X', '{}', NULL, $3)`, [
      userId, i + 1, new Date(t).toISOString(),
    ]);
  }
}

const maintenance = (storage: Storage, eventsMs: number) =>
  createMaintenance({ storage, log: silent, retention: { eventsMs, tombstonesMs: 30 * DAY, intervalMs: 3_600_000 }, idempotencyTtlMs: DAY });

describe.each(storageVariants())('partitioned event log ($kind)', ({ kind, skip }) => {
  it.skipIf(skip)('migration 6 converts a table holding events in place: readable, replayable, written after', async () => {
    const runner = await makeRunner(kind);
    const storage = createSqlStorage(runner);
    try {
      await migrateBefore6(runner);
      // Written by the write functions before the migration, and history from two days ago.
      for (let i = 0; i < 5; i += 1) await runner.query(`SELECT rt_append_event('a', 'X', json_build_object('i', ${i}), 'phone')`);
      await insertHistory(runner, 'h', [Date.now() - 2 * DAY, Date.now() - 2 * DAY + 1000]);
      const before = await storage.readEvents('a', 0, 5, 100);

      await storage.migrate();

      const kindOf = await runner.query<{ relkind: string }>("SELECT relkind FROM pg_class WHERE relname = 'events'");
      expect(kindOf.map((r) => r.relkind)).toEqual(['p']); // partitioned
      expect(await partitionOf(runner, 'a')).toEqual(Array(5).fill('events_legacy'));
      expect(await storage.readEvents('a', 0, 5, 100)).toEqual(before);
      expect((await storage.readEvents('a', 2, 5, 100)).map((e) => e.payload)).toEqual([{ i: 2 }, { i: 3 }, { i: 4 }]);
      expect((await storage.readEvents('h', 0, 2, 100)).map((e) => e.seq)).toEqual([1, 2]);
      expect(await storage.seqAt('h', new Date(Date.now() - DAY))).toBe(2);
      // The legacy partition covers through today; daily ones follow, 3 days ahead.
      const names = await partitions(runner);
      expect(names[0]).toBe('events_legacy');
      expect(names.slice(1)).toEqual([1, 2, 3].map((d) => partName(Date.now() + d * DAY)));
      // The write path goes on gapless, and the outbox still sees what was never published.
      const [sixth] = await storage.appendEvent('a', { type: 'Y', payload: { i: 5 }, originDeviceId: null });
      expect(sixth!.seq).toBe(6);
      expect((await storage.readEvents('a', 4, 6, 100)).map((e) => e.seq)).toEqual([5, 6]);
      const unpublished = (await storage.unpublishedEvents(new Date(Date.now() + 1000), 100)).filter((e) => e.userId === 'a');
      expect(unpublished.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      await storage.migrate(); // nothing left to do
      expect(await partitions(runner)).toEqual(names);
    } finally {
      await storage.close();
    }
  }, 60_000);

  it.skipIf(skip)('maintenance creates partitions ahead and drops whole partitions past the retention; newer events stay', async () => {
    const runner = await makeRunner(kind);
    const storage = createSqlStorage(runner);
    try {
      await storage.migrate();
      const now = Date.now();
      const today = utcDay(now);
      await historyLayout(runner, storage, today - 10 * DAY, 0);
      // One event at noon of each of the last 10 days, and one now.
      await insertHistory(runner, 'h', [...Array.from({ length: 10 }, (_, i) => today - (10 - i) * DAY + DAY / 2), now]);
      expect(await partitionOf(runner, 'h')).toEqual([...Array.from({ length: 10 }, (_, i) => partName(today - (10 - i) * DAY)), partName(now)]);

      const run = maintenance(storage, 7 * DAY);
      const first = await run(now);
      // Days -10, -9 and -8 end before now - 7 days; day -7 straddles it and stays whole.
      expect(first.eventPartitions).toEqual({ created: 3, dropped: 3, skipped: 0 });
      expect(first.events).toBe(3);
      expect(await storage.oldestSeq('h')).toBe(4);
      expect((await storage.readEvents('h', 3, 11, 100)).map((e) => e.seq)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
      const names = await partitions(runner);
      expect(names[0]).toBe(partName(today - 7 * DAY));
      expect(names[names.length - 1]).toBe(partName(now + 3 * DAY));
      // A resume from before the retention finds no partial log: seqAt says so (RESYNC_REQUIRED).
      expect(await storage.seqAt('h', new Date(today - 9 * DAY))).toBeNull();
      expect(await storage.seqAt('h', new Date(today - 6 * DAY))).toBe(4);
      // Again at once: nothing to do.
      expect((await run(now)).eventPartitions).toEqual({ created: 0, dropped: 0, skipped: 0 });
      // A day later: one more ahead, one more dropped.
      expect((await run(now + DAY)).eventPartitions).toEqual({ created: 1, dropped: 1, skipped: 0 });
      expect(await storage.oldestSeq('h')).toBe(5);
    } finally {
      await storage.close();
    }
  }, 60_000);

  it.skipIf(skip)('a write dated past the last partition succeeds, and the next maintenance moves it into its day', async () => {
    const runner = await makeRunner(kind);
    const storage = createSqlStorage(runner);
    try {
      await storage.migrate();
      const now = Date.now();
      // The maintenance job did not run for 5 days: the last partition ended 4 days ago.
      for (const p of await partitions(runner)) await runner.query(`DROP TABLE ${p}`);
      await storage.ensureEventPartitions(new Date(now - 5 * DAY), 0);
      expect(await partitions(runner)).toEqual([partName(now - 5 * DAY)]);

      const u = `u-${randomUUID()}`;
      const content = { customerId: 'C-1', customerName: 'n', items: [], notes: null, updatedAt: new Date().toISOString() };
      const w = await storage.createDraft(u, { id: randomUUID(), deviceId: 'phone', content }, null);
      expect(w.refused).toBeUndefined();
      expect(await partitionOf(runner, u)).toEqual(['events_default']);
      const [first] = await storage.readEvents(u, 0, 1, 10);
      expect(first).toMatchObject({ seq: 1, type: 'DRAFT_CREATED' });

      const result = await maintenance(storage, 7 * DAY)(now);
      expect(result.eventPartitions.created).toBe(4 + 1 + 3); // the 4 missed days, today, 3 ahead
      expect(await partitionOf(runner, u)).toEqual([partName(now)]);
      expect(await storage.readEvents(u, 0, 1, 10)).toEqual([first]);
      await storage.appendEvent(u, { type: 'X', payload: {}, originDeviceId: null });
      expect(await partitionOf(runner, u)).toEqual([partName(now), partName(Date.now())]);
      expect((await storage.readEvents(u, 0, 2, 10)).map((e) => e.seq)).toEqual([1, 2]);
    } finally {
      await storage.close();
    }
  }, 60_000);

  it.skipIf(skip)('a device resuming from before the retention gets RESYNC_REQUIRED once its partition was dropped', async () => {
    const svc = await startService({ storage: kind, logLevel: 'warn' });
    try {
      const u = `u-${randomUUID()}`;
      const api = svc.api(u);
      const since = new Date().toISOString();
      for (let i = 0; i < 3; i += 1) expect((await api.post('/api/drafts', newDraft())).status).toBe(201);
      // Eight days on, with a 7-day retention: today's partition is wholly past it.
      const result = await maintenance(svc.storage, 7 * DAY)(Date.now() + 8 * DAY);
      expect(result.eventPartitions.dropped).toBeGreaterThanOrEqual(1);
      expect(await svc.storage.oldestSeq(u)).toBeNull();
      const bySeq = await svc.device(u, 'phone', { lastSeq: 1 });
      const [r1] = await bySeq.waitForType('RESYNC_REQUIRED');
      expect(r1!.payload).toMatchObject({ reason: 'evicted', latestSeq: 3 });
      const byTime = await svc.device(u, 'tablet', { lastEventTs: since });
      const [r2] = await byTime.waitForType('RESYNC_REQUIRED');
      expect(r2!.payload).toMatchObject({ reason: 'evicted', latestSeq: 3 });
      // The lists still hold everything, and the log goes on.
      expect((await api.get('/api/drafts')).body.items).toHaveLength(3);
      await api.post('/api/drafts', newDraft());
      await bySeq.waitForSeq(4);
      expect(bySeq.events().map((e) => e.seq)).toEqual([4]);
    } finally {
      await svc.close();
    }
  }, 60_000);
});
