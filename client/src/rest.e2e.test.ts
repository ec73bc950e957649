/**
 * The REST client against the real service (PGlite): error shapes, network vs timeout, failover,
 * token renewal on 401, Idempotency-Key on writes, the batch read.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPortUrl } from '../../cli/test/support/run-cli.js';
import { mintToken, startService, type TestService } from '../../service/test/support/harness.js';
import { ApiError, createRestClient, isRetryable } from './rest.js';

const input = (name = 'Rossi') => ({ customerId: 'C-1', customerName: name, items: [{ productId: 'P-1', quantity: 1 }] });

describe('REST client against the real service', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', logLevel: 'warn' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('covers the routes with typed answers; the batch read returns only the named orders that exist', async () => {
    const u = `u-${randomUUID().slice(0, 8)}`;
    const rest = createRestClient({ url: svc.url, getToken: () => mintToken(u), deviceId: 'cli' });
    const { draft } = await rest.drafts.create(input());
    expect(await rest.drafts.get(draft.id)).toEqual(draft);
    const { draft: updated } = await rest.drafts.update(draft.id, { ...input('Rossi 2'), notes: null, updatedAt: new Date(Date.now() + 1000).toISOString() });
    expect(updated.version).toBe(2);
    const conv = await rest.drafts.convert(draft.id);
    const [a, b] = [randomUUID(), randomUUID()];
    const up = await rest.pendingOrders.upsert([{ id: a, ...input('A') }, { id: b, ...input('B') }]);
    expect(up.results.map((r) => r.action)).toEqual(['created', 'created']);
    await rest.pendingOrders.remove(b);
    const many = await rest.pendingOrders.getMany([a, b, conv.pendingOrderId]);
    expect(many.items.map((o) => o.id).sort()).toEqual([a, conv.pendingOrderId].sort());
    expect(many.seq).toEqual(expect.any(Number));
    const { jobId } = await rest.pendingOrders.submit(a);
    expect((await rest.jobs.get(jobId)).orderId).toBe(a);
    expect((await rest.pendingOrders.list()).items).toHaveLength(2);
    expect((await rest.drafts.list()).items).toEqual([]);
    expect((await rest.drafts.list({ includeDeleted: true })).items[0]).toMatchObject({ id: draft.id, convertedTo: conv.pendingOrderId });
  });

  it('a refusal is an ApiError with the server’s status, code, message and body', async () => {
    const rest = createRestClient({ url: svc.url, getToken: () => mintToken('u-err') });
    const err = await rest.drafts.get(randomUUID()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, code: 'NOT_FOUND', message: 'Draft not found' });
    const bad = await rest.drafts.create({ ...input(''), id: randomUUID() }).catch((e: ApiError) => e);
    expect(bad).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', details: expect.anything() });
    expect(isRetryable(bad)).toBe(false);
  });

  it('on 401 it asks for a token once more and retries', async () => {
    let calls = 0;
    const rest = createRestClient({
      url: svc.url,
      getToken: () => (calls++ === 0 ? mintToken('u-401', { secret: 'not-the-secret-0123456789-0123456789-x' }) : mintToken('u-401')),
    });
    expect((await rest.drafts.list()).items).toEqual([]);
    expect(calls).toBe(2);
  });

  it('fails over to the next URL on a network error, with the same Idempotency-Key', async () => {
    const keys: (string | null)[] = [];
    const rest = createRestClient({
      url: [await closedPortUrl(), svc.url],
      getToken: () => mintToken('u-failover'),
      fetch: (i, init) => {
        keys.push((init?.headers as Record<string, string>)['idempotency-key'] ?? null);
        return fetch(i, init);
      },
    });
    const r = await rest.request({ method: 'POST', path: '/api/drafts', body: { id: randomUUID(), ...input(), updatedAt: new Date().toISOString() } });
    expect(r.status).toBe(201);
    expect(r.url).toBe(svc.url);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toEqual(expect.any(String));
    expect(keys[1]).toBe(keys[0]);
  });

  it('after a timeout the next attempt goes to the next URL, and a write retried there lands once', async () => {
    const sockets: Socket[] = [];
    const hung = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const hungUrl = `http://127.0.0.1:${(hung.address() as { port: number }).port}`;
      const rest = createRestClient({ url: [hungUrl, svc.url], getToken: () => mintToken('u-hung'), timeoutMs: 300 });
      const draft = { id: randomUUID(), ...input(), updatedAt: new Date().toISOString() };
      const key = randomUUID();
      const req = { method: 'POST' as const, path: '/api/drafts', body: draft };
      await expect(rest.request(req, { idempotencyKey: key })).rejects.toMatchObject({ status: 0, code: 'TIMEOUT' });
      const retried = await rest.request(req, { idempotencyKey: key });
      expect(retried).toMatchObject({ status: 201, url: svc.url });
      // It stays on the instance that answers.
      expect((await rest.request({ method: 'GET', path: '/api/drafts' })).url).toBe(svc.url);
      const list = await rest.drafts.list();
      expect(list.items.filter((d) => d.id === draft.id)).toHaveLength(1);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => hung.close(() => r()));
    }
  });

  it('no server is NETWORK, a server that never answers is TIMEOUT: both status 0, both retryable', async () => {
    const net = createRestClient({ url: await closedPortUrl(), getToken: () => 't' });
    await expect(net.drafts.list()).rejects.toMatchObject({ status: 0, code: 'NETWORK' });
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as { port: number }).port;
      const slow = createRestClient({ url: `http://127.0.0.1:${port}`, getToken: () => 't', timeoutMs: 200 });
      const err = await slow.drafts.list().catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 0, code: 'TIMEOUT' });
      expect(isRetryable(err)).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
