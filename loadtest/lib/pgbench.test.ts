import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePostgres, startPostgres, type PgServer } from '../../tools/postgres-server.js';
import { runPgbench } from './pgbench.js';

// Real pgbench against a throwaway PostgreSQL: the parsing of its summary and of its -l logs.
describe('pgbench runner', () => {
  let pg: PgServer;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(() => {
    if (pg) removePostgres(pg);
  });

  it('at a fixed rate, reads tps from the summary and per-transaction latency percentiles from the logs', async () => {
    const r = await runPgbench({ url: pg.url, script: 'SELECT pg_sleep(0.002);\n', clients: 2, seconds: 2, rate: 100, latencies: true });
    expect(r.failed).toBe(0);
    expect(r.transactions).toBeGreaterThan(100); // ~200 scheduled over 2 s
    expect(r.tps).toBeGreaterThan(50);
    const l = r.latency!;
    expect(l.p50).toBeGreaterThanOrEqual(2); // every transaction sleeps 2 ms
    expect(l.p50).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.p999);
    expect(l.p999).toBeLessThanOrEqual(l.max);
  }, 30_000);

  it('without latencies, logs nothing and says null', async () => {
    const r = await runPgbench({ url: pg.url, script: 'SELECT 1;\n', clients: 1, seconds: 1 });
    expect(r.transactions).toBeGreaterThan(0);
    expect(r.latency).toBeNull();
  }, 30_000);
});
