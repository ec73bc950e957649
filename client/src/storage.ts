/**
 * The one small storage port of the client: an async key/value store of JSON values. Adapters:
 * storage-memory.ts, storage-indexeddb.ts (browsers), storage-local.ts (localStorage).
 * The client keeps everything it persists (resume state, lists, offline queue) under one key, so a
 * single `set` is the unit of consistency: a reload sees all of one save or all of the previous one.
 */
export interface KeyValueStorage {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  close?(): Promise<void>;
}
