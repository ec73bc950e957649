import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, newDraft, sleep, startService, storageVariants, TestDevice, type TestService } from './support/harness.js';

describe.each(storageVariants())('realtime delivery and resume ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    if (!skip) svc = await startService({ storage: kind, env: { BUFFER_MAX_EVENTS: '20' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  const user = () => `u-${randomUUID()}`;

  it.skipIf(skip)('HELLO comes first with epoch, latestSeq and heartbeat; PING gets PONG', async () => {
    const u = user();
    await svc.api(u).post('/api/drafts', newDraft());
    const dev = await svc.device(u, 'phone');
    await dev.waitForType('HELLO');
    const hello = dev.hello();
    expect(hello.payload).toMatchObject({ userId: u, deviceId: 'phone', latestSeq: 1, heartbeatMs: 30_000, replay: null });
    expect(hello.payload.epoch).toEqual(expect.any(String));
    expect(hello.payload.instanceId).toBe(svc.app.instanceId);
    expect(Date.parse(hello.payload.tokenExpiresAt)).toBeGreaterThan(Date.now());
    dev.send({ type: 'PING', payload: { clientTime: 1234 } });
    const [pong] = await dev.waitForType('PONG');
    expect(pong!.payload.clientTime).toBe(1234);
    expect(pong!.payload.serverTime).toEqual(expect.any(Number));
  });

  it.skipIf(skip)('every device of the user gets every event once, in seq order; another user gets nothing', async () => {
    const u = user();
    const other = user();
    const devices = await Promise.all(['a', 'b', 'c'].map((d) => svc.device(u, d)));
    const stranger = await svc.device(other, 'x');
    await Promise.all([...devices, stranger].map((d) => d.waitForType('HELLO')));
    const api = svc.api(u, { deviceId: 'a' });
    // Concurrent writes: the bus may see them out of order; devices must not.
    await Promise.all(Array.from({ length: 30 }, () => api.post('/api/drafts', newDraft())));
    for (const d of devices) {
      await d.waitForSeq(30);
      expect(d.events().map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect(d.events().every((e) => e.originDeviceId === 'a')).toBe(true);
    }
    await sleep(100);
    expect(stranger.events()).toEqual([]);
  });

  it.skipIf(skip)('a device that was away resumes with lastSeq and gets exactly what it missed, from the buffer', async () => {
    const u = user();
    const api = svc.api(u);
    const dev = await svc.device(u, 'phone');
    await dev.waitForType('HELLO');
    await api.post('/api/drafts', newDraft());
    await dev.waitForSeq(1);
    const epoch = dev.hello().payload.epoch;
    await dev.close();
    for (let i = 0; i < 5; i += 1) await api.post('/api/drafts', newDraft());
    const back = await svc.device(u, 'phone', { lastSeq: 1, epoch });
    await back.waitForSeq(6);
    expect(back.hello().payload.replay).toEqual({ fromSeq: 2, toSeq: 6, count: 5, source: 'buffer' });
    expect(back.events().map((e) => e.seq)).toEqual([2, 3, 4, 5, 6]);
    await api.post('/api/drafts', newDraft());
    await back.waitForSeq(7);
    expect(back.events().map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it.skipIf(skip)('resume beyond the ring buffer falls back to the event log', async () => {
    const u = user();
    const api = svc.api(u);
    for (let i = 0; i < 30; i += 1) await api.post('/api/drafts', newDraft()); // buffer holds 20
    const dev = await svc.device(u, 'phone', { lastSeq: 3 });
    await dev.waitForSeq(30);
    expect(dev.hello().payload.replay).toEqual({ fromSeq: 4, toSeq: 30, count: 27, source: 'log' });
    expect(dev.events().map((e) => e.seq)).toEqual(Array.from({ length: 27 }, (_, i) => i + 4));
  });

  it.skipIf(skip)('no duplicate and no hole at the seam while writes race the reconnect', async () => {
    const u = user();
    const api = svc.api(u, { deviceId: 'writer' });
    await api.post('/api/drafts', newDraft());
    let writing = true;
    let written = 1;
    const writer = (async () => {
      while (writing) {
        await api.post('/api/drafts', newDraft());
        written += 1;
      }
    })();
    const seen: number[] = [];
    let lastSeq = 0;
    for (let round = 0; round < 6; round += 1) {
      const dev = await svc.device(u, 'phone', round === 0 ? {} : { lastSeq });
      await dev.waitForType('HELLO');
      if (round === 0) lastSeq = dev.hello().payload.latestSeq;
      await sleep(40);
      dev.terminate();
      await dev.closed();
      const got = dev.events().map((e) => e.seq!);
      seen.push(...got);
      if (got.length > 0) lastSeq = got[got.length - 1]!;
    }
    writing = false;
    await writer;
    const final = await svc.device(u, 'phone', { lastSeq });
    await final.waitForSeq(written);
    seen.push(...final.events().map((e) => e.seq!));
    const start = seen[0]!;
    expect(seen).toEqual(Array.from({ length: written - start + 1 }, (_, i) => start + i));
  });

  it.skipIf(skip)('RESYNC_REQUIRED: lastSeq ahead, a foreign epoch, a gap beyond retention; the socket stays live', async () => {
    const u = user();
    const api = svc.api(u);
    await api.post('/api/drafts', newDraft());
    const ahead = await svc.device(u, 'p1', { lastSeq: 99 });
    const [r1] = await ahead.waitForType('RESYNC_REQUIRED');
    expect(ahead.frames[0]!.type).toBe('HELLO');
    expect(ahead.hello().payload.replay).toBeNull();
    expect(r1!.payload).toMatchObject({ reason: 'ahead', latestSeq: 1 });

    const foreign = await svc.device(u, 'p2', { lastSeq: 1, epoch: 'some-other-epoch' });
    const [r2] = await foreign.waitForType('RESYNC_REQUIRED');
    expect(r2!.payload).toMatchObject({ reason: 'epoch_changed', latestSeq: 1, epoch: foreign.hello().payload.epoch });

    await api.post('/api/drafts', newDraft());
    for (const d of [ahead, foreign]) {
      await d.waitForSeq(2);
      expect(d.events().map((e) => e.seq)).toEqual([2]);
    }
  });

  it.skipIf(skip)('a gap older than the log keeps gets RESYNC_REQUIRED evicted, then a list fetch lets the device continue', async () => {
    const u = user();
    const api = svc.api(u);
    for (let i = 0; i < 3; i += 1) await api.post('/api/drafts', newDraft());
    // Retention pruned the log's oldest events (what the prune job does past its retention).
    await pruneEvents(svc, u, 3);
    const dev = await svc.device(u, 'phone', { lastSeq: 0 });
    const [r] = await dev.waitForType('RESYNC_REQUIRED');
    expect(r!.payload).toMatchObject({ reason: 'evicted', latestSeq: 3 });
    const list = await api.get('/api/drafts');
    expect(list.body.items).toHaveLength(3);
    expect(list.body.seq).toBe(3);
    await api.post('/api/drafts', newDraft());
    await dev.waitForSeq(4);
    expect(dev.events().map((e) => e.seq)).toEqual([4]);
  });

  it.skipIf(skip)('RESUME on a live socket resends everything after lastSeq, in order', async () => {
    const u = user();
    const api = svc.api(u);
    const dev = await svc.device(u, 'phone');
    await dev.waitForType('HELLO');
    for (let i = 0; i < 4; i += 1) await api.post('/api/drafts', newDraft());
    await dev.waitForSeq(4);
    dev.send({ type: 'RESUME', payload: { lastSeq: 1 } });
    await dev.waitFor((fs) => fs.filter((f) => f.seq !== undefined).length >= 7, 5_000, 'resent events');
    expect(dev.events().map((e) => e.seq)).toEqual([1, 2, 3, 4, 2, 3, 4]);
    await api.post('/api/drafts', newDraft());
    await dev.waitForSeq(5);
    expect(dev.events().map((e) => e.seq).slice(-1)).toEqual([5]);
  });

  it.skipIf(skip)('frames sent before HELLO are answered after it: HELLO is always the first frame', async () => {
    const u = user();
    const api = svc.api(u);
    for (let i = 0; i < 30; i += 1) await api.post('/api/drafts', newDraft()); // the replay comes from the log
    const renewed = await mintToken(u);
    const dev = await TestDevice.connect(svc.wsUrl, await mintToken(u), { deviceId: 'eager', lastSeq: 0 });
    // At once on open, while the server is still reading the log for the replay.
    dev.send({ type: 'PING', payload: { clientTime: 1 } });
    dev.send('not json');
    dev.send({ type: 'AUTH', payload: { token: renewed } });
    await dev.waitForType('AUTH_OK');
    await dev.waitForType('ERROR');
    await dev.waitForType('PONG');
    expect(dev.frames[0]!.type).toBe('HELLO');
    await dev.waitForSeq(30);
    expect(dev.events().map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    dev.terminate();
  });

  it.skipIf(skip)('RESUME spam: beyond 5 per 10 s it is refused with RATE_LIMITED and counts as abuse (1008)', async () => {
    const u = user();
    const api = svc.api(u);
    for (let i = 0; i < 3; i += 1) await api.post('/api/drafts', newDraft());
    const dev = await svc.device(u, 'phone', { lastSeq: 3 });
    await dev.waitForType('HELLO');
    for (let i = 0; i < 20; i += 1) dev.send({ type: 'RESUME', payload: { lastSeq: 0 } });
    expect(await dev.closed()).toBe(1008);
    const errors = dev.ofType('ERROR');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.payload.code === 'RATE_LIMITED')).toBe(true);
    // Only the RESUMEs within the limit made the server read the log again (3 events each at most).
    expect(dev.events().length).toBeLessThanOrEqual(5 * 3);
  });

  it.skipIf(skip)('bad client frames get ERROR; repeated abuse closes with 1008', async () => {
    const dev = await svc.device(user(), 'phone');
    await dev.waitForType('HELLO');
    dev.send('not json');
    dev.send({ type: 'NOPE' });
    const errs = await dev.waitForType('ERROR', 2);
    expect(errs[0]!.payload.code).toBe('BAD_FRAME');
    for (let i = 0; i < 12; i += 1) dev.send('x');
    expect(await dev.closed()).toBe(1008);
  });

  it.skipIf(skip)('an oversized frame closes with 1009', async () => {
    const dev = await svc.device(user(), 'phone');
    await dev.waitForType('HELLO');
    dev.send({ type: 'PING', payload: { pad: 'x'.repeat(70 * 1024) } });
    expect(await dev.closed()).toBe(1009);
  });

  it.skipIf(skip)('a missing or invalid deviceId is refused with 400 before the upgrade', async () => {
    const token = await mintToken(user());
    await expect(TestDevice.connect(svc.wsUrl, token, {})).rejects.toMatchObject({ status: 400 });
    await expect(TestDevice.connect(svc.wsUrl, token, { deviceId: 'bad id!' })).rejects.toMatchObject({ status: 400 });
  });

  it.skipIf(skip)('JOB events arrive on every device; JOB_PROGRESS is transient (no seq, not replayed)', async () => {
    const u = user();
    const api = svc.api(u);
    const dev = await svc.device(u, 'phone');
    await dev.waitForType('HELLO');
    const d = newDraft();
    await api.post('/api/drafts', d);
    const conv = await api.post(`/api/drafts/${d.id}/convert`);
    const sub = await api.post(`/api/pending-orders/${conv.body.pendingOrderId}/submit`);
    expect(sub.status).toBe(202);
    const [resolved] = await dev.waitForType('ORDER_NUMBERS_RESOLVED');
    const progress = dev.ofType('JOB_PROGRESS');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p.seq === undefined)).toBe(true);
    const mapping = resolved!.payload.mappings[0];
    expect(mapping.orderId).toBe(conv.body.pendingOrderId);
    await dev.waitForType('PENDING_UPDATED', 2); // `submitting` at the submit, `submitted` at the end
    const types = dev.events().map((e) => e.type);
    expect(types).toEqual(['DRAFT_CREATED', 'DRAFT_CONVERTED', 'PENDING_CREATED', 'PENDING_UPDATED', 'JOB_STARTED', 'JOB_COMPLETED', 'ORDER_NUMBERS_RESOLVED', 'PENDING_UPDATED']);
    const replayed = await svc.device(u, 'tablet', { lastSeq: 0 });
    await replayed.waitForSeq(8);
    expect(replayed.ofType('JOB_PROGRESS')).toEqual([]);
    const order = await api.get(`/api/pending-orders/${conv.body.pendingOrderId}`);
    expect(order.body).toMatchObject({ status: 'submitted', erpOrderNumber: mapping.erpOrderNumber });
    const job = await api.get(`/api/jobs/${sub.body.jobId}`);
    expect(job.body).toMatchObject({ state: 'completed', orderId: conv.body.pendingOrderId });
    expect((await svc.api(user()).get(`/api/jobs/${sub.body.jobId}`)).status).toBe(404);
  });
});

