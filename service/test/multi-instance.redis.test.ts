/**
 * Three real service processes on one PostgreSQL and one Redis (both started by the test), devices of
 * one user spread across them. Kills an instance with SIGKILL, restarts Redis, stops PostgreSQL.
 * Runs on one redis-server and on a 3-master Redis Cluster (sharded pub/sub); on the cluster, one
 * master is also killed mid-stream and restarted.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, newDraft } from './support/harness.js';
import { removePostgres, startPostgres, type PgServer } from './support/postgres-server.js';
import { redisVariants } from './support/redis-variants.js';
import { ResumingDevice } from './support/resuming-device.js';
import { spawnService, type ServiceProcess } from './support/service-process.js';

const variants = await redisVariants();

for (const redis of variants) describe.skipIf(redis.skip)(`several instances on ${redis.name} and PostgreSQL`, () => {
  let pg: PgServer;
  let env: Record<string, string>;
  const instances: ServiceProcess[] = [];
  const devices: ResumingDevice[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
    env = { DATABASE_URL: pg.url, ...redis.env(), GAP_FILL_MS: '100', OUTBOX_INTERVAL_MS: '500', OUTBOX_GRACE_MS: '300', ERP_DELAY_MS: '50' };
    // Started at once: migrations must be safe under concurrency.
    instances.push(...(await Promise.all(['a', 'b', 'c'].map((id) => spawnService(env, `inst-${id}`)))));
  }, 120_000);

  afterAll(async () => {
    for (const d of devices) d.stop();
    await Promise.all(instances.map((i) => i.kill('SIGKILL')));
    await redis.stop();
    if (pg) removePostgres(pg);
  });

  async function post(instance: ServiceProcess, token: string, path: string, body?: unknown) {
    const res = await fetch(instance.url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), 'x-device-id': 'writer' },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  async function spread(user: string, n = 3): Promise<{ token: string; devs: ResumingDevice[] }> {
    const token = await mintToken(user);
    const urls = instances.map((i) => i.wsUrl);
    const devs = Array.from({ length: n }, (_, k) => new ResumingDevice(urls, token, `dev-${k}`, k));
    devices.push(...devs);
    await Promise.all(devs.map((d) => d.start()));
    return { token, devs };
  }

  it('devices of one user on three instances each get every event exactly once, in seq order', async () => {
    const user = `u-${randomUUID()}`;
    const { token, devs } = await spread(user);
    expect(new Set(devs.map((d) => d.instances[0])).size).toBe(3);
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => post(instances[i % 3]!, token, '/api/drafts', newDraft())));
    expect(results.every((r) => r.status === 201)).toBe(true);
    for (const d of devs) {
      await d.waitForSeq(60);
      expect(d.accepted).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(d.duplicates).toBe(0);
    }
  });

  it('a job queued on one instance reports to devices on every instance', async () => {
    const user = `u-${randomUUID()}`;
    const { token, devs } = await spread(user);
    const o = newDraft();
    await post(instances[0]!, token, '/api/pending-orders', { orders: [o] });
    const sub = await post(instances[1]!, token, `/api/pending-orders/${o.id}/submit`);
    expect(sub.status).toBe(202);
    // PENDING_CREATED, PENDING_UPDATED (submitting), JOB_STARTED, JOB_COMPLETED, ORDER_NUMBERS_RESOLVED, PENDING_UPDATED
    for (const d of devs) await d.waitForSeq(6);
    const job = await fetch(`${instances[2]!.url}/api/jobs/${sub.body.jobId}`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await job.json()) as { state: string }).state).toBe('completed');
  });

  it('a separate worker process (npm run worker) runs the jobs of instances that run none', async () => {
    const group = { ...env, REDIS_PREFIX: `w${randomUUID().slice(0, 6)}:` };
    const api = await spawnService({ ...group, RUN_WORKER: 'false' }, 'api-only');
    const worker = await spawnService(group, 'worker-1', { entry: 'worker' });
    try {
      const user = `u-${randomUUID()}`;
      const token = await mintToken(user);
      const dev = new ResumingDevice([api.wsUrl], token, 'phone');
      devices.push(dev);
      await dev.start();
      const o = newDraft();
      await post(api, token, '/api/pending-orders', { orders: [o] });
      const sub = await post(api, token, `/api/pending-orders/${o.id}/submit`);
      expect(sub.status).toBe(202);
      await dev.waitForSeq(6);
      const order = await fetch(`${api.url}/api/pending-orders/${o.id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await order.json()) as { status: string }).status).toBe('submitted');
      expect(worker.output()).toContain('worker running');
    } finally {
      await Promise.all([api.kill('SIGTERM'), worker.kill('SIGTERM')]);
    }
  }, 60_000);

  it('kill -9 of an instance mid-stream: its devices fail over and resume with nothing lost or repeated', async () => {
    const user = `u-${randomUUID()}`;
    const { token, devs } = await spread(user);
    let n = 0;
    const writer = (async () => {
      for (; n < 80; ) {
        const r = await post(instances[n % 2]!, token, '/api/drafts', newDraft()); // a and b stay up
        if (r.status === 201) n += 1;
      }
    })();
    await devs[2]!.waitForSeq(20);
    const victim = instances[2]!;
    expect(await victim.kill('SIGKILL')).toBeNull(); // killed by signal, no graceful anything
    await writer;
    for (const d of devs) {
      await d.waitForSeq(80);
      expect(d.accepted).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
      expect(d.duplicates).toBe(0);
    }
    expect(devs[2]!.connections).toBeGreaterThanOrEqual(2);
    instances[2] = await spawnService(env, 'inst-c2');
  }, 60_000);

  it.skipIf(!redis.cluster)('a cluster master killed with -9 mid-stream and restarted: every device gets every event once, in order', async () => {
    const cluster = redis.cluster!;
    const user = `u-${randomUUID()}`;
    const { token, devs } = await spread(user);
    // The master whose shard carries this user's channel (REDIS_PREFIX is the default `rt:`).
    const owner = await cluster.ownerOf(`rt:u:${user}`);
    let n = 0;
    const writer = (async () => {
      for (; n < 60; ) {
        const r = await post(instances[n % 2]!, token, '/api/drafts', newDraft());
        if (r.status === 201) n += 1;
        else await new Promise((res) => setTimeout(res, 50));
      }
    })();
    await devs[0]!.waitForSeq(10);
    await cluster.kill(owner);
    const killedAt = n;
    // Writes commit while the shard is down (their publishes fail; the outbox keeps them).
    while (n < killedAt + 20) await new Promise((res) => setTimeout(res, 20));
    await cluster.restart(owner);
    await writer;
    for (const d of devs) {
      await d.waitForSeq(60, 30_000);
      expect(d.accepted).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(d.duplicates).toBe(0);
    }
  }, 90_000);

  it('Redis restarted mid-stream: instances resubscribe and devices get every event, in order', async () => {
    const user = `u-${randomUUID()}`;
    const { token, devs } = await spread(user);
    for (let i = 0; i < 5; i += 1) await post(instances[i % 3]!, token, '/api/drafts', newDraft());
    await redis.kill();
    // Writes still commit (PostgreSQL is up); their publishes fail or wait.
    for (let i = 0; i < 5; i += 1) expect((await post(instances[i % 3]!, token, '/api/drafts', newDraft())).status).toBe(201);
    await redis.start();
    for (let i = 0; i < 5; i += 1) expect((await post(instances[i % 3]!, token, '/api/drafts', newDraft())).status).toBe(201);
    for (const d of devs) {
      await d.waitForSeq(15, 20_000);
      expect(d.accepted).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    }
    // The outage was real: every instance lost its subscriber connection and got it back.
    for (const i of instances) expect(i.output()).toContain('redis subscriber reconnected');
  }, 60_000);

  it('Redis down: a submit answers 503 at once, nothing hangs; the same submit after Redis returns runs the job once', async () => {
    const user = `u-${randomUUID()}`;
    const { token, devs } = await spread(user, 2);
    const o = newDraft();
    expect((await post(instances[0]!, token, '/api/pending-orders', { orders: [o] })).status).toBe(200);
    await redis.kill();
    const refused = await Promise.race([
      post(instances[1]!, token, `/api/pending-orders/${o.id}/submit`),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('submit hung while Redis was down')), 5_000)),
    ]);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('UNAVAILABLE');
    await redis.start();
    let accepted: { status: number; body: any } | null = null;
    for (let i = 0; i < 40 && accepted?.status !== 202; i += 1) {
      accepted = await post(instances[1]!, token, `/api/pending-orders/${o.id}/submit`);
      if (accepted.status !== 202) await new Promise((res) => setTimeout(res, 250));
    }
    expect(accepted!.status).toBe(202);
    // PENDING_CREATED, PENDING_UPDATED (submitting), JOB_STARTED, JOB_COMPLETED, ORDER_NUMBERS_RESOLVED,
    // PENDING_UPDATED: once each.
    for (const d of devs) {
      await d.waitForSeq(6, 20_000);
      expect(d.accepted).toEqual([1, 2, 3, 4, 5, 6]);
    }
    const order = await fetch(`${instances[2]!.url}/api/pending-orders/${o.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await order.json()) as { status: string }).status).toBe('submitted');
  }, 60_000);

  it('PostgreSQL stopped: writes get 503 and publish nothing; service resumes when it returns', async () => {
    const user = `u-${randomUUID()}`;
    const { token, devs } = await spread(user);
    expect((await post(instances[0]!, token, '/api/drafts', newDraft())).status).toBe(201);
    pg.stop();
    const failed = await post(instances[1]!, token, '/api/drafts', newDraft());
    expect(failed.status).toBe(503);
    expect(failed.body.error.code).toBe('UNAVAILABLE');
    expect((await fetch(`${instances[0]!.url}/readyz`)).status).toBe(503);
    pg.start();
    let ok = 0;
    for (let i = 0; i < 40 && ok === 0; i += 1) {
      const r = await post(instances[i % 3]!, token, '/api/drafts', newDraft());
      if (r.status === 201) ok = r.body.seq;
      else await new Promise((res) => setTimeout(res, 250));
    }
    expect(ok).toBe(2); // the failed write never took a seq
    for (const d of devs) {
      await d.waitForSeq(2);
      expect(d.accepted).toEqual([1, 2]);
    }
  }, 60_000);
});
