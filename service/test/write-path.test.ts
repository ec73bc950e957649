/**
 * The write path's storage contract on every SQL adapter: each route write is one statement (one
 * round trip, no transaction around it), the outbox's watermark, the write's time, and migration 4
 * over data written before it. Real PGlite and real PostgreSQL; the runner is only counted, never faked.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteRunner } from '../src/adapters/sql-pglite.js';
import { createPostgresRunner } from '../src/adapters/sql-postgres.js';
import type { OrderContent, Storage } from '../src/ports/storage.js';
import { MIGRATIONS } from '../src/storage/migrations.js';
import type { SqlRunner } from '../src/storage/sql-runner.js';
import { createSqlStorage } from '../src/storage/sql-storage.js';
import { createTestDatabase, storageVariants } from './support/harness.js';

/** The runner as it is, with a count of what crosses it. */
function counted(runner: SqlRunner) {
  const calls = { queries: 0, transactions: 0, names: [] as string[] };
  const wrapped: SqlRunner = {
    query(text, params, opts) {
      calls.queries += 1;
      if (opts?.name) calls.names.push(opts.name);
      return runner.query(text, params, opts);
    },
    transaction(fn, opts) {
      calls.transactions += 1;
      return runner.transaction(fn, opts);
    },
    close: () => runner.close(),
  };
  return { runner: wrapped, calls };
}

const content = (over: Partial<OrderContent> = {}): OrderContent => ({
  customerId: 'C-1',
  customerName: 'Rossi Srl',
  items: [{ productId: 'P-1', quantity: 2, price: 10.5, notes: null }],
  notes: null,
  updatedAt: new Date().toISOString(),
  ...over,
});

describe.each(storageVariants())('write path ($kind)', ({ kind, skip }) => {
  let storage: Storage;
  let calls: ReturnType<typeof counted>['calls'];
  beforeAll(async () => {
    if (skip) return;
    const raw = kind === 'pglite' ? await createPgliteRunner() : createPostgresRunner({ connectionString: await createTestDatabase(), max: 4 });
    const c = counted(raw);
    calls = c.calls;
    storage = createSqlStorage(c.runner);
    await storage.migrate();
  });
  afterAll(async () => {
    await storage?.close();
  });

  function measure() {
    const before = { queries: calls.queries, transactions: calls.transactions, names: calls.names.length };
    return () => ({
      queries: calls.queries - before.queries,
      transactions: calls.transactions - before.transactions,
      names: calls.names.slice(before.names),
    });
  }

  it.skipIf(skip)('every route write and job step is one named statement, with no transaction around it', async () => {
    const u = `u-${randomUUID()}`;
    const [d1, d2, o1] = [randomUUID(), randomUUID(), randomUUID()];
    const scope = { key: 'k-1', fingerprint: 'POST /api/drafts x', notBefore: new Date(Date.now() - 60_000) };
    const steps: [string, () => Promise<unknown>][] = [
      ['rt_draft_create', () => storage.createDraft(u, { id: d1, deviceId: 'a', content: content() }, scope)],
      ['rt_draft_create', () => storage.createDraft(u, { id: d1, deviceId: 'a', content: content() }, scope)], // the replay
      ['rt_draft_update', () => storage.updateDraft(u, { id: d1, deviceId: 'a', content: content({ notes: 'n', updatedAt: new Date(Date.now() + 5000).toISOString() }) }, null)],
      ['rt_draft_create', () => storage.createDraft(u, { id: d2, deviceId: null, content: content() }, null)],
      ['rt_draft_delete', () => storage.deleteDraft(u, { id: d2, deviceId: null }, null)],
      ['rt_draft_convert', () => storage.convertDraft(u, { id: d1, deviceId: 'a' }, null)],
      ['rt_pending_upsert', () => storage.upsertPendingOrders(u, { deviceId: 'a', orders: [{ id: o1, deviceId: null, ...content() }] }, null)],
      ['rt_pending_submit', () => storage.submitPendingOrder(u, { id: o1, deviceId: null }, null)],
      ['rt_append_event', () => storage.appendEvent(u, { type: 'JOB_STARTED', payload: { orderId: o1 }, originDeviceId: null })],
      ['rt_job_completed', () => storage.completeSubmission(u, { orderId: o1, jobId: 'j', erpOrderNumber: 'ERP-1', deviceId: null })],
      ['rt_job_failed', () => storage.failSubmission(u, { orderId: o1, jobId: 'j', error: 'x', attempt: 1, willRetry: true, deviceId: null })],
      ['rt_pending_delete', () => storage.deletePendingOrder(u, { id: o1, deviceId: null }, null)],
    ];
    for (const [name, step] of steps) {
      const done = measure();
      await step();
      expect(done(), name).toEqual({ queries: 1, transactions: 0, names: [name] });
    }
    // What they committed: gapless seqs, one log.
    const events = await storage.readEvents(u, 0, 100, 100);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'DRAFT_CREATED'], [2, 'DRAFT_UPDATED'], [3, 'DRAFT_CREATED'], [4, 'DRAFT_DELETED'], [5, 'DRAFT_CONVERTED'],
      [6, 'PENDING_CREATED'], [7, 'PENDING_CREATED'], [8, 'PENDING_UPDATED'], [9, 'JOB_STARTED'], [10, 'JOB_COMPLETED'],
      [11, 'ORDER_NUMBERS_RESOLVED'], [12, 'PENDING_UPDATED'], [13, 'JOB_FAILED'], [14, 'PENDING_DELETED'],
    ]);
  });

  it.skipIf(skip)("a write's time is read under the lock: serverUpdatedAt equals its events' timestamp, and never goes back in seq order", async () => {
    const u = `u-${randomUUID()}`;
    const ids = Array.from({ length: 12 }, () => randomUUID());
    const outcomes = await Promise.all(ids.map((id) => storage.createDraft(u, { id, deviceId: null, content: content() }, null)));
    for (const o of outcomes) {
      if (o.refused) throw new Error(o.refused);
      expect(o.events).toHaveLength(1);
      expect(o.events[0]!.timestamp).toBe(o.body.draft.serverUpdatedAt);
      expect(await storage.getDraft(u, o.body.draft.id)).toEqual(o.body.draft); // what a write answers is what a read returns
    }
    const events = await storage.readEvents(u, 0, 100, 100);
    expect(events.map((e) => e.seq)).toEqual(ids.map((_, i) => i + 1));
    const times = events.map((e) => Date.parse(e.timestamp));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it.skipIf(skip)('the outbox watermark: confirmations in any order never move it back; only events after it are unpublished', async () => {
    const u = `u-${randomUUID()}`;
    for (let i = 0; i < 4; i += 1) await storage.appendEvent(u, { type: 'X', payload: { i }, originDeviceId: null });
    const mine = async () =>
      (await storage.unpublishedEvents(new Date(Date.now() + 1000), 10_000)).filter((e) => e.userId === u).map((e) => e.seq);
    expect(await mine()).toEqual([1, 2, 3, 4]);
    await storage.markPublished([{ userId: u, seq: 3 }]);
    await storage.markPublished([{ userId: u, seq: 2 }]); // a late confirmation of an earlier event
    expect(await mine()).toEqual([4]);
    expect((await storage.unpublishedEvents(new Date(0), 10_000)).filter((e) => e.userId === u)).toEqual([]); // the grace
    await storage.markPublished([{ userId: u, seq: 4 }]);
    expect(await mine()).toEqual([]);
  });

  it.skipIf(skip)('one periodic outbox sweep per interval across instances', async () => {
    const everyMs = 60 * 60_000; // long enough that no other suite's claim interferes
    const first = await storage.claimOutboxSweep(everyMs);
    const second = await storage.claimOutboxSweep(everyMs);
    expect([first, second]).toEqual([true, false]);
    expect(await storage.claimOutboxSweep(0)).toBe(true);
  });
});

