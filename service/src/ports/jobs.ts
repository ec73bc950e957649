/**
 * Job queue port. Adapters: in-process runner (embedded) and BullMQ (with Redis).
 * The processor code is the same for both.
 */
export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed';

export interface SubmitOrderJobData {
  userId: string;
  orderId: string;
  deviceId: string | null;
}

export interface JobView {
  id: string;
  name: string;
  state: JobState;
  progress: number;
  attemptsMade: number;
  result: unknown;
  failedReason: string | null;
  createdAt: string;
  finishedAt: string | null;
  orderId: string;
}

export interface JobContext {
  jobId: string;
  attempt: number;
  maxAttempts: number;
  reportProgress(progress: number, stage: string): void;
}

export type SubmitOrderProcessor = (data: SubmitOrderJobData, ctx: JobContext) => Promise<unknown>;
export type JobFailureHandler = (data: SubmitOrderJobData, ctx: JobContext, error: Error, willRetry: boolean) => Promise<void>;

export interface JobQueue {
  /** Enqueue; `jobId` makes enqueueing idempotent (same id, same job). */
  enqueueSubmit(data: SubmitOrderJobData, jobId: string): Promise<{ jobId: string }>;
  /** The job if it belongs to `userId`, else null. */
  getJob(userId: string, jobId: string): Promise<JobView | null>;
  depth(): Promise<{ waiting: number; active: number; failed: number }>;
  /** Stop taking jobs and wait for the active ones to finish (bounded by the caller). */
  close(): Promise<void>;
}
