/**
 * SqlRunner over PostgreSQL through a `pg` pool. A server that is down or restarting, or a dropped
 * connection, rejects with the port's StorageUnavailableError (sql-unavailable.ts).
 */
import pg from 'pg';
import type { Row, SqlQuery, SqlRunner, TransactionOptions } from '../storage/sql-runner.js';
import { mapUnavailable } from './sql-unavailable.js';

// int8 (seq, counts) as numbers: seq stays far below 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresRunnerOptions {
  connectionString: string;
  max?: number;
  onError?: (err: Error) => void;
}

export function createPostgresRunner(opts: PostgresRunnerOptions): SqlRunner {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    types,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener it would crash the process.
  pool.on('error', (err) => opts.onError?.(err));

  async function transaction<T>(fn: (q: SqlQuery) => Promise<T>, txOpts: TransactionOptions): Promise<T> {
    const client = await pool.connect();
    const q: SqlQuery = {
      query<R extends Row = Row>(text: string, params: readonly unknown[] = [], queryOpts: { name?: string } = {}) {
        return mapUnavailable(async () => {
          const res = await client.query<R>({ text, values: params as unknown[], ...(queryOpts.name ? { name: queryOpts.name } : {}) });
          return res.rows;
        });
      },
    };
    let broken = false;
    try {
      await client.query(txOpts.snapshot ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
      const value = await fn(q);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection is gone: do not return it to the pool
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  return {
    query<R extends Row = Row>(text: string, params: readonly unknown[] = [], queryOpts: { name?: string } = {}) {
      return mapUnavailable(async () => {
        const res = await pool.query<R>({ text, values: params as unknown[], ...(queryOpts.name ? { name: queryOpts.name } : {}) });
        return res.rows;
      });
    },
    // The connect, BEGIN and COMMIT too: each can meet a server that went away.
    transaction: (fn, txOpts = {}) => mapUnavailable(() => transaction(fn, txOpts)),
    close: () => pool.end(),
  };
}
