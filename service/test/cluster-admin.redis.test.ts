/**
 * Cluster-wide admin views: two real service processes on one PostgreSQL and one Redis (a single
 * redis-server, then a 3-master Redis Cluster). Stats and
 * connections asked of either instance cover both; an instance killed with -9 is listed as
 * unreachable, then drops out within its TTL; one stopped gracefully leaves at once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, TestDevice } from './support/harness.js';
import { removePostgres, startPostgres, type PgServer } from './support/postgres-server.js';
import { redisVariants } from './support/redis-variants.js';
import { spawnService, type ServiceProcess } from './support/service-process.js';

const variants = await redisVariants();
afterAll(async () => {
  await Promise.all(variants.map((v) => v.stop()));
});

const ANNOUNCE_MS = 200;
const TTL_MS = 2_000;

interface InstanceRow {
  instanceId: string;
  url: string | null;
  totalConnections: number;
  activeUsers: number;
  self: boolean;
}
interface Stats {
  instanceId: string;
  totalConnections: number;
  activeUsers: number;
  instances: InstanceRow[];
  cluster: { instances: number; totalConnections: number; registryError: string | null };
}
interface Connections {
  instanceId: string;
  count: number;
  truncated: boolean;
  connections: { instanceId: string; userId: string; deviceId: string }[];
  instances: { instanceId: string; status: string; count: number; error?: string }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(variants)('cluster-wide admin views on PostgreSQL and $name', (redis) => {
  let pg: PgServer;
  let env: Record<string, string>;
  let a: ServiceProcess;
  let b: ServiceProcess;
  let admin: string;
  const extra: ServiceProcess[] = [];
  const devices: TestDevice[] = [];
  const u1 = `u1-${randomUUID().slice(0, 8)}`;
  const u2 = `u2-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    if (redis.skip) return;
    pg = await startPostgres();
    env = {
      DATABASE_URL: pg.url,
      ...redis.env(),
      REDIS_PREFIX: `ca${randomUUID().slice(0, 6)}:`,
      INSTANCE_ANNOUNCE_MS: String(ANNOUNCE_MS),
      INSTANCE_TTL_MS: String(TTL_MS),
      ADMIN_FANOUT_TIMEOUT_MS: '1000',
    };
    [a, b] = await Promise.all([spawnService(env, 'ca-a'), spawnService(env, 'ca-b')]);
    admin = await mintToken('ops', { admin: true });
    const connect = async (svc: ServiceProcess, user: string, deviceId: string) => {
      const d = await TestDevice.connect(svc.wsUrl, await mintToken(user), { deviceId });
      devices.push(d);
      await d.waitForType('HELLO');
    };
    // a: three devices of two users; b: one device of u1.
    await Promise.all([connect(a, u1, 'phone'), connect(a, u1, 'tablet'), connect(a, u2, 'phone'), connect(b, u1, 'laptop')]);
  }, 120_000);

  afterAll(async () => {
    for (const d of devices) d.terminate();
    // Only those still running: kill() waits for an exit that a process killed by signal already had.
    const running = [a, b, ...extra].filter((i) => i && i.proc.exitCode === null && i.proc.signalCode === null);
    await Promise.all(running.map((i) => i.kill('SIGKILL')));
    if (pg) removePostgres(pg);
  });

  async function get<T>(svc: ServiceProcess, path: string): Promise<{ status: number; body: T }> {
    const res = await fetch(svc.url + path, { headers: { authorization: `Bearer ${admin}` } });
    return { status: res.status, body: (await res.json()) as T };
  }

  /** Poll `path` until `ok(body)` (announcements arrive every ANNOUNCE_MS); returns the last body. */
  async function until<T>(svc: ServiceProcess, path: string, ok: (body: T) => boolean, timeoutMs = 5_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { status, body } = await get<T>(svc, path);
      expect(status).toBe(200);
      if (ok(body)) return body;
      if (Date.now() > deadline) throw new Error(`timed out polling ${path}: ${JSON.stringify(body)}`);
      await sleep(50);
    }
  }

  const row = (s: Stats, id: string) => s.instances.find((i) => i.instanceId === id);

  it.skipIf(redis.skip)('stats on either instance keeps its own fields and lists both instances with their counts', async () => {
    for (const [self, other] of [[a, b], [b, a]] as const) {
      const s = await until<Stats>(self, '/api/websocket/stats', (x) => row(x, other.instanceId)?.totalConnections === (other === a ? 3 : 1));
      const own = self === a ? { totalConnections: 3, activeUsers: 2 } : { totalConnections: 1, activeUsers: 1 };
      expect(s).toMatchObject({ instanceId: self.instanceId, ...own });
      expect(s.instances.map((i) => i.instanceId)).toEqual([self.instanceId, other.instanceId]); // self first
      expect(row(s, a.instanceId)).toMatchObject({ totalConnections: 3, activeUsers: 2, url: a.url, self: self === a });
      expect(row(s, b.instanceId)).toMatchObject({ totalConnections: 1, activeUsers: 1, url: b.url, self: self === b });
      expect(s.cluster).toMatchObject({ instances: 2, totalConnections: 4, registryError: null });
    }
  });

  it.skipIf(redis.skip)('connections on either instance lists the devices of both, each with its instanceId', async () => {
    const devicesOf = (c: Connections) => c.connections.map((r) => `${r.instanceId}/${r.userId}/${r.deviceId}`).sort();
    const expected = [`${a.instanceId}/${u1}/phone`, `${a.instanceId}/${u1}/tablet`, `${a.instanceId}/${u2}/phone`, `${b.instanceId}/${u1}/laptop`].sort();
    for (const svc of [a, b]) {
      const all = (await get<Connections>(svc, '/api/admin/connections')).body;
      expect(all.instanceId).toBe(svc.instanceId);
      expect(all.count).toBe(4);
      expect(devicesOf(all)).toEqual(expected);
      expect(all.instances.map((i) => [i.instanceId, i.status, i.count]).sort()).toEqual([
        [a.instanceId, 'ok', 3],
        [b.instanceId, 'ok', 1],
      ]);

      const one = (await get<Connections>(svc, `/api/admin/connections?userId=${u1}`)).body;
      expect(devicesOf(one)).toEqual(expected.filter((d) => d.includes(`/${u1}/`)));
    }
    const local = (await get<Connections>(b, '/api/admin/connections?scope=local')).body;
    expect(devicesOf(local)).toEqual([`${b.instanceId}/${u1}/laptop`]);
    expect(local).not.toHaveProperty('instances');

    const limited = (await get<Connections>(b, '/api/admin/connections?limit=1')).body;
    expect(limited).toMatchObject({ count: 4, truncated: true });
    expect(limited.connections).toHaveLength(2); // one per instance
  });

  it.skipIf(redis.skip)('an instance stopped gracefully leaves the lists at once', async () => {
    const c = await spawnService(env, 'ca-c');
    extra.push(c);
    await until<Stats>(a, '/api/websocket/stats', (s) => Boolean(row(s, c.instanceId)));
    expect(await c.kill('SIGTERM')).toBe(0);
    const s = (await get<Stats>(a, '/api/websocket/stats')).body;
    expect(s.instances.map((i) => i.instanceId)).toEqual([a.instanceId, b.instanceId]);
  }, 60_000);

  it.skipIf(redis.skip)('an instance killed with -9 is listed as unreachable (not a 500), then drops out within its TTL', async () => {
    const killedAt = Date.now();
    expect(await b.kill('SIGKILL')).toBeNull();
    const res = await get<Connections>(a, '/api/admin/connections');
    expect(res.status).toBe(200);
    // Still announced (its TTL has not run out): asked, and reported unreachable.
    expect(res.body.instances.find((i) => i.instanceId === b.instanceId)).toMatchObject({ status: 'unreachable', count: 0 });
    expect(res.body.connections.map((r) => r.instanceId)).toEqual([a.instanceId, a.instanceId, a.instanceId]);

    const s = await until<Stats>(a, '/api/websocket/stats', (x) => x.instances.length === 1, TTL_MS + 3_000);
    // Gone no sooner than its last announcement allows, and within the TTL (plus polling slack).
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS + 2_000);
    expect(s.instances).toEqual([expect.objectContaining({ instanceId: a.instanceId, self: true })]);
    expect(s.cluster).toMatchObject({ instances: 1, totalConnections: 3 });
    const after = (await get<Connections>(a, '/api/admin/connections')).body;
    expect(after.instances.map((i) => i.instanceId)).toEqual([a.instanceId]);
    expect(after.count).toBe(3);
  }, 30_000);
});
