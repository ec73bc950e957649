/**
 * The outbox: every committed event is in the `events` table; this records what reached the bus and
 * republishes what did not (a crash or a bus outage between commit and publish), at start-up and
 * periodically. Republishing is at-least-once; the hub's per-user ordering drops duplicates, so
 * devices still see each event once.
 *
 * What reached the bus is a per-user watermark (Storage.markPublished: the highest confirmed seq),
 * written in one statement per flush, never the event rows again. An event below the watermark that
 * never reached the bus (its instance died; a later write on another instance was confirmed) is not
 * lost: the later event reveals it as a gap, which hubs fill from the log (`gapFillMs`) and devices
 * ask for with RESUME. What only the outbox can deliver are the events after the last confirmed
 * one, and those are exactly what the sweep reads.
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

const PAGE = 500;
const key = (e: { userId: string; seq: number }) => `${e.seq}:${e.userId}`;

export function createOutbox(deps: {
  storage: Storage;
  log: Logger;
  republish: (events: readonly StoredEvent[]) => void;
  options: OutboxOptions;
}) {
  const { storage, options } = deps;
  const log = deps.log.child({ component: 'outbox' });
  const flushMs = options.flushMs ?? 100;
  let confirmed: { userId: string; seq: number }[] = [];
  let flushTimer: NodeJS.Timeout | null = null;
  let sweepTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  /** The sweep in progress: there is never more than one (a slow one is not overlapped by the next tick). */
  let running: Promise<number> | null = null;
  /** Keys of the page being republished, and how many of them the bus has accepted so far. */
  let page: Set<string> | null = null;
  let pageAccepted = 0;

  /** Write the confirmations collected so far. Returns false when they could not be written. */
  async function flush(): Promise<boolean> {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    const batch = confirmed;
    confirmed = [];
    if (batch.length === 0) return true;
    try {
      await storage.markPublished(batch);
      return true;
    } catch (err) {
      // Not fatal: the sweep will republish these, and the hub drops the duplicates.
      log.warn({ err, count: batch.length }, 'could not record published events');
      return false;
    }
  }

  /**
   * Republish pages of unpublished events until none is left. The sweep stops early, leaving the
   * rest to the next interval, when a page got nothing onto the bus (the bus is down: reading the
   * same page again at once would only load the database) or its confirmations could not be
   * written (the next read would return the same page).
   */
  async function sweepPages(): Promise<number> {
    let total = 0;
    while (!stopped) {
      const events = await storage.unpublishedEvents(new Date(Date.now() - options.graceMs), PAGE);
      if (events.length === 0) break;
      page = new Set(events.map(key));
      pageAccepted = 0;
      deps.republish(events);
      // Wait for the confirmations of this page before reading the next one.
      await new Promise((r) => setTimeout(r, flushMs * 2));
      const accepted = pageAccepted;
      page = null;
      total += accepted;
      const recorded = await flush();
      if (accepted === 0) {
        log.warn({ count: events.length }, 'outbox: no republished event reached the bus; retrying at the next sweep');
        break;
      }
      if (!recorded || events.length < PAGE) break;
    }
    if (total > 0) log.info({ count: total }, 'republished events that never reached the bus');
    return total;
  }

  /** One sweep; while one is running, its promise: never two at once. */
  function sweep(): Promise<number> {
    running ??= sweepPages().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    /** The bus accepted this event. */
    published(e: StoredEvent): void {
      if (stopped) return;
      confirmed.push({ userId: e.userId, seq: e.seq });
      if (page?.has(key(e))) pageAccepted += 1;
      flushTimer ??= setTimeout(() => void flush(), flushMs);
    },
    /** Resolves with how many republished events the bus accepted. */
    sweep,
    /**
     * Sweep now (start-up: what this instance may have left behind), then every interval when this
     * instance claims it: the sweep reads every user's watermark, so one instance per interval does.
     */
    start(): void {
      const failed = (err: unknown) => log.warn({ err }, 'outbox sweep failed');
      void sweep().catch(failed);
      if (options.intervalMs > 0) {
        // 0.9: a timer firing a little early still claims its own turn.
        const periodic = async () => {
          if (await storage.claimOutboxSweep(options.intervalMs * 0.9)) await sweep();
        };
        sweepTimer = setInterval(() => void periodic().catch(failed), options.intervalMs);
        sweepTimer.unref();
      }
    },
    async stop(): Promise<void> {
      stopped = true;
      if (sweepTimer) clearInterval(sweepTimer);
      await running?.catch(() => undefined);
      await flush();
    },
  };
}
