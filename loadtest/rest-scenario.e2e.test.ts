/** A tiny real run: the service as a child process, autocannon writes, observer devices. No timing assertions. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRestScenario } from './lib/rest-scenario.js';
import { startService, stopService, type ServiceProcess } from './lib/service.js';

describe('REST scenario end to end', () => {
  let svc: ServiceProcess;
  beforeAll(async () => {
    svc = await startService({}, 'loadtest-e2e');
  });
  afterAll(async () => {
    if (svc) await stopService(svc);
  });

  it('reports REST and fan-out figures with every event delivered', async () => {
    const r = await runRestScenario({ url: svc.url, kind: 'draft-create', rate: 3, seconds: 2, observersPerUser: 2, warmupSeconds: 0 });
    expect(r.rest.requests).toBe(6);
    expect(r.rest.errors + r.rest.non2xx + r.rest.timeouts).toBe(0);
    for (const k of ['p50', 'p90', 'p99', 'p99_9', 'max'] as const) {
      expect(r.rest.autocannon[k]).toBeGreaterThanOrEqual(0);
      expect(r.rest.fromSchedule[k]).toBeGreaterThan(0);
    }
    expect(r.counters).toMatchObject({ expected: 12, delivered: 12, missing: 0, duplicates: 0 });
    expect(r.fanout.count).toBe(12);
    expect(r.fanout.p99).toBeGreaterThanOrEqual(r.fanout.p50);
    expect(r.fanout.cdf.length).toBeGreaterThan(0);
  });

  it('measures a pending-order batch as one event per batch', async () => {
    const r = await runRestScenario({ url: svc.url, kind: 'pending-batch', batch: 10, rate: 2, seconds: 1, observersPerUser: 1, warmupSeconds: 0 });
    expect(r.scenario).toBe('pending-batch-10');
    expect(r.counters).toMatchObject({ expected: 2, delivered: 2, missing: 0 });
  });
});
