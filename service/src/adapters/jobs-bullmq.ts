/**
 * BullMQ job queue on Redis: the same submit-order processor as the in-process runner, retried with
 * exponential backoff; enqueue is idempotent by job id. The worker runs inside the service by default
 * or in its own process (`npm run worker`); a service can also run with no worker at all.
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisTarget } from '../config.js';
import type { JobFailureHandler, JobQueue, JobState, JobView, SubmitOrderJobData, SubmitOrderProcessor } from '../ports/jobs.js';
import { closeRedisClient, createRedisClient } from './redis-client.js';

const QUEUE = 'submit-order';
const MAINTENANCE_QUEUE = 'maintenance';

/**
 * BullMQ's scripts touch several keys of a queue at once, which a Redis Cluster allows only within
 * one slot: on a cluster the prefix is a hash tag (`{rt}`), so every key of every queue lands in the
 * same slot. Jobs are few next to events, so one shard carrying them is not a limit.
 */
export const bullmqPrefix = (target: RedisTarget, prefix: string) =>
  target.kind === 'cluster' && !/\{[^}]+\}/.test(prefix) ? `{${prefix}}` : prefix;

export interface BullmqJobQueueOptions {
  /** One Redis server or a Redis Cluster (redis-client.ts). */
  target: RedisTarget;
  log: Logger;
  processor: SubmitOrderProcessor;
  onFailure: JobFailureHandler;
  onProgress?: (data: SubmitOrderJobData, jobId: string, progress: number, stage: string) => void;
  attempts: number;
  backoffMs: number;
  /** Run a worker in this process (default true). */
  runWorker?: boolean;
  concurrency?: number;
  prefix?: string;
  /** Repeatable maintenance (prune), run by exactly one worker per interval. */
  maintenance?: { intervalMs: number; run: () => Promise<unknown> };
}

export function createBullmqJobQueue(opts: BullmqJobQueueOptions): JobQueue {
  const log = opts.log.child({ component: 'jobs-bullmq' });
  const prefix = bullmqPrefix(opts.target, opts.prefix ?? 'rt');
  // The queue serves HTTP requests (submit, job status, /metrics): while Redis is down its commands
  // fail at once (the submit answers 503, retry-safe) instead of waiting in ioredis' offline queue
  // for as long as the outage lasts. Workers keep the blocking, wait-forever connection (BullMQ
  // requires maxRetriesPerRequest null there, and duplicates it for each blocking call).
  // Node connections are opened at start (lazyConnect off): a cluster without an offline queue
  // refuses commands to a node that is still connecting.
  const queueConnection = createRedisClient(opts.target, {
    connectionName: 'rt-jobs-queue',
    redis: { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false },
    cluster: { enableOfflineQueue: false },
  });
  const connection = createRedisClient(opts.target, { connectionName: 'rt-jobs-worker', redis: { maxRetriesPerRequest: null, lazyConnect: false } });
  for (const c of [queueConnection, connection]) c.on('error', (err: Error) => log.debug({ err: err.message }, 'redis error'));
  const queue = new Queue<SubmitOrderJobData>(QUEUE, { connection: queueConnection, prefix });
  queue.on('error', (err) => log.warn({ err: err.message }, 'queue error'));
  const workers: Worker[] = [];
  let maintenanceQueue: Queue | null = null;

  if (opts.runWorker !== false) {
    const worker = new Worker<SubmitOrderJobData>(
      QUEUE,
      async (job: Job<SubmitOrderJobData>) => {
        const ctx = {
          jobId: job.id!,
          attempt: job.attemptsMade + 1,
          maxAttempts: job.opts.attempts ?? opts.attempts,
          reportProgress: (progress: number, stage: string) => {
            void job.updateProgress(progress).catch(() => undefined);
            opts.onProgress?.(job.data, job.id!, progress, stage);
          },
        };
        try {
          return await opts.processor(job.data, ctx);
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err));
          const unrecoverable = Boolean((error as { unrecoverable?: boolean }).unrecoverable);
          const willRetry = !unrecoverable && ctx.attempt < ctx.maxAttempts;
          await opts.onFailure(job.data, ctx, error, willRetry).catch((e: unknown) => log.warn({ err: e }, 'failure handler failed'));
          throw unrecoverable ? new UnrecoverableError(error.message) : error;
        }
      },
      { connection, prefix, concurrency: opts.concurrency ?? 4 },
    );
    worker.on('error', (err) => log.warn({ err: err.message }, 'worker error'));
    workers.push(worker);

    if (opts.maintenance && opts.maintenance.intervalMs > 0) {
      const run = opts.maintenance.run;
      maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection, prefix });
      maintenanceQueue.on('error', (err) => log.warn({ err: err.message }, 'maintenance queue error'));
      void maintenanceQueue
        .upsertJobScheduler('prune', { every: opts.maintenance.intervalMs }, { name: 'prune', opts: { removeOnComplete: 10, removeOnFail: 10 } })
        .catch((err: unknown) => log.warn({ err }, 'could not schedule maintenance'));
      const mworker = new Worker(MAINTENANCE_QUEUE, async () => run(), { connection, prefix, concurrency: 1 });
      mworker.on('error', (err) => log.warn({ err: err.message }, 'maintenance worker error'));
      workers.push(mworker);
    }
  }

  async function view(job: Job<SubmitOrderJobData>): Promise<JobView> {
    const state = (await job.getState()) as string;
    const known: JobState[] = ['waiting', 'active', 'completed', 'failed', 'delayed'];
    return {
      id: job.id!,
      name: job.name,
      state: known.includes(state as JobState) ? (state as JobState) : 'waiting',
      progress: typeof job.progress === 'number' ? job.progress : 0,
      attemptsMade: job.attemptsMade,
      result: job.returnvalue ?? null,
      failedReason: job.failedReason ?? null,
      createdAt: new Date(job.timestamp).toISOString(),
      finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      orderId: job.data.orderId,
    };
  }

  return {
    async enqueueSubmit(data, jobId) {
      await queue.add(QUEUE, data, {
        jobId,
        attempts: opts.attempts,
        backoff: { type: 'exponential', delay: opts.backoffMs },
        removeOnComplete: { age: 24 * 3600, count: 10_000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      });
      return { jobId };
    },
    async getJob(userId, jobId) {
      const job = await queue.getJob(jobId);
      if (!job || job.data.userId !== userId) return null;
      return view(job);
    },
    async depth() {
      const c = await queue.getJobCounts('waiting', 'active', 'failed', 'delayed');
      return { waiting: (c.waiting ?? 0) + (c.delayed ?? 0), active: c.active ?? 0, failed: c.failed ?? 0 };
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
      await Promise.allSettled([queue.close(), maintenanceQueue?.close()]);
      // Shared connections: BullMQ leaves them open, they are ours to close.
      await Promise.allSettled([closeRedisClient(queueConnection), closeRedisClient(connection)]);
    },
  };
}