describe('migration 4 over data written before it (pglite)', () => {
  it('events already published count as published; the first unpublished one and those after it are republished', async () => {
    const runner = await createPgliteRunner();
    await runner.transaction(async (q) => {
      await q.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      for (const m of MIGRATIONS.filter((x) => x.version < 4)) {
        for (const s of (m.sql as string).split(';').map((x) => x.trim()).filter(Boolean)) await q.query(s);
        await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
      await q.query(`INSERT INTO user_logs (user_id, epoch, last_seq) VALUES ('a', 'e', 3), ('b', 'e', 2), ('c', 'e', 5)`);
      await q.query(`INSERT INTO events (user_id, seq, type, payload, created_at, published_at) VALUES
        ('a', 1, 'X', '{}', now() - interval '1 h', now()), ('a', 2, 'X', '{}', now() - interval '1 h', NULL), ('a', 3, 'X', '{}', now() - interval '1 h', now()),
        ('b', 1, 'X', '{}', now() - interval '1 h', now()), ('b', 2, 'X', '{}', now() - interval '1 h', now())`);
      // c: its events were pruned; nothing to republish.
    });
    const storage = createSqlStorage(runner);
    await storage.migrate();
    const rows = await runner.query<{ user_id: string; published_seq: number }>('SELECT user_id, published_seq FROM user_logs ORDER BY user_id');
    expect(rows.map((r) => [r.user_id, Number(r.published_seq)])).toEqual([['a', 1], ['b', 2], ['c', 5]]);
    expect((await storage.unpublishedEvents(new Date(), 100)).map((e) => [e.userId, e.seq])).toEqual([['a', 2], ['a', 3]]);
    // And the write functions run on the migrated tables.
    const w = await storage.createDraft('a', { id: randomUUID(), deviceId: null, content: content() }, null);
    expect(w.refused ? w.refused : w.events.map((e) => e.seq)).toEqual([4]);
    await storage.close();
  }, 60_000); // a PGlite of its own: its start-up is CPU-heavy on a loaded machine
});

describe.skipIf(storageVariants()[1]!.skip)('write path on PostgreSQL: concurrent instances', () => {
  it('writes of one user through several pools stay gapless and serialized (the lock is in the function)', async () => {
    const url = await createTestDatabase();
    const instances = Array.from({ length: 3 }, () => createSqlStorage(createPostgresRunner({ connectionString: url, max: 4 })));
    await instances[0]!.migrate();
    const u = `u-${randomUUID()}`;
    const id = randomUUID();
    await instances[0]!.createDraft(u, { id, deviceId: null, content: content({ updatedAt: new Date(0).toISOString() }) }, null);
    // 30 updates with increasing client clocks, through 3 pools at once: every one applies (each is
    // newer than the stored one only if they serialize; the ones that lose the race are stale).
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        instances[i % 3]!.updateDraft(u, { id, deviceId: null, content: content({ notes: `n${i}`, updatedAt: new Date(1000 + i).toISOString() }) }, null),
      ),
    );
    const applied = outcomes.filter((o) => !o.refused).length;
    const stale = outcomes.filter((o) => o.refused === 'STALE_WRITE').length;
    expect(applied + stale).toBe(30);
    const head = await instances[1]!.logHead(u);
    expect(head.latestSeq).toBe(1 + applied);
    const draft = await instances[2]!.getDraft(u, id);
    expect(draft?.version).toBe(1 + applied);
    expect(draft?.updatedAt).toBe(new Date(1029).toISOString()); // the newest clock always wins
    await Promise.all(instances.map((s) => s.close()));
  });
});
