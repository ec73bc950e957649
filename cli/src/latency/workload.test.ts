import { describe, expect, it } from 'vitest';
import { parseMix } from './options.js';
import { chooser, UserWorkload } from './workload.js';

describe('workload planning', () => {
  it('targets only entities that exist and are idle, falling back to a create', () => {
    const w = new UserWorkload('run1', 100, () => 0.5);
    const first = w.plan('update');
    expect(first.kind).toBe('create'); // nothing to update yet
    expect(w.plan('delete').kind).toBe('create'); // the first create is not answered yet: still busy
    first.onResponse({ seq: 1 });
    const upd = w.plan('update');
    expect(upd).toMatchObject({ kind: 'update', ids: first.ids, request: { method: 'PUT', path: `/api/drafts/${first.ids[0]}` } });
    expect(w.plan('convert').kind).toBe('create'); // the draft is busy with the update
    expect(upd.onResponse({ seq: 3 })).toEqual({ types: ['DRAFT_UPDATED'], lastSeq: 3, newIds: [] });
    const conv = w.plan('convert');
    expect(conv.request.path).toBe(`/api/drafts/${first.ids[0]}/convert`);
    expect(conv.onResponse({ seq: 5, pendingOrderId: 'p-1' })).toEqual({ types: ['DRAFT_CONVERTED', 'PENDING_CREATED'], lastSeq: 5, newIds: ['p-1'] });
    expect(w.plan('pending-delete')).toMatchObject({ kind: 'pending-delete', request: { method: 'DELETE', path: '/api/pending-orders/p-1' } });
    expect(w.plan('pending-delete').kind).toBe('batch'); // no idle pending order left
  });

  it('updates strictly newer updatedAt on each write of an entity', () => {
    const w = new UserWorkload('run1', 100);
    const c = w.plan('create');
    c.onResponse({ seq: 1 });
    const times = [(c.request.body as { updatedAt: string }).updatedAt];
    for (let i = 0; i < 5; i += 1) {
      const u = w.plan('update');
      times.push((u.request.body as { updatedAt: string }).updatedAt);
      u.onResponse({ seq: i + 2 });
    }
    for (let i = 1; i < times.length; i += 1) expect(Date.parse(times[i]!)).toBeGreaterThan(Date.parse(times[i - 1]!));
  });

  it('batches 1 to --batch-max orders and reads the emitted events from the results', () => {
    const w = new UserWorkload('run1', 7, () => 0.99);
    const b = w.plan('batch');
    const orders = (b.request.body as { orders: unknown[] }).orders;
    expect(orders).toHaveLength(7);
    expect(b.onResponse({ results: orders.map((_, i) => ({ id: String(i), action: 'created' })), seq: 9 })).toEqual({ types: ['PENDING_CREATED'], lastSeq: 9, newIds: [] });
    const retry = new UserWorkload('run1', 3, () => 0).plan('batch');
    expect(retry.onResponse({ results: [{ id: 'x', action: 'unchanged' }], seq: 4 })).toEqual({ types: [], lastSeq: null, newIds: [] });
  });

  it('chooses kinds by weight', () => {
    let r = 0;
    const choose = chooser(parseMix('create=1,batch=3'), () => r);
    expect([0, 0.24, 0.26, 0.99].map((x) => ((r = x), choose()))).toEqual(['create', 'create', 'batch', 'batch']);
  });
});
