import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDraft, sleep, startService, storageVariants, TestDevice, type TestService } from './support/harness.js';

const rawSocket = (ws: unknown) => (ws as { _socket: Socket })._socket;

describe.each(storageVariants())('back-pressure and heartbeat ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    if (!skip) {
      svc = await startService({
        storage: kind,
        env: { WS_SEND_BUFFER_LIMIT_BYTES: '262144', BUFFER_MAX_EVENTS: '1000' },
      });
    }
  });
  afterAll(async () => {
    await svc?.close();
  });

  it.skipIf(skip)('a device that stops reading is closed with 4429 instead of growing memory, then replays everything', async () => {
    const u = `u-${randomUUID()}`;
    const api = svc.api(u);
    const slow = await svc.device(u, 'slow');
    await slow.waitForType('HELLO');
    const epoch = slow.hello().payload.epoch;
    rawSocket(slow.ws).pause(); // the device stops reading: the server's send buffer grows
    const bigItems = Array.from({ length: 1000 }, (_, i) => ({ productId: `P-${i}-${'x'.repeat(60)}`, quantity: 1 }));
    let writes = 0;
    for (; writes < 400 && slow.closeCode === null; writes += 1) {
      await api.post('/api/drafts', newDraft({ items: bigItems }));
      if (writes % 20 === 19) {
        const conns = (await svc.api('ops', { admin: true }).get(`/api/admin/connections?userId=${u}`)).body;
        if (conns.count === 0) break;
      }
    }
    rawSocket(slow.ws).resume();
    expect(await slow.closed(10_000)).toBe(4429);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/rt_slow_consumer_closes_total\{[^}]*\} [1-9]/);
    const lastSeq = slow.events().at(-1)?.seq ?? 0;
    const again = await svc.device(u, 'slow', { lastSeq, epoch });
    const total = (await api.get('/api/drafts')).body.seq as number;
    await again.waitForSeq(total, 20_000);
    const seqs = [...slow.events(), ...again.events()].map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  }, 60_000);

  it.skipIf(skip)('a device that does not read its replay is closed with 4429 (the replay never piles up in memory), then resumes', async () => {
    const svc = await startService({
      storage: kind,
      // 2 s without a write callback is a stall: the paused device below is one, while the resumed
      // device, parsing 2 MB frames in a test process that shares the machine with the whole suite,
      // may take half a second between reads (500 ms here closed it too, under the full suite's load).
      env: { WS_SEND_BUFFER_LIMIT_BYTES: '262144', WS_REPLAY_STALL_MS: '2000', MAX_BODY_BYTES: String(4 * 1024 * 1024) },
    });
    try {
      const u = `u-${randomUUID()}`;
      const api = svc.api(u);
      // ~2 MB per event, ~24 MB of replay: far more than the kernel's socket buffers take.
      const bigItems = Array.from({ length: 1000 }, (_, i) => ({ productId: `P-${i}`, quantity: 1, notes: 'n'.repeat(2000) }));
      const total = 12;
      for (let i = 0; i < total; i += 1) expect((await api.post('/api/drafts', newDraft({ items: bigItems }))).status).toBe(201);
      const slow = await TestDevice.connect(svc.wsUrl, await svc.token(u), { deviceId: 'slow', lastSeq: 0 });
      rawSocket(slow.ws).pause(); // reads nothing: the replay must not all be written into the server's memory
      const metrics = () => fetch(`${svc.url}/metrics`).then((r) => r.text());
      let closedByServer = false;
      for (let i = 0; i < 300 && !closedByServer; i += 1) {
        await sleep(50);
        closedByServer = /rt_slow_consumer_closes_total\{[^}]*\} [1-9]/.test(await metrics());
      }
      expect(closedByServer).toBe(true);
      rawSocket(slow.ws).resume();
      expect(await slow.closed(10_000)).toBe(4429);
      const got = slow.events().map((e) => e.seq);
      expect(got.length).toBeLessThan(total);
      const again = await svc.device(u, 'slow', { lastSeq: got.at(-1) ?? 0, epoch: slow.hello().payload.epoch });
      await again.waitForSeq(total, 20_000);
      expect([...got, ...again.events().map((e) => e.seq)]).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(again.closeCode).toBeNull(); // a device that reads gets a replay larger than the limit on one connection
    } finally {
      await svc.close();
    }
  }, 60_000);

  it.skipIf(skip)('a device that stops answering pings is dropped by the heartbeat', async () => {
    const svc = await startService({ storage: kind, env: { HEARTBEAT_MS: '300' } });
    const u = `u-${randomUUID()}`;
    const dead = await svc.device(u, 'dead');
    await dead.waitForType('HELLO');
    rawSocket(dead.ws).pause(); // no pong will be read or sent
    const admin = svc.api('ops', { admin: true });
    let count = 1;
    for (let i = 0; i < 40 && count > 0; i += 1) {
      await sleep(100);
      count = (await admin.get(`/api/admin/connections?userId=${u}`)).body.count;
    }
    expect(count).toBe(0);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/rt_heartbeat_timeouts_total\{[^}]*\} [1-9]/);
    rawSocket(dead.ws).resume();
    await svc.close();
  });
});
