/**
 * Named prepared statements on PGlite (pglite-prepared.ts), in process and in the worker thread:
 * a named query answers exactly what the unnamed one does, errors keep their SQLSTATE and leave the
 * statement usable, and a named call never runs inside another caller's open transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteRunner } from '../src/adapters/sql-pglite.js';
import { createPgliteWorkerRunner } from '../src/adapters/sql-pglite-worker.js';
import type { SqlRunner } from '../src/storage/sql-runner.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const RUNNERS: [string, () => Promise<SqlRunner>][] = [
  ['in process', () => createPgliteRunner()],
  ['worker thread', () => createPgliteWorkerRunner()],
];

describe.each(RUNNERS)('PGlite named statements (%s)', (_label, create) => {
  let db: SqlRunner;
  beforeAll(async () => {
    db = await create();
    await db.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('answers what the same unnamed query answers, with the same types', async () => {
    const text = 'SELECT $1::int AS i, $2::bigint AS b, $3::text AS t, $4::jsonb AS j, $5::json AS js, $6::timestamptz AS at, NULL AS nothing';
    const params = [7, '9007199254740993', 'x', JSON.stringify({ a: [1] }), JSON.stringify({ b: 'c' }), '2026-12-02T10:00:00.000Z'];
    const unnamed = await db.query(text, params);
    const named = await db.query(text, params, { name: 'types_probe' });
    expect(named).toEqual(unnamed);
    expect(named[0]).toMatchObject({ i: 7, t: 'x', j: { a: [1] }, js: { b: 'c' }, nothing: null });
    expect(named[0]!.at).toEqual(new Date('2026-12-02T10:00:00.000Z'));
    // The second call binds the statement prepared by the first, with new values.
    expect(await db.query(text, [8, '1', 'y', '[]', 'null', '2026-12-02T11:00:00.000Z'], { name: 'types_probe' })).toMatchObject([
      { i: 8, b: 1, t: 'y', j: [], js: null },
    ]);
  });

  it('writes, and returns no rows for a statement without a result', async () => {
    expect(await db.query('INSERT INTO kv VALUES ($1, $2)', ['named', 1], { name: 'kv_insert' })).toEqual([]);
    expect(await db.query('INSERT INTO kv VALUES ($1, $2)', ['named2', 2], { name: 'kv_insert' })).toEqual([]);
    expect(await db.query("SELECT k, v FROM kv WHERE k LIKE 'named%' ORDER BY k")).toEqual([
      { k: 'named', v: 1 },
      { k: 'named2', v: 2 },
    ]);
  });

  it('keeps the SQLSTATE of a failed call, and the statement works again after it', async () => {
    await expect(db.query('INSERT INTO kv VALUES ($1, $2)', ['named', 3], { name: 'kv_insert' })).rejects.toMatchObject({
      code: '23505',
      constraint: 'kv_pkey',
    });
    await expect(db.query('SELECT $1::json AS j', ['{bad'], { name: 'json_probe' })).rejects.toMatchObject({ code: '22P02' });
    expect(await db.query('SELECT $1::json AS j', ['{"ok":true}'], { name: 'json_probe' })).toEqual([{ j: { ok: true } }]);
    expect(await db.query('INSERT INTO kv VALUES ($1, $2)', ['named3', 3], { name: 'kv_insert' })).toEqual([]);
  });

  it('does not keep a statement whose preparation failed: it is prepared again once it can be', async () => {
    const text = 'SELECT rt_probe_fn($1::int) AS r';
    await expect(db.query(text, [1], { name: 'late_fn' })).rejects.toMatchObject({ code: '42883' });
    await db.query('CREATE FUNCTION rt_probe_fn(n int) RETURNS int LANGUAGE sql AS $$ SELECT n * 2 $$');
    expect(await db.query(text, [21], { name: 'late_fn' })).toEqual([{ r: 42 }]);
  });

  it('refuses a name already prepared with another text', async () => {
    await db.query('SELECT 1 AS one', [], { name: 'taken' });
    await expect(db.query('SELECT 2 AS two', [], { name: 'taken' })).rejects.toThrow(/another text/);
  });

  it('waits for an open transaction to end, so it never sees half of it', async () => {
    let committed = false;
    const tx = db.transaction(async (q) => {
      await q.query("INSERT INTO kv VALUES ('half-a', 1)");
      await sleep(50);
      await q.query("INSERT INTO kv VALUES ('half-b', 1)");
      committed = true;
    });
    await sleep(10);
    const rows = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM kv WHERE k LIKE 'half-%'", [], { name: 'half_count' });
    expect(committed).toBe(true);
    expect(rows).toEqual([{ n: 2 }]);
    await tx;
  });

  it('interleaves with concurrent unnamed queries without mixing their answers', async () => {
    const calls = Array.from({ length: 60 }, (_, i) =>
      i % 2 === 0
        ? db.query<{ n: number }>('SELECT $1::int + 1 AS n', [i], { name: 'plus_one' }).then((r) => r[0]!.n)
        : db.query<{ n: number }>('SELECT $1::int + 1 AS n', [i]).then((r) => r[0]!.n),
    );
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });
});
