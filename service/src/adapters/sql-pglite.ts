/**
 * SqlRunner over PGlite: PostgreSQL compiled to WASM, in process, in memory or in a data folder.
 * Once PGlite is closing or closed, calls reject with the port's StorageUnavailableError.
 */
import { PGlite } from '@electric-sql/pglite';
import type { Row, SqlQuery, SqlRunner } from '../storage/sql-runner.js';
import { mapUnavailable } from './sql-unavailable.js';

export async function createPgliteRunner(opts: { dataDir?: string } = {}): Promise<SqlRunner> {
  const db = await PGlite.create(opts.dataDir ? { dataDir: opts.dataDir } : {});
  const gone = () => db.closed || !db.ready;
  const wrap = (q: Pick<PGlite, 'query'>): SqlQuery => ({
    query<R extends Row = Row>(text: string, params: readonly unknown[] = []) {
      return mapUnavailable(async () => (await q.query<R>(text, params as unknown[])).rows, gone);
    },
  });
  const root = wrap(db);
  return {
    query: root.query,
    // PGlite has one connection and serializes transactions, so every transaction is a snapshot.
    transaction: (fn) => mapUnavailable(() => db.transaction((tx) => fn(wrap(tx))), gone),
    close: () => db.close(),
  };
}