async function pruneEvents(svc: TestService, userId: string, expectedSeq: number): Promise<void> {
  // What the maintenance job does past the retention: here everything committed so far is "old".
  const removed = await svc.storage.pruneEvents(new Date(Date.now() + 1000));
  expect(removed).toBeGreaterThanOrEqual(expectedSeq);
  expect(await svc.storage.oldestSeq(userId)).toBeNull();
}

describe.each(storageVariants())('old clients resuming by time ($kind)', ({ kind, skip }) => {
  it.skipIf(skip)('lastEventTs older than the log keeps gets RESYNC_REQUIRED evicted, never a partial replay', async () => {
    const svc = await startService({ storage: kind });
    try {
      const u = `u-${randomUUID()}`;
      const api = svc.api(u);
      await api.post('/api/drafts', newDraft());
      await api.post('/api/drafts', newDraft());
      await sleep(20);
      const cutoff = new Date().toISOString();
      await sleep(20);
      await api.post('/api/drafts', newDraft());
      await sleep(20);
      await api.post('/api/drafts', newDraft());
      // The maintenance job, past its retention, pruned seq 1..3: seq 3 came after the cutoff.
      const [, , , fourth] = await svc.storage.readEvents(u, 0, 4, 10);
      await svc.storage.pruneEvents(new Date(fourth!.timestamp));
      expect(await svc.storage.oldestSeq(u)).toBe(4);
      const back = await svc.device(u, 'old', { lastEventTs: cutoff });
      const [resync] = await back.waitForType('RESYNC_REQUIRED');
      expect(resync!.payload).toMatchObject({ reason: 'evicted', latestSeq: 4 });
      expect(back.hello().payload).toMatchObject({ latestSeq: 4, replay: null });
      // Once everything is pruned the log says nothing about that time either.
      await svc.storage.pruneEvents(new Date(Date.now() + 1000));
      const again = await svc.device(u, 'old', { lastEventTs: cutoff });
      const [resync2] = await again.waitForType('RESYNC_REQUIRED');
      expect(resync2!.payload).toMatchObject({ reason: 'evicted', latestSeq: 4 });
      await api.post('/api/drafts', newDraft());
      await back.waitForSeq(5);
      await again.waitForSeq(5);
      expect(back.events().map((e) => e.seq)).toEqual([5]);
      expect(again.events().map((e) => e.seq)).toEqual([5]);
    } finally {
      await svc.close();
    }
  });

  it.skipIf(skip)('lastEventTs replays the events committed after that time', async () => {
    const svc = await startService({ storage: kind });
    try {
      const u = `u-${randomUUID()}`;
      const api = svc.api(u);
      await api.post('/api/drafts', newDraft());
      await api.post('/api/drafts', newDraft());
      const dev = await svc.device(u, 'old', {});
      await dev.waitForType('HELLO');
      await sleep(20);
      const cutoff = new Date().toISOString();
      dev.terminate();
      await sleep(20);
      await api.post('/api/drafts', newDraft());
      await api.post('/api/drafts', newDraft());
      const back = await svc.device(u, 'old', { lastEventTs: cutoff });
      await back.waitForSeq(4);
      expect(back.events().map((e) => e.seq)).toEqual([3, 4]);
      expect(back.hello().payload.replay).toMatchObject({ fromSeq: 3, toSeq: 4, count: 2 });
    } finally {
      await svc.close();
    }
  });
});
