/**
 * Maintenance: prune the event log, purge draft tombstones and drop expired idempotency keys, each
 * past its retention. Scheduled as a repeatable job by the job queue (BullMQ: once per interval
 * across all instances; embedded: a timer). A device whose lastSeq falls in the pruned range gets
 * RESYNC_REQUIRED (evicted) and refetches. Expired keys already count as absent on lookup; pruning
 * only bounds the table.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Storage } from '../../ports/storage.js';

export function createMaintenance({
  storage,
  log,
  retention,
  idempotencyTtlMs,
}: {
  storage: Storage;
  log: Logger;
  retention: Config['retention'];
  idempotencyTtlMs: number;
}) {
  return async function runMaintenance(now = Date.now()): Promise<{ events: number; tombstones: number; idempotencyKeys: number }> {
    const events = await storage.pruneEvents(new Date(now - retention.eventsMs));
    const tombstones = await storage.purgeTombstones(new Date(now - retention.tombstonesMs));
    const idempotencyKeys = await storage.pruneIdempotencyKeys(new Date(now - idempotencyTtlMs));
    if (events + tombstones + idempotencyKeys > 0) {
      log.info({ events, tombstones, idempotencyKeys }, 'maintenance pruned the event log, tombstones and expired idempotency keys');
    }
    return { events, tombstones, idempotencyKeys };
  };
}
