/**
 * The one way a feature commits a write: the storage call (one transaction: the change, its events
 * and, for a route, the Idempotency-Key), then, after commit, the events handed to the publisher
 * (realtime/publisher.ts, the same one the outbox republishes through); a refusal becomes the
 * AppError the client gets. Publishing never fails the write and is never awaited (DESIGN §4.2):
 * the events are committed, and the outbox or a gap fill delivers them if this publish is lost.
 */
import { AppError, errors } from '../errors.js';
import { idempotencyErrors, type Reply } from '../http/idempotency.js';
import type { Storage, StoredEvent, UserTx } from '../ports/storage.js';
import type { WriteOutcome, WriteRefusal } from '../ports/writes.js';

export type Publish = (events: readonly StoredEvent[]) => void;

function refusalError(r: WriteRefusal, what: string): AppError {
  switch (r.refused) {
    case 'NOT_FOUND':
      return errors.notFound(what);
    case 'GONE':
      return errors.gone(what);
    case 'STALE_WRITE':
      return errors.staleWrite(r.current);
    case 'VERSION_CONFLICT':
      return errors.versionConflict(r.current);
    case 'ALREADY_SUBMITTED':
      return new AppError(409, 'ALREADY_SUBMITTED', `Order was already submitted as ${r.erpOrderNumber ?? '?'}`);
    case 'IDEMPOTENCY_KEY_REUSED':
      return idempotencyErrors.reused();
  }
}

/** The seq of the last of the events a write committed; null when it committed none. */
function lastSeq(events: readonly StoredEvent[]): number | null {
  return events.length > 0 ? events[events.length - 1]!.seq : null;
}

export function createCommit({ storage, publish }: { storage: Pick<Storage, 'unitOfWork'>; publish: Publish }) {
  function published(events: readonly StoredEvent[]): number | null {
    if (events.length > 0) publish(events);
    return lastSeq(events);
  }

  return {
    /**
     * A route's write (one statement, ports/writes.ts): its reply, whose body carries the seq.
     * `what` names the row in a 404/410 ("Draft", "Pending order").
     */
    async reply<B>(write: Promise<WriteOutcome<B>>, what: string): Promise<Reply<B>> {
      const outcome = await write;
      if (outcome.refused !== undefined) throw refusalError(outcome, what);
      published(outcome.events);
      return { status: outcome.status, body: outcome.body, replayed: outcome.replayed };
    },

    /** A write that only appends events (a job's steps): published after commit; the last seq, null when none. */
    async events(write: Promise<readonly StoredEvent[]>): Promise<number | null> {
      return published(await write);
    },

    /** The general form: `fn` in the user's write transaction, its events published after commit. */
    async unitOfWork<T>(userId: string, fn: (tx: UserTx) => Promise<T>): Promise<{ value: T; seq: number | null }> {
      const { value, events } = await storage.unitOfWork(userId, fn);
      return { value, seq: published(events) };
    },
  };
}

export type Commit = ReturnType<typeof createCommit>;
