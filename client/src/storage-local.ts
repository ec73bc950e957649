/**
 * localStorage adapter (browsers): synchronous underneath, small quota (~5 MB), fine for a few
 * hundred drafts. Prefer IndexedDB for more. Values are JSON strings under `prefix + key`.
 */
import type { KeyValueStorage } from './storage.js';

/** The part of the Web Storage API used (window.localStorage implements it). */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function createLocalStorage(opts: { prefix?: string; storage?: WebStorageLike } = {}): KeyValueStorage {
  const ls = opts.storage ?? (globalThis as { localStorage?: WebStorageLike }).localStorage;
  if (!ls) throw new Error("storage 'local' needs window.localStorage (not available here)");
  const prefix = opts.prefix ?? '';
  return {
    async get<T>(key: string) {
      const v = ls.getItem(prefix + key);
      return v === null ? undefined : (JSON.parse(v) as T);
    },
    async set(key, value) {
      ls.setItem(prefix + key, JSON.stringify(value));
    },
    async delete(key) {
      ls.removeItem(prefix + key);
    },
  };
}
