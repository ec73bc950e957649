/**
 * PGlite in its own thread: PostgreSQL's WASM and its file I/O never run on the service's event
 * loop. Started by sql-pglite-worker.ts with a WorkerInit; answers one Request at a time per
 * message (see sql-pglite-protocol.ts).
 *
 * Run as a process (`<node> pglite-worker-thread.js --initdb <dir> [--migrate]`), it only
 * initializes a data folder (and applies the service's migrations to it) and exits: initdb needs a
 * second, throwaway PGlite whose memory a thread would keep (hundreds of MB); a process returns it
 * all to the system when it exits.
 *
 * Under tsx the thread loads this file as CommonJS (see sql-pglite-launch.ts): no import.meta and
 * no top-level await here.
 */
import { setFlagsFromString } from 'node:v8';
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { migrate } from '../storage/migrations.js';
import { createPreparedStatements } from './pglite-prepared.js';
import { pgliteRunner } from './sql-pglite.js';
import { toWireError, type Notice, type Reply, type Request, type WorkerInit } from './sql-pglite-protocol.js';

interface OpenTx {
  tx: Transaction;
  /** Ends PGlite's transaction callback: resolve commits, reject rolls back. */
  end: (commit: boolean) => void;
  settled: Promise<void>;
}

/**
 * PGlite's start parameters plus ours. shared_buffers (PGlite's initdb picks 160 MB) lives in the
 * WASM heap: at 16 MB a reopened PGlite measured ~120 MB less RSS (245 vs 366 MB). The embedded
 * database is small and the OS page cache holds its files anyway.
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * V8 compiles PGlite's hot WASM functions with TurboFan on one background thread, not one per
 * core, and only once a function has run about 60 MB of its code (V8's default budget is 1.8 MB).
 * - One compile thread: at start-up TurboFan compiled ~180 functions (~4 s of CPU); on every core
 *   at once, each thread's compiler zones (up to 22 MB) stayed in malloc afterwards. The built
 *   service measured 280–290 MB of RSS 2 s after ready with V8's defaults, 230–266 MB with one
 *   compile thread.
 * - The larger budget: what runs only while PostgreSQL starts (catalog loading, recovery) no
 *   longer reaches TurboFan. RSS 2 s after ready 207–212 MB against 242–254 MB (2026-12-02, 4
 *   starts each). The write path's functions still tier up within the first few hundred writes:
 *   one writer flat out, the fourth 2,000 writes, did 1,611–1,629 writes/s against 1,611–1,706,
 *   and after 8,000 writes the RSS was the same (252–262 MB).
 * - Liftoff only (`--liftoff-only`, a V8 testing flag) was at 191–204 MB but slows every write:
 *   one writer flat out did 694–964 writes/s against 1,053–1,316 with TurboFan, and the service's
 *   CPU per write at 300/s in the bench's ladder was 3.1–3.2 ms against 2.4–2.8.
 * V8 flags are per process: set before PGlite compiles its module; the service's own thread runs
 * no WASM.
 */
const V8_FLAGS = '--wasm-num-compilation-tasks=1 --wasm-tiering-budget=60000000';

async function serve(port: MessagePort, init: WorkerInit): Promise<void> {
  let db: PGlite;
  try {
    setFlagsFromString(V8_FLAGS);
    db = await PGlite.create({ dataDir: init.dataDir, startParams: START_PARAMS });
  } catch (err) {
    port.postMessage({ type: 'failed', error: toWireError(err) } satisfies Notice);
    return;
  }
  const open = new Map<number, OpenTx>();
  const prepared = createPreparedStatements(db);
  const reply = (r: Reply) => port.postMessage(r);

  const begin = (id: number) => {
    let acquired = false;
    // PGlite runs one transaction at a time (one connection) and queues the others, and its
    // plain queries wait for an open transaction too: statements of two transactions never
    // interleave. The callback holds the transaction open until the service's thread ends it.
    const settled: Promise<void> = db.transaction(
      (tx) =>
        new Promise<void>((resolve, reject) => {
          acquired = true;
          open.set(id, { tx, end: (commit) => (commit ? resolve() : reject(new Error('rollback'))), settled });
          reply({ id, ok: true });
        }),
    );
    settled.catch((err: unknown) => {
      if (!acquired) reply({ id, ok: false, error: toWireError(err) }); // BEGIN itself failed
    });
  };

  const handle = async (m: Request): Promise<Reply> => {
    switch (m.op) {
      case 'query': {
        if (m.name !== undefined && m.tx === undefined) {
          const r = await prepared.run(m.name, m.text, m.params);
          return r.fields.length === 0 ? { id: m.id, ok: true } : { id: m.id, ok: true, fields: r.fields, rows: r.rows };
        }
        const target = m.tx === undefined ? db : open.get(m.tx)?.tx;
        if (!target) throw new Error(`transaction ${m.tx} is not open`);
        const res = await target.query(m.text, m.params as unknown[], { rowMode: 'array' });
        return res.fields.length === 0
          ? { id: m.id, ok: true }
          : { id: m.id, ok: true, fields: res.fields.map((f) => f.name), rows: res.rows as unknown[][] };
      }
      case 'end': {
        const t = open.get(m.tx);
        if (!t) throw new Error(`transaction ${m.tx} is not open`);
        open.delete(m.tx);
        t.end(m.commit);
        try {
          await t.settled;
        } catch (err) {
          if (m.commit) throw err; // the COMMIT itself failed; a requested rollback "fails" by design
        }
        return { id: m.id, ok: true };
      }
      case 'close':
        for (const t of open.values()) t.end(false);
        await db.close();
        return { id: m.id, ok: true };
      default:
        throw new Error(`unknown request ${(m as { op: string }).op}`);
    }
  };

  port.on('message', (m: Request) => {
    if (m.op === 'begin') return begin(m.id);
    handle(m)
      .then(reply, (err: unknown) => reply({ id: m.id, ok: false, error: toWireError(err) }))
      .finally(() => {
        if (m.op === 'close') port.close(); // nothing left to keep the thread alive: it ends
      });
  });
  port.postMessage({ type: 'ready' } satisfies Notice);
}

/** initdb, then (`--migrate`) the service's migrations: a folder copied from it starts with the schema in place. */
async function initdb(dataDir: string, withSchema: boolean): Promise<void> {
  const db = await PGlite.create({ dataDir });
  try {
    if (withSchema) await migrate(pgliteRunner(db));
  } finally {
    await db.close();
  }
}

if (!isMainThread && parentPort) {
  void serve(parentPort, workerData as WorkerInit);
} else if (process.argv[2] === '--initdb' && process.argv[3]) {
  initdb(process.argv[3], process.argv[4] === '--migrate').then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`pglite initdb failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
