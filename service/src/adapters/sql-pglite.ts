/**
 * SqlRunner over PGlite: PostgreSQL compiled to WASM, in process, in memory or in a data folder.
 * A named query outside a transaction is a prepared statement (pglite-prepared.ts), as on pg.
 * Once PGlite is closing or closed, calls reject with the port's StorageUnavailableError.
 */
import { PGlite } from '@electric-sql/pglite';
import type { Row, SqlQuery, SqlRunner } from '../storage/sql-runner.js';
import { createPreparedStatements } from './pglite-prepared.js';
import { toRowObjects } from './sql-pglite-protocol.js';
import { mapUnavailable } from './sql-unavailable.js';

export async function createPgliteRunner(opts: { dataDir?: string } = {}): Promise<SqlRunner> {
  return pgliteRunner(await PGlite.create(opts.dataDir ? { dataDir: opts.dataDir } : {}));
}

/** A SqlRunner over an open PGlite; `close()` closes it. */
export function pgliteRunner(db: PGlite): SqlRunner {
  const gone = () => db.closed || !db.ready;
  const wrap = (q: Pick<PGlite, 'query'>): SqlQuery => ({
    query<R extends Row = Row>(text: string, params: readonly unknown[] = []) {
      return mapUnavailable(async () => (await q.query<R>(text, params as unknown[])).rows, gone);
    },
  });
  const root = wrap(db);
  const prepared = createPreparedStatements(db);
  return {
    query<R extends Row = Row>(text: string, params: readonly unknown[] = [], opts?: { name?: string }) {
      if (opts?.name === undefined) return root.query<R>(text, params);
      const name = opts.name;
      return mapUnavailable(async () => {
        const { fields, rows } = await prepared.run(name, text, params);
        return toRowObjects<R>(fields, rows);
      }, gone);
    },
    // PGlite has one connection and serializes transactions, so every transaction is a snapshot.
    transaction: (fn) => mapUnavailable(() => db.transaction((tx) => fn(wrap(tx))), gone),
    close: () => db.close(),
  };
}
