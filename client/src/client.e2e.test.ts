/**
 * createClient end to end, on Node (`ws` injected), against the real service on PGlite and on
 * PostgreSQL: real HTTP, real sockets, real restarts. No mocks; the one injected fetch wrapper
 * loses a response the real service did send, as a flaky network would.
 */
import 'fake-indexeddb/auto';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../cli/test/support/wait.js';
import { composeApp } from '../../service/src/compose.js';
import { loadConfig } from '../../service/src/config.js';
import { createLogger } from '../../service/src/log.js';
import {
  TEST_SECRET,
  createTestDatabase,
  mintToken,
  startService,
  storageVariants,
  type StorageKind,
  type TestService,
} from '../../service/test/support/harness.js';
import { ApiError, createIndexedDbStorage, createMemoryStorage, type ClientEvent, type ClientOptions, type RealtimeClient } from './index.js';
import { createNodeClient } from './node.js';

const user = () => `u-${randomUUID().slice(0, 8)}`;
const draftInput = (name: string) => ({ customerId: 'C-1', customerName: name, items: [{ productId: 'P-1', quantity: 1 }] });
const seqs = (events: ClientEvent[]) => events.filter((e) => e.seq !== null).map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A service on a port of our choosing, so a restarted one answers at the same URL. */
async function serve(kind: StorageKind, where: { databaseUrl?: string; dataDir?: string }, port = 0) {
  const config = loadConfig({
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    RESTART_JITTER_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '3000',
    ...(kind === 'postgres' ? { DATABASE_URL: where.databaseUrl! } : { DATA_DIR: where.dataDir! }),
  });
  const log = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const { app } = await composeApp(config, log, { instanceId: `restart-${randomUUID().slice(0, 6)}` });
  const { url } = await app.listen(port, '127.0.0.1');
  return { app, url, port: Number(new URL(url).port) };
}

