/**
 * The one way events leave this instance: committed events (and transient ones) handed to the bus,
 * each serialized once into the frame every socket of the user will get, and each stored event the
 * bus accepted reported to the listeners (the outbox records it as published). Features publish
 * through features/commit.ts, the outbox republishes through here too, so there is one place that
 * turns committed events into bus traffic.
 *
 * Never throws and never waits: a failing publish never fails the response (DESIGN §4.2); the event
 * is in the log, and a later one reveals it as a gap (hubs and devices fill it) or the outbox's
 * sweep republishes it.
 */
import type { Logger } from 'pino';
import type { Bus } from '../ports/bus.js';
import type { StoredEvent } from '../ports/storage.js';
import type { Metrics } from '../metrics.js';
import { encodeEventFrame } from '../protocol/index.js';

/** Told of each stored event the bus accepted. */
export type PublishedListener = (event: StoredEvent) => void;

export function createPublisher(deps: { bus: Pick<Bus, 'publish'>; metrics: Metrics; log: Logger }) {
  const { bus, metrics } = deps;
  const log = deps.log.child({ component: 'publisher' });
  const listeners = new Set<PublishedListener>();

  function accepted(e: StoredEvent): void {
    for (const listener of listeners) {
      try {
        listener(e);
      } catch (err) {
        log.error({ err, userId: e.userId, seq: e.seq }, 'a published-event listener failed');
      }
    }
  }

  return {
    /** Publish committed events, in the order given. */
    publish(events: readonly StoredEvent[]): void {
      for (const e of events) {
        const frame = encodeEventFrame(e);
        metrics.eventsPublished.inc({ type: e.type });
        bus.publish({ userId: e.userId, seq: e.seq, epoch: e.epoch, type: e.type, timestamp: e.timestamp, frame }).then(
          () => accepted(e),
          (err: unknown) => {
            metrics.publishFailures.inc();
            log.error({ err, userId: e.userId, seq: e.seq }, 'publish failed; devices will fill the gap from the log');
          },
        );
      }
    },

    /** An event that is never stored nor replayed (JOB_PROGRESS): seq null, dropped first under pressure. */
    publishTransient(userId: string, type: string, payload: unknown, originDeviceId: string | null): void {
      const timestamp = new Date().toISOString();
      const frame = encodeEventFrame({ type, payload, timestamp, seq: null, originDeviceId });
      metrics.eventsPublished.inc({ type });
      bus.publish({ userId, seq: null, epoch: null, type, timestamp, frame }).catch((err: unknown) => {
        metrics.publishFailures.inc();
        log.warn({ err, userId, type }, 'transient publish failed');
      });
    },

    /** Be told of every stored event the bus accepts from now on. Returns the unsubscribe. */
    onPublished(listener: PublishedListener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export type Publisher = ReturnType<typeof createPublisher>;
