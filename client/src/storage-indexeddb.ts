/**
 * IndexedDB adapter (browsers; on Node with fake-indexeddb). One database, one object store of
 * JSON-cloneable values keyed by string. Each `set` is its own readwrite transaction, so it is atomic.
 */
import type { KeyValueStorage } from './storage.js';

/*
 * The few IndexedDB shapes used, declared here so this file typechecks with and without the DOM
 * lib (the root tsconfig has none); the browser's indexedDB and fake-indexeddb both fit them.
 */
interface Req<T> {
  result: T;
  error: unknown;
  onsuccess: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
interface ObjectStore {
  get(key: string): Req<unknown>;
  put(value: unknown, key: string): Req<unknown>;
  delete(key: string): Req<unknown>;
}
interface Tx {
  objectStore(name: string): ObjectStore;
  error: unknown;
  oncomplete: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onabort: ((ev: unknown) => void) | null;
}
interface Db {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(name: string, mode: 'readonly' | 'readwrite'): Tx;
  close(): void;
}
interface OpenReq extends Req<Db> {
  onupgradeneeded: ((ev: unknown) => void) | null;
  onblocked: ((ev: unknown) => void) | null;
}
export interface IDBFactoryLike {
  open(name: string, version?: number): OpenReq;
}

export interface IndexedDbStorageOptions {
  /** Database name, default 'archibald-realtime'. */
  name?: string;
  /** Default `globalThis.indexedDB`. */
  indexedDB?: IDBFactoryLike;
}

const STORE = 'kv';

function request<T>(req: Req<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

export function createIndexedDbStorage(opts: IndexedDbStorageOptions = {}): KeyValueStorage {
  const factory = opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactoryLike }).indexedDB;
  if (!factory) throw new Error("storage 'indexeddb' needs indexedDB (not available here)");
  let dbP: Promise<Db> | null = null;
  const db = () =>
    (dbP ??= new Promise((resolve, reject) => {
      const open = factory.open(opts.name ?? 'archibald-realtime', 1);
      open.onupgradeneeded = () => {
        if (!open.result.objectStoreNames.contains(STORE)) open.result.createObjectStore(STORE);
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error ?? new Error('Cannot open IndexedDB'));
      open.onblocked = () => reject(new Error('IndexedDB open blocked by another tab holding an older version'));
    }));

  async function tx<T>(mode: 'readonly' | 'readwrite', fn: (s: ObjectStore) => Req<T>): Promise<T> {
    const t = (await db()).transaction(STORE, mode);
    const result = request(fn(t.objectStore(STORE)));
    result.catch(() => undefined); // reported through the transaction's error below
    // Resolve once the transaction committed, not merely when the request succeeded.
    await new Promise<void>((resolve, reject) => {
      t.oncomplete = () => resolve();
      t.onerror = () => reject(t.error ?? new Error('IndexedDB transaction failed'));
      t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
    });
    return result;
  }

  return {
    async get<T>(key: string) {
      const v = await tx('readonly', (s) => s.get(key));
      // Stored as a JSON string: what comes back is plain data, whatever the caller put in.
      return v === undefined ? undefined : (JSON.parse(v as string) as T);
    },
    async set(key, value) {
      await tx('readwrite', (s) => s.put(JSON.stringify(value), key));
    },
    async delete(key) {
      await tx('readwrite', (s) => s.delete(key));
    },
    async close() {
      if (dbP) (await dbP).close();
      dbP = null;
    },
  };
}
