/**
 * In-memory instance registry (embedded mode): the instances of this process only, which is one
 * in production. Entries expire after `ttlMs` like the Redis ones do, so the two adapters behave
 * alike; tests may hand several apps one `store` to make a cluster in one process.
 */
import type { InstanceRegistry, InstanceSummary } from '../ports/instances.js';

export type MemoryInstanceStore = Map<string, { summary: InstanceSummary; expiresAt: number }>;

export function createMemoryInstanceRegistry(opts: { ttlMs: number; store?: MemoryInstanceStore; now?: () => number }): InstanceRegistry {
  const store: MemoryInstanceStore = opts.store ?? new Map();
  const now = opts.now ?? Date.now;
  return {
    async announce(summary) {
      store.set(summary.instanceId, { summary: structuredClone(summary), expiresAt: now() + opts.ttlMs });
    },
    async list() {
      const t = now();
      const live: InstanceSummary[] = [];
      for (const [id, e] of store) {
        if (e.expiresAt <= t) store.delete(id);
        else live.push(structuredClone(e.summary));
      }
      return live;
    },
    async withdraw(instanceId) {
      store.delete(instanceId);
    },
    async close() {},
  } satisfies InstanceRegistry;
}
