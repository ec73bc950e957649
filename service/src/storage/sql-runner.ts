/**
 * The thin seam between the SQL storage and a driver. PGlite and PostgreSQL speak the same SQL,
 * so one storage module runs over either runner. No driver type crosses this interface.
 */
export type Row = Record<string, unknown>;

export interface SqlQuery {
  /**
   * `opts.name` makes it a named prepared statement where the driver has them (pg): parsed and
   * planned once per connection, then only bound and executed. The same name must always carry the
   * same text. PGlite's runners prepare it too (pglite-prepared.ts), outside transactions.
   */
  query<R extends Row = Row>(text: string, params?: readonly unknown[], opts?: { name?: string }): Promise<R[]>;
}

export interface TransactionOptions {
  /** A read-only snapshot: every statement in the transaction sees the same data. */
  snapshot?: boolean;
}

export interface SqlRunner extends SqlQuery {
  transaction<T>(fn: (q: SqlQuery) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

/** Classify driver errors that mean "the database is unreachable" (for 503 instead of 500). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (typeof e.code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004'].includes(e.code)) {
      return true;
    }
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
    e.message ?? '',
  );
}
