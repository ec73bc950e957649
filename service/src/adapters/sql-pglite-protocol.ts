/**
 * Messages between the service's thread and the PGlite worker thread (pglite-worker-thread.ts).
 * One request per statement, one reply per request, matched by `id`. Rows travel as arrays of
 * values with the column names once (PGlite's `rowMode: 'array'`), so a result is cloned once
 * and its keys are not repeated per row; the service's thread builds the row objects.
 */

export interface WorkerInit {
  dataDir: string;
}

export type Request =
  /** `name`: a named prepared statement (pglite-prepared.ts), outside transactions only. */
  | { id: number; op: 'query'; text: string; params: readonly unknown[]; tx?: number; name?: string }
  /** Opens a transaction; the reply comes once it holds the connection (transactions are serialized). */
  | { id: number; op: 'begin' }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'close' };

/** The fields of a PostgreSQL error the storage and HTTP layers look at (SQLSTATE `code` first). */
export interface WireError {
  message: string;
  code?: string;
  [field: string]: string | undefined;
}

export type Reply =
  | { id: number; ok: true; fields?: string[]; rows?: unknown[][] }
  | { id: number; ok: false; error: WireError };

export type Notice = { type: 'ready' } | { type: 'failed'; error: WireError };

// The fields of PGlite's DatabaseError (the same as pg's) worth carrying across.
const ERROR_FIELDS = [
  'code', 'severity', 'detail', 'hint', 'position', 'where', 'schema', 'table', 'column', 'dataType', 'constraint', 'routine',
] as const;

export function toWireError(err: unknown): WireError {
  const e = (err ?? {}) as Record<string, unknown>;
  const out: WireError = { message: err instanceof Error ? err.message : String(err) };
  for (const f of ERROR_FIELDS) if (typeof e[f] === 'string') out[f] = e[f];
  return out;
}

/** An Error with PostgreSQL's fields back on it, so callers see what pg or in-process PGlite would throw. */
export function fromWireError(w: WireError): Error {
  const { message, ...fields } = w;
  return Object.assign(new Error(message), fields);
}

/** Rows of values as objects keyed by column name (the SqlRunner's row shape). */
export function toRowObjects<R>(fields: readonly string[], rows: readonly unknown[][]): R[] {
  return rows.map((values) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i += 1) row[fields[i]!] = values[i];
    return row as R;
  });
}
