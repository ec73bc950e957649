/**
 * SqlRunner over PGlite in a worker thread (pglite-worker-thread.ts): the service's event loop only
 * posts statements and receives rows; PostgreSQL's WASM, its file I/O and its memory growth run on
 * the worker's thread. The data lives in a folder: DATA_DIR, or a throwaway one ("in memory" mode,
 * removed at close), see sql-pglite-datadir.ts for why not PGlite's in-memory file system.
 *
 * A transaction's callback runs here and sends its statements one message at a time; the worker
 * holds the one connection for it, so transactions are serialized as with in-process PGlite.
 * If the thread dies, every pending and later call rejects with the port's StorageUnavailableError
 * (the HTTP layer answers 503) instead of hanging.
 */
import type { Worker } from 'node:worker_threads';
import { StorageUnavailableError } from '../ports/storage.js';
import type { Row, SqlQuery, SqlRunner } from '../storage/sql-runner.js';
import { createScratchDir, ensureDataDir, type FreshSchema, type ScratchDir } from './sql-pglite-datadir.js';
import { startWorkerThread, workerScriptUrl } from './sql-pglite-launch.js';
import { fromWireError, toRowObjects, type Notice, type Reply, type Request, type WorkerInit } from './sql-pglite-protocol.js';

// Distributive Omit: a Request without its id, still a union.
type Outgoing = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export interface PgliteWorkerRunner extends SqlRunner {
  /** The data folder in use (a throwaway one, removed at close, unless `dataDir` was given). */
  readonly dataDir: string;
  /** The PGlite thread, for diagnostics (tests terminate it to see how a crash is reported). */
  readonly worker: Worker;
}

export interface PgliteWorkerRunnerOptions {
  /** PGlite data folder; unset = a throwaway folder removed at close. */
  dataDir?: string;
  /** What a new folder starts as (default: the service's schema, migrated). */
  freshSchema?: FreshSchema;
}

/**
 * Thrown for every call once the worker thread is gone. It also carries connection_failure's
 * SQLSTATE, as pg reports a lost server, for code that classifies driver errors.
 */
export class PgliteWorkerGoneError extends StorageUnavailableError {
  readonly code = '08006';
  constructor(reason: string) {
    super(`PGlite worker unavailable: ${reason}`);
  }
}

export async function createPgliteWorkerRunner(opts: PgliteWorkerRunnerOptions = {}): Promise<PgliteWorkerRunner> {
  let scratch: ScratchDir | null = null;
  let dataDir = opts.dataDir;
  if (dataDir) await ensureDataDir(dataDir, opts.freshSchema);
  else {
    scratch = await createScratchDir(opts.freshSchema);
    dataDir = scratch.dataDir;
  }

  const worker = startWorkerThread(workerScriptUrl(), {
    workerData: { dataDir } satisfies WorkerInit,
  });
  const pending = new Map<number, { resolve: (r: Reply & { ok: true }) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let dead: PgliteWorkerGoneError | null = null;
  let closing = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));

  const fail = (reason: string) => {
    if (dead) return;
    dead = new PgliteWorkerGoneError(reason);
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
    scratch?.remove();
  };

  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', (n: Notice) => (n.type === 'ready' ? resolve() : reject(fromWireError(n.error))));
    worker.once('error', (err) => reject(new PgliteWorkerGoneError(`the thread failed to start: ${err.message}`)));
    worker.once('exit', (code) => reject(new PgliteWorkerGoneError(`the thread exited with code ${code} while starting`)));
  });
  worker.on('error', (err) => fail(`the thread crashed: ${err.message}`));
  worker.on('exit', (code) => fail(closing ? 'closed' : `the thread exited with code ${code}`));
  try {
    await ready;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  worker.on('message', (r: Reply) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (pending.size === 0) worker.unref(); // an idle database does not keep the process alive
    if (r.ok) p.resolve(r);
    else p.reject(fromWireError(r.error));
  });
  worker.unref();

  const send = (m: Outgoing, id = nextId++): Promise<Reply & { ok: true }> => {
    if (dead) return Promise.reject(dead);
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      if (pending.size === 1) worker.ref();
      worker.postMessage({ ...m, id });
    });
  };

  const query = async <R extends Row = Row>(text: string, params: readonly unknown[] = [], tx?: number, name?: string): Promise<R[]> => {
    const r = await send({ op: 'query', text, params, tx, name });
    return r.fields && r.rows ? toRowObjects<R>(r.fields, r.rows) : [];
  };

  return {
    dataDir,
    worker,
    query: (text, params, opts) => query(text, params, undefined, opts?.name),
    // One connection, serialized transactions: every transaction already sees one snapshot.
    async transaction(fn) {
      const tx = nextId++; // the worker knows the transaction by its begin request's id
      await send({ op: 'begin' }, tx);
      const q: SqlQuery = { query: (text, params) => query(text, params, tx) };
      let value;
      try {
        value = await fn(q);
      } catch (err) {
        await send({ op: 'end', tx, commit: false }).catch(() => undefined);
        throw err;
      }
      await send({ op: 'end', tx, commit: true });
      return value;
    },
    async close() {
      if (closing) return exited;
      closing = true;
      if (!dead) await send({ op: 'close' }).catch(() => undefined);
      // The thread ends by itself once PGlite is closed; terminate one that does not.
      const timer = setTimeout(() => void worker.terminate(), 5_000);
      await exited;
      clearTimeout(timer);
      scratch?.remove();
    },
  };
}
