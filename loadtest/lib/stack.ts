/**
 * The system under test for one step of the write-path bench, fresh each time: the built service
 * (`node dist/service/src/main.js`) on a throwaway PostgreSQL with fsync on (production settings),
 * or embedded (PGlite in memory, on the main thread or with PGLITE_WORKER=1 in a worker thread).
 * A fresh one per step, so a step never inherits the rows, bloat or buffers of the one before.
 *
 * The service runs with LOG_LEVEL=warn (logging is not what is measured), no maintenance timer, and
 * RATE_LIMIT_ENABLED=0: every synthetic user comes from 127.0.0.1, and the per-IP write limit
 * (RATE_LIMIT_WRITES_PER_IP per window) would cap the ladder below the rates it must reach.
 *
 * BENCH_SERVICE_ROOT=<checkout> measures that checkout's built service (its dist/) with this tree's
 * harness and settings: the "before" of a before/after comparison, run back to back with the "after".
 */
import { createPostgresRunner } from '../../service/src/adapters/sql-postgres.js';
import { migrate } from '../../service/src/storage/migrations.js';
import { removePostgres, startPostgres, type PgServer } from '../../tools/postgres-server.js';
import { spawnService, type ServiceProcess } from '../../tools/service-process.js';
import type { Interrupt } from './interrupt.js';
import { postmasterPid } from './proc.js';

export type StorageMode = 'postgres' | 'embedded' | 'embedded-worker';

export const STORAGE_LABEL: Record<StorageMode, string> = {
  postgres: 'PostgreSQL 15, fsync on',
  embedded: 'embedded PGlite, main thread',
  'embedded-worker': 'embedded PGlite, PGLITE_WORKER=1',
};

export const BENCH_SERVICE_ENV: Record<string, string> = { LOG_LEVEL: 'warn', MAINTENANCE_INTERVAL_MS: '0', RATE_LIMIT_ENABLED: '0' };

/** A durable throwaway PostgreSQL, removed by `stop` (or by a forced exit). */
export interface Database {
  server: PgServer;
  url: string;
  postmasterPid(): number | null;
  stop(): void;
}

export async function startDatabase(interrupt: Interrupt, opts: { migrate?: boolean } = {}): Promise<Database> {
  interrupt.check();
  const server = await startPostgres({ durable: true });
  let removed = false;
  const stop = () => {
    if (removed) return;
    removed = true;
    removePostgres(server);
  };
  const unforce = interrupt.onForce(stop);
  const db: Database = {
    server,
    url: server.url,
    postmasterPid: () => postmasterPid(server.dataDir),
    stop: () => {
      unforce();
      stop();
    },
  };
  if (opts.migrate) {
    try {
      const runner = createPostgresRunner({ connectionString: server.url, max: 1 });
      try {
        await migrate(runner);
      } finally {
        await runner.close();
      }
    } catch (err) {
      db.stop();
      throw err;
    }
  }
  return db;
}

export interface Stack {
  mode: StorageMode;
  url: string;
  service: ServiceProcess;
  db: Database | null;
  stop(): Promise<void>;
}

export async function startStack(mode: StorageMode, interrupt: Interrupt, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Stack> {
  const db = mode === 'postgres' ? await startDatabase(interrupt) : null;
  let service: ServiceProcess;
  try {
    interrupt.check();
    service = await spawnService(
      {
        ...BENCH_SERVICE_ENV,
        ...(db ? { DATABASE_URL: db.url } : {}),
        ...(mode === 'embedded-worker' ? { PGLITE_WORKER: '1' } : {}),
        ...env,
      },
      `bench-${mode}`,
      { built: true, root: process.env.BENCH_SERVICE_ROOT || undefined, nodeArgs },
    );
  } catch (err) {
    db?.stop();
    throw err;
  }
  const unforce = interrupt.onForce(() => service.proc.kill('SIGKILL'));
  return {
    mode,
    url: service.url,
    service,
    db,
    async stop() {
      unforce();
      try {
        const t = setTimeout(() => service.proc.kill('SIGKILL'), 10_000);
        await service.kill('SIGTERM');
        clearTimeout(t);
      } finally {
        db?.stop();
      }
    },
  };
}
