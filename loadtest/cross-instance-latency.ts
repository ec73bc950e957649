/**
 * Cross-instance against same-instance delivery, in one run under the same load.
 *
 * Starts PostgreSQL and Redis (throwaway, on free ports) and two service instances A and B. For each
 * of U users one observer device sits on A and one on B; writes go to A at a fixed total rate (open
 * loop). Each write is measured on both observers from its scheduled time. With Redis every event
 * goes through Redis, even to A's own devices (the hub does not know where events come from), so
 * the run is repeated first on a single instance with the in-process bus, same database, same load:
 * that is the single-instance baseline.
 *
 *   npx tsx loadtest/cross-instance-latency.ts [--users 20] [--rate 100] [--writes 3000] [--warmup 200]
 */
import { randomUUID } from 'node:crypto';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createNodeDevice } from '../client/src/node.js';
import type { Device } from '../client/src/realtime.js';
import { mintToken } from '../tools/token.js';
import { removePostgres, startPostgres } from '../tools/postgres-server.js';
import { startRedis } from '../tools/redis-server.js';
import { spawnService } from '../tools/service-process.js';
import { createDraftWriter } from './lib/writes.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '20' },
    rate: { type: 'string', default: '100' },
    writes: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '200' },
  },
});
const users = Number(values.users);
const rate = Number(values.rate);
const writes = Number(values.writes);
const warmup = Number(values.warmup);

/** One observer device (the client's Device); resolves once its HELLO is in. */
async function observe(wsUrl: string, token: string, deviceId: string, onDraft: (id: string, at: number) => void): Promise<Device> {
  const device = createNodeDevice({ urls: [wsUrl], deviceId, token, maxInitialAttempts: 1 });
  device.on('event', (e) => {
    const draftId = (e.payload as { draftId?: string }).draftId;
    if (e.type === 'DRAFT_CREATED' && draftId) onDraft(draftId, e.receivedAt);
  });
  const ready = Promise.race([
    device.once('hello'),
    device.once('stopped').then(({ error }) => Promise.reject(new Error(`observer ${deviceId}: ${error?.message ?? 'stopped'}`))),
  ]);
  device.start();
  await ready;
  return device;
}

const fmt = (h: RecordableHistogram, p: number) => (h.percentile(p) / 1000).toFixed(2);

interface Result {
  label: string;
  errors: number;
  missing: number[];
  hist: RecordableHistogram[];
}

/** Observers for every user on `onA` and `onB`; writes to `writeTo`. */
async function run(label: string, writeTo: string, onA: string, onB: string): Promise<Result> {
  const observers: Device[] = [];
  const writer = createDraftWriter(writeTo);
  try {
    const scheduled = new Map<string, number>();
    const hist = [createHistogram(), createHistogram()];
    const counted = [0, 0];
    const record = (k: 0 | 1) => (id: string, at: number) => {
      const t = scheduled.get(id);
      if (t === undefined) return;
      counted[k]! += 1;
      if (Number(id.slice(0, 8)) >= warmup) hist[k]!.record(Math.max(1, Math.round((at - t) * 1000)));
    };
    const tokens = await Promise.all(Array.from({ length: users }, (_, i) => mintToken(`xbench-${i}-${randomUUID().slice(0, 6)}`)));
    for (const token of tokens) {
      observers.push(await observe(onA, token, 'obs-a', record(0)));
      observers.push(await observe(onB, token, 'obs-b', record(1)));
    }
    const interval = 1000 / rate;
    const start = performance.now() + 100;
    const total = writes + warmup;
    let errors = 0;
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i += 1) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      // The write index leads the id so the warm-up can be told apart on arrival.
      const uuid = `${String(i).padStart(8, '0')}-0000-4000-8000-${randomUUID().slice(-12)}`;
      scheduled.set(uuid, due);
      pending.push(
        writer.create(tokens[i % users]!, { id: uuid, customerId: 'C', customerName: 'Bench', items: [{ productId: 'P', quantity: 1 }] }).then((status) => {
          if (status !== 201) errors += 1;
        }),
      );
    }
    await Promise.all(pending);
    const deadline = Date.now() + 10_000;
    while ((counted[0]! < total || counted[1]! < total) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return { label, errors, missing: counted.map((c) => total - c), hist };
  } finally {
    await Promise.all(observers.map((s) => s.close()));
  }
}

async function main(): Promise<void> {
  const pg = await startPostgres();
  const redis = await startRedis();
  const results: Result[] = [];
  try {
    const single = await spawnService({ DATABASE_URL: pg.url, LOG_LEVEL: 'warn' }, 'bench-single');
    try {
      results.push(await run('single instance, in-process bus', single.url, single.wsUrl, single.wsUrl));
    } finally {
      await single.kill('SIGTERM');
    }
    const env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, LOG_LEVEL: 'warn' };
    const [a, b] = await Promise.all([spawnService(env, 'bench-a'), spawnService(env, 'bench-b')]);
    try {
      results.push(await run('two instances on Redis', a.url, a.wsUrl, b.wsUrl));
    } finally {
      await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
    }
  } finally {
    await redis.stop();
    removePostgres(pg);
  }
  console.log(`delivery latency, ${users} users x 2 observers, ${writes} writes at ${rate}/s open loop (warm-up ${warmup} excluded), PostgreSQL 15`);
  console.log('| setup | observer | p50 ms | p90 ms | p99 ms | max ms | missing | write errors |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const names = r.label.startsWith('single') ? ['same instance', 'same instance'] : ['instance A (writer\'s)', 'instance B (other)'];
    r.hist.forEach((h, k) => {
      console.log(`| ${r.label} | ${names[k]} | ${fmt(h, 50)} | ${fmt(h, 90)} | ${fmt(h, 99)} | ${(h.max / 1000).toFixed(2)} | ${r.missing[k]} | ${r.errors} |`);
    });
  }
}

main().catch((err: unknown) => {
  console.error(`cross-instance-latency: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
