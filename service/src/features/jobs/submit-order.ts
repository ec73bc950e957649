/**
 * The submit-order job: sends a pending order to the ERP, then records the ERP order number.
 * Runs the same under the in-process queue and under BullMQ. Idempotent on retry: the ERP call
 * carries an idempotency key, and an order already submitted is not sent again.
 */
import type { ErpClient } from '../../ports/erp.js';
import type { JobFailureHandler, SubmitOrderProcessor } from '../../ports/jobs.js';
import type { Storage } from '../../ports/storage.js';
import type { Commit } from '../commit.js';

export class UnrecoverableJobError extends Error {
  readonly unrecoverable = true;
}

export function createSubmitOrderJob({ storage, commit, erp }: { storage: Storage; commit: Commit; erp: ErpClient }): {
  processor: SubmitOrderProcessor;
  onFailure: JobFailureHandler;
} {
  const processor: SubmitOrderProcessor = async (data, ctx) => {
    const { userId, orderId, deviceId } = data;
    const order = await storage.getPendingOrder(userId, orderId);
    if (!order) throw new UnrecoverableJobError('Order no longer exists');
    if (order.status === 'submitted' && order.erpOrderNumber) return { erpOrderNumber: order.erpOrderNumber };

    await commit.events(storage.appendEvent(userId, { type: 'JOB_STARTED', payload: { jobId: ctx.jobId, orderId, attempt: ctx.attempt }, originDeviceId: deviceId }));
    ctx.reportProgress(0, 'sending');

    const { erpOrderNumber } = await erp.submitOrder(
      {
        idempotencyKey: `${userId}/${orderId}`,
        customerId: order.customerId,
        lines: order.items.map((i) => ({ productId: i.productId, quantity: i.quantity, price: i.price })),
      },
      (fraction) => ctx.reportProgress(Math.min(0.99, fraction), 'erp'),
    );

    // JOB_COMPLETED; unless the order was deleted while the ERP call ran (the ERP has it, nothing left
    // to update here), the order `submitted` with its number: ORDER_NUMBERS_RESOLVED, PENDING_UPDATED.
    await commit.events(storage.completeSubmission(userId, { orderId, jobId: ctx.jobId, erpOrderNumber, deviceId }));
    ctx.reportProgress(1, 'done');
    return { erpOrderNumber };
  };

  const onFailure: JobFailureHandler = async (data, ctx, error, willRetry) => {
    const { userId, orderId, deviceId } = data;
    await commit.events(storage.failSubmission(userId, { orderId, jobId: ctx.jobId, error: error.message, attempt: ctx.attempt, willRetry, deviceId }));
  };

  return { processor, onFailure };
}

/**
 * Transient progress, throttled per job: at most one JOB_PROGRESS per interval, always the latest
 * value (intermediate ones are coalesced away), and the final one always sent.
 */
export function createProgressThrottle(
  send: (userId: string, jobId: string, orderId: string, progress: number, stage: string, deviceId: string | null) => void,
  intervalMs: number,
) {
  const last = new Map<string, { at: number; timer: NodeJS.Timeout | null; pending: [number, string] | null }>();
  return (userId: string, jobId: string, orderId: string, progress: number, stage: string, deviceId: string | null) => {
    const now = Date.now();
    let s = last.get(jobId);
    if (!s) {
      s = { at: 0, timer: null, pending: null };
      last.set(jobId, s);
    }
    const state = s;
    if (progress >= 1) {
      if (state.timer) clearTimeout(state.timer);
      last.delete(jobId);
      send(userId, jobId, orderId, progress, stage, deviceId);
      return;
    }
    if (now - state.at >= intervalMs) {
      state.at = now;
      send(userId, jobId, orderId, progress, stage, deviceId);
      return;
    }
    state.pending = [progress, stage];
    state.timer ??= setTimeout(() => {
      state.timer = null;
      if (state.pending && last.get(jobId) === state) {
        state.at = Date.now();
        send(userId, jobId, orderId, state.pending[0], state.pending[1], deviceId);
        state.pending = null;
      }
    }, intervalMs - (now - state.at));
  };
}
