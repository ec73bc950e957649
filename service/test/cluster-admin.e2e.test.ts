/**
 * The cluster-wide admin views in embedded mode (in-memory registry): the one instance shows itself
 * only, with the same numbers as its own fields; bad queries get a 400, never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type TestService } from './support/harness.js';

describe('cluster admin views, embedded (one instance)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', logLevel: 'warn' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('stats lists this instance only, live, with its listen URL', async () => {
    const d = await svc.device('cl-1', 'phone');
    await d.waitForType('HELLO');
    const s = (await svc.api('ops', { admin: true }).get('/api/websocket/stats')).body;
    expect(s).toMatchObject({ instanceId: svc.app.instanceId, totalConnections: 1, activeUsers: 1 });
    expect(s.instances).toEqual([
      expect.objectContaining({ instanceId: svc.app.instanceId, url: svc.url, totalConnections: 1, activeUsers: 1, self: true, draining: false }),
    ]);
    expect(s.cluster).toEqual({ instances: 1, totalConnections: 1, activeUsersSum: 1, registryError: null });
    d.terminate();
  });

  it('connections lists this instance\'s devices and its own outcome; limit bounds the rows, not the count', async () => {
    const admin = svc.api('ops', { admin: true });
    const devs = await Promise.all(['a', 'b', 'c'].map((k) => svc.device('cl-2', `dev-${k}`)));
    await Promise.all(devs.map((d) => d.waitForType('HELLO')));
    const all = (await admin.get('/api/admin/connections?userId=cl-2')).body;
    expect(all).toMatchObject({ instanceId: svc.app.instanceId, scope: 'cluster', count: 3, truncated: false });
    expect(all.connections.map((c: { instanceId: string }) => c.instanceId)).toEqual(Array(3).fill(svc.app.instanceId));
    expect(all.instances).toEqual([{ instanceId: svc.app.instanceId, url: svc.url, status: 'ok', count: 3, truncated: false }]);
    const limited = (await admin.get('/api/admin/connections?userId=cl-2&limit=2')).body;
    expect(limited).toMatchObject({ count: 3, truncated: true });
    expect(limited.connections).toHaveLength(2);
    for (const d of devs) d.terminate();
  });

  it('refuses bad queries with 400 VALIDATION_FAILED', async () => {
    const admin = svc.api('ops', { admin: true });
    for (const q of ['scope=everywhere', 'limit=0', 'limit=-1', 'limit=abc', 'limit=20001', 'limit=1.5']) {
      const r = await admin.get(`/api/admin/connections?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('VALIDATION_FAILED');
    }
  });
});
