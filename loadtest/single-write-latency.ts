/**
 * End-to-end latency of a single write reaching a second device, open loop.
 *
 * Starts the service as a child process (embedded PGlite, or a throwaway PostgreSQL with --postgres,
 * or DATABASE_URL), connects an observer device (ws) for one user, and sends draft creates from a
 * "writer" at a fixed rate. Latency = arrival of the event on the observer minus the moment the write
 * was scheduled (not sent), on one monotonic clock, so a stall is never hidden.
 *
 *   npx tsx loadtest/single-write-latency.ts [--writes 1000] [--rate 50] [--warmup 100] [--postgres]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { freePort, removePostgres, startPostgres, type PgServer } from '../service/test/support/postgres-server.js';

const { values } = parseArgs({
  options: {
    writes: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '100' },
    postgres: { type: 'boolean', default: false },
  },
});
const writes = Number(values.writes);
const rate = Number(values.rate);
const warmup = Number(values.warmup);
const SECRET = 'bench-secret-0123456789-0123456789-abcdef';

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (child.exitCode !== null) throw new Error('service exited during start-up');
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('service did not become ready');
}

async function main(): Promise<void> {
  let pg: PgServer | null = null;
  let databaseUrl = process.env.DATABASE_URL;
  if (values.postgres && !databaseUrl) {
    pg = await startPostgres();
    databaseUrl = pg.url;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'service/src/main.ts'], {
    env: { ...process.env, PORT: String(port), JWT_SECRET: SECRET, LOG_LEVEL: 'warn', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitReady(url, child);
    const user = `bench-${randomUUID()}`;
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    const scheduled = new Map<string, number>();
    const hist = createHistogram();
    const rest = createHistogram();
    let received = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));

    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws/realtime?deviceId=observer`, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
    ws.on('message', (data) => {
      const now = performance.now();
      const f = JSON.parse(String(data)) as { type: string; payload: { draftId?: string } };
      if (f.type !== 'DRAFT_CREATED' || !f.payload.draftId) return;
      const t = scheduled.get(f.payload.draftId);
      if (t === undefined) return;
      received += 1;
      if (received > warmup) hist.record(Math.max(1, Math.round((now - t) * 1000))); // microseconds
      if (received === writes + warmup) done();
    });

    const total = writes + warmup;
    const interval = 1000 / rate;
    const start = performance.now() + 50;
    let maxLateness = 0;
    for (let i = 0; i < total; i += 1) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      maxLateness = Math.max(maxLateness, performance.now() - due);
      const id = randomUUID();
      scheduled.set(id, due);
      void fetch(`${url}/api/drafts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-device-id': 'writer' },
        body: JSON.stringify({ id, customerId: 'C1', customerName: 'Bench', items: [{ productId: 'P1', quantity: 1 }], updatedAt: new Date().toISOString() }),
      }).then(async (res) => {
        await res.arrayBuffer();
        if (i >= warmup) rest.record(Math.max(1, Math.round((performance.now() - due) * 1000)));
        if (res.status !== 201) console.error(`write ${i}: HTTP ${res.status}`);
      });
    }
    const timeout = setTimeout(done, 15_000);
    await finished;
    clearTimeout(timeout);
    ws.close();
    const ms = (h: ReturnType<typeof createHistogram>, p: number) => (h.percentile(p) / 1000).toFixed(2);
    const mode = databaseUrl ? 'postgres' : 'embedded (PGlite)';
    console.log(`single-write latency, writer -> second device, ${mode}, ${writes} writes at ${rate}/s open loop (warm-up ${warmup} excluded)`);
    console.log(`  delivered ${Math.max(0, received - warmup)}/${writes}, missing ${writes - Math.max(0, received - warmup)}`);
    console.log(`  end-to-end ms: p50 ${ms(hist, 50)}  p90 ${ms(hist, 90)}  p99 ${ms(hist, 99)}  max ${(hist.max / 1000).toFixed(2)}  mean ${(hist.mean / 1000).toFixed(2)}`);
    console.log(`  REST response ms: p50 ${ms(rest, 50)}  p99 ${ms(rest, 99)}`);
    console.log(`  harness: max schedule lateness ${maxLateness.toFixed(2)} ms`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    if (pg) removePostgres(pg);
  }
}

main().catch((err: unknown) => {
  console.error(`single-write-latency: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
