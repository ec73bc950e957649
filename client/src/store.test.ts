/**
 * The store's rules, in isolation: ordering, held events, LWW, tombstones, conversion, own echoes,
 * batch reads of pending orders, resync, job events, rollback. The REST reads are an in-memory fake
 * (client/test/fakes.ts); client.e2e.test.ts runs the same paths against the real service.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../cli/test/support/wait.js';
import { Store } from './store.js';
import { draft, ev, fakeServer, order, tick } from '../test/fakes.js';
import type { Change, WriteOp } from './types.js';

async function started(seed: (s: ReturnType<typeof fakeServer>) => void = () => undefined, opts: { holeTimeoutMs?: number } = {}) {
  const server = fakeServer();
  seed(server);
  const store = new Store({ rest: server.rest, deviceId: 'me', retry: { initialMs: 5, maxMs: 20 }, ...opts });
  const changes: Change[] = [];
  const applied: number[] = [];
  store.drafts.subscribe((_items, c) => changes.push(c));
  store.pendingOrders.subscribe((_items, c) => changes.push(c));
  store.on('event', (e) => applied.push(e.seq));
  await store.refetch('initial');
  return { server, store, changes, applied };
}

describe('store', () => {
  it('starts from the lists and their seq, then applies events in seq order, holding any that come early', async () => {
    const { store, applied } = await started((s) => {
      s.drafts.set('a', draft('a'));
      s.state.seq = 5;
    });
    expect(store.seq).toBe(5);
    expect(store.drafts.list().map((d) => d.id)).toEqual(['a']);
    // 4 is in the snapshot already; 7 comes before 6 and waits for it.
    await store.push(ev(4, 'DRAFT_CREATED', { draftId: 'old', draft: draft('old') }));
    await store.push(ev(7, 'DRAFT_CREATED', { draftId: 'c', draft: draft('c') }));
    expect(store.drafts.get('c')).toBeUndefined();
    expect(applied).toEqual([]);
    await store.push(ev(6, 'DRAFT_CREATED', { draftId: 'b', draft: draft('b') }));
    expect(applied).toEqual([6, 7]);
    expect(store.drafts.list().map((d) => d.id)).toEqual(['a', 'b', 'c']);
    expect(store.seq).toBe(7);
    // a duplicate is ignored
    await store.push(ev(7, 'DRAFT_CREATED', { draftId: 'c', draft: draft('c') }));
    expect(applied).toEqual([6, 7]);
    store.stop();
  });

  it('last write wins by the server order (version); a tombstone always wins; a delete hides it from list()', async () => {
    const { store } = await started();
    const v2 = draft('a', { version: 2, customerName: 'v2' });
    await store.push(ev(1, 'DRAFT_UPDATED', { draftId: 'a', draft: v2 }));
    // An older copy arriving later (e.g. a slow write's answer) does not overwrite it.
    store.commitAck({ kind: 'draft.update', id: 'a', body: { ...v2, customerName: 'v1' } }, { draft: { ...v2, version: 1, customerName: 'v1' } }, []);
    expect(store.drafts.get('a')!.customerName).toBe('v2');
    await store.push(ev(2, 'DRAFT_DELETED', { draftId: 'a', deleted: true, deviceId: 'other' }));
    expect(store.drafts.list()).toEqual([]);
    expect(store.drafts.get('a')).toMatchObject({ deleted: true });
    // A live copy of a newer version cannot resurrect a tombstone.
    store.commitAck({ kind: 'draft.update', id: 'a', body: v2 }, { draft: { ...v2, version: 9 } }, []);
    expect(store.drafts.get('a')!.deleted).toBe(true);
    store.stop();
  });

  it('a queued write is shown at once unless it loses LWW to what the server has; dropping it rolls back exactly', async () => {
    const { store, changes } = await started((s) => s.drafts.set('a', draft('a', { customerName: 'server' })));
    const cur = store.drafts.get('a')!;
    const mine: WriteOp = { kind: 'draft.update', id: 'a', body: { ...cur, customerName: 'mine', updatedAt: tick() } };
    store.setQueue([mine], 'write');
    expect(store.drafts.get('a')!.customerName).toBe('mine');
    expect(changes.at(-1)).toMatchObject({ source: 'write', ids: ['a'] });
    // Another device writes later (newer updatedAt): the server will refuse mine, so it is not shown.
    await store.push(ev(1, 'DRAFT_UPDATED', { draftId: 'a', draft: draft('a', { version: 2, customerName: 'theirs' }) }));
    expect(store.drafts.get('a')!.customerName).toBe('theirs');
    const before = JSON.stringify(store.drafts.list());
    store.setQueue([], 'rollback');
    expect(JSON.stringify(store.drafts.list())).toBe(before);
    store.stop();
  });

  it('own echo of an acknowledged write is applied once and not notified again', async () => {
    const { store, changes } = await started();
    const body = { id: 'n', customerId: 'C', customerName: 'New', items: [], notes: null, updatedAt: tick() };
    const op: WriteOp = { kind: 'draft.create', id: 'n', body };
    store.setQueue([op], 'write');
    expect(store.drafts.get('n')).toMatchObject({ customerName: 'New', deviceId: 'me', version: 0 });
    const server = { ...draft('n', { ...body, deviceId: 'me' }), version: 1 };
    store.commitAck(op, { draft: server, seq: 1 }, []);
    expect(store.drafts.get('n')).toEqual(server);
    const n = changes.length;
    await store.push(ev(1, 'DRAFT_CREATED', { draftId: 'n', draft: server, deviceId: 'me' }, 'me'));
    expect(changes.length).toBe(n);
    expect(store.seq).toBe(1);
    store.stop();
  });

  it('PENDING_CREATED/UPDATED read the named orders in one batch request; later events wait for it; an absent one is removed', async () => {
    const { server, store, applied } = await started((s) => s.pending.set('gone', order('gone')));
    server.pending.set('p1', order('p1'));
    server.pending.set('p2', order('p2'));
    server.pending.delete('gone'); // deleted on the server before the read
    server.hold();
    const p = store.push(ev(1, 'PENDING_UPDATED', { orderIds: ['p1', 'p2', 'gone'], count: 3 }));
    const q = store.push(ev(2, 'DRAFT_CREATED', { draftId: 'd', draft: draft('d') }));
    await waitUntil(() => server.calls.includes('getMany:p1,p2,gone'), 'the batch read');
    expect(store.drafts.get('d')).toBeUndefined(); // waits behind the read
    expect(applied).toEqual([]);
    server.release();
    await Promise.all([p, q]);
    expect(applied).toEqual([1, 2]);
    expect(store.pendingOrders.list().map((o) => o.id)).toEqual(['p1', 'p2']);
    expect(server.calls.filter((c) => c.startsWith('getMany'))).toHaveLength(1);
    store.stop();
  });

  it('conversion: the draft becomes a tombstone with convertedTo, the order is read once', async () => {
    const { server, store } = await started((s) => s.drafts.set('d', draft('d')));
    server.pending.set('o', order('o', { sourceDraftId: 'd' }));
    await store.push(ev(1, 'DRAFT_CONVERTED', { draftId: 'd', pendingOrderId: 'o' }));
    await store.push(ev(2, 'PENDING_CREATED', { orderIds: ['o'], count: 1 }));
    expect(store.drafts.list()).toEqual([]);
    expect(store.drafts.get('d')).toMatchObject({ deleted: true, convertedTo: 'o' });
    expect(store.pendingOrders.get('o')).toMatchObject({ sourceDraftId: 'd' });
    store.stop();
  });

  it('an own convert acknowledged with the order needs no read for its echo', async () => {
    const { server, store, changes } = await started((s) => s.drafts.set('d', draft('d')));
    const op: WriteOp = { kind: 'draft.convert', id: 'd', at: tick() };
    store.setQueue([op], 'write');
    expect(store.drafts.list()).toEqual([]);
    const o = order('o', { sourceDraftId: 'd' });
    store.commitAck(op, { pendingOrderId: 'o', pendingOrder: o, draft: draft('d', { version: 2, deleted: true, convertedTo: 'o' }), seq: 2 }, []);
    const n = changes.length;
    await store.push(ev(1, 'DRAFT_CONVERTED', { draftId: 'd', pendingOrderId: 'o' }, 'me'));
    await store.push(ev(2, 'PENDING_CREATED', { orderIds: ['o'], count: 1 }, 'me'));
    expect(server.calls.filter((c) => c.startsWith('getMany'))).toEqual([]);
    expect(changes.length).toBe(n);
    expect(store.pendingOrders.get('o')).toEqual(o);
    store.stop();
  });

  it('job events set status and the ERP order number', async () => {
    const { store } = await started((s) => s.pending.set('o', order('o')));
    await store.push(ev(1, 'JOB_STARTED', { jobId: 'j', orderId: 'o', attempt: 1 }));
    expect(store.pendingOrders.get('o')).toMatchObject({ status: 'submitting', jobId: 'j' });
    await store.push(ev(2, 'JOB_FAILED', { jobId: 'j', orderId: 'o', error: 'ERP down', attempt: 1, willRetry: true }));
    expect(store.pendingOrders.get('o')!.status).toBe('submitting');
    await store.push(ev(3, 'JOB_COMPLETED', { jobId: 'j', orderId: 'o', erpOrderNumber: 'ERP-1' }));
    await store.push(ev(4, 'ORDER_NUMBERS_RESOLVED', { mappings: [{ orderId: 'o', erpOrderNumber: 'ERP-1' }] }));
    expect(store.pendingOrders.get('o')).toMatchObject({ status: 'submitted', erpOrderNumber: 'ERP-1' });
    store.stop();
  });

  it('resync refetches both lists and continues from their seq', async () => {
    const { server, store, applied } = await started((s) => s.drafts.set('a', draft('a')));
    const resyncs: unknown[] = [];
    store.on('resync', (r) => resyncs.push(r));
    server.drafts.clear();
    server.drafts.set('z', draft('z'));
    server.state.seq = 40;
    await store.refetch('evicted');
    expect(resyncs).toEqual([{ reason: 'evicted', seq: 40, epoch: null }]);
    expect(store.drafts.list().map((d) => d.id)).toEqual(['z']);
    await store.push(ev(40, 'DRAFT_CREATED', { draftId: 'x', draft: draft('x') }));
    await store.push(ev(41, 'DRAFT_CREATED', { draftId: 'y', draft: draft('y') }));
    expect(applied).toEqual([41]);
    expect(server.calls.filter((c) => c.endsWith('.list'))).toEqual(['drafts.list', 'pending.list', 'drafts.list', 'pending.list']);
    store.stop();
  });

  it('a hole nobody fills makes it refetch instead of waiting forever', async () => {
    const { server, store } = await started(() => undefined, { holeTimeoutMs: 50 });
    server.state.seq = 9;
    server.drafts.set('h', draft('h'));
    await store.push(ev(3, 'DRAFT_CREATED', { draftId: 'x', draft: draft('x') }));
    await waitUntil(() => store.seq === 9, 'the refetch');
    expect(store.drafts.list().map((d) => d.id)).toEqual(['h']); // seq 3 was covered by the snapshot
    store.stop();
  });

  it('snapshot round trip: load() gives back the same lists and seq', async () => {
    const { store } = await started((s) => {
      s.drafts.set('a', draft('a'));
      s.pending.set('o', order('o'));
      s.state.seq = 3;
    });
    store.setEpoch('ep-1');
    const snap = JSON.parse(JSON.stringify(store.toSnapshot()));
    const again = new Store({ rest: fakeServer().rest });
    again.load(snap);
    expect(again.seq).toBe(3);
    expect(again.epoch).toBe('ep-1');
    expect(again.drafts.list()).toEqual(store.drafts.list());
    expect(again.pendingOrders.list()).toEqual(store.pendingOrders.list());
    store.stop();
  });
});
