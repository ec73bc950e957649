/** `GET /api/pending-orders?ids=`: the orders named by PENDING_CREATED/UPDATED, in one request. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDraft, startService, storageVariants, type TestService } from './support/harness.js';

describe.each(storageVariants())('pending orders batch read ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    if (!skip) svc = await startService({ storage: kind, logLevel: 'warn' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it.skipIf(skip)("answers only the caller's orders among the ids, with the seq of the same snapshot", async () => {
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    const mine = [newDraft(), newDraft(), newDraft()];
    const theirs = newDraft();
    await svc.api(a).post('/api/pending-orders', { orders: mine });
    await svc.api(b).post('/api/pending-orders', { orders: [theirs] });
    await svc.api(a).post('/api/pending-orders', { orders: [newDraft()] }); // seq 2
    const ids = [mine[0]!.id.toUpperCase(), mine[2]!.id, theirs.id, randomUUID(), mine[0]!.id];
    const r = await svc.api(a).get(`/api/pending-orders?ids=${ids.join(',')}`);
    expect(r.status).toBe(200);
    expect(r.body.seq).toBe(2);
    expect(r.body.items.map((o: { id: string }) => o.id).sort()).toEqual([mine[0]!.id, mine[2]!.id].sort());
    expect(r.body.items[0]).toMatchObject({ status: 'pending', customerName: 'Rossi Srl' });
    // Someone else's id is simply absent, as an unknown one.
    expect((await svc.api(b).get(`/api/pending-orders?ids=${mine[0]!.id}`)).body).toEqual({ items: [], seq: 1 });
    // Without ids: the whole list, as before.
    expect((await svc.api(a).get('/api/pending-orders')).body.items).toHaveLength(4);
  });

  it.skipIf(skip)('refuses bad ids, an empty list and more than 200 ids with 400', async () => {
    const api = svc.api(`u-${randomUUID()}`);
    const many = Array.from({ length: 201 }, () => randomUUID()).join(',');
    for (const q of ['ids=not-a-uuid', 'ids=', `ids=${randomUUID()},`, `ids=${many}`, `ids=${randomUUID()}&ids=${randomUUID()}`]) {
      const r = await api.get(`/api/pending-orders?${q}`);
      expect([r.status, r.body.error.code], q.slice(0, 60)).toEqual([400, 'VALIDATION_FAILED']);
    }
    const max = Array.from({ length: 200 }, () => randomUUID()).join(',');
    expect((await api.get(`/api/pending-orders?ids=${max}`)).body).toEqual({ items: [], seq: 0 });
  });
});
