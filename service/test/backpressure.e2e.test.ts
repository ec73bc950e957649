import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDraft, sleep, startService, storageVariants, type TestService } from './support/harness.js';

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
