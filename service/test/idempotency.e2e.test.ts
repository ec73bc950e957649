/**
 * Idempotent writes (DESIGN §12) against the running service, on PGlite and on PostgreSQL: replays
 * answer the same bytes and emit nothing, reuse is 422, a running key is 409, the key commits with
 * its change (and only with it), and expiry lets a key run again.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaintenance } from '../src/features/jobs/maintenance.js';
import { requestFingerprint } from '../src/http/idempotency.js';
import { later, newDraft, sleep, startService, storageVariants, type TestDevice, type TestService } from './support/harness.js';

interface Sent {
  status: number;
  body: any;
  text: string;
  replayed: string | null;
}

/** One request with exact bytes: `raw` is sent as it is (the fingerprint hashes what is received). */
async function send(
  svc: TestService,
  userId: string,
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; key?: string } = {},
): Promise<Sent> {
  const raw = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(svc.url + path, {
    method,
    headers: {
      authorization: `Bearer ${await svc.token(userId)}`,
      'x-device-id': 'writer',
      ...(raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.key !== undefined ? { 'idempotency-key': opts.key } : {}),
    },
    body: raw,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text, replayed: res.headers.get('idempotent-replayed') };
}

const headSeq = async (svc: TestService, u: string): Promise<number> => (await send(svc, u, 'GET', '/api/drafts')).body.seq;

/** Send, then repeat with the same key and bytes: the repeat is the same answer, no event, seq unchanged. */
async function expectReplay(svc: TestService, u: string, dev: TestDevice, method: string, path: string, opts: { body?: unknown; key: string }) {
  const first = await send(svc, u, method, path, opts);
  expect(first.status, `${method} ${path}: ${first.text}`).toBeLessThan(300);
  expect(first.replayed).toBeNull();
  const seq = await headSeq(svc, u);
  if (seq > 0) await dev.waitForSeq(seq);
  const seen = dev.events().length;
  const again = await send(svc, u, method, path, opts);
  expect(again.status).toBe(first.status);
  expect(again.text).toBe(first.text); // the same bytes
  expect(again.replayed).toBe('true');
  expect(await headSeq(svc, u)).toBe(seq);
  return { first, seen };
}

describe.each(storageVariants())('idempotent writes ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    if (!skip) svc = await startService({ storage: kind, logLevel: 'warn', env: { ERP_FAILURE_RATE: '0' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it.skipIf(skip)('every write route replays its answer with Idempotent-Replayed, no new event, seq unchanged, no second job', async () => {
    const u = `u-${randomUUID()}`;
    const dev = await svc.device(u, 'observer');
    await dev.waitForType('HELLO');
    const d = newDraft();
    const create = await expectReplay(svc, u, dev, 'POST', '/api/drafts', { body: d, key: 'create-1' });
    expect(create.first.status).toBe(201);
    await expectReplay(svc, u, dev, 'PUT', `/api/drafts/${d.id}`, { body: { ...d, notes: 'n', updatedAt: later(d.updatedAt) }, key: 'put-1' });

    const d2 = newDraft();
    expect((await send(svc, u, 'POST', '/api/drafts', { body: d2 })).status).toBe(201);
    const convert = await expectReplay(svc, u, dev, 'POST', `/api/drafts/${d2.id}/convert`, { key: 'convert-1' });
    expect(convert.first.status).toBe(201); // without the key a repeat would be 200: this is the kept answer

    const orders = [newDraft(), newDraft()];
    const upsert = await expectReplay(svc, u, dev, 'POST', '/api/pending-orders', { body: { orders }, key: 'upsert-1' });
    expect(upsert.first.body.results.map((r: { action: string }) => r.action)).toEqual(['created', 'created']);

    // Submit: its job emits events of its own, so seq moves on; the replay must not add a job.
    const submitPath = `/api/pending-orders/${orders[0]!.id}/submit`;
    const submit = await send(svc, u, 'POST', submitPath, { key: 'submit-1' });
    const submitAgain = await send(svc, u, 'POST', submitPath, { key: 'submit-1' });
    expect([submit.status, submit.replayed, submitAgain.status, submitAgain.text, submitAgain.replayed]).toEqual([202, null, 202, submit.text, 'true']);
    const jobId = submit.body.jobId as string;
    await dev.waitForType('ORDER_NUMBERS_RESOLVED');
    // Once submitted, the key still answers its 202 (a repeat without it gets 409 ALREADY_SUBMITTED).
    const late = await send(svc, u, 'POST', submitPath, { key: 'submit-1' });
    expect([late.status, late.body, late.replayed]).toEqual([202, { jobId }, 'true']);
    expect((await send(svc, u, 'POST', submitPath)).body.error.code).toBe('ALREADY_SUBMITTED');

    await expectReplay(svc, u, dev, 'DELETE', `/api/drafts/${d.id}`, { key: 'delete-1' });
    const delPending = await expectReplay(svc, u, dev, 'DELETE', `/api/pending-orders/${orders[1]!.id}`, { key: 'delete-2' });
    expect(delPending.first.status).toBe(200); // without the key the repeat would be 404

    await sleep(200);
    expect(dev.events().map((e) => e.type)).toEqual([
      'DRAFT_CREATED', 'DRAFT_UPDATED', 'DRAFT_CREATED', 'DRAFT_CONVERTED', 'PENDING_CREATED', 'PENDING_CREATED',
      'PENDING_UPDATED', 'JOB_STARTED', 'JOB_COMPLETED', 'ORDER_NUMBERS_RESOLVED', 'PENDING_UPDATED', 'DRAFT_DELETED', 'PENDING_DELETED',
    ]);
    expect(dev.events().map((e) => e.seq)).toEqual(dev.events().map((_, i) => i + 1));
    expect(dev.ofType('JOB_STARTED').map((f) => f.payload.jobId)).toEqual([jobId]);
    expect(await svc.app.jobs.getJob(u, jobId)).toMatchObject({ state: 'completed', attemptsMade: 1 });
  });

  it.skipIf(skip)('the same key with another body, path or method is 422 IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const u = `u-${randomUUID()}`;
    const d = newDraft();
    const raw = JSON.stringify(d);
    expect((await send(svc, u, 'POST', '/api/drafts', { raw, key: 'k' })).status).toBe(201);
    const seq = await headSeq(svc, u);
    const reuses: [string, string, string | undefined][] = [
      ['POST', '/api/drafts', JSON.stringify({ ...d, notes: 'other' })],
      ['POST', '/api/drafts', JSON.stringify(d, null, 2)], // the same JSON, other bytes: not the same request
      ['PUT', `/api/drafts/${d.id}`, raw],
      ['DELETE', `/api/drafts/${d.id}`, undefined],
      ['POST', `/api/drafts/${d.id}/convert`, undefined],
    ];
    for (const [method, path, body] of reuses) {
      const r = await send(svc, u, method, path, { raw: body, key: 'k' });
      expect([r.status, r.body.error.code], `${method} ${path}`).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    }
    expect(await headSeq(svc, u)).toBe(seq);
    expect((await send(svc, u, 'GET', `/api/drafts/${d.id}`)).body).toMatchObject({ deleted: false, notes: null, version: 1 });
    expect((await send(svc, u, 'POST', '/api/drafts', { raw, key: 'k' })).replayed).toBe('true');
  });

  it.skipIf(skip)('a repeat while the first is still running is 409 IDEMPOTENCY_KEY_IN_USE, then the replay', async () => {
    const u = `u-${randomUUID()}`;
    const d = newDraft();
    // Hold the user's write lock (PGlite: the one connection) so the first request waits inside its unit of work.
    // Wait until it holds the lock: on a loaded machine the first request could otherwise get there first and finish.
    let release!: () => void;
    let locked!: () => void;
    const holding = new Promise<void>((r) => (locked = r));
    const held = svc.storage.unitOfWork(u, () => {
      locked();
      return new Promise<void>((r) => (release = r));
    });
    await holding;
    const a = send(svc, u, 'POST', '/api/drafts', { body: d, key: 'slow' });
    await sleep(100);
    const b = send(svc, u, 'POST', '/api/drafts', { body: d, key: 'slow' });
    // Whichever reached the guard first waits on the lock; the other is answered at once.
    const early = await Promise.race([a, b]);
    expect([early.status, early.body.error.code]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
    const other = await send(svc, u, 'POST', '/api/drafts', { body: { ...d, notes: 'x' }, key: 'slow' });
    expect([other.status, other.body.error.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    release();
    await held;
    const answers = await Promise.all([a, b]);
    expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
    const done = answers.find((r) => r.status === 201)!;
    expect(done.replayed).toBeNull();
    const after = await send(svc, u, 'POST', '/api/drafts', { body: d, key: 'slow' });
    expect([after.status, after.text, after.replayed]).toEqual([201, done.text, 'true']);
  });

  it.skipIf(skip)('a bad key is 400 and nothing is written; 255 printable characters are fine', async () => {
    const u = `u-${randomUUID()}`;
    // (Other control characters, DEL included, never get this far: HTTP clients and Node's parser refuse them.)
    for (const key of ['', 'x'.repeat(256), 'tab\there', 'caf\u00e9']) {
      const d = newDraft();
      const r = await send(svc, u, 'POST', '/api/drafts', { body: d, key });
      expect([r.status, r.body.error.code], JSON.stringify(key)).toEqual([400, 'VALIDATION_FAILED']);
      expect(r.body.error.message).toContain('Idempotency-Key');
      expect((await send(svc, u, 'GET', `/api/drafts/${d.id}`)).status).toBe(404);
    }
    const key = `~ !${'k'.repeat(252)}`;
    const d = newDraft();
    expect((await send(svc, u, 'POST', '/api/drafts', { body: d, key })).status).toBe(201);
    expect((await send(svc, u, 'POST', '/api/drafts', { body: d, key })).replayed).toBe('true');
  });

  it.skipIf(skip)('keys are scoped to the user: two users with the same key are independent', async () => {
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    const [da, db] = [newDraft(), newDraft({ customerName: 'Bianchi' })];
    const ra = await send(svc, a, 'POST', '/api/drafts', { body: da, key: 'shared' });
    const rb = await send(svc, b, 'POST', '/api/drafts', { body: db, key: 'shared' });
    expect([ra.status, rb.status, rb.replayed]).toEqual([201, 201, null]);
    expect((await send(svc, b, 'POST', '/api/drafts', { body: db, key: 'shared' })).body.draft.customerName).toBe('Bianchi');
    expect((await send(svc, a, 'GET', `/api/drafts/${db.id}`)).status).toBe(404);
  });

  it.skipIf(skip)('a refused write keeps no key: the retry is evaluated afresh', async () => {
    const u = `u-${randomUUID()}`;
    const o = newDraft();
    const gone = await send(svc, u, 'DELETE', `/api/pending-orders/${o.id}`, { key: 'del' });
    expect(gone.status).toBe(404);
    await send(svc, u, 'POST', '/api/pending-orders', { body: { orders: [o] } });
    const retry = await send(svc, u, 'DELETE', `/api/pending-orders/${o.id}`, { key: 'del' });
    expect([retry.status, retry.replayed]).toEqual([200, null]);
  });

  it.skipIf(skip)('submit after a crash between commit and enqueue: the replay (or a repeat without key) enqueues the same job once', async () => {
    const u = `u-${randomUUID()}`;
    const dev = await svc.device(u, 'observer');
    await dev.waitForType('HELLO');
    const [o1, o2] = [newDraft(), newDraft()];
    await send(svc, u, 'POST', '/api/pending-orders', { body: { orders: [o1, o2] } });
    // What a submit commits before it enqueues: the order `submitting` with its job id, and its key.
    const crashed = async (orderId: string, key: string | null) => {
      const jobId = randomUUID();
      await svc.storage.unitOfWork(u, async (tx) => {
        const [order] = await tx.getPendingOrders([orderId]);
        await tx.savePendingOrders([{ ...order!, status: 'submitting', jobId }]);
        const fingerprint = requestFingerprint('POST', `/api/pending-orders/${orderId}/submit`, undefined);
        if (key) await tx.saveIdempotencyKey({ key, fingerprint, status: 202, body: { jobId } });
      });
      return jobId;
    };
    const j1 = await crashed(o1.id, 'sub-1');
    const j2 = await crashed(o2.id, null);
    const r1 = await send(svc, u, 'POST', `/api/pending-orders/${o1.id}/submit`, { key: 'sub-1' });
    expect([r1.status, r1.body, r1.replayed]).toEqual([202, { jobId: j1 }, 'true']);
    const r2 = await send(svc, u, 'POST', `/api/pending-orders/${o2.id}/submit`);
    expect([r2.status, r2.body]).toEqual([202, { jobId: j2 }]);
    await dev.waitForType('ORDER_NUMBERS_RESOLVED', 2, 10_000);
    expect(await send(svc, u, 'POST', `/api/pending-orders/${o1.id}/submit`, { key: 'sub-1' })).toMatchObject({ status: 202, body: { jobId: j1 } });
    await sleep(200);
    expect(dev.ofType('JOB_STARTED').map((f) => f.payload.jobId).sort()).toEqual([j1, j2].sort());
  });
});

describe.each(storageVariants())('idempotency key expiry ($kind)', ({ kind, skip }) => {
  it.skipIf(skip)('a key older than IDEMPOTENCY_TTL_MS counts as absent and is pruned by maintenance', async () => {
    const ttlMs = 2_000; // long enough for a request and its replay on a loaded machine
    const svc = await startService({ storage: kind, logLevel: 'warn', env: { IDEMPOTENCY_TTL_MS: String(ttlMs) } });
    try {
      const u = `u-${randomUUID()}`;
      const d = newDraft();
      expect((await send(svc, u, 'POST', '/api/drafts', { body: d, key: 'short' })).status).toBe(201);
      await sleep(ttlMs + 100);
      // Expired: the same key now runs a different request instead of answering 422.
      const next = { ...d, notes: 'after expiry', updatedAt: later(d.updatedAt) };
      const r = await send(svc, u, 'POST', '/api/drafts', { body: next, key: 'short' });
      expect([r.status, r.replayed, r.body.draft.notes]).toEqual([200, null, 'after expiry']);
      expect((await send(svc, u, 'POST', '/api/drafts', { body: next, key: 'short' })).replayed).toBe('true');
      await sleep(ttlMs + 100);
      const maintenance = createMaintenance({
        storage: svc.storage,
        log: pino({ level: 'silent' }),
        retention: { eventsMs: 3_600_000, tombstonesMs: 3_600_000, intervalMs: 0 },
        idempotencyTtlMs: ttlMs,
      });
      expect((await maintenance()).idempotencyKeys).toBeGreaterThanOrEqual(1);
      expect(await svc.storage.pruneIdempotencyKeys(new Date(Date.now() - ttlMs))).toBe(0);
    } finally {
      await svc.close();
    }
  });
});

describe.each(storageVariants().filter((v) => v.kind === 'postgres'))('the key is in the change\'s transaction ($kind)', ({ skip }) => {
  let svc: TestService;
  let db: pg.Client;
  beforeAll(async () => {
    if (skip) return;
    svc = await startService({ storage: 'postgres', logLevel: 'fatal' });
    db = new pg.Client({ connectionString: svc.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await svc?.close();
  });
  const keysOf = async (u: string) => (await db.query('SELECT key FROM idempotency_keys WHERE user_id = $1', [u])).rows.map((r) => r.key);

  it.skipIf(skip)('a request failing inside its transaction leaves neither its key nor its change; the retry runs afresh', async () => {
    const u = `u-${randomUUID()}`;
    const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
    // Fail the key's insert (after the change is written), then the events' insert (after the key is written).
    await db.query(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$`);
    for (const table of ['idempotency_keys', 'events']) {
      await db.query(`CREATE TRIGGER boom BEFORE INSERT ON ${table} FOR EACH ROW WHEN (NEW.user_id = ${lit(u)}) EXECUTE FUNCTION boom()`);
      const d = newDraft();
      const r = await send(svc, u, 'POST', '/api/drafts', { body: d, key: `k-${table}` });
      expect(r.status).toBe(500);
      expect((await send(svc, u, 'GET', `/api/drafts/${d.id}`)).status).toBe(404);
      expect(await keysOf(u)).not.toContain(`k-${table}`);
      await db.query(`DROP TRIGGER boom ON ${table}`);
      const retry = await send(svc, u, 'POST', '/api/drafts', { body: d, key: `k-${table}` });
      expect([retry.status, retry.replayed]).toEqual([201, null]);
    }
    await db.query('DROP FUNCTION boom()');
    expect((await keysOf(u)).sort()).toEqual(['k-events', 'k-idempotency_keys']);
    expect(await headSeq(svc, u)).toBe(2);
  });

  it.skipIf(skip)('a concurrent repeat on another instance waits for the lock and gets the replay, not a second change', async () => {
    const other = await startService({ storage: 'postgres', databaseUrl: svc.databaseUrl, logLevel: 'fatal' });
    const lock = new pg.Client({ connectionString: svc.databaseUrl });
    await lock.connect();
    try {
      const u = `u-${randomUUID()}`;
      await svc.storage.logHead(u); // the user's log row, to lock
      await lock.query('BEGIN');
      await lock.query('SELECT 1 FROM user_logs WHERE user_id = $1 FOR UPDATE', [u]);
      const d = newDraft();
      const both = [svc, other].map((s) => send(s, u, 'POST', '/api/drafts', { body: d, key: 'twice' }));
      await sleep(300); // both wait on the user's row lock
      await lock.query('COMMIT');
      const answers = await Promise.all(both);
      expect(answers.map((a) => a.status)).toEqual([201, 201]);
      expect(answers.map((a) => a.replayed).sort()).toEqual(['true', null].sort());
      expect(answers[0]!.text).toBe(answers[1]!.text);
      // One change, one event (the instances have separate in-process buses, so read the log itself).
      expect((await svc.storage.readEvents(u, 0, 100, 100)).map((e) => e.type)).toEqual(['DRAFT_CREATED']);
      expect(await keysOf(u)).toEqual(['twice']);
    } finally {
      await lock.end();
      await other.close();
    }
  });
});
