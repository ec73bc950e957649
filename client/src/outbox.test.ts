/**
 * The offline queue in isolation: order, retries with the same key, rollback on 4xx, and the
 * persistence round trip through the memory and IndexedDB (fake-indexeddb) adapters. The server
 * is a scripted `request` function here; client.e2e.test.ts runs the queue against the real one.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../cli/test/support/wait.js';
import { createOutbox, type OutboxEntry } from './outbox.js';
import { ApiError, type RestRequest } from './rest.js';
import { createIndexedDbStorage } from './storage-indexeddb.js';
import { createMemoryStorage } from './storage-memory.js';
import type { KeyValueStorage } from './storage.js';
import { Store } from './store.js';
import { draft, fakeServer, tick } from '../test/fakes.js';
import type { WriteOp } from './types.js';

type Answer = { status: number; body: unknown } | ApiError;

/** A server that answers each request from `script(req, key, attempt)` and records what it got. */
function scripted(script: (req: RestRequest, key: string, n: number) => Answer) {
  const log: { method: string; path: string; key: string; body: unknown }[] = [];
  const request = async (req: RestRequest, o: { idempotencyKey?: string } = {}) => {
    const key = o.idempotencyKey!;
    log.push({ method: req.method, path: req.path, key, body: req.body });
    await new Promise((r) => setTimeout(r, 1));
    const a = script(req, key, log.filter((l) => l.key === key).length);
    if (a instanceof ApiError) throw a;
    return { status: a.status, body: a.body as never, replayed: false, url: 'http://x' };
  };
  return { log, request };
}

function setup(script: (req: RestRequest, key: string, n: number) => Answer) {
  const server = scripted(script);
  const store = new Store({ rest: fakeServer().rest, deviceId: 'me' });
  const outbox = createOutbox({ rest: { request: server.request as never }, store, retry: { initialMs: 5, maxMs: 20 } });
  return { server, store, outbox };
}

const create = (id: string, name = 'n'): WriteOp => ({
  kind: 'draft.create',
  id,
  body: { id, customerId: 'C', customerName: name, items: [], notes: null, updatedAt: tick() },
});
const ok = (req: RestRequest): Answer => {
  const b = req.body as { id: string };
  return { status: 201, body: { draft: draft(b.id, { ...(b as object), deviceId: 'me' }), seq: 1 } };
};
const down = () => new ApiError(0, 'NETWORK', 'unreachable');

describe('outbox', () => {
  it('sends writes one at a time in order; retries 5xx and network errors with the same key until they land', async () => {
    const failures = new Map<string, number>();
    const { server, outbox } = setup((req, key, n) => {
      // Each write fails twice (503, then no answer) before it lands.
      if (n === 1) return new ApiError(503, 'UNAVAILABLE', 'draining');
      if (n === 2) return down();
      failures.set(key, n);
      return ok(req);
    });
    const results = await Promise.all(['a', 'b', 'c'].map((id) => outbox.enqueue<{ id: string }>(create(id))));
    expect(results.map((d) => d.id)).toEqual(['a', 'b', 'c']);
    const order = server.log.map((l) => (l.body as { id: string }).id);
    expect(order).toEqual(['a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c']); // b never overtakes a
    for (const id of ['a', 'b', 'c']) {
      const keys = new Set(server.log.filter((l) => (l.body as { id: string }).id === id).map((l) => l.key));
      expect(keys.size).toBe(1); // the same Idempotency-Key on every attempt
    }
    expect(outbox.pendingWrites).toEqual([]);
    expect(outbox.failing).toBe(false);
  });

  it('shows the state while failing: pendingWrites with attempts and the last error', async () => {
    let up = false;
    const { outbox } = setup((req) => (up ? ok(req) : down()));
    const p = outbox.enqueue(create('a'));
    await waitUntil(() => (outbox.pendingWrites[0]?.attempts ?? 0) >= 2, 'two attempts');
    expect(outbox.failing).toBe(true);
    expect(outbox.pendingWrites[0]).toMatchObject({ kind: 'draft.create', targets: ['a'], lastError: { status: 0, code: 'NETWORK' } });
    up = true;
    outbox.kick();
    await p;
    expect(outbox.failing).toBe(false);
  });

  it('a 4xx rejects the write with the ApiError, drops it, rolls its optimistic change back, and the queue goes on', async () => {
    const { store, outbox } = setup((req) =>
      (req.body as { id: string }).id === 'bad' ? new ApiError(409, 'STALE_WRITE', 'newer exists', undefined, { error: {}, current: draft('bad', { customerName: 'server', version: 3 }) }) : ok(req),
    );
    const seen: string[][] = [];
    store.drafts.subscribe((items) => seen.push(items.map((d) => `${d.id}:${d.customerName}`)));
    const bad = outbox.enqueue(create('bad', 'mine'));
    const good = outbox.enqueue(create('good'));
    expect(store.drafts.list().map((d) => d.customerName)).toEqual(['mine', 'n']);
    const err = await bad.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: 'STALE_WRITE' });
    await good;
    // Rolled back to the server's record (from the 409's `current`), the good write kept.
    expect(store.drafts.list().map((d) => `${d.id}:${d.customerName}`)).toEqual(['bad:server', 'good:n']);
    expect(outbox.pendingWrites).toEqual([]);
    expect(seen[0]).toEqual(['bad:mine']);
  });

  it('an update queued behind its create is sent after it, and both land', async () => {
    const { server, store, outbox } = setup((req) =>
      req.method === 'PUT' ? { status: 200, body: { draft: draft('a', { ...(req.body as object), version: 2 }), seq: 2 } } : ok(req),
    );
    const c = outbox.enqueue(create('a', 'first'));
    const u = outbox.enqueue({ kind: 'draft.update', id: 'a', body: { customerId: 'C', customerName: 'second', items: [], notes: null, updatedAt: tick() } });
    expect(store.drafts.get('a')!.customerName).toBe('second');
    await Promise.all([c, u]);
    expect(server.log.map((l) => l.method)).toEqual(['POST', 'PUT']);
    expect(store.drafts.get('a')).toMatchObject({ customerName: 'second', version: 2 });
  });

  for (const [name, make] of [
    ['memory', () => createMemoryStorage()],
    ['IndexedDB (fake-indexeddb)', () => createIndexedDbStorage({ name: `t-${Math.random()}` })],
  ] as [string, () => KeyValueStorage][]) {
    it(`persistence round trip through ${name}: a queued write survives a reload and is replayed with its key`, async () => {
      const storage = make();
      const first = setup(down);
      void first.outbox.enqueue(create('a')).catch(() => undefined);
      await waitUntil(() => first.outbox.pendingWrites[0]?.attempts === 1, 'first attempt');
      first.outbox.stop();
      await storage.set('state', { outbox: first.outbox.entries });
      const key = first.outbox.pendingWrites[0]!.key;

      // "Reload": a new queue from what was stored; the service answers now.
      const saved = await storage.get<{ outbox: OutboxEntry[] }>('state');
      const second = setup(ok);
      second.outbox.load(saved!.outbox);
      expect(second.outbox.pendingWrites.map((w) => w.key)).toEqual([key]);
      expect(second.store.drafts.get('a')).toBeDefined(); // shown before it is acknowledged
      second.outbox.kick();
      await waitUntil(() => second.outbox.pendingWrites.length === 0, 'replayed');
      expect(second.server.log.map((l) => l.key)).toEqual([key]);
      expect(second.store.drafts.get('a')!.version).toBe(1);
      await storage.close?.();
    });
  }
});
