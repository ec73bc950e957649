/**
 * The one way a feature commits a write: the storage call (one transaction: the change, its events
 * and the Idempotency-Key), then, after commit, the events handed to the publisher; a refusal
 * becomes the AppError the client gets. Publishing never fails the write (DESIGN §4.2).
 */
import { AppError, errors } from '../errors.js';
import { idempotencyErrors, type Reply } from '../http/idempotency.js';
import type { StoredEvent } from '../ports/storage.js';
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

export function createCommit(publish: Publish) {
  /** `what` names the row in a 404/410 ("Draft", "Pending order"). */
  return async function commit<B>(write: Promise<WriteOutcome<B>>, what: string): Promise<Reply<B>> {
    const outcome = await write;
    if (outcome.refused !== undefined) throw refusalError(outcome, what);
    if (outcome.events.length > 0) publish(outcome.events);
    return { status: outcome.status, body: outcome.body, replayed: outcome.replayed };
  };
}

export type Commit = ReturnType<typeof createCommit>;
