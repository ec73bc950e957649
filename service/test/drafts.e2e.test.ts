import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { later, newDraft, sleep, startService, storageVariants, type TestDevice, type TestService } from './support/harness.js';

describe.each(storageVariants())('drafts over REST and realtime ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    if (!skip) svc = await startService({ storage: kind });
  });
  afterAll(async () => {
    await svc?.close();
  });

  async function twoDevices(userId: string): Promise<[TestDevice, TestDevice]> {
    const a = await svc.device(userId, 'phone');
    const b = await svc.device(userId, 'laptop');
    await a.waitForType('HELLO');
    await b.waitForType('HELLO');
    return [a, b];
  }

  it.skipIf(skip)('create, read, list: DRAFT_CREATED reaches every device of the user with the origin device', async () => {
    const user = `u-${randomUUID()}`;
    const [phone, laptop] = await twoDevices(user);
    const api = svc.api(user, { deviceId: 'phone' });
    const d = newDraft();
    const res = await api.post('/api/drafts', d);
    expect(res.status).toBe(201);
    expect(res.body.draft).toMatchObject({ id: d.id, customerName: 'Rossi Srl', version: 1, deleted: false, deviceId: 'phone' });
    expect(res.body.seq).toBe(1);

    for (const dev of [phone, laptop]) {
      const [ev] = await dev.waitForType('DRAFT_CREATED');
      expect(ev).toMatchObject({ seq: 1, originDeviceId: 'phone', payload: { draftId: d.id, deviceId: 'phone' } });
      expect(ev!.payload.draft).toEqual(res.body.draft);
    }
    expect((await api.get(`/api/drafts/${d.id}`)).body).toEqual(res.body.draft);
    const list = await api.get('/api/drafts');
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ items: [res.body.draft], seq: 1 });
  });

  it.skipIf(skip)('update with a newer updatedAt wins; an older one gets 409 STALE_WRITE with the current draft', async () => {
    const user = `u-${randomUUID()}`;
    const [, laptop] = await twoDevices(user);
    const api = svc.api(user, { deviceId: 'phone' });
    const d = newDraft();
    await api.post('/api/drafts', d);
    const upd = await api.put(`/api/drafts/${d.id}`, { ...d, customerName: 'Bianchi', updatedAt: later(d.updatedAt) });
    expect(upd.status).toBe(200);
    expect(upd.body.draft).toMatchObject({ customerName: 'Bianchi', version: 2 });
    const [ev] = await laptop.waitForType('DRAFT_UPDATED');
    expect(ev).toMatchObject({ seq: 2, payload: { draftId: d.id, draft: { customerName: 'Bianchi', version: 2 } } });

    const stale = await api.put(`/api/drafts/${d.id}`, { ...d, customerName: 'Old', updatedAt: d.updatedAt });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('STALE_WRITE');
    expect(stale.body.current).toMatchObject({ customerName: 'Bianchi', version: 2 });

    // The same write again (a device replaying its offline queue): 200, no new event.
    const retry = await api.put(`/api/drafts/${d.id}`, { ...d, customerName: 'Bianchi', updatedAt: later(d.updatedAt) });
    expect(retry.status).toBe(200);
    expect(retry.body.seq).toBeNull();
    await sleep(100);
    expect(laptop.events().map((e) => e.seq)).toEqual([1, 2]);
  });

  it.skipIf(skip)('baseVersion: a mismatch gets 409 VERSION_CONFLICT; a match applies', async () => {
    const user = `u-${randomUUID()}`;
    const api = svc.api(user);
    const d = newDraft();
    await api.post('/api/drafts', d);
    const conflict = await api.put(`/api/drafts/${d.id}`, { ...d, notes: 'x', baseVersion: 7, updatedAt: later(d.updatedAt) });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('VERSION_CONFLICT');
    expect(conflict.body.current.version).toBe(1);
    const ok = await api.put(`/api/drafts/${d.id}`, { ...d, notes: 'x', baseVersion: 1, updatedAt: later(d.updatedAt) });
    expect(ok.status).toBe(200);
    expect(ok.body.draft).toMatchObject({ notes: 'x', version: 2 });
  });

  it.skipIf(skip)('POST with an existing id: retry is a no-op, newer is an update, different older content is 409', async () => {
    const user = `u-${randomUUID()}`;
    const [, laptop] = await twoDevices(user);
    const api = svc.api(user);
    const d = newDraft();
    expect((await api.post('/api/drafts', d)).status).toBe(201);
    const retry = await api.post('/api/drafts', d);
    expect(retry.status).toBe(200);
    expect(retry.body.seq).toBeNull();
    const newer = await api.post('/api/drafts', { ...d, notes: 'n', updatedAt: later(d.updatedAt) });
    expect(newer.status).toBe(200);
    expect(newer.body.draft.version).toBe(2);
    const conflicting = await api.post('/api/drafts', { ...d, notes: 'other' });
    expect(conflicting.status).toBe(409);
    expect(conflicting.body.error.code).toBe('STALE_WRITE');
    await laptop.waitForType('DRAFT_UPDATED');
    await sleep(100);
    expect(laptop.events().map((e) => e.type)).toEqual(['DRAFT_CREATED', 'DRAFT_UPDATED']);
  });

  it.skipIf(skip)('delete makes a tombstone; writes to it get 410; deleting again is 200 with no event; unknown is 404', async () => {
    const user = `u-${randomUUID()}`;
    const [, laptop] = await twoDevices(user);
    const api = svc.api(user, { deviceId: 'phone' });
    const d = newDraft();
    await api.post('/api/drafts', d);
    const del = await api.del(`/api/drafts/${d.id}`);
    expect(del.status).toBe(200);
    expect(del.body.draft).toMatchObject({ deleted: true, version: 2 });
    expect(del.body.draft.deletedAt).toEqual(expect.any(String));
    const [ev] = await laptop.waitForType('DRAFT_DELETED');
    expect(ev!.payload).toEqual({ draftId: d.id, deleted: true, deviceId: 'phone' });

    expect((await api.del(`/api/drafts/${d.id}`)).status).toBe(200);
    expect((await api.put(`/api/drafts/${d.id}`, { ...d, updatedAt: later(d.updatedAt, 5000) })).status).toBe(410);
    expect((await api.post('/api/drafts', { ...d, updatedAt: later(d.updatedAt, 5000) })).status).toBe(410);
    expect((await api.del(`/api/drafts/${randomUUID()}`)).status).toBe(404);
    const unknownId = randomUUID();
    expect((await api.put(`/api/drafts/${unknownId}`, newDraft({ id: unknownId }))).status).toBe(404);

    expect((await api.get('/api/drafts')).body.items).toEqual([]);
    const withTombstones = await api.get('/api/drafts?includeDeleted=true');
    expect(withTombstones.body.items.map((x: { id: string }) => x.id)).toEqual([d.id]);
    await sleep(100);
    expect(laptop.events().map((e) => e.type)).toEqual(['DRAFT_CREATED', 'DRAFT_DELETED']);
  });

  it.skipIf(skip)('convert: one transaction, DRAFT_CONVERTED then PENDING_CREATED; converting again returns the same order', async () => {
    const user = `u-${randomUUID()}`;
    const [, laptop] = await twoDevices(user);
    const api = svc.api(user);
    const d = newDraft();
    await api.post('/api/drafts', d);
    const conv = await api.post(`/api/drafts/${d.id}/convert`);
    expect(conv.status).toBe(201);
    expect(conv.body.pendingOrder).toMatchObject({ status: 'pending', sourceDraftId: d.id, customerName: 'Rossi Srl', items: d.items.map((i) => ({ ...i, notes: null })) });
    expect(conv.body.draft).toMatchObject({ deleted: true, convertedTo: conv.body.pendingOrderId });
    await laptop.waitForSeq(3);
    expect(laptop.events().map((e) => [e.type, e.seq])).toEqual([
      ['DRAFT_CREATED', 1],
      ['DRAFT_CONVERTED', 2],
      ['PENDING_CREATED', 3],
    ]);
    expect(laptop.ofType('DRAFT_CONVERTED')[0]!.payload).toEqual({ draftId: d.id, pendingOrderId: conv.body.pendingOrderId });
    expect(laptop.ofType('PENDING_CREATED')[0]!.payload).toEqual({ orderIds: [conv.body.pendingOrderId], count: 1 });

    const again = await api.post(`/api/drafts/${d.id}/convert`);
    expect(again.status).toBe(200);
    expect(again.body.pendingOrderId).toBe(conv.body.pendingOrderId);
    expect(again.body.seq).toBeNull();
    const pending = await api.get('/api/pending-orders');
    expect(pending.body.items).toHaveLength(1);
    expect(pending.body.seq).toBe(3);
    expect((await api.post(`/api/drafts/${randomUUID()}/convert`)).status).toBe(404);
  });

  it.skipIf(skip)('never reveals or changes another user\'s draft, even with the same id', async () => {
    const alice = svc.api(`alice-${randomUUID()}`);
    const bobId = `bob-${randomUUID()}`;
    const bob = svc.api(bobId);
    const bobDevice = await svc.device(bobId, 'bob-phone');
    await bobDevice.waitForType('HELLO');
    const d = newDraft({ customerName: 'Alice secret' });
    await alice.post('/api/drafts', d);
    expect((await bob.get(`/api/drafts/${d.id}`)).status).toBe(404);
    expect((await bob.put(`/api/drafts/${d.id}`, { ...d, updatedAt: later(d.updatedAt) })).status).toBe(404);
    expect((await bob.del(`/api/drafts/${d.id}`)).status).toBe(404);
    expect((await bob.post(`/api/drafts/${d.id}/convert`)).status).toBe(404);
    // Same id under bob: created as bob's own, alice's row untouched.
    const mine = await bob.post('/api/drafts', { ...d, customerName: 'Bob own' });
    expect(mine.status).toBe(201);
    expect(mine.body.draft.customerName).toBe('Bob own');
    expect((await alice.get(`/api/drafts/${d.id}`)).body.customerName).toBe('Alice secret');
    await bobDevice.waitForType('DRAFT_CREATED');
    await sleep(100);
    expect(bobDevice.events()).toHaveLength(1);
    expect(JSON.stringify(bobDevice.frames)).not.toContain('Alice secret');
  });
});
