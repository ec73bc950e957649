/**
 * In-memory storage: nothing survives the process. Values are copied through JSON on the way in
 * and out, as the persistent adapters do, so a test on memory sees what IndexedDB would give back.
 */
import type { KeyValueStorage } from './storage.js';

export function createMemoryStorage(): KeyValueStorage & { readonly size: number } {
  const data = new Map<string, string>();
  return {
    get size() {
      return data.size;
    },
    async get<T>(key: string) {
      const v = data.get(key);
      return v === undefined ? undefined : (JSON.parse(v) as T);
    },
    async set(key, value) {
      data.set(key, JSON.stringify(value));
    },
    async delete(key) {
      data.delete(key);
    },
  };
}
