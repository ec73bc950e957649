/**
 * The write path at the database's limit: what one write costs PostgreSQL, measured on a throwaway
 * server with fsync ON (unlike the test servers, which run fsync off).
 *
 *   npx tsx loadtest/write-path.ts [--writes 1000] [--pgbench-seconds 10] [--throughput-seconds 10] [--clients 8]
 *
 * Prints, per write kind (run one at a time, so the counts are exact):
 * - statements per write: top-level statements PostgreSQL executed (pg_stat_statements, utility
 *   statements such as BEGIN/COMMIT included), i.e. client round trips, outbox confirmations included;
 * - WAL bytes per write: pg_current_wal_lsn() before and after N writes (after the outbox flushed its
 *   confirmations), CHECKPOINT at the start of each phase, so full-page images are counted too;
 * then pgbench (-M prepared, -c 8) on the service's own draft-create SQL, and the service's own
 * closed-loop throughput of draft creates over HTTP with N clients.
 * The machine is shared and noisy (2 cores): read the figures as orders of magnitude.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import pg from 'pg';
import { composeApp } from '../service/src/compose.js';
import { loadConfig } from '../service/src/config.js';
import { createLogger } from '../service/src/log.js';
import { WRITE_STATEMENTS } from '../service/src/storage/sql-writes.js';
import { isMain, runMain } from './lib/cli.js';
import { runPgbench } from './lib/pgbench.js';

const BIN = '/usr/lib/postgresql/15/bin';
const SECRET = 'write-path-bench-secret-0123456789-abcdef';

interface Pg {
  url: string;
  run(cmd: string, args: string[], env?: Record<string, string>): string;
  remove(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A throwaway PostgreSQL 15 with fsync, synchronous_commit and full_page_writes at their (durable) defaults. */
