/**
 * rtctl stats, connections and top against a cluster of two real instances (PostgreSQL + Redis),
 * given one --url only: every instance is shown, with totals; an instance killed with -9 is
 * reported (stderr warning, status column), not an error exit.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, TestDevice } from '../../service/test/support/harness.js';
import { removePostgres, startPostgres, type PgServer } from '../../service/test/support/postgres-server.js';
import { redisForSuite, type RedisServer } from '../../service/test/support/redis-server.js';
import { spawnService, type ServiceProcess } from '../../service/test/support/service-process.js';
import { runRtctl } from './support/run-cli.js';

const { server: redisServer, skip } = await redisForSuite();

describe.skipIf(skip)('rtctl admin views of a cluster, from one --url', () => {
  const redis = redisServer as RedisServer;
  let pg: PgServer;
  let a: ServiceProcess;
  let b: ServiceProcess;
  let admin: string;
  const devices: TestDevice[] = [];
  const user = `u-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    pg = await startPostgres();
    // A long TTL: the killed instance must still be announced when rtctl (a fresh node process) asks.
    const env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, REDIS_PREFIX: `cc${randomUUID().slice(0, 6)}:`, INSTANCE_ANNOUNCE_MS: '200', INSTANCE_TTL_MS: '15000' };
    [a, b] = await Promise.all([spawnService(env, 'cli-a'), spawnService(env, 'cli-b')]);
    admin = await mintToken('ops', { admin: true });
    const token = await mintToken(user);
    for (const [svc, deviceId] of [[a, 'phone'], [a, 'tablet'], [b, 'laptop']] as const) {
      const d = await TestDevice.connect(svc.wsUrl, token, { deviceId });
      devices.push(d);
      await d.waitForType('HELLO');
    }
    // Wait until a has heard b's announcement with its device.
    for (const deadline = Date.now() + 10_000; ; ) {
      const s = (await (await fetch(`${a.url}/api/websocket/stats`, { headers: { authorization: `Bearer ${admin}` } })).json()) as {
        instances: { instanceId: string; totalConnections: number }[];
      };
      if (s.instances.find((i) => i.instanceId === b.instanceId)?.totalConnections === 1) break;
      if (Date.now() > deadline) throw new Error(`b never announced: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);

  afterAll(async () => {
    for (const d of devices) d.terminate();
    const running = [a, b].filter((i) => i && i.proc.exitCode === null && i.proc.signalCode === null);
    await Promise.all(running.map((i) => i.kill('SIGKILL')));
    await redis?.stop();
    if (pg) removePostgres(pg);
  });

  it('stats shows a row per instance and a total; --json carries the cluster data', async () => {
    const table = await runRtctl(['--url', a.url, '--token', admin, 'stats']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^INSTANCE\s+UPTIME\s+CONNECTIONS\s+USERS/);
    expect(table.stdout).toMatch(/^cli-a\s+\S+\s+2\s+1\s/m);
    expect(table.stdout).toMatch(/^cli-b\s+\S+\s+1\s+1\s/m);
    expect(table.stdout).toMatch(/^TOTAL \(2 instances\)\s+3\s+2\*/m);

    const json = await runRtctl(['--json', '--url', b.url, '--token', admin, 'stats']);
    expect(json.code).toBe(0);
    const lines = json.stdout.trim().split('\n');
    expect(lines).toHaveLength(1); // one answer per --url
    const s = JSON.parse(lines[0]!) as { instanceId: string; totalConnections: number; instances: { instanceId: string; totalConnections: number }[]; cluster: { totalConnections: number } };
    expect(s).toMatchObject({ instanceId: 'cli-b', totalConnections: 1, cluster: { totalConnections: 3 } });
    expect(s.instances.map((i) => [i.instanceId, i.totalConnections])).toEqual([
      ['cli-b', 1],
      ['cli-a', 2],
    ]);

    // Both --url given: each instance once, not twice.
    const both = await runRtctl(['--url', `${a.url},${b.url}`, '--token', admin, 'stats']);
    expect(both.stdout.match(/^cli-a\s/gm)).toHaveLength(1);
    expect(both.stdout).toMatch(/^TOTAL \(2 instances\)\s+3\s/m);
  }, 120_000);

  it('connections lists the devices of both instances with their instance, and each instance\'s count', async () => {
    const r = await runRtctl(['--url', a.url, '--token', admin, 'connections', '--user', user]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^cli-a\\s+${user}\\s+phone`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^cli-a\\s+${user}\\s+tablet`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^cli-b\\s+${user}\\s+laptop`, 'm'));
    expect(r.stdout).toMatch(/^INSTANCE\s+STATUS\s+DEVICES/m);
    expect(r.stdout).toMatch(/^TOTAL \(2 instances\)\s+3$/m);

    const json = await runRtctl(['--json', '--url', a.url, '--token', admin, 'connections', '--user', user]);
    const c = JSON.parse(json.stdout) as { count: number; connections: { instanceId: string; deviceId: string }[] };
    expect(c.count).toBe(3);
    expect(c.connections.map((x) => `${x.instanceId}/${x.deviceId}`).sort()).toEqual(['cli-a/phone', 'cli-a/tablet', 'cli-b/laptop']);

    const bad = await runRtctl(['--url', a.url, '--token', admin, 'connections', '--limit', '0']);
    expect(bad.code).toBe(2);
  }, 120_000);

  it('top from one --url shows every instance and a totals line', async () => {
    const r = await runRtctl(['--json', '--url', a.url, '--token', admin, 'top', '--interval', '300', '--count', '1']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.map((l) => l.instanceId ?? 'totals')).toEqual(['cli-a', 'cli-b', 'totals']);
    expect(lines[0]).toMatchObject({ via: 'url', connections: 2, error: null });
    expect(lines[1]).toMatchObject({ via: 'cluster', connections: 1, error: null, ready: true });
    expect(lines[2]!.totals).toMatchObject({ instances: 2, connections: 3, withErrors: 0 });

    // Without a token: the --url instance only, as before.
    const plain = await runRtctl(['--url', a.url, 'top', '--count', '1']);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim().split('\n')).toHaveLength(1);
  }, 120_000);

  it('an instance killed with -9 is reported, not an error: its devices are missing, the rest are listed', async () => {
    expect(await b.kill('SIGKILL')).toBeNull();
    const r = await runRtctl(['--url', a.url, '--token', admin, 'connections', '--user', user]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cli-b\s+unreachable/m);
    expect(r.stdout).not.toMatch(/laptop/);
    expect(r.stdout).toMatch(new RegExp(`^cli-a\\s+${user}\\s+phone`, 'm'));
    expect(r.stderr).toMatch(/^rtctl: warning: cli-b unreachable .*its devices are not listed$/m);

    const top = await runRtctl(['--json', '--url', a.url, '--token', admin, 'top', '--count', '1']);
    expect(top.code).toBe(0);
    const b2 = top.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>).find((l) => l.instanceId === 'cli-b');
    expect(b2).toMatchObject({ via: 'cluster', connections: 1, error: expect.stringMatching(/metrics not reachable from here.*as announced/) });
  }, 120_000);
});
