/**
 * End-to-end latency of a single write reaching a second device, open loop.
 *
 * Starts the service as a child process (embedded PGlite, or a throwaway PostgreSQL with --postgres,
 * or DATABASE_URL), connects an observer device (the client's Device) for one user, and sends draft creates from a
 * "writer" at a fixed rate. Latency = arrival of the event on the observer minus the moment the write
 * was scheduled (not sent), on one monotonic clock, so a stall is never hidden.
 *
 *   npx tsx loadtest/single-write-latency.ts [--writes 1000] [--rate 50] [--warmup 100] [--postgres]
 */
import { randomUUID } from 'node:crypto';
import { createHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createNodeDevice } from '../client/src/node.js';
import { removePostgres, startPostgres, type PgServer } from '../tools/postgres-server.js';
import { spawnService } from '../tools/service-process.js';
import { mintToken } from '../tools/token.js';
import { createDraftWriter } from './lib/writes.js';

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

async function main(): Promise<void> {
  let pg: PgServer | null = null;
  let databaseUrl = process.env.DATABASE_URL;
  if (values.postgres && !databaseUrl) {
    pg = await startPostgres();
    databaseUrl = pg.url;
  }
  const svc = await spawnService({ LOG_LEVEL: 'warn', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }, 'single-write');
  const url = svc.url;
  try {
    const user = `bench-${randomUUID()}`;
    const token = await mintToken(user);
    const writer = createDraftWriter(url);
    const scheduled = new Map<string, number>();
    const hist = createHistogram();
    const rest = createHistogram();
    let received = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));

    const observer = createNodeDevice({ urls: [url], deviceId: 'observer', token, maxInitialAttempts: 1 });
    observer.on('event', (e) => {
      const draftId = (e.payload as { draftId?: string }).draftId;
      if (e.type !== 'DRAFT_CREATED' || !draftId) return;
      const t = scheduled.get(draftId);
      if (t === undefined) return;
      received += 1;
      if (received > warmup) hist.record(Math.max(1, Math.round((e.receivedAt - t) * 1000))); // microseconds
      if (received === writes + warmup) done();
    });
    const hello = observer.once('hello');
    observer.start();
    await hello;

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
      void writer.create(token, { id, customerId: 'C1', customerName: 'Bench', items: [{ productId: 'P1', quantity: 1 }] }).then((status) => {
        if (i >= warmup) rest.record(Math.max(1, Math.round((performance.now() - due) * 1000)));
        if (status !== 201) console.error(`write ${i}: HTTP ${status}`);
      });
    }
    const timeout = setTimeout(done, 15_000);
    await finished;
    clearTimeout(timeout);
    await observer.close();
    const ms = (h: ReturnType<typeof createHistogram>, p: number) => (h.percentile(p) / 1000).toFixed(2);
    const mode = databaseUrl ? 'postgres' : 'embedded (PGlite)';
    console.log(`single-write latency, writer -> second device, ${mode}, ${writes} writes at ${rate}/s open loop (warm-up ${warmup} excluded)`);
    console.log(`  delivered ${Math.max(0, received - warmup)}/${writes}, missing ${writes - Math.max(0, received - warmup)}`);
    console.log(`  end-to-end ms: p50 ${ms(hist, 50)}  p90 ${ms(hist, 90)}  p99 ${ms(hist, 99)}  max ${(hist.max / 1000).toFixed(2)}  mean ${(hist.mean / 1000).toFixed(2)}`);
    console.log(`  REST response ms: p50 ${ms(rest, 50)}  p99 ${ms(rest, 99)}`);
    console.log(`  harness: max schedule lateness ${maxLateness.toFixed(2)} ms`);
  } finally {
    await svc.kill('SIGTERM');
    if (pg) removePostgres(pg);
  }
}

main().catch((err: unknown) => {
  console.error(`single-write-latency: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
