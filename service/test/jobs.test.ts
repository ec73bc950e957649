/** JobQueue port conformance: the in-process runner and BullMQ (on one Redis and on a Redis Cluster) run the same processor the same way. */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createBullmqJobQueue } from '../src/adapters/jobs-bullmq.js';
import { createMemoryJobQueue } from '../src/adapters/jobs-memory.js';
import type { JobFailureHandler, JobQueue, SubmitOrderProcessor } from '../src/ports/jobs.js';
import { UnrecoverableJobError } from '../src/features/jobs/submit-order.js';
import { redisVariants } from './support/redis-variants.js';

const redis = await redisVariants();
const log = pino({ level: 'silent' });
afterAll(async () => {
  await Promise.all(redis.map((v) => v.stop()));
});

type Make = (p: SubmitOrderProcessor, f: JobFailureHandler) => JobQueue;
const variants: { name: string; skip: string | null; make: Make }[] = [
  { name: 'memory', skip: null, make: (processor, onFailure) => createMemoryJobQueue({ processor, onFailure, attempts: 3, backoffMs: 10 }) },
  ...redis.map((v) => ({
    name: `bullmq on ${v.name}`,
    skip: v.skip,
    make: ((processor, onFailure) =>
      createBullmqJobQueue({ target: v.target(), log, processor, onFailure, attempts: 3, backoffMs: 10, prefix: `t${randomUUID().slice(0, 8)}` })) as Make,
  })),
];

async function until(pred: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each(variants)('JobQueue conformance ($name)', ({ skip, make }) => {
  it.skipIf(skip)('runs a job once per id, reports progress, and only its owner can read it', async () => {
    const runs: string[] = [];
    const q = make(async (data, ctx) => {
      runs.push(data.orderId);
      ctx.reportProgress(0.5, 'half');
      return { ok: data.orderId };
    }, async () => undefined);
    try {
      const jobId = randomUUID();
      await q.enqueueSubmit({ userId: 'u1', orderId: 'o1', deviceId: null }, jobId);
      await q.enqueueSubmit({ userId: 'u1', orderId: 'o1', deviceId: null }, jobId); // idempotent
      await until(async () => (await q.getJob('u1', jobId))?.state === 'completed');
      const job = await q.getJob('u1', jobId);
      expect(job).toMatchObject({ id: jobId, orderId: 'o1', attemptsMade: 1, result: { ok: 'o1' } });
      expect(await q.getJob('someone-else', jobId)).toBeNull();
      expect(runs).toEqual(['o1']);
    } finally {
      await q.close();
    }
  });

  it.skipIf(skip)('retries with the failure handler told whether it will retry; unrecoverable errors stop at once', async () => {
    const failures: [number, boolean][] = [];
    const q = make(
      async (data, ctx) => {
        if (data.orderId === 'fatal') throw new UnrecoverableJobError('gone');
        if (ctx.attempt < 3) throw new Error(`try ${ctx.attempt}`);
        return 'done';
      },
      async (data, ctx, _err, willRetry) => {
        failures.push([ctx.attempt, willRetry]);
      },
    );
    try {
      const a = randomUUID();
      await q.enqueueSubmit({ userId: 'u', orderId: 'flaky', deviceId: null }, a);
      await until(async () => (await q.getJob('u', a))?.state === 'completed');
      expect(failures).toEqual([
        [1, true],
        [2, true],
      ]);
      const b = randomUUID();
      await q.enqueueSubmit({ userId: 'u', orderId: 'fatal', deviceId: null }, b);
      await until(async () => (await q.getJob('u', b))?.state === 'failed');
      expect(failures.at(-1)).toEqual([1, false]);
      expect((await q.getJob('u', b))?.failedReason).toBe('gone');
    } finally {
      await q.close();
    }
  });
});

describe.each(redis)('BullMQ maintenance scheduler ($name)', (v) => {
  it.skipIf(v.skip)('runs the repeatable maintenance job on its interval', async () => {
    let runs = 0;
    const q = createBullmqJobQueue({
      target: v.target(),
      log,
      processor: async () => undefined,
      onFailure: async () => undefined,
      attempts: 1,
      backoffMs: 10,
      prefix: `m${randomUUID().slice(0, 8)}`,
      maintenance: { intervalMs: 200, run: async () => (runs += 1) },
    });
    try {
      await until(async () => runs >= 2, 10_000);
      expect(runs).toBeGreaterThanOrEqual(2);
    } finally {
      await q.close();
    }
  });
});
