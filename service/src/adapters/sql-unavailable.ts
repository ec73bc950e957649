/**
 * The adapters' one error mapping: a driver error that means "the database is unreachable" becomes
 * the port's StorageUnavailableError (its driver error as `cause`), so the storage's callers and the
 * HTTP layer never look at SQLSTATEs or socket codes. Every other error passes through unchanged:
 * the SQL storage still sees constraint and serialization errors as the driver reports them.
 */
import { StorageUnavailableError } from '../ports/storage.js';
import { isConnectionError } from '../storage/sql-runner.js';

/** `err` as the port's error when it means the database is unreachable (or `gone()` says so), else as it is. */
export function toStorageError(err: unknown, gone: () => boolean = () => false): unknown {
  if (err instanceof StorageUnavailableError) return err;
  if (isConnectionError(err) || gone()) {
    const reason = err instanceof Error ? err.message : String(err);
    return new StorageUnavailableError(`Database unavailable: ${reason}`, { cause: err });
  }
  return err;
}

/** Run `call`, rejecting with the port's error when the database is unreachable. */
export async function mapUnavailable<T>(call: () => Promise<T>, gone?: () => boolean): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toStorageError(err, gone);
  }
}
