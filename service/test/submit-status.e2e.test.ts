/**
 * Every status change of a pending order a user can see reaches all their devices as
 * PENDING_UPDATED (DESIGN §3/§5), the switch to `submitting` at the submit included: a device
 * that only learns of it when the job starts (or ends) shows `pending` for an order that is
 * already on its way to the ERP.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDraft, sleep, startService, storageVariants, type TestDevice, type TestService } from './support/harness.js';

const updatesOf = (d: TestDevice) => d.ofType('PENDING_UPDATED');

describe.each(storageVariants())('submit status changes ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    // A slow ERP: the order stays `submitting` long enough to look at it and to repeat the submit.
    if (!skip) svc = await startService({ storage: kind, env: { ERP_FAILURE_RATE: '0', ERP_DELAY_MS: '1000' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it.skipIf(skip)('the submit emits PENDING_UPDATED (submitting) on every device before the job starts; a repeat emits nothing', async () => {
    const u = `u-${randomUUID()}`;
    const devices = await Promise.all([svc.device(u, 'a'), svc.device(u, 'b')]);
    await Promise.all(devices.map((d) => d.waitForType('HELLO')));
    const api = svc.api(u, { deviceId: 'a' });
    const o = newDraft();
    expect((await api.post('/api/pending-orders', { orders: [o] })).status).toBe(200);

    const sub = await api.post(`/api/pending-orders/${o.id}/submit`);
    expect(sub.status).toBe(202);
    for (const d of devices) {
      const [ev] = await d.waitForType('PENDING_UPDATED');
      // From the submitting device (X-Device-Id), so that device can tell its own echo.
      expect(ev).toMatchObject({ seq: 2, originDeviceId: 'a', payload: { orderIds: [o.id], count: 1 } });
    }
    // What a device fetches on that event: the order `submitting`, with the job the submit answered.
    const order = (await api.get(`/api/pending-orders?ids=${o.id}`)).body;
    expect(order.items).toEqual([expect.objectContaining({ id: o.id, status: 'submitting', jobId: sub.body.jobId, version: 2 })]);
    expect(order.seq).toBeGreaterThanOrEqual(2);

    // The same submit while the job runs: the same job, nothing changed, no event.
    const again = await api.post(`/api/pending-orders/${o.id}/submit`);
    expect(again).toMatchObject({ status: 202, body: { jobId: sub.body.jobId } });

    for (const d of devices) {
      await d.waitForType('ORDER_NUMBERS_RESOLVED', 1, 10_000);
      await d.waitForType('PENDING_UPDATED', 2);
    }
    await sleep(100);
    for (const d of devices) {
      expect(d.events().map((e) => [e.seq, e.type])).toEqual([
        [1, 'PENDING_CREATED'], [2, 'PENDING_UPDATED'], [3, 'JOB_STARTED'], [4, 'JOB_COMPLETED'],
        [5, 'ORDER_NUMBERS_RESOLVED'], [6, 'PENDING_UPDATED'],
      ]);
    }
    expect((await api.get(`/api/pending-orders/${o.id}`)).body).toMatchObject({ status: 'submitted', version: 3 });
  }, 20_000);
});

describe.each(storageVariants())('submit after a final failure ($kind)', ({ kind, skip }) => {
  it.skipIf(skip)('failed → submitting is a status change too: each submit of a failed order emits PENDING_UPDATED', async () => {
    const svc = await startService({ storage: kind, env: { ERP_FAILURE_RATE: '1', JOB_ATTEMPTS: '1', ERP_DELAY_MS: '10' } });
    try {
      const u = `u-${randomUUID()}`;
      const dev = await svc.device(u, 'b');
      await dev.waitForType('HELLO');
      const api = svc.api(u);
      const o = newDraft();
      await api.post('/api/pending-orders', { orders: [o] });
      for (let round = 1; round <= 2; round += 1) {
        expect((await api.post(`/api/pending-orders/${o.id}/submit`)).status).toBe(202);
        await dev.waitFor((fs) => fs.filter((f) => f.type === 'PENDING_UPDATED').length >= 2 * round, 10_000, `round ${round}`);
        expect((await api.get(`/api/pending-orders/${o.id}`)).body.status).toBe('failed');
      }
      expect(dev.events().map((e) => e.type)).toEqual([
        'PENDING_CREATED',
        ...['PENDING_UPDATED', 'JOB_STARTED', 'JOB_FAILED', 'PENDING_UPDATED'],
        ...['PENDING_UPDATED', 'JOB_STARTED', 'JOB_FAILED', 'PENDING_UPDATED'],
      ]);
      expect(updatesOf(dev).every((f) => f.payload.orderIds[0] === o.id && f.payload.count === 1)).toBe(true);
    } finally {
      await svc.close();
    }
  }, 60_000);
});