describe.each(storageVariants())('client against the real service ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  const clients: RealtimeClient[] = [];
  const client = (url: string, userId: string, deviceId: string, extra: Partial<ClientOptions> = {}) => {
    const c = createNodeClient({
      url,
      deviceId,
      getToken: () => mintToken(userId),
      retry: { initialMs: 100, maxMs: 400 },
      reconnect: { initialMs: 100, maxMs: 400 },
      ...extra,
    });
    clients.push(c);
    return c;
  };
  const record = (c: RealtimeClient) => {
    const events: ClientEvent[] = [];
    c.on('event', (e) => events.push(e));
    return events;
  };

  beforeAll(async () => {
    if (!skip) svc = await startService({ storage: kind, logLevel: 'warn' });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
  });
  afterAll(async () => {
    await svc?.close();
  });

  it.skipIf(skip)('two clients of one user see each other’s changes, every event once and in order', async () => {
    const u = user();
    const a = client(svc.url, u, 'phone');
    const b = client(svc.url, u, 'laptop');
    const [ea, eb] = [record(a), record(b)];
    await Promise.all([a.start(), b.start()]);
    await waitUntil(() => a.status === 'live' && b.status === 'live', 'both live');

    const created = await a.drafts.create(draftInput('Rossi'));
    expect(a.drafts.get(created.id)).toEqual(created);
    await waitUntil(() => b.drafts.get(created.id)?.customerName === 'Rossi', 'b sees the draft');
    await b.drafts.update(created.id, { customerName: 'Rossi & figli' });
    await waitUntil(() => a.drafts.get(created.id)?.customerName === 'Rossi & figli', 'a sees the update');

    const conv = await a.drafts.convert(created.id);
    await waitUntil(() => b.pendingOrders.get(conv.pendingOrderId) !== undefined && b.drafts.list().length === 0, 'b sees the conversion');
    expect(b.drafts.get(created.id)).toMatchObject({ deleted: true, convertedTo: conv.pendingOrderId });
    expect(b.pendingOrders.get(conv.pendingOrderId)).toMatchObject({ sourceDraftId: created.id, customerName: 'Rossi & figli' });

    const [o1, o2] = [randomUUID(), randomUUID()];
    await b.pendingOrders.upsert([{ id: o1, ...draftInput('O1') }, { id: o2, ...draftInput('O2') }]);
    await waitUntil(() => a.pendingOrders.list().length === 3, 'a sees the batch');

    const { jobId } = await a.pendingOrders.submit(o1);
    await waitUntil(() => b.pendingOrders.get(o1)?.status === 'submitted', 'b sees the ERP number');
    expect(b.pendingOrders.get(o1)).toMatchObject({ jobId, erpOrderNumber: expect.any(String) });
    await waitUntil(() => a.pendingOrders.get(o1)?.erpOrderNumber === b.pendingOrders.get(o1)?.erpOrderNumber, 'a too');

    await a.pendingOrders.remove(o2);
    await waitUntil(() => b.pendingOrders.get(o2) === undefined, 'b sees the delete');
    await waitUntil(() => seqs(ea).length === seqs(eb).length && a.seq === b.seq, 'both at the same seq');
    expect(seqs(ea)).toEqual(range(1, a.seq!));
    expect(seqs(eb)).toEqual(seqs(ea));
    expect(ea.filter((e) => e.seq !== null).map((e) => e.own)).toEqual(eb.filter((e) => e.seq !== null).map((e) => !e.own));
    expect(b.pendingOrders.list()).toEqual(a.pendingOrders.list());
    expect(b.drafts.list()).toEqual(a.drafts.list());
  });

  it.skipIf(skip)('a refused write (4xx) is shown, then rolled back exactly, and its promise rejects with the ApiError', async () => {
    const u = user();
    const a = client(svc.url, u, 'phone');
    const b = client(svc.url, u, 'laptop');
    await Promise.all([a.start(), b.start()]);
    const kept = await a.drafts.create(draftInput('Kept'));
    const seen: string[][] = [];
    a.drafts.subscribe((items, change) => seen.push([change.source, ...items.map((d) => d.customerName)]));

    const refused = a.drafts.create({ ...draftInput(''), id: randomUUID() }); // empty name: 400
    expect(a.drafts.list().map((d) => d.customerName).sort()).toEqual(['', 'Kept']);
    const err = await refused.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(a.drafts.list()).toEqual([kept]);

    const tooLong = a.drafts.update(kept.id, { customerName: 'x'.repeat(400) });
    expect(a.drafts.get(kept.id)!.customerName).toHaveLength(400);
    await expect(tooLong).rejects.toMatchObject({ status: 400 });
    expect(a.drafts.get(kept.id)).toEqual(kept);
    expect(seen.map((s) => s[0])).toEqual(['write', 'rollback', 'write', 'rollback']);
    expect(a.pendingWrites).toEqual([]);
    // Nothing reached the other device: once the marker reached the phone, the laptop holds Kept
    // and the marker and nothing else (its own socket may get Kept after the phone got the marker:
    // two sockets are not ordered, so wait for both).
    await b.drafts.create(draftInput('marker'));
    await waitUntil(() => a.drafts.list().length === 2, 'the marker');
    await waitUntil(() => b.drafts.list().length >= 2, 'Kept on the laptop');
    expect(b.drafts.list().map((d) => d.customerName).sort()).toEqual(['Kept', 'marker']);
  });

  it.skipIf(skip)('resync: a persisted lastSeq beyond the server’s, or another epoch, refetches the lists and continues', async () => {
    for (const [reason, persistedSeq, epoch] of [
      ['ahead', 999, null],
      ['epoch_changed', 1, 'an-epoch-the-server-never-had'],
    ] as const) {
      const u = user();
      const real = await svc.api(u).post('/api/drafts', { id: randomUUID(), ...draftInput('Real'), updatedAt: new Date().toISOString() });
      const storage = createMemoryStorage();
      const bogus = { ...real.body.draft, id: randomUUID(), customerName: 'Only in the stale copy' };
      await storage.set(`archibald-rt:v1:${u}-phone`, {
        format: 1,
        store: { format: 1, seq: persistedSeq, epoch, drafts: [bogus], pending: [], pendingFresh: [], pendingFloor: persistedSeq },
        outbox: [],
      });
      const a = client(svc.url, u, 'phone', { storage, namespace: `${u}-phone` });
      const resyncs: unknown[] = [];
      a.on('resync', (r) => resyncs.push(r));
      const events = record(a);
      await a.start();
      expect(a.drafts.list().map((d) => d.customerName)).toEqual(['Only in the stale copy']); // resumed from storage, no fetch
      await waitUntil(() => resyncs.length === 1, 'resync');
      expect(resyncs[0]).toMatchObject({ reason, seq: 1 });
      expect(a.drafts.list().map((d) => d.customerName)).toEqual(['Real']);
      await svc.api(u).post('/api/drafts', { id: randomUUID(), ...draftInput('After'), updatedAt: new Date().toISOString() });
      await waitUntil(() => a.drafts.list().length === 2, 'live after the resync');
      expect(seqs(events)).toEqual([2]);
    }
  });

  it.skipIf(skip)('idempotent replay: a write whose answer was lost is retried with the same key and lands once', async () => {
    const u = user();
    const sent: { key: string | null; status: number; replayed: string | null }[] = [];
    let lose = true;
    const lossyFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (init?.method === 'POST') {
        const headers = init.headers as Record<string, string>;
        sent.push({ key: headers['idempotency-key'] ?? null, status: res.status, replayed: res.headers.get('idempotent-replayed') });
        if (lose) {
          lose = false;
          await res.text();
          throw new TypeError('fetch failed: connection reset after the request was sent');
        }
      }
      return res;
    };
    const a = client(svc.url, u, 'phone', { fetch: lossyFetch });
    const b = client(svc.url, u, 'laptop');
    const eb = record(b);
    await Promise.all([a.start(), b.start()]);
    const d = await a.drafts.create(draftInput('Once'));
    expect(sent).toHaveLength(2);
    expect(sent[0]!.key).toEqual(expect.any(String));
    expect(sent[1]).toEqual({ key: sent[0]!.key, status: 201, replayed: 'true' }); // the stored answer, again
    await b.drafts.create(draftInput('marker'));
    await waitUntil(() => eb.length === 2, 'the marker');
    expect(eb.filter((e) => (e.payload as { draftId: string }).draftId === d.id)).toHaveLength(1);
    expect((await svc.api(u).get('/api/drafts')).body.items).toHaveLength(2);
  });

  it.skipIf(skip)(
    'service restart: resumes with nothing missed or doubled; writes made while it is down (and across a reload) land once',
    async () => {
      const where = kind === 'postgres' ? { databaseUrl: await createTestDatabase() } : { dataDir: mkdtempSync(join(tmpdir(), 'rt-client-')) };
      let s = await serve(kind, where);
      const u = user();
      try {
        const a = client(s.url, u, 'phone');
        const b = client(s.url, u, 'laptop');
        const idb = `idb-${randomUUID()}`;
        const c = client(s.url, u, 'tablet', { storage: createIndexedDbStorage({ name: idb }) });
        const [ea, eb] = [record(a), record(b)];
        const resyncs: unknown[] = [];
        for (const x of [a, b]) x.on('resync', (r) => resyncs.push(r));
        await Promise.all([a.start(), b.start(), c.start()]);
        const first = await a.drafts.create(draftInput('Before'));
        await waitUntil(() => eb.length === 1, 'b got seq 1');

        await s.app.close();
        await waitUntil(() => a.status === 'offline' && c.status === 'offline', 'offline');
        const writes = [a.drafts.create(draftInput('Down 1')), a.drafts.create(draftInput('Down 2')), a.drafts.update(first.id, { customerName: 'Edited while down' })];
        for (const w of writes) w.catch(() => undefined); // awaited below; if the test fails first, stop() rejects them
        void c.drafts.create(draftInput('Queued before a reload')).catch(() => undefined);
        // Only the head of a queue is sent: the others wait behind it, in order.
        await waitUntil(() => !!a.pendingWrites[0]?.lastError && !!c.pendingWrites[0]?.lastError, 'attempts failed');
        expect(a.pendingWrites.map((w) => w.attempts > 0)).toEqual([true, false, false]);
        expect(a.pendingWrites[0]!.lastError).toMatchObject({ status: 0, code: 'NETWORK' });
        expect(a.pendingWrites.map((w) => w.kind)).toEqual(['draft.create', 'draft.create', 'draft.update']);
        expect(a.drafts.list().map((d) => d.customerName).sort()).toEqual(['Down 1', 'Down 2', 'Edited while down']);

        // "Reload" the tablet while the service is down: a new client on the same IndexedDB.
        await c.stop();
        const c2 = client(s.url, u, 'tablet', { storage: createIndexedDbStorage({ name: idb }) });
        await c2.start(); // from storage, no network needed
        expect(c2.pendingWrites).toHaveLength(1);
        expect(c2.drafts.list().map((d) => d.customerName)).toContain('Queued before a reload');

        s = await serve(kind, where, s.port);
        const landed = await Promise.all(writes);
        expect(landed.map((d) => d.customerName)).toEqual(['Down 1', 'Down 2', 'Edited while down']);
        await waitUntil(() => c2.pendingWrites.length === 0, 'the tablet’s write landed');
        await waitUntil(() => seqs(eb).length === 5 && seqs(ea).length === 5, 'both got all five events');
        expect(seqs(ea)).toEqual(range(1, 5));
        expect(seqs(eb)).toEqual(range(1, 5));
        expect(eb.map((e) => e.type).sort()).toEqual(['DRAFT_CREATED', 'DRAFT_CREATED', 'DRAFT_CREATED', 'DRAFT_CREATED', 'DRAFT_UPDATED']);
        expect(resyncs).toEqual([]); // the durable log kept its epoch: a plain resume
        expect(b.drafts.list().map((d) => d.customerName).sort()).toEqual(['Down 1', 'Down 2', 'Edited while down', 'Queued before a reload']);
        await waitUntil(() => c2.seq === 5 && a.status === 'live', 'tablet caught up');
        expect(c2.drafts.list()).toEqual(b.drafts.list());
      } finally {
        await Promise.all(clients.splice(0).map((x) => x.stop()));
        await s.app.close();
        if (where.dataDir) rmSync(where.dataDir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
