import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDraft, startService, type TestService } from './support/harness.js';

// The server's ws heartbeat end to end (realtime/heartbeat.ts): a device that stops reading (its
// TCP stream paused, so it answers no ping) is closed with 4408 within a few rounds; one that
// answers is left alone.
describe('heartbeat', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', env: { HEARTBEAT_MS: '200' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('closes a device that answers no ping with 4408 and keeps the one that does', async () => {
    const u = `u-${randomUUID()}`;
    const healthy = await svc.device(u, 'answers');
    const silent = await svc.device(u, 'silent');
    const connections = () => svc.app.hub.stats().totalConnections;
    const until = async (done: () => boolean) => {
      for (const deadline = Date.now() + 10_000; !done() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => connections() === 2); // both attached to the hub
    expect(connections()).toBe(2);
    const timeouts = async () => (await svc.app.metrics.heartbeatTimeouts.get()).values[0]?.value ?? 0;
    const before = await timeouts();
    (silent.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    await until(() => connections() < 2);
    expect([healthy.closeCode, connections()]).toEqual([null, 1]);
    expect(await timeouts()).toBe(before + 1);

    (silent.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    // Read once resumed: the close frame if it was still buffered, else the TCP end (1006).
    expect([4408, 1006]).toContain(await silent.closed());
    // Several more rounds: the answering device is still connected and still gets events.
    await new Promise((r) => setTimeout(r, 700));
    expect(healthy.closeCode).toBeNull();
    expect((await svc.api(u).post('/api/drafts', newDraft())).status).toBe(201);
    await healthy.waitForType('DRAFT_CREATED');
  });
});
