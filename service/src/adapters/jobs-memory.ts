/**
 * In-process job queue for the embedded mode: the same processor as BullMQ, retries with exponential
 * backoff, idempotent enqueue by job id. Jobs live in memory (lost on restart, like the embedded bus).
 */
import type { JobContext, JobFailureHandler, JobQueue, JobView, SubmitOrderJobData, SubmitOrderProcessor } from '../ports/jobs.js';

interface MemJob {
  view: JobView;
  data: SubmitOrderJobData;
}

export function createMemoryJobQueue(opts: {
  processor: SubmitOrderProcessor;
  onFailure: JobFailureHandler;
  attempts: number;
  backoffMs: number;
  concurrency?: number;
  onProgress?: (data: SubmitOrderJobData, jobId: string, progress: number, stage: string) => void;
  /** Repeatable maintenance, run on a timer in this process. */
  maintenance?: { intervalMs: number; run: () => Promise<unknown> };
}): JobQueue {
  const jobs = new Map<string, MemJob>();
  const waiting: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const active = new Set<Promise<void>>();
  const concurrency = opts.concurrency ?? 2;
  let closed = false;
  const maintenance = opts.maintenance;
  const maintenanceTimer =
    maintenance && maintenance.intervalMs > 0
      ? setInterval(() => void maintenance.run().catch(() => undefined), maintenance.intervalMs)
      : null;
  maintenanceTimer?.unref();

  function pump(): void {
    while (!closed && active.size < concurrency && waiting.length > 0) {
      const job = jobs.get(waiting.shift()!)!;
      const run = runJob(job).finally(() => {
        active.delete(run);
        pump();
      });
      active.add(run);
    }
  }

  async function runJob(job: MemJob): Promise<void> {
    job.view.state = 'active';
    job.view.attemptsMade += 1;
    const ctx: JobContext = {
      jobId: job.view.id,
      attempt: job.view.attemptsMade,
      maxAttempts: opts.attempts,
      reportProgress(progress, stage) {
        job.view.progress = progress;
        opts.onProgress?.(job.data, job.view.id, progress, stage);
      },
    };
    try {
      job.view.result = await opts.processor(job.data, ctx);
      job.view.state = 'completed';
      job.view.progress = 1;
      job.view.finishedAt = new Date().toISOString();
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const willRetry = job.view.attemptsMade < opts.attempts && !(error as { unrecoverable?: boolean }).unrecoverable;
      job.view.failedReason = error.message;
      await opts.onFailure(job.data, ctx, error, willRetry).catch(() => undefined);
      if (willRetry && !closed) {
        job.view.state = 'delayed';
        const t = setTimeout(() => {
          timers.delete(t);
          job.view.state = 'waiting';
          waiting.push(job.view.id);
          pump();
        }, opts.backoffMs * 2 ** (job.view.attemptsMade - 1));
        timers.add(t);
      } else {
        job.view.state = 'failed';
        job.view.finishedAt = new Date().toISOString();
      }
    }
  }

  return {
    async enqueueSubmit(data, jobId) {
      if (closed) throw new Error('job queue is closed');
      if (!jobs.has(jobId)) {
        jobs.set(jobId, {
          data,
          view: {
            id: jobId, name: 'submit-order', state: 'waiting', progress: 0, attemptsMade: 0, result: null,
            failedReason: null, createdAt: new Date().toISOString(), finishedAt: null, orderId: data.orderId,
          },
        });
        waiting.push(jobId);
        pump();
      }
      return { jobId };
    },
    async getJob(userId, jobId) {
      const job = jobs.get(jobId);
      return job && job.data.userId === userId ? { ...job.view } : null;
    },
    async depth() {
      let failed = 0;
      for (const j of jobs.values()) if (j.view.state === 'failed') failed += 1;
      return { waiting: waiting.length + timers.size, active: active.size, failed };
    },
    async close() {
      closed = true;
      if (maintenanceTimer) clearInterval(maintenanceTimer);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.allSettled([...active]);
    },
  };
}
