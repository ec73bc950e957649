/**
 * The outbox: every committed event is in the `events` table; this records which ones reached the
 * bus and republishes those that did not (a crash or a bus outage between commit and publish), at
 * start-up and periodically. Republishing is at-least-once; the hub's per-user ordering drops
 * duplicates, so devices still see each event once.
 */
import type { Logger } from 'pino';
import type { Storage, StoredEvent } from '../ports/storage.js';

export interface OutboxOptions {
  /** How often unpublished events are looked for (0 disables the periodic sweep). */
  intervalMs: number;
  /** An event younger than this is still in its publisher's hands: leave it alone. */
  graceMs: number;
  /** How often publish confirmations are written back, in one statement. */
  flushMs?: number;
}

export function createOutbox(deps: {
  storage: Storage;
  log: Logger;
  republish: (events: readonly StoredEvent[]) => void;
  options: OutboxOptions;
}) {
  const { storage, options } = deps;
  const log = deps.log.child({ component: 'outbox' });
  let confirmed: { userId: string; seq: number }[] = [];
  let flushTimer: NodeJS.Timeout | null = null;
  let sweepTimer: NodeJS.Timeout | null = null;
  let stopped = false;

  async function flush(): Promise<void> {
    flushTimer = null;
    const batch = confirmed;
    confirmed = [];
    if (batch.length === 0) return;
    try {
      await storage.markPublished(batch);
    } catch (err) {
      // Not fatal: the sweep will republish these, and the hub drops the duplicates.
      log.warn({ err, count: batch.length }, 'could not record published events');
    }
  }

  async function sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const events = await storage.unpublishedEvents(new Date(Date.now() - options.graceMs), 500);
      if (events.length === 0) break;
      total += events.length;
      deps.republish(events);
      // Wait for the confirmations of this page before reading the next one.
      await new Promise((r) => setTimeout(r, (options.flushMs ?? 100) * 2));
      await flush();
      if (events.length < 500 || stopped) break;
    }
    if (total > 0) log.info({ count: total }, 'republished events that never reached the bus');
    return total;
  }

  return {
    /** The bus accepted this event. */
    published(e: StoredEvent): void {
      if (stopped) return;
      confirmed.push({ userId: e.userId, seq: e.seq });
      flushTimer ??= setTimeout(() => void flush(), options.flushMs ?? 100);
    },
    sweep,
    start(): void {
      sweep().catch((err: unknown) => log.warn({ err }, 'outbox sweep failed'));
      if (options.intervalMs > 0) {
        sweepTimer = setInterval(() => {
          sweep().catch((err: unknown) => log.warn({ err }, 'outbox sweep failed'));
        }, options.intervalMs);
        sweepTimer.unref();
      }
    },
    async stop(): Promise<void> {
      stopped = true;
      if (sweepTimer) clearInterval(sweepTimer);
      if (flushTimer) clearTimeout(flushTimer);
      await flush();
    },
  };
}
