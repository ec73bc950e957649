/**
 * Storage port. Every method is scoped to one user: no query can read or change another user's rows.
 * Writes: the data change, the next per-user `seq` and the `events` rows are committed in one
 * transaction, and the committed events are returned for publishing after commit. The routes' writes
 * are one method each (ports/writes.ts); `unitOfWork` is the general form (tests, tools).
 */
import type { Draft, PendingOrder } from '../protocol/index.js';
import type { StorageWrites } from './writes.js';

export type * from './writes.js';

/**
 * The database cannot be reached (down, restarting, the connection lost, the PGlite thread gone);
 * retrying later may succeed, and the writes are safe to retry (DESIGN §12). The adapters raise it
 * for whatever their driver reports that way, so no caller needs to know driver codes or SQLSTATEs;
 * the HTTP layer answers 503 UNAVAILABLE.
 */
export class StorageUnavailableError extends Error {
  override readonly name: string = 'StorageUnavailableError';
  constructor(message = 'Storage unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface StoredEvent {
  userId: string;
  seq: number;
  epoch: string;
  type: string;
  payload: unknown;
  /** The write's time, taken under the user's lock just before commit; ISO-8601 with milliseconds. */
  timestamp: string;
  originDeviceId: string | null;
}

export interface NewEvent {
  type: string;
  payload: unknown;
  originDeviceId: string | null;
}

export interface LogHead {
  epoch: string;
  latestSeq: number;
}

/**
 * A kept response of an idempotent write (DESIGN §12): the request's fingerprint and the status
 * and body it was answered with. Recorded in the same transaction as the write's change.
 */
export interface IdempotencyRecord {
  key: string;
  fingerprint: string;
  status: number;
  body: unknown;
  /** When the first request committed, ISO-8601. */
  createdAt: string;
}

/** Operations available inside one user's write transaction (the user's log row is locked). */
export interface UserTx {
  readonly userId: string;
  /** Transaction time, used for serverUpdatedAt and event timestamps. */
  readonly now: Date;
  getDraft(id: string): Promise<Draft | null>;
  saveDraft(draft: Draft): Promise<void>;
  getPendingOrders(ids: readonly string[]): Promise<PendingOrder[]>;
  /** Insert or replace several orders in one statement. */
  savePendingOrders(orders: readonly PendingOrder[]): Promise<void>;
  deletePendingOrder(id: string): Promise<boolean>;
  /** Append an event to the user's log; its seq is the next one. Visible to others only after commit. */
  appendEvent(event: NewEvent): StoredEvent;
  /** The user's latest seq as this transaction sees it, counting the events appended so far. */
  latestSeq(): number;
  /** The record of `key` for this user, if it was created at or after `notBefore` (older ones count as absent). */
  findIdempotencyKey(key: string, notBefore: Date): Promise<IdempotencyRecord | null>;
  /** Record `key` with its response (replacing an expired record of the same key); committed with the change. */
  saveIdempotencyKey(record: Omit<IdempotencyRecord, 'createdAt'>): Promise<void>;
}

/** A user whose tokens issued before `notBefore` are refused (POST /api/admin/users/:userId/revoke). */
export interface Revocation {
  userId: string;
  notBefore: Date;
}

export interface Storage extends StorageWrites {
  /** Apply pending migrations. Safe when several instances start at once. */
  migrate(): Promise<void>;
  /** Cheap round trip, for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;

  unitOfWork<T>(userId: string, fn: (tx: UserTx) => Promise<T>): Promise<{ value: T; events: StoredEvent[] }>;

  /** Lists with the user's latest seq, read in the same snapshot. */
  listDrafts(userId: string, opts: { includeDeleted: boolean }): Promise<{ items: Draft[]; seq: number }>;
  getDraft(userId: string, id: string): Promise<Draft | null>;
  /** With `ids`, only the user's orders among those ids (unknown ids are simply absent). */
  listPendingOrders(userId: string, opts?: { ids?: readonly string[] }): Promise<{ items: PendingOrder[]; seq: number }>;
  getPendingOrder(userId: string, id: string): Promise<PendingOrder | null>;

  /** The user's log epoch and latest seq; creates the log (seq 0) on first use. */
  logHead(userId: string): Promise<LogHead>;
  /** Events with afterSeq < seq <= toSeq, ascending, at most `limit`. */
  readEvents(userId: string, afterSeq: number, toSeq: number, limit: number): Promise<StoredEvent[]>;
  /**
   * For clients that resume by time: the seq of the user's last event committed at or before `at`
   * (0 if none); null when the log no longer covers `at` (events after it may have been pruned).
   */
  seqAt(userId: string, at: Date): Promise<number | null>;
  /** The smallest seq still kept in the user's log, or null when the log is empty. */
  oldestSeq(userId: string): Promise<number | null>;

  /**
   * Outbox: these events reached the bus. Recorded as a per-user watermark (the highest seq
   * confirmed), not on the event rows: an unconfirmed event below it was either published by
   * another instance or is revealed by a later one as a gap that devices and hubs fill from the log.
   */
  markPublished(keys: readonly { userId: string; seq: number }[]): Promise<void>;
  /** Outbox: events after their user's watermark committed before `olderThan`, oldest first. */
  unpublishedEvents(olderThan: Date, limit: number): Promise<StoredEvent[]>;

  /**
   * Outbox: claim this interval's periodic sweep for this instance; false when another instance
   * swept less than `everyMs` ago (one sweep per interval across all instances).
   */
  claimOutboxSweep(everyMs: number): Promise<boolean>;

  /**
   * Delete log events committed before `olderThan` (all users), exactly: the partitions wholly before
   * it are dropped, the rest deleted row by row. Returns how many. For tests and operators; the
   * maintenance job drops whole partitions only (dropEventPartitions).
   */
  pruneEvents(olderThan: Date): Promise<number>;
  /**
   * Maintenance: the event log's daily partitions exist through the end of `now`'s UTC day plus
   * `daysAhead` days (rows a write put in the default partition meanwhile move into them). Returns
   * how many were created.
   */
  ensureEventPartitions(now: Date, daysAhead: number): Promise<number>;
  /**
   * Maintenance (retention): drop the event log's partitions wholly older than `olderThan`, oldest
   * first; events of a partition that straddles it stay until the whole partition is past it.
   */
  dropEventPartitions(olderThan: Date): Promise<{ partitions: number; events: number; skipped: number }>;
  /** Maintenance: delete draft tombstones deleted before `olderThan`. Returns how many. */
  purgeTombstones(olderThan: Date): Promise<number>;
  /**
   * Revoke the user's tokens issued before `notBefore`. A later time replaces an earlier one, never
   * the reverse (two admins revoking at once keep the later). Returns the revocation now in force.
   */
  revokeTokens(userId: string, notBefore: Date): Promise<Revocation>;
  /** Every revocation (all users): each instance keeps them in memory, loaded at start and after a bus reconnect. */
  listRevocations(): Promise<Revocation[]>;

  /** Maintenance: delete idempotency keys created before `olderThan` (all users). Returns how many. */
  pruneIdempotencyKeys(olderThan: Date): Promise<number>;
}
