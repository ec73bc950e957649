import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { later, newDraft, sleep, startService, storageVariants, type TestService } from './support/harness.js';

describe.each(storageVariants())('pending orders ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    // ERP_DELAY_MS 1500: the job still runs when a concurrent second submit gets the user's lock.
    if (!skip) svc = await startService({ storage: kind, env: { ERP_FAILURE_RATE: '0', ERP_DELAY_MS: '1500' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it.skipIf(skip)('a 50-order batch yields one PENDING_CREATED of count 50 on every device; retries and stale writes emit nothing', async () => {
    const u = `u-${randomUUID()}`;
    const devices = await Promise.all([svc.device(u, 'a'), svc.device(u, 'b')]);
    await Promise.all(devices.map((d) => d.waitForType('HELLO')));
    const api = svc.api(u, { deviceId: 'a' });
    const orders = Array.from({ length: 50 }, () => newDraft());
    const r = await api.post('/api/pending-orders', { orders });
    expect(r.status).toBe(200);
    expect(r.body.results).toEqual(orders.map((o) => ({ id: o.id, action: 'created' })));
    expect(r.body.seq).toBe(1);
    for (const d of devices) {
      const [ev] = await d.waitForType('PENDING_CREATED');
      expect(ev).toMatchObject({ seq: 1, originDeviceId: 'a', payload: { count: 50 } });
      expect(ev!.payload.orderIds).toEqual(orders.map((o) => o.id));
    }

    // Mixed batch: 2 updated (newer), 1 retry (identical), 1 stale (older, different), 1 new.
    const fresh = newDraft();
    const mixed = [
      { ...orders[0]!, notes: 'u1', updatedAt: later(orders[0]!.updatedAt) },
      { ...orders[1]!, notes: 'u2', updatedAt: later(orders[1]!.updatedAt) },
      orders[2]!,
      { ...orders[3]!, notes: 'old', updatedAt: later(orders[3]!.updatedAt, -60_000) },
      fresh,
    ];
    const m = await api.post('/api/pending-orders', { orders: mixed });
    expect(m.body.results.map((x: { action: string }) => x.action)).toEqual(['updated', 'updated', 'unchanged', 'stale', 'created']);
    expect(m.body.seq).toBe(3);
    for (const d of devices) {
      await d.waitForSeq(3);
      expect(d.events().map((e) => [e.seq, e.type, e.payload.count])).toEqual([
        [1, 'PENDING_CREATED', 50],
        [2, 'PENDING_CREATED', 1],
        [3, 'PENDING_UPDATED', 2],
      ]);
    }
    const again = await api.post('/api/pending-orders', { orders: mixed.slice(0, 3) });
    expect(again.body.results.map((x: { action: string }) => x.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(again.body.seq).toBe(3);
    const list = await api.get('/api/pending-orders');
    expect(list.body.items).toHaveLength(51);
    expect(list.body.seq).toBe(3);
    await sleep(100);
    expect(devices[1]!.events()).toHaveLength(3);
  });

  it.skipIf(skip)('delete emits PENDING_DELETED; a 404 emits nothing', async () => {
    const u = `u-${randomUUID()}`;
    const dev = await svc.device(u, 'b');
    await dev.waitForType('HELLO');
    const api = svc.api(u);
    const o = newDraft();
    await api.post('/api/pending-orders', { orders: [o] });
    expect((await api.del(`/api/pending-orders/${o.id}`)).status).toBe(200);
    expect((await api.del(`/api/pending-orders/${o.id}`)).status).toBe(404);
    expect((await svc.api(`other-${randomUUID()}`).del(`/api/pending-orders/${o.id}`)).status).toBe(404);
    await dev.waitForSeq(2);
    await sleep(100);
    expect(dev.events().map((e) => [e.type, e.payload])).toEqual([
      ['PENDING_CREATED', { orderIds: [o.id], count: 1 }],
      ['PENDING_DELETED', { orderId: o.id }],
    ]);
  });

  it.skipIf(skip)('submit is idempotent: the same job while it runs, 409 once submitted, the ERP called once', async () => {
    const u = `u-${randomUUID()}`;
    const api = svc.api(u);
    const dev = await svc.device(u, 'b');
    await dev.waitForType('HELLO');
    const o = newDraft();
    await api.post('/api/pending-orders', { orders: [o] });
    const [s1, s2] = await Promise.all([api.post(`/api/pending-orders/${o.id}/submit`), api.post(`/api/pending-orders/${o.id}/submit`)]);
    expect(s1.status).toBe(202);
    expect(s2.status).toBe(202);
    expect(s2.body.jobId).toBe(s1.body.jobId);
    await dev.waitForType('ORDER_NUMBERS_RESOLVED');
    expect(dev.ofType('JOB_STARTED')).toHaveLength(1);
    const s3 = await api.post(`/api/pending-orders/${o.id}/submit`);
    expect(s3.status).toBe(409);
    expect(s3.body.error.code).toBe('ALREADY_SUBMITTED');
    // Locked once sent: an edit is refused per order, not applied.
    const edit = await api.post('/api/pending-orders', { orders: [{ ...o, notes: 'late', updatedAt: later(o.updatedAt) }] });
    expect(edit.body.results).toEqual([{ id: o.id, action: 'locked' }]);
    expect((await api.post(`/api/pending-orders/${randomUUID()}/submit`)).status).toBe(404);
  });
});

describe.each(storageVariants())('submit job retries ($kind)', ({ kind, skip }) => {
  it.skipIf(skip)('an ERP that always fails: JOB_FAILED per attempt with willRetry, then the order is marked failed', async () => {
    const svc = await startService({ storage: kind, env: { ERP_FAILURE_RATE: '1', JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '20' } });
    try {
      const u = `u-${randomUUID()}`;
      const api = svc.api(u);
      const dev = await svc.device(u, 'b');
      await dev.waitForType('HELLO');
      const o = newDraft();
      await api.post('/api/pending-orders', { orders: [o] });
      const { body } = await api.post(`/api/pending-orders/${o.id}/submit`);
      const failed = await dev.waitForType('JOB_FAILED', 3, 10_000);
      expect(failed.map((f) => [f.payload.attempt, f.payload.willRetry])).toEqual([
        [1, true],
        [2, true],
        [3, false],
      ]);
      // The first PENDING_UPDATED is the submit's (`submitting`), the second the final failure's.
      await dev.waitFor((fs) => fs.filter((f) => f.type === 'PENDING_UPDATED').length >= 2, 5_000, 'PENDING_UPDATED');
      expect((await api.get(`/api/pending-orders/${o.id}`)).body.status).toBe('failed');
      expect((await api.get(`/api/jobs/${body.jobId}`)).body).toMatchObject({ state: 'failed', attemptsMade: 3 });
    } finally {
      await svc.close();
    }
  });
});
