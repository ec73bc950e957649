/**
 * The write operations of the Storage port: one method per write kind, each one transaction (on
 * SQL: one statement, one round trip). Each takes the user's lock, checks the Idempotency-Key,
 * applies DESIGN §3/§10's rules, appends the events with the next seqs and keeps the key with the
 * reply, all or nothing. The input is validated before (zod, in the routes).
 */
import type { Draft, DraftItem, PendingOrder } from '../protocol/index.js';
import type { StoredEvent } from './storage.js';

/** An Idempotency-Key's scope (DESIGN §12): the key, the request's fingerprint, the oldest record that still counts. */
export interface IdempotencyScope {
  key: string;
  fingerprint: string;
  notBefore: Date;
}

/** What a client edits: what "identical content" compares. Items normalized (every field, null when absent). */
export interface OrderContent {
  customerId: string;
  customerName: string;
  items: DraftItem[];
  notes: string | null;
  /** The client's clock, ISO-8601 UTC with milliseconds. */
  updatedAt: string;
}

/** Why a write was refused: nothing was changed, no event appended, no key kept. */
export type WriteRefusal =
  | { refused: 'NOT_FOUND' }
  | { refused: 'GONE' }
  | { refused: 'STALE_WRITE' | 'VERSION_CONFLICT'; current: Draft }
  | { refused: 'ALREADY_SUBMITTED'; erpOrderNumber: string | null }
  /** The key was used for another request (another fingerprint). */
  | { refused: 'IDEMPOTENCY_KEY_REUSED' };

/** A committed write: its reply (the kept one when `replayed`) and the events to publish after commit. */
export interface WriteDone<B> {
  refused?: undefined;
  status: number;
  body: B;
  replayed: boolean;
  events: StoredEvent[];
}

export type WriteOutcome<B> = WriteDone<B> | WriteRefusal;

/** seq: the event this write emitted, null when it emitted none (a retry, an idempotent no-op). */
export interface DraftReplyBody {
  draft: Draft;
  seq: number | null;
}

export interface ConvertReplyBody {
  pendingOrderId: string;
  /** null when the order was deleted after an earlier conversion. */
  pendingOrder: PendingOrder | null;
  draft: Draft;
  seq: number | null;
}

/** created / updated / unchanged (identical content: a retry) / stale (older updatedAt) / locked (already sent to the ERP). */
export type UpsertAction = 'created' | 'updated' | 'unchanged' | 'stale' | 'locked';

export interface UpsertReplyBody {
  results: { id: string; action: UpsertAction }[];
  /** The user's head seq after the batch. */
  seq: number;
}

export interface StorageWrites {
  createDraft(
    userId: string,
    w: { id: string; deviceId: string | null; content: OrderContent },
    scope: IdempotencyScope | null,
  ): Promise<WriteOutcome<DraftReplyBody>>;
  updateDraft(
    userId: string,
    w: { id: string; deviceId: string | null; content: OrderContent; baseVersion?: number },
    scope: IdempotencyScope | null,
  ): Promise<WriteOutcome<DraftReplyBody>>;
  deleteDraft(userId: string, w: { id: string; deviceId: string | null }, scope: IdempotencyScope | null): Promise<WriteOutcome<DraftReplyBody>>;
  convertDraft(userId: string, w: { id: string; deviceId: string | null }, scope: IdempotencyScope | null): Promise<WriteOutcome<ConvertReplyBody>>;
  /** `deviceId`: the header's, which wins over each order's own. */
  upsertPendingOrders(
    userId: string,
    w: { deviceId: string | null; orders: (OrderContent & { id: string; deviceId: string | null })[] },
    scope: IdempotencyScope | null,
  ): Promise<WriteOutcome<UpsertReplyBody>>;
  deletePendingOrder(userId: string, w: { id: string; deviceId: string | null }, scope: IdempotencyScope | null): Promise<WriteOutcome<{ seq: number }>>;
  /**
   * The committed part of a submit: the order `submitting` with its job id (enqueued by the caller
   * after commit) and PENDING_UPDATED from `deviceId`; nothing when it was already under way.
   */
  submitPendingOrder(userId: string, w: { id: string; deviceId: string | null }, scope: IdempotencyScope | null): Promise<WriteOutcome<{ jobId: string }>>;

  /** Append one event and change nothing else (a job's JOB_STARTED). Returns the committed event. */
  appendEvent(userId: string, e: { type: string; payload: unknown; originDeviceId: string | null }): Promise<StoredEvent[]>;
  /** JOB_COMPLETED; the order (if it still exists) `submitted` with its number: ORDER_NUMBERS_RESOLVED, PENDING_UPDATED. */
  completeSubmission(
    userId: string,
    w: { orderId: string; jobId: string; erpOrderNumber: string; deviceId: string | null },
  ): Promise<StoredEvent[]>;
  /** JOB_FAILED; after the last attempt an order still `submitting` becomes `failed` (PENDING_UPDATED). */
  failSubmission(
    userId: string,
    w: { orderId: string; jobId: string; error: string; attempt: number; willRetry: boolean; deviceId: string | null },
  ): Promise<StoredEvent[]>;
}
