/**
 * Repeatable maintenance: prune the event log and purge draft tombstones past their retention.
 * A device whose lastSeq falls in the pruned range gets RESYNC_REQUIRED (evicted) and refetches.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Storage } from '../../ports/storage.js';

export function createMaintenance({ storage, log, retention }: { storage: Storage; log: Logger; retention: Config['retention'] }) {
  async function runOnce(now = Date.now()): Promise<{ events: number; tombstones: number }> {
    const events = await storage.pruneEvents(new Date(now - retention.eventsMs));
    const tombstones = await storage.purgeTombstones(new Date(now - retention.tombstonesMs));
    if (events + tombstones > 0) log.info({ events, tombstones }, 'maintenance pruned the event log and tombstones');
    return { events, tombstones };
  }
  const timer =
    retention.intervalMs > 0
      ? setInterval(() => {
          runOnce().catch((err: unknown) => log.warn({ err }, 'maintenance failed; will retry at the next interval'));
        }, retention.intervalMs)
      : null;
  timer?.unref();
  return {
    runOnce,
    stop: () => {
      if (timer) clearInterval(timer);
    },
  };
}
