/** SqlRunner over PGlite: PostgreSQL compiled to WASM, in process, in memory or in a data folder. */
import { PGlite } from '@electric-sql/pglite';
import type { Row, SqlQuery, SqlRunner } from '../storage/sql-runner.js';

export async function createPgliteRunner(opts: { dataDir?: string } = {}): Promise<SqlRunner> {
  const db = await PGlite.create(opts.dataDir ? { dataDir: opts.dataDir } : {});
  const wrap = (q: Pick<PGlite, 'query'>): SqlQuery => ({
    async query<R extends Row = Row>(text: string, params: readonly unknown[] = []) {
      const res = await q.query<R>(text, params as unknown[]);
      return res.rows;
    },
  });
  const root = wrap(db);
  return {
    query: root.query,
    // PGlite has one connection and serializes transactions, so every transaction is a snapshot.
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  };
}
