/**
 * Maintenance: prune the event log and purge draft tombstones past their retention. Scheduled as a
 * repeatable job by the job queue (BullMQ: once per interval across all instances; embedded: a timer).
 * A device whose lastSeq falls in the pruned range gets RESYNC_REQUIRED (evicted) and refetches.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Storage } from '../../ports/storage.js';

export function createMaintenance({ storage, log, retention }: { storage: Storage; log: Logger; retention: Config['retention'] }) {
  return async function runMaintenance(now = Date.now()): Promise<{ events: number; tombstones: number }> {
    const events = await storage.pruneEvents(new Date(now - retention.eventsMs));
    const tombstones = await storage.purgeTombstones(new Date(now - retention.tombstonesMs));
    if (events + tombstones > 0) log.info({ events, tombstones }, 'maintenance pruned the event log and tombstones');
    return { events, tombstones };
  };
}
