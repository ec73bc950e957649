/**
 * PGlite in a worker thread (sql-pglite-worker.ts): what the thread hop must not change or lose.
 * The storage conformance suite runs on this runner too (storage.test.ts, variant pglite-worker).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteWorkerRunner, type PgliteWorkerRunner } from '../src/adapters/sql-pglite-worker.js';
import { schemaKey } from '../src/adapters/sql-pglite-datadir.js';
import { migrate, MIGRATIONS } from '../src/storage/migrations.js';
import { isConnectionError } from '../src/storage/sql-runner.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PGlite worker runner', () => {
  let db: PgliteWorkerRunner;
  beforeAll(async () => {
    db = await createPgliteWorkerRunner();
    await db.query('CREATE TABLE steps (n serial PRIMARY KEY, tx text NOT NULL, step int NOT NULL)');
    await db.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('returns rows as objects with their column names and PostgreSQL types', async () => {
    const rows = await db.query('SELECT 1::int AS one, $1::text AS t, $2::jsonb AS j, NULL AS nothing', ['x', JSON.stringify({ a: [1] })]);
    expect(rows).toEqual([{ one: 1, t: 'x', j: { a: [1] }, nothing: null }]);
    expect(await db.query("INSERT INTO kv VALUES ('rows', 1)")).toEqual([]);
    expect(await db.query("SELECT * FROM kv WHERE k = 'none'")).toEqual([]);
  });

  it("keeps PostgreSQL's SQLSTATE, message and constraint on errors", async () => {
    await db.query("INSERT INTO kv VALUES ('dup', 1)");
    const err = await db.query("INSERT INTO kv VALUES ('dup', 2)").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: '23505', constraint: 'kv_pkey', message: expect.stringContaining('duplicate key') });
    await expect(db.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012', message: 'division by zero' });
    expect(isConnectionError(err)).toBe(false);
  });

  it('never interleaves the statements of concurrent transactions', async () => {
    const run = (tx: string) =>
      db.transaction(async (q) => {
        for (let step = 1; step <= 3; step += 1) {
          await q.query('INSERT INTO steps (tx, step) VALUES ($1, $2)', [tx, step]);
          await sleep(5); // give the other transaction every chance to slip in
        }
        return tx;
      });
    expect(await Promise.all(['a', 'b', 'c'].map(run))).toEqual(['a', 'b', 'c']);
    const order = (await db.query<{ tx: string }>('SELECT tx FROM steps ORDER BY n')).map((r) => r.tx).join('');
    expect(order).toMatch(/^(aaa|bbb|ccc){3}$/);
    expect(new Set(order)).toEqual(new Set(['a', 'b', 'c']));
  });

  it('runs a plain query only after the open transaction ends, so it never sees half of it', async () => {
    let committed = false;
    const tx = db.transaction(async (q) => {
      await q.query("INSERT INTO kv VALUES ('half', 1)");
      await sleep(50);
      await q.query("UPDATE kv SET v = 2 WHERE k = 'half'");
      committed = true;
    });
    await sleep(10);
    const rows = await db.query<{ v: number }>("SELECT v FROM kv WHERE k = 'half'");
    expect(committed).toBe(true);
    expect(rows).toEqual([{ v: 2 }]);
    await tx;
  });

  it('rolls back when the callback throws, and the connection stays usable', async () => {
    await expect(
      db.transaction(async (q) => {
        await q.query("INSERT INTO kv VALUES ('gone', 1)");
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.query("SELECT * FROM kv WHERE k = 'gone'")).toEqual([]);
    // A failed statement aborts the transaction; the callback's error is what the caller sees.
    await expect(
      db.transaction(async (q) => {
        await q.query("INSERT INTO kv VALUES ('gone', 1)");
        await q.query('SELECT 1/0');
      }),
    ).rejects.toMatchObject({ code: '22012' });
    expect(await db.query("SELECT * FROM kv WHERE k = 'gone'")).toEqual([]);
    expect(await db.transaction(async (q) => (await q.query('SELECT 7 AS n'))[0])).toEqual({ n: 7 });
  });
});

describe('PGlite worker lifecycle', () => {
  it('close() ends the thread and removes its throwaway data folder', async () => {
    const db = await createPgliteWorkerRunner();
    const exited = new Promise<number>((r) => db.worker.once('exit', r));
    await db.query('SELECT 1');
    expect(existsSync(db.dataDir)).toBe(true);
    await db.close();
    await exited;
    expect(db.worker.threadId).toBe(-1);
    expect(existsSync(db.dataDir)).toBe(false);
    await db.close(); // idempotent
    await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: '08006' });
  });

  it('a dead thread rejects pending and later calls with a storage-unavailable error instead of hanging', async () => {
    const db = await createPgliteWorkerRunner();
    let inTx!: () => void;
    const txStarted = new Promise<void>((r) => (inTx = r));
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: unknown) => e,
      );
    const tx = outcome(
      db.transaction(async (q) => {
        inTx();
        await sleep(200);
        return q.query('SELECT 1');
      }),
    );
    await txStarted;
    const pending = outcome(db.query('SELECT 2')); // waits behind the transaction in the thread
    await db.worker.terminate(); // what a crash of the thread looks like from here
    for (const err of await Promise.all([tx, pending, outcome(db.query('SELECT 3'))])) {
      expect(err).toMatchObject({ code: '08006', message: expect.stringContaining('PGlite worker unavailable') });
      expect(isConnectionError(err)).toBe(true); // the HTTP layer answers 503
    }
    await db.close();
  });

  it("starts a fresh folder with the service's schema in place: the start-up migrations find nothing to do", async () => {
    const db = await createPgliteWorkerRunner();
    try {
      const rows = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await migrate(db)).toEqual([]);
      // The schema is usable as the storage uses it: a write function is there.
      expect(await db.query("SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'rt_draft_create'")).toEqual([{ n: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('keys the template by the schema: any change to a migration makes another one', () => {
    const changed = MIGRATIONS.map((m, i) => (i === MIGRATIONS.length - 1 ? { ...m, sql: `${String(m.sql)} ` } : m));
    expect(schemaKey()).toBe(schemaKey(MIGRATIONS));
    expect(schemaKey(changed)).not.toBe(schemaKey());
    expect(schemaKey([...MIGRATIONS, { version: 9999, name: 'next', sql: 'SELECT 1' }])).not.toBe(schemaKey());
  });

  it('keeps the data in DATA_DIR across restarts', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'pglite-worker-test-')), 'data');
    try {
      const first = await createPgliteWorkerRunner({ dataDir: dir });
      await first.query('CREATE TABLE kept (v text)');
      await first.transaction((q) => q.query("INSERT INTO kept VALUES ('still here')"));
      await first.close();
      const second = await createPgliteWorkerRunner({ dataDir: dir });
      expect(await second.query('SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
      await second.close();
      expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });
});