async function startPg(): Promise<Pg> {
  if (!existsSync(join(BIN, 'initdb'))) throw new Error(`PostgreSQL 15 binaries not found in ${BIN}`);
  const dir = mkdtempSync(join(tmpdir(), 'rt-wp-'));
  let uid: number | undefined;
  let gid: number | undefined;
  if (userInfo().uid === 0) {
    // initdb refuses root: run the server as the postgres system user.
    uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const run = (cmd: string, args: string[], env: Record<string, string> = {}) =>
    execFileSync(join(BIN, cmd), args, { uid, gid, cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', ...env } });
  const port = await freePort();
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  const opts = [
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`,
    '-c fsync=on -c synchronous_commit=on -c full_page_writes=on',
    '-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top -c pg_stat_statements.track_utility=on',
  ].join(' ');
  run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    run,
    remove() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const item = { productId: 'p-1', quantity: 2, price: 9.5, notes: null };
const content = (updatedAt = new Date().toISOString()) => ({
  customerId: 'c-1',
  customerName: 'Rossi S.p.A.',
  items: [item, { ...item, productId: 'p-2' }],
  notes: 'deliver before noon',
  updatedAt,
});

interface Phase {
  kind: string;
  /** Run once before the measured writes (not counted). */
  prepare?: (i: number) => Promise<void>;
  write: (i: number) => Promise<void>;
}

interface PhaseFigures {
  kind: string;
  writes: number;
  statementsPerWrite: number;
  walBytesPerWrite: number;
  top: { calls: number; query: string }[];
}

export async function writePath(opts: { writes: number; pgbenchSeconds: number; throughputSeconds: number; clients: number }) {
  const server = await startPg();
  try {
    return await measure(server, opts);
  } finally {
    server.remove();
  }
}

async function measure(server: Pg, opts: { writes: number; pgbenchSeconds: number; throughputSeconds: number; clients: number }) {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  const config = loadConfig({
    JWT_SECRET: SECRET,
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: server.url,
    MAINTENANCE_INTERVAL_MS: '0',
    OUTBOX_INTERVAL_MS: '0', // no periodic sweep: it would be counted in the phases
    ERP_DELAY_MS: '0',
  });
  const { app } = await composeApp(config, createLogger({ level: 'warn' }), { instanceId: 'write-path' });
  const { url } = await app.listen(0, '127.0.0.1');
  const tokens = new Map<string, string>();
  const token = async (user: string) => {
    let t = tokens.get(user);
    if (!t) {
      t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('2h').sign(new TextEncoder().encode(SECRET));
      tokens.set(user, t);
    }
    return t;
  };
  const call = async (user: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${await token(user)}`, 'content-type': 'application/json', 'x-device-id': 'bench' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };

  const n = opts.writes;
  const users = Array.from({ length: 20 }, (_, i) => `wp-${i}-${randomUUID().slice(0, 8)}`);
  const user = (i: number) => users[i % users.length]!;
  const draftIds = Array.from({ length: n }, () => randomUUID());
  const orderIds = Array.from({ length: n }, () => randomUUID());
  const later = (i: number) => new Date(Date.now() + 60_000 + i).toISOString();
  const phases: Phase[] = [
    { kind: 'draft create', write: (i) => call(user(i), 'POST', '/api/drafts', { id: draftIds[i], ...content() }).then(() => undefined) },
    { kind: 'draft update', write: (i) => call(user(i), 'PUT', `/api/drafts/${draftIds[i]}`, content(later(i))).then(() => undefined) },
    { kind: 'draft convert', write: (i) => call(user(i), 'POST', `/api/drafts/${draftIds[i]}/convert`).then(() => undefined) },
    {
      kind: 'draft delete',
      prepare: (i) => call(user(i), 'POST', '/api/drafts', { id: draftIds[i] = randomUUID(), ...content() }).then(() => undefined),
      write: (i) => call(user(i), 'DELETE', `/api/drafts/${draftIds[i]}`).then(() => undefined),
    },
    {
      kind: 'pending upsert (1 order)',
      write: (i) => call(user(i), 'POST', '/api/pending-orders', { orders: [{ id: orderIds[i], ...content() }] }).then(() => undefined),
    },
    { kind: 'pending delete', write: (i) => call(user(i), 'DELETE', `/api/pending-orders/${orderIds[i]}`).then(() => undefined) },
  ];

  const figures: PhaseFigures[] = [];
  for (const phase of phases) {
    if (phase.prepare) for (let i = 0; i < n; i += 1) await phase.prepare(i);
    await sleep(300); // let the outbox flush the confirmations of what came before
    await admin.query('CHECKPOINT');
    await admin.query('SELECT pg_stat_statements_reset()');
    const [{ lsn: before }] = (await admin.query('SELECT pg_current_wal_lsn() AS lsn')).rows;
    for (let i = 0; i < n; i += 1) await phase.write(i);
    await sleep(300); // the confirmations of this phase's events
    const [{ lsn: after }] = (await admin.query('SELECT pg_current_wal_lsn() AS lsn')).rows;
    const [{ bytes }] = (await admin.query('SELECT pg_wal_lsn_diff($1, $2)::float8 AS bytes', [after, before])).rows;
    const stats = (
      await admin.query<{ calls: number; query: string }>(
        `SELECT calls::int AS calls, query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = current_database() AND query NOT ILIKE '%pg_stat_statements%' AND query NOT ILIKE '%pg_current_wal_lsn%' AND query NOT ILIKE '%pg_wal_lsn_diff%'
         ORDER BY calls DESC`,
      )
    ).rows;
    const calls = stats.reduce((s, r) => s + r.calls, 0);
    figures.push({
      kind: phase.kind,
      writes: n,
      statementsPerWrite: calls / n,
      walBytesPerWrite: Number(bytes) / n,
      top: stats.slice(0, 8).map((r) => ({ calls: r.calls, query: r.query.replace(/\s+/g, ' ').slice(0, 110) })),
    });
  }

  // The service's own throughput: closed loop, one user per client, draft creates for N seconds.
  const latencies: number[] = [];
  const deadline = Date.now() + opts.throughputSeconds * 1000;
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, c) => {
      const u = `tp-${c}-${randomUUID().slice(0, 8)}`;
      while (Date.now() < deadline) {
        const t0 = performance.now();
        await call(u, 'POST', '/api/drafts', { id: randomUUID(), ...content() });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0;
  const throughput = {
    clients: opts.clients,
    seconds: opts.throughputSeconds,
    writesPerS: latencies.length / opts.throughputSeconds,
    p50Ms: pct(50),
    p99Ms: pct(99),
  };

  await app.close();

  // pgbench on the same server: the service's draft-create SQL, one user among 1000, a new draft
  // each time. Twice: durable commits (what the service does), then with synchronous_commit off for
  // pgbench's sessions only, which takes the WAL flush out and leaves the statements' own cost.
  const pgbench: { script: string; commit: string; tps: number; latencyMs: number }[] = [];
  for (const commit of ['on', 'off']) {
    for (const [name, script] of Object.entries(pgbenchScripts())) {
      const r = await runPgbench({ url: server.url, script, clients: 8, seconds: opts.pgbenchSeconds, env: { PGOPTIONS: `-c synchronous_commit=${commit}` } });
      pgbench.push({ script: name, commit: `synchronous_commit=${commit}`, tps: r.tps, latencyMs: r.latencyMs });
    }
  }
  await admin.end();
  return { figures, throughput, pgbench };
}

/**
 * pgbench scripts, with literals where the service binds parameters. `legacy-6-statements` is the
 * draft create as the service ran it before the write-path change (BEGIN, the user_logs lock
 * upsert, the draft lookup, the insert, the events CTE, COMMIT; seq computed in SQL here, in
 * TypeScript there). `rt_draft_create` is the service's statement now (storage/sql-writes.ts),
 * without an Idempotency-Key.
 */
export function pgbenchScripts(): Record<string, string> {
  const user = `'pgb-' || :u`;
  // pgbench reads ":name" as a variable: no colon directly before a word in the JSON.
  const items = JSON.stringify(content().items).replace(/":/g, '": ');
  const args: Record<number, string> = {
    1: user, 2: 'NULL', 3: 'NULL', 4: 'NULL', 5: 'gen_random_uuid()', 6: `'bench'`, 7: `'c-1'`, 8: `'Rossi S.p.A.'`,
    9: `'${items}'`, 10: `'deliver before noon'`, 11: 'now()',
  };
  const draftCreate = WRITE_STATEMENTS.draftCreate.text.replace(/\$(\d+)/g, (_, i: string) => args[Number(i)]!);
  return {
    rt_draft_create: `\\set u random(1, 1000)\n${draftCreate};\n`,
    'legacy-6-statements': `\\set u random(1, 1000)
BEGIN;
INSERT INTO user_logs (user_id, epoch) VALUES (${user}, md5(random()::text)) ON CONFLICT (user_id) DO UPDATE SET last_seq = user_logs.last_seq RETURNING epoch, last_seq;
SELECT id, device_id, customer_id, customer_name, items, notes, updated_at, server_updated_at, version, deleted, deleted_at, converted_to FROM drafts WHERE user_id = ${user} AND id = '00000000-0000-4000-8000-000000000000';
INSERT INTO drafts (user_id, id, device_id, customer_id, customer_name, items, notes, updated_at, server_updated_at, version, deleted, deleted_at, converted_to) VALUES (${user}, gen_random_uuid(), 'bench', 'c-1', 'Rossi S.p.A.', '${items}'::jsonb, 'deliver before noon', now(), now(), 1, false, NULL, NULL) ON CONFLICT (user_id, id) DO UPDATE SET device_id = EXCLUDED.device_id, customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name, items = EXCLUDED.items, notes = EXCLUDED.notes, updated_at = EXCLUDED.updated_at, server_updated_at = EXCLUDED.server_updated_at, version = EXCLUDED.version, deleted = EXCLUDED.deleted, deleted_at = EXCLUDED.deleted_at, converted_to = EXCLUDED.converted_to;
WITH ins AS (INSERT INTO events (user_id, seq, type, payload, origin_device_id, created_at) VALUES (${user}, (SELECT last_seq + 1 FROM user_logs WHERE user_id = ${user}), 'DRAFT_CREATED', '{"draftId": "x", "draft": {"items": ${items}}, "deviceId": "bench"}'::jsonb, 'bench', now())) UPDATE user_logs SET last_seq = last_seq + 1 WHERE user_id = ${user};
COMMIT;
`,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function print(r: Awaited<ReturnType<typeof writePath>>): void {
  console.log('write path on PostgreSQL 15, fsync=on (a shared, noisy 2-core machine: orders of magnitude, not exact figures)\n');
  console.log('kind                       statements/write  WAL bytes/write');
  for (const f of r.figures) {
    console.log(`${f.kind.padEnd(26)} ${f.statementsPerWrite.toFixed(2).padStart(16)}  ${Math.round(f.walBytesPerWrite).toString().padStart(15)}`);
  }
  for (const f of r.figures) {
    console.log(`\n${f.kind}: top statements over ${f.writes} writes`);
    for (const t of f.top) console.log(`  ${String(t.calls).padStart(6)}  ${t.query}`);
  }
  const t = r.throughput;
  console.log(`\nservice, draft creates over HTTP, closed loop, ${t.clients} clients, ${t.seconds} s: ${t.writesPerS.toFixed(0)} writes/s, p50 ${t.p50Ms.toFixed(1)} ms, p99 ${t.p99Ms.toFixed(1)} ms`);
  console.log('\npgbench -n -c 8 -j 2 -M prepared (draft create):');
  for (const p of r.pgbench) {
    console.log(`  ${p.script.padEnd(22)} ${p.commit.padEnd(23)} ${p.tps.toFixed(0).padStart(6)} tps, latency avg ${p.latencyMs} ms`);
  }
}

if (isMain(import.meta.url)) {
  runMain('write-path', async () => {
    const { values } = parseArgs({
      options: {
        writes: { type: 'string', default: '1000' },
        'pgbench-seconds': { type: 'string', default: '10' },
        'throughput-seconds': { type: 'string', default: '10' },
        clients: { type: 'string', default: '8' },
      },
    });
    print(
      await writePath({
        writes: Number(values.writes),
        pgbenchSeconds: Number(values['pgbench-seconds']),
        throughputSeconds: Number(values['throughput-seconds']),
        clients: Number(values.clients),
      }),
    );
  });
}
