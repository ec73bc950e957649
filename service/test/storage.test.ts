/** Storage port conformance: every adapter (PGlite, PGlite in a worker thread, PostgreSQL) runs the same suite. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Draft } from '../src/protocol/index.js';
import type { Storage } from '../src/ports/storage.js';
import { createPgliteWorkerRunner } from '../src/adapters/sql-pglite-worker.js';
import { createPostgresRunner } from '../src/adapters/sql-postgres.js';
import { createSqlStorage } from '../src/storage/sql-storage.js';
import { createTestDatabase, makeStorage, storageVariants } from './support/harness.js';

function draft(id = randomUUID()): Draft {
  const now = new Date().toISOString();
  return {
    id, deviceId: 'd', customerId: 'c', customerName: 'n', items: [{ productId: 'p', quantity: 1, price: null, notes: null }],
    notes: null, updatedAt: now, serverUpdatedAt: now, version: 1, deleted: false, deletedAt: null, convertedTo: null,
  };
}

// The harness's variants, plus embedded PGlite in a worker thread (sql-pglite-worker.ts).
const variants: { kind: string; skip: string | null; make: () => Promise<Storage> }[] = [
  ...storageVariants().map((v) => ({ ...v, make: () => makeStorage(v.kind) })),
  { kind: 'pglite-worker', skip: null, make: async () => createSqlStorage(await createPgliteWorkerRunner()) },
];

describe.each(variants)('Storage conformance ($kind)', ({ skip, make }) => {
  let storage: Storage;
  beforeAll(async () => {
    if (skip) return;
    storage = await make();
    await storage.migrate();
    await storage.migrate(); // idempotent
  });
  afterAll(async () => {
    await storage?.close();
  });

  it.skipIf(skip)('seq is gapless from 1 under concurrent writers, and events are readable in order', async () => {
    const user = `u-${randomUUID()}`;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        storage.unitOfWork(user, async (tx) => {
          await tx.saveDraft(draft());
          tx.appendEvent({ type: 'DRAFT_CREATED', payload: { i }, originDeviceId: null });
        }),
      ),
    );
    const head = await storage.logHead(user);
    expect(head.latestSeq).toBe(40);
    const events = await storage.readEvents(user, 0, 40, 100);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.epoch))).toEqual(new Set([head.epoch]));
    expect((await storage.readEvents(user, 10, 15, 100)).map((e) => e.seq)).toEqual([11, 12, 13, 14, 15]);
    expect(await storage.oldestSeq(user)).toBe(1);
  });

  it.skipIf(skip)('a failing unit of work writes nothing and does not consume a seq', async () => {
    const user = `u-${randomUUID()}`;
    const d = draft();
    await expect(
      storage.unitOfWork(user, async (tx) => {
        await tx.saveDraft(d);
        tx.appendEvent({ type: 'DRAFT_CREATED', payload: {}, originDeviceId: null });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await storage.getDraft(user, d.id)).toBeNull();
    expect((await storage.logHead(user)).latestSeq).toBe(0);
    const ok = await storage.unitOfWork(user, async (tx) => {
      tx.appendEvent({ type: 'DRAFT_CREATED', payload: {}, originDeviceId: null });
    });
    expect(ok.events.map((e) => e.seq)).toEqual([1]);
  });

  it.skipIf(skip)('users are isolated: same ids, separate rows, separate logs', async () => {
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    const d = draft();
    await storage.unitOfWork(a, (tx) => tx.saveDraft({ ...d, customerName: 'A' }));
    await storage.unitOfWork(b, (tx) => tx.saveDraft({ ...d, customerName: 'B' }));
    expect((await storage.getDraft(a, d.id))?.customerName).toBe('A');
    expect((await storage.getDraft(b, d.id))?.customerName).toBe('B');
    expect((await storage.listDrafts(a, { includeDeleted: true })).items).toHaveLength(1);
    expect((await storage.logHead(a)).epoch).not.toBe((await storage.logHead(b)).epoch);
  });

  it.skipIf(skip)('drafts and pending orders round-trip exactly', async () => {
    const user = `u-${randomUUID()}`;
    const d = { ...draft(), notes: 'n', items: [{ productId: 'x', quantity: 1.5, price: 9.99, notes: 'gift' }] };
    await storage.unitOfWork(user, (tx) => tx.saveDraft(d));
    expect(await storage.getDraft(user, d.id)).toEqual(d);
    const o = { ...draft(), status: 'pending' as const, erpOrderNumber: null, jobId: null, sourceDraftId: d.id };
    const { deleted: _d, deletedAt: _da, convertedTo: _c, ...order } = o;
    await storage.unitOfWork(user, (tx) => tx.savePendingOrders([order]));
    expect(await storage.getPendingOrder(user, order.id)).toEqual(order);
    const list = await storage.listPendingOrders(user);
    expect(list).toEqual({ items: [order], seq: 0 });
  });

  it.skipIf(skip)('seqAt: the last seq at or before a time; null once pruning may have removed events after it', async () => {
    const user = `u-${randomUUID()}`;
    const append = () =>
      storage.unitOfWork(user, async (tx) => {
        tx.appendEvent({ type: 'DRAFT_CREATED', payload: {}, originDeviceId: null });
      });
    const tick = () => new Promise((r) => setTimeout(r, 5));
    expect(await storage.seqAt(user, new Date())).toBe(0);
    await append();
    await tick();
    const afterFirst = new Date();
    await tick();
    await append();
    await tick();
    await append();
    expect(await storage.seqAt(user, afterFirst)).toBe(1);
    const [, , third] = await storage.readEvents(user, 0, 3, 10);
    await storage.pruneEvents(new Date(third!.timestamp)); // seq 1 and 2 go
    expect(await storage.oldestSeq(user)).toBe(3);
    expect(await storage.seqAt(user, afterFirst)).toBeNull(); // seq 2 was after that time
    expect(await storage.seqAt(user, new Date(third!.timestamp))).toBe(3);
    expect(await storage.seqAt(user, new Date(Date.now() + 1000))).toBe(3);
    await storage.pruneEvents(new Date(Date.now() + 1000));
    expect(await storage.seqAt(user, new Date(Date.now() + 1000))).toBeNull();
  });

  it.skipIf(skip)('pruning removes old events but keeps the head seq; tombstones are purged', async () => {
    const user = `u-${randomUUID()}`;
    await storage.unitOfWork(user, async (tx) => {
      await tx.saveDraft({ ...draft(), deleted: true, deletedAt: new Date(Date.now() - 10_000).toISOString() });
      tx.appendEvent({ type: 'DRAFT_DELETED', payload: {}, originDeviceId: null });
    });
    expect(await storage.pruneEvents(new Date(Date.now() + 1000))).toBeGreaterThanOrEqual(1);
    expect(await storage.oldestSeq(user)).toBeNull();
    expect((await storage.logHead(user)).latestSeq).toBe(1);
    expect(await storage.purgeTombstones(new Date())).toBeGreaterThanOrEqual(1);
    expect((await storage.listDrafts(user, { includeDeleted: true })).items).toEqual([]);
  });
});

describe.skipIf(storageVariants()[1]!.skip)('migrations on PostgreSQL', () => {
  it('are safe when several instances start at once', async () => {
    const url = await createTestDatabase();
    const instances = Array.from({ length: 4 }, () => createSqlStorage(createPostgresRunner({ connectionString: url, max: 2 })));
    await Promise.all(instances.map((s) => s.migrate()));
    const user = `u-${randomUUID()}`;
    await instances[0]!.unitOfWork(user, async (tx) => {
      tx.appendEvent({ type: 'X', payload: {}, originDeviceId: null });
    });
    expect((await instances[3]!.logHead(user)).latestSeq).toBe(1);
    await Promise.all(instances.map((s) => s.close()));
  });
});
