/**
 * Maintenance: keep the event log's daily partitions created ahead and drop those past the event
 * retention, purge draft tombstones and drop expired idempotency keys, each past its retention.
 * Scheduled as a repeatable job by the job queue (BullMQ: once per interval across all instances;
 * embedded: a timer). A device whose lastSeq falls in the pruned range gets RESYNC_REQUIRED
 * (evicted) and refetches. Expired keys already count as absent on lookup; pruning only bounds the
 * table.
 *
 * The event log is pruned by whole UTC days (DROP of a partition, no row deleted): an event is kept
 * at least the retention and at most a day (plus an interval) longer. Partitions exist `daysAhead`
 * days past today, so the job may miss that many days of runs before writes land in the log's
 * default partition; they still succeed there, and the next run moves them into their day's
 * partition (docs/event-log.md).
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Storage } from '../../ports/storage.js';

const DAY_MS = 86_400_000;

/** At least 3 days, and at least two intervals of the job: a couple of missed runs cost nothing. */
export const partitionDaysAhead = (intervalMs: number): number => Math.max(3, Math.ceil((2 * intervalMs) / DAY_MS) + 1);

export interface MaintenanceResult {
  /** Events dropped with their partitions (an estimate from the planner's statistics). */
  events: number;
  eventPartitions: { created: number; dropped: number; skipped: number };
  tombstones: number;
  idempotencyKeys: number;
}

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
  const daysAhead = partitionDaysAhead(retention.intervalMs);
  return async function runMaintenance(now = Date.now()): Promise<MaintenanceResult> {
    // Ahead first: a run that fails to drop (a lock not granted) still leaves tomorrow's partition.
    const created = await storage.ensureEventPartitions(new Date(now), daysAhead);
    const dropped = await storage.dropEventPartitions(new Date(now - retention.eventsMs));
    const tombstones = await storage.purgeTombstones(new Date(now - retention.tombstonesMs));
    const idempotencyKeys = await storage.pruneIdempotencyKeys(new Date(now - idempotencyTtlMs));
    const result = {
      events: dropped.events,
      eventPartitions: { created, dropped: dropped.partitions, skipped: dropped.skipped },
      tombstones,
      idempotencyKeys,
    };
    if (dropped.skipped > 0) log.warn(result, 'maintenance: an event partition was busy (lock timeout); the next run drops it');
    if (created + dropped.partitions + tombstones + idempotencyKeys > 0) {
      log.info(result, 'maintenance created and dropped event partitions, purged tombstones and expired idempotency keys');
    }
    return result;
  };
}
